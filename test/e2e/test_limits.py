"""test/e2e/test_limits.py - limits a client meets. With
`smtp limit max-sessions-per-source N` the N+1th concurrent session from one
address is answered 421 4.7.0 and closed, a session that ends makes room,
and clients on the machine itself (loopback) are not counted: the "other
host" is a network namespace this test creates, joined to the daemon's own
namespace by a veth pair with addresses in 10.231.0.0/24; nothing leaves
the two namespaces. With `smtp limit max-sessions N` the N+1th session in
all is refused with 421 4.7.0, loopback included; with `smtp timeout` a
silent client is told 421 4.4.2 and closed."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

from harness import E2ETest, free_port, wait_for

CLIENT = r"""
import json, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks, greetings = [], []
def open_one():
    s = socket.create_connection((host, port), timeout=10)
    greetings.append(s.recv(512).decode(errors="replace").strip())
    socks.append(s)
for _ in range(n):
    open_one()
socks[0].sendall(b"QUIT\r\n")
socks[0].recv(512)
socks[0].close()
import time
for _ in range(100):           # the daemon notices the end of the session
    time.sleep(0.05)
    s = socket.create_connection((host, port), timeout=10)
    line = s.recv(512).decode(errors="replace").strip()
    s.close()
    if line.startswith("220"):
        break
greetings.append(line)
print(json.dumps(greetings))
"""

CONF = """
listen on 10.231.0.1 port {port}
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
smtp limit max-sessions-per-source 3
action "local" maildir "{tmp}/mail/%{{rcpt.user}}"
match from any for local action "local"
"""


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, timeout=20,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("ip"),
                     "needs root and iproute2 for network namespaces")
class SessionsPerSource(E2ETest):

    def make_namespaces(self):
        tag = "%d" % os.getpid()
        self.srv, self.cli = "rmta-srv-" + tag, "rmta-cli-" + tag
        for ns in (self.srv, self.cli):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=20)
            ip("netns", "add", ns)
            self.addCleanup(subprocess.run, ["ip", "netns", "del", ns], timeout=20)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.srv, "link", "add", "vs" + tag, "type", "veth", "peer", "name",
           "vc" + tag, "netns", self.cli)
        ip("-n", self.srv, "addr", "add", "10.231.0.1/24", "dev", "vs" + tag)
        ip("-n", self.cli, "addr", "add", "10.231.0.2/24", "dev", "vc" + tag)
        ip("-n", self.srv, "link", "set", "vs" + tag, "up")
        ip("-n", self.cli, "link", "set", "vc" + tag, "up")

    def clients(self, ns, host, n):
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT,
                            host, str(self.port), str(n)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_fourth_session_from_one_address_refused_loopback_exempt(self):
        self.make_namespaces()
        self.port = free_port()
        d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp),
                       wrapper=("ip", "netns", "exec", self.srv))
        got = self.clients(self.cli, "10.231.0.1", 4)
        self.assertEqual([g[:3] for g in got[:3]], ["220"] * 3, got)
        self.assertEqual(got[3], "421 4.7.0 Too many connections from your address, "
                                 "try again later")
        self.assertEqual(got[4][:3], "220", "a session that ended makes room: %s" % got)
        log = wait_for(lambda: "max-sessions-per-source" in d.log() and d.log(),
                       what="refusal log line")
        self.assertIn("smtp refused connection address=10.231.0.2 reason=\"3 sessions "
                      "from this address already", log)
        local = self.clients(self.srv, "127.0.0.1", 6)
        self.assertEqual([g[:3] for g in local], ["220"] * 7, "loopback is not counted")


SESSIONS_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
smtp limit max-sessions 2
smtp timeout 2s
action "local" maildir "{tmp}/mail/%{{rcpt.user}}"
match from any for local action "local"
"""


class SessionsAndTimeout(E2ETest):
    """`smtp limit max-sessions` (here on one shard: smtpd pinned to one CPU)
    and `smtp timeout`, which apply to every client, loopback too."""

    def start(self):
        self.port = free_port()
        return self.smtpd(SESSIONS_CONF.format(port=self.port, tmp=self.tmp),
                          wrapper=("taskset", "-c", "0"), wait_port=self.port)

    def greeting(self, s):
        return s.recv(512).decode(errors="replace").strip()

    @unittest.skipUnless(shutil.which("taskset"), "needs taskset (util-linux)")
    def test_third_session_refused_until_one_ends(self):
        d = self.start()
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=10)
                 for _ in range(2)]
        for s in socks:
            self.addCleanup(s.close)
            self.assertEqual(self.greeting(s)[:4], "220 ")
        extra = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(extra.close)
        self.assertEqual(self.greeting(extra), "421 4.7.0 Too many connections, try again later")
        self.assertEqual(extra.recv(512), b"", "closed after the 421")
        socks[0].sendall(b"QUIT\r\n")
        self.assertEqual(self.greeting(socks[0])[:4], "221 ")
        socks[0].close()

        def admitted():
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            line = self.greeting(s)
            s.close()
            return line.startswith("220 ")
        wait_for(admitted, timeout=10, what="room after a session ended")
        self.assertIn("smtp refused connection address=127.0.0.1 reason=\"2 sessions on this "
                      "shard already (smtp limit max-sessions)\"", d.log())

    @unittest.skipUnless(shutil.which("taskset"), "needs taskset (util-linux)")
    def test_silent_client_told_421_4_4_2_after_the_timeout(self):
        d = self.start()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        self.assertEqual(self.greeting(s)[:4], "220 ")
        s.sendall(b"EHLO client.example\r\n")
        self.assertTrue(self.greeting(s).startswith("250"))
        started = time.monotonic()
        line = self.greeting(s)           # blocks until the daemon speaks
        waited = time.monotonic() - started
        self.assertRegex(line, r"^421 4\.4\.2 \S+ Timeout, closing$")
        self.assertGreaterEqual(waited, 1.5)
        self.assertLess(waited, 8)
        self.assertEqual(s.recv(512), b"", "closed after the 421")
        wait_for(lambda: "smtp disconnected reason=timeout" in d.log(), timeout=5,
                 what="the timeout log line")
