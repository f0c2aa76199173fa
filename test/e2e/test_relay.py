"""test/e2e/test_relay.py - relaying to a smart host: Postfix's smtp-sink as
the peer, connection reuse, and retry when the peer is down (with the
testing knob RINGMTA_RETRY_BASE_S=1: retries after 1, 4, 9 ... seconds
instead of OpenSMTPD's 400 s base). smtp-sink's failure injection (-f, -r
with -b, -q) gives 5xx, 4xx, a 421 and a dropped connection in the middle
of a transaction: every recipient not yet answered is retried and, once
the sink is healthy, delivered exactly once."""
import os
import re
import smtplib
import time

from harness import E2ETest, free_port, wait_for

RELAY_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table mine {{ "example.net", "example.com" }}
action "out" relay host smtp://127.0.0.1:{sink}
match from local for domain <mine> action "out"
"""


class SmartHostRelay(E2ETest):

    def start(self):
        self.port, self.sink_port = free_port(), free_port()
        self.d = self.smtpd(RELAY_CONF.format(port=self.port, tmp=self.tmp, sink=self.sink_port),
                            wait_port=self.port,
                            env=dict(os.environ, RINGMTA_RETRY_BASE_S="1"))

    def send(self, n, rcpts=("a@example.net",)):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(n):
                self.assertEqual(s.sendmail("from@example.org", list(rcpts),
                                            "Subject: relay %d\r\n\r\nrelayed body %d\r\n.dot\r\n" % (i, i)), {})

    def test_relay_into_smtp_sink(self):
        self.start()
        sink = self.sink(self.sink_port)
        self.send(10, rcpts=("a@example.net", "b@example.com"))
        # the sink writes its file while the transaction runs: wait for our
        # side to log all 20 deliveries before reading them
        log = wait_for(lambda: self.d.log().count("result=Ok") >= 20 and self.d.log(),
                       timeout=30, what="20 Ok deliveries")
        msgs = sink.messages()
        self.assertEqual(len(msgs), 10)     # one transaction carries both recipients
        for m in msgs:
            self.assertIn(b"Received: from ", m)
            self.assertIn(b"X-Rcpt-Args: <a@example.net>\nX-Rcpt-Args: <b@example.com>", m)
            self.assertIn(b"\n.dot\n", m)    # stuffed on the wire, unstuffed by the sink
        self.assertRegex(log, r"mta delivery evpid=[0-9a-f]{16} from=<from@example.org> "
                              r"to=<a@example.net> .*relay=127\.0\.0\.1 \[127\.0\.0\.1\]:%d "
                              r".*result=Ok stat=250" % self.sink_port)
        # one connection carried many messages
        self.assertLess(log.count("mta connected"), 10, log)

    def test_peer_down_then_up_is_retried(self):
        self.start()
        self.send(3)
        wait_for(lambda: self.d.log().count("result=TempFail") >= 3, timeout=20,
                 what="temporary failures while the peer is down")
        sink = self.sink(self.sink_port)
        wait_for(lambda: self.d.log().count("result=Ok") >= 3, timeout=60,
                 what="3 retried messages delivered")
        self.assertEqual(len(sink.messages()), 3)

    def test_peer_5xx_is_permanent_4xx_is_retried(self):
        self.start()
        self.sink(self.sink_port, extra=["-f", "rcpt"])
        self.send(1)
        log = wait_for(lambda: "result=PermFail" in self.d.log() and self.d.log(), timeout=20,
                       what="a permanent failure")
        self.assertRegex(log, r"to=<a@example.net> .*result=PermFail stat=5\d\d")
        self.assertNotIn("result=Ok", log)

    def faulty_then_healthy(self, faults, want):
        """Two recipients of one message meet a sink with faults: both are
        deferred with a stat matching want; a healthy sink on the same port
        then gets the message once, with both recipients."""
        self.start()
        faulty = self.sink(self.sink_port, extra=faults)
        self.send(1, rcpts=("a@example.net", "b@example.com"))
        log = wait_for(lambda: self.d.log().count("result=TempFail") >= 2 and self.d.log(),
                       timeout=20, what="both recipients deferred")
        for rcpt in ("a@example.net", "b@example.com"):
            self.assertRegex(log, r"to=<%s> .*result=TempFail stat=%s" % (rcpt, want))
        self.assertNotIn("result=Ok", log)
        self.assertNotIn("result=PermFail", log)
        self.assertEqual(faulty.messages(), [])
        faulty.stop()
        healthy = self.sink(self.sink_port)
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=60,
                 what="both recipients delivered on retry")
        time.sleep(1)   # a second delivery would show by now
        msgs = healthy.messages()
        self.assertEqual(len(msgs), 1, "delivered exactly once")
        self.assertEqual(sorted(re.findall(rb"X-Rcpt-Args: <([^>]*)>", msgs[0])),
                         [b"a@example.net", b"b@example.com"], "one transaction, both")
        self.assertEqual(self.d.log().count("result=Ok"), 2)

    def test_soft_rcpt_failure_is_retried(self):
        self.faulty_then_healthy(["-r", "rcpt"], r"4\d\d ")

    def test_421_at_data_retries_every_recipient(self):
        self.faulty_then_healthy(["-r", "data", "-b", "421 4.3.0 Going away"], r"421 4\.3\.0")

    def test_dropped_connection_mid_transaction_retries_every_recipient(self):
        self.faulty_then_healthy(["-q", "data"], r"\S")
