"""test/e2e/test_geoip.py - `geoip` databases and `match from country` /
`from asn` on a running smtpd, with MaxMind's test databases
(shared/testdata/geoip): public source addresses come in PROXY v1 and v2
headers on a `proxy-v2` listener (every connection is to 127.0.0.1), and
the rules accept or refuse by the header's country (250 or 550) or AS
number; the connect log line and Received: carry country= (and asn=);
`smtpctl show stats` counts sessions by country; `smtpctl update geoip`
and SIGHUP read the files again, keeping the loaded databases when a file
is corrupt; a missing or corrupt database refuses the start (and
`smtpd -n`), naming the file; builtin filters matching `country` and
`asn`."""
import os
import re
import shutil
import signal
import smtplib
import subprocess

from harness import BUILD, E2ETest, free_port, maildir_messages, wait_for
from test_proxy import ProxiedSMTP, v1, v2

TESTDATA = "/work/shared/testdata/geoip"
COUNTRY_DB = os.path.join(TESTDATA, "GeoIP2-Country-Test.mmdb")
ASN_DB = os.path.join(TESTDATA, "GeoLite2-ASN-Test.mmdb")
CORRUPT_DB = os.path.join(TESTDATA, "GeoIP2-City-Test-Invalid-Node-Count.mmdb")

CONF = """
geoip "{tmp}/country.mmdb"
geoip asn "{tmp}/asn.mmdb"
listen on 127.0.0.1 port {port} proxy-v2
queue path "{tmp}/spool"
table allowed {{ GB, SE }}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from asn {{ 1221 }} for local action "local"
match !from country <allowed> for any reject
match from any for local action "local"
"""

GB, SE, US, JP = "81.2.69.160", "89.160.20.112", "216.160.83.56", "2001:218::1"
NOWHERE_AS1221 = "1.128.0.0"     # no country in the test database, AS 1221


