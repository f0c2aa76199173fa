"""test/e2e/test_crash_faults.py - crash safety under load: several client
threads send mail into smtpd (local maildir delivery, so deliveries run
during the load too) while smtpd is killed with SIGKILL at random moments
and restarted on the same queue, at least 20 times. Then a last instance
drains the queue and the test checks, per (message, recipient):

- every one answered 250 is delivered, with its body intact
  (acked minus delivered = 0);
- none that got a 4xx/5xx reply (at RCPT or at the end of data: one
  message in twenty is over `max-message-size`, refused with 552 after its
  data) is delivered, nor anything that was never sent;
- duplicates (at-least-once allows them) and the messages whose reply was
  lost in a kill ("unknown": may or may not be delivered) are counted and
  printed, not asserted.

The kill moments come from a seeded generator; the seed is printed and
RINGMTA_FAULT_SEED=N replays the schedule (the load's timing will differ).
RINGMTA_FAULT_KILLS=N changes the least number of kills (default 20); on a
fast machine the kills go on until the load has run LOAD_S seconds. The load
is bounded by time (it runs while the kills go on); every wait has a
deadline.
Loopback only.
"""
import hashlib
import os
import random
import re
import smtplib
import subprocess
import sys
import threading
import time

from harness import BUILD, E2ETest, free_port, wait_for

SMTPCTL = os.path.join(BUILD, "smtpctl")

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for local action "local"
smtp max-message-size {max_kib}K
"""

KILLS = int(os.environ.get("RINGMTA_FAULT_KILLS", "20"))
CLIENTS = 6
USERS = ["u%d" % i for i in range(4)]
UPTIME_S = (0.0, 1.2)           # how long an instance runs before its SIGKILL
LOAD_S = 20                     # kills go on this long, past KILLS if it allows
MAX_KIB = 20                    # bodies of BIG_LINES lines pass it: 552 at the end of data
BODY_LINES = (3, 30, 300)       # the sizes that fit, from a few hundred octets to 17 KB
BIG_LINES = 600
CLIENT_TIMEOUT_S = 30           # one SMTP command (generous: ASan builds are slow)
DRAIN_TIMEOUT_S = 120           # the last instance delivers what is queued
MARKER = re.compile(rb"^X-Fault-Id: (\S+)$", re.M)
DELIVERED_TO = re.compile(rb"^Delivered-To: ([^@\s]+)@localhost$", re.M)
SANITIZER = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer")


def message_body(marker, lines):
    """The body a message carries, with LF line ends (as a maildir keeps
    it); a line starting with a dot checks dot-stuffing across the crashes."""
    text = "".join("%s line %d %s\n" % (marker, i, "x" * (i % 70)) for i in range(lines))
    return (text + ".dot line\nend of %s\n" % marker).encode()


class Ledger:
    """What each client saw, per (marker, recipient): acked (250 at the end
    of data), refused (4xx/5xx at RCPT or at the end of data) or unknown
    (the connection died before the reply to the data); and each marker's
    expected body digest. Shared by the client threads under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = set()
        self.refused = set()
        self.unknown = set()
        self.digest = {}
        self.messages_sent = 0

    def record(self, pairs, outcome):
        with self.lock:
            getattr(self, outcome).update(pairs)

    def expect(self, marker, body):
        with self.lock:
            self.digest[marker] = hashlib.sha256(body).hexdigest()
            self.messages_sent += 1


