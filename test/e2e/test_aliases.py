"""test/e2e/test_aliases.py - alias, virtual and ~/.forward expansion, the
same aliases file read by smtpd started as root (with test users the tests
create and remove) and by smtpd started as an ordinary user: users, lists,
a file, a command, error: and loops, decided at RCPT (an unknown or refused
recipient never gets a 250, so nothing bounces); a virtual domain with the
lookup order; ~/.forward files honoured only when safe, and only as root;
sendmail's local submissions expanded like SMTP ones; a file the
delivering user cannot write is deferred, not lost.

As an ordinary user smtpd cannot tell one local user from another: every
local part an alias leads to is delivered to the daemon's own user (the
folder its maildir path names for that user), getpwnam is not asked, so an
unknown local part is accepted rather than refused, and ~/.forward files
are not read."""
import email
import os
import pwd
import smtplib
import subprocess

from harness import E2ETest, Smtpd, free_port, maildir_messages, tool, wait_for
from test_local import make_user
from test_sendmail_personas import persona

CONF = """
listen on 127.0.0.1 port {port}
queue path "{spool}"
table aliases file:{tables}/aliases
table vusers file:{tables}/vusers
action "local" maildir{box} alias <aliases>
action "virt" maildir{box} virtual <vusers>
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
archive: {drop}/archive.mbox
pipe: "|{tmp}/record.sh alias-pipe"
denied: {tmp}/rootonly/denied.mbox
gone: error:550 5.1.6 this address is gone
later: error:451 4.2.1 mailbox busy; try later
loop1: loop2
loop2: loop1
aloop1: aloop2@example.org
aloop2: aloop1@example.org
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
{{ echo "tag=$1 user=$(id -un) recipient=$RECIPIENT"; cat; }} >> {drop}/pipe.out
"""


def write(path, text, owner=None, mode=None):
    """Write text to path; owner: a pwd entry to chown it to."""
    with open(path, "w") as f:
        f.write(text)
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    if mode is not None:
        os.chmod(path, mode)
    return path


def owned_messages(test, box, uid):
    """The number of messages in box/new, each checked to belong to uid."""
    new = os.path.join(box, "new")
    names = os.listdir(new) if os.path.isdir(new) else []
    for n in names:
        test.assertEqual(os.stat(os.path.join(new, n)).st_uid, uid, n)
    return len(names)


def delivered_to(box):
    """The Delivered-To: of each message in box, sorted."""
    return sorted(email.message_from_bytes(m)["Delivered-To"] for m in maildir_messages(box))


class AliasBehaviour:
    """What the same aliases file does whoever started smtpd. A class using
    it sets self.port, self.d, self.drop (where alias files and commands
    write), self.runs_as (the user files and commands from the alias table
    run as) and box(name) (the maildir a local name's mail lands in)."""

    def write_tables(self, tables, owner=None):
        """The aliases and virtual tables in tables, the recording command
        and a folder only root may write to."""
        write(os.path.join(tables, "aliases"), ALIASES.format(tmp=self.tmp, drop=self.drop),
              owner, 0o600 if owner else None)
        write(os.path.join(tables, "vusers"), VUSERS, owner, 0o600 if owner else None)
        write(os.path.join(self.tmp, "record.sh"), RECORD_SH.format(drop=self.drop), mode=0o755)
        os.makedirs(os.path.join(self.tmp, "rootonly"), mode=0o755)

    def rcpt_replies(self, rcpts):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@example.org")
            return [s.rcpt(r) for r in rcpts]

    def send(self, rcpts, subject="x"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("sender@example.org", rcpts,
                                        "Subject: %s\r\n\r\nbody\r\n" % subject), {})

    def queue(self):
        """smtpctl show queue, one line per envelope still queued."""
        return [l for l in self.smtpctl("show", "queue").stdout.splitlines() if l]

    def test_file_and_command_entries_run_as_the_unprivileged_user(self):
        self.send(["archive@example.org", "pipe@example.org"], "programs")
        mbox = os.path.join(self.drop, "archive.mbox")
        out = os.path.join(self.drop, "pipe.out")
        wait_for(lambda: os.path.exists(mbox) and os.path.exists(out), timeout=30,
                 what="the file and the command")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=30, what="both done")
        with open(mbox, "rb") as f:
            text = f.read()
        self.assertTrue(text.startswith(b"From sender@example.org "), text[:80])
        self.assertIn(b"Subject: programs", text)
        self.assertEqual(pwd.getpwuid(os.stat(mbox).st_uid).pw_name, self.runs_as)
        with open(out) as f:
            rec = f.read()
        self.assertIn("tag=alias-pipe user=%s recipient=pipe@example.org" % self.runs_as, rec)
        self.assertIn("Subject: programs", rec)

    def test_a_file_its_user_cannot_write_is_deferred_not_lost(self):
        self.send(["denied@example.org"], "denied")
        path = os.path.join(self.tmp, "rootonly", "denied.mbox")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=30, what="the deferral")
        self.assertIn("open %s: Permission denied" % path, self.d.log())
        self.assertEqual(os.listdir(os.path.dirname(path)), [])   # no file, no lock left
        self.assertNotIn("result=PermFail", self.d.log())        # so no bounce either
        queued = self.queue()
        self.assertEqual(len(queued), 1, queued)
        self.assertIn("|denied@example.org|", queued[0])

    def test_an_address_loop_is_refused_at_rcpt(self):
        (code, msg), = self.rcpt_replies(["aloop1@example.org"])
        self.assertEqual((code, msg.split(b" ")[0]), (550, b"5.4.6"), msg)
        self.assertIn("expansion loops back on itself with nothing to deliver", self.d.log())

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


