"""test/e2e/test_ctl_update_table.py - `smtpctl update table NAME` on a
running smtpd: a file: table read again decides the next RCPT without a
reload or restart; a file that does not load, an unknown or inline table
and an unprivileged caller are refused and the table keeps answering as
before; updates while clients are sending RCPTs answer every one of them
from the old or the new entries, never anything else."""
import json
import os
import pwd
import smtplib
import threading

from harness import E2ETest, free_port, maildir_messages, wait_for


CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table domains file:{tmp}/domains
table inline {{ "inline.example" }}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from any for domain <domains> action "local"
match from any for domain <inline> action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)


class UpdateTable(E2ETest):

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.domains = os.path.join(self.tmp, "domains")
        self.put("old.example\n")
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp), wait_port=self.port)

    def put(self, text):
        with open(self.domains + ".new", "w") as f:
            f.write(text)
        os.rename(self.domains + ".new", self.domains)

    def ctl(self, *args, want_rc=0, user=None):
        return self.smtpctl(*args, want_rc=want_rc, user=user)

    def rcpt_code(self, s, rcpt):
        return s.rcpt(rcpt)[0]

    def test_update_decides_the_next_rcpt(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("c.example.org")
            s.mail("a@example.org")
            self.assertEqual(self.rcpt_code(s, "x@new.example"), 550)
            self.put("old.example\nnew.example\n")
            self.assertEqual(self.ctl("update", "table", "domains").stdout, "command succeeded\n")
            self.assertIn("control: table domains updated by uid %d: 2 entries" % os.geteuid(),
                          self.d.log())
            # the same session, the next RCPT: the new entries answer
            self.assertEqual(self.rcpt_code(s, "x@new.example"), 250)
            self.assertEqual(self.rcpt_code(s, "y@old.example"), 250)
            s.data("Subject: t\r\n\r\nafter update\r\n")
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "x")), what="delivery")
        self.put("new.example\n")
        doc = json.loads(self.ctl("update", "table", "domains", "--json").stdout)
        self.assertEqual(doc, {"result": "ok", "entries": 1})
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("c.example.org")
            s.mail("a@example.org")
            self.assertEqual(self.rcpt_code(s, "y@old.example"), 550)
            self.assertEqual(self.rcpt_code(s, "x@new.example"), 250)

    def test_refusals_keep_the_table(self):
        self.put("old.example\nnew.example\n")
        self.ctl("update", "table", "domains")
        os.unlink(self.domains)
        r = self.ctl("update", "table", "domains", want_rc=1)
        self.assertEqual(r.stderr, 'smtpctl: command failed: cannot open table file "%s": '
                         'No such file or directory\n' % self.domains)
        self.assertIn("update table domains refused, the table stays as it was", self.d.log())
        with open(self.domains, "wb") as f:
            f.write(b"bad\0.example\n")
        r = self.ctl("update", "table", "domains", want_rc=1)
        self.assertEqual(r.stderr, 'smtpctl: command failed: table file "%s" line 1: NUL byte\n'
                         % self.domains)
        r = self.ctl("update", "table", "nope", want_rc=1)
        self.assertEqual(r.stderr, 'smtpctl: command failed: no table "nope" in %s\n'
                         % self.d.conf)
        r = self.ctl("update", "table", "inline", want_rc=1)
        self.assertEqual(r.stderr, 'smtpctl: command failed: table "inline" is not read from '
                         'a file (declared at line 5)\n')
        r = self.ctl("update", "table", "domains", want_rc=1, user="nobody")
        self.assertEqual(r.stderr, "smtpctl: command failed: permission denied: need root "
                                   "privileges\n")
        self.ctl("update", "table", want_rc=1)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("c.example.org")
            s.mail("a@example.org")
            self.assertEqual(self.rcpt_code(s, "x@new.example"), 250)
            self.assertEqual(self.rcpt_code(s, "x@inline.example"), 250)
            self.assertEqual(self.rcpt_code(s, "x@other.example"), 550)

    def test_updates_while_clients_send(self):
        """Both versions of the file hold a.example: every RCPT to it is 250
        whichever entries answer; b.example comes and goes."""
        self.put("a.example\n")
        self.ctl("update", "table", "domains")
        stop = threading.Event()
        codes, errors = [], []

        def client():
            try:
                while not stop.is_set():
                    with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
                        s.ehlo("c.example.org")
                        s.mail("a@example.org")
                        for _ in range(50):
                            codes.append(self.rcpt_code(s, "u@a.example"))
                        s.rset()
            except Exception as e:   # reported below
                errors.append(e)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            updates = 0
            while updates < 30 or (len(codes) < 2000 and updates < 1000 and not errors):
                i = updates
                updates += 1
                self.put("a.example\n" + ("b.example\n" if i % 2 else
                                          "".join("d%d.example\n" % j for j in range(500))))
                self.ctl("update", "table", "domains")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(len(codes), 0)
        self.assertEqual(set(codes), {250})
        self.assertGreaterEqual(len(codes), 2000)
        self.assertEqual(self.d.log().count("control: table domains updated"), updates + 1)
