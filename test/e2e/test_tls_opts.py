"""test/e2e/test_tls_opts.py - TLS settings of the receiving side as a
client meets them: client certificates on `verify` listeners (a good one
delivers and Received: says YES; none, an untrusted one or an expired one
is refused at the handshake and logged) and on listeners without verify
(optional: accepted without, checked and logged with); `ciphers` and
`protocols` leaving a client nothing to negotiate; a reconnecting client
resuming its session (TLS 1.3 tickets and TLS 1.2), but never on another
listener. Certificates come from test_tls.make_certs (openssl command line)."""
import os
import pwd
import re
import smtplib
import socket
import ssl
import subprocess

from harness import E2ETest, free_port, maildir_messages, wait_for
from test_tls import make_certs

CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
ca testca cert "{tmp}/ca.crt"
listen on 127.0.0.1 port {verify} smtps verify pki mail.test ca testca
listen on 127.0.0.1 port {starttls_verify} tls-require verify pki mail.test ca testca
listen on 127.0.0.1 port {optional} smtps pki mail.test ca testca
listen on 127.0.0.1 port {ciphers} smtps pki mail.test ciphers "ECDHE-ECDSA-AES128-GCM-SHA256" \\
    protocols "tlsv1.2"
listen on 127.0.0.1 port {tls13} smtps pki mail.test protocols "tlsv1.3"
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
"""

PORTS = ("verify", "starttls_verify", "optional", "ciphers", "tls13")


class TlsOptions(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.ports = {name: free_port() for name in PORTS}
        self.d = self.smtpd(CONF.format(tmp=self.tmp, user=pwd.getpwuid(os.geteuid()).pw_name,
                                        **self.ports),
                            wait_port=self.ports["tls13"])

    def context(self, cert=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        if cert:
            ctx.load_cert_chain(os.path.join(self.tmp, cert + ".crt"),
                                os.path.join(self.tmp, cert + ".key"))
        return ctx

    def smtps(self, port, ctx, session=None):
        """The TLS socket after the handshake and the 220 greeting."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="mail.test", session=session)
        greeting = tls.recv(512)
        self.assertTrue(greeting.startswith(b"220 "), greeting)
        return tls

    def refused(self, port, ctx):
        """Whether the server ends the handshake: a TLS 1.3 client learns it
        on its first read, a TLS 1.2 one during the handshake."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="mail.test") as tls:
                    data = tls.recv(512)
                    return not data.startswith(b"220")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True

    def fingerprint(self, name):
        out = subprocess.run(["openssl", "x509", "-in", os.path.join(self.tmp, name + ".crt"),
                              "-noout", "-fingerprint", "-sha256"], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        return "SHA256:" + out.strip().split("=", 1)[1].replace(":", "").lower()

    def send(self, port, ctx, rcpt):
        tls = self.smtps(port, ctx)
        f = tls.makefile("rb")
        for line in (b"EHLO client.test", b"MAIL FROM:<a@example.org>", b"RCPT TO:<%s>" % rcpt,
                     b"DATA"):
            tls.sendall(line + b"\r\n")
            reply = f.readline()
            while reply[3:4] == b"-":
                reply = f.readline()
            self.assertIn(reply[:1], (b"2", b"3"), (line, reply))
        tls.sendall(b"Subject: cert\r\n\r\nhello\r\n.\r\n")
        self.assertTrue(f.readline().startswith(b"250 "))
        tls.sendall(b"QUIT\r\n")
        tls.close()
        user = rcpt.split(b"@")[0].decode()
        return wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", user)),
                        what="delivery")[0]

    # --- client certificates -------------------------------------------------

    def test_verify_with_a_good_certificate_delivers_and_says_yes(self):
        msg = self.send(self.ports["verify"], self.context("client"), b"good@localhost")
        self.assertRegex(msg, rb"\(TLSv1\.3:TLS_[A-Z0-9_]+:\d+:YES\)")
        self.assertIn('smtp cert-check result="verified" fingerprint="%s"'
                      % self.fingerprint("client"), self.d.log())

    def test_verify_refuses_a_client_without_a_certificate(self):
        self.assertTrue(self.refused(self.ports["verify"], self.context()))
        wait_for(lambda: re.search(r'failed-command command="\(smtps\)" result="handshake: ',
                                   self.d.log()), what="the refusal logged")
        self.assertIn('cert-check result="failed" reason="no certificate presented"', self.d.log())

    def test_verify_refuses_an_untrusted_certificate(self):
        self.assertTrue(self.refused(self.ports["verify"], self.context("stranger")))
        wait_for(lambda: 'cert-check result="failed"' in self.d.log(), what="the check logged")
        self.assertNotIn('result="verified"', self.d.log())

    def test_verify_refuses_an_expired_certificate(self):
        self.assertTrue(self.refused(self.ports["verify"], self.context("expired")))
        line = wait_for(lambda: re.search(r'cert-check result="failed" reason="([^"]*)"',
                                          self.d.log()), what="the check logged")
        self.assertRegex(line.group(1).lower(), r"expired|date|after")

    def test_starttls_verify_takes_mail_only_with_a_certificate(self):
        with smtplib.SMTP("127.0.0.1", self.ports["starttls_verify"], timeout=30) as s:
            s._host = "mail.test"
            s.starttls(context=self.context("client"))
            s.ehlo("client.test")
            self.assertEqual(s.sendmail("a@example.org", ["st@localhost"], "Subject: s\r\n\r\nx\r\n"),
                             {})
        msg = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "st")),
                       what="delivery")[0]
        self.assertIn(b":YES)", msg)
        with smtplib.SMTP("127.0.0.1", self.ports["starttls_verify"], timeout=30) as s:
            s._host = "mail.test"
            with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected,
                                    ConnectionResetError)):
                s.starttls(context=self.context())
                s.ehlo("client.test")
                s.mail("a@example.org")
        wait_for(lambda: 'command="STARTTLS" result="handshake: ' in self.d.log(),
                 what="the refused STARTTLS logged")

    def test_without_verify_a_certificate_is_optional(self):
        msg = self.send(self.ports["optional"], self.context(), b"none@localhost")
        self.assertIn(b":NO)", msg)
        self.assertNotIn("cert-check", self.d.log(), "no certificate, nothing to log")
        msg = self.send(self.ports["optional"], self.context("stranger"), b"stranger@localhost")
        self.assertIn(b":NO)", msg)
        wait_for(lambda: 'cert-check result="unverified"' in self.d.log(), what="unverified logged")
        msg = self.send(self.ports["optional"], self.context("client"), b"client@localhost")
        self.assertIn(b":YES)", msg)

    # --- ciphers and protocols -----------------------------------------------

    def test_ciphers_leave_other_suites_nothing(self):
        ctx = self.context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
        self.assertTrue(self.refused(self.ports["ciphers"], ctx))
        tls = self.smtps(self.ports["ciphers"], self.context())
        self.assertEqual(tls.version(), "TLSv1.2", "protocols tlsv1.2")
        self.assertEqual(tls.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256")
        tls.close()

    def test_protocols_tlsv13_refuses_a_tls12_client(self):
        ctx = self.context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertTrue(self.refused(self.ports["tls13"], ctx))
        tls = self.smtps(self.ports["tls13"], self.context())
        self.assertEqual(tls.version(), "TLSv1.3")
        tls.close()

    def test_openssl_s_client_tls12_is_refused_by_a_tls13_listener(self):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.ports["tls13"],
                            "-tls1_2", "-servername", "mail.test"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("220 ", r.stdout)

    # --- resumption ----------------------------------------------------------

    def resumes(self, port, ctx):
        first = self.smtps(port, ctx)
        first.sendall(b"QUIT\r\n")
        first.recv(512)                      # the ticket came before the 221
        session = first.session
        first.close()
        self.assertIsNotNone(session)
        second = self.smtps(port, ctx, session=session)
        reused = second.session_reused
        second.sendall(b"NOOP\r\n")
        self.assertTrue(second.recv(512).startswith(b"250"))
        second.close()
        return reused, session

    def test_a_reconnecting_client_resumes_tls13(self):
        reused, _ = self.resumes(self.ports["optional"], self.context())
        self.assertTrue(reused, "TLS 1.3 session ticket")

    def test_a_reconnecting_client_resumes_tls12(self):
        ctx = self.context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        reused, _ = self.resumes(self.ports["optional"], ctx)
        self.assertTrue(reused, "TLS 1.2 ticket or session id")

    def test_a_session_does_not_open_a_verify_listener(self):
        ctx = self.context()
        _, session = self.resumes(self.ports["optional"], ctx)
        try:
            with socket.create_connection(("127.0.0.1", self.ports["verify"]), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="mail.test", session=session) as tls:
                    self.assertFalse(tls.session_reused)
                    self.assertFalse(tls.recv(512).startswith(b"220"))
        except (ssl.SSLError, ConnectionResetError):
            pass


if __name__ == "__main__":
    import unittest
    unittest.main()
