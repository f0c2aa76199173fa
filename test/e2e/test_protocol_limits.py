"""test/e2e/test_protocol_limits.py - every limit of an inbound SMTP session
hit on purpose against the real build/smtpd, with the exact reply line the
daemon sends (code, enhanced code, text): the command line (2048 octets with
CRLF, never echoed), NUL, bare CR and 8-bit octets in a command, repeated
and unknown MAIL parameters, the text line (65535 octets), `smtp
max-message-size` declared with SIZE= and counted on the raw DATA input,
`smtp limit max-rcpt`, `smtp limit max-mails`, and the bad-command count
that ends an abusive session with 421. Each test checks that the session
goes on (or closes, for 421), that a refused message was never queued (the
daemon logs every committed message before its 250) and that a good message
after the refusal in the same session is delivered. Raw sockets where the
exact bytes matter, smtplib for plain sessions, swaks for pipelined ones.

The session caps (`smtp limit max-sessions`, max-sessions-per-source) and
the idle timeout (`smtp timeout`) are test_limits.py's. Everything here
talks to 127.0.0.1 only."""
import os
import pwd
import re
import smtplib
import socket
import subprocess

from harness import E2ETest, SMTPD, free_port, maildir_messages, tool, wait_for

HOST = "mx.test.example"
CONF = """
listen on 127.0.0.1 port {port} hostname mx.test.example
queue path "{tmp}/spool"
{limits}action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from any for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)

IO_TIMEOUT_S = 10
ACCEPTED = re.compile(r"^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery$")
COMMITTED = re.compile(r" smtp message msgid=[0-9a-f]{8} ")
UNRECOGNIZED = "500 5.5.1 Invalid command: Command unrecognized"
TOO_BIG = "552 5.3.4 Message too big for system"
LINE_TOO_LONG = "500 5.5.2 Line too long"
COMMAND_BYTES_MAX = 2048         # proto/smtp_server.h PROTO_LINE_BYTES_MAX, with CRLF
TEXT_LINE_BYTES_MAX = 65535      # PROTO_TEXT_LINE_BYTES_DEFAULT, without CRLF
ERRORS_MAX = 10                  # core/session.h SESSION_ERRORS_MAX
SIZE_MAX = 64 * 1024             # `smtp max-message-size 64K` below


def at_domain(n, tail):
    """'@' and a domain of labels of 60 octets ending in tail, n octets in all."""
    labels, left = [], n - 1 - len(tail)
    while left > 0:
        label = "d" * min(60, left - 1)
        assert label, n
        labels.append(label)
        left -= len(label) + 1
    assert left == 0, n
    return "@" + "".join(l + "." for l in labels) + tail


class Client:
    """A raw SMTP client on 127.0.0.1: sends bytes exactly as given, reads
    reply lines (text without CRLF, as str). Every read is bounded by
    IO_TIMEOUT_S."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.buf = b""
        self.greeting = self.reply()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server; unread: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self):
        """The lines of one reply (up to the one with a space after the code)."""
        lines = [self._line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self._line())
        return lines

    def cmd(self, line):
        """Send one command (str or bytes, CRLF added); return its one-line reply."""
        data = line.encode("latin-1") if isinstance(line, str) else line
        self.send(data + b"\r\n")
        got = self.reply()
        if len(got) != 1:
            raise AssertionError("%r: a one-line reply expected, got %r" % (data[:80], got))
        return got[0]

    def ehlo(self, name="client.example"):
        self.send(b"EHLO %s\r\n" % name.encode())
        return self.reply()

    def expect(self, line, want):
        """Send a command whose reply must be want."""
        got = self.cmd(line)
        if got != want:
            raise AssertionError("%r: got %r, want %r" % (line[:80], got, want))

    def message(self, sender, rcpts, data):
        """MAIL, RCPTs, DATA (each must be accepted), then data (already
        dot-stuffed, ending in CRLF) and the end of data; return the reply
        to the end of data."""
        self.expect("MAIL FROM:<%s>" % sender, "250 2.0.0 Ok")
        for r in rcpts:
            self.expect("RCPT TO:<%s>" % r, "250 2.1.5 Destination address valid: Recipient ok")
        self.expect("DATA", '354 Enter mail, end with "." on a line by itself')
        self.send(data + b".\r\n")
        return self.reply()[0]

    def closed(self):
        """True when the server closed the connection (all replies read),
        False when it still holds it open after IO_TIMEOUT_S."""
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