class Client(threading.Thread):
    """One client: connect, send 1 to 5 messages of 1 or 2 recipients on the
    connection, QUIT, again, until told to stop. A refused connection (the
    server is down) is retried after a short sleep."""

    def __init__(self, index, port, ledger, stop, seed):
        super().__init__(daemon=True)
        self.index = index
        self.port = port
        self.ledger = ledger
        self.stop_event = stop
        self.rng = random.Random(seed)
        self.seq = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                self.one_connection()
        except Exception as e:  # anything but a dead server is the test's bug
            self.error = e

    def one_connection(self):
        try:
            s = smtplib.SMTP("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT_S)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)
            return
        try:
            s.ehlo("client%d.example" % self.index)
            for _ in range(self.rng.randint(1, 5)):
                if self.stop_event.is_set() or not self.one_message(s):
                    break
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            s.close()

    def one_message(self, s):
        """Send one message; return False when the connection is gone."""
        self.seq += 1
        marker = "c%d-%d" % (self.index, self.seq)
        rcpts = self.rng.sample(USERS, self.rng.randint(1, 2))
        big = self.rng.random() < 0.05
        body = message_body(marker, BIG_LINES if big else self.rng.choice(BODY_LINES))
        try:
            if s.mail("sender@example.org")[0] != 250:
                return True
            taken = []
            for r in rcpts:
                code, _ = s.rcpt(r + "@localhost")
                (taken.append(r) if code == 250 else
                 self.ledger.record({(marker, r)}, "refused"))
            if not taken:
                s.rset()
                return True
        except (OSError, smtplib.SMTPException):
            return False          # nothing of the message was sent
        pairs = {(marker, r) for r in taken}
        self.ledger.expect(marker, body)
        header = ("Subject: crash test %s\r\nMessage-ID: <%s@crash.test>\r\n"
                  "X-Fault-Id: %s\r\n\r\n" % (marker, marker, marker)).encode()
        try:
            code, _ = s.data(header + body.replace(b"\n", b"\r\n"))
        except smtplib.SMTPDataError as e:   # DATA itself refused: no body went
            self.ledger.record(pairs, "refused" if e.smtp_code >= 400 else "unknown")
            return True
        except (OSError, smtplib.SMTPException):
            self.ledger.record(pairs, "unknown")
            return False
        self.ledger.record(pairs, "acked" if code == 250 else "refused")
        return True


class Mailboxes:
    """The delivered messages, read once per maildir file: (marker,
    recipient) -> list of body digests, one per copy delivered."""

    def __init__(self, root):
        self.root = root
        self.seen = set()
        self.copies = {}
        self.strays = []        # files with no marker or recipient we can read

    def scan(self):
        for user in USERS:
            new = os.path.join(self.root, user, "new")
            try:
                names = os.listdir(new)
            except FileNotFoundError:
                continue
            for name in names:
                if (user, name) not in self.seen:
                    self.seen.add((user, name))
                    with open(os.path.join(new, name), "rb") as f:
                        self.read_one(user, name, f.read())
        return self

    def read_one(self, user, name, data):
        head, _, body = data.partition(b"\n\n")
        marker, to = MARKER.search(head), DELIVERED_TO.search(head)
        if marker is None or to is None or to.group(1).decode() != user:
            self.strays.append("%s/%s" % (user, name))
            return
        key = (marker.group(1).decode(), user)
        self.copies.setdefault(key, []).append(hashlib.sha256(body).hexdigest())


class CrashFaults(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.seed = int(os.environ.get("RINGMTA_FAULT_SEED", str(random.randrange(1 << 32))))
        print("\ncrash faults: seed %d (RINGMTA_FAULT_SEED=%d replays the kill schedule)"
              % (self.seed, self.seed), file=sys.stderr, flush=True)
        self.port = free_port()
        self.env = dict(os.environ, RINGMTA_RETRY_BASE_S="1")
        conf = CONF.format(port=self.port, tmp=self.tmp, user=self.user(), max_kib=MAX_KIB)
        self.d = self.smtpd(conf, wait_port=self.port, env=self.env)
        self.ledger = Ledger()
        self.stop_clients = threading.Event()
        self.cleanups.append(self.stop_clients.set)
        self.clients = [Client(i, self.port, self.ledger, self.stop_clients, self.seed + i)
                        for i in range(CLIENTS)]

    def kill_and_restart(self, rng):
        """Let the running instance live a random while, check that it is
        still alive (a crash of its own is a failure), SIGKILL it, start
        the next one on the same queue."""
        time.sleep(rng.uniform(*UPTIME_S))
        self.assertIsNone(self.d.proc.poll(), "smtpd died on its own:\n%s"
                          % self.d.log()[-4000:])
        self.d.kill9()
        self.d.start(wait_port=self.port, env=self.env)

    def queue_lines(self):
        r = subprocess.run([SMTPCTL, "-f", self.d.conf, "show", "queue"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        return [l for l in r.stdout.splitlines() if l]

    def drained(self, boxes):
        """True once every acked (marker, recipient) is in its maildir and
        the queue is empty (so nothing more will be delivered)."""
        boxes.scan()
        return self.ledger.acked <= boxes.copies.keys() and not self.queue_lines()

    def test_sigkill_under_load_loses_no_acked_message(self):
        rng = random.Random(self.seed)
        began = time.monotonic()
        for c in self.clients:
            c.start()
        kills = 0
        while kills < KILLS or time.monotonic() - began < LOAD_S:
            self.kill_and_restart(rng)
            kills += 1
        load_s = time.monotonic() - began
        self.stop_clients.set()
        for c in self.clients:
            c.join(timeout=CLIENT_TIMEOUT_S + 10)
            self.assertFalse(c.is_alive(), "client %d did not stop" % c.index)
            self.assertIsNone(c.error, "client %d: %r" % (c.index, c.error))
        boxes = Mailboxes(os.path.join(self.tmp, "mail"))
        try:
            wait_for(lambda: self.drained(boxes), timeout=DRAIN_TIMEOUT_S, interval=0.5,
                     what="every acked message delivered and the queue empty")
        except AssertionError:
            pass          # the checks below say what is missing
        led = self.ledger
        missing = led.acked - boxes.copies.keys()
        wrongly = (led.refused - led.acked) & boxes.copies.keys()
        never_sent = boxes.copies.keys() - led.acked - led.refused - led.unknown
        damaged = sorted(k for k, digests in boxes.copies.items()
                         if k[0] in led.digest and
                         any(d != led.digest[k[0]] for d in digests))
        duplicates = sum(len(v) - 1 for v in boxes.copies.values())
        unknown_delivered = len(led.unknown & boxes.copies.keys())
        print("crash faults: %d kills in %.1f s; %d messages sent, per (message, recipient): "
              "%d acked (250), %d refused (4xx/5xx), %d unknown (no reply, %d of them "
              "delivered); %d delivered, %d duplicate copies; acked minus delivered = %d"
              % (kills, load_s, led.messages_sent, len(led.acked), len(led.refused),
                 len(led.unknown), unknown_delivered, len(boxes.copies), duplicates,
                 len(missing)), file=sys.stderr, flush=True)
        self.assertGreater(len(led.acked), 0, "no message was accepted at all")
        self.assertGreater(len(led.refused), 0, "no oversized message was refused")
        self.assertEqual(sorted(missing)[:20], [], "%d acked messages not delivered"
                         % len(missing))
        self.assertEqual(sorted(wrongly)[:20], [], "delivered after a 4xx/5xx")
        self.assertEqual(sorted(never_sent)[:20], [], "delivered but never sent")
        self.assertEqual(damaged[:20], [], "delivered with a body that differs")
        self.assertEqual(boxes.strays[:20], [], "maildir files without a marker")
        self.assertEqual(self.queue_lines(), [], "queue not empty after the drain")
        self.assertEqual(self.d.stop(), 0, "the last instance did not stop cleanly")
        self.assertIsNone(SANITIZER.search(self.d.log()), "a sanitizer report in the log")


if __name__ == "__main__":
    import unittest
    unittest.main()
