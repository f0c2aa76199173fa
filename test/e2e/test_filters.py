"""test/e2e/test_filters.py - OpenSMTPD's builtin filters in real SMTP
sessions: reject at helo, ehlo, mail-from, rcpt-to, data and commit with
the configured reply seen by smtplib; disconnect at ehlo and at connect
(a public source presented by a PROXY header); junk filing the message in
.Junk of a `maildir junk` action; bypass skipping the rest of the chain;
report in the log; rewrite of a recipient. rdns and fcrdns against
dnsmasq on loopback (RINGMTA_RESOLVERS): a name, a name that does not
resolve back, none, and a server failure answered 451; the name in a
filter process's link-connect report. dnsbl against a
test zone dnsmasq serves: a listed source disconnected at connect, a
clean one passing, one listed in another zone junked at mail-from, a
server failure answered 451, and a listing answered from the cache once
the DNS server is gone. Nothing leaves loopback."""
import os
import smtplib
import sys

from harness import E2ETest, free_port, maildir_messages, tool, wait_for
from test_filter_proc import FILTER as REPORT_FILTER
from test_mx import DnsMasq
from test_proxy import ProxiedSMTP, reply_line, v1

CONF = """
filter helo_bad phase helo match helo regex "^bad" reject "550 5.7.1 Bad HELO"
filter ehlo_bad phase ehlo match helo regex "^bad" reject "550 5.7.1 Bad EHLO"
filter ehlo_bye phase ehlo match helo "bye.example" disconnect "421 4.7.0 Go away"
filter mail_spam phase mail-from match mail-from regex "@spam[.]example$" \\
    reject "553 5.7.1 Sender refused"
filter mail_vip phase mail-from match mail-from "boss@example.org" bypass
filter mail_junk phase mail-from match mail-from "@example.org" junk
filter rcpt_no phase rcpt-to match rcpt-to regex "^nobody@" reject "550 5.1.1 No such user here"
filter rcpt_rw phase rcpt-to match rcpt-to "alias@local.test" rewrite "<real@local.test>"
filter rcpt_rep phase rcpt-to match rcpt-to regex "^watched@" report "watched recipient"
filter data_slow phase data match helo "slow.example" reject "451 4.7.1 Try again later"
filter commit_no phase commit match helo "commit.example" reject "554 5.7.1 Message refused"
filter conn_bad phase connect match src "192.0.2.0/24" disconnect "554 5.7.1 No service for you"
filter main chain {{ helo_bad, ehlo_bad, ehlo_bye, mail_spam, mail_vip, mail_junk, rcpt_no, \\
    rcpt_rw, rcpt_rep, data_slow, commit_no }}
listen on 127.0.0.1 port {port} filter main
listen on 127.0.0.1 port {proxied} proxy-v2 filter conn_bad
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" junk user "{user}"
match from any for any action "local"
"""