class LimitsTest(E2ETest):
    """A daemon with the given `smtp` lines; clients closed in tearDown."""

    def start(self, limits=""):
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, limits=limits),
                            wait_port=self.port)

    def client(self):
        c = Client(self.port)
        self.cleanups.append(c.close)
        self.assertEqual(c.greeting, ["220 %s ESMTP ringmta" % HOST])
        return c

    def box(self, user):
        return maildir_messages(os.path.join(self.tmp, "mail", user))

    def wait_box(self, user, n):
        """Wait until user's maildir holds n messages; return them."""
        return wait_for(lambda: len(self.box(user)) >= n and self.box(user),
                        what="%d message(s) for %s" % (n, user))

    def committed(self):
        """Messages the daemon queued so far: it logs each before its 250."""
        return len(COMMITTED.findall(self.d.log()))

    def assertAccepted(self, line):
        self.assertRegex(line, ACCEPTED)

    def swaks(self, *args):
        """swaks with PIPELINING (RFC 2920): MAIL, RCPTs and DATA in one write."""
        return subprocess.run([tool("swaks"), "--server", "127.0.0.1:%d" % self.port,
                               "--pipeline", "--from", "a@example.org"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=30)


class CommandLines(LimitsTest):
    """What a command line may hold; none of these refusals ends the session."""

    def test_2048_octets_with_crlf_fit_one_more_is_refused_and_never_echoed(self):
        self.start()
        c = self.client()
        c.ehlo()
        fits = b"NOOP " + b"x" * (COMMAND_BYTES_MAX - len(b"NOOP \r\n"))
        self.assertEqual(len(fits + b"\r\n"), COMMAND_BYTES_MAX)
        self.assertEqual(c.cmd(fits), "250 2.0.0 Ok")
        self.assertEqual(c.cmd(fits + b"x"), LINE_TOO_LONG)
        # a path of 3000 octets and a line of 1 MiB: the reply names neither
        for line in (b"MAIL FROM:<" + b"a" * 3000 + b"@example.org>",
                     b"RCPT TO:<" + b"b" * (1 << 20) + b"@localhost>"):
            got = c.cmd(line)
            self.assertEqual(got, LINE_TOO_LONG)
            self.assertNotIn("aaa", got)
            self.assertNotIn("bbb", got)
        # the refused MAIL opened nothing: RCPT is out of order
        self.assertEqual(c.cmd("RCPT TO:<r@localhost>"),
                         "503 5.5.1 Invalid command: Command not allowed at this point.")
        self.assertAccepted(c.message("a@example.org", ["longline@localhost"],
                                      b"Subject: after long lines\r\n\r\nok\r\n"))
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        self.assertEqual(len(self.wait_box("longline", 1)), 1)
        self.assertEqual(self.committed(), 1)

    def test_replies_quote_the_client_only_within_its_own_limits(self):
        self.start()
        c = self.client()
        name = "h" * 251 + ".com"                       # 255 octets, a domain's most
        self.assertEqual(c.ehlo(name)[0], "250-%s Hello %s" % (HOST, name))
        self.assertEqual(c.ehlo("h" + name), ["501 5.5.4 Invalid command arguments: "
                                              "Invalid domain name"])
        # RFC 5321 4.5.3.1.3: a path holds at most 256 octets
        self.assertEqual(c.cmd("MAIL FROM:<ss%s>" % at_domain(255, "example.org")),
                         "553 5.1.7 Sender address syntax error")
        self.assertEqual(c.cmd("MAIL FROM:<s%s>" % at_domain(255, "example.org")),
                         "250 2.0.0 Ok")
        far = "f" + at_domain(255, "example.com")
        self.assertEqual(len(far), 256)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % far),
                         "550 5.1.1 Invalid recipient: <%s>" % far)
        self.assertEqual(c.cmd("RCPT TO:<f%s>" % far),
                         "553 5.1.3 Recipient address syntax error")
        self.assertEqual(c.cmd("RSET"), "250 2.0.0 Reset state")
        self.assertAccepted(c.message("a@example.org", ["quoted@localhost"],
                                      b"Subject: after long names\r\n\r\nok\r\n"))
        self.assertEqual(len(self.wait_box("quoted", 1)), 1)
        self.assertEqual(self.committed(), 1)

    def test_nul_and_bare_cr_in_a_command_are_refused(self):
        self.start()
        c = self.client()
        c.ehlo()
        self.assertEqual(c.cmd(b"NOOP a\x00b"), "500 5.5.2 Syntax error: NUL in command")
        self.assertEqual(c.cmd(b"MAIL FROM:<a\x00@example.org>"),
                         "500 5.5.2 Syntax error: NUL in command")
        self.assertEqual(c.cmd(b"NOOP a\rb"), "500 5.5.2 Syntax error: bare <CR> in command")
        self.assertEqual(c.cmd(b"MAIL FROM:<a@example.org>\rRCPT TO:<x@localhost>"),
                         "500 5.5.2 Syntax error: bare <CR> in command")
        # neither smuggled a transaction open
        self.assertEqual(c.cmd("DATA"),
                         "503 5.5.1 Invalid command: Command not allowed at this point.")
        self.assertAccepted(c.message("a@example.org", ["ctl@localhost"],
                                      b"Subject: after NUL and CR\r\n\r\nok\r\n"))
        self.assertEqual(len(self.wait_box("ctl", 1)), 1)
        self.assertEqual(self.box("x"), [])
        self.assertEqual(self.committed(), 1)

    def test_8bit_commands_need_smtputf8_and_valid_utf8(self):
        self.start()
        c = self.client()
        ehlo = c.ehlo()
        self.assertIn("250-SMTPUTF8", ehlo)
        eight_bit = "500 5.5.2 Syntax error: 8-bit character in command"
        needs_utf8 = "553 5.6.7 Non-ASCII address requires SMTPUTF8"
        # a UTF-8 address is taken only with the SMTPUTF8 parameter
        self.assertEqual(c.cmd("MAIL FROM:<jörg@example.org>".encode()), needs_utf8)
        # 8-bit octets elsewhere, or not UTF-8, are never a command
        self.assertEqual(c.cmd("NOOP \xff".encode("latin-1")), eight_bit)
        self.assertEqual(c.cmd(b"MAIL FROM:<j\xf6rg@example.org> SMTPUTF8"),
                         "500 5.5.2 Syntax error: invalid UTF-8 in command")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "250 2.0.0 Ok")
        self.assertEqual(c.cmd("RCPT TO:<bjørn@localhost>".encode()), needs_utf8)
        self.assertEqual(c.cmd("RCPT TO:<utf@localhost>"),
                         "250 2.1.5 Destination address valid: Recipient ok")
        self.assertEqual(c.cmd("DATA"), '354 Enter mail, end with "." on a line by itself')
        c.send(b"Subject: ascii envelope\r\n\r\n8-bit body is fine: \xc3\xb8\r\n.\r\n")
        self.assertAccepted(c.reply()[0])
        msgs = self.wait_box("utf", 1)
        self.assertIn(b"8-bit body is fine: \xc3\xb8\n", msgs[0])
        # Received: names the listener's hostname, as the banner does
        self.assertIn(b"\tby mx.test.example (ringmta) with ESMTP id ", msgs[0])
        self.assertEqual(self.committed(), 1)

    def test_repeated_and_unknown_mail_parameters(self):
        self.start()
        c = self.client()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=10 SIZE=20"),
                         "501 5.5.4 Invalid command arguments: SIZE: given twice")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME body=7bit"),
                         "501 5.5.4 Invalid command arguments: body: given twice")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> X-FOO=bar"),
                         "555 5.5.4 Invalid command arguments: Unsupported option X-FOO")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=ten"),
                         "501 5.5.4 Invalid command arguments: SIZE: must be a number")
        # an unknown RCPT parameter, within an open transaction
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME"),
                         "250 2.0.0 Ok")
        self.assertEqual(c.cmd("RCPT TO:<p@localhost> FOO"),
                         "555 5.5.4 Invalid command arguments: Unsupported option FOO")
        self.assertEqual(c.cmd("RCPT TO:<p@localhost>"),
                         "250 2.1.5 Destination address valid: Recipient ok")
        self.assertEqual(c.cmd("DATA"), '354 Enter mail, end with "." on a line by itself')
        c.send(b"Subject: params\r\n\r\nok\r\n.\r\n")
        self.assertAccepted(c.reply()[0])
        self.assertEqual(len(self.wait_box("p", 1)), 1)
        self.assertEqual(self.committed(), 1)


