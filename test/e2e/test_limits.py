"""test/e2e/test_limits.py - limits a client meets from another host: with
`smtp limit max-sessions-per-source N` the N+1th concurrent session from one
address is answered 421 4.7.0 and closed, a session that ends makes room,
and clients on the machine itself (loopback) are not counted. The "other
host" is a network namespace this test creates, joined to the daemon's own
namespace by a veth pair with addresses in 10.231.0.0/24; nothing leaves
the two namespaces."""
import json
import os
import shutil
import subprocess
import sys
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
