"""test/e2e/test_ctl_ops.py - the smtpctl commands an operator uses to
hold, watch and repair deliveries, against the real daemon and a relay
peer on loopback (test/e2e/smtp_peer.py):

- pause mta from ADDR for DOMAIN: mail for that domain from that source
  (the action's `src`) stays queued, other domains go; show mta paused
  lists the pause; resume mta from ... delivers the held mail.
- trace smtp / transfer / rules / scheduler: the dialogue and decisions in
  the log; untrace stops them; an unknown subsystem is an error.
- profile queue / imsg: store timings in show stats and the log.
- discover: an envelope whose schedule key was removed with RocksDB's ldb
  (the daemon stopped) is invisible to the scheduler until discovered,
  then delivered; an unknown id is an error.
- show hoststats: the last outcome per domain after a delivery and a
  refused connection.
- encrypt -k / decrypt [-k]: a file sealed with the queue key round-trips,
  the configuration's key opens it, a wrong key fails; the format is
  OpenSMTPD's (checked with Python's cryptography when it is there).
- every one of them refused to an unprivileged user.
Nothing leaves loopback."""
import json
import os
import re
import shutil
import smtplib
import subprocess
import time

from harness import BUILD, E2ETest, free_port, tool, wait_for
from smtp_peer import SmtpPeer
from test_mx import DnsMasq

