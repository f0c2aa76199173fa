"""test/e2e/test_local.py - local delivery with privilege separation, as
root with test users the tests create and remove: maildir and mbox files
owned by the recipient, mbox locking under concurrent deliveries, mda exit
codes, shell metacharacters in addresses, and smtpd started as an ordinary
user delivering where that user may write."""
import os
import pwd
import shutil
import smtplib
import subprocess
import threading

from harness import SMTPD, E2ETest, Smtpd, free_port, maildir_messages, tool, wait_for

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "md" maildir
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


class LocalAsRoot(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("creating test users needs root")
        self.users = {}
        for name in ("rmtest1", "rmtest2"):
            self.users[name] = make_user(name, os.path.join(self.tmp, "home", name))
            self.cleanups.append(lambda n=name: subprocess.run(["userdel", "-r", n],
                                                               stderr=subprocess.DEVNULL))
            self.cleanups.append(lambda n=name: os.path.exists("/var/mail/" + n) and
                                 os.unlink("/var/mail/" + n))
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        for name, text in (("deliver.sh", DELIVER_SH), ("wrap.sh", WRAP_SH)):
            script = os.path.join(self.tmp, name)
            with open(script, "w") as f:
                f.write(text)
            os.chmod(script, 0o755)
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp), wait_port=self.port)

    def send(self, sender, rcpt, n=1):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(n):
                self.assertEqual(s.sendmail(sender, [rcpt], "Subject: n%d\r\n\r\nbody %d\r\n" % (i, i)),
                                 {})

    def test_maildir_file_belongs_to_the_recipient(self):
        self.send("a@example.org", "rmtest1@md.test")
        box = os.path.join(self.users["rmtest1"].pw_dir, "Maildir")
        wait_for(lambda: maildir_messages(box), what="maildir delivery")
        new = os.path.join(box, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.users["rmtest1"].pw_uid, 0o600))
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

    def test_mbox_two_concurrent_senders(self):
        threads = [threading.Thread(target=self.send, args=("s%d@example.org" % k, "rmtest1@mb.test", 5))
                   for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        path = "/var/mail/rmtest1"
        wait_for(lambda: self.d.log().count("result=Ok") >= 10, timeout=30, what="10 mbox deliveries")
        with open(path, "rb") as f:
            text = f.read()
        self.assertEqual(text.count(b"\nFrom ") + text.startswith(b"From "), 10)
        self.assertEqual(os.stat(path).st_uid, self.users["rmtest1"].pw_uid)
        self.assertFalse(os.path.exists(path + ".lock"))

    def test_mda_exit_codes_and_metacharacters(self):
        home = self.users["rmtest2"].pw_dir
        with open(os.path.join(home, "exit-code"), "w") as f:
            f.write("75\n")
        evil = "x`touch${IFS}/tmp/ringmta-pwned`@example.org"
        self.send(evil, "rmtest2+`id`@mda.test")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=30, what="exit 75 deferred")
        self.assertIn("mda exited 75", self.d.log())
        with open(os.path.join(home, "exit-code"), "w") as f:
            f.write("1\n")
        self.send("b@example.org", "rmtest2@mda.test")
        wait_for(lambda: "result=PermFail" in self.d.log(), timeout=30, what="exit 1 is permanent")
        out = open(os.path.join(home, "mda.out")).read()
        self.assertIn("arg=rmtest2+:id:", out)             # the argument, neutralised
        self.assertIn("sender=" + evil, out)               # the raw address, only in the environment
        self.assertIn("user=rmtest2", out)
        self.assertFalse(os.path.exists("/tmp/ringmta-pwned"))

    def test_mda_runs_inside_its_wrapper(self):
        self.send("a@Sender.Example", "rmtest1@wrap.test")
        home = self.users["rmtest1"].pw_dir
        wait_for(lambda: os.path.exists(os.path.join(home, "mda.out")), timeout=30,
                 what="the wrapped mda ran")
        with open(os.path.join(home, "wrap.out")) as f:
            self.assertEqual(f.read(), "wrapper domain=sender.example user=rmtest1 runs=%s "
                             "rmtest1\n" % os.path.join(self.tmp, "deliver.sh"))
        with open(os.path.join(home, "mda.out")) as f:
            out = f.read()
        self.assertIn("arg=rmtest1\n", out)
        self.assertIn("sender=a@Sender.Example\n", out)

    def test_maildir_and_mbox_run_inside_a_wrapper(self):
        u = self.users["rmtest1"]
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("a@example.org", ["rmtest1@wmd.test"], "X-Spam: yes\r\nSubject: j\r\n\r\njunk\r\n")
            s.sendmail("o'brien@example.org", ["rmtest1@wmb.test"], "Subject: m\r\n\r\nFrom here\r\n")
        junk = os.path.join(u.pw_dir, "Maildir", ".Junk")
        wait_for(lambda: maildir_messages(junk), timeout=30, what="wrapped maildir delivery")
        new = os.path.join(junk, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (u.pw_uid, 0o600))
        wait_for(lambda: os.path.exists("/var/mail/rmtest1"), timeout=30, what="wrapped mbox delivery")
        with open("/var/mail/rmtest1", "rb") as f:
            mbox = f.read()
        self.assertTrue(mbox.startswith(b"From o'brien@example.org "), mbox[:60])
        self.assertIn(b"\n>From here\n", mbox)
        self.assertEqual(os.stat("/var/mail/rmtest1").st_uid, u.pw_uid)
        with open(os.path.join(u.pw_dir, "wrap.out")) as f:
            lines = f.read().splitlines()
        exe = os.path.realpath(SMTPD)
        self.assertIn("wrapper domain=example.org user=rmtest1 runs=%s --deliver maildir --junk -- "
                      "%s/Maildir" % (exe, u.pw_dir), lines)
        self.assertIn("wrapper domain=example.org user=rmtest1 runs=%s --deliver mbox -- "
                      "/var/mail/rmtest1" % exe, lines)
        for bad in (["maildir", "relative/dir"], ["mbox"], ["sh", "/x"], ["maildir", "/a", "/b"]):
            r = subprocess.run([SMTPD, "--deliver"] + bad, input=b"x\n", capture_output=True)
            self.assertEqual(r.returncode, 64, bad)

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


