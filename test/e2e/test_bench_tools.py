"""test/e2e/test_bench_tools.py - the benchmark tools end to end: mtaload
with STARTTLS, implicit TLS, AUTH PLAIN and PROXY v1/v2 headers against
build/mtasink (which offers STARTTLS or implicit TLS with a certificate made
by the openssl command line, takes AUTH, reads PROXY headers and counts the
distinct sources they claim), and mtaload with STARTTLS against build/smtpd.
Each test checks that every message sent was accepted and counted by the
receiver, and that mtaload's JSON report has the tls/auth latency lines.

Loopback only; every process runs with a timeout and is stopped in tearDown.
"""
import json
import os
import pwd
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BUILD, E2ETest, free_port, maildir_messages, wait_for  # noqa: E402
from test_tls import make_certs  # noqa: E402

MTALOAD = os.path.join(BUILD, "mtaload")
MTASINK = os.path.join(BUILD, "mtasink")
RUN_TIMEOUT = 120


class MtaSink:
    """build/mtasink on host:port (default 127.0.0.1 and a free port); its
    final JSON summary is read when it stops."""

    def __init__(self, workdir, args=(), host="127.0.0.1", port=0):
        self.outpath = os.path.join(workdir, "mtasink.%d.out" % id(self))
        self.out = open(self.outpath, "wb")
        self.proc = subprocess.Popen([MTASINK] + list(args) + ["%s:%d" % (host, port)],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        line = wait_for(self._listening, timeout=10, what="mtasink listening")
        self.port = int(line.rsplit(":", 1)[1])
        self.summary = None

    def _text(self):
        with open(self.outpath, "r", errors="replace") as f:
            return f.read()

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("mtasink exited %s:\n%s" % (self.proc.returncode, self._text()))
        for line in self._text().splitlines():
            if line.startswith("mtasink: listening on "):
                return line
        return None

    def stop(self):
        """SIGTERM, wait, and return the JSON summary (the last line)."""
        if self.summary is not None:
            return self.summary
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        lines = [l for l in self._text().splitlines() if l.startswith("{")]
        if not lines:
            raise AssertionError("no mtasink summary:\n%s" % self._text())
        self.summary = json.loads(lines[-1])
        return self.summary


class BenchToolsTest(E2ETest):

    def setUp(self):
        super().setUp()
        for prog in (MTALOAD, MTASINK):
            # `ninja test` builds them: missing is a failure, not a skip
            self.assertTrue(os.access(prog, os.X_OK), "%s not built" % prog)
        make_certs(self.tmp)
        self.cert = os.path.join(self.tmp, "mail.crt")
        self.key = os.path.join(self.tmp, "mail.key")
        self.ca = os.path.join(self.tmp, "ca.crt")

    def mtasink(self, *args):
        s = MtaSink(self.tmp, args)
        self.cleanups.append(s.stop)
        return s

    def mtaload(self, port, *args, status=0):
        """Run mtaload --json against 127.0.0.1:port; returns the report."""
        r = subprocess.run([MTALOAD, "--json", "-q", "--timeout", "20s"] + list(args) +
                           ["127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, status, "mtaload exit %d\nstdout: %s\nstderr: %s" % (
            r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
        return json.loads(r.stdout)

    def assert_all_accepted(self, report, n, sink=None):
        self.assertEqual(report["messages"], {"started": n, "accepted": n, "rejected": 0,
                                              "failed": 0}, report)
        self.assertEqual(report["errors_total"], 0, report["errors"])
        self.assertEqual(report["latency_ms"]["message"]["count"], n)
        if sink is not None:
            self.assertEqual(sink["messages"], n, sink)
            self.assertEqual(sink["commands"]["dot"], n, sink)

    def assert_latency_line(self, report, stage, count):
        line = report["latency_ms"].get(stage)
        self.assertIsNotNone(line, "no %s line in %s" % (stage, sorted(report["latency_ms"])))
        self.assertEqual(line["count"], count, line)
        for q in ("p50", "p90", "p99", "p99_9", "max", "mean"):
            self.assertGreater(line[q], 0.0, "%s %s" % (stage, q))
        self.assertLessEqual(line["p50"], line["max"])


class TlsToMtaSink(BenchToolsTest):

    def test_starttls(self):
        sink = self.mtasink("--tls-cert", self.cert, "--tls-key", self.key)
        report = self.mtaload(sink.port, "-s", "4", "-m", "40", "--starttls")
        summary = sink.stop()
        self.assert_all_accepted(report, 40, summary)
        self.assertEqual(report["config"]["tls"], "starttls")
        self.assert_latency_line(report, "tls", 40)          # one handshake per connection
        self.assert_latency_line(report, "starttls", 40)
        self.assertEqual(report["latency_ms"]["ehlo"]["count"], 80)   # before and after TLS
        self.assertRegex(report["tls"], r"^TLSv1\.[23] ")
        self.assertEqual(summary["tls"], {"mode": "starttls", "handshakes": 40, "errors": 0})
        self.assertEqual(summary["commands"]["starttls"], 40)

    def test_implicit_tls_verified_with_reused_connections(self):
        sink = self.mtasink("--tls-cert", self.cert, "--tls-key", self.key, "--tls-implicit")
        report = self.mtaload(sink.port, "-s", "4", "-m", "40", "-c", "5", "-l", "1k-64k",
                              "--tls", "--tls-verify", self.ca)
        summary = sink.stop()
        self.assert_all_accepted(report, 40, summary)
        self.assertEqual(report["config"]["tls"], "implicit")
        self.assertTrue(report["config"]["tls_verify"])
        conns = report["connections"]["opened"]       # 8, or one more started near the end
        self.assertIn(conns, (8, 9, 10, 11))
        self.assert_latency_line(report, "tls", conns)
        self.assertNotIn("starttls", report["latency_ms"])
        self.assertEqual(summary["tls"]["handshakes"], conns)
        self.assertEqual(summary["bytes"], report["bytes_accepted"])

    def test_verification_against_the_wrong_ca_fails_the_handshake(self):
        sink = self.mtasink("--tls-cert", self.cert, "--tls-key", self.key, "--tls-implicit")
        other = os.path.join(self.tmp, "other.crt")     # not the CA that signed mail.crt
        report = self.mtaload(sink.port, "-s", "1", "-m", "3", "--tls", "--tls-verify", other,
                              "--max-errors", "2", status=1)
        sink.stop()
        self.assertEqual(report["messages"]["accepted"], 0)
        self.assertGreaterEqual(report["errors"]["tls"]["tls"], 1, report["errors"])
        self.assertIsNotNone(report["tls_error"])

    def test_tls_to_a_plain_sink_is_a_tls_error(self):
        sink = self.mtasink()
        report = self.mtaload(sink.port, "-s", "1", "-m", "2", "--tls", "--max-errors", "2",
                              status=1)
        sink.stop()
        self.assertGreaterEqual(report["errors"]["tls"]["tls"], 1, report["errors"])

    def test_starttls_not_offered_stops_the_run(self):
        sink = self.mtasink()
        report = self.mtaload(sink.port, "-s", "2", "-m", "10", "--starttls", status=2)
        sink.stop()
        self.assertIn("STARTTLS", report["fatal"])
        self.assertEqual(report["messages"]["accepted"], 0)


class AuthToMtaSink(BenchToolsTest):

    def test_auth_plain_where_it_is_required(self):
        sink = self.mtasink("--auth-require")
        report = self.mtaload(sink.port, "-s", "3", "-m", "30", "--auth", "bench:s3cr:t")
        summary = sink.stop()
        self.assert_all_accepted(report, 30, summary)
        self.assertEqual(report["config"]["auth"], "bench")
        self.assert_latency_line(report, "auth", 30)
        self.assertEqual(report["replies"]["auth"], {"235": 30})
        self.assertEqual(summary["auth"]["ok"], 30)
        self.assertEqual(summary["auth"]["bad"], 0)
        self.assertEqual(summary["auth"]["refused_mail"], 0)

    def test_without_auth_the_sink_refuses_mail(self):
        sink = self.mtasink("--auth-require")
        report = self.mtaload(sink.port, "-s", "2", "-m", "6", status=1)
        summary = sink.stop()
        self.assertEqual(report["messages"]["rejected"], 6)
        self.assertEqual(report["replies"]["mail"], {"530": 6})
        self.assertEqual(summary["auth"]["refused_mail"], 6)
        self.assertEqual(summary["messages"], 0)

    def test_auth_after_starttls(self):
        sink = self.mtasink("--auth-require", "--tls-cert", self.cert, "--tls-key", self.key)
        report = self.mtaload(sink.port, "-s", "2", "-m", "10", "--starttls", "--auth", "u:p")
        summary = sink.stop()
        self.assert_all_accepted(report, 10, summary)
        self.assert_latency_line(report, "tls", 10)
        self.assert_latency_line(report, "auth", 10)
        self.assertEqual(summary["auth"]["ok"], 10)
        self.assertEqual(summary["tls"]["handshakes"], 10)

    def test_auth_not_offered_stops_the_run(self):
        sink = self.mtasink()
        report = self.mtaload(sink.port, "-s", "2", "-m", "10", "--auth", "u:p", status=2)
        sink.stop()
        self.assertIn("AUTH PLAIN", report["fatal"])
        self.assertEqual(report["messages"]["accepted"], 0)


class ProxyToMtaSink(BenchToolsTest):

    def test_proxy_v1_sources_in_order(self):
        sink = self.mtasink("--proxy")
        report = self.mtaload(sink.port, "-s", "4", "-m", "100", "--proxy", "v1",
                              "--proxy-src", "10.9.0.0/26")
        summary = sink.stop()
        self.assert_all_accepted(report, 100, summary)
        self.assertEqual(report["config"]["proxy"], "v1")
        proxy = summary["proxy"]
        self.assertEqual((proxy["v1"], proxy["v2"], proxy["errors"]), (100, 0, 0), proxy)
        self.assertEqual(proxy["distinct_sources"], 64)      # a /26, each address once or more

    def test_proxy_v2_ipv6_two_threads(self):
        sink = self.mtasink("--proxy")
        report = self.mtaload(sink.port, "-s", "4", "-T", "2", "-m", "60", "--proxy", "v2",
                              "--proxy-src", "2001:db8::/64")
        summary = sink.stop()
        self.assert_all_accepted(report, 60, summary)
        proxy = summary["proxy"]
        self.assertEqual((proxy["v1"], proxy["v2"], proxy["errors"]), (0, 60, 0), proxy)
        self.assertEqual(proxy["distinct_sources"], 60)      # no address twice across threads

    def test_proxy_v2_random_sources_with_implicit_tls_and_auth(self):
        sink = self.mtasink("--proxy", "--tls-cert", self.cert, "--tls-key", self.key,
                            "--tls-implicit", "--auth-require")
        report = self.mtaload(sink.port, "-s", "3", "-m", "30", "--proxy", "v2",
                              "--proxy-src", "172.16.0.0/12", "--proxy-random", "--seed", "7",
                              "--tls", "--auth", "u:p")
        summary = sink.stop()
        self.assert_all_accepted(report, 30, summary)
        self.assert_latency_line(report, "tls", 30)
        self.assert_latency_line(report, "auth", 30)
        self.assertEqual(summary["proxy"]["v2"], 30)
        self.assertGreaterEqual(summary["proxy"]["distinct_sources"], 28)   # 2^20 addresses
        self.assertEqual(summary["tls"]["handshakes"], 30)

    def test_without_the_header_no_greeting_comes(self):
        sink = self.mtasink("--proxy")
        report = self.mtaload(sink.port, "-s", "1", "-m", "2", "--max-errors", "1",
                              "--timeout", "1s", status=1)
        summary = sink.stop()
        self.assertEqual(report["messages"]["accepted"], 0)
        self.assertEqual(report["errors"]["timeout"], {"greeting": 1}, report["errors"])
        self.assertEqual(summary["commands"]["connect"], 0, "no greeting before the header")
        self.assertEqual(summary["proxy"]["v1"] + summary["proxy"]["v2"], 0)

    def test_a_malformed_header_is_counted_and_dropped(self):
        sink = self.mtasink("--proxy")
        with socket.create_connection(("127.0.0.1", sink.port), timeout=10) as c:
            c.sendall(b"PROXY TCP4 10.0.0.1 nonsense\r\nEHLO x\r\n")
            self.assertEqual(c.recv(512), b"", "closed without a greeting")
        summary = sink.stop()
        self.assertEqual(summary["proxy"]["errors"], 1, summary["proxy"])


SMTPD_CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
listen on 127.0.0.1 port {port} tls pki mail.test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
"""


class StartTlsToSmtpd(BenchToolsTest):

    def test_starttls_messages_delivered(self):
        port = free_port()
        self.smtpd(SMTPD_CONF.format(port=port, tmp=self.tmp,
                                     user=pwd.getpwuid(os.geteuid()).pw_name), wait_port=port)
        report = self.mtaload(port, "-s", "4", "-m", "20", "--starttls", "--from",
                              "bench@example.org", "--to", "st@localhost")
        self.assert_all_accepted(report, 20)
        self.assert_latency_line(report, "tls", 20)
        self.assert_latency_line(report, "starttls", 20)
        self.assertEqual(report["replies"]["starttls"], {"220": 20})
        wait_for(lambda: len(maildir_messages(os.path.join(self.tmp, "mail", "st"))) >= 20,
                 timeout=30, what="20 deliveries")
        msgs = maildir_messages(os.path.join(self.tmp, "mail", "st"))
        self.assertEqual(len(msgs), 20)
        self.assertTrue(all(b"with ESMTPS" in m for m in msgs), msgs[0][:400])


class OptionErrors(BenchToolsTest):

    def refused(self, prog, *args):
        r = subprocess.run([prog] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, "%s %s: %s" % (prog, args, r.stderr))
        return r.stderr

    def test_mtaload_refusals(self):
        target = "127.0.0.1:9"
        self.assertIn("exclude", self.refused(MTALOAD, "--starttls", "--tls", target))
        self.assertIn("--tls-verify", self.refused(MTALOAD, "--tls-verify", self.ca, target))
        self.assertIn("--proxy-src", self.refused(MTALOAD, "--proxy", "v1", target))
        self.assertIn("--proxy", self.refused(MTALOAD, "--proxy-src", "10.0.0.0/8", target))
        self.refused(MTALOAD, "--proxy", "v3", "--proxy-src", "10.0.0.0/8", target)
        self.refused(MTALOAD, "--proxy", "v1", "--proxy-src", "10.0.0.0/33", target)
        self.refused(MTALOAD, "--auth", "nocolon", target)
        self.refused(MTALOAD, "--auth", ":pw", target)
        self.assertIn("CA", self.refused(MTALOAD, "--tls", "--tls-verify",
                                         os.path.join(self.tmp, "missing.pem"), target))

    def test_mtasink_refusals(self):
        self.refused(MTASINK, "--tls-implicit", "127.0.0.1:0")
        self.refused(MTASINK, "--tls-cert", self.cert, "127.0.0.1:0")
        self.refused(MTASINK, "--tls-cert", self.cert, "--tls-key", self.ca, "127.0.0.1:0")