SMTPCTL = os.path.join(BUILD, "smtpctl")

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "out" relay host smtp://127.0.0.1:{peer} src 127.0.0.2
action "down" relay host smtp://127.0.0.1:{down}
match from local for domain "paused.test" action "out"
match from local for domain "other.test" action "out"
match from local for domain "down.test" action "down"
"""


class CtlOps(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.port, self.peer_port, self.down_port = free_port(), free_port(), free_port()
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.conf = CONF.format(port=self.port, tmp=self.tmp, peer=self.peer_port,
                                down=self.down_port)
        self.d = self.smtpd(self.conf, wait_port=self.port)

    def send(self, rcpt, subject="ops"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("alice@example.org", [rcpt],
                                        "Subject: %s\r\n\r\nbody\r\n" % subject), {})

    def queued_rcpts(self):
        out = self.smtpctl("show", "queue").stdout
        return [l.split("|")[5] for l in out.splitlines() if l]

    def test_pause_mta_from_source_for_domain_holds_then_delivers(self):
        r = self.smtpctl("pause", "mta", "from", "127.0.0.2", "for", "Paused.TEST")
        self.assertEqual(r.stdout, "command succeeded\n")
        self.assertEqual(self.smtpctl("show", "mta", "paused").stdout,
                         "127.0.0.2 -> paused.test\n")
        self.assertEqual(json.loads(self.smtpctl("--json", "show", "mta", "paused").stdout),
                         [{"source": "127.0.0.2", "domain": "paused.test"}])
        self.send("u@paused.test", "held")
        self.send("u@other.test", "goes")
        wait_for(lambda: self.peer.messages >= 1, timeout=20, what="other.test delivered")
        time.sleep(3)   # three scans of the schedule
        self.assertEqual(self.peer.messages, 1, "the paused domain's mail stayed queued")
        self.assertEqual(self.queued_rcpts(), ["u@paused.test"])
        r = self.smtpctl("pause", "mta", "from", "127.0.0.2", "for", "paused.test", want_rc=1)
        self.assertIn("already paused", r.stderr)
        self.smtpctl("resume", "mta", "from", "127.0.0.2", "for", "paused.test")
        wait_for(lambda: self.peer.messages >= 2, timeout=20, what="held mail delivered")
        self.assertEqual(self.queued_rcpts(), [])
        self.assertEqual(self.smtpctl("show", "mta", "paused").stdout, "")
        r = self.smtpctl("resume", "mta", "from", "127.0.0.2", "for", "paused.test", want_rc=1)
        self.assertIn("not paused", r.stderr)
        r = self.smtpctl("pause", "mta", "from", "not-an-address", "for", "x.test", want_rc=1)
        self.assertIn("invalid source address", r.stderr)

    def test_trace_puts_the_dialogue_and_decisions_in_the_log(self):
        for sub in ("smtp", "transfer", "rules", "scheduler"):
            self.assertEqual(self.smtpctl("trace", sub).stdout, "command succeeded\n")
        self.send("u@other.test", "traced")
        wait_for(lambda: self.peer.messages >= 1, timeout=20, what="delivery")
        wait_for(lambda: "trace transfer:" in self.d.log() and
                 re.search(r"trace transfer: \w+ <<< 250", self.d.log()), timeout=10,
                 what="the relay dialogue traced")
        log = self.d.log()
        self.assertRegex(log, r"(?i)trace smtp: [0-9a-f]{16} <<< MAIL FROM:<alice@example\.org>")
        self.assertRegex(log, r"trace smtp: [0-9a-f]{16} >>> 250 ")
        self.assertRegex(log, r"(?i)trace smtp: [0-9a-f]{16} <<< DATA")
        self.assertNotIn("Subject: traced", log, "no body in the trace")
        self.assertRegex(log, r"trace transfer: [0-9a-f]{16} >>> \(\d+ lines? not shown: "
                              r"a message body or credentials\)")
        self.assertRegex(log, r"trace transfer: [0-9a-f]{16} >>> RCPT TO:<u@other\.test>")
        self.assertRegex(log, r"trace transfer: [0-9a-f]{16} <<< 220 peer")
        self.assertRegex(log, r"trace rules: [0-9a-f]{16} rcpt=<u@other\.test> "
                              r"from=<alice@example\.org> accepted by .* line \d+ action=out")
        self.assertRegex(log, r"trace scheduler: [0-9a-f]{16} attempt 1 to <u@other\.test>")
        self.smtpctl("untrace", "all")
        before = len(self.d.log())
        self.send("u@other.test", "untraced")
        wait_for(lambda: self.peer.messages >= 2, timeout=20, what="second delivery")
        time.sleep(0.5)
        self.assertNotIn("trace ", self.d.log()[before:])
        r = self.smtpctl("trace", "everything", want_rc=1)
        self.assertIn("invalid trace keyword: everything", r.stderr)

    def test_profile_queue_and_imsg(self):
        self.smtpctl("profile", "queue")
        self.smtpctl("profile", "imsg")
        self.send("u@other.test")
        wait_for(lambda: self.peer.messages >= 1, timeout=20, what="delivery")
        stats = dict(l.split("=", 1) for l in self.smtpctl("show", "stats").stdout.splitlines())
        self.assertGreater(int(stats["profile.queue.store.write.calls"]), 0, stats)
        self.assertIn("profile.queue.store.sync.max_us", stats)
        self.smtpctl("unprofile", "queue")
        self.smtpctl("unprofile", "imsg")
        log = self.d.log()
        self.assertRegex(log, r"profile queue: store\.write calls=[1-9]\d* avg=\d+us max=\d+us")
        self.assertRegex(log, r"profile imsg: [0-9a-f]{16} \S+ took \d+\.\d+ ms")
        stats = self.smtpctl("show", "stats").stdout
        self.assertNotIn("profile.queue", stats)
        r = self.smtpctl("profile", "disk", want_rc=1)
        self.assertIn("invalid profile keyword: disk", r.stderr)

    def test_show_hoststats_after_a_delivery_and_a_failure(self):
        self.send("u@other.test")
        self.send("u@down.test")
        wait_for(lambda: self.peer.messages >= 1 and "result=TempFail" in self.d.log(),
                 timeout=20, what="a delivery and a deferral")
        now = int(time.time())
        lines = self.smtpctl("show", "hoststats").stdout.splitlines()
        self.assertEqual(len(lines), 2, lines)
        down, other = (l.split("|", 2) for l in lines)   # sorted by domain
        self.assertEqual(down[0], "down.test")
        self.assertRegex(down[2], r"(?i)refused")
        self.assertEqual(other[0], "other.test")
        self.assertTrue(other[2].startswith("250"), other)
        for f in (down, other):
            self.assertLessEqual(abs(int(f[1]) - now), 30)
        js = json.loads(self.smtpctl("--json", "show", "hoststats").stdout)
        self.assertEqual([h["domain"] for h in js], ["down.test", "other.test"])
        self.assertIsInstance(js[0]["time"], int)

    def test_privileged_commands_refused_to_other_users(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run smtpctl as nobody")
        for args in (("trace", "smtp"), ("untrace", "smtp"), ("profile", "queue"),
                     ("discover", "0123456789abcdef"), ("show", "hoststats"),
                     ("show", "mta", "paused"),
                     ("pause", "mta", "from", "127.0.0.2", "for", "x.test")):
            r = self.smtpctl(*args, want_rc=1, user="nobody")
            self.assertIn("permission denied", r.stderr, args)
        self.assertEqual(self.smtpctl("show", "mta", "paused").stdout, "")


TRACE_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table aliases file:{tmp}/aliases
action "out" relay host smtp://127.0.0.1:{peer}
action "mx" relay
action "list" forward-only alias <aliases>
match from local for domain "other.test" action "out"
match from local for domain "list.test" action "list"
match from local for domain "nomx.test" action "mx"
"""


