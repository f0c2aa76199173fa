"""test/e2e/test_filter_proc.py - filter processes speaking OpenSMTPD's
filter protocol (smtpd-filters(7)), written here in a few lines of Python:
one that rejects a MAIL FROM domain, one that records the report events it
registered for (their names and session ids checked against the log), one
that exits on a given sender (the session gets 451, the process is started
again and the next session passes), and one that never answers (451 after
the timeout, RINGMTA_FILTER_TIMEOUT_S), one that records its connect
requests (an IPv6 source in brackets); protocol-client and
protocol-server lines; on a TLS listener with AUTH, the link-tls and
link-auth reports (and no password in any report); a process refusing
the auth phase, then letting it pass (the user forgotten after the refusal,
each AUTH's credentials checked once). smtpd runs on one CPU (one shard,
so one instance of each process). Nothing leaves loopback."""
import base64
import os
import re
import smtplib
import sys

from harness import E2ETest, free_port, maildir_messages, wait_for

FILTER = r'''
import os, sys
mode = sys.argv[1]
def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
for line in sys.stdin:
    if line.strip() == "config|ready":
        break
if mode == "report":
    out("register|report|smtp-in|*")
elif mode == "authrej":
    out("register|filter|smtp-in|auth")
elif mode == "connect":
    out("register|filter|smtp-in|connect")
else:
    out("register|filter|smtp-in|mail-from")
out("register|ready")
log = open(sys.argv[2], "a", buffering=1) if mode in ("report", "connect") else None
refused = False
for line in sys.stdin:
    f = line.rstrip("\n").split("|")
    if f[0] == "report" and log is not None:
        log.write("%s %s %s\n" % (f[4], f[5], "|".join(f[6:])))
        continue
    if f[0] != "filter":
        continue
    sid, token, addr = f[5], f[6], "|".join(f[7:])
    if mode == "reject" and addr.endswith("@spam.example"):
        out("filter-result|%s|%s|reject|550 5.7.1 No spam here" % (sid, token))
    elif mode == "die" and addr.startswith("die@"):
        os._exit(3)
    elif mode == "silent":
        continue
    elif mode == "connect":
        log.write("|".join(f[7:]) + "\n")
        out("filter-result|%s|%s|proceed" % (sid, token))
    elif mode == "authrej" and not refused:   # the first is refused, the rest pass
        refused = True
        out("filter-result|%s|%s|reject|535 5.7.8 Not today" % (sid, token))
    else:
        out("filter-result|%s|%s|proceed" % (sid, token))
'''

