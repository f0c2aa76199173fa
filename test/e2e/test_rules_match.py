"""test/e2e/test_rules_match.py - match criteria deciding real SMTP
sessions: `helo` (and its re-evaluation after a new EHLO), `tls` (a
recipient refused in clear text and accepted after STARTTLS), `helo regex`
and `rcpt-to regex`, each with the exact reply; and `match from rdns` or
`match auth`, which the daemon cannot feed yet, named by `smtpd -n` with
file:line:column and refused at start."""
import os
import smtplib
import ssl
import subprocess

from harness import SMTPD, E2ETest, free_port
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


class CriteriaTheDaemonLacks(E2ETest):

    def check(self, line, what):
        path = os.path.join(self.tmp, "smtpd.conf")
        with open(path, "w") as f:
            f.write('listen on 127.0.0.1 port %d\naction "local" maildir\n%s\n'
                    'match from any for local action "local"\n' % (free_port(), line))
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "%s:3:7: warning: %s is not supported yet, smtpd will refuse to start with this "
            "configuration" % (path, what)])
        r = subprocess.run([SMTPD, "-d", "-f", path], cwd=self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "%s:3:7: %s is not supported yet" % (path, what))

    def test_from_rdns(self):
        self.check('match from rdns for any action "local"', "from rdns")


if __name__ == "__main__":
    import unittest
    unittest.main()
