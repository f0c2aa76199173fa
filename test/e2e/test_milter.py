"""test/e2e/test_milter.py - milters behind ringmta, as behind Postfix.

Milters: build/test/milter_test (test/milter/milter_test.c, built with
Debian's libmilter; what it does is chosen by the client's address, HELO
name, sender and recipient) for a refusal at each step, tempfail, reply
codes, header and body changes, recipients added and removed, discard and
quarantine; a milter that is down (its default action: tempfail, accept,
reject) and one that never answers (its timeout, then its default); and
Debian's opendkim signing outbound mail with a key the test made, the
signature checked by dkimpy with that public key (no DNS). Mail is
checked where it was delivered (maildir, or Postfix's smtp-sink as the
relay peer). Nothing leaves loopback.
"""
import os
import re
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import BUILD, E2ETest, free_port, maildir_messages, tool, wait_for

MILTER = os.path.join(BUILD, "test", "milter_test")

CONF = """
milter test "inet:127.0.0.1:{mport}" timeout 3s
milter down_tempfail "inet:127.0.0.1:{dead}" timeout 2s
milter down_accept "inet:127.0.0.1:{dead}" default accept
milter down_reject "unix:{tmp}/nothing.sock" default reject
milter hang "inet:127.0.0.1:{mport}" timeout 2s default accept
milter garbage "inet:127.0.0.1:{gport}" default reject
milter terse "inet:127.0.0.1:{gport}" timeout 3s
listen on 127.0.0.1 port {port} milter test
listen on 127.0.0.1 port {port_tf} milter down_tempfail
listen on 127.0.0.1 port {port_acc} milter {{ down_accept, test }}
listen on 127.0.0.1 port {port_rej} milter down_reject
listen on 127.0.0.1 port {port_hang} milter hang
listen on 127.0.0.1 port {port_garbage} milter garbage
listen on 127.0.0.1 port {port_terse} milter terse
pki mx.test cert "{tmp}/mx.crt" key "{tmp}/mx.key"
listen on 127.0.0.1 port {port_tls} tls pki mx.test hostname mx.test milter test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


def start_test_milter(case, port):
    p = subprocess.Popen([MILTER, "inet:%d@127.0.0.1" % port], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    case.addCleanup(lambda: (p.kill(), p.wait()))   # also when setUp fails
    line = p.stdout.readline()
    if line.strip() != "ready":
        raise AssertionError("milter_test did not start: %s %s" % (line, p.stderr.read()))
    return p


class MilterActions(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(MILTER, os.X_OK):
            self.skipTest("build/test/milter_test not built (libmilter-dev)")
        self.mport = free_port()
        start_test_milter(self, self.mport)
        self.ports = {k: free_port() for k in ("port", "port_tf", "port_acc", "port_rej",
                                               "port_hang", "port_garbage", "port_terse",
                                               "port_tls")}
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(self.tmp, "mx.key"), "-out", os.path.join(self.tmp, "mx.crt"),
                        "-days", "2", "-subj", "/CN=mx.test"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.garbage = socket.socket()
        self.garbage.bind(("127.0.0.1", 0))
        self.garbage.listen(8)
        self.garbage.settimeout(10)
        self.addCleanup(self.garbage.close)
        self.d = self.smtpd(CONF.format(tmp=self.tmp, user=self.user(), mport=self.mport,
                                        dead=free_port(), gport=self.garbage.getsockname()[1],
                                        **self.ports),
                            wait_port=self.ports["port"])

    def client(self, port=None, source="127.0.0.1", helo="client.example"):
        s = smtplib.SMTP(timeout=30, source_address=(source, 0))
        s.connect("127.0.0.1", port or self.ports["port"])
        self.addCleanup(s.close)
        s.ehlo(helo)
        return s

    def mail(self, user):
        return maildir_messages(os.path.join(self.tmp, "mail", user))

    def wait_mail(self, user, n=1):
        return wait_for(lambda: len(self.mail(user)) >= n and self.mail(user),
                        what="mail for %s" % user)

    def send(self, sender, rcpts, body="Subject: test\r\nX-Remove: me\r\n\r\nHello.\r\n",
             port=None):
        s = self.client(port)
        return s.sendmail(sender, rcpts, body)

    def refused(self, fn, code):
        with self.assertRaises(smtplib.SMTPResponseException) as cm:
            fn()
        self.assertEqual(cm.exception.smtp_code, code, cm.exception)
        return cm.exception

    def log_has(self, pattern):
        return wait_for(lambda: re.search(pattern, self.d.log()), what=pattern)

    def test_accepted_message_shows_what_the_milter_saw(self):
        body = "Subject: seen\r\nX-One: 1\r\n\r\n" + "line of body\r\n" * 10000
        self.send("plain@example.org", ["alice@example.org"], body=body)
        msg = self.wait_mail("alice")[0]
        # Received:, Subject:, X-One: and 140000 octets in 64 KiB chunks
        # (maildir files end their lines in LF)
        self.assertIn(b"X-Milter-Seen: headers=3 body=140000\n", msg)
        self.assertTrue(msg.endswith(b"\n\nline of body\n" + b"line of body\n" * 9999))

    def test_refusals_at_each_step(self):
        c = self.client(source="127.0.0.2")
        self.assertEqual(c.mail("a@example.org"), (550, b"5.7.1 Command rejected"))
        self.assertEqual(c.mail("b@example.org")[0], 550, "every MAIL of that session")
        self.assertEqual(self.client(helo="reject.helo").mail("a@example.org")[0], 550)
        s = self.client()
        self.assertEqual(s.mail("reject-mail@example.org")[0], 550)
        code, text = s.mail("tempfail-mail@example.org")
        self.assertEqual((code, text), (451, b"4.7.1 Service unavailable - try again later"))
        code, text = s.mail("code-mail@example.org")
        self.assertEqual((code, text), (554, b"5.7.9 Mail code"))
        self.assertEqual(s.mail("ok@example.org")[0], 250, "the session goes on")
        self.assertEqual(s.rcpt("reject-rcpt@example.org")[0], 550)
        self.assertEqual(s.rcpt("bob@example.org")[0], 250)
        s.rset()
        s.mail("reject-data@example.org")
        s.rcpt("bob@example.org")
        self.assertEqual(s.docmd("DATA")[0], 550)
        for mode in ("reject-header", "reject-body", "reject-eom"):
            self.refused(lambda: self.send(mode + "@example.org", ["bob@example.org"]), 550)
        self.refused(lambda: self.send("tempfail-eom@example.org", ["bob@example.org"]), 451)
        e = self.refused(lambda: self.send("code-eom@example.org", ["bob@example.org"]), 550)
        self.assertEqual(e.smtp_error, b"5.7.0 Eom code")
        self.send("after@example.org", ["bob@example.org"])
        msgs = self.wait_mail("bob")
        time.sleep(0.3)
        self.assertEqual(len(self.mail("bob")), 1, "only the accepted message is delivered")
        self.assertIn(b"Return-Path: <after@example.org>", msgs[0])
        log = self.d.log()
        self.assertIn("milter=test phase=connect action=reject", log)
        self.assertIn("milter=test phase=helo action=reject", log)
        self.assertIn('milter=test phase=mail-from action=reject result="554 5.7.9 Mail code"',
                      log)
        self.assertIn("milter=test phase=rcpt-to action=reject", log)
        self.assertIn("milter=test phase=data action=reject", log)
        self.assertIn("milter=test phase=header action=reject", log)
        self.assertIn("milter=test phase=body action=reject", log)
        self.assertIn("milter=test phase=eom action=tempfail", log)

    def test_messages_in_one_session_and_bdat(self):
        """The milter's connection serves every transaction of the session;
        BDAT (pipelined with MAIL and RCPT) goes through it as DATA does."""
        s = self.client()
        for i in range(3):
            s.sendmail("addheader@example.org", ["kim@example.org"],
                       "Subject: n%d\r\n\r\nbody %d\r\n" % (i, i))
        c = socket.create_connection(("127.0.0.1", self.ports["port"]), timeout=30)
        self.addCleanup(c.close)
        f = c.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    return line
        reply()
        c.sendall(b"EHLO client.example\r\n")
        reply()
        msg = b"Subject: bdat\r\n\r\nchunked body\r\n"
        c.sendall(b"MAIL FROM:<insheader@example.org>\r\nRCPT TO:<kim@example.org>\r\n"
                  b"BDAT %d LAST\r\n" % len(msg) + msg)
        self.assertEqual([reply()[:3] for _ in range(3)], [b"250", b"250", b"250"])
        msgs = self.wait_mail("kim", 4)
        self.assertEqual(sorted(re.search(rb"Subject: (\w+)", m).group(1) for m in msgs),
                         [b"bdat", b"n0", b"n1", b"n2"])
        for m in msgs:
            self.assertIn(b"X-Milter-Seen: headers=2 body=", m)
        bdat = [m for m in msgs if b"Subject: bdat" in m][0]
        self.assertIn(b"X-Milter-First: first\nReceived:", bdat)
        self.assertTrue(bdat.endswith(b"\n\nchunked body\n"))

    def test_header_edits(self):
        for mode in ("addheader", "chgheader", "insheader", "delheader"):
            self.send(mode + "@example.org", [mode + "@example.org"])
        added = self.wait_mail("addheader")[0]
        self.assertRegex(added, rb"X-Milter-Seen: [^\n]*\nX-Milter-Test: added\n\nHello")
        changed = self.wait_mail("chgheader")[0]
        self.assertIn(b"\nSubject: changed by the milter\n", changed)
        self.assertNotIn(b"Subject: test", changed)
        first = self.wait_mail("insheader")[0]
        head = first.split(b"\n\n")[0]
        self.assertRegex(head, rb"\nX-Milter-First: first\nReceived: ",
                         "index 0 is before our Received: (after the delivery's own fields)")
        deleted = self.wait_mail("delheader")[0]
        self.assertNotIn(b"X-Remove", deleted)
        self.assertIn(b"Subject: test", deleted)

    def test_body_replaced(self):
        self.send("replbody@example.org", ["carol@example.org"],
                  body="Subject: b\r\n\r\n" + "old body\r\n" * 5000)
        msg = self.wait_mail("carol")[0]
        self.assertTrue(msg.endswith(b"\n\nThe milter replaced this body.\n"), msg[-200:])
        self.assertNotIn(b"old body", msg)
        self.assertIn(b"Subject: b", msg)

    def test_body_replaced_with_accept(self):
        """Accept at end of message keeps the milter's changes, as continue."""
        self.send("acceptbody@example.org", ["olga@example.org"])
        msg = self.wait_mail("olga")[0]
        self.assertTrue(msg.endswith(b"\n\nThe milter replaced this body.\n"), msg[-200:])
        self.assertIn(b"X-Milter-Seen:", msg)
        self.log_has(r"milter=test phase=eom action=accept changes=2")

    def test_recipients_added_and_removed(self):
        self.send("addrcpt@example.org", ["dave@example.org"])
        self.wait_mail("dave")
        self.wait_mail("extra")
        self.send("delrcpt@example.org", ["erin@example.org", "drop@example.org"])
        self.wait_mail("erin")
        time.sleep(0.5)
        self.assertEqual(self.mail("drop"), [], "the removed recipient gets nothing")
        log = self.d.log()
        self.assertIn("milter=test phase=eom action=addrcpt to=<extra@example.org>", log)
        self.assertIn("milter=test phase=eom action=delrcpt to=<drop@example.org> removed=1", log)

    def test_macros_as_postfix_sends_them(self):
        s = self.client(self.ports["port_tls"])
        s._host = "mx.test"   # connect() after the constructor leaves it empty
        s.starttls(context=ssl._create_unverified_context())
        s.ehlo("client.example")
        s.sendmail("macros@example.org", ["nina@example.org"], "Subject: m\r\n\r\nm\r\n")
        msg = self.wait_mail("nina")[0]
        m = re.search(rb"\nX-Milter-Macros: ([^\n]*)\n", msg)
        self.assertIsNotNone(m, msg)
        got = dict(kv.split("=", 1) for kv in m.group(1).decode().split(" "))
        queue_id = re.search(rb"with ESMTPS id ([0-9a-f]{8})", msg).group(1).decode()
        self.assertEqual(got["{daemon_name}"], "ringmta")
        self.assertEqual(got["{client_addr}"], "127.0.0.1")
        self.assertEqual(got["{client_name}"], "[127.0.0.1]")
        self.assertRegex(got["{tls_version}"], r"^TLSv1\.[23]$")
        self.assertNotEqual(got["{cipher}"], "-")
        self.assertEqual(got["{mail_addr}"], "macros@example.org")
        self.assertEqual(got["{auth_authen}"], "-", "not authenticated: not sent")
        self.assertEqual(got["{rcpt_addr}"], "nina@example.org")
        self.assertEqual(got["i"].lower(), queue_id, "the queue id, as in Received:")
        self.assertNotEqual(got["j"], "-")

    def test_sender_changed(self):
        self.send("chgfrom@example.org", ["lena@example.org"])
        msg = self.wait_mail("lena")[0]
        self.assertTrue(msg.startswith(b"Return-Path: <bounces@example.org>\n"), msg[:80])
        self.log_has(r"milter=test phase=eom action=chgfrom from=<chgfrom@example.org> "
                     r"to=<bounces@example.org>")

    def test_discard_and_quarantine(self):
        self.assertEqual(self.send("discard@example.org", ["frank@example.org"]), {})
        self.log_has(r"milter=test phase=eom action=discard")
        self.log_has(r"milter message discarded")
        self.send("quarantine@example.org", ["gina@example.org"])
        self.log_has(r'milter=test phase=eom action=quarantine reason="test hold"')
        self.send("after@example.org", ["frank@example.org"])
        self.wait_mail("frank")
        time.sleep(0.5)
        self.assertEqual(len(self.mail("frank")), 1, "the discarded message is gone")
        self.assertEqual(self.mail("gina"), [], "the quarantined message is held")
        out = self.smtpctl("show", "queue").stdout
        self.assertIn("gina@example.org", out)
        m = re.search(r"^([0-9a-f]{16})\b.*gina@example\.org", out, re.M)
        self.assertIsNotNone(m, out)
        self.smtpctl("resume", "envelope", m.group(1))
        msg = self.wait_mail("gina")[0]
        self.assertIn(b"X-Milter-Seen:", msg)

    def test_milter_down_default_actions(self):
        tf = self.client(self.ports["port_tf"])
        code, text = tf.mail("a@example.org")
        self.assertEqual((code, text), (451, b"4.7.1 Service unavailable - try again later"))
        self.log_has(r"milter=down_tempfail phase=connect: connection refused; default tempfail")
        rej = self.client(self.ports["port_rej"])
        self.assertEqual(rej.mail("a@example.org"), (550, b"5.7.1 Command rejected"))
        self.log_has(r"milter=down_reject phase=connect: no such socket; default reject")
        # default accept: the next milter of the list still runs
        self.send("addheader@example.org", ["hank@example.org"], port=self.ports["port_acc"])
        msg = self.wait_mail("hank")[0]
        self.assertIn(b"X-Milter-Test: added", msg)
        self.log_has(r"milter=down_accept phase=connect: connection refused; default accept")

    def test_malformed_replies_are_the_milters_failure(self):
        """A milter that answers OPTNEG with a packet of 2 GiB, then one of
        length 0: each is that milter's failure (default reject), never the
        daemon's."""
        replies = [b"\x7f\xff\xff\xffO", b"\x00\x00\x00\x00c",
                   b"\x00\x00\x00\x0dO\x00\x00\x00\x06\xff\xff\xff\xff\x00\x00\x00\x00"]
        for reply in replies:
            c = socket.create_connection(("127.0.0.1", self.ports["port_garbage"]), timeout=30)
            self.addCleanup(c.close)
            f = c.makefile("rb")
            conn, _ = self.garbage.accept()   # before the banner: the connect step
            conn.settimeout(10)
            self.addCleanup(conn.close)
            self.assertEqual(conn.recv(5)[4:], b"O", "OPTNEG comes first")
            conn.sendall(reply)
            self.assertEqual(f.readline()[:4], b"220 ", "greeted all the same")
            c.sendall(b"HELO client.example\r\n")
            self.assertEqual(f.readline()[:4], b"250 ")
            c.sendall(b"MAIL FROM:<a@example.org>\r\n")
            self.assertEqual(f.readline(), b"550 5.7.1 Command rejected\r\n")
            c.sendall(b"NOOP\r\n")
            self.assertEqual(f.readline()[:4], b"250 ", "the session goes on")
        self.log_has(r"milter=garbage phase=connect: a packet over the size limit; "
                     r"default reject")
        self.log_has(r"milter=garbage phase=connect: a packet of length 0; default reject")
        self.log_has(r"milter=garbage phase=connect: actions ringmta did not offer; "
                     r"default reject")
        self.send("plain@example.org", ["judy@example.org"])
        self.wait_mail("judy")

    def test_steps_skipped_and_unanswered(self):
        """A milter (written here) that negotiates no HELO, no headers, no
        end of header and no DATA step, no reply to connect, MAIL and RCPT,
        and answers the first body chunk SKIP: ringmta sends only the rest,
        waits only where an answer comes, and stops the body there."""
        c = socket.create_connection(("127.0.0.1", self.ports["port_terse"]), timeout=30)
        self.addCleanup(c.close)
        conn, _ = self.garbage.accept()
        conn.settimeout(10)
        self.addCleanup(conn.close)
        seen = []

        def packet():
            head = b""
            while len(head) < 4:
                head += conn.recv(4 - len(head))
            n = struct.unpack(">I", head)[0]
            data = b""
            while len(data) < n:
                data += conn.recv(n - len(data))
            return data[:1], data[1:]

        def out(cmd, data=b""):
            conn.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

        cmd, data = packet()
        self.assertEqual(cmd, b"O")
        version, actions, protocol = struct.unpack(">III", data[:12])
        self.assertEqual(version, 6)
        self.assertTrue(protocol & 0x400, "SKIP offered")
        out(b"O", struct.pack(">III", 6, 0x01, 0x2 | 0x20 | 0x40 | 0x200 | 0x1000 | 0x4000 |
                              0x8000 | 0x400))
        body = "Subject: terse\r\n\r\n" + "x" * 99 + "\r\n" * 1
        body = body + ("y" * 998 + "\r\n") * 140
        t = threading.Thread(target=lambda: self.terse_client(c, body))
        t.start()
        self.addCleanup(t.join, 30)
        while True:
            cmd, data = packet()
            if cmd == b"D":
                continue   # macros
            seen.append(cmd.decode())
            if cmd == b"B":
                out(b"s")
            elif cmd == b"E":
                out(b"h", b"X-Seen\0" + "".join(seen).encode() + b"\0")
                out(b"c")
                break
            elif cmd in (b"H", b"L", b"N", b"T"):
                out(b"c")   # never asked for: the check below fails
        t.join(30)
        msg = self.wait_mail("mia")[0]
        self.assertIn(b"\nX-Seen: CMRBE\n", msg)
        self.assertEqual(self.terse_replies[-1][:3], b"250")

    def terse_client(self, c, body):
        f = c.makefile("rb")
        replies = self.terse_replies = []

        def reply():
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    replies.append(line)
                    return line
        reply()
        for line in (b"EHLO client.example", b"MAIL FROM:<terse@example.org>",
                     b"RCPT TO:<mia@example.org>", b"DATA"):
            c.sendall(line + b"\r\n")
            reply()
        c.sendall(body.encode() + b".\r\n")
        reply()

    def test_milter_hangs_timeout_then_default(self):
        s = self.client(self.ports["port_hang"])
        t0 = time.monotonic()
        self.assertEqual(s.mail("hang-mail@example.org")[0], 250, "default accept")
        waited = time.monotonic() - t0
        self.assertGreaterEqual(waited, 1.5)
        self.assertLess(waited, 6)
        self.log_has(r"milter=hang phase=mail-from: timeout; default accept")
        s.rcpt("ivan@example.org")
        s.data("Subject: after a hang\r\n\r\nstill delivered\r\n")
        msg = self.wait_mail("ivan")[0]
        self.assertIn(b"still delivered", msg)
        self.assertNotIn(b"X-Milter-Seen", msg, "the milter was left out after its timeout")