class LocalAsOrdinaryUser(E2ETest):
    """Started by an ordinary user, smtpd runs as that user throughout and
    delivers where that user may write."""

    def test_runs_as_the_user_and_delivers_as_the_user(self):
        if os.geteuid() != 0 or tool("setpriv") is None:
            self.skipTest("needs root to create the user and setpriv to become it")
        home = os.path.join(self.tmp, "home", "rmtest3")
        os.makedirs(os.path.dirname(home))
        os.chmod(os.path.dirname(home), 0o755)
        u = make_user("rmtest3", home)
        self.cleanups.append(lambda: subprocess.run(["userdel", "-r", "rmtest3"],
                                                    stderr=subprocess.DEVNULL))
        port = free_port()
        conf = os.path.join(home, "smtpd.conf")
        with open(conf, "w") as f:
            f.write('listen on 127.0.0.1 port %d\nqueue path "%s/spool"\n'
                    'action "md" maildir "%s/mail/%%{rcpt.user}"\n'
                    'match from local for local action "md"\n' % (port, home, home))
        os.chown(conf, u.pw_uid, u.pw_gid)
        d = Smtpd(home, open(conf).read())
        self.cleanups.append(d.stop)
        os.chown(d.conf, u.pw_uid, u.pw_gid)
        d.start(wrapper=["setpriv", "--reuid=rmtest3", "--regid=rmtest3", "--init-groups",
                         "--reset-env"], wait_port=port)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            self.assertEqual(s.sendmail("a@example.org", ["anyone@localhost"], "S: x\r\n\r\ny\r\n"), {})
        box = os.path.join(home, "mail", "anyone")
        wait_for(lambda: maildir_messages(box), what="delivery as rmtest3")
        new = os.path.join(box, "new")
        st = os.stat(os.path.join(new, os.listdir(new)[0]))
        self.assertEqual(st.st_uid, u.pw_uid)
        self.assertNotIn("running as _smtpd", d.log())