class AliasesAsRoot(AliasBehaviour, E2ETest):
    runs_as = "_smtpd"

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
        self.drop = os.path.join(self.tmp, "drop")
        os.makedirs(self.drop)
        os.chmod(self.drop, 0o1777)
        self.write_tables(self.tmp)
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, spool=self.tmp + "/spool",
                                        tables=self.tmp, box=""), wait_port=self.port)

    def box(self, user):
        return os.path.join(self.users[user].pw_dir, "Maildir")

    def owned_messages(self, user):
        return owned_messages(self, self.box(user), self.users[user].pw_uid)

    def test_chains_and_lists_reach_each_user_once(self):
        self.send(["postmaster@example.org", "team@example.org"], "chain")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="deliveries to rmal1 and rmal2")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=30, what="two deliveries")
        # postmaster -> root -> rmal1 and team -> rmal1, rmal2, rmal1: one copy each
        self.assertEqual(self.owned_messages("rmal1"), 1)
        self.assertEqual(self.owned_messages("rmal2"), 1)
        self.assertEqual(self.d.log().count("result=Ok"), 2)

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

    def test_forward_files_in_homes_closed_to_smtpd(self):
        """Debian's homes are 0700: the delivery helper opens ~/.forward as
        root, with the same checks, for the unprivileged shard."""
        u = self.users["rmal2"]
        os.chmod(u.pw_dir, 0o700)
        fwd = os.path.join(u.pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write("rmal1, \\rmal2\n")
        os.chown(fwd, u.pw_uid, u.pw_gid)
        os.chmod(fwd, 0o600)
        self.send(["rmal2@example.org"], "closed home")
        wait_for(lambda: maildir_messages(self.box("rmal1")) and maildir_messages(self.box("rmal2")),
                 timeout=30, what="rmal1 and rmal2's own copy")
        self.assertEqual(self.owned_messages("rmal1"), 1)
        # sendmail's submissions (the main thread) take the same way
        r = persona("sendmail", ["-f", "cron@example.org", "rmal2@example.org"],
                    b"Subject: from cron\n\nhello\n", env=dict(os.environ, SMTPD_CONF=self.d.conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: self.owned_messages("rmal1") == 2 and self.owned_messages("rmal2") == 2,
                 timeout=30, what="the cron mail forwarded too")
        self.assertEqual(self.owned_messages("rmal1"), 2)
        os.chmod(fwd, 0o620)        # group writable: ignored, whoever opens it
        self.send(["rmal2@example.org"], "unsafe")
        wait_for(lambda: self.owned_messages("rmal2") == 3, timeout=30, what="third copy")
        self.assertIn(fwd + " ignored: group or world writable", self.d.log())
        os.unlink(fwd)              # a symbolic link is never followed
        os.symlink(os.path.join(self.tmp, "aliases"), fwd)
        os.lchown(fwd, u.pw_uid, u.pw_gid)
        self.send(["rmal2@example.org"], "symlink")
        wait_for(lambda: self.owned_messages("rmal2") == 4, timeout=30, what="fourth copy")
        self.assertIn(fwd + " ignored: a symbolic link", self.d.log())
        self.assertEqual(self.owned_messages("rmal1"), 2)


class AliasesAsOrdinaryUser(AliasBehaviour, E2ETest):
    """smtpd started by an ordinary user (rmal3, through setpriv): the
    aliases file, maildirs, mbox files and command output are that user's,
    and every delivery runs as that user."""
    runs_as = "rmal3"

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or tool("setpriv") is None:
            self.skipTest("needs root to create the user and setpriv to become it")
        os.makedirs(os.path.join(self.tmp, "home"))
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        self.home = os.path.join(self.tmp, "home", "rmal3")
        self.u = make_user("rmal3", self.home)
        self.cleanups.append(lambda: subprocess.run(["userdel", "-r", "rmal3"],
                                                    stderr=subprocess.DEVNULL))
        os.chmod(self.home, 0o700)
        self.drop = os.path.join(self.home, "drop")
        os.makedirs(self.drop)
        os.chown(self.drop, self.u.pw_uid, self.u.pw_gid)
        os.chmod(self.drop, 0o700)
        self.write_tables(self.home, owner=self.u)
        self.port = free_port()
        box = ' "%s/mail/%%{user.username}"' % self.home
        self.d = Smtpd(self.tmp, CONF.format(port=self.port, spool=self.home + "/spool",
                                             tables=self.home, box=box))
        self.cleanups.append(self.d.stop)
        os.chown(self.d.conf, self.u.pw_uid, self.u.pw_gid)
        self.d.start(wrapper=["setpriv", "--reuid=rmal3", "--regid=rmal3", "--init-groups",
                              "--reset-env"], wait_port=self.port)

    def box(self, name):
        """Every local name's mail: %{user.username} is the daemon's user."""
        return os.path.join(self.home, "mail", "rmal3")

    def delivered(self, n, what):
        """Wait for n messages in rmal3's maildir and an empty queue; the
        messages' Delivered-To:, each file checked to belong to rmal3."""
        wait_for(lambda: len(maildir_messages(self.box("any"))) >= n, timeout=30, what=what)
        wait_for(lambda: not self.queue(), timeout=30, what="an empty queue")
        self.assertEqual(owned_messages(self, self.box("any"), self.u.pw_uid), n)
        return delivered_to(self.box("any"))

    def test_runs_as_the_user_that_started_it(self):
        self.assertIn("smtpd: ready", self.d.log())
        self.assertNotIn("running as _smtpd", self.d.log())
        out = subprocess.run(["ps", "-o", "user=", "-p", str(self.d.proc.pid)],
                             stdout=subprocess.PIPE, text=True, timeout=10).stdout.split()
        self.assertEqual(out, ["rmal3"])

    def test_lists_of_local_names_land_in_the_users_maildir_once_per_name(self):
        self.send(["postmaster@example.org", "team@example.org"], "chain")
        # postmaster -> root -> rmal1 and team -> rmal1, rmal2, rmal1: one
        # delivery per name, both into rmal3's maildir
        self.assertEqual(self.delivered(2, "two deliveries"),
                         ["postmaster@example.org", "team@example.org"])
        self.assertEqual(os.listdir(os.path.join(self.home, "mail")), ["rmal3"])
        self.assertEqual(self.d.log().count("result=Ok"), 2)
        self.assertEqual(self.d.log().count("user=rmal3 "), 2)

    def test_refusals_come_at_rcpt_with_the_right_reply(self):
        replies = self.rcpt_replies(["gone@example.org", "later@example.org",
                                     "outside@example.org", "rmal1@example.org"])
        codes = [(c, m.split(b" ")[0]) for c, m in replies]
        self.assertEqual(codes, [(550, b"5.1.6"), (451, b"4.2.1"), (550, b"5.1.1"),
                                 (250, b"2.1.5")])
        self.assertIn(b"this address is gone", replies[0][1])
        self.assertNotIn(b"nowhere", replies[2][1])
        self.assertIn("someone@nowhere.test> is rejected by the rules", self.d.log())

    def test_any_local_part_is_the_users_mail(self):
        # no getpwnam: an unknown local part, and a user loop ending in a
        # name, are accepted and delivered to rmal3 rather than refused
        replies = self.rcpt_replies(["nosuchuser-rm@example.org", "loop1@example.org"])
        self.assertEqual([c for c, _ in replies], [250, 250])
        self.send(["nosuchuser-rm@example.org", "loop1@example.org"], "anyone")
        self.assertEqual(self.delivered(2, "both delivered"),
                         ["loop1@example.org", "nosuchuser-rm@example.org"])
        self.assertNotIn("no such local user", self.d.log())

    def test_virtual_domain_lookup_order(self):
        # info@v.test is its own key (rmal1), before the catch-all (rmal2)
        self.send(["info@v.test", "whoever@v.test"], "info")
        # sales+eu@v.test and the catch-all are both rmal2: delivered once
        self.send(["sales+eu@v.test", "whoever@v.test"], "sales")
        self.assertEqual(self.delivered(3, "virtual deliveries"),
                         ["info@v.test", "sales+eu@v.test", "whoever@v.test"])
        self.assertEqual(self.rcpt_replies(["x@v.test"])[0][0], 250)   # @v.test

    def test_an_alias_address_goes_through_the_rules_again(self):
        self.send(["both@example.org"], "both")
        self.assertEqual(self.delivered(2, "info@v.test's and rmal2's copies"),
                         ["both@example.org", "info@v.test"])
        self.assertIn("to=<info@v.test> rcpt=<both@example.org> user=rmal3", self.d.log())

    def test_forward_files_are_not_read(self):
        write(os.path.join(self.home, ".forward"), "%s/forwarded.mbox\n" % self.drop,
              self.u, 0o644)
        self.send(["rmal3@example.org"], "own")
        self.assertEqual(self.delivered(1, "rmal3's own copy"), ["rmal3@example.org"])
        self.assertFalse(os.path.exists(os.path.join(self.drop, "forwarded.mbox")))
