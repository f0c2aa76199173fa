"""test/e2e/test_rule_tester.py - build/smtpd -n -v (the compiled
configuration) and -n -T (the rule tester) as a postmaster runs them: whole
transcripts for a config written to a temporary folder (a relay for a
trusted source, local delivery, a relay attempt from outside refused, a
negated criterion, a regex, a tag by listener), the exit statuses (0; 64
for a description it cannot use; 1 and the caret for a bad config, as -n),
-n without -v unchanged, and -n -v succeeding on every real configuration
of ../shared/testdata/smtpd-conf (in the private mount namespace of
test_config_corpus.py, which holds the files they name).
"""
import os
import shutil
import socket
import subprocess
import unittest

from harness import E2ETest, SMTPD
from test_config_corpus import build_etc, corpus, in_namespace

CONF = """\
listen on 127.0.0.1 port 25
listen on 127.0.0.1 port 587 tag SUBMIT
table trusted { 192.0.2.0/24, 2001:db8::/32 }
table domains { example.org, "*.example.net" }
action "local" maildir
action "relay" relay host smtp://198.51.100.25:2525
match from src <trusted> for any action "relay"
match from any for domain <domains> action "local"
match tag SUBMIT from any for any action "relay"
match !from local helo regex "^\\[" for any reject
match for local action "local"
"""


