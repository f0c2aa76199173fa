"""test/e2e/test_relay.py - relaying to a smart host: Postfix's smtp-sink as
the peer, connection reuse, and retry when the peer is down (with the
testing knob RINGMTA_RETRY_BASE_S=1: retries after 1, 4, 9 ... seconds
instead of OpenSMTPD's 400 s base)."""
import os
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