class BadCommandCount(LimitsTest):
    """SESSION_ERRORS_MAX bad commands end the session: the last one's own
    reply, then 421 4.7.0 and the close."""

    def test_tenth_bad_command_gets_its_reply_then_421_and_close(self):
        self.start()
        c = self.client()
        c.ehlo()
        for i in range(ERRORS_MAX - 1):
            self.assertEqual(c.cmd("GARBAGE %d" % i), UNRECOGNIZED)
        # nine errors: the session still works, and its message is queued
        self.assertAccepted(c.message("a@example.org", ["patient@localhost"],
                                      b"Subject: nine errors\r\n\r\nok\r\n"))
        c.send(b"GARBAGE 10\r\n")
        self.assertEqual(c.reply(), [UNRECOGNIZED])
        self.assertEqual(c.reply(), ["421 4.7.0 %s Too many errors" % HOST])
        self.assertTrue(c.closed())
        self.assertEqual(len(self.wait_box("patient", 1)), 1)
        wait_for(lambda: "disconnected reason=protocol error" in self.d.log(),
                 what="the disconnect log line")

    def test_pipelined_garbage_is_answered_up_to_the_421_only(self):
        self.start()
        c = self.client()
        c.ehlo()
        # errors of every kind count: unknown verb, syntax, order, arguments;
        # DATA after EHLO with no MAIL is the 503 a pipelining client gets
        # after a refused MAIL (RFC 2920 3.1): answered, not counted
        bad = [b"FOO", b"MAIL FROM:", b"DATA", b"NOOP \x00", b"RSET now", b"HELO",
               b"MAIL FROM:<a@example.org> X=1", b"STARTTLS", b"BAR", b"BAZ", b"QUX",
               b"NOOP", b"QUIT"]
        c.send(b"".join(b + b"\r\n" for b in bad))
        got = [c.reply()[0] for _ in range(ERRORS_MAX + 2)]
        self.assertEqual(got, [
            UNRECOGNIZED,
            "501 5.5.4 Invalid command arguments: Syntax: MAIL FROM:<address>",
            "503 5.5.1 Invalid command: Command not allowed at this point.",
            "500 5.5.2 Syntax error: NUL in command",
            "501 5.5.4 Invalid command arguments: command does not accept arguments.",
            "501 5.5.1 Invalid command: HELO requires domain name",
            "555 5.5.4 Invalid command arguments: Unsupported option X",
            "503 5.5.1 Invalid command: Command not supported",
            UNRECOGNIZED, UNRECOGNIZED, UNRECOGNIZED,
            "421 4.7.0 %s Too many errors" % HOST])
        # NOOP and QUIT after the tenth error are never answered
        self.assertTrue(c.closed())

    def test_a_new_session_starts_with_no_errors(self):
        self.start()
        c = self.client()
        c.send(b"X\r\n" * ERRORS_MAX)
        for _ in range(ERRORS_MAX):
            self.assertEqual(c.reply(), [UNRECOGNIZED])
        self.assertEqual(c.reply(), ["421 4.7.0 %s Too many errors" % HOST])
        self.assertTrue(c.closed())
        with smtplib.SMTP("127.0.0.1", self.port, timeout=IO_TIMEOUT_S) as s:
            for _ in range(ERRORS_MAX - 1):
                self.assertEqual(s.docmd("X"),
                                 (500, b"5.5.1 Invalid command: Command unrecognized"))
            self.assertEqual(s.sendmail("a@example.org", ["fresh@localhost"],
                                        "Subject: fresh\r\n\r\nok\r\n"), {})
        self.assertEqual(len(self.wait_box("fresh", 1)), 1)


