"""test/e2e/test_dsn_reports.py - the delivery status notifications of RFC
3461 as a sender sees them in its maildir: a success report for NOTIFY=SUCCESS
after a local delivery ("delivered") and after a relay to a next hop without
DSN ("relayed"; a second ringmta on a `no-dsn` listener), none after a relay
to a next hop that offers DSN (Postfix's smtp-sink: it got the parameters);
delay warnings while the next hop is down, once per `bounce warn-interval`
(kept over a restart), never for NOTIFY=NEVER or NOTIFY=FAILURE; RET=FULL
bringing the whole failed message back, and only its header beyond the
bound. Retries come after 1, 4, 9, 16 ... seconds (RINGMTA_RETRY_BASE_S=1)."""
import os
import pwd
import re
import smtplib
import time

from harness import E2ETest, Smtpd, free_port, maildir_messages, wait_for
from test_sendmail_personas import persona

USER = pwd.getpwuid(os.geteuid()).pw_name

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
{extra}
table far {{ "example.net" }}
action "out" relay host smtp://127.0.0.1:{next_port}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from local for domain <far> action "out"
match from local for local action "local"
"""

# the next hop: a second smtpd that does not offer DSN, taking example.net
# into its own maildirs
NEXT_HOP_CONF = """
listen on 127.0.0.1 port {port} no-dsn
queue path "{dir}/spool"
table far {{ "example.net" }}
action "local" maildir "{dir}/mail/%{{rcpt.user}}" user "{user}"
match from any for domain <far> action "local"
"""

RETRY_ENV = dict(os.environ, RINGMTA_RETRY_BASE_S="1")


class Reports(E2ETest):

    def start(self, extra="", sink_extra=None, env=None):
        """smtpd, and Postfix's smtp-sink as the next hop unless sink_extra
        is None (then the next hop is down until one is started)."""
        self.port, self.next_port = free_port(), free_port()
        self.sink_proc = (self.sink(self.next_port, extra=sink_extra)
                          if sink_extra is not None else None)
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, extra=extra,
                                        next_port=self.next_port, user=USER),
                            wait_port=self.port, env=env)

    def next_hop_without_dsn(self):
        """A second smtpd on the next hop's port, in its own folder."""
        folder = os.path.join(self.tmp, "next")
        os.makedirs(folder)
        os.chmod(folder, 0o755)
        nxt = Smtpd(folder, NEXT_HOP_CONF.format(port=self.next_port, dir=folder, user=USER))
        self.cleanups.append(nxt.stop)
        nxt.start(wait_port=self.next_port)
        return folder

    def box(self, user, base=None):
        return os.path.join(base or self.tmp, "mail", user)

    def send(self, rcpts, body="the body\r\n", mail_options=(), subject="dsn"):
        """Send from alice@localhost; rcpts maps each address to its RCPT
        parameters."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            self.assertEqual(s.mail("alice@localhost", list(mail_options))[0], 250)
            for rcpt, opts in rcpts.items():
                code, text = s.rcpt(rcpt, list(opts))
                self.assertEqual(code, 250, text)
            code, text = s.data(("From: alice@localhost\r\nSubject: %s\r\n"
                                 "Message-ID: <%s@client.example>\r\n\r\n%s")
                                % (subject, subject.replace(" ", "."), body))
            self.assertEqual(code, 250, text)

    def reports(self, kind=None):
        """Alice's maildir: the reports, of one Subject kind when given."""
        msgs = [m.decode("utf-8", "replace") for m in maildir_messages(self.box("alice"))]
        if kind is None:
            return msgs
        return [m for m in msgs if "\nSubject: Delivery status notification: %s\n" % kind in m]

    def test_notify_success_local_delivery_is_reported_delivered(self):
        self.start()
        self.send({"bob@localhost": ["NOTIFY=SUCCESS", "ORCPT=rfc822;Bob@localhost"],
                   "carol@localhost": []}, mail_options=["ENVID=env-ok"], subject="hello bob")
        rep = wait_for(lambda: self.reports(), timeout=30, what="the success report")[0]
        self.assertTrue(rep.startswith("Return-Path: <>\nDelivered-To: alice@localhost\n"),
                        rep[:200])
        for want in ("\nSubject: Delivery status notification: success\n",
                     "Your message was delivered to the following list of recipients:\n\n"
                     "bob@localhost: delivered\n\n"
                     "Below is a copy of the original message headers.\n",
                     "\nOriginal-Envelope-Id: env-ok\nReporting-MTA: dns; ",
                     "\n\nOriginal-Recipient: rfc822; Bob@localhost\n"
                     "Final-Recipient: rfc822; bob@localhost\nAction: delivered\n"
                     "Status: 2.0.0\nLast-Attempt-Date: ",
                     "Content-Type: text/rfc822-headers\n",
                     "\nSubject: hello bob\n"):
            self.assertIn(want, rep)
        self.assertNotIn("carol@localhost", rep, "carol did not ask for a report")
        self.assertNotIn("the body", rep)
        self.assertEqual(len(maildir_messages(self.box("bob"))), 1)
        self.assertEqual(len(maildir_messages(self.box("carol"))), 1)
        self.assertRegex(self.d.log(), r"success report msgid=[0-9a-f]{8} evpid=[0-9a-f]{16} "
                                       r"from=<> to=<alice@localhost> for 1 recipient\n")
        # the delivered envelope left the queue with its report: a restart
        # delivers nothing again, and the report itself asks for none
        self.d.stop()
        self.d.start(wait_port=self.port)
        time.sleep(2.5)
        self.assertEqual(len(maildir_messages(self.box("bob"))), 1)
        self.assertEqual(len(self.reports()), 1)
        self.assertEqual(self.d.log().count("success report msgid="), 1)

    def test_sendmail_dsn_options_reach_the_reports(self):
        """-N, -R and -V on the command line, and RET/ENVID/NOTIFY/ORCPT in
        a -bs dialogue, are kept like SMTP's: also offline while smtpd is
        stopped."""
        self.start()
        env = dict(os.environ, SMTPD_CONF=self.d.conf)
        r = persona("sendmail", ["-f", "alice@localhost", "-N", "success,failure", "-R", "hdrs",
                                 "-V", "env-cli", "bob@localhost"],
                    b"Subject: from the command line\n\nbody\n", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        dialogue = (b"EHLO client.example\r\nMAIL FROM:<alice@localhost> ENVID=env+2Dbs\r\n"
                    b"RCPT TO:<carol@localhost> NOTIFY=SUCCESS ORCPT=rfc822;Carol@localhost\r\n"
                    b"DATA\r\nSubject: over -bs\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        r = persona("sendmail", ["-bs"], dialogue, env=env)
        self.assertIn(b"250-DSN", r.stdout)
        self.assertIn(b"Message accepted for delivery", r.stdout)
        wait_for(lambda: len(self.reports("success")) == 2, timeout=30, what="two reports")
        reps = "\n".join(self.reports("success"))
        self.assertIn("\nOriginal-Envelope-Id: env-cli\n", reps)
        self.assertIn("\nOriginal-Envelope-Id: env-bs\n", reps)
        self.assertIn("\nOriginal-Recipient: rfc822; Carol@localhost\n", reps)
        self.assertIn("\nSubject: from the command line\n", reps)
        r = persona("sendmail", ["-N", "sometimes", "bob@localhost"], b"x\n", env=env)
        self.assertEqual(r.returncode, 64, r.stderr)      # EX_USAGE
        self.assertIn(b"-N takes never", r.stderr)
        self.d.stop()
        r = persona("sendmail", ["-f", "alice@localhost", "-N", "success", "-V", "env-off",
                                 "bob@localhost"], b"Subject: offline\n\nbody\n", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.start(wait_port=self.port)
        wait_for(lambda: len(self.reports("success")) == 3, timeout=30, what="the offline one")
        self.assertIn("\nOriginal-Envelope-Id: env-off\n", "\n".join(self.reports("success")))

    def test_notify_success_relayed_to_a_peer_with_dsn_is_left_to_it(self):
        self.start(sink_extra=[])
        self.send({"a@example.net": ["NOTIFY=SUCCESS"]})
        msgs = wait_for(lambda: "result=Ok" in self.d.log() and self.sink_proc.messages(),
                        timeout=30, what="the relayed message")
        self.assertIn(b"X-Rcpt-Args: <a@example.net> NOTIFY=SUCCESS\n", msgs[0])
        time.sleep(2.5)
        self.assertEqual(self.reports(), [])
        self.assertNotIn("success report", self.d.log())

    def test_notify_success_relayed_to_a_peer_without_dsn_is_reported_relayed(self):
        self.start()
        nxt = self.next_hop_without_dsn()
        self.send({"a@example.net": ["NOTIFY=SUCCESS,FAILURE"], "b@example.net": []},
                  subject="onwards")
        rep = wait_for(lambda: self.reports(), timeout=30, what="the success report")[0]
        self.assertIn("\nSubject: Delivery status notification: success\n", rep)
        self.assertIn("a@example.net: relayed to a mail system that sends no further "
                      "reports\n", rep)
        self.assertRegex(rep, r"\n\nFinal-Recipient: rfc822; a@example.net\nAction: relayed\n"
                              r"Status: 2\.0\.0\nDiagnostic-Code: smtp; 250 2\.0\.0 [0-9a-f]{8} "
                              r"Message accepted for delivery\nLast-Attempt-Date: ")
        self.assertNotIn("b@example.net", rep)
        relayed = wait_for(lambda: maildir_messages(self.box("a", nxt)), timeout=30,
                           what="the message at the next hop")
        self.assertIn(b"Subject: onwards", relayed[0])
        time.sleep(1.5)
        self.assertEqual(len(self.reports()), 1)

    def delay_warnings(self, rcpt):
        """The warnings in alice's maildir that name rcpt as delayed."""
        return [m for m in self.reports("warning")
                if "Final-Recipient: rfc822; %s\nAction: delayed\n" % rcpt in m]

    def test_delay_warning_once_per_interval_and_as_notify_asks(self):
        # failed attempts at the ages 0, 1, 4, 9, 16 s: the one at 4 s passed
        # 2s, the one at 9 s passed 8s, none after brings a third warning
        self.start(extra="bounce warn-interval 8s, 2s", env=RETRY_ENV)
        self.send({"plain@example.net": [], "delay@example.net": ["NOTIFY=DELAY"],
                   "never@example.net": ["NOTIFY=NEVER"],
                   "fail@example.net": ["NOTIFY=FAILURE"],
                   "success@example.net": ["NOTIFY=SUCCESS"]}, subject="slow")
        first = wait_for(lambda: self.delay_warnings("plain@example.net"), timeout=30,
                         what="the first delay warning")[0]
        for want in ("\nSubject: Delivery status notification: warning\n",
                     "Your message has not been delivered yet to the following list\n"
                     "of recipients; delivery is being retried:\n\n",
                     "This is only a warning: the message stays in the queue and delivery\n"
                     "will be retried until ",
                     "Content-Type: text/rfc822-headers\n",
                     "\nSubject: slow\n"):
            self.assertIn(want, first)
        self.assertRegex(first, r"\nFinal-Recipient: rfc822; plain@example.net\n"
                                r"Action: delayed\nStatus: 4\.\d\.\d\n"
                                r"Diagnostic-Code: X-Ringmta; Error \([^\n]+\)\n"
                                r"Last-Attempt-Date: [^\n]+\nWill-Retry-Until: \w{3}, ")
        # the count sent is kept in the envelope: a restart sends no second
        # warning for the first interval
        self.d.stop()
        self.d.start(wait_port=self.port, env=RETRY_ENV)
        wait_for(lambda: len(self.delay_warnings("plain@example.net")) >= 2, timeout=40,
                 what="the second delay warning")
        wait_for(lambda: len(re.findall(r"to=<plain@example.net> .*result=TempFail",
                                        self.d.log())) >= 5,
                 timeout=40, what="the attempt at 16 s")
        time.sleep(1.5)
        self.assertEqual(len(self.delay_warnings("plain@example.net")), 2)
        self.assertEqual(len(self.delay_warnings("delay@example.net")), 2)
        for quiet in ("never@example.net", "fail@example.net", "success@example.net"):
            self.assertEqual(self.delay_warnings(quiet), [], quiet)
        self.assertEqual(self.reports("error") + self.reports("success"), [])
        # still queued and still tried: the next hop comes up, all arrive
        sink = self.sink(self.next_port)
        wait_for(lambda: len(re.findall(r"to=<\w+@example.net> .*result=Ok",
                                        self.d.log())) >= 5,
                 timeout=40, what="the five recipients delivered")
        self.assertEqual(len(sink.messages()), 1)

    def test_ret_full_returns_the_whole_message_within_the_bound(self):
        self.start(sink_extra=["-f", "rcpt"])
        self.send({"a@example.net": []}, mail_options=["RET=FULL"], subject="full",
                  body="line one of the full body\r\nlast line\r\n")
        self.send({"b@example.net": []}, mail_options=["RET=HDRS"], subject="hdrs",
                  body="the headers-only body\r\n")
        big = ("x" * 76 + "\r\n") * 14000   # 1.1 MB, over the 1 MiB bound
        self.send({"c@example.net": []}, mail_options=["RET=FULL"], subject="big",
                  body="the big body\r\n" + big)
        wait_for(lambda: len(self.reports("error")) >= 3, timeout=40, what="three bounces")
        by_subject = {}
        for m in self.reports("error"):
            by_subject[re.search(r"\nSubject: (full|hdrs|big)\n", m).group(1)] = m
        full = by_subject["full"]
        self.assertIn("Below is a copy of the original message.\n", full)
        self.assertRegex(full, r"Content-Description: Undelivered Message\n"
                               r"Content-Type: message/rfc822\n\nReceived: from ")
        self.assertIn("\nSubject: full\nMessage-ID: <full@client.example>\n\n"
                      "line one of the full body\nlast line\n", full)
        hdrs = by_subject["hdrs"]
        self.assertIn("Content-Type: text/rfc822-headers\n", hdrs)
        self.assertNotIn("message/rfc822", hdrs)
        self.assertNotIn("the headers-only body", hdrs)
        bigrep = by_subject["big"]
        self.assertIn("The original message is larger than 1048576 bytes: below is a copy "
                      "of its headers only.\n", bigrep)
        self.assertIn("Content-Type: text/rfc822-headers\n", bigrep)
        self.assertNotIn("the big body", bigrep)
        self.assertLess(len(bigrep), 20000)
