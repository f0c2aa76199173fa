"""test/e2e/test_relay_tls.py - TLS and AUTH on relay connections, against
tls_peer.py (Python's ssl module) on loopback with certificates this test
makes with openssl: opportunistic STARTTLS and its plain-text retry after a
broken handshake, smtp+tls:// refusing to go on in plain text, smtps://
verified against `ca NAME` with the host name checked (and failing for a
wrong name or an unknown CA, with the reason logged), `tls no-verify`,
the action's `protocols` and `ciphers` as the peer sees them,
AUTH PLAIN and LOGIN with credentials from `auth <table>`, 535 bouncing
the recipients, and credentials never sent without TLS."""
import os
import smtplib
import subprocess

from harness import E2ETest, free_port, wait_for
from tls_peer import TlsPeer

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
ca testca cert "{tmp}/ca.crt"
table secrets {{ bob = "bob:s3cret", eve = "eve:wrong" }}
action "out" relay host {url} {opts}
match from local for domain example.net action "out"
"""


def make_certs(d):
    """ca.crt signs localhost.crt (DNS:localhost) and other.crt (DNS:other.test);
    rogue.crt signs rogue-localhost.crt, for a CA nobody trusts."""
    def run(*args):
        subprocess.run(args, cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    for ca in ("ca", "rogue"):
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
            "-subj", "/CN=ringmta %s CA" % ca)
    for name, dns, ca in (("localhost", "localhost", "ca"), ("other", "other.test", "ca"),
                          ("rogue-localhost", "localhost", "rogue")):
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + dns)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n" % dns)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey",
            ca + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "2",
            "-extfile", name + ".ext")


class RelayTls(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.port, self.peer_port = free_port(), free_port()

    def peer(self, cert="localhost", **kw):
        p = TlsPeer(self.peer_port, os.path.join(self.tmp, cert + ".crt"),
                    os.path.join(self.tmp, cert + ".key"), **kw)
        self.cleanups.append(p.stop)
        return p

    def start(self, url, opts=""):
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp,
                                        url=url.format(port=self.peer_port), opts=opts),
                            wait_port=self.port,
                            env=dict(os.environ, RINGMTA_RETRY_BASE_S="60"))

    def send(self, body="relayed over TLS"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("from@example.org", ["a@example.net"],
                                        "Subject: t\r\n\r\n%s\r\n" % body), {})

    def result(self, kind):
        return wait_for(lambda: "result=%s" % kind in self.d.log() and self.d.log(),
                        timeout=20, what="result=" + kind)

    def test_opportunistic_starttls_when_offered(self):
        peer = self.peer()
        self.start("smtp://127.0.0.1:{port}")
        self.send()
        log = self.result("Ok")
        sessions = [s for s in peer.snapshot() if s["messages"]]
        self.assertEqual(len(sessions), 1)
        self.assertEqual(sessions[0]["tls"], "TLSv1.3")   # the peer saw TLS
        self.assertIn(b"relayed over TLS", sessions[0]["messages"][0]["body"])
        # no verification for opportunistic TLS: the test CA is unknown to it
        self.assertRegex(log, r"mta tls ciphers=TLSv1\.3:TLS_\w+:\d+ relay=127\.0\.0\.1 "
                              r"\[127\.0\.0\.1\]:\d+ cert=unverified")
        self.assertRegex(log, r"to=<a@example.net> .*relay=127\.0\.0\.1 \[127\.0\.0\.1\]:\d+ "
                              r"tls=TLSv1\.3:TLS_\w+:\d+ .*result=Ok stat=250")

    def test_opportunistic_broken_handshake_retries_in_plain_text(self):
        peer = self.peer(broken_tls=True)
        self.start("smtp://127.0.0.1:{port}")
        self.send("after a broken handshake")
        log = self.result("Ok")
        self.assertIn("mta error reason=tls", log)
        self.assertIn("next connections in plain text", log)
        msgs = peer.messages()
        self.assertEqual(len(msgs), 1)
        self.assertNotIn("TempFail", log)

    def test_smtp_tls_without_starttls_is_deferred_not_sent_plain(self):
        peer = self.peer(starttls=False)
        self.start("smtp+tls://127.0.0.1:{port}", "tls no-verify")
        self.send()
        log = self.result("TempFail")
        self.assertIn("TLS required, but the server does not offer STARTTLS", log)
        self.assertEqual(peer.messages(), [])

    def test_smtps_verified_against_the_ca(self):
        peer = self.peer(starttls=False, smtps=True)
        self.start("smtps://localhost:{port}", "ca testca")
        self.send()
        log = self.result("Ok")
        sessions = [s for s in peer.snapshot() if s["messages"]]
        self.assertEqual(sessions[0]["sni"], "localhost")   # SNI sent
        self.assertIn("cert=verified", log)

    def test_smtp_tls_verified_against_the_ca(self):
        peer = self.peer()
        self.start("smtp+tls://localhost:{port}", "ca testca")
        self.send()
        log = self.result("Ok")
        self.assertEqual([s["tls"] for s in peer.snapshot() if s["messages"]], ["TLSv1.3"])
        self.assertIn("cert=verified", log)

    def test_protocols_and_ciphers_of_the_action_are_what_is_negotiated(self):
        peer = self.peer()
        self.start("smtp+tls://localhost:{port}",
                   'ca testca protocols "tlsv1.2" ciphers "ECDHE-ECDSA-AES256-GCM-SHA384"')
        self.send()
        self.result("Ok")
        sessions = [s for s in peer.snapshot() if s["messages"]]
        self.assertEqual([(s["tls"], s["cipher"]) for s in sessions],
                         [("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")])

    def test_wrong_hostname_is_deferred_with_the_reason(self):
        peer = self.peer(cert="other", starttls=False, smtps=True)
        self.start("smtps://localhost:{port}", "ca testca")
        self.send()
        log = self.result("TempFail")
        self.assertRegex(log, r"mta error reason=tls relay=localhost .*(?i:domain name|mismatch)")
        self.assertRegex(log, r"result=TempFail stat=Error \(TLS with localhost .* failed: ")
        self.assertEqual(peer.messages(), [])

    def test_unknown_ca_is_deferred_with_the_reason(self):
        peer = self.peer(cert="rogue-localhost")
        self.start("smtp+tls://localhost:{port}", "ca testca")
        self.send()
        log = self.result("TempFail")
        self.assertRegex(log, r"mta error reason=tls relay=localhost .*(?i:signer|verify|ca)")
        self.assertEqual(peer.messages(), [])

    def test_no_verify_accepts_what_verification_refuses(self):
        peer = self.peer(cert="rogue-localhost", starttls=False, smtps=True)
        self.start("smtps://localhost:{port}", "tls no-verify")
        self.send()
        log = self.result("Ok")
        self.assertIn("cert=unverified", log)
        self.assertEqual(len(peer.messages()), 1)

    def test_auth_plain_credentials_arrive_under_tls(self):
        peer = self.peer(users={"bob": "s3cret"})
        self.start("smtp+tls://bob@localhost:{port}", "ca testca auth <secrets>")
        self.send()
        self.result("Ok")
        auths = [a for s in peer.snapshot() for a in s["auth"]]
        self.assertEqual(auths, [{"mech": "PLAIN", "tls": True, "user": "bob",
                                  "password": "s3cret", "ok": True}])
        self.assertEqual(len(peer.messages()), 1)

    def test_auth_login_when_plain_is_not_offered(self):
        peer = self.peer(users={"bob": "s3cret"}, starttls=False, smtps=True, mechs=("LOGIN",))
        self.start("smtps://bob@localhost:{port}", "ca testca auth <secrets>")
        self.send()
        self.result("Ok")
        auths = [a for s in peer.snapshot() for a in s["auth"]]
        self.assertEqual([(a["mech"], a["user"], a["password"]) for a in auths],
                         [("LOGIN", "bob", "s3cret")])

    def test_wrong_credentials_bounce_with_the_reason(self):
        peer = self.peer(users={"bob": "s3cret"})
        self.start("smtp+tls://eve@localhost:{port}", "ca testca auth <secrets>")
        self.send()
        log = self.result("PermFail")
        self.assertRegex(log, r"mta error reason=auth .*535 5\.7\.8")
        self.assertRegex(log, r"to=<a@example.net> .*result=PermFail stat=535 5\.7\.8 "
                              r"Authentication credentials invalid")
        self.assertEqual(peer.messages(), [])

    def test_credentials_never_sent_without_tls(self):
        peer = self.peer(users={"bob": "s3cret"}, starttls=False, auth_plain_text=True)
        self.start("smtp://bob@127.0.0.1:{port}", "auth <secrets>")
        self.send()
        log = self.result("TempFail")
        self.assertIn("not sending credentials without TLS", log)
        self.assertEqual([a for s in peer.snapshot() for a in s["auth"]], [])
        self.assertEqual(peer.messages(), [])