class TextLines(LimitsTest):
    """A DATA line of more than 65535 octets (without CRLF) refuses the
    message at its end with 500 5.5.2; the session goes on."""

    def test_65535_octets_fit_65536_refuse_the_message(self):
        self.start()
        c = self.client()
        c.ehlo()
        fits = b"Subject: long line\r\n\r\n" + b"y" * TEXT_LINE_BYTES_MAX + b"\r\n"
        self.assertAccepted(c.message("a@example.org", ["fits@localhost"], fits))
        too_long = b"Subject: too long\r\n\r\nstart\r\n" + b"z" * (TEXT_LINE_BYTES_MAX + 1) + \
            b"\r\nend\r\n"
        self.assertEqual(c.message("a@example.org", ["toolong@localhost"], too_long),
                         LINE_TOO_LONG)
        # a line of a whole MiB is read to the end of data as well
        self.assertEqual(c.message("a@example.org", ["toolong@localhost"],
                                   b"\r\n" + b"w" * (1 << 20) + b"\r\n"), LINE_TOO_LONG)
        self.assertAccepted(c.message("a@example.org", ["after@localhost"],
                                      b"Subject: after\r\n\r\nshort\r\n"))
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        msgs = self.wait_box("fits", 1)
        self.assertIn(b"\n" + b"y" * TEXT_LINE_BYTES_MAX + b"\n", msgs[0])
        self.assertEqual(len(self.wait_box("after", 1)), 1)
        self.assertEqual(self.box("toolong"), [])
        self.assertEqual(self.committed(), 2)


