"""test/e2e/test_lmtp.py - the `lmtp` action: delivery to an LMTP server
on host:port or a UNIX socket, one answer per recipient after the data
(RFC 2033): each recipient is done, retried or bounced by its own answer.
RCPT TO carries the local user (lowercased, +tag removed) or, with
`rcpt-to`, the address; with `virtual` or `alias` tables, the user an entry
names or the address that led to it, while a |command entry runs as an mda
delivery. Peers: the project's test server (per-recipient
answers) and Postfix's smtp-sink -L."""
import os
import re
import smtplib
import subprocess

from harness import E2ETest, free_port, port_open, tool, wait_for
from lmtp_peer import LmtpPeer

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "tcp" lmtp "127.0.0.1:{lport}"
action "sock" lmtp "{tmp}/lmtp.sock" rcpt-to
table vusers file:{tmp}/vusers
table al file:{tmp}/aliases
action "vtcp" lmtp "127.0.0.1:{lport}" virtual <vusers>
action "asock" lmtp "{tmp}/lmtp.sock" rcpt-to alias <al>
match from any for domain "tcp.example" action "tcp"
match from any for domain "sock.example" action "sock"
match from any for domain "virt.example" action "vtcp"
match from any for domain "alias.example" action "asock"
"""

# users every Debian system has, so that the expansion's user check passes
VUSERS = """
info@virt.example nobody
sales@virt.example bin
@virt.example daemon
"""

ALIASES = """
team: bin
fwd: info@virt.example
pipe: "|{tmp}/record.sh"
"""

RECORD_SH = """#!/bin/sh
{{ echo "user=$(id -un) recipient=$RECIPIENT"; cat; }} >> {tmp}/drop/pipe.out
"""


class Lmtp(E2ETest):

    def start(self):
        self.port, self.lport = free_port(), free_port()
        self.write("vusers", VUSERS)
        self.write("aliases", ALIASES.format(tmp=self.tmp))
        os.chmod(self.write("record.sh", RECORD_SH.format(tmp=self.tmp)), 0o755)
        os.makedirs(os.path.join(self.tmp, "drop"))
        os.chmod(os.path.join(self.tmp, "drop"), 0o1777)
        env = dict(os.environ, RINGMTA_RETRY_BASE_S="1")
        self.d = self.smtpd(CONF.format(port=self.port, lport=self.lport, tmp=self.tmp),
                            wait_port=self.port, env=env)

    def peer(self, **kw):
        p = LmtpPeer(**kw)
        self.cleanups.append(p.stop)
        return p

    def result(self, rcpt):
        """The first delivery line for rcpt: (result, stat)."""
        m = re.search(r"mda delivery evpid=\w+ from=<[^>]*> to=<%s> rcpt=<[^>]*> "
                      r"relay=[^ ]+(?: \[[^]]+\]:\d+)? delay=\d+s result=(\w+) stat=(.*)"
                      % re.escape(rcpt), self.d.log())
        return m.groups() if m else None

    def test_each_recipient_has_its_own_answer(self):
        self.start()
        peer = self.peer(port=self.lport)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            refused = s.sendmail("a@example.org", ["Alice+box@tcp.example", "full1@tcp.example",
                                                   "gone1@tcp.example", "nouser1@tcp.example"],
                                 "Subject: lmtp\r\n\r\none body, four answers\r\n")
        self.assertEqual(refused, {})
        for rcpt in ("Alice+box@tcp.example", "full1@tcp.example", "gone1@tcp.example",
                     "nouser1@tcp.example"):
            wait_for(lambda: self.result(rcpt), timeout=20, what="result for %s" % rcpt)
        self.assertEqual(self.result("Alice+box@tcp.example"),
                         ("Ok", "250 2.0.0 <alice> Saved"))
        self.assertEqual(self.result("full1@tcp.example"),
                         ("TempFail", "452 4.2.2 <full1> Mailbox full"))
        self.assertEqual(self.result("gone1@tcp.example"),
                         ("PermFail", "550 5.1.1 <gone1> Gone away"))
        self.assertEqual(self.result("nouser1@tcp.example"),
                         ("PermFail", "550 5.1.1 <nouser1> No such user"))
        first = peer.delivered()[0]
        self.assertEqual(first["rcpts"], ["alice", "full1", "gone1"])
        self.assertEqual(first["mail"], "MAIL FROM:<a@example.org>")
        self.assertIn(b"one body, four answers\r\n", first["body"])
        self.assertRegex(first["body"].decode(), r"^Received: from ")
        # only the recipient that was told 452 comes back, alone
        wait_for(lambda: len(peer.delivered()) >= 2, timeout=20, what="the retry")
        self.assertEqual(peer.delivered()[1]["rcpts"], ["full1"])

    def test_unix_socket_with_rcpt_to(self):
        self.start()
        path = os.path.join(self.tmp, "lmtp.sock")
        peer = self.peer(path=path)
        os.chmod(path, 0o777)   # the shards connect as the daemon's user
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.sendmail("a@example.org", ["Bob+x@sock.example", "carol@sock.example"],
                       "Subject: sock\r\n\r\n.leading dot\r\nend\r\n")
        wait_for(lambda: peer.delivered(), timeout=20, what="delivery over the socket")
        t = peer.delivered()[0]
        self.assertEqual(t["rcpts"], ["Bob+x@sock.example", "carol@sock.example"])
        self.assertIn(b"\r\n.leading dot\r\nend\r\n", t["body"])
        wait_for(lambda: self.result("carol@sock.example"), timeout=20, what="log line")
        self.assertEqual(self.result("carol@sock.example")[0], "Ok")

    def test_postfix_smtp_sink_as_lmtp_server(self):
        sink = tool("smtp-sink")
        if sink is None:
            self.skipTest("smtp-sink not installed")
        self.start()
        out = os.path.join(self.tmp, "sink")
        os.makedirs(out)
        os.chmod(out, 0o777)
        args = [sink, "-L", "-d", os.path.join(out, "%M."), "-c"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        p = subprocess.Popen(args + ["127.0.0.1:%d" % self.lport, "16"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: (p.terminate(), p.wait(5)))
        wait_for(lambda: port_open(self.lport), what="smtp-sink -L")
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.sendmail("a@example.org", ["dave@tcp.example", "erin@tcp.example"],
                       "Subject: sink\r\n\r\nto smtp-sink\r\n")
        for rcpt in ("dave@tcp.example", "erin@tcp.example"):
            wait_for(lambda: self.result(rcpt), timeout=20, what="result for %s" % rcpt)
            self.assertEqual(self.result(rcpt)[0], "Ok")
        files = [os.path.join(r, f) for r, _, fs in os.walk(out) for f in fs]
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertIn(b"to smtp-sink", f.read())

    def test_virtual_users_reach_the_lmtp_server_by_name(self):
        self.start()
        peer = self.peer(port=self.lport)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.sendmail("a@example.org", ["info@virt.example", "sales@virt.example",
                                         "whoever@virt.example"],
                       "Subject: virtual\r\n\r\nthree users\r\n")
        wait_for(lambda: peer.delivered(), timeout=20, what="the LMTP transaction")
        self.assertEqual(sorted(peer.delivered()[0]["rcpts"]), ["bin", "daemon", "nobody"])
        for rcpt in ("info@virt.example", "sales@virt.example", "whoever@virt.example"):
            wait_for(lambda: self.result(rcpt), timeout=20, what="result for %s" % rcpt)
            self.assertEqual(self.result(rcpt)[0], "Ok")

    def test_alias_entries_under_an_lmtp_action(self):
        self.start()
        path = os.path.join(self.tmp, "lmtp.sock")
        sock_peer = self.peer(path=path)
        os.chmod(path, 0o777)
        tcp_peer = self.peer(port=self.lport)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            for rcpt in ("team@alias.example", "fwd@alias.example", "pipe@alias.example"):
                self.assertEqual(s.rcpt(rcpt)[0], 250, rcpt)
            if os.geteuid() == 0:   # a system user is looked up; none by that name
                code, msg = s.rcpt("no-such-user-rm@alias.example")
                self.assertEqual((code, msg[:5]), (550, b"5.1.1"))
            self.assertEqual(s.data(b"Subject: aliases\r\n\r\nthree ways\r\n")[0], 250)
        # rcpt-to: the address that led to the user
        wait_for(lambda: sock_peer.delivered(), timeout=20, what="LMTP over the socket")
        self.assertEqual(sock_peer.delivered()[0]["rcpts"], ["team@alias.example"])
        # user@domain went through the rules again: the virtual action's user
        wait_for(lambda: tcp_peer.delivered(), timeout=20, what="LMTP over TCP")
        self.assertEqual(tcp_peer.delivered()[0]["rcpts"], ["nobody"])
        # |command: run by the delivery helper, not sent to the LMTP server
        out = os.path.join(self.tmp, "drop", "pipe.out")
        wait_for(lambda: os.path.exists(out) and "three ways" in open(out).read(),
                 timeout=20, what="the alias command")
        with open(out) as f:
            self.assertIn("recipient=pipe@alias.example", f.read())
        self.assertRegex(self.d.log(), r"mda delivery .* to=<pipe@alias\.example> "
                                       r"rcpt=<pipe@alias\.example> user=\S+ .*result=Ok")