class TraceExpandLookupBounce(E2ETest):
    """trace expand, lookup and bounce: an alias expanded to a relayed
    address; an MX lookup of a domain that does not exist (dnsmasq on
    loopback answers), failing for good, so a report is made."""

    def setUp(self):
        super().setUp()
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        self.dns_port, self.port, self.peer_port = free_port(), free_port(), free_port()
        dns = DnsMasq(self.dns_port, [])
        self.cleanups.append(dns.stop)
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.write("aliases", "team: u@other.test\n")
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(TRACE_CONF.format(port=self.port, tmp=self.tmp,
                                              peer=self.peer_port), env=env,
                            wait_port=self.port)

    def test_expand_lookup_and_bounce_lines(self):
        for sub in ("expand", "lookup", "bounce"):
            self.smtpctl("trace", sub)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("alice@example.org", ["team@list.test"], "Subject: t\r\n\r\nx\r\n")
            s.sendmail("alice@example.org", ["u@nomx.test"], "Subject: t\r\n\r\nx\r\n")
        wait_for(lambda: self.peer.messages >= 1, timeout=20, what="the expanded delivery")
        wait_for(lambda: "trace bounce:" in self.d.log(), timeout=20, what="a report")
        log = self.d.log()
        self.assertRegex(log, r"trace expand: <team@list\.test> -> u@other\.test action=out")
        self.assertRegex(log, r"trace lookup: mx nomx\.test: .*does not exist.*; 0 addresses")
        self.assertRegex(log, r"trace bounce: [0-9a-f]{16} report for 1 recipient to "
                              r"<alice@example\.org>")


