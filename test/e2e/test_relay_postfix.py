"""test/e2e/test_relay_postfix.py - Postfix from Debian as the receiving MTA
of ringmta's relay (postfix_peer.py: a private instance on loopback with a
certificate signed by a CA this test makes, delivering into a maildir):
opportunistic STARTTLS, smtp+tls:// verified against `ca NAME` with the
host name checked, a certificate from another CA refused with the reason,
and AUTH PLAIN and LOGIN against Postfix's Cyrus SASL (sasldb), where wrong
credentials bounce and Postfix refuses mail without AUTH. What Postfix
logged and wrote into the Received: field it added is the proof."""
import os
import re
import smtplib

from harness import E2ETest, free_port, wait_for
from postfix_peer import PostfixPeer, unavailable
from test_relay_tls import make_certs

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
ca testca cert "{tmp}/ca.crt"
table secrets {{ bob = "bob:s3cret", eve = "eve:wrong" }}
action "out" relay host {url} {opts}
match from local for domain peer.test action "out"
"""


class RelayToPostfix(E2ETest):

    def setUp(self):
        super().setUp()
        why = unavailable()
        if why:
            self.skipTest(why)
        make_certs(self.tmp)
        self.port, self.peer_port = free_port(), free_port()

    def postfix(self, cert="localhost", **kw):
        p = PostfixPeer(os.path.join(self.tmp, cert + ".crt"),
                        os.path.join(self.tmp, cert + ".key"), **kw)
        self.cleanups.append(p.stop)
        p.start(self.tmp, self.peer_port, 0)
        return p

    def start(self, url, opts=""):
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp,
                                        url=url.format(port=self.peer_port), opts=opts),
                            wait_port=self.port,
                            env=dict(os.environ, RINGMTA_RETRY_BASE_S="60"))

    def send(self, subject="to postfix"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("from@example.org", ["user@peer.test"],
                                        "Subject: %s\r\n\r\nrelayed\r\n" % subject), {})

    def result(self, kind):
        return wait_for(lambda: "result=%s" % kind in self.d.log() and self.d.log(),
                        timeout=30, what="result=" + kind)

    def delivered(self, peer, n=1):
        return wait_for(lambda: len(peer.messages()) >= n and peer.messages(), timeout=30,
                        what="%d message(s) in Postfix's maildir" % n)

    def test_opportunistic_starttls_to_postfix(self):
        peer = self.postfix()
        self.start("smtp://localhost:{port}")
        self.send("opportunistic")
        self.result("Ok")
        msg = self.delivered(peer)[0].decode()
        self.assertIn("Subject: opportunistic", msg)
        # Postfix's own Received: field says the session was encrypted
        self.assertRegex(msg, r"\(using TLSv1\.[23] with cipher \S+")
        self.assertRegex(peer.log_text(),
                         r"TLS connection established from \S+\[127\.0\.0\.1\]: TLSv1\.[23]")

    def test_verified_tls_to_postfix(self):
        peer = self.postfix(tls_level="encrypt")
        self.start("smtp+tls://localhost:{port}", "ca testca")
        self.send("verified")
        log = self.result("Ok")
        self.assertRegex(log, r"relay=localhost \[127\.0\.0\.1\]:%d .*result=Ok" %
                         self.peer_port)
        self.assertRegex(self.d.log(),
                         r"mta tls ciphers=TLSv1\.[23]:\S+ relay=localhost .*cert=verified")
        msg = self.delivered(peer)[0].decode()
        self.assertIn("Subject: verified", msg)
        self.assertRegex(msg, r"\(using TLSv1\.[23] with cipher \S+")

    def test_postfix_certificate_from_another_ca_is_refused(self):
        peer = self.postfix(cert="rogue-localhost")
        self.start("smtp+tls://localhost:{port}", "ca testca")
        self.send("refused")
        log = self.result("TempFail")
        self.assertRegex(log, r"result=TempFail stat=.*(certificate|verify|ASN|signer)")
        self.assertEqual(peer.messages(), [])

    def test_auth_plain_against_postfix_sasl(self):
        peer = self.postfix(users={"bob": "s3cret"})
        self.start("smtp+tls://bob@localhost:{port}", "ca testca auth <secrets>")
        self.send("authenticated")
        self.result("Ok")
        self.assertIn("Subject: authenticated", self.delivered(peer)[0].decode())
        self.assertRegex(peer.log_text(), r"sasl_method=PLAIN, sasl_username=bob")

    def test_auth_login_when_postfix_offers_only_login(self):
        peer = self.postfix(users={"bob": "s3cret"}, mechs=("LOGIN",))
        self.start("smtp+tls://bob@localhost:{port}", "ca testca auth <secrets>")
        self.send("login")
        self.result("Ok")
        self.delivered(peer)
        self.assertRegex(peer.log_text(), r"sasl_method=LOGIN, sasl_username=bob")

    def test_wrong_credentials_bounce_and_no_auth_is_refused(self):
        peer = self.postfix(users={"bob": "s3cret"})
        self.start("smtp+tls://eve@localhost:{port}", "ca testca auth <secrets>")
        self.send("wrong password")
        log = self.result("PermFail")
        self.assertRegex(log, r"to=<user@peer.test> .*result=PermFail stat=535 5\.7\.8")
        self.assertRegex(peer.log_text(), r"SASL PLAIN authentication failed")
        self.assertEqual(peer.messages(), [])
        # and without credentials Postfix refuses the recipient: a bounce too
        self.d.stop()
        self.d.write_config(CONF.format(port=self.port, tmp=self.tmp,
                                        url="smtp+tls://localhost:%d" % self.peer_port,
                                        opts="ca testca"))
        self.d.start(wait_port=self.port, env=dict(os.environ, RINGMTA_RETRY_BASE_S="60"))
        self.send("no auth")
        wait_for(lambda: len(re.findall(r"result=PermFail", self.d.log())) >= 2, timeout=30,
                 what="the second bounce")
        self.assertRegex(self.d.log(), r"result=PermFail stat=554 5\.7\.1 <user@peer\.test>: "
                                       r"Recipient address rejected")
        self.assertEqual(peer.messages(), [])


if __name__ == "__main__":
    import unittest
    unittest.main()
