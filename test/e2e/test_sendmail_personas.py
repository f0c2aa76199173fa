"""test/e2e/test_sendmail_personas.py - the sendmail family driven as its
real callers drive it (cron, mutt, PHP's mail(), git send-email, Symfony's
-bs transport), with the mail checked in the maildir; the offline folder
while smtpd is stopped; the exit codes scripts test."""
import os
import pwd
import re
import subprocess

from harness import BUILD, E2ETest, free_port, maildir_messages, wait_for

SMTPCTL = os.path.join(BUILD, "smtpctl")

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from any for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)


def persona(name, args, stdin=b"", env=None, timeout=30):
    """Run the smtpctl binary under a persona's name, as a caller would."""
    link = os.path.join(BUILD, name)
    prog = link if os.path.exists(link) else SMTPCTL
    return subprocess.run([name] + list(args), executable=prog, input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          timeout=timeout)


class SendmailPersonas(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.port = free_port()
        # deliveries may run as the daemon's user when smtpd starts as root
        mail = os.path.join(self.tmp, "mail")
        os.makedirs(mail)
        os.chmod(mail, 0o1777)
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp), wait_port=self.port)
        self.env = dict(os.environ, SMTPD_CONF=self.d.conf)

    def box(self, user, n=1):
        path = os.path.join(self.tmp, "mail", user)
        return wait_for(lambda: len(maildir_messages(path)) >= n and maildir_messages(path),
                        what="%d message(s) for %s" % (n, user))

    def sendmail(self, args, stdin, want_rc=0):
        r = persona("sendmail", args, stdin, env=self.env)
        self.assertEqual(r.returncode, want_rc, r.stderr.decode(errors="replace"))
        return r

    def test_cron_t_adds_date_and_message_id(self):
        # cronie: sendmail -FCronDaemon -i -odi -oem -oi -t -f root
        msg = (b"From: root (Cron Daemon)\nTo: bob@localhost\n"
               b"Subject: Cron <bob@host> /usr/bin/backup\n"
               b"Content-Type: text/plain; charset=UTF-8\n\nbackup done\n")
        self.sendmail(["-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"], msg)
        m = self.box("bob")[0]
        self.assertTrue(m.startswith(b"Return-Path: <root@"), m[:80])
        self.assertIn(b"From: root (Cron Daemon)\n", m)          # kept as given
        self.assertRegex(m, rb"\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n")
        self.assertRegex(m, rb"\nMessage-ID: <[^>\s]+@[^>\s]+>\n")
        self.assertTrue(m.endswith(b"\n\nbackup done\n"), m[-40:])

    def test_mutt_oem_oi_f_and_double_dash(self):
        msg = (b"Date: Mon, 1 Jan 2024 10:00:00 +0000\nFrom: A <a@b.example>\n"
               b"To: carol@localhost\nMessage-ID: <mutt.1@b.example>\nSubject: from mutt\n\n"
               b"line one\n.\nafter a lone dot (-oi keeps it)\n")
        self.sendmail(["-oem", "-oi", "-f", "a@b.example", "--", "carol@localhost"], msg)
        m = self.box("carol")[0]
        self.assertTrue(m.startswith(b"Return-Path: <a@b.example>\nDelivered-To: carol@localhost\n"))
        self.assertEqual(m.count(b"Message-ID:"), 1)              # not added twice
        self.assertEqual(m.count(b"\nDate:"), 1)
        self.assertIn(b"\n\nline one\n.\nafter a lone dot (-oi keeps it)\n", m)

    def test_php_mail_t_i_with_bcc(self):
        # PHP's mail(): sendmail -t -i, recipients only in the headers
        msg = (b"To: dave@localhost\nCc: erin@localhost\nBcc: frank@localhost\n"
               b"Subject: php\nX-PHP-Originating-Script: 0:index.php\n\nhello from php\n")
        self.sendmail(["-t", "-i"], msg)
        for user in ("dave", "erin", "frank"):
            m = self.box(user)[0]
            self.assertNotIn(b"Bcc:", m)
            self.assertNotIn(b"frank@localhost", m.split(b"\n\n", 1)[0].split(b"\n", 2)[2])
            self.assertIn(b"\nFrom: ", m)                          # added: PHP set none
            self.assertIn(b"hello from php\n", m)

    def test_git_send_email_rcpt_list(self):
        msg = (b"From: Dev <dev@example.org>\nTo: gina@localhost\nCc: hank@localhost\n"
               b"Subject: [PATCH] fix\nDate: Tue, 2 Jan 2024 10:00:00 +0000\n"
               b"Message-ID: <20240102.1-1-dev@example.org>\n\n---\n.\n a/file | 2 +-\n")
        self.sendmail(["-i", "gina@localhost", "hank@localhost"], msg)
        for user in ("gina", "hank"):
            m = self.box(user)[0]
            self.assertIn(b"Subject: [PATCH] fix\n", m)
            self.assertIn(b"\n---\n.\n a/file | 2 +-\n", m)     # -i: the dot is text
        self.assertEqual(self.d.log().count("proto=local"), 1)   # one message, two rcpts

    def test_without_i_a_lone_dot_ends_the_message(self):
        self.sendmail(["ivan@localhost"], b"Subject: dot\n\nkept\n.\nnot kept\n")
        m = self.box("ivan")[0]
        self.assertTrue(m.endswith(b"\n\nkept\n"), m[-30:])

    def test_symfony_bs_dialogue(self):
        p = subprocess.Popen(["sendmail", "-bs"], executable=SMTPCTL, env=self.env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.cleanups.append(p.kill)

        def reply():
            lines = []
            while True:
                line = p.stdout.readline().decode()
                self.assertTrue(line, "sendmail -bs closed early: %r" % lines)
                lines.append(line)
                if line[3:4] != "-":
                    return lines

        def say(cmd):
            p.stdin.write(cmd + b"\r\n")
            p.stdin.flush()
            return reply()

        self.assertTrue(reply()[0].startswith("220 "))
        self.assertTrue(say(b"EHLO [127.0.0.1]")[-1].startswith("250 "))
        self.assertTrue(say(b"MAIL FROM:<app@example.org>")[0].startswith("250"))
        self.assertTrue(say(b"RCPT TO:<judy@localhost>")[0].startswith("250"))
        self.assertTrue(say(b"RCPT TO:<x@elsewhere.example>")[0].startswith("550"))
        self.assertTrue(say(b"DATA")[0].startswith("354"))
        p.stdin.write(b"Subject: symfony\r\n\r\n..stuffed line\r\nbody\r\n")
        done = say(b".")[0]
        self.assertRegex(done, r"^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery")
        self.assertTrue(say(b"QUIT")[0].startswith("221"))
        self.assertEqual(p.wait(timeout=10), 0)
        m = self.box("judy")[0]
        self.assertIn(b"Subject: symfony\n\n.stuffed line\nbody\n", m)

    def test_refused_recipient_exit_code(self):
        r = self.sendmail(["someone@elsewhere.example"], b"Subject: x\n\ny\n", want_rc=67)
        self.assertIn(b"refused", r.stderr)
        r = self.sendmail(["-t"], b"Subject: no recipients\n\ny\n", want_rc=64)
        r = self.sendmail(["-Z", "u@localhost"], b"", want_rc=64)

    def test_offline_while_stopped_then_picked_up(self):
        self.d.stop()
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "spool", "smtpd.sock")))
        self.sendmail(["-i", "kim@localhost"], b"Subject: while down\n\nqueued offline\n")
        offline = os.path.join(self.tmp, "spool", "offline")
        files = [f for f in os.listdir(offline) if not f.startswith(".")]
        self.assertEqual(len(files), 1)
        st = os.lstat(os.path.join(offline, files[0]))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.d.start(wait_port=self.port)
        m = self.box("kim")[0]
        self.assertIn(b"queued offline\n", m)
        self.assertEqual([f for f in os.listdir(offline) if not f.startswith(".")], [])
        self.assertIn("1 offline message enqueued", self.d.log())

    def test_offline_symlink_and_hardlink_are_refused(self):
        self.d.stop()
        offline = os.path.join(self.tmp, "spool", "offline")
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w") as f:
            f.write("not mail\n")
        os.symlink(secret, os.path.join(offline, "1.1.link"))
        os.link(secret, os.path.join(offline, "1.2.hard"))
        self.d.start(wait_port=self.port)
        log = self.d.log()
        self.assertEqual(log.count("not a plain file of its own"), 2, log)
        self.assertEqual(open(secret).read(), "not mail\n")       # untouched
        self.assertEqual(os.listdir(offline), [])

    def test_mailq_is_show_queue(self):
        r = persona("mailq", [], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"")                          # nothing deferred
        r = persona("sendmail", ["-bp"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_verbose_shows_the_dialogue(self):
        r = self.sendmail(["-v", "lee@localhost"], b"Subject: v\n\nx\n")
        err = r.stderr.decode()
        self.assertRegex(err, r">>> mail \S+@\S+\n<<< ok 250 2\.0\.0 Ok\n>>> rcpt lee@localhost\n")
        self.assertRegex(err, r"queued as [0-9a-f]{8}")
        self.box("lee")