class Discover(E2ETest):
    """An envelope present in the store but not in the schedule index."""

    def setUp(self):
        super().setUp()
        if shutil.which("ldb") is None:
            self.skipTest("ldb (rocksdb-tools) not installed")
        self.port, self.peer_port = free_port(), free_port()
        self.conf = CONF.format(port=self.port, tmp=self.tmp, peer=self.peer_port,
                                down=free_port())
        env = dict(os.environ)
        env.pop("RINGMTA_RETRY_BASE_S", None)   # the deferral lasts
        self.env = env
        self.d = self.smtpd(self.conf, wait_port=self.port, env=env)

    def ldb(self, *args):
        r = subprocess.run(["ldb", "--db=%s/spool/queue.db" % self.tmp,
                            "--column_family=schedule"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_discover_schedules_an_envelope_the_scheduler_lost(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("alice@example.org", ["u@other.test"], "Subject: lost\r\n\r\nx\r\n")
        wait_for(lambda: "result=TempFail" in self.d.log(), timeout=20, what="a deferral")
        evpid = self.smtpctl("show", "queue").stdout.split("|")[0]
        self.d.stop()
        keys = [l.split(" ")[0] for l in self.ldb("scan", "--key_hex").splitlines()
                if l.startswith("0x")]
        lost = [k for k in keys if k.lower().endswith(evpid)]
        self.assertEqual(len(lost), 1, keys)
        self.ldb("delete", "--key_hex", lost[0])
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.d.start(wait_port=self.port, env=self.env)
        self.assertEqual(self.smtpctl("show", "queue").stdout, "", "the scheduler lost it")
        r = self.smtpctl("discover", "ffffffff", want_rc=1)
        self.assertIn("no such message", r.stderr)
        r = self.smtpctl("discover", "all", want_rc=1)
        self.assertIn("invalid id", r.stderr)
        self.assertEqual(self.smtpctl("discover", evpid).stdout, "1 envelope discovered\n")
        wait_for(lambda: self.peer.messages >= 1, timeout=20, what="the discovered delivery")
        self.assertRegex(self.d.log(), r"control: discover %s by uid \d+: 1 of 1 envelope "
                                       r"scheduled again" % evpid)
        r = self.smtpctl("discover", evpid, want_rc=1)
        self.assertIn("no such envelope", r.stderr)


KEY = "0123456789abcdef0123456789abcdef"
RULES = 'action "l" maildir "/nonexistent"\nmatch for local action "l"\n'


class Decrypt(E2ETest):
    """encrypt -k and decrypt [-k]: no daemon needed."""

    def run_ctl(self, *args, stdin=b"", conf=None, want_rc=0):
        cmd = [SMTPCTL] + (["-f", conf] if conf else []) + list(args)
        r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, want_rc, r.stderr)
        return r

    def test_decrypt_round_trips_encrypt(self):
        plain = os.urandom(70000) + b"\r\nend of a message\r\n"
        path = os.path.join(self.tmp, "plain")
        with open(path, "wb") as f:
            f.write(plain)
        sealed = self.run_ctl("encrypt", "-k", path, stdin=(KEY + "\n").encode()).stdout
        self.assertEqual(len(sealed), len(plain) + 1 + 12 + 16)
        self.assertEqual(sealed[0], 1, "OpenSMTPD's version octet")
        sealed_path = os.path.join(self.tmp, "sealed")
        with open(sealed_path, "wb") as f:
            f.write(sealed)
        # the key on the first line, the data after it
        out = self.run_ctl("decrypt", "-k", stdin=(KEY + "\n").encode() + sealed).stdout
        self.assertEqual(out, plain)
        # the configuration's queue encryption key
        conf = self.write("enc.conf", 'queue path "%s/spool"\nqueue encryption %s\n%s'
                          % (self.tmp, KEY, RULES))
        self.assertEqual(self.run_ctl("decrypt", sealed_path, conf=conf).stdout, plain)
        r = self.run_ctl("decrypt", "-k", sealed_path, stdin=b"X" * 32 + b"\n", want_rc=1)
        self.assertIn("not sealed with this key", r.stderr.decode())
        self.assertEqual(r.stdout, b"")
        r = self.run_ctl("decrypt", "-k", sealed_path, stdin=b"short\n", want_rc=1)
        self.assertIn("must be 32 octets", r.stderr.decode())
        plain_conf = self.write("plain.conf", 'queue path "%s/spool"\n%s' % (self.tmp, RULES))
        r = self.run_ctl("decrypt", sealed_path, conf=plain_conf, want_rc=1)
        self.assertIn("has no queue encryption key", r.stderr.decode())
        self.run_ctl("encrypt", "-k", "a", "b", want_rc=1)

    def test_the_format_is_opensmtpds(self):
        """Sealed with AES-256-GCM by Python's cryptography (Debian's python3)
        as OpenSMTPD's crypto_encrypt_buffer() lays it out, opened by
        smtpctl; and the other way."""
        script = (
            "import os, sys\n"
            "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
            "k = sys.argv[1].encode(); mode = sys.argv[2]; data = sys.stdin.buffer.read()\n"
            "if mode == 'seal':\n"
            "    iv = os.urandom(12)\n"
            "    sys.stdout.buffer.write(b'\\x01' + iv + AESGCM(k).encrypt(iv, data, None))\n"
            "else:\n"
            "    assert data[0] == 1\n"
            "    sys.stdout.buffer.write(AESGCM(k).decrypt(data[1:13], data[13:], None))\n")
        py = "/usr/bin/python3"
        if subprocess.run([py, "-c", "import cryptography"], capture_output=True).returncode:
            self.skipTest("python3-cryptography not installed")
        plain = b"Subject: sealed elsewhere\r\n\r\nhello\r\n"
        theirs = subprocess.run([py, "-c", script, KEY, "seal"], input=plain,
                                capture_output=True, check=True).stdout
        self.assertEqual(self.run_ctl("decrypt", "-k", stdin=(KEY + "\n").encode() + theirs)
                         .stdout, plain)
        ours = self.run_ctl("encrypt", "-k", stdin=(KEY + "\n").encode() + plain).stdout
        back = subprocess.run([py, "-c", script, KEY, "open"], input=ours,
                              capture_output=True, check=True).stdout
        self.assertEqual(back, plain)


if __name__ == "__main__":
    import unittest
    unittest.main()
