"""test/e2e/test_smtp_extensions.py - the ESMTP extensions as a client and
a next hop see them: what EHLO offers (DSN gone with `no-dsn`), a message
sent in BDAT chunks (RFC 3030) relayed byte for byte, a BINARYMIME one
relayed by BDAT to a next hop that offers it and refused with 5.6.3 towards
one that does not, DSN parameters (RFC
3461) kept with the queued envelope across a restart and passed on to the
next hop, NOTIFY honoured and ENVID/ORCPT carried into a bounce, and
SMTPUTF8 (RFC 6531): a UTF-8 address relayed to a second ringmta that
offers it, refused with 5.6.7 towards a peer that does not. Peers: Postfix's
smtp-sink (it offers DSN and 8BITMIME, not SMTPUTF8) and a second smtpd."""
import os
import pwd
import re
import smtplib
import socket
import time

from harness import E2ETest, free_port, maildir_messages, wait_for

USER = pwd.getpwuid(os.geteuid()).pw_name

CONF = """
listen on 127.0.0.1 port {port}
listen on 127.0.0.1 port {port2} no-dsn
queue path "{tmp}/spool"
table far {{ "example.net" }}
action "out" relay host smtp://127.0.0.1:{sink}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from local for domain <far> action "out"
match from local for local action "local"
"""

# the second smtpd: the next hop that takes example.net into maildirs
NEXT_HOP_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool2"
table far {{ "example.net" }}
action "local" maildir "{tmp}/mail2/%{{rcpt.user}}" user "{user}"
match from any for domain <far> action "local"
"""


class Conversation:
    """A raw SMTP client: one command, one reply, nothing hidden."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise AssertionError("connection closed after %r" % lines)
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def send(self, raw):
        self.sock.sendall(raw if isinstance(raw, bytes) else raw.encode("utf-8"))

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        finally:
            self.sock.close()


