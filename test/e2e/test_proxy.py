"""test/e2e/test_proxy.py - `listen on ... proxy-v2`: a PROXY v1 or v2 header
read before the greeting names the client, so the log, the Received:
header, `match from src` rules and `smtp limit max-sessions-per-source`
all see the header's source; a LOCAL header keeps the socket's address; a
malformed header or none within 5 seconds closes without a greeting; the
header comes before the smtps handshake; a listener without proxy-v2 takes
a PROXY line as an unknown command. The addresses in headers (192.0.2.0/24,
198.51.100.0/24, 2001:db8::/32) are only data: every connection is to
127.0.0.1."""
import ipaddress
import os
import pwd
import smtplib
import socket
import ssl
import struct
import time

from harness import E2ETest, free_port, maildir_messages, wait_for
from test_tls import make_certs

CONF = """
listen on 127.0.0.1 port {proxied} proxy-v2
listen on 127.0.0.1 port {plain}
queue path "{tmp}/spool"
smtp limit max-sessions-per-source 2
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from src {{ 192.0.2.128/25 }} for any reject
match from any for local action "local"
"""

TLS_CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
listen on 127.0.0.1 port {port} smtps pki mail.test proxy-v2
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
"""

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
TOO_MANY = "421 4.7.0 Too many connections from your address, try again later"


def v1(src, dst="127.0.0.1", sport=40000, dport=25):
    family = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode()


def v2(src, dst="127.0.0.1", sport=40000, dport=25, tlv=b""):
    """A v2 PROXY command over TCP, with optional TLV octets after the addresses."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    family = 0x11 if s.version == 4 else 0x21
    block = s.packed + d.packed + struct.pack("!HH", sport, dport) + tlv
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(block)) + block


def v2_local():
    """A v2 LOCAL command (a balancer's health check): no address."""
    return V2_SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00])


