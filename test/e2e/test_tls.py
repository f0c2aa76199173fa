"""test/e2e/test_tls.py - implicit TLS (smtps, RFC 8314) on the receiving
side with certificates the test makes with the openssl command line:
swaks --tls-on-connect, Python's SMTP_SSL with verification against the
test CA, SNI choosing between two certificates, and a client that speaks
plain text to the TLS port."""
import os
import pwd
import smtplib
import socket
import ssl
import subprocess

from harness import E2ETest, free_port, maildir_messages, tool, wait_for

CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
pki other.test cert "{tmp}/other.crt" key "{tmp}/other.key"
listen on 127.0.0.1 port {port} smtps pki mail.test pki other.test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
"""


def make_certs(d):
    """In d: a test CA (ca.crt), server certificates mail.test and
    other.test, and client certificates: client (signed by the CA),
    expired (signed by the CA, ended yesterday) and stranger (self-signed)."""
    def run(*args):
        subprocess.run(args, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def key_and_csr(name, cn):
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        os.chmod(os.path.join(d, name + ".key"), 0o600)

    def sign(name, ext, days):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".crt", "-days", days, "-extfile", name + ".ext")

    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ringmta test CA")
    for name in ("mail", "other"):
        key_and_csr(name, "%s.test" % name)
        sign(name, "subjectAltName=DNS:%s.test\n" % name, "2")
    client_ext = "extendedKeyUsage=clientAuth\n"
    key_and_csr("client", "client.test")
    sign("client", client_ext, "2")
    key_and_csr("expired", "expired.test")
    sign("expired", client_ext, "-1")            # notAfter: yesterday
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "stranger.key", "-out", "stranger.crt", "-days", "2",
        "-subj", "/CN=stranger.test", "-addext", "extendedKeyUsage=clientAuth")


class SmtpSslTo(smtplib.SMTP_SSL):
    """SMTP_SSL to 127.0.0.1 that asks for a certificate by name (SNI) and
    verifies it, without looking the name up."""

    def __init__(self, name, *args, **kw):
        self.sni = name
        super().__init__(*args, **kw)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.sni)


class ImplicitTls(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp,
                                        user=pwd.getpwuid(os.geteuid()).pw_name),
                            wait_port=self.port)

    def context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        return ctx

    def test_smtp_ssl_verified_and_delivered(self):
        with SmtpSslTo("mail.test", "127.0.0.1", self.port, context=self.context(),
                       timeout=30) as s:
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.sendmail("a@example.org", ["tls@localhost"], "Subject: t\r\n\r\nsecret\r\n"), {})
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "tls")), what="delivery")
        self.assertIn(b"secret", msgs[0])
        self.assertRegex(self.d.log(), r"smtp tls ciphers=TLSv1\.3:TLS_[A-Z0-9_]+:\d+")

    def test_sni_picks_the_certificate(self):
        for name in ("mail.test", "other.test"):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with self.context().wrap_socket(raw, server_hostname=name) as tls:
                    cert = tls.getpeercert()
                    self.assertIn(("DNS", name), cert["subjectAltName"])
                    self.assertTrue(tls.recv(512).startswith(b"220 "))

    def test_swaks_tls_on_connect(self):
        if tool("swaks") is None:
            self.skipTest("swaks not installed")
        r = subprocess.run([tool("swaks"), "--server", "127.0.0.1", "--port", str(self.port),
                            "--tls-on-connect", "--to", "sw@localhost", "--from", "a@example.org"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("TLS started", r.stdout)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "sw")), what="delivery")

    def test_plain_text_on_the_tls_port_is_closed_and_logged(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"EHLO plain.test\r\n")
            s.settimeout(10)
            try:
                data = s.recv(512)
            except ConnectionResetError:
                data = b""
            self.assertNotIn(b"250", data)
        wait_for(lambda: "(smtps)" in self.d.log(), what="a logged handshake failure")
        # and the listener still serves
        with SmtpSslTo("mail.test", "127.0.0.1", self.port, context=self.context(),
                       timeout=30) as s:
            self.assertEqual(s.noop()[0], 250)


STARTTLS_CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
listen on 127.0.0.1 port {port} tls pki mail.test
listen on 127.0.0.1 port {port2} tls-require pki mail.test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
"""


