"""test/e2e/test_aliases.py - alias, virtual and ~/.forward expansion as
root with test users the tests create and remove: an aliases file with
users, lists, a file, a command, error: and a loop, decided at RCPT (an
unknown or refused recipient never gets a 250, so nothing bounces); a
virtual domain with the lookup order; ~/.forward files honoured only when
safe; sendmail's local submissions expanded like SMTP ones."""
import os
import pwd
import smtplib
import subprocess

from harness import E2ETest, free_port, maildir_messages, wait_for
from test_local import make_user
from test_sendmail_personas import persona

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table aliases file:{tmp}/aliases
table vusers file:{tmp}/vusers
action "local" maildir alias <aliases>
action "virt" maildir virtual <vusers>
action "fwd" forward-only alias <aliases>
match from local for domain "v.test" action "virt"
match from local for domain "fwd.test" action "fwd"
match from local for domain "nowhere.test" reject
match from local for any action "local"
"""

ALIASES = """
# aliases(5) as OpenSMTPD reads it
postmaster: root
root: rmal1
team: rmal1, rmal2, rmal1
archive: {tmp}/drop/archive.mbox
pipe: "|{tmp}/record.sh alias-pipe"
gone: error:550 5.1.6 this address is gone
later: error:451 4.2.1 mailbox busy; try later
loop1: loop2
loop2: loop1
outside: someone@nowhere.test
both: info@v.test, rmal2
"""

VUSERS = """
info@v.test rmal1
sales+eu@v.test rmal2
@v.test rmal2
"""

RECORD_SH = """#!/bin/sh
# records who ran it, for which recipient, and the message
{{ echo "tag=$1 user=$(id -un) recipient=$RECIPIENT"; cat; }} >> {tmp}/drop/pipe.out
"""


class AliasesAsRoot(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("creating test users needs root")
        os.makedirs(os.path.join(self.tmp, "home"))
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        self.users = {}
        for name in ("rmal1", "rmal2"):
            self.users[name] = make_user(name, os.path.join(self.tmp, "home", name))
            os.chmod(self.users[name].pw_dir, 0o755)   # so smtpd may read ~/.forward
            self.cleanups.append(lambda n=name: subprocess.run(["userdel", "-r", n],
                                                               stderr=subprocess.DEVNULL))
        drop = os.path.join(self.tmp, "drop")
        os.makedirs(drop)
        os.chmod(drop, 0o1777)
        self.write("aliases", ALIASES.format(tmp=self.tmp))
        self.write("vusers", VUSERS)
        script = self.write("record.sh", RECORD_SH.format(tmp=self.tmp))
        os.chmod(script, 0o755)
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp), wait_port=self.port)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def box(self, user):
        return os.path.join(self.users[user].pw_dir, "Maildir")

    def rcpt_replies(self, rcpts):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@example.org")
            return [s.rcpt(r) for r in rcpts]

    def send(self, rcpts, subject="x"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("sender@example.org", rcpts,
                                        "Subject: %s\r\n\r\nbody\r\n" % subject), {})

    def owned_messages(self, user):
        new = os.path.join(self.box(user), "new")
        names = os.listdir(new)
        for n in names:
            self.assertEqual(os.stat(os.path.join(new, n)).st_uid, self.users[user].pw_uid)
        return len(names)

    def test_chains_and_lists_reach_each_user_once(self):
        self.send(["postmaster@example.org", "team@example.org"], "chain")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="deliveries to rmal1 and rmal2")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=30, what="two deliveries")
        # postmaster -> root -> rmal1 and team -> rmal1, rmal2, rmal1: one copy each
        self.assertEqual(self.owned_messages("rmal1"), 1)
        self.assertEqual(self.owned_messages("rmal2"), 1)
        self.assertEqual(self.d.log().count("result=Ok"), 2)

    def test_file_and_command_entries_run_as_the_unprivileged_user(self):
        self.send(["archive@example.org", "pipe@example.org"], "programs")
        mbox = os.path.join(self.tmp, "drop", "archive.mbox")
        out = os.path.join(self.tmp, "drop", "pipe.out")
        wait_for(lambda: os.path.exists(mbox) and os.path.exists(out), timeout=30,
                 what="the file and the command")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=30, what="both done")
        with open(mbox, "rb") as f:
            text = f.read()
        self.assertTrue(text.startswith(b"From sender@example.org "), text[:80])
        self.assertIn(b"Subject: programs", text)
        self.assertEqual(pwd.getpwuid(os.stat(mbox).st_uid).pw_name, "_smtpd")
        with open(out) as f:
            rec = f.read()
        self.assertIn("tag=alias-pipe user=_smtpd recipient=pipe@example.org", rec)
        self.assertIn("Subject: programs", rec)

    def test_refusals_come_at_rcpt_with_the_right_reply(self):
        replies = self.rcpt_replies(["gone@example.org", "later@example.org",
                                     "nosuchuser-rm@example.org", "loop1@example.org",
                                     "outside@example.org", "rmal1@example.org"])
        codes = [(c, m.split(b" ")[0]) for c, m in replies]
        self.assertEqual(codes, [(550, b"5.1.6"), (451, b"4.2.1"), (550, b"5.1.1"),
                                 (550, b"5.1.1"), (550, b"5.1.1"), (250, b"2.1.5")])
        self.assertIn(b"this address is gone", replies[0][1])
        # the log says why; the reply does not show the alias's targets
        self.assertNotIn(b"nowhere", replies[4][1])
        log = self.d.log()
        self.assertIn('no such local user "loop1"', log)
        self.assertIn("someone@nowhere.test> is rejected by the rules", log)

    def test_virtual_domain_lookup_order(self):
        self.send(["info@v.test"], "info")
        self.send(["sales+eu@v.test", "whoever@v.test"], "sales")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="virtual deliveries")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=30, what="two deliveries")
        self.assertEqual(self.owned_messages("rmal1"), 1)
        self.assertEqual(self.owned_messages("rmal2"), 1)   # sales+eu and the catch-all: once

    def test_an_alias_address_goes_through_the_rules_again(self):
        self.send(["both@example.org"], "both")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="rmal1 via v.test and rmal2")
        wait_for(lambda: "to=<info@v.test> rcpt=<both@example.org> user=rmal1" in self.d.log(),
                 timeout=30, what="the delivery logged with the address it went to")

    def test_forward_files_are_followed_only_when_safe(self):
        fwd = os.path.join(self.users["rmal2"].pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write("rmal1, \\rmal2\n")
        u = self.users["rmal2"]
        os.chown(fwd, u.pw_uid, u.pw_gid)
        os.chmod(fwd, 0o644)
        self.send(["rmal2@example.org"], "forwarded")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="rmal1 and rmal2's own copy")
        os.chmod(fwd, 0o666)        # world writable: ignored
        self.send(["rmal2@example.org"], "unsafe")
        wait_for(lambda: self.owned_messages("rmal2") == 2, timeout=30, what="second copy")
        self.assertEqual(self.owned_messages("rmal1"), 1)
        self.assertIn(fwd + " ignored: group or world writable", self.d.log())

    def test_forward_only_accepts_only_mail_that_leaves(self):
        replies = self.rcpt_replies(["rmal1@fwd.test"])
        self.assertEqual(replies[0][0], 550)
        self.assertIn("is forward-only", self.d.log())

    def test_sendmail_submissions_are_expanded_too(self):
        env = dict(os.environ, SMTPD_CONF=self.d.conf)
        r = persona("sendmail", ["-f", "cron@example.org", "postmaster@example.org"],
                    b"Subject: from cron\n\nhello\n", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: maildir_messages(self.box("rmal1")), timeout=30,
                 what="postmaster's mail in rmal1's maildir")
        r = persona("sendmail", ["-f", "cron@example.org", "gone@example.org"],
                    b"Subject: x\n\nhello\n", env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"gone", r.stderr)
