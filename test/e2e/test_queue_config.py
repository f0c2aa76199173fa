"""test/e2e/test_queue_config.py - the queue's storage and expiry options of
smtpd.conf as an operator sees them:

  queue encryption KEY: a queued body is nowhere in clear in the spool
  (its envelope, not encrypted, is: the search does see the store); a
  restart with another key refuses to start and says why; with the same key
  the message is delivered; smtpd -n refuses a key that is not 32 octets at
  its place without printing it; the key can come on standard input
  queue compression: bodies are compressed with zstd only when asked, and
  turning it on for a queue that holds mail loses nothing
  action ... ttl and queue ttl: an envelope that cannot be relayed fails
  with a report to its sender once its action's ttl (else the queue's) has
  passed, and not before

Relays go to a loopback port nothing listens on until a test starts
Postfix's smtp-sink there; retries come after 1, 4, 9 ... seconds
(RINGMTA_RETRY_BASE_S=1)."""
import os
import pwd
import re
import smtplib
import subprocess
import time
import uuid

from harness import BUILD, SMTPD, E2ETest, Smtpd, free_port, maildir_messages, wait_for

USER = pwd.getpwuid(os.geteuid()).pw_name
KEY = "5101bef20f4d02c826bffc243e15a7c0"      # openssl rand -hex 16: 32 octets
OTHER_KEY = "dec4d2291d3384106242a4576f0c6ee3"
RETRY_ENV = dict(os.environ, RINGMTA_RETRY_BASE_S="1")
SENDMAIL = os.path.join(BUILD, "smtpctl")       # run as "sendmail"
LONG_BODY = "\r\n".join(["y" * 70] * 1200)   # past one 64 KiB chunk

# the queue line is line 3: smtpd -n names its place
CONF = """listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
{queue}
table far {{ "example.net" }}
table patient {{ "example.org" }}
action "out" relay host smtp://127.0.0.1:{relay}{out_ttl}
action "patient" relay host smtp://127.0.0.1:{relay} ttl 1h
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from local for domain <far> action "out"
match from local for domain <patient> action "patient"
match from local for local action "local"
"""


