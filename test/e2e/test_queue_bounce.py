"""test/e2e/test_queue_bounce.py - bounces: a relay peer (Postfix's
smtp-sink -f rcpt) refuses every recipient with 5xx; the sender gets one
RFC 3464 report in its local maildir for all the recipients of the message,
the failed envelopes leave the queue, and nothing is ever bounced to <>:
a failed report (a message from <>) is reported to postmaster once, and
when that fails too it is logged and dropped: no loops."""
import os
import pwd
import re
import smtplib
import socket
import time

from harness import E2ETest, free_port, maildir_messages, wait_for

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table far {{ "example.net" }}
action "out" relay host smtp://127.0.0.1:{sink}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from local for domain <far> action "out"
match from local for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)


class Bounces(E2ETest):

    def start(self):
        self.port, self.sink_port = free_port(), free_port()
        self.sink(self.sink_port, extra=["-f", "rcpt"])
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, sink=self.sink_port),
                            wait_port=self.port)

    def box(self, user):
        return os.path.join(self.tmp, "mail", user)

    def send(self, sender, rcpts, subject):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            msg = ("From: %s\r\nSubject: %s\r\nMessage-ID: <%s@client.example>\r\n\r\n"
                   "the body is not part of the report\r\n" % (sender or "nobody", subject,
                                                                 subject.replace(" ", ".")))
            self.assertEqual(s.sendmail(sender, rcpts, msg), {})

    def test_permanent_failure_bounces_to_local_sender(self):
        self.start()
        self.send("alice@localhost", ["a@example.net", "b@example.net"], "doomed message")
        msgs = wait_for(lambda: maildir_messages(self.box("alice")), timeout=30,
                        what="the bounce in alice's maildir")
        time.sleep(0.5)
        msgs = maildir_messages(self.box("alice"))
        self.assertEqual(len(msgs), 1, "one bounce for both recipients")
        m = msgs[0].decode()
        self.assertTrue(m.startswith("Return-Path: <>\nDelivered-To: alice@localhost\n"), m[:200])
        for want in ("From: Mail Delivery System <MAILER-DAEMON@",
                     "To: <alice@localhost>",
                     "Auto-Submitted: auto-replied",
                     "Content-Type: multipart/report; report-type=delivery-status;",
                     "Content-Type: message/delivery-status",
                     "Content-Type: text/rfc822-headers",
                     "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.",
                     "Final-Recipient: rfc822; b@example.net\nAction: failed\nStatus: 5.",
                     "Subject: doomed message",
                     "Message-ID: <doomed.message@client.example>"):
            self.assertIn(want, m)
        self.assertRegex(m, r"Reporting-MTA: dns; \S+\nArrival-Date: \w{3}, \d+ \w{3} \d{4} ")
        self.assertRegex(m, r"Diagnostic-Code: smtp; 5\d\d ")
        self.assertNotIn("the body is not part of the report", m)
        # the report's boundary closes the message
        boundary = re.search(r'boundary="([^"]+)"', m).group(1)
        self.assertTrue(m.rstrip("\n").endswith("--%s--" % boundary), m[-200:])
        log = self.d.log()
        self.assertRegex(log, r"bounce msgid=[0-9a-f]{8} evpid=[0-9a-f]{16} from=<> "
                              r"to=<alice@localhost> for 2 recipients")
        self.assertRegex(log, r"mda delivery evpid=[0-9a-f]{16} from=<> to=<alice@localhost> "
                              r".*result=Ok")
        # the failed envelopes are gone: a restart delivers nothing again
        self.d.stop()
        self.d.start(wait_port=self.port)
        time.sleep(2.5)
        self.assertEqual(self.d.log().count("result=PermFail"), 2, self.d.log())
        self.assertEqual(len(maildir_messages(self.box("alice"))), 1)

    def test_failed_reports_go_to_postmaster_once(self):
        self.start()
        # from <>: nothing goes back to <>; postmaster hears of the failure
        self.send("", ["a@example.net"], "from null")
        postmaster = wait_for(lambda: maildir_messages(self.box("postmaster")), timeout=30,
                              what="the report to postmaster")
        m = postmaster[0].decode()
        self.assertIn("To: <postmaster@%s>" % socket.gethostname(), m)
        self.assertIn("Final-Recipient: rfc822; a@example.net\nAction: failed\n", m)
        # from a remote sender: its bounce relays to the same refusing peer and
        # fails; that failure goes to postmaster as well, and nothing further
        self.send("ghost@example.net", ["b@example.net"], "ghost")
        wait_for(lambda: len(maildir_messages(self.box("postmaster"))) >= 2, timeout=30,
                 what="postmaster's report on the failed bounce")
        time.sleep(2.5)
        log = self.d.log()
        self.assertRegex(log, r"mta delivery evpid=[0-9a-f]{16} from=<> "
                              r"to=<ghost@example.net> .*result=PermFail")
        self.assertEqual(log.count("result=PermFail"), 3, log)
        self.assertEqual(len(re.findall(r"bounce msgid=", log)), 3, log)
        self.assertEqual(len(maildir_messages(self.box("postmaster"))), 2)
        self.assertIn(b"Final-Recipient: rfc822; ghost@example.net\nAction: failed\n",
                      maildir_messages(self.box("postmaster"))[1])
        self.assertEqual(maildir_messages(self.box("alice")), [])

    def test_postmasters_copy_that_fails_is_dropped(self):
        # postmaster's mail is relayed to the refusing peer too
        self.port, self.sink_port = free_port(), free_port()
        self.sink(self.sink_port, extra=["-f", "rcpt"])
        conf = CONF.replace('table far {{ "example.net" }}',
                            'table far {{ "example.net", "%s" }}' % socket.gethostname())
        self.d = self.smtpd(conf.format(port=self.port, tmp=self.tmp, sink=self.sink_port),
                            wait_port=self.port)
        self.send("", ["a@example.net"], "from null")
        wait_for(lambda: "postmaster's report on a failed report, dropped" in self.d.log(),
                 timeout=30, what="postmaster's failed copy dropped")
        time.sleep(2.5)
        log = self.d.log()
        self.assertRegex(log, r"mta delivery evpid=[0-9a-f]{16} from=<> "
                              r"to=<postmaster@%s> .*result=PermFail" %
                         re.escape(socket.gethostname()))
        self.assertEqual(log.count("result=PermFail"), 2, log)
        self.assertEqual(len(re.findall(r"bounce msgid=", log)), 1, log)
