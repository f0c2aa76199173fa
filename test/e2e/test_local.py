"""test/e2e/test_local.py - local delivery with privilege separation. The
same tests run twice (LocalBehaviour): smtpd started as root, delivering as
each recipient (test users the tests create and remove), and smtpd started
as an ordinary user, delivering everything as that user and only where it
may write: maildir and mbox files owned by the user that delivered them,
mbox locking under concurrent deliveries, mda exit codes, shell
metacharacters in addresses, wrappers, a folder the user cannot write.
Root only: the queue user, unknown users refused at RCPT, userbase."""
import os
import pwd
import shutil
import smtplib
import subprocess
import threading

from harness import SMTPD, E2ETest, Smtpd, free_port, maildir_messages, tool, wait_for

CONF = """
listen on 127.0.0.1 port {port}
queue path "{spool}"
action "ro" maildir "{tmp}/closed/%{{rcpt.user}}"
match from local for domain "ro.test" action "ro"
action "md" maildir
action "mdj" maildir junk
match from local for domain "mdj.test" action "mdj"
action "mb" mbox
action "run" mda "{tmp}/deliver.sh %{{rcpt.user}}"
mda wrapper "wrap" "{tmp}/wrap.sh %{{sender.domain:lowercase}} %{{mda}}"
action "wrapped" mda "{tmp}/deliver.sh %{{rcpt.user}}" wrapper "wrap"
match from local for domain "md.test" action "md"
match from local for domain "wrap.test" action "wrapped"
action "wmd" maildir junk wrapper "wrap"
action "wmb" mbox wrapper "wrap"
match from local for domain "wmd.test" action "wmd"
match from local for domain "wmb.test" action "wmb"
table ub {{ "vuser1" = "61001:61002:{tmp}/vhome/vuser1" }}
action "ub" maildir userbase <ub>
action "ubmda" mda "{tmp}/deliver.sh %{{rcpt.user}}" userbase <ub>
match from local for domain "ub.test" action "ub"
match from local for domain "ubmda.test" action "ubmda"
match from local for domain "mb.test" action "mb"
match from local for domain "mda.test" action "run"
"""

DELIVER_SH = """#!/bin/sh
# a test MDA: records its argument, the environment and the message
code=$(cat "$HOME/exit-code" 2>/dev/null || echo 0)
{ echo "arg=$1"; echo "sender=$SENDER"; echo "recipient=$RECIPIENT"; echo "user=$USER";
  echo "ext=$EXTENSION";
  cat; } >> "$HOME/mda.out"
exit "$code"
"""

WRAP_SH = """#!/bin/sh
# a test mda wrapper: records what it wraps, then runs it
d=$1; shift
echo "wrapper domain=$d user=$(id -un) runs=$*" >> "$HOME/wrap.out"
exec "$@"
"""