class BareNewlines(LimitsTest):
    """A bare LF or bare CR in DATA (the SMTP smuggling class): refused by
    default with 521 5.5.2 and the close, or, with `smtp bare-newline
    normalize`, taken as a line end and stored as CRLF."""

    BODY = b"Subject: bare\r\n\r\none\ntwo\rthree\r\n.\nMAIL FROM:<x@example.org>\r\n"

    def test_refused_by_default_and_the_session_closed(self):
        self.start()
        c = self.client()
        c.ehlo()
        self.assertEqual(c.message("a@example.org", ["bare@localhost"], self.BODY),
                         "521 5.5.2 mx.test.example Error: bare <LF> received")
        self.assertTrue(c.closed())
        self.assertEqual(self.committed(), 0)

    def test_normalized_when_configured(self):
        self.start("smtp bare-newline normalize\n")
        c = self.client()
        c.ehlo()
        self.assertAccepted(c.message("a@example.org", ["bare@localhost"], self.BODY))
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        m = self.wait_box("bare", 1)[0]
        # the maildir stores CRLF as LF: every bare one became a line end, and
        # ".<LF>" was a line inside the body (its dot taken as stuffing), never
        # the end of data: what followed stayed in the body
        self.assertIn(b"\n\none\ntwo\nthree\n\nMAIL FROM:<x@example.org>\n", m)
        self.assertEqual(self.committed(), 1)