class BuiltinFilters(E2ETest):

    def setUp(self):
        super().setUp()
        self.port, self.proxied = free_port(), free_port()
        self.d = self.smtpd(CONF.format(port=self.port, proxied=self.proxied, tmp=self.tmp,
                                        user=self.user()), wait_port=self.port)

    def session(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        return s

    def box(self, user):
        return os.path.join(self.tmp, "mail", user)

    def test_reject_at_helo_and_ehlo_leaves_the_client_ungreeted(self):
        s = self.session()
        self.assertEqual(s.helo("bad.example"), (550, b"5.7.1 Bad HELO"))
        self.assertEqual(s.docmd("MAIL FROM:<a@b.example>")[0], 503)
        self.assertEqual(s.ehlo("bad.example"), (550, b"5.7.1 Bad EHLO"))
        self.assertEqual(s.ehlo("good.example")[0], 250)
        self.assertEqual(s.mail("a@b.example")[0], 250)

    def test_disconnect_at_ehlo_closes(self):
        s = self.session()
        self.assertEqual(s.ehlo("bye.example"), (421, b"4.7.0 Go away"))
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.noop()
        wait_for(lambda: "filter=ehlo_bye phase=ehlo action=disconnect" in self.d.log(),
                 what="the disconnect logged")

    def test_reject_at_mail_from_and_rcpt_to(self):
        s = self.session()
        s.ehlo("client.example")
        self.assertEqual(s.mail("x@spam.example"), (553, b"5.7.1 Sender refused"))
        self.assertEqual(s.mail("x@ham.example")[0], 250)
        self.assertEqual(s.rcpt("nobody@local.test"), (550, b"5.1.1 No such user here"))
        self.assertEqual(s.rcpt("someone@local.test")[0], 250)

    def test_junk_goes_to_dot_junk_and_bypass_skips_it(self):
        with self.session() as s:
            s.ehlo("client.example")
            s.sendmail("x@example.org", ["spammed@local.test"], "Subject: j\r\n\r\njunk\r\n")
            s.sendmail("boss@example.org", ["spammed@local.test"], "Subject: b\r\n\r\nboss\r\n")
            s.sendmail("x@ham.example", ["spammed@local.test"], "Subject: h\r\n\r\nham\r\n")
        box = self.box("spammed")
        junk = wait_for(lambda: maildir_messages(os.path.join(box, ".Junk")),
                        what="the junk message")
        inbox = wait_for(lambda: len(maildir_messages(box)) == 2 and maildir_messages(box),
                         what="two messages in the inbox")
        self.assertEqual(len(junk), 1)
        self.assertIn(b"X-Spam: yes", junk[0])
        self.assertIn(b"Subject: j", junk[0])
        self.assertFalse(any(b"X-Spam" in m for m in inbox))

    def test_report_logs_and_the_recipient_is_accepted(self):
        s = self.session()
        s.ehlo("client.example")
        s.mail("x@ham.example")
        self.assertEqual(s.rcpt("watched@local.test")[0], 250)
        wait_for(lambda: 'smtp filter-report filter=rcpt_rep phase=rcpt-to '
                         'message="watched recipient"' in self.d.log(), what="the report line")

    def test_rewrite_changes_the_recipient(self):
        with self.session() as s:
            s.ehlo("client.example")
            s.sendmail("x@ham.example", ["alias@local.test"], "Subject: rw\r\n\r\nhi\r\n")
        msgs = wait_for(lambda: maildir_messages(self.box("real")), what="delivery to real")
        self.assertIn(b"Subject: rw", msgs[0])
        self.assertFalse(os.path.exists(self.box("alias")))

    def test_reject_at_data_and_at_commit(self):
        s = self.session()
        s.ehlo("slow.example")
        s.mail("x@ham.example")
        s.rcpt("u@local.test")
        self.assertEqual(s.docmd("DATA"), (451, b"4.7.1 Try again later"))
        s = self.session()
        s.ehlo("commit.example")
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail("x@ham.example", ["late@local.test"], "Subject: c\r\n\r\nno\r\n")
        self.assertEqual((e.exception.smtp_code, e.exception.smtp_error),
                         (554, b"5.7.1 Message refused"))
        self.assertEqual(s.noop()[0], 250, "the session goes on after a reject")
        self.assertFalse(os.path.exists(self.box("late")))

    def test_disconnect_at_connect_replaces_the_banner(self):
        import socket
        sock = socket.create_connection(("127.0.0.1", self.proxied), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(v1("192.0.2.5"))
        self.assertEqual(reply_line(sock), "554 5.7.1 No service for you")
        self.assertEqual(sock.recv(100), b"", "closed after the refusal")
        with ProxiedSMTP(v1("198.51.100.5"), "127.0.0.1", self.proxied, timeout=30) as s:
            self.assertEqual(s.noop()[0], 250)


RDNS_CONF = """
filter no_rdns phase connect match !rdns disconnect "550 5.7.1 No rDNS"
filter no_fcrdns phase mail-from match !fcrdns reject "550 5.7.1 No FCrDNS"
proc watcher "{py} {tmp}/f.py report {tmp}/reports" user "{user}"
filter rep proc watcher
listen on 127.0.0.1 port {port} proxy-v2 filter {{ no_rdns, no_fcrdns }}
listen on 127.0.0.1 port {port_rep} proxy-v2 filter {{ rep, no_fcrdns }}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class ReverseDns(E2ETest):
    """The PROXY header's source is looked up in dnsmasq's records."""

    def setUp(self):
        super().setUp()
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        self.dns_port, dead = free_port(), free_port()
        dns = DnsMasq(self.dns_port, [
            "--local=/rdns.test/", "--local=/113.0.203.in-addr.arpa/",
            "--ptr-record=10.113.0.203.in-addr.arpa,good.rdns.test",
            "--host-record=good.rdns.test,203.0.113.10",
            "--ptr-record=11.113.0.203.in-addr.arpa,liar.rdns.test",
            "--host-record=liar.rdns.test,203.0.113.99",
            # a server that answers nothing: dnsmasq says SERVFAIL/REFUSED
            "--server=/13.113.0.203.in-addr.arpa/127.0.0.1#%d" % dead])
        self.cleanups.append(dns.stop)
        self.port, self.port_rep = free_port(), free_port()
        self.write("f.py", REPORT_FILTER)
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(RDNS_CONF.format(port=self.port, port_rep=self.port_rep,
                                             tmp=self.tmp, user=self.user(),
                                             py=sys.executable),
                            wait_port=self.port, env=env)

    def first_line(self, src):
        import socket
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        self.addCleanup(sock.close)
        sock.sendall(v1(src))
        return reply_line(sock)

    def session(self, src):
        s = ProxiedSMTP(v1(src), "127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        self.assertEqual(s.ehlo("client.example")[0], 250)
        return s

    def test_confirmed_name_passes(self):
        self.assertEqual(self.session("203.0.113.10").mail("a@example.org")[0], 250)
        wait_for(lambda: "smtp rdns name=good.rdns.test fcrdns=pass" in self.d.log(),
                 what="the lookup logged")

    def test_name_that_does_not_resolve_back_fails_fcrdns(self):
        s = self.session("203.0.113.11")
        self.assertEqual(s.mail("a@example.org"), (550, b"5.7.1 No FCrDNS"))

    def test_no_name_is_refused_at_connect(self):
        self.assertEqual(self.first_line("203.0.113.12"), "550 5.7.1 No rDNS")

    def test_server_failure_is_a_temporary_refusal(self):
        self.assertEqual(self.first_line("203.0.113.13"),
                         "451 4.3.0 Temporary failure, try again later")

    def test_link_connect_carries_the_looked_up_name(self):
        with ProxiedSMTP(v1("203.0.113.10"), "127.0.0.1", self.port_rep, timeout=30) as s:
            self.assertEqual(s.ehlo("client.example")[0], 250)
        path = os.path.join(self.tmp, "reports")
        line = wait_for(lambda: os.path.exists(path) and
                        [l for l in open(path).read().splitlines()
                         if l.startswith("link-connect ")], what="the link-connect report")[0]
        self.assertIn(" good.rdns.test|pass|203.0.113.10:40000|", line)


DNSBL_CONF = """
filter bl phase connect match dnsbl "bl.test" disconnect "554 5.7.1 Listed at bl.test"
filter soft phase mail-from match dnsbl "junk.test" junk
listen on 127.0.0.1 port {port} proxy-v2 filter {{ bl, soft }}
listen on 127.0.0.1 port {port_bl} proxy-v2 filter bl
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class Dnsbl(E2ETest):
    """dnsbl ZONE: the PROXY header's source reversed under a zone dnsmasq
    serves (203.0.113.10 listed in bl.test, .12 in junk.test only, .13 a
    server failure)."""

    def setUp(self):
        super().setUp()
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        self.dns_port, dead = free_port(), free_port()
        self.dns = DnsMasq(self.dns_port, [
            "--host-record=10.113.0.203.bl.test,127.0.0.2,600",
            "--host-record=12.113.0.203.junk.test,127.0.0.4,600",
            "--server=/13.113.0.203.bl.test/127.0.0.1#%d" % dead])
        self.cleanups.append(lambda: self.dns.proc.poll() is None and self.dns.stop())
        self.port, self.port_bl = free_port(), free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(DNSBL_CONF.format(port=self.port, port_bl=self.port_bl,
                                              tmp=self.tmp, user=self.user()),
                            wait_port=self.port, env=env,
                            wrapper=("taskset", "-c", "0"))   # one shard, one cache

    def first_line(self, port, src):
        import socket
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.addCleanup(sock.close)
        sock.sendall(v1(src))
        return reply_line(sock)

    def test_listed_source_is_disconnected_at_connect(self):
        self.assertEqual(self.first_line(self.port, "203.0.113.10"),
                         "554 5.7.1 Listed at bl.test")
        self.assertIn("smtp dnsbl zone=bl.test result=listed", self.d.log())

    def test_clean_source_passes_and_other_zone_junks(self):
        with ProxiedSMTP(v1("203.0.113.12"), "127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.sendmail("a@example.org", ["kim@local.test"], "Subject: j\r\n\r\nhi\r\n")
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "kim")),
                        what="the delivery")
        self.assertIn(b"X-Spam: yes", msgs[0])
        with ProxiedSMTP(v1("203.0.113.14"), "127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.sendmail("a@example.org", ["lee@local.test"], "Subject: c\r\n\r\nhi\r\n")
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "lee")),
                        what="the delivery")
        self.assertNotIn(b"X-Spam", msgs[0])

    def test_server_failure_is_a_temporary_refusal(self):
        self.assertEqual(self.first_line(self.port_bl, "203.0.113.13"),
                         "451 4.3.0 Temporary failure, try again later")
        self.assertIn("smtp dnsbl zone=bl.test result=tempfail", self.d.log())

    def test_listing_answered_from_the_cache(self):
        self.assertEqual(self.first_line(self.port_bl, "203.0.113.10"),
                         "554 5.7.1 Listed at bl.test")
        self.dns.stop()
        self.assertEqual(self.first_line(self.port_bl, "203.0.113.10"),
                         "554 5.7.1 Listed at bl.test")
        self.assertEqual(self.d.log().count("smtp dnsbl zone=bl.test result=listed"), 1,
                         "one query: the second answer came from the cache")