DATALINE_FILTER = r'''
import sys
def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
for line in sys.stdin:
    if line.strip() == "config|ready":
        break
out("register|filter|smtp-in|data-line")
out("register|ready")
for line in sys.stdin:
    f = line.rstrip("\n").split("|")
    if f[0] == "filter" and f[4] == "data-line":
        data = "|".join(f[7:])
        if data.startswith("Subject: "):
            data = "Subject: [filtered] " + data[len("Subject: "):]
        out("filter-dataline|%s|%s|%s" % (f[5], f[6], data))
'''

DATALINE_CONF = """
filter subj proc-exec "{py} {tmp}/f.py" user "{user}"
milter test "inet:127.0.0.1:{mport}" timeout 3s
listen on 127.0.0.1 port {port} filter subj milter test
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class MilterAfterDataLineFilter(E2ETest):
    """A listener with a data-line filter process and a milter: the milter
    sees, and changes, the message as the filter returned it."""

    def setUp(self):
        super().setUp()
        if not os.access(MILTER, os.X_OK):
            self.skipTest("build/test/milter_test not built (libmilter-dev)")
        self.mport, self.port = free_port(), free_port()
        start_test_milter(self, self.mport)
        self.write("f.py", DATALINE_FILTER)
        self.d = self.smtpd(DATALINE_CONF.format(py=sys.executable, tmp=self.tmp,
                                                 user=self.user(), mport=self.mport,
                                                 port=self.port),
                            wait_port=self.port, wrapper=("taskset", "-c", "0"))

    def test_filtered_then_changed(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        s.sendmail("chgheader@example.org", ["pia@example.org"],
                   "Subject: first\r\nX-Keep: yes\r\n\r\nbody\r\n")
        s.sendmail("addheader@example.org", ["pia@example.org"],
                   "Subject: second\r\n\r\nbody\r\n")
        msgs = wait_for(lambda: len(maildir_messages(os.path.join(self.tmp, "mail", "pia")))
                        >= 2 and maildir_messages(os.path.join(self.tmp, "mail", "pia")),
                        what="two messages")
        changed = [m for m in msgs if b"X-Keep" in m][0]
        added = [m for m in msgs if b"X-Keep" not in m][0]
        self.assertIn(b"\nSubject: changed by the milter\n", changed)
        self.assertNotIn(b"[filtered]", changed, "the milter changed the filtered Subject:")
        self.assertIn(b"\nSubject: [filtered] second\n", added)
        self.assertRegex(added, rb"X-Milter-Seen: headers=2 body=6\nX-Milter-Test: added\n")


DKIM_CONF = """
milter dkim "inet:127.0.0.1:{mport}"
listen on 127.0.0.1 port {port} milter dkim
queue path "{tmp}/spool"
action "out" relay host "smtp://127.0.0.1:{sink}"
match from any for any action "out"
"""

OPENDKIM_CONF = """Syslog no
Mode sv
Domain example.org
Selector test
KeyFile {tmp}/dkim/test.private
Canonicalization relaxed/simple
Socket inet:{mport}@127.0.0.1
PidFile {tmp}/dkim/opendkim.pid
InternalHosts 127.0.0.1
On-NoSignature accept
Background no
"""

VERIFY = r'''
import sys, dkim
msg = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
# the TXT record opendkim-genkey wrote, as DNS would give it
txt = b"".join(key.split(b'"')[1::2])
def dnsfunc(name, timeout=5):
    return txt if name == b"test._domainkey.example.org." else None
print("ok" if dkim.verify(msg, dnsfunc=dnsfunc) else "bad")
'''


def private_parent():
    """A folder for opendkim's files none of whose ancestors others may
    write: the build folder, unless the checkout lives under /tmp (a CI
    clone), then /run as root or the home folder."""
    def private(path):
        path = os.path.realpath(path)
        while True:
            if os.stat(path).st_mode & 0o022:
                return False
            if path == "/":
                return True
            path = os.path.dirname(path)
    for cand in (BUILD, "/run" if os.geteuid() == 0 else None, os.path.expanduser("~")):
        if cand and os.path.isdir(cand) and private(cand):
            return cand
    raise unittest.SkipTest("no folder for opendkim that only its owner may write")


class OpendkimSigns(E2ETest):

    def setUp(self):
        super().setUp()
        for t in ("opendkim", "opendkim-genkey"):
            if tool(t) is None:
                self.skipTest("%s is not installed" % t)
        if not os.path.exists("/usr/lib/python3/dist-packages/dkim/__init__.py"):
            self.skipTest("python3-dkim is not installed")
        # opendkim refuses files below a folder others may write (/tmp)
        self.dkim_dir = tempfile.mkdtemp(prefix="e2e-opendkim-", dir=private_parent())
        # addCleanup: it runs even when setUp fails below (tearDown would not)
        self.addCleanup(shutil.rmtree, self.dkim_dir, True)
        keys = os.path.join(self.dkim_dir, "dkim")
        os.makedirs(keys)
        subprocess.run([tool("opendkim-genkey"), "-b", "1024", "-d", "example.org", "-s", "test",
                        "-D", keys], check=True)
        self.mport, self.port, self.sink_port = free_port(), free_port(), free_port()
        conf = os.path.join(self.dkim_dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(OPENDKIM_CONF.format(tmp=self.dkim_dir, mport=self.mport))
        p = subprocess.Popen([tool("opendkim"), "-f", "-x", conf], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        wait_for(lambda: self.port_open(self.mport) or p.poll() is not None, what="opendkim")
        if p.poll() is not None:
            raise AssertionError("opendkim failed: %s" % p.stdout.read())
        self.sinkd = self.sink(self.sink_port)
        self.d = self.smtpd(DKIM_CONF.format(tmp=self.tmp, mport=self.mport, port=self.port,
                                             sink=self.sink_port), wait_port=self.port)

    @staticmethod
    def port_open(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def test_relayed_mail_is_signed_and_verifies(self):
        body = ("From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
                "Subject: signed by opendkim\r\nMessage-ID: <dkim-1@example.org>\r\n\r\n"
                "Hello,\r\n\r\nthis message is signed.\r\n")
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        s.sendmail("alice@example.org", ["bob@example.net"], body)
        msg = wait_for(lambda: self.sinkd.messages(), what="relayed message")[0]
        self.assertIn(b"DKIM-Signature:", msg)
        self.assertIn(b"d=example.org", msg)
        path = self.write("relayed.eml", "")
        with open(path, "wb") as f:
            f.write(msg)
        r = subprocess.run(["/usr/bin/python3", "-c", VERIFY, path,
                            os.path.join(self.dkim_dir, "dkim", "test.txt")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.stdout.strip(), "ok", r.stderr + msg.decode(errors="replace"))
        self.assertRegex(self.d.log(), r"milter=dkim phase=eom action=(continue|accept)")

    def test_a_changed_body_does_not_verify(self):
        """The check can fail: the signature covers the body."""
        body = ("From: alice@example.org\r\nSubject: x\r\n\r\noriginal\r\n")
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        s.sendmail("alice@example.org", ["bob@example.net"], body)
        msg = wait_for(lambda: self.sinkd.messages(), what="relayed message")[0]
        path = self.write("tampered.eml", "")
        with open(path, "wb") as f:
            f.write(msg.replace(b"original", b"tampered"))
        r = subprocess.run(["/usr/bin/python3", "-c", VERIFY, path,
                            os.path.join(self.dkim_dir, "dkim", "test.txt")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.stdout.strip(), "bad", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
