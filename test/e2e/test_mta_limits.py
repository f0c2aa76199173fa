"""test/e2e/test_mta_limits.py - the `mta limit` keys as the peer sees them
(test/e2e/smtp_peer.py counts connections and messages per connection):
slow start (5 connections at first, more as they succeed, never above the
default 20 per host, 5 again once idle), connections at once never above
max-conn-per-host though every shard's messages go to that host,
session-mail-max messages per connection at most, connections reused,
max-rate spacing messages, and a peer that never greets given up after
session-setup-timeout."""
import json
import os
import re
import smtplib
import threading
import time

from harness import E2ETest, free_port, wait_for
from smtp_peer import SmtpPeer

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
{limits}
action "out" relay host smtp://127.0.0.1:{peer}
match from local for domain "example.net" action "out"
"""


class MtaLimits(E2ETest):

    def setUp(self):
        super().setUp()
        self.port, self.peer_port = free_port(), free_port()

    def start(self, limits):
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, peer=self.peer_port,
                                        limits=limits),
                            wait_port=self.port, env=dict(os.environ, RINGMTA_RETRY_BASE_S="1"))

    def peer(self, **kw):
        p = SmtpPeer(self.peer_port, **kw)
        self.cleanups.append(p.stop)
        return p

    def send(self, n, sessions=1):
        """n messages (each its own message id) over parallel sessions."""
        def one(k):
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                for i in range(k):
                    s.sendmail("from@example.org", ["a@example.net"],
                               "Subject: limit %d\r\n\r\nbody\r\n" % i)
        threads = [threading.Thread(target=one, args=(n // sessions,)) for _ in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def relayed(self, n, sessions, timeout):
        """Send n messages over parallel sessions; wait until all went out."""
        self.send(n, sessions)
        wait_for(lambda: self.d.log().count("result=Ok") >= n, timeout=timeout,
                 what="%d deliveries" % n)

    def test_slow_start_from_five_up_to_twenty(self):
        def window():
            return json.loads(self.smtpctl("--json", "show", "relays").stdout)[0]["window"]
        peer = self.peer(data_delay=0.05)
        self.start("mta limit session-keepalive 3")
        self.relayed(300, sessions=6, timeout=90)
        self.assertGreater(window(), 5, "show relays: the window grew")
        self.assertEqual(peer.messages, 300)
        self.assertLessEqual(max(peer.open_at_message[:5]), 5,
                             "at most 5 connections until 5 transactions succeeded")
        self.assertGreater(peer.max_open, 5, "a backlog opens more connections")
        self.assertLessEqual(peer.max_open, 20, "20 per host by default")
        # idle past session-keepalive: every connection closes and the next
        # burst starts from 5 again
        wait_for(lambda: peer.open == 0, timeout=30, what="the connections closed")
        wait_for(lambda: window() == 5, timeout=10, what="the window back at 5")

    def test_connections_per_host_and_mails_per_session(self):
        peer = self.peer(data_delay=0.1)
        self.start("mta limit max-conn-per-host 2 session-mail-max 4")
        self.relayed(40, sessions=4, timeout=60)
        wait_for(lambda: peer.open == 0, timeout=30, what="the connections closed")
        self.assertEqual(peer.messages, 40)
        self.assertLessEqual(peer.max_open, 2, "connections at once")
        self.assertLessEqual(max(peer.per_conn), 4, peer.per_conn)
        # reused: fewer connections than messages
        self.assertGreater(max(peer.per_conn), 1, peer.per_conn)
        self.assertLess(peer.connections, 40)

    def test_rate(self):
        # a smart host is its own destination: `for domain` would name it
        peer = self.peer()
        self.start("mta limit max-rate 5/s")
        self.send(11, sessions=1)
        wait_for(lambda: peer.messages >= 11, timeout=30, what="11 messages at the peer")
        t = sorted(peer.mail_times)
        # one every 200 ms: 10 gaps take at least two seconds
        self.assertGreaterEqual(t[-1] - t[0], 1.9, t)
        gaps = [b - a for a, b in zip(t, t[1:])]
        self.assertGreaterEqual(min(gaps), 0.15, gaps)

    def test_stalled_greeting_times_out(self):
        self.peer(greeting=None)
        self.start("mta limit session-setup-timeout 2")
        started = time.monotonic()
        self.send(1)
        log = wait_for(lambda: "result=TempFail" in self.d.log() and self.d.log(),
                       timeout=20, what="a temporary failure after the stall")
        self.assertIn("timeout before the first transaction", log)
        self.assertLess(time.monotonic() - started, 10)

    def test_421_greeting_backs_the_route_off(self):
        self.peer(greeting="421 4.3.2 too busy, try later")
        self.start("")
        self.send(1)
        log = wait_for(lambda: "mta route backoff" in self.d.log() and self.d.log(),
                       timeout=20, what="the route in backoff")
        self.assertRegex(log, r"mta route backoff relay=127\.0\.0\.1 \[127\.0\.0\.1\]:%d "
                              r"failures=1 delay=10s: 421 4\.3\.2 too busy" % self.peer_port)


class RouteBackoff(E2ETest):
    """A smart host that refuses connections: its route is skipped with the
    reason, what waits is deferred without a new attempt, and smtpctl shows
    the route, its host and its relay."""

    def test_failing_route_is_skipped_and_shown(self):
        port, down = free_port(), free_port()
        self.d = self.smtpd(CONF.format(port=port, tmp=self.tmp, peer=down, limits=""),
                            wait_port=port)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("from@example.org", ["a@example.net"], "Subject: 1\r\n\r\nbody\r\n")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=20, what="a deferral")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("from@example.org", ["b@example.net"], "Subject: 2\r\n\r\nbody\r\n")
        # the first one's own deferral already names the backoff: wait for b's
        log = wait_for(lambda: re.search(r"to=<b@example\.net> .*result=TempFail .*every route "
                                         r"in backoff", self.d.log()) and self.d.log(),
                       timeout=20, what="the second deferred by the backoff")
        self.assertEqual(log.count("mta error reason=connect"), 1, log)
        self.assertRegex(log, r"to=<b@example.net> .*result=TempFail stat=Error \(127\.0\.0\.1: "
                              r"every route in backoff for \d+s more, last error: 127\.0\.0\.1 "
                              r"\[127\.0\.0\.1\]:%d: Connection refused\)" % down)
        out = self.smtpctl("show", "routes").stdout
        self.assertRegex(out, r"^[0-9a-f]{16}\.1\. 127\.0\.0\.1 \[127\.0\.0\.1\]:%d -D- "
                              r"destination=127\.0\.0\.1 nconn=0 connections=1 queued=0 "
                              r"penalty=1 timeout=\d+s error=\"127\.0\.0\.1 \[127\.0\.0\.1\]:%d: "
                              r"Connection refused\"\n$" % (down, down))
        routes = json.loads(self.smtpctl("--json", "show", "routes").stdout)
        self.assertEqual(len(routes), 1)
        self.assertEqual(routes[0]["penalty"], 1)
        self.assertIn("Connection refused", routes[0]["error"])
        self.assertIn("127.0.0.1 [127.0.0.1]:%d destination=127.0.0.1 nconn=0" % down,
                      self.smtpctl("show", "hosts").stdout)
        relays = self.smtpctl("show", "relays").stdout
        # one refused connection took one from the first window of 5
        self.assertRegex(relays, r"^[0-9a-f]{16}\. 127\.0\.0\.1 nconn=0 window=4 queued=0 sent=0 "
                                 r"routes=1 backoff=1 lastconn=\d+s error=")


class RouteResume(E2ETest):
    """smtpctl resume route: a smart host that refused a connection is in
    backoff for 10 s; once it is back, resuming its route lets the
    message's next retry (seconds away with RINGMTA_RETRY_BASE_S=1) go at
    once instead of being deferred until the backoff ends."""

    def test_resume_route_clears_the_backoff(self):
        port, peer_port = free_port(), free_port()
        self.d = self.smtpd(CONF.format(port=port, tmp=self.tmp, peer=peer_port, limits=""),
                            wait_port=port, env=dict(os.environ, RINGMTA_RETRY_BASE_S="1"))
        sent = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("from@example.org", ["a@example.net"], "Subject: 1\r\n\r\nbody\r\n")
        wait_for(lambda: "mta route backoff" in self.d.log(), timeout=20, what="the backoff")
        peer = SmtpPeer(peer_port)
        self.cleanups.append(peer.stop)
        route = json.loads(self.smtpctl("--json", "show", "routes").stdout)[0]
        self.assertEqual(route["penalty"], 1)
        out = self.smtpctl("resume", "route", route["id"]).stdout
        self.assertEqual(out, "command succeeded\n")
        wait_for(lambda: peer.messages >= 1, timeout=20, what="the message at the peer")
        # the backoff alone would have held it 10 s, and the retry after
        # that comes 16 s after the message: it went well before
        self.assertLess(time.monotonic() - sent, 9.0)
        self.assertIn("mta route resumed", self.d.log())
        routes = json.loads(self.smtpctl("--json", "show", "routes").stdout)
        self.assertEqual(routes[0]["penalty"], 0)
        r = self.smtpctl("resume", "route", "0123456789abcdef.1", want_rc=1)
        self.assertIn("no such route", r.stderr)
        r = self.smtpctl("resume", "route", "nonsense", want_rc=1)
        self.assertIn("invalid route id", r.stderr)