def reply_line(sock):
    """The first line the server sends, "" when it closes without one."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(512)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").split("\r\n")[0]


class ProxiedSMTP(smtplib.SMTP):
    """smtplib.SMTP that sends a PROXY header as soon as it connects."""

    def __init__(self, header, *args, **kw):
        self.header = header
        super().__init__(*args, **kw)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(self.header)
        return sock


class ProxiedSMTPSSL(smtplib.SMTP_SSL):
    """SMTP_SSL that sends a PROXY header in plain text, then handshakes."""

    def __init__(self, header, *args, **kw):
        self.header = header
        super().__init__(*args, **kw)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(self.header)
        return self.context.wrap_socket(sock, server_hostname="mail.test")


class ProxyListener(E2ETest):

    def setUp(self):
        super().setUp()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.proxied, self.plain = free_port(), free_port()
        self.d = self.smtpd(CONF.format(proxied=self.proxied, plain=self.plain, tmp=self.tmp,
                                        user=self.user), wait_port=self.plain)

    def connect(self, header=b""):
        sock = socket.create_connection(("127.0.0.1", self.proxied), timeout=10)
        self.addCleanup(sock.close)
        if header:
            sock.sendall(header)
        return sock

    def send_through(self, header, box):
        with ProxiedSMTP(header, "127.0.0.1", self.proxied, timeout=30) as s:
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.sendmail("a@example.org", ["%s@localhost" % box],
                                        "Subject: proxied\r\n\r\nhello\r\n"), {})
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", box)),
                        what="delivery to %s" % box)
        return msgs[0].decode(errors="replace")

    def test_v1_source_in_log_and_received(self):
        msg = self.send_through(v1("192.0.2.10"), "one")
        self.assertIn("Received: from client.test (192.0.2.10 [192.0.2.10])", msg)
        self.assertIn("smtp connected address=192.0.2.10 host=192.0.2.10 proxy=v1 "
                      "via=127.0.0.1", self.d.log())

    def test_v2_source_with_tlv_in_log_and_received(self):
        tlv = bytes([0x04, 0x00, 0x03]) + b"abc"      # PP2_TYPE_NOOP, skipped
        msg = self.send_through(v2("192.0.2.11", tlv=tlv), "two")
        self.assertIn("Received: from client.test (192.0.2.11 [192.0.2.11])", msg)
        self.assertIn("smtp connected address=192.0.2.11 host=192.0.2.11 proxy=v2 "
                      "via=127.0.0.1", self.d.log())

    def test_v2_ipv6_source_in_received(self):
        msg = self.send_through(v2("2001:db8::25", dst="2001:db8::1"), "six")
        self.assertIn("Received: from client.test (2001:db8::25 [2001:db8::25])", msg)

    def test_v2_local_keeps_the_socket_address(self):
        msg = self.send_through(v2_local(), "health")
        self.assertIn("Received: from client.test (127.0.0.1 [127.0.0.1])", msg)
        self.assertIn("smtp connected address=127.0.0.1 host=127.0.0.1 proxy=v2 "
                      "via=127.0.0.1", self.d.log())

    def test_rules_see_the_proxied_source(self):
        with ProxiedSMTP(v1("192.0.2.200"), "127.0.0.1", self.proxied, timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.mail("a@example.org")[0], 250)
            self.assertEqual(s.rcpt("%s@localhost" % self.user),
                             (550, b"5.7.1 Delivery not authorized, message rejected"))
        with ProxiedSMTP(v2("192.0.2.20"), "127.0.0.1", self.proxied, timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.mail("a@example.org")[0], 250)
            self.assertEqual(s.rcpt("%s@localhost" % self.user)[0], 250)
        self.assertIn('result="550 reject"', self.d.log())

    def test_bytes_after_the_header_are_commands(self):
        sock = self.connect(v1("192.0.2.12") + b"EHLO client.test\r\nQUIT\r\n")
        data = b""
        deadline = time.monotonic() + 10
        while b"221 " not in data and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        lines = data.decode().split("\r\n")
        self.assertRegex(lines[0], r"^220 ")
        self.assertRegex(lines[1], r"^250-")
        self.assertEqual(lines[-2], "221 2.0.0 Bye")

    def test_malformed_header_closes_without_greeting(self):
        for bad in (b"PROXY TCP4 192.0.2.300 127.0.0.1 1 25\r\n", b"EHLO client.test\r\n",
                    V2_SIGNATURE + bytes([0x31, 0x11, 0x00, 0x0c]) + bytes(12)):
            self.assertEqual(reply_line(self.connect(bad)), "", bad)
        wait_for(lambda: self.d.log().count('smtp refused connection address=127.0.0.1 '
                                            'reason="malformed PROXY header"') == 3,
                 what="three refusal log lines")

    def test_silent_client_closed_after_the_timeout(self):
        sock = self.connect()
        sock.settimeout(15)
        start = time.monotonic()
        self.assertEqual(reply_line(sock), "")
        waited = time.monotonic() - start
        self.assertGreaterEqual(waited, 4.5)
        self.assertLess(waited, 12)
        # a shard writes its log lines at the end of its turn, after the close
        wait_for(lambda: 'smtp refused connection address=127.0.0.1 '
                         'reason="no PROXY header within 5 seconds"' in self.d.log(),
                 timeout=5, what="the refusal's log line")

    def test_header_split_across_reads(self):
        header = v2("192.0.2.13")
        sock = self.connect(header[:7])
        time.sleep(0.3)
        sock.sendall(header[7:20])
        time.sleep(0.3)
        sock.sendall(header[20:])
        self.assertRegex(reply_line(sock), r"^220 ")
        wait_for(lambda: "smtp connected address=192.0.2.13 " in self.d.log(),
                 what="the connected line")

    def test_listener_without_proxy_v2_takes_no_header(self):
        with smtplib.SMTP("127.0.0.1", self.plain, timeout=30) as s:
            self.assertEqual(s.docmd("PROXY TCP4 192.0.2.14 127.0.0.1 40000 25"),
                             (500, b"5.5.1 Invalid command: Command unrecognized"))
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.mail("a@example.org")[0], 250)
        log = self.d.log()
        self.assertIn("smtp connected address=127.0.0.1 host=127.0.0.1\n", log)
        self.assertNotIn("address=192.0.2.14", log)

    def test_sessions_per_source_count_the_proxied_address(self):
        first = [self.connect(v1("192.0.2.30")) for _ in range(2)]
        self.assertEqual([reply_line(s)[:4] for s in first], ["220 "] * 2)
        self.assertEqual(reply_line(self.connect(v2("192.0.2.30"))), TOO_MANY)
        self.assertEqual(reply_line(self.connect(v1("192.0.2.31")))[:4], "220 ")
        self.assertIn('smtp refused connection address=192.0.2.30 reason="2 sessions from '
                      'this address already', self.d.log())
        first[0].sendall(b"QUIT\r\n")
        self.assertEqual(reply_line(first[0]), "221 2.0.0 Bye")

        def admitted():
            line = reply_line(self.connect(v1("192.0.2.30")))
            return line.startswith("220 ")
        wait_for(admitted, timeout=5, what="room after a session from 192.0.2.30 ended")


class ProxyBeforeSmtps(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.port = free_port()
        self.d = self.smtpd(TLS_CONF.format(port=self.port, tmp=self.tmp,
                                            user=pwd.getpwuid(os.geteuid()).pw_name),
                            wait_port=self.port)

    def test_header_then_handshake_then_mail(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        with ProxiedSMTPSSL(v2("198.51.100.7"), "127.0.0.1", self.port, context=ctx,
                            timeout=30) as s:
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.sendmail("a@example.org", ["tls@localhost"],
                                        "Subject: t\r\n\r\nsecret\r\n"), {})
        msgs = wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "tls")),
                        what="delivery")
        self.assertIn(b"Received: from client.test (198.51.100.7 [198.51.100.7])", msgs[0])
        self.assertIn(b" with ESMTPS ", msgs[0])
        self.assertIn("smtp connected address=198.51.100.7 host=198.51.100.7 proxy=v2",
                      self.d.log())