def make_user(name, home):
    subprocess.run(["userdel", "-r", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(["useradd", "--home-dir", home, "--create-home", "--shell", "/bin/sh", name],
                   check=True)
    return pwd.getpwnam(name)


class LocalBehaviour:
    """Tests for both ways smtpd starts. self.deliverer(name) is the user a
    delivery to name@ runs as; setUp makes the users and starts self.d."""

    def make_scripts(self):
        for name, text in (("deliver.sh", DELIVER_SH), ("wrap.sh", WRAP_SH)):
            script = os.path.join(self.tmp, name)
            with open(script, "w") as f:
                f.write(text)
            os.chmod(script, 0o755)
        os.makedirs(os.path.join(self.tmp, "closed"), mode=0o755)   # root's: no one else writes

    def add_user(self, name):
        self.users[name] = make_user(name, os.path.join(self.tmp, "home", name))
        self.cleanups.append(lambda n=name: subprocess.run(["userdel", "-r", n],
                                                           stderr=subprocess.DEVNULL))
        self.cleanups.append(lambda n=name: os.path.exists("/var/mail/" + n) and
                             os.unlink("/var/mail/" + n))
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        return self.users[name]

    def send(self, sender, rcpt, n=1):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(n):
                self.assertEqual(s.sendmail(sender, [rcpt], "Subject: n%d\r\n\r\nbody %d\r\n" % (i, i)),
                                 {})

    def test_maildir_file_belongs_to_the_user_that_delivered_it(self):
        self.send("a@example.org", "rmtest1@md.test")
        u = self.deliverer("rmtest1")
        box = os.path.join(u.pw_dir, "Maildir")
        wait_for(lambda: maildir_messages(box), what="maildir delivery")
        new = os.path.join(box, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (u.pw_uid, 0o600))

    def test_maildir_junk_files_spam_in_dot_junk(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("a@example.org", ["rmtest1@mdj.test"], "X-Spam: yes\r\nSubject: s\r\n\r\nspam\r\n")
            s.sendmail("a@example.org", ["rmtest1@mdj.test"], "Subject: h\r\n\r\nX-Spam: yes\r\n")
        box = os.path.join(self.deliverer("rmtest1").pw_dir, "Maildir")
        wait_for(lambda: maildir_messages(box) and maildir_messages(os.path.join(box, ".Junk")),
                 timeout=30, what="one message in each folder")
        self.assertEqual(len(maildir_messages(box)), 1)
        self.assertIn(b"X-Spam: yes", maildir_messages(os.path.join(box, ".Junk"))[0])

    def test_a_folder_the_user_cannot_write_defers_and_keeps_the_message(self):
        self.send("a@example.org", "rmtest1@ro.test")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=30, what="a deferred delivery")
        self.assertEqual(os.listdir(os.path.join(self.tmp, "closed")), [])
        r = self.smtpctl("show", "queue")
        self.assertEqual(len([l for l in r.stdout.splitlines() if "rmtest1@ro.test" in l]), 1,
                         r.stdout)

    def test_mbox_two_concurrent_senders(self):
        threads = [threading.Thread(target=self.send, args=("s%d@example.org" % k, "rmtest1@mb.test", 5))
                   for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        u = self.deliverer("rmtest1")
        path = "/var/mail/" + u.pw_name
        wait_for(lambda: self.d.log().count("result=Ok") >= 10, timeout=30, what="10 mbox deliveries")
        with open(path, "rb") as f:
            text = f.read()
        self.assertEqual(text.count(b"\nFrom ") + text.startswith(b"From "), 10)
        self.assertEqual(os.stat(path).st_uid, u.pw_uid)
        self.assertFalse(os.path.exists(path + ".lock"))

    def test_mda_exit_codes_and_metacharacters(self):
        u = self.deliverer("rmtest2")
        with open(os.path.join(u.pw_dir, "exit-code"), "w") as f:
            f.write("75\n")
        evil = "x`touch${IFS}/tmp/ringmta-pwned`@example.org"
        self.send(evil, "rmtest2+`id`@mda.test")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=30, what="exit 75 deferred")
        self.assertIn("mda exited 75", self.d.log())
        with open(os.path.join(u.pw_dir, "exit-code"), "w") as f:
            f.write("1\n")
        self.send("b@example.org", "rmtest2@mda.test")
        wait_for(lambda: "result=PermFail" in self.d.log(), timeout=30, what="exit 1 is permanent")
        with open(os.path.join(u.pw_dir, "mda.out")) as f:
            out = f.read()
        self.assertIn("arg=rmtest2+:id:", out)             # the argument, neutralised
        self.assertIn("sender=" + evil, out)               # the raw address, only in the environment
        self.assertIn("user=%s" % u.pw_name, out)
        self.assertFalse(os.path.exists("/tmp/ringmta-pwned"))

    def test_mda_runs_inside_its_wrapper(self):
        self.send("a@Sender.Example", "rmtest1@wrap.test")
        u = self.deliverer("rmtest1")
        wait_for(lambda: os.path.exists(os.path.join(u.pw_dir, "mda.out")), timeout=30,
                 what="the wrapped mda ran")
        with open(os.path.join(u.pw_dir, "wrap.out")) as f:
            self.assertEqual(f.read(), "wrapper domain=sender.example user=%s runs=%s "
                             "rmtest1\n" % (u.pw_name, os.path.join(self.tmp, "deliver.sh")))
        with open(os.path.join(u.pw_dir, "mda.out")) as f:
            out = f.read()
        self.assertIn("arg=rmtest1\n", out)
        self.assertIn("sender=a@Sender.Example\n", out)

    def test_maildir_and_mbox_run_inside_a_wrapper(self):
        u = self.deliverer("rmtest1")
        mbox_path = "/var/mail/" + u.pw_name
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("a@example.org", ["rmtest1@wmd.test"], "X-Spam: yes\r\nSubject: j\r\n\r\njunk\r\n")
            s.sendmail("o'brien@example.org", ["rmtest1@wmb.test"], "Subject: m\r\n\r\nFrom here\r\n")
        junk = os.path.join(u.pw_dir, "Maildir", ".Junk")
        wait_for(lambda: maildir_messages(junk), timeout=30, what="wrapped maildir delivery")
        new = os.path.join(junk, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (u.pw_uid, 0o600))
        wait_for(lambda: os.path.exists(mbox_path) and os.path.getsize(mbox_path) > 0, timeout=30,
                 what="wrapped mbox delivery")
        with open(mbox_path, "rb") as f:
            mbox = f.read()
        self.assertTrue(mbox.startswith(b"From o'brien@example.org "), mbox[:60])
        self.assertIn(b"\n>From here\n", mbox)
        self.assertEqual(os.stat(mbox_path).st_uid, u.pw_uid)
        with open(os.path.join(u.pw_dir, "wrap.out")) as f:
            lines = f.read().splitlines()
        exe = os.path.realpath(SMTPD)
        self.assertIn("wrapper domain=example.org user=%s runs=%s --deliver maildir --junk -- "
                      "%s/Maildir" % (u.pw_name, exe, u.pw_dir), lines)
        self.assertIn("wrapper domain=example.org user=%s runs=%s --deliver mbox -- %s"
                      % (u.pw_name, exe, mbox_path), lines)
        for bad in (["maildir", "relative/dir"], ["mbox"], ["sh", "/x"], ["maildir", "/a", "/b"]):
            r = subprocess.run([SMTPD, "--deliver"] + bad, input=b"x\n", capture_output=True)
            self.assertEqual(r.returncode, 64, bad)


class LocalAsRoot(LocalBehaviour, E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("creating test users needs root")
        self.users = {}
        for name in ("rmtest1", "rmtest2"):
            self.add_user(name)
        self.make_scripts()
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp,
                                        spool=os.path.join(self.tmp, "spool")),
                            wait_port=self.port)

    def deliverer(self, name):
        return self.users[name]

    def test_runs_as_smtpd_and_delivers_as_each_recipient(self):
        self.send("a@example.org", "rmtest1@md.test")
        wait_for(lambda: "result=Ok" in self.d.log(), what="a delivery")
        self.assertIn("user=rmtest1", self.d.log())
        self.assertIn("smtpd: running as _smtpd", self.d.log())

    def test_queue_belongs_to_smtpq_and_smtpd_cannot_read_it(self):
        self.send("a@example.org", "rmtest1@md.test")
        spool = os.path.join(self.tmp, "spool")
        q, d = pwd.getpwnam("_smtpq"), pwd.getpwnam("_smtpd")
        for name in ("queue.db", "queue.db/CURRENT", "smtpd.sock"):
            self.assertEqual(os.stat(os.path.join(spool, name)).st_uid, q.pw_uid, name)
        self.assertEqual(os.stat(os.path.join(spool, "queue.db")).st_mode & 0o077, 0)
        with open("/proc/%d/status" % self.d.proc.pid) as f:
            ids = dict(line.split(":", 1) for line in f if line.startswith(("Uid", "Gid")))
        # real, effective, saved, file-system: effective _smtpd, the rest _smtpq
        self.assertEqual(ids["Uid"].split(), [str(q.pw_uid), str(d.pw_uid)] + [str(q.pw_uid)] * 2)
        self.assertEqual(ids["Gid"].split(), [str(q.pw_gid), str(d.pw_gid)] + [str(q.pw_gid)] * 2)
        r = subprocess.run(["runuser", "-u", "_smtpd", "--", "ls", os.path.join(spool, "queue.db")],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        self.assertIn("running as _smtpd, the queue belongs to _smtpq", self.d.log())

    def test_unknown_local_user_is_refused_at_rcpt(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            code, msg = s.rcpt("no-such-user-rm@md.test")
            self.assertEqual(code, 550, msg)
            self.assertIn(b"5.1.1", msg)
            self.assertEqual(s.rcpt("rmtest1@md.test")[0], 250)

    def test_sub_address_delimiter_from_the_config(self):
        port = free_port()
        conf = ('listen on 127.0.0.1 port %d\nqueue path "%s/spool2"\nsmtp sub-addr-delim "-"\n'
                'action "md" maildir\naction "run" mda "%s/deliver.sh %%{rcpt.user:strip}"\n'
                'match from local for domain "md.test" action "md"\n'
                'match from local for domain "mda.test" action "run"\n' % (port, self.tmp, self.tmp))
        os.makedirs(os.path.join(self.tmp, "second"))
        d = Smtpd(os.path.join(self.tmp, "second"), conf)
        self.cleanups.append(d.stop)
        d.start(wait_port=port)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            self.assertEqual(s.rcpt("rmtest1-lists@md.test")[0], 250)
            self.assertEqual(s.rcpt("rmtest2-news@mda.test")[0], 250)
            self.assertEqual(s.rcpt("rmtest1+lists@md.test")[0], 550)   # '+' is not it now
            self.assertEqual(s.data(b"Subject: tags\r\n\r\nx\r\n")[0], 250)
        box = os.path.join(self.users["rmtest1"].pw_dir, "Maildir")
        wait_for(lambda: maildir_messages(box), timeout=30, what="delivery to rmtest1-lists")
        out = os.path.join(self.users["rmtest2"].pw_dir, "mda.out")
        wait_for(lambda: os.path.exists(out), timeout=30, what="the mda for rmtest2-news")
        with open(out) as f:
            text = f.read()
        self.assertIn("arg=rmtest2\n", text)     # :strip cut at '-'
        self.assertIn("ext=news\n", text)
        self.assertIn("user=rmtest2\n", text)

    def test_userbase_users_are_delivered_as_their_uid_and_gid(self):
        vhome = os.path.join(self.tmp, "vhome", "vuser1")
        os.makedirs(vhome)
        os.chown(vhome, 61001, 61002)
        os.chmod(vhome, 0o700)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            self.assertEqual(s.rcpt("vuser1@ub.test")[0], 250)
            code, msg = s.rcpt("rmtest1@ub.test")   # a system user, not in the userbase
            self.assertEqual((code, msg[:5]), (550, b"5.1.1"))
            self.assertEqual(s.rcpt("VUser1+x@ubmda.test")[0], 250)
            self.assertEqual(s.data(b"Subject: ub\r\n\r\nto a virtual user\r\n")[0], 250)
        box = os.path.join(vhome, "Maildir")
        wait_for(lambda: maildir_messages(box), timeout=30, what="maildir delivery")
        new = os.path.join(box, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (61001, 61002, 0o600))
        out = os.path.join(vhome, "mda.out")
        wait_for(lambda: os.path.exists(out), timeout=30, what="the mda as the userbase user")
        self.assertEqual((os.stat(out).st_uid, os.stat(out).st_gid), (61001, 61002))
        with open(out) as f:
            text = f.read()
        self.assertIn("arg=VUser1+x\n", text)
        self.assertIn("user=vuser1\n", text)


class LocalAsOrdinaryUser(LocalBehaviour, E2ETest):
    """Started by an ordinary user (rmtest3), smtpd runs as that user
    throughout and delivers every local part as that user, where it may
    write."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or tool("setpriv") is None:
            self.skipTest("needs root to create the user and setpriv to become it")
        self.users = {}
        u = self.add_user("rmtest3")
        with open("/var/mail/rmtest3", "w"):
            pass                       # as useradd's CREATE_MAIL_SPOOL would
        os.chown("/var/mail/rmtest3", u.pw_uid, u.pw_gid)
        os.chmod("/var/mail/rmtest3", 0o600)
        self.make_scripts()
        self.port = free_port()
        self.d = Smtpd(u.pw_dir, CONF.format(port=self.port, tmp=self.tmp,
                                             spool=os.path.join(u.pw_dir, "spool")))
        self.cleanups.append(self.d.stop)
        os.chown(self.d.conf, u.pw_uid, u.pw_gid)
        self.d.start(wrapper=["setpriv", "--reuid=rmtest3", "--regid=rmtest3", "--init-groups",
                              "--reset-env"], wait_port=self.port)

    def deliverer(self, name):
        return self.users["rmtest3"]

    def test_runs_as_the_user_and_delivers_as_the_user(self):
        self.send("a@example.org", "anyone@md.test")
        u = self.users["rmtest3"]
        box = os.path.join(u.pw_dir, "Maildir")
        wait_for(lambda: maildir_messages(box), what="delivery as rmtest3")
        self.assertNotIn("running as _smtpd", self.d.log())
        with open("/proc/%d/status" % self.d.proc.pid) as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        self.assertEqual(uids, [str(u.pw_uid)] * 4)
