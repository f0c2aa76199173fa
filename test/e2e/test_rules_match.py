"""test/e2e/test_rules_match.py - match criteria deciding real SMTP
sessions: `helo` (and its re-evaluation after a new EHLO), `tls` (a
recipient refused in clear text and accepted after STARTTLS), `helo regex`
and `rcpt-to regex`, each with the exact reply; and `match from rdns
[table]` with the PTR names of PROXY sources served by dnsmasq on loopback
(RINGMTA_RESOLVERS): a name, a name in the reject table, none, and a server
failure answered 451."""
import os
import smtplib
import ssl

from harness import E2ETest, free_port, maildir_messages, tool, wait_for
from test_mx import DnsMasq
from test_proxy import ProxiedSMTP, v1
from test_tls import make_certs

CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
listen on 127.0.0.1 port {port} tls pki mail.test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any helo regex "^bad[0-9]*\\." for any reject
match from any !tls for domain secure.example reject
match from any tls for domain secure.example action "local"
match from any helo trusted.example for domain relay.example action "local"
match from any for rcpt-to regex "^ok[0-9]+@" action "local"
"""

OK = (250, b"2.1.5 Destination address valid: Recipient ok")
REJECTED = (550, b"5.7.1 Delivery not authorized, message rejected")


def no_match(addr):
    return (550, ("5.1.1 Invalid recipient: <%s>" % addr).encode())


class MatchCriteria(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, user=self.user()),
                            wait_port=self.port)

    def session(self, helo):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        self.assertEqual(s.ehlo(helo)[0], 250)
        self.assertEqual(s.mail("sender@example.org")[0], 250)
        return s

    def test_helo_regex_rejects(self):
        s = self.session("bad7.example.net")
        self.assertEqual(s.rcpt("ok1@far.example"), REJECTED)
        s = self.session("good.example.net")
        self.assertEqual(s.rcpt("ok1@far.example"), OK)

    def test_tls_decides_after_starttls(self):
        s = self.session("client.test")
        self.assertEqual(s.rcpt("a@secure.example"), REJECTED)
        s.rset()
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        ctx.check_hostname = False   # verified against the test CA; 127.0.0.1 is not its name
        self.assertEqual(s.starttls(context=ctx)[0], 220)
        self.assertEqual(s.ehlo("client.test")[0], 250)
        self.assertEqual(s.mail("sender@example.org")[0], 250)
        self.assertEqual(s.rcpt("a@secure.example"), OK)

    def test_helo_is_evaluated_again_after_a_new_ehlo(self):
        s = self.session("other.example")
        self.assertEqual(s.rcpt("a@relay.example"), no_match("a@relay.example"))
        self.assertEqual(s.ehlo("trusted.example")[0], 250)
        self.assertEqual(s.mail("sender@example.org")[0], 250)
        self.assertEqual(s.rcpt("a@relay.example"), OK)

    def test_rcpt_to_regex(self):
        s = self.session("client.test")
        self.assertEqual(s.rcpt("ok42@far.example"), OK)
        self.assertEqual(s.rcpt("no42@far.example"), no_match("no42@far.example"))


RDNS_CONF = """
listen on 127.0.0.1 port {port} proxy-v2
queue path "{tmp}/spool"
action "named" maildir "{tmp}/named/%{{rcpt.user}}" user "{user}"
action "anon" maildir "{tmp}/anon/%{{rcpt.user}}" user "{user}"
match from rdns regex "\\.dyn\\.rdns\\.test$" for any reject
match from rdns for any action "named"
match from any for any action "anon"
"""


class MatchFromRdns(E2ETest):
    """`match from rdns [table]`: the PROXY header's source looked up in
    dnsmasq's records at connect; no name is no match, a server failure a
    451 at RCPT, never a pass."""

    def setUp(self):
        super().setUp()
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        self.dns_port, dead = free_port(), free_port()
        dns = DnsMasq(self.dns_port, [
            "--local=/rdns.test/", "--local=/113.0.203.in-addr.arpa/",
            "--ptr-record=10.113.0.203.in-addr.arpa,good.rdns.test",
            "--ptr-record=20.113.0.203.in-addr.arpa,host7.dyn.rdns.test",
            "--server=/13.113.0.203.in-addr.arpa/127.0.0.1#%d" % dead])
        self.cleanups.append(dns.stop)
        self.port = free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(RDNS_CONF.format(port=self.port, tmp=self.tmp, user=self.user()),
                            wait_port=self.port, env=env)

    def rcpt(self, src, user):
        s = ProxiedSMTP(v1(src), "127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        self.assertEqual(s.ehlo("client.example")[0], 250)
        self.assertEqual(s.mail("a@example.org")[0], 250)
        code = s.rcpt("%s@local.test" % user)[0]
        if code == 250:
            self.assertEqual(s.data(b"Subject: rdns\r\n\r\nhi\r\n")[0], 250)
        return code

    def test_named_client_takes_the_rdns_rule(self):
        self.assertEqual(self.rcpt("203.0.113.10", "ann"), 250)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "named", "ann")),
                 what="delivery by the from rdns rule")
        self.assertIn("smtp rdns name=good.rdns.test", self.d.log())

    def test_table_of_names_rejects(self):
        self.assertEqual(self.rcpt("203.0.113.20", "bob"), 550)

    def test_no_name_falls_through(self):
        self.assertEqual(self.rcpt("203.0.113.12", "cat"), 250)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "anon", "cat")),
                 what="delivery by the last rule")

    def test_server_failure_is_451_not_a_pass(self):
        self.assertEqual(self.rcpt("203.0.113.13", "dan"), 451)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "anon", "dan")))


if __name__ == "__main__":
    import unittest
    unittest.main()