class Extensions(E2ETest):

    def start(self, sink_extra=(), sink=True, env=None):
        self.port, self.port2, self.sink_port = free_port(), free_port(), free_port()
        self.sink_proc = self.sink(self.sink_port, extra=list(sink_extra)) if sink else None
        self.d = self.smtpd(CONF.format(port=self.port, port2=self.port2, tmp=self.tmp,
                                        sink=self.sink_port, user=USER),
                            wait_port=self.port, env=env)

    def talk(self, port=None):
        c = Conversation(port or self.port)
        self.cleanups.append(c.sock.close)
        return c

    def test_ehlo_offers_the_extensions_and_no_dsn_removes_dsn(self):
        self.start(sink=False)
        c = self.talk()
        ehlo = c.cmd("EHLO client.example").split("\n")
        keywords = [line[4:] for line in ehlo[1:]]
        for kw in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8",
                   "CHUNKING", "HELP"):
            self.assertIn(kw, keywords, ehlo)
        self.assertTrue(any(k.startswith("SIZE ") for k in keywords), ehlo)
        self.assertIn("BINARYMIME", keywords)
        c2 = self.talk(self.port2)
        keywords2 = [line[4:] for line in c2.cmd("EHLO client.example").split("\n")[1:]]
        self.assertNotIn("DSN", keywords2)
        self.assertIn("CHUNKING", keywords2)
        # without DSN on offer its parameters are unknown
        self.assertEqual(c2.cmd("MAIL FROM:<a@localhost> RET=HDRS"),
                         "555 5.5.4 Invalid command arguments: Unsupported option RET")
        # a UTF-8 address needs the SMTPUTF8 parameter (RFC 6531 3.4)
        self.assertEqual(c.cmd("MAIL FROM:<\u00e5sa@localhost>"),
                         "553 5.6.7 Non-ASCII address requires SMTPUTF8")
        self.assertEqual(c.cmd("MAIL FROM:<\u00e5sa@localhost> SMTPUTF8"), "250 2.0.0 Ok")
        c.close()
        c2.close()

    def test_bdat_chunks_relayed_byte_for_byte(self):
        self.start()
        c = self.talk()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<from@example.org> BODY=8BITMIME"), "250 2.0.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<a@example.net>").startswith("250 "))
        part1 = b"Subject: chunked\r\nMessage-ID: <bdat.1@client.example>\r\n\r\nline one\r\n"
        part2 = b".a line that starts with a dot\r\n\xc3\xa9t\xc3\xa9\r\nlast line\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(c.reply(), "250 2.0.0 Ok: %d octets received" % len(part1))
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        self.assertRegex(c.reply(), r"^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery$")
        c.close()
        msgs = wait_for(lambda: self.d.log().count("result=Ok") >= 1 and
                        self.sink_proc.messages(), timeout=30, what="the relayed message")
        m = msgs[0]
        # smtp-sink offers 8BITMIME (not SIZE) and turns CRLF into LF in its dump
        self.assertIn(b"X-Mail-Args: <from@example.org> BODY=8BITMIME\n", m)
        self.assertIn((part1 + part2).replace(b"\r\n", b"\n"), m)

    def start_with_next_hop(self):
        """A first smtpd relaying example.net to a second one (it offers
        CHUNKING and BINARYMIME) that delivers into tmp/mail2."""
        next_port = free_port()
        self.smtpd(NEXT_HOP_CONF.format(port=next_port, tmp=self.tmp, user=USER),
                   wait_port=next_port)
        self.port, self.port2, self.sink_port = free_port(), free_port(), next_port
        self.d = self.smtpd(CONF.format(port=self.port, port2=self.port2, tmp=self.tmp,
                                        sink=next_port, user=USER), wait_port=self.port)

    def test_binarymime_needs_bdat_and_reaches_a_binarymime_next_hop_unchanged(self):
        self.start_with_next_hop()
        c = self.talk()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<from@example.org> BODY=BINARYMIME"), "250 2.0.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<bin@example.net>").startswith("250 "))
        # RFC 3030 3: a BINARYMIME body comes only in BDAT
        self.assertEqual(c.cmd("DATA"), "503 5.5.1 Invalid command: BINARYMIME requires BDAT")
        # NUL, a bare CR, a bare LF, 8-bit octets and a lone dot line
        body = (b"Subject: binary\r\nMessage-ID: <bin.1@client.example>\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n"
                b"\x00\x01\xff\xfe a\rb c\nd\r\n.\r\n\x00end")
        c.send(b"BDAT %d\r\n" % 40 + body[:40])
        self.assertEqual(c.reply(), "250 2.0.0 Ok: 40 octets received")
        c.send(b"BDAT %d LAST\r\n" % (len(body) - 40) + body[40:])
        self.assertRegex(c.reply(), r"^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery$")
        c.close()
        box = os.path.join(self.tmp, "mail2", "bin")
        msgs = wait_for(lambda: maildir_messages(box), timeout=30, what="the relayed message")
        # the maildir stores CRLF as LF; every other octet is as sent, so the
        # first hop sent it in BDAT (DATA would have made the bare CR a line end)
        self.assertIn(body.replace(b"\r\n", b"\n"), msgs[0])
        self.assertEqual(msgs[0].count(b"(ringmta) with ESMTP id"), 2, msgs[0])

    def test_binarymime_to_a_peer_without_it_fails_with_5_6_3_and_bounces_headers(self):
        self.start()   # smtp-sink offers neither CHUNKING nor BINARYMIME
        c = self.talk()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<alice@localhost> BODY=BINARYMIME RET=FULL"),
                         "250 2.0.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<bin@example.net>").startswith("250 "))
        body = b"Subject: binary bounce\r\n\r\n\x00\x01secret-binary-part\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        self.assertTrue(c.reply().startswith("250 2.0.0 "))
        c.close()
        box = os.path.join(self.tmp, "mail", "alice")
        msgs = wait_for(lambda: maildir_messages(box), timeout=30, what="the bounce")
        log = self.d.log()
        self.assertRegex(log, r"to=<bin@example.net> .*result=PermFail stat=554 5\.6\.3 "
                              r"the server does not support BINARYMIME")
        self.assertEqual(self.sink_proc.messages(), [])
        m = msgs[0]
        self.assertIn(b"Status: 5.6.3\n", m)
        # RET=FULL, but a binary body is not put into the report: headers only
        self.assertIn(b"Content-Type: text/rfc822-headers", m)
        self.assertIn(b"Subject: binary bounce", m)
        self.assertNotIn(b"secret-binary-part", m)

    def test_dsn_parameters_survive_a_restart_and_reach_the_next_hop(self):
        self.start(sink=False, env=dict(os.environ, RINGMTA_RETRY_BASE_S="1"))
        c = self.talk()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<from@example.org> RET=HDRS ENVID=QQ+2B314"),
                         "250 2.0.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE "
                              "ORCPT=rfc822;A+2Blist@example.net").startswith("250 "))
        self.assertTrue(c.cmd("RCPT TO:<b@example.net> NOTIFY=NEVER").startswith("250 "))
        self.assertTrue(c.cmd("RCPT TO:<c@example.net>").startswith("250 "))
        self.assertEqual(c.cmd("DATA").split(" ")[0], "354")
        c.send("Subject: dsn\r\n\r\nbody\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250 2.0.0 "))
        c.close()
        # the peer is down: the envelopes wait in the queue over a restart
        wait_for(lambda: self.d.log().count("result=TempFail") >= 3, timeout=20,
                 what="three temporary failures")
        self.d.stop()
        self.d.start(wait_port=self.port, env=dict(os.environ, RINGMTA_RETRY_BASE_S="1"))
        sink = self.sink(self.sink_port)
        msgs = wait_for(lambda: self.d.log().count("result=Ok") >= 3 and sink.messages(),
                        timeout=60, what="the message at the next hop")
        self.assertEqual(len(msgs), 1, "one transaction for the three recipients")
        m = msgs[0].decode()
        self.assertRegex(m, r"X-Mail-Args: <from@example.org> RET=HDRS ENVID=QQ\+2B314\n")
        self.assertIn("X-Rcpt-Args: <a@example.net> NOTIFY=SUCCESS,FAILURE "
                      "ORCPT=rfc822;A+2Blist@example.net\n", m)
        self.assertIn("X-Rcpt-Args: <b@example.net> NOTIFY=NEVER\n", m)
        self.assertIn("X-Rcpt-Args: <c@example.net>\n", m)

    def test_notify_decides_the_bounce_which_carries_envid_and_orcpt(self):
        self.start(sink_extra=["-f", "rcpt"])
        c = self.talk()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<alice@localhost> ENVID=env-42"), "250 2.0.0 Ok")
        for rcpt in ("RCPT TO:<never@example.net> NOTIFY=NEVER",
                     "RCPT TO:<delay@example.net> NOTIFY=DELAY",
                     "RCPT TO:<fail@example.net> NOTIFY=FAILURE ORCPT=rfc822;Fail+40x@example.net",
                     "RCPT TO:<plain@example.net>"):
            self.assertTrue(c.cmd(rcpt).startswith("250 "), rcpt)
        self.assertEqual(c.cmd("DATA").split(" ")[0], "354")
        c.send("Subject: notify\r\n\r\nbody\r\n.\r\n")
        self.assertTrue(c.reply().startswith("250 2.0.0 "))
        c.close()
        box = os.path.join(self.tmp, "mail", "alice")
        wait_for(lambda: maildir_messages(box), timeout=30, what="the bounce")
        time.sleep(1.5)
        msgs = maildir_messages(box)
        self.assertEqual(len(msgs), 1)
        m = msgs[0].decode()
        self.assertIn("Original-Envelope-Id: env-42\nReporting-MTA: dns; ", m)
        self.assertIn("\n\nOriginal-Recipient: rfc822; Fail@x@example.net\n"
                      "Final-Recipient: rfc822; fail@example.net\nAction: failed\n", m)
        self.assertIn("Final-Recipient: rfc822; plain@example.net\n", m)
        self.assertNotIn("never@example.net", m.split("Content-Type: text/rfc822-headers")[0])
        self.assertNotIn("Final-Recipient: rfc822; delay@example.net", m)
        log = self.d.log()
        self.assertEqual(log.count("bounce not sent: the sender asked not to be told of "
                                   "failures (NOTIFY)"), 2, log)
        self.assertRegex(log, r"bounce msgid=[0-9a-f]{8} evpid=[0-9a-f]{16} from=<> "
                              r"to=<alice@localhost> for 2 recipients")

    def test_smtputf8_relayed_to_a_peer_that_offers_it(self):
        self.start_with_next_hop()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            self.assertTrue(s.has_extn("smtputf8"))
            msg = "Subject: gr\u00fc\u00dfe\r\nFrom: j\u00f6rg@example.org\r\n\r\nhej\r\n"
            self.assertEqual(s.sendmail("j\u00f6rg@example.org", ["b\u00f8b@example.net"],
                                        msg.encode("utf-8"), mail_options=["SMTPUTF8"]), {})
        box = os.path.join(self.tmp, "mail2", "b\u00f8b")
        msgs = wait_for(lambda: maildir_messages(box), timeout=30, what="the relayed message")
        m = msgs[0].decode("utf-8")
        self.assertIn("Return-Path: <j\u00f6rg@example.org>", m)
        # both hops wrote "with UTF8SMTP" (RFC 6531 4.3)
        self.assertEqual(len(re.findall(r"\(ringmta\) with UTF8SMTP id", m)), 2, m)
        self.assertIn("Subject: gr\u00fc\u00dfe", m)

    def test_smtputf8_address_to_a_peer_without_it_fails_with_5_6_7(self):
        self.start()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            self.assertEqual(s.sendmail("alice@localhost", ["b\u00f8b@example.net"],
                                        b"Subject: x\r\n\r\nx\r\n", mail_options=["SMTPUTF8"]),
                             {})
            # ASCII addresses with SMTPUTF8 go without the parameter
            self.assertEqual(s.sendmail("alice@localhost", ["bob@example.net"],
                                        b"Subject: y\r\n\r\ny\r\n", mail_options=["SMTPUTF8"]),
                             {})
        log = wait_for(lambda: "result=PermFail" in self.d.log() and
                       "result=Ok" in self.d.log() and self.d.log(), timeout=30,
                       what="one failure and one delivery")
        self.assertRegex(log, r"to=<b\u00f8b@example.net> .*result=PermFail stat=553 5\.6\.7 ")
        self.assertRegex(log, r"to=<bob@example.net> .*result=Ok")
        msgs = wait_for(lambda: self.sink_proc.messages(), timeout=10, what="the ASCII one")
        self.assertIn(b"X-Mail-Args: <alice@localhost>\n", msgs[0])