class MessageSize(LimitsTest):
    """`smtp max-message-size 64K`: SIZE= over it is refused at MAIL; an
    undeclared message is counted on the raw DATA input (every octet before
    the final ".CRLF", stuffing dots included) and refused at its end."""

    def setUp(self):
        super().setUp()
        self.start("smtp max-message-size 64K\n")

    def test_declared_size_over_the_limit_is_refused_at_mail(self):
        c = self.client()
        self.assertIn("250-SIZE %d" % SIZE_MAX, c.ehlo())
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=%d" % (SIZE_MAX + 1)), TOO_BIG)
        # no transaction was opened
        self.assertEqual(c.cmd("RCPT TO:<big@localhost>"),
                         "503 5.5.1 Invalid command: Command not allowed at this point.")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=%d" % SIZE_MAX), "250 2.0.0 Ok")
        self.assertEqual(c.cmd("RCPT TO:<declared@localhost>"),
                         "250 2.1.5 Destination address valid: Recipient ok")
        self.assertEqual(c.cmd("DATA"), '354 Enter mail, end with "." on a line by itself')
        c.send(b"Subject: declared\r\n\r\nok\r\n.\r\n")
        self.assertAccepted(c.reply()[0])
        self.assertEqual(len(self.wait_box("declared", 1)), 1)
        self.assertEqual(self.box("big"), [])
        self.assertEqual(self.committed(), 1)

    def test_smtplib_declares_size_and_is_refused(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=IO_TIMEOUT_S) as s:
            s.ehlo("client.example")
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("a@example.org", ["big@localhost"],
                           "Subject: big\r\n\r\n" + "x" * SIZE_MAX)
            self.assertEqual((cm.exception.smtp_code, cm.exception.smtp_error),
                             (552, b"5.3.4 Message too big for system"))
            self.assertEqual(s.sendmail("a@example.org", ["small@localhost"],
                                        "Subject: small\r\n\r\nok\r\n"), {})
        self.assertEqual(len(self.wait_box("small", 1)), 1)
        self.assertEqual(self.box("big"), [])

    def test_undeclared_size_counts_raw_input_exactly(self):
        c = self.client()
        c.ehlo()
        head = b"Subject: exact\r\n\r\n"

        def body(total):
            # head, then ".." lines (one stuffing dot each, counted raw) and a filler line
            dots = b"..x\r\n" * 100
            fill = total - len(head) - len(dots) - 2
            return head + dots + b"f" * fill + b"\r\n"
        at_limit, over = body(SIZE_MAX), body(SIZE_MAX + 1)
        self.assertEqual((len(at_limit), len(over)), (SIZE_MAX, SIZE_MAX + 1))
        self.assertEqual(c.message("a@example.org", ["over@localhost"], over), TOO_BIG)
        self.assertAccepted(c.message("a@example.org", ["atlimit@localhost"], at_limit))
        # far over the limit: read to the end all the same, then refused
        self.assertEqual(c.message("a@example.org", ["over@localhost"],
                                   (b"q" * 998 + b"\r\n") * 1000), TOO_BIG)
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        self.assertAccepted(c.message("a@example.org", ["after@localhost"],
                                      b"Subject: after\r\n\r\nok\r\n"))
        msgs = self.wait_box("atlimit", 1)
        self.assertIn(b"\n.x\n", msgs[0])          # unstuffed on the way in
        self.assertEqual(len(self.wait_box("after", 1)), 1)
        self.assertEqual(self.box("over"), [])
        self.assertEqual(self.committed(), 2)

    def test_pipelined_messages_the_middle_one_too_big(self):
        c = self.client()
        c.ehlo()
        group = b""
        for i, size in enumerate((100, SIZE_MAX + 1000, 100)):
            body = b"Subject: pipelined %d\r\n\r\n" % i
            body += b"p" * (size - len(body) - 2) + b"\r\n"
            group += b"MAIL FROM:<a@example.org>\r\nRCPT TO:<pipe%d@localhost>\r\nDATA\r\n" % i
            group += body + b".\r\n"
        c.send(group + b"QUIT\r\n")
        replies = [c.reply()[0] for _ in range(13)]
        ok = ["250 2.0.0 Ok", "250 2.1.5 Destination address valid: Recipient ok",
              '354 Enter mail, end with "." on a line by itself']
        self.assertEqual(replies[0:3] + replies[4:7] + replies[8:11], ok * 3)
        self.assertAccepted(replies[3])
        self.assertEqual(replies[7], TOO_BIG)
        self.assertAccepted(replies[11])
        self.assertEqual(replies[12], "221 2.0.0 Bye")
        self.assertTrue(c.closed())
        self.assertEqual(len(self.wait_box("pipe0", 1)), 1)
        self.assertEqual(len(self.wait_box("pipe2", 1)), 1)
        self.assertEqual(self.box("pipe1"), [])
        self.assertEqual(self.committed(), 2)

    def test_swaks_pipelined_too_big_is_refused_at_end_of_data(self):
        r = self.swaks("--to", "swbig@localhost",
                       "--body", "x" * (SIZE_MAX + 10))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("<** %s" % TOO_BIG, r.stdout)
        r = self.swaks("--to", "swsmall@localhost", "--body", "small")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(len(self.wait_box("swsmall", 1)), 1)
        self.assertEqual(self.box("swbig"), [])
        self.assertEqual(self.committed(), 1)