class RuleTesterTest(E2ETest):
    def setUp(self):
        super().setUp()
        self.conf = os.path.join(self.tmp, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF)

    def run_smtpd(self, *args):
        return subprocess.run([SMTPD, "-f", self.conf] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=20, cwd=self.tmp)

    def explain(self, description):
        r = self.run_smtpd("-n", "-T", description)
        self.assertEqual((r.returncode, r.stderr), (0, ""), r.stderr)
        return r.stdout

    def test_n_alone_is_unchanged(self):
        r = self.run_smtpd("-n")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))

    def test_n_v_prints_the_compiled_configuration(self):
        r = self.run_smtpd("-n", "-v")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, """\
configuration OK
hostname %s
settings: all defaults
listeners (2):
  listener 1 (line 1): 127.0.0.1 port 25
  listener 2 (line 2): 127.0.0.1 port 587 tag SUBMIT
tables (2):
  <trusted> (line 3): list, 2 entries: 192.0.2.0/24, 2001:db8::/32
  <domains> (line 4): list, 2 entries: example.org, *.example.net
actions (2):
  "local" (line 5): maildir ~/Maildir, ttl 4d
  "relay" (line 6): relay host smtp://198.51.100.25:2525, ttl 4d
rules (5), the first that matches decides:
  rule 1 (%s:7) -> action "relay"
    session: from src <trusted>
    RCPT:    for any
  rule 2 (%s:8) -> action "local"
    session: from any
    RCPT:    for domain <domains>
  rule 3 (%s:9) -> action "relay"
    session: tag SUBMIT, from any
    RCPT:    for any
  rule 4 (%s:10) -> reject
    session: !from local, helo regex "^\\["
    RCPT:    for any
  rule 5 (%s:11) -> action "local"
    session: from local (default)
    RCPT:    for local
no rule matches -> refused with 550 5.1.1 Invalid recipient: <the recipient>
""" % ((socket.gethostname(),) + (self.conf,) * 5))

    def test_relay_for_a_trusted_source(self):
        self.assertEqual(self.explain("from=192.0.2.7 helo=mx.example.org mail-from=a@example.org "
                                     "rcpt-to=b@example.com"), """\
session: from 192.0.2.7, helo mx.example.org, tls no, auth none (no auth= given), \
rdns none (no rdns= given), tag none
mail-from: <a@example.org>
rcpt-to b@example.com:
  rule 1 (%s:7) matches -> action "relay" (relay host smtp://198.51.100.25:2525)
""" % self.conf)

    def test_local_delivery_and_refused_relay_from_outside(self):
        self.assertEqual(self.explain("from=203.0.113.5 helo=mail.far.example mail-from=<> "
                                     "rcpt-to=u@mx.example.net rcpt-to=x@far.example"), """\
session: from 203.0.113.5, helo mail.far.example, tls no, auth none (no auth= given), \
rdns none (no rdns= given), tag none
mail-from: <>
rcpt-to u@mx.example.net:
  rule 1 ({0}:7) no match: from src <trusted>: 203.0.113.5 is not in table "trusted"
  rule 2 ({0}:8) matches -> action "local" (maildir ~/Maildir)
rcpt-to x@far.example:
  rule 1 ({0}:7) no match: from src <trusted>: 203.0.113.5 is not in table "trusted"
  rule 2 ({0}:8) no match: for domain <domains>: far.example is not in table "domains"
  rule 3 ({0}:9) no match: tag SUBMIT: the session has no tag
  rule 4 ({0}:10) no match: helo regex "^\\[": mail.far.example matches no pattern of \
{{ "^\\[" }}
  rule 5 ({0}:11) no match: from local (default): 203.0.113.5 is not local \
(loopback or the local socket)
  no rule matches -> refused with 550 5.1.1 Invalid recipient: <x@far.example>
""".format(self.conf))

    def test_regex_reject_and_negated_criterion(self):
        out = self.explain("from=203.0.113.5 helo=[203.0.113.5] mail-from=a@far.example "
                          "rcpt-to=x@far.example")
        self.assertEqual(out.splitlines()[-1],
                         "  rule 4 (%s:10) matches -> reject: refused with 550 5.7.1 Delivery "
                         "not authorized, message rejected" % self.conf)
        out = self.explain("from=127.0.0.1 helo=[127.0.0.1] mail-from=a@far.example "
                          "rcpt-to=x@far.example")
        self.assertEqual(out.splitlines()[-3:], [
            "  rule 4 (%s:10) no match: !from local: 127.0.0.1 is local" % self.conf,
            "  rule 5 (%s:11) no match: for local: far.example is neither localhost nor %s"
            % (self.conf, socket.gethostname()),
            "  no rule matches -> refused with 550 5.1.1 Invalid recipient: <x@far.example>",
        ])

    def test_tag_by_listener_port(self):
        self.assertEqual(self.explain("from=203.0.113.5 listener=587 mail-from=a@far.example "
                                     "rcpt-to=x@far.example"), """\
session: from 203.0.113.5, helo none, tls no, auth none (no auth= given), \
rdns none (no rdns= given), tag SUBMIT (listener 2)
mail-from: <a@far.example>
rcpt-to x@far.example:
  rule 1 ({0}:7) no match: from src <trusted>: 203.0.113.5 is not in table "trusted"
  rule 2 ({0}:8) no match: for domain <domains>: far.example is not in table "domains"
  rule 3 ({0}:9) matches -> action "relay" (relay host smtp://198.51.100.25:2525)
""".format(self.conf))

    def test_v_and_t_together(self):
        r = self.run_smtpd("-n", "-v", "-T", "from=192.0.2.7 mail-from=<> rcpt-to=b@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        dump, explanation = r.stdout.split("\n\n")
        self.assertTrue(dump.startswith("hostname "))
        self.assertTrue(explanation.startswith("session: from 192.0.2.7,"))

    def test_bad_description_exits_64(self):
        r = self.run_smtpd("-n", "-T", "from=192.0.2.7 mail-from=<> rcpt-to=b@example.com "
                                       "helo=x listner=587")
        self.assertEqual((r.returncode, r.stdout), (64, ""))
        self.assertEqual(r.stderr, 'smtpd: -T: unknown key "listner"; did you mean "listener"?\n')
        r = self.run_smtpd("-n", "-T", "from=192.0.2.7 mail-from=<> rcpt-to=b@example.com "
                                       "listener=2525")
        self.assertEqual((r.returncode, r.stdout), (64, ""))
        self.assertEqual(r.stderr, "smtpd: -T: listener=2525: no listener on port 2525\n")

    def test_bad_config_is_reported_as_by_n(self):
        with open(self.conf, "a") as f:
            f.write("match from any for any action \"nowhere\"\n")
        n = self.run_smtpd("-n")
        t = self.run_smtpd("-n", "-T", "from=192.0.2.7 mail-from=<> rcpt-to=b@example.com")
        self.assertEqual(n.returncode, 1)
        self.assertEqual((t.returncode, t.stdout, t.stderr), (n.returncode, n.stdout, n.stderr))
        self.assertIn("%s:12:" % self.conf, t.stderr)

    def test_usage_names_the_tester(self):
        r = subprocess.run([SMTPD, "-h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("smtpd -n [-v] [-T transaction]", r.stderr)
        self.assertIn("rcpt-to=b@example.com", r.stderr)


class CorpusDumpTest(E2ETest):
    """Every real configuration prints its compiled form with -n -v."""

    def test_every_real_config_dumps(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private mount namespace")
        if shutil.which("openssl") is None or not corpus():
            self.skipTest("needs openssl and the testdata")
        root = os.path.join(self.tmp, "etc-ok")
        build_etc(root)
        for conf in corpus():
            with self.subTest(conf=os.path.basename(conf)):
                if "linux" in conf and "eth0" in open(conf).read() and \
                        not os.path.exists("/sys/class/net/eth0"):
                    continue
                r = in_namespace(root, [SMTPD, "-n", "-v", "-f", conf], cwd=self.tmp)
                if r.returncode == 77:
                    self.skipTest("neither overlayfs nor /etc/mail to bind over")
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stdout.splitlines()
                self.assertEqual(lines[:2], ["configuration OK", "hostname " +
                                             socket.gethostname()])
                self.assertRegex(lines[-1], r"^(no rule matches -> refused with 550 5\.1\.1 |"
                                            r"every recipient -> deferred with 451 4\.3\.0 )")
                rules = [l for l in lines if l.startswith("  rule ")]
                self.assertEqual(len(rules), sum(
                    1 for l in open(conf) if l.lstrip().startswith("match ")), r.stdout)


if __name__ == "__main__":
    unittest.main()
