"""test/e2e/test_mx.py - relaying by MX (IPv4 and IPv6): dnsmasq on loopback answers for the
test domains (smtpd is pointed at it with RINGMTA_RESOLVERS), smtp-sink
plays the MX hosts on 127.0.0.x port 25. Nothing leaves loopback."""
import os
import smtplib
import subprocess

from harness import E2ETest, SmtpSink, free_port, port_open, tool, wait_for
from smtp_peer import SmtpPeer
from tls_peer import TlsPeer

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "mx" relay
match from local for domain "example.net" action "mx"
match from local for domain "nullmx.test" action "mx"
match from local for domain "nx.test" action "mx"
match from local for domain "rate.test" action "mx"
match from local for domain "v6.test" action "mx"
mta limit for domain rate.test max-rate 4/s
"""


class DnsMasq:
    def __init__(self, port, records):
        self.proc = subprocess.Popen(
            [tool("dnsmasq"), "--keep-in-foreground", "--no-resolv", "--no-hosts",
             "--no-poll", "--conf-file=/dev/null", "--pid-file=", "--bind-interfaces",
             "--listen-address=127.0.0.1", "--port=%d" % port,
             "--local=/test/", "--local=/example.net/"] + records,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


class MxRelay(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("MX hosts listen on port 25: needs root")
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        for addr in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            if port_open(25, addr):
                self.skipTest("something listens on %s:25 already" % addr)
        self.dns_port = free_port()
        dns = DnsMasq(self.dns_port, [
            "--mx-host=example.net,mx1.example.net,10",
            "--mx-host=example.net,mx2.example.net,20",
            "--host-record=mx1.example.net,127.0.0.2",
            "--host-record=mx2.example.net,127.0.0.3",
            "--mx-host=rate.test,mx.rate.test,10",
            "--host-record=mx.rate.test,127.0.0.4",
            "--dns-rr=nullmx.test,15,000000",
            "--mx-host=v6.test,mx.v6.test,10",
            "--host-record=mx.v6.test,::1"])
        self.cleanups.append(dns.stop)
        self.port = free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp), env=env,
                            wait_port=self.port)

    def sink_on(self, addr, name):
        s = SmtpSink(os.path.join(self.tmp, name), 25, host=addr)
        self.cleanups.append(s.stop)
        return s

    def send(self, rcpt, n=1):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(n):
                self.assertEqual(s.sendmail("a@example.org", [rcpt],
                                            "Subject: mx %d\r\n\r\nby mx\r\n" % i), {})

    def test_preferred_mx_gets_the_mail(self):
        mx1 = self.sink_on("127.0.0.2", "mx1")
        mx2 = self.sink_on("127.0.0.3", "mx2")
        self.send("u@example.net", 3)
        wait_for(lambda: self.d.log().count("result=Ok") >= 3, timeout=30, what="3 deliveries")
        self.assertEqual(len(mx1.messages()), 3)
        self.assertEqual(mx2.messages(), [])
        self.assertIn("relay=mx1.example.net [127.0.0.2]:25", self.d.log())

    def test_backup_mx_when_the_first_refuses(self):
        mx2 = self.sink_on("127.0.0.3", "mx2")     # mx1 has nobody listening
        self.send("u@example.net")
        wait_for(lambda: "result=Ok" in self.d.log(), timeout=30, what="delivery via mx2")
        self.assertEqual(len(mx2.messages()), 1)
        self.assertIn("relay=mx2.example.net [127.0.0.3]:25", self.d.log())

    def test_null_mx_and_missing_domain_fail_permanently(self):
        self.send("u@nullmx.test")
        self.send("u@nx.test")
        log = wait_for(lambda: self.d.log().count("result=PermFail") >= 2 and self.d.log(),
                       timeout=30, what="two permanent failures")
        self.assertIn("null MX", log)
        self.assertIn("does not exist", log)

    def test_mx_with_only_an_ipv6_address(self):
        if port_open(25, "::1"):
            self.skipTest("something listens on [::1]:25 already")
        peer = SmtpPeer(25, host="::1")
        self.cleanups.append(peer.stop)
        self.send("u@v6.test", 2)
        log = wait_for(lambda: self.d.log().count("result=Ok") >= 2 and self.d.log(),
                       timeout=30, what="2 deliveries over IPv6")
        self.assertEqual(peer.messages, 2)
        self.assertIn("relay=mx.v6.test [::1]:25", log)
        self.assertEqual(set(peer.sources), {"::1"})

    def test_rate_limit_for_one_domain(self):
        peer = SmtpPeer(25, host="127.0.0.4")
        self.cleanups.append(peer.stop)
        mx1 = self.sink_on("127.0.0.2", "mx1")
        self.send("u@rate.test", 9)
        self.send("u@example.net", 9)
        wait_for(lambda: peer.messages >= 9, timeout=30, what="9 messages to rate.test")
        t = sorted(peer.mail_times)
        # max-rate 4/s: one every 250 ms, 8 gaps take two seconds
        self.assertGreaterEqual(t[-1] - t[0], 1.9, t)
        # example.net has no rate: its nine were not held back
        wait_for(lambda: len(mx1.messages()) >= 9, timeout=10, what="9 messages to example.net")


MX_TLS_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
ca testca cert "{tmp}/ca.crt"
action "mxtls" relay tls ca testca
match from local for domain "example.net" action "mxtls"
"""