class Transactions(LimitsTest):
    """`smtp limit max-rcpt` (452 4.5.3 for each recipient over it) and
    `smtp limit max-mails` (452 4.5.3 for each MAIL after that many
    messages in one session)."""

    def test_101st_recipient_gets_452_the_100_are_delivered(self):
        self.start("smtp limit max-rcpt 100\n")
        rcpts = ["r%d@localhost" % i for i in range(101)]
        with smtplib.SMTP("127.0.0.1", self.port, timeout=IO_TIMEOUT_S) as s:
            s.ehlo("client.example")
            self.assertEqual(s.mail("a@example.org"), (250, b"2.0.0 Ok"))
            for r in rcpts[:100]:
                self.assertEqual(s.rcpt(r)[0], 250)
            self.assertEqual(s.rcpt(rcpts[100]), (452, b"4.5.3 Too many recipients"))
            self.assertEqual(s.rcpt(rcpts[100]), (452, b"4.5.3 Too many recipients"))
            code, msg = s.data(b"Subject: one hundred\r\n\r\nfan out\r\n")
            self.assertEqual(code, 250, msg)
            # the count starts again with the next transaction
            self.assertEqual(s.sendmail("a@example.org", [rcpts[100]],
                                        "Subject: the rest\r\n\r\nlater\r\n"), {})
        for r in rcpts[:100]:
            msgs = self.wait_box(r.split("@")[0], 1)
            self.assertEqual(len(msgs), 1)
            self.assertIn(b"Subject: one hundred", msgs[0])
        msgs = self.wait_box("r100", 1)
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: the rest", msgs[0])
        self.assertEqual(self.committed(), 2)

    def test_max_rcpt_below_100_is_a_configuration_error(self):
        path = os.path.join(self.tmp, "low.conf")
        with open(path, "w") as f:
            f.write(CONF.format(port=free_port(), tmp=self.tmp, limits="smtp limit max-rcpt 3\n"))
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stderr, r"^%s:4:\d+: limit 3 out of range \(100 to 2147483647\)"
                         % re.escape(path))

    def test_third_mail_gets_452_with_max_mails_2(self):
        self.start("smtp limit max-mails 2\nsmtp max-message-size 1K\n")
        c = self.client()
        c.ehlo()
        # a refused message does not count
        self.assertEqual(c.message("a@example.org", ["m@localhost"],
                                   b"x" * 2000 + b"\r\n"), TOO_BIG)
        for i in range(2):
            self.assertAccepted(c.message("a@example.org", ["m@localhost"],
                                          b"Subject: mail %d\r\n\r\nok\r\n" % i))
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"), "452 4.5.3 Too many messages sent")
        self.assertEqual(c.cmd("RCPT TO:<m@localhost>"),
                         "503 5.5.1 Invalid command: Command not allowed at this point.")
        # not an error: the 452 answers every MAIL, never a 421
        for _ in range(ERRORS_MAX + 1):
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>"),
                             "452 4.5.3 Too many messages sent")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        # a new session may send again
        with smtplib.SMTP("127.0.0.1", self.port, timeout=IO_TIMEOUT_S) as s:
            self.assertEqual(s.sendmail("a@example.org", ["m@localhost"],
                                        "Subject: mail 2\r\n\r\nok\r\n"), {})
        msgs = wait_for(lambda: len(self.box("m")) == 3 and self.box("m"),
                        what="3 messages for m")
        subjects = sorted(re.search(rb"Subject: (mail \d)", m).group(1) for m in msgs)
        self.assertEqual(subjects, [b"mail 0", b"mail 1", b"mail 2"])
        self.assertEqual(self.committed(), 3)

    def test_swaks_pipelined_101_recipients_and_sessions_in_a_row(self):
        self.start("smtp limit max-rcpt 100\nsmtp limit max-mails 2\n")
        rcpts = ["sw%d@localhost" % i for i in range(101)]
        # MAIL, 101 RCPTs and DATA in one group: the 101st alone is refused
        r = self.swaks("--to", ",".join(rcpts), "--header", "Subject: swaks 0")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout.count("<-  250 2.1.5 Destination address valid: "
                                        "Recipient ok"), 100)
        self.assertEqual(r.stdout.count("<** 452 4.5.3 Too many recipients"), 1, r.stdout)
        self.assertRegex(r.stdout, r"<-  250 2\.0\.0 [0-9a-f]{8} Message accepted")
        # more pipelined sessions than max-mails: the limit is per session
        for i in (1, 2, 3):
            r = self.swaks("--to", "sw0@localhost,sw100@localhost",
                           "--header", "Subject: swaks %d" % i)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertRegex(r.stdout, r"<-  250 2\.0\.0 [0-9a-f]{8} Message accepted")
        for u, subjects in (("sw0", [b"0", b"1", b"2", b"3"]), ("sw1", [b"0"]),
                            ("sw99", [b"0"]), ("sw100", [b"1", b"2", b"3"])):
            msgs = wait_for(lambda: len(self.box(u)) == len(subjects) and self.box(u),
                            what="%d messages for %s" % (len(subjects), u))
            got = sorted(re.search(rb"Subject: swaks (\d)", m).group(1) for m in msgs)
            self.assertEqual(got, subjects)
        self.assertEqual(self.committed(), 4)