class QueueConfig(E2ETest):

    def setUp(self):
        super().setUp()
        self.port, self.relay = free_port(), free_port()
        self.d = None

    def conf(self, queue, out_ttl=""):
        return CONF.format(port=self.port, tmp=self.tmp, queue=queue, relay=self.relay,
                           out_ttl=out_ttl, user=USER)

    def start(self, queue, out_ttl="", stdin_text=None):
        if self.d is None:
            self.d = self.smtpd(self.conf(queue, out_ttl), wait_port=self.port, env=RETRY_ENV,
                                stdin_text=stdin_text)
        else:
            self.d.write_config(self.conf(queue, out_ttl))
            self.d.start(wait_port=self.port, env=RETRY_ENV, stdin_text=stdin_text)
        return self.d

    def start_refused(self, queue, stdin_text=None):
        """Start smtpd with a config it must refuse; returns (status, the
        log of that run)."""
        if self.d is None:
            self.d = Smtpd(self.tmp, self.conf(queue))
            self.cleanups.append(self.d.stop)
        earlier = len(self.d.log())
        self.d.write_config(self.conf(queue))
        self.d.start(env=RETRY_ENV, wait_ready=False, stdin_text=stdin_text)
        self.d.proc.wait(timeout=20)
        self.d.logfile.close()
        return self.d.proc.returncode, self.d.log()[earlier:]

    def send(self, rcpts, body, sender="alice@localhost"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            msg = ("From: %s\r\nSubject: queue config\r\n\r\n%s\r\n" % (sender, body))
            self.assertEqual(s.sendmail(sender, rcpts, msg), {})

    def spool_bytes(self):
        """Every file of the spool, concatenated."""
        out = []
        for root, _dirs, files in os.walk(os.path.join(self.tmp, "spool")):
            for name in files:
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        out.append(f.read())
                except OSError:
                    pass   # a socket, or a file RocksDB just removed
        return b"".join(out)

    def failed_attempt(self, n=1):
        wait_for(lambda: self.d.log().count("result=TempFail") >= n, timeout=30,
                 what="%d failed relay attempt(s)" % n)

    def reports(self):
        return [m.decode("utf-8", "replace")
                for m in maildir_messages(os.path.join(self.tmp, "mail", "alice"))]

    def bodies_compression(self):
        """What the newest RocksDB OPTIONS file says the bodies family uses."""
        db = os.path.join(self.tmp, "spool", "queue.db")
        newest = max((f for f in os.listdir(db) if f.startswith("OPTIONS-")),
                     key=lambda f: int(f.split("-")[1]))
        with open(os.path.join(db, newest)) as f:
            text = f.read()
        section = text.split('[CFOptions "bodies"]')[1].split("\n[")[0]
        return (re.search(r"\n\s*compression=(\w+)", section).group(1),
                re.search(r"\n\s*blob_compression_type=(\w+)", section).group(1))

    # --- queue encryption ---

    def test_encrypted_body_is_not_on_disk_and_needs_its_key(self):
        marker = "marker-%s" % uuid.uuid4().hex
        rcpt = "rcpt-%s@example.net" % uuid.uuid4().hex[:12]
        self.start('queue encryption "%s"' % KEY)
        self.assertIn("smtpd: queue encryption\n", self.d.log())
        self.send([rcpt], "the secret line: %s" % marker)
        self.failed_attempt()
        disk = self.spool_bytes()
        self.assertIn(rcpt.encode(), disk, "the search reads the store (envelopes are plain)")
        self.assertNotIn(marker.encode(), disk, "the body is on disk in clear")
        self.d.stop()
        disk = self.spool_bytes()
        self.assertIn(rcpt.encode(), disk)
        self.assertNotIn(marker.encode(), disk, "the body is on disk in clear after a stop")

        # another key: no start, a clear reason, and the message still queued
        status, log = self.start_refused('queue encryption "%s"' % OTHER_KEY)
        self.assertNotEqual(status, 0)
        self.assertIn("smtpd: queue %s/spool: queue encryption key does not match the key "
                      "this queue was written with\n" % self.tmp, log)
        self.assertNotIn(KEY, self.d.log())
        self.assertNotIn(OTHER_KEY, self.d.log())

        # the same key: delivered, the body intact
        sink = self.sink(self.relay)
        self.start('queue encryption "%s"' % KEY)
        msgs = wait_for(lambda: sink.messages(), timeout=30, what="the relayed message")
        self.assertIn(("the secret line: %s" % marker).encode(), msgs[0])
        self.assertNotIn(KEY, self.d.log())

    def test_smtpd_n_refuses_a_key_that_is_not_32_octets(self):
        conf = os.path.join(self.tmp, "check.conf")
        for key, want in (
                (KEY[:31], "%s:3:18: queue encryption key must be 32 octets, not 31 "
                           "(\"openssl rand -hex 16\" prints one)\n" % conf),
                (KEY + KEY, "%s:3:18: queue encryption key must be 32 octets, not 64 "
                            "(\"openssl rand -hex 16\" prints one)\n" % conf)):
            with open(conf, "w") as f:
                f.write(self.conf('queue encryption "%s"' % key))
            r = subprocess.run([SMTPD, "-n", "-f", conf], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr, want, "no line with the key under the message")
            self.assertEqual(r.stdout, "")
        with open(conf, "w") as f:
            f.write(self.conf('queue encryption "%s"' % KEY))
        r = subprocess.run([SMTPD, "-n", "-f", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))

    def test_key_from_standard_input(self):
        # the first start makes the queue: a later start with the key in
        # the file opens it, so the line read was the key
        status, log = self.start_refused("queue encryption stdin", stdin_text="short\n")
        self.assertEqual(status, 1)
        self.assertEqual(log, "%s: queue encryption: the key read from standard input is "
                              "5 octets, it must be 32\n" % self.d.conf)
        marker = "marker-%s" % uuid.uuid4().hex
        self.start("queue encryption -", stdin_text=KEY + "\n")
        self.send(["a@example.net"], marker)
        self.failed_attempt()
        self.assertNotIn(marker.encode(), self.spool_bytes())
        self.d.stop()
        sink = self.sink(self.relay)
        self.start('queue encryption "%s"' % KEY)
        msgs = wait_for(lambda: sink.messages(), timeout=30, what="the relayed message")
        self.assertIn(marker.encode(), msgs[0])

    # --- queue compression ---

    def blob_files(self):
        db = os.path.join(self.tmp, "spool", "queue.db")
        out = []
        for name in sorted(os.listdir(db)):
            if name.endswith(".blob"):
                with open(os.path.join(db, name), "rb") as f:
                    out.append(f.read())
        return out

    def test_compression_only_when_asked_and_switchable_with_mail_queued(self):
        first = ("queued before compression " + "x" * 5000).encode()
        self.start("")
        self.send(["a@example.net"], first.decode())
        self.failed_attempt()
        self.assertEqual(self.bodies_compression(), ("kNoCompression", "kNoCompression"))
        self.d.stop()
        # reopening moves what the write-ahead log holds into table and blob
        # files: the body, past 4 KiB, lands in a blob file, as it was sent
        self.start("")
        self.d.stop()
        self.assertTrue(any(first in b for b in self.blob_files()), "stored uncompressed")
        sink = self.sink(self.relay)
        self.start("queue compression")
        self.assertIn("smtpd: queue compression\n", self.d.log())
        self.assertEqual(self.bodies_compression(), ("kZSTD", "kZSTD"))
        wait_for(lambda: any(first in m for m in sink.messages()), timeout=30,
                 what="the message queued before compression")
        self.send(["b@example.net"], "sent with compression\r\n" + LONG_BODY)
        # smtp-sink keeps lines with LF; a file may be read while it is written
        second = ("sent with compression\n" + LONG_BODY.replace("\r\n", "\n")).encode()
        wait_for(lambda: any(second in m for m in sink.messages()), timeout=30,
                 what="the whole message sent with compression")

    # --- ttl ---

    def expired_report(self, rcpt):
        """The failure report about rcpt in alice's maildir, checked."""
        rep = wait_for(lambda: [r for r in self.reports() if "rfc822; %s\n" % rcpt in r],
                       timeout=30, what="the failure report for %s" % rcpt)[0]
        self.assertIn("\nSubject: Delivery status notification: error\n", rep)
        self.assertIn("%s: could not be delivered before the queue lifetime ran out; "
                      "last error: " % rcpt, rep)
        self.assertIn("\nFinal-Recipient: rfc822; %s\nAction: failed\nStatus: 4.4.7\n" % rcpt,
                      rep)
        return rep

    def test_action_ttl_expires_its_envelopes_before_the_queue_ttl(self):
        self.start("", out_ttl=" ttl 2s")
        sent = time.monotonic()
        self.send(["a@example.net", "b@example.org"], "short-lived")
        # a local submission (the control socket) takes its action's ttl too
        r = subprocess.run(["sendmail", "-f", "alice@localhost", "c@example.net"],
                           executable=SENDMAIL, input=b"Subject: local\n\nshort-lived\n",
                           env=dict(os.environ, SMTPD_CONF=self.d.conf),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = self.expired_report("a@example.net")
        self.expired_report("c@example.net")
        self.assertLess(time.monotonic() - sent, 20, "ttl 2s, not the queue's 4 days")
        self.assertNotIn("b@example.org", rep, "the other action's ttl is 1h")
        self.assertRegex(self.d.log(), r"[0-9a-f]{16} envelope expired after \d+ attempts")
        time.sleep(3)
        self.assertEqual(self.d.log().count("envelope expired"), 2, self.d.log())
        self.assertEqual(len(self.reports()), 2)

    def test_queue_ttl_expires_envelopes_of_actions_without_one(self):
        self.start("queue ttl 3s")
        sent = time.monotonic()
        self.send(["a@example.net", "b@example.org"], "short-lived")
        rep = self.expired_report("a@example.net")
        self.assertGreater(time.monotonic() - sent, 1.5, "expired before the queue ttl")
        self.assertNotIn("b@example.org", rep, "its action's own ttl is 1h")
        time.sleep(3)
        self.assertEqual(self.d.log().count("envelope expired"), 1, self.d.log())