CONF = """
filter rej proc-exec "{py} {tmp}/f.py reject" user "{user}"
proc watcher "{py} {tmp}/f.py report {tmp}/reports" user "{user}"
filter rep proc watcher
filter die proc-exec "{py} {tmp}/f.py die" user "{user}"
filter mute proc-exec "{py} {tmp}/f.py silent" user "{user}"
filter conn proc-exec "{py} {tmp}/f.py connect {tmp}/connects" user "{user}"
listen on 127.0.0.1 port {port} filter {{ rej, rep }}
listen on 127.0.0.1 port {port_die} filter die
listen on 127.0.0.1 port {port_mute} filter mute
listen on 127.0.0.1 port {port_conn} proxy-v2 filter conn
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class FilterProcesses(E2ETest):

    def setUp(self):
        super().setUp()
        self.write("f.py", FILTER)
        self.port, self.port_die, self.port_mute = free_port(), free_port(), free_port()
        self.port_conn = free_port()
        env = dict(os.environ, RINGMTA_FILTER_TIMEOUT_S="2")
        self.d = self.smtpd(CONF.format(py=sys.executable, tmp=self.tmp, user=self.user(),
                                        port=self.port, port_die=self.port_die,
                                        port_mute=self.port_mute, port_conn=self.port_conn),
                            wait_port=self.port, wrapper=("taskset", "-c", "0"), env=env)

    def session(self, port):
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example")
        return s

    def reports(self):
        path = os.path.join(self.tmp, "reports")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split(" ", 2) for line in f.read().splitlines()]

    def test_reject_by_sender_domain(self):
        s = self.session(self.port)
        self.assertEqual(s.mail("x@spam.example"), (550, b"5.7.1 No spam here"))
        self.assertEqual(s.mail("x@ham.example")[0], 250)
        self.assertEqual(s.rcpt("bob@local.test")[0], 250)
        self.assertEqual(s.data(b"Subject: hi\r\n\r\nhello\r\n")[0], 250)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "bob")),
                 what="the message delivered")
        self.assertIn("filter=rej phase=mail-from action=reject", self.d.log())

    def test_reports_name_events_and_session(self):
        s = self.session(self.port)
        s.mail("a@ham.example")
        s.rcpt("bob@local.test")
        s.data(b"Subject: r\r\n\r\nbody\r\n")
        s.quit()
        sid = re.search(r"([0-9a-f]{16}) smtp connected", self.d.log()).group(1)
        want = ["link-connect", "link-greeting", "link-identify", "tx-begin", "tx-mail",
                "tx-rcpt", "tx-data", "tx-envelope", "tx-commit", "tx-reset", "link-disconnect"]
        events = lambda: [r[0] for r in self.reports() if not r[0].startswith("protocol-")]
        wait_for(lambda: events() == want, what="the reports")
        rep = {r[0]: r for r in self.reports()}
        self.assertTrue(all(r[1] == sid for r in self.reports()), self.reports())
        # protocol-client and protocol-server: every command and reply line, in
        # order, as sent (smtplib writes its verbs in lower case)
        proto = [(r[0], r[2]) for r in self.reports() if r[0].startswith("protocol-")]
        self.assertEqual(proto[:3], [("protocol-server", proto[0][1]),
                                     ("protocol-client", "ehlo client.example"),
                                     ("protocol-server", proto[2][1])], proto[:3])
        self.assertTrue(proto[0][1].startswith("220 "), proto[0])
        self.assertIn(("protocol-client", "mail FROM:<a@ham.example>"), proto)
        self.assertIn(("protocol-client", "."), proto)
        self.assertIn(("protocol-client", "quit"), proto)
        self.assertTrue(proto[-1][0] == "protocol-server" and proto[-1][1].startswith("221 "),
                        proto[-1])
        self.assertEqual(rep["link-identify"][2], "EHLO|client.example")
        self.assertRegex(rep["tx-mail"][2], r"^[0-9a-f]{8}\|ok\|a@ham\.example$")
        self.assertRegex(rep["tx-rcpt"][2], r"^[0-9a-f]{8}\|ok\|bob@local\.test$")
        txid = rep["tx-begin"][2]
        self.assertRegex(rep["tx-envelope"][2], r"^%s\|[0-9a-f]{16}$" % txid)
        self.assertIn("evpid=%s " % rep["tx-envelope"][2].split("|")[1], self.d.log())
        self.assertEqual(rep["tx-reset"][2], txid)
        self.assertTrue(rep["link-connect"][2].endswith("|127.0.0.1:%d" % self.port))

    def test_dead_filter_tempfails_then_restarts(self):
        s = self.session(self.port_die)
        self.assertEqual(s.mail("die@example.org")[0], 451)
        wait_for(lambda: "filter die: exited" in self.d.log(), what="the death noticed")
        wait_for(lambda: self.d.log().count("filter die: ready") >= 2, timeout=15,
                 what="the filter started again")
        s = self.session(self.port_die)
        self.assertEqual(s.mail("live@example.org")[0], 250)

    def test_connect_request_names_the_source(self):
        from test_proxy import ProxiedSMTP, v1
        for src in ("192.0.2.7", "2001:db8::7"):
            dst = "::1" if ":" in src else "127.0.0.1"
            with ProxiedSMTP(v1(src, dst=dst), "127.0.0.1", self.port_conn, timeout=30) as s:
                self.assertEqual(s.noop()[0], 250)
        path = os.path.join(self.tmp, "connects")
        wait_for(lambda: os.path.exists(path) and len(open(path).read().splitlines()) == 2,
                 what="two connect requests")
        # 0.7: rdns (none looked up here), then the source, IPv6 in brackets
        self.assertEqual(open(path).read().splitlines(), ["|192.0.2.7", "|[2001:db8::7]"])

    def test_silent_filter_times_out_with_451(self):
        s = self.session(self.port_mute)
        code, text = s.mail("a@example.org")
        self.assertEqual(code, 451)
        self.assertTrue(text.startswith(b"4.7.0"), text)
        self.assertIn("filter mute: no answer for session", self.d.log())
        s2 = self.session(self.port)
        self.assertEqual(s2.mail("x@ham.example")[0], 250, "other sessions carry on")


TLS_CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
table creds file:{tmp}/creds
proc watcher "{py} {tmp}/f.py report {tmp}/reports" user "{user}"
filter rep proc watcher
filter noauth proc-exec "{py} {tmp}/f.py authrej" user "{user}"
listen on 127.0.0.1 port {port} tls pki mail.test auth-optional <creds> filter rep
listen on 127.0.0.1 port {port_auth} auth <creds> filter noauth
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class FilterReportsTlsAuth(E2ETest):
    """link-tls and link-auth, worded as smtpd-filters(7) 0.7 words them."""

    def setUp(self):
        super().setUp()
        import ssl
        from test_auth import crypt
        from test_tls import make_certs
        make_certs(self.tmp)
        self.write("f.py", FILTER)
        self.write("creds", "alice %s\n" % crypt("alice-secret", "$6$saltsalt"))
        self.port, self.port_auth = free_port(), free_port()
        self.d = self.smtpd(TLS_CONF.format(py=sys.executable, tmp=self.tmp, user=self.user(),
                                            port=self.port, port_auth=self.port_auth),
                            wait_port=self.port, wrapper=("taskset", "-c", "0"))
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        self.ctx.check_hostname = False

    def reports(self):
        path = os.path.join(self.tmp, "reports")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split(" ", 2) for line in f.read().splitlines()]

    def test_link_tls_and_link_auth(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example")
        s.starttls(context=self.ctx)
        s.ehlo("client.example")
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            s.login("alice", "wrong")
        s.login("alice", "alice-secret")
        s.quit()
        wait_for(lambda: "link-disconnect" in [r[0] for r in self.reports()],
                 what="the reports")
        rep = [r for r in self.reports() if r[0] in ("link-tls", "link-auth")]
        secret = [r for r in self.reports() if "alice-secret" in r[2] or "wrong" in r[2]]
        self.assertEqual(secret, [], "passwords never reach a filter")
        sid = re.search(r"([0-9a-f]{16}) smtp connected", self.d.log()).group(1)
        # smtplib tries each mechanism offered with the wrong password
        self.assertEqual([r[0] for r in rep], ["link-tls"] + ["link-auth"] * (len(rep) - 1),
                         rep)
        self.assertGreaterEqual(len(rep), 3, rep)
        self.assertTrue(all(r[1] == sid for r in rep), rep)
        self.assertRegex(rep[0][2], r"^TLSv1\.[23]:[A-Z0-9_-]+:\d+$")
        self.assertEqual({r[2] for r in rep[1:-1]}, {"fail|alice"})
        self.assertEqual(rep[-1][2], "pass|alice")


    def test_auth_phase_refusal_then_pass(self):
        plain = "PLAIN " + base64.b64encode(b"\0alice\0alice-secret").decode()
        s = smtplib.SMTP("127.0.0.1", self.port_auth, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example")
        self.assertEqual(s.docmd("AUTH", plain), (535, b"5.7.8 Not today"))
        self.assertEqual(s.docmd("MAIL", "FROM:<a@example.org>")[0], 530,
                         "not authenticated after the refusal")
        self.assertEqual(s.docmd("AUTH", plain)[0], 235, "the process lets the next one pass")
        self.assertEqual(s.docmd("MAIL", "FROM:<a@example.org>")[0], 250)
        self.assertEqual(self.d.log().count("smtp authentication user=alice result=ok"), 2,
                         "each AUTH's credentials checked once")


if __name__ == "__main__":
    import unittest
    unittest.main()