class GeoipRules(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.path.exists(COUNTRY_DB):
            self.skipTest("no GeoIP test databases in %s" % TESTDATA)
        self.install(COUNTRY_DB, "country.mmdb")
        self.install(ASN_DB, "asn.mmdb")
        self.port = free_port()
        self.d = self.smtpd(CONF.format(tmp=self.tmp, port=self.port, user=self.user()),
                            wait_port=self.port)

    def install(self, src, name):
        """Put src in place as name the way geoipupdate does: a rename."""
        dst = os.path.join(self.tmp, name)
        shutil.copyfile(src, dst + ".new")
        os.chmod(dst + ".new", 0o644)
        os.rename(dst + ".new", dst)

    def rcpt(self, header, box="u"):
        """The RCPT TO answer for a client the header names."""
        with ProxiedSMTP(header, "127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.mail("a@example.org")[0], 250)
            code = s.rcpt("%s@localhost" % box)[0]
            if code == 250:
                self.assertEqual(s.data("Subject: geo\r\n\r\nhello\r\n")[0], 250)
            return code

    def delivered(self, box):
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", box)),
                        what="delivery to %s" % box)
        return msgs[0].decode()

    def test_country_decides_through_v1_and_v2(self):
        self.assertEqual(self.rcpt(v1(GB), "gb"), 250)
        self.assertEqual(self.rcpt(v2(SE), "se"), 250)
        self.assertEqual(self.rcpt(v1(US)), 550)
        self.assertEqual(self.rcpt(v2(JP, dst="::1")), 550)
        self.assertEqual(self.rcpt(v2("1.1.1.1")), 550)   # no country: not an allowed one
        log = self.d.log()
        self.assertRegex(log, r"smtp connected address=%s host=%s country=GB asn=none proxy=v1"
                         % (re.escape(GB), re.escape(GB)))
        self.assertRegex(log, r"address=%s .*country=SE asn=29518 proxy=v2" % re.escape(SE))
        self.assertRegex(log, r"address=%s .*country=JP asn=none proxy=v2" % re.escape(JP))
        self.assertRegex(log, r"address=1\.1\.1\.1 .*country=none asn=none proxy=v2")
        self.assertIn("(%s line 9)" % self.d.conf, log)       # the reject line decided
        self.assertIn("(%s [%s] country=GB)" % (GB, GB), self.delivered("gb"))
        self.assertIn("(%s [%s] country=SE asn=29518)" % (SE, SE), self.delivered("se"))

    def test_asn_decides_before_country(self):
        self.assertEqual(self.rcpt(v2(NOWHERE_AS1221), "as"), 250)
        self.assertIn("[%s] asn=1221)" % NOWHERE_AS1221, self.delivered("as"))

    def test_stats_count_sessions_by_country(self):
        for header in (v1(GB), v2(GB), v1(US), v2("1.1.1.1")):
            self.rcpt(header, "gb")
        out = self.smtpctl("show", "stats").stdout
        self.assertIn("smtp.session.country.GB=2\n", out)
        self.assertIn("smtp.session.country.US=1\n", out)
        self.assertIn("smtp.session.country.none=1\n", out)
        self.assertNotIn("smtp.session.country.SE", out)

    def test_update_geoip_reads_again_and_keeps_the_old_on_a_corrupt_file(self):
        self.install(COUNTRY_DB, "country.mmdb")
        self.assertEqual(self.smtpctl("update", "geoip").stdout, "command succeeded\n")
        self.assertIn("control: geoip databases read again by uid %d" % os.geteuid(),
                      self.d.log())
        self.assertEqual(self.rcpt(v1(GB), "gb"), 250)
        self.install(CORRUPT_DB, "country.mmdb")
        r = self.smtpctl("update", "geoip", want_rc=1)
        path = os.path.join(self.tmp, "country.mmdb")
        self.assertIn("geoip country database %s: not a usable MaxMind DB file" % path,
                      r.stderr + r.stdout)
        self.assertIn("update geoip refused, keeping the databases loaded before", self.d.log())
        # the databases loaded before still answer
        self.assertEqual(self.rcpt(v2(SE), "se"), 250)
        self.assertEqual(self.rcpt(v2(US)), 550)

    def test_reload_with_a_corrupt_file_keeps_the_old(self):
        self.install(CORRUPT_DB, "asn.mmdb")
        self.d.signal(signal.SIGHUP)
        wait_for(lambda: "keeping the geoip databases loaded before" in self.d.log(),
                 what="reload refusing the database")
        self.assertIn("geoip asn database %s: not a usable MaxMind DB file"
                      % os.path.join(self.tmp, "asn.mmdb"), self.d.log())
        self.assertEqual(self.rcpt(v2(NOWHERE_AS1221), "as"), 250)
        self.assertEqual(self.rcpt(v1(US)), 550)


class GeoipStart(E2ETest):

    def start_refused(self, country, asn=ASN_DB):
        port = free_port()
        conf = self.write("smtpd.conf", CONF.format(tmp=self.tmp, port=port, user=self.user())
                          .replace("%s/country.mmdb" % self.tmp, country)
                          .replace("%s/asn.mmdb" % self.tmp, asn))
        r = subprocess.run([os.path.join(BUILD, "smtpd"), "-d", "-f", conf], cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("smtpd: ready", r.stdout)
        return r.stdout

    def test_missing_database_refuses_the_start(self):
        missing = os.path.join(self.tmp, "nowhere.mmdb")
        out = self.start_refused(missing)
        self.assertIn("geoip country database %s: No such file or directory" % missing, out)

    def test_check_only_opens_the_databases(self):
        missing = os.path.join(self.tmp, "nowhere.mmdb")
        conf = self.write("smtpd.conf", CONF.format(tmp=self.tmp, port=free_port(),
                                                    user=self.user())
                          .replace("%s/country.mmdb" % self.tmp, missing)
                          .replace("%s/asn.mmdb" % self.tmp, ASN_DB))
        r = subprocess.run([os.path.join(BUILD, "smtpd"), "-n", "-f", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s: geoip country database %s: No such file or directory"
                      % (conf, missing), r.stderr)
        self.assertNotIn("configuration OK", r.stdout)
        self.write("smtpd.conf", CONF.format(tmp=self.tmp, port=free_port(), user=self.user())
                   .replace("%s/country.mmdb" % self.tmp, COUNTRY_DB)
                   .replace("%s/asn.mmdb" % self.tmp, ASN_DB))
        r = subprocess.run([os.path.join(BUILD, "smtpd"), "-n", "-f", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"), r.stderr)

    def test_corrupt_database_refuses_the_start(self):
        out = self.start_refused(COUNTRY_DB, CORRUPT_DB)
        self.assertIn("geoip asn database %s: not a usable MaxMind DB file" % CORRUPT_DB, out)


FILTER_CONF = """
geoip "{country}"
geoip asn "{asn}"
filter far phase connect match country {{ US }} disconnect "554 5.7.1 Not from there"
filter net phase mail-from match asn {{ 1221 }} junk
filter home phase rcpt-to match !country {{ GB, SE }} reject "550 5.7.1 Only GB and SE"
listen on 127.0.0.1 port {port} proxy-v2 filter {{ far, net, home }}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" junk user "{user}"
match from any for any action "local"
"""


class GeoipFilters(E2ETest):
    """Builtin filters on the session's country and AS number: a country
    disconnected at connect, an AS junked at mail-from, `!country` refusing
    recipients of any other (or no) country, through PROXY v1 and v2."""

    def setUp(self):
        super().setUp()
        if not os.path.exists(COUNTRY_DB):
            self.skipTest("no GeoIP test databases in %s" % TESTDATA)
        self.port = free_port()
        self.d = self.smtpd(FILTER_CONF.format(country=COUNTRY_DB, asn=ASN_DB, tmp=self.tmp,
                                               port=self.port, user=self.user()),
                            wait_port=self.port)

    def session(self, header):
        s = ProxiedSMTP(header, "127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        return s

    def test_country_disconnected_at_connect(self):
        import socket
        from test_proxy import reply_line
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        self.addCleanup(sock.close)
        sock.sendall(v2(US))
        self.assertEqual(reply_line(sock), "554 5.7.1 Not from there")
        self.assertEqual(sock.recv(100), b"", "closed after the refusal")

    def test_other_country_refused_at_rcpt(self):
        s = self.session(v1(JP, dst="::1"))
        s.ehlo("client.test")
        self.assertEqual(s.mail("a@example.org")[0], 250)
        self.assertEqual(s.rcpt("u@localhost"), (550, b"5.7.1 Only GB and SE"))
        s = self.session(v2(SE))
        s.ehlo("client.test")
        s.sendmail("a@example.org", ["se@localhost"], "Subject: se\r\n\r\nhej\r\n")
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "se")),
                        what="delivery from SE")
        self.assertNotIn(b"X-Spam", msgs[0])

    def test_asn_junked_and_no_country_refused(self):
        s = self.session(v1(NOWHERE_AS1221))   # AS 1221, no country: "!country" refuses
        s.ehlo("client.test")
        self.assertEqual(s.mail("a@example.org")[0], 250)
        self.assertEqual(s.rcpt("u@localhost")[0], 550)
        self.assertIn("filter=net phase=mail-from action=junk", self.d.log())
