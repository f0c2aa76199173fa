"""test/e2e/test_metrics.py - what an operator watches: the OpenMetrics
endpoint (`metrics listen on`) scraped over HTTP and parsed with the
Prometheus client's strict OpenMetrics parser after real traffic (local
deliveries, a refused recipient, relay deferrals, a sendmail submission, a
failed TLS handshake), the same numbers in `smtpctl show stats`, the HTTP
answers to other paths and methods, a slow client that does not block a
scrape, and a config without it listening nowhere."""
import os
import pwd
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from harness import BUILD, E2ETest, free_port, maildir_messages, port_open, wait_for

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    # configure.py --test installs Debian's python3-prometheus-client (pure
    # Python), for the system's python3; another python3 may use it too
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None

CONF = """
metrics listen on 127.0.0.1 port {mport}
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table out {{ "example.net" }}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
action "out" relay host smtp://127.0.0.1:{sink}
match from any for domain "local.test" action "local"
match from local for domain <out> action "out"
"""


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels.items())): value} from OpenMetrics text."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class MetricsEndpoint(E2ETest):

    def setUp(self):
        super().setUp()
        if text_string_to_metric_families is None:
            self.skipTest("python3-prometheus-client is not installed")
        self.port, self.mport, self.sink = free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.pop("RINGMTA_RETRY_BASE_S", None)
        self.d = self.smtpd(CONF.format(port=self.port, mport=self.mport, sink=self.sink,
                                        tmp=self.tmp, user=pwd.getpwuid(os.geteuid()).pw_name),
                            wait_port=self.port, env=env)

    def test_scraped_and_parsed_after_traffic(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(3):
                s.sendmail("a@example.org", ["u%d@local.test" % i], "Subject: m\r\n\r\nhello\r\n")
            s.ehlo()
            s.mail("a@example.org")
            self.assertEqual(s.rcpt("x@elsewhere.example")[0], 550)
            s.rset()
            s.sendmail("a@example.org", ["far@example.net"], "Subject: r\r\n\r\nrelay\r\n")
        r = subprocess.run([os.path.join(BUILD, "sendmail"), "-C", self.d.conf, "-f",
                            "b@example.org", "u9@local.test"],
                           input=b"Subject: local\n\nsubmitted\n", capture_output=True,
                           env=dict(os.environ, SMTPD_CONF=self.d.conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.recv(512)
            c.sendall(b"QUIT\r\n")
            c.recv(512)
        wait_for(lambda: len([l for l in self.d.log().splitlines() if "result=Ok" in l]) >= 4
                 and "result=TempFail" in self.d.log(), timeout=30, what="deliveries and a deferral")
        # the sessions closed above are freed at the end of their shard's turn
        wait_for(lambda: "\nringmta_smtp_sessions_open 0\n" in scrape(self.mport)[2],
                 timeout=10, what="no session open")
        status, ctype, text = scrape(self.mport)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("application/openmetrics-text"), ctype)
        self.assertTrue(text.endswith("# EOF\n"))
        m = samples(text)          # raises on anything OpenMetrics does not allow
        get = lambda name, **labels: m[(name, frozenset(labels.items()))]
        self.assertEqual(get("ringmta_smtp_sessions_total", family="inet4"), 2)
        self.assertEqual(get("ringmta_smtp_sessions_total", family="local"), 1)
        self.assertEqual(get("ringmta_messages_accepted_total"), 5)
        self.assertEqual(get("ringmta_recipients_total", result="refused"), 1)
        self.assertEqual(get("ringmta_recipients_total", result="accepted"), 4)
        self.assertEqual(get("ringmta_deliveries_total", agent="mda", result="ok"), 4)
        self.assertGreaterEqual(get("ringmta_deliveries_total", agent="mta", result="tempfail"), 1)
        self.assertGreaterEqual(get("ringmta_deferrals_total", reason="connection"), 1)
        self.assertEqual(get("ringmta_accept_to_250_seconds_count"), 4)   # SMTP ones
        self.assertEqual(get("ringmta_accept_to_250_seconds_bucket", le="+Inf"), 4)
        self.assertGreater(get("ringmta_accept_to_250_seconds_sum"), 0)
        self.assertEqual(get("ringmta_queue_to_delivery_seconds_count"), 4)
        self.assertEqual(get("ringmta_queue_envelopes", state="waiting") +
                         get("ringmta_queue_envelopes", state="inflight"), 1)
        self.assertGreaterEqual(get("ringmta_queue_fsyncs_total"), 1)
        self.assertEqual(get("ringmta_smtp_sessions_open"), 0)
        self.assertAlmostEqual(get("ringmta_start_time_seconds"), time.time(), delta=120)
        stats = dict(l.split("=", 1) for l in self.smtpctl("show", "stats").stdout.splitlines())
        self.assertEqual(stats["scheduler.delivery.ok"], "4")
        self.assertEqual(stats["smtp.session.inet4"], "2")
        self.assertEqual(stats["smtp.session.local"], "1")
        self.assertEqual(stats["ringmta.smtp.rcpt.refused"], "1")
        self.assertEqual(stats["ringmta.smtp.message.accepted"], "5")
        self.assertGreaterEqual(int(stats["ringmta.deferred.connection"]), 1)

    def test_other_paths_methods_and_bad_requests(self):
        for path, code in (("/", 404), ("/metrics/x", 404)):
            with self.assertRaises(urllib.error.HTTPError) as e:
                scrape(self.mport, path)
            self.assertEqual(e.exception.code, code)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.mport, data=b"x",
                                     method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 405)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.mport, method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual((r.status, r.read()), (200, b""))
            self.assertGreater(int(r.headers["Content-Length"]), 1000)
        with socket.create_connection(("127.0.0.1", self.mport), timeout=10) as c:
            c.sendall(b"GARBAGE\r\n\r\n")
            self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 400 "))
        with socket.create_connection(("127.0.0.1", self.mport), timeout=10) as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 5000)
            self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 400 "), "an endless header")

    def test_silent_clients_do_not_block_a_scrape_and_are_dropped(self):
        idle = [socket.create_connection(("127.0.0.1", self.mport), timeout=10) for _ in range(5)]
        idle[0].sendall(b"GET /metr")
        status, _, text = scrape(self.mport)
        self.assertEqual(status, 200)
        self.assertIn("ringmta_shards ", text)
        idle[0].settimeout(10)
        t0 = time.monotonic()
        self.assertEqual(idle[0].recv(10), b"")     # closed at its deadline
        self.assertLess(time.monotonic() - t0, 9)
        for c in idle:
            c.close()
        self.assertTrue(port_open(self.port))        # SMTP went on all along


class MetricsOff(E2ETest):

    def test_no_metrics_statement_listens_nowhere(self):
        port, mport = free_port(), free_port()
        d = self.smtpd("listen on 127.0.0.1 port %d\nqueue path \"%s/spool\"\n"
                       "action a maildir \"%s/mail\"\nmatch from local for local action a\n"
                       % (port, self.tmp, self.tmp), wait_port=port)
        self.assertFalse(port_open(mport))
        self.assertNotIn("metrics:", d.log())