class StartTls(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.port, self.port2 = free_port(), free_port()
        self.d = self.smtpd(STARTTLS_CONF.format(port=self.port, port2=self.port2, tmp=self.tmp,
                                                 user=pwd.getpwuid(os.geteuid()).pw_name),
                            wait_port=self.port)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))

    def test_starttls_then_mail(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("starttls"))
            s._host = "mail.test"          # the name to verify (no lookup is made)
            self.assertEqual(s.starttls(context=self.ctx)[0], 220)
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("starttls"))      # no second STARTTLS
            self.assertEqual(s.docmd("STARTTLS")[0] // 100, 5)
            self.assertEqual(s.sendmail("a@example.org", ["st@localhost"], "Subject: s\r\n\r\nover tls\r\n"), {})
        msg = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "st")), what="delivery")[0]
        self.assertRegex(msg, rb"with ESMTPS id [0-9a-f]{8} \(TLSv1\.3:TLS_[A-Z0-9_]+:\d+:NO\)")

    def test_openssl_s_client_starttls_session(self):
        """openssl s_client -starttls smtp, the tool postmasters test with:
        the certificate verifies, no STARTTLS is offered again inside, and a
        command out of order is answered as such (the plain-text injection
        case is the raw peer of the next test)."""
        if tool("openssl") is None:
            self.skipTest("openssl not installed")
        r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % self.port, "-servername", "mail.test",
                            "-CAfile", os.path.join(self.tmp, "ca.crt"), "-verify_return_error",
                            "-crlf", "-quiet", "-ign_eof"],
                           input=b"EHLO inside.test\nRCPT TO:<st@localhost>\nQUIT\n",
                           capture_output=True, timeout=30)
        out = r.stdout.decode(errors="replace")
        self.assertRegex(out, r"250-\S+ Hello inside\.test")
        self.assertNotIn("STARTTLS", out)
        self.assertIn("503 5.5.1", out)                             # RCPT before MAIL
        self.assertIn("221 2.0.0", out)
        self.assertRegex(self.d.log(), r"smtp tls ciphers=TLSv1\.[23]:")

    def test_commands_pipelined_after_starttls_are_discarded(self):
        """CVE-2011-0411: bytes sent in plain text after STARTTLS must not
        be run once TLS is up."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        f = raw.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        raw.sendall(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
        self.assertTrue(line.startswith(b"250 "), line)      # EHLO
        self.assertTrue(f.readline().startswith(b"220 "))    # STARTTLS
        tls = self.ctx.wrap_socket(raw, server_hostname="mail.test")
        tls.settimeout(2)
        tls.sendall(b"RCPT TO:<x@localhost>\r\n")
        reply = tls.recv(512)
        # had MAIL run, RCPT would be accepted; after the reset it is out of order
        self.assertTrue(reply.startswith(b"503 "), reply)
        tls.close()

    def test_tls_require_refuses_mail_in_plain_text(self):
        with smtplib.SMTP("127.0.0.1", self.port2, timeout=30) as s:
            s.ehlo("client.test")
            code, msg = s.mail("a@example.org")
            self.assertEqual(code, 530, msg)
            s._host = "mail.test"
            s.starttls(context=self.ctx)
            s.ehlo("client.test")
            self.assertEqual(s.mail("a@example.org")[0], 250)

    def test_swaks_starttls(self):
        if tool("swaks") is None:
            self.skipTest("swaks not installed")
        r = subprocess.run([tool("swaks"), "--server", "127.0.0.1", "--port", str(self.port),
                            "--tls", "--to", "sws@localhost", "--from", "a@example.org"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("TLS started", r.stdout)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "sws")), what="delivery")