def make_mx_certs(d):
    """ca.crt signs mx2.crt (DNS:mx2.example.net); rogue.crt, a CA nobody
    trusts, signs mx1.crt (DNS:mx1.example.net)."""
    def run(*args):
        subprocess.run(args, cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    for ca in ("ca", "rogue"):
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
            "-subj", "/CN=ringmta %s CA" % ca)
    for name, ca in (("mx1", "rogue"), ("mx2", "ca")):
        dns = name + ".example.net"
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + dns)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n" % dns)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey",
            ca + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "2",
            "-extfile", name + ".ext")


class MxTlsFallback(E2ETest):
    """`relay tls` by MX: a preferred MX whose certificate does not verify
    (or that offers no STARTTLS) is put in backoff and the next MX gets the
    mail at once, verified; with no MX left the mail is deferred."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("MX hosts listen on port 25: needs root")
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        for addr in ("127.0.0.2", "127.0.0.3"):
            if port_open(25, addr):
                self.skipTest("something listens on %s:25 already" % addr)
        make_mx_certs(self.tmp)
        self.dns_port = free_port()
        dns = DnsMasq(self.dns_port, [
            "--mx-host=example.net,mx1.example.net,10",
            "--mx-host=example.net,mx2.example.net,20",
            "--host-record=mx1.example.net,127.0.0.2",
            "--host-record=mx2.example.net,127.0.0.3"])
        self.cleanups.append(dns.stop)
        self.port = free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port,
                   RINGMTA_RETRY_BASE_S="60")
        self.d = self.smtpd(MX_TLS_CONF.format(port=self.port, tmp=self.tmp), env=env,
                            wait_port=self.port)

    def peer(self, name, host, **kw):
        p = TlsPeer(25, os.path.join(self.tmp, name + ".crt"),
                    os.path.join(self.tmp, name + ".key"), host=host, **kw)
        self.cleanups.append(p.stop)
        return p

    def send(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("a@example.org", ["u@example.net"],
                                        "Subject: tls mx\r\n\r\nby mx\r\n"), {})

    def test_unverified_first_mx_falls_back_to_the_second(self):
        mx1 = self.peer("mx1", "127.0.0.2")
        mx2 = self.peer("mx2", "127.0.0.3")
        self.send()
        log = wait_for(lambda: "result=Ok" in self.d.log() and self.d.log(), timeout=30,
                       what="delivery via mx2")
        self.assertRegex(log, r"mta error reason=tls relay=mx1\.example\.net \[127\.0\.0\.2\]")
        self.assertRegex(log, r"mta route backoff relay=mx1\.example\.net")
        self.assertRegex(log, r"relay=mx2\.example\.net \[127\.0\.0\.3\]:25 "
                              r"tls=TLSv1\.[23]\S* .*result=Ok")
        self.assertNotIn("result=TempFail", log)
        self.assertEqual(mx1.messages(), [])
        self.assertEqual(len(mx2.messages()), 1)
        self.assertEqual([s["sni"] for s in mx2.snapshot() if s.get("tls")][:1],
                         ["mx2.example.net"])

    def test_first_mx_without_starttls_falls_back_to_the_second(self):
        mx1 = self.peer("mx1", "127.0.0.2", starttls=False)
        mx2 = self.peer("mx2", "127.0.0.3")
        self.send()
        wait_for(lambda: "result=Ok" in self.d.log(), timeout=30, what="delivery via mx2")
        self.assertEqual(mx1.messages(), [])
        self.assertEqual(len(mx2.messages()), 1)

    def test_no_mx_that_verifies_defers_with_the_reason(self):
        self.peer("mx1", "127.0.0.2")
        self.peer("mx1", "127.0.0.3")   # mx2's address with mx1's name and CA
        self.send()
        log = wait_for(lambda: "result=TempFail" in self.d.log() and self.d.log(), timeout=30,
                       what="a deferral")
        self.assertRegex(log, r"result=TempFail stat=Error \(TLS with mx2\.example\.net")
        self.assertNotIn("result=Ok", log)
