"""test/e2e/test_pipelining.py - many messages over many sessions into the
real build/smtpd, with and without PIPELINING (RFC 2920), and every one
delivered exactly once to its maildir. Postfix's smtp-source speaks one
command per round trip (smtp-source(1): "No SMTP command pipelining
support"); build/mtaload sends MAIL, RCPT and DATA in one write, or one
command per round trip with -P. Correctness only: how much faster pipelined
sessions are is measured by bench/pipelining.py, never asserted here.
Everything talks to 127.0.0.1 only."""
import json
import os
import pwd
import re
import subprocess

from harness import BUILD, E2ETest, free_port, maildir_messages, tool, wait_for

MTALOAD = os.path.join(BUILD, "mtaload")
CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
{limits}action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from any for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)
RUN_TIMEOUT_S = 120
DELIVERY_TIMEOUT_S = 60
SESSIONS = 5
MESSAGES = 100
MESSAGE_ID = re.compile(rb"^Message-I[Dd]: (<[^>\n]+>)$", re.M)


class Pipelining(E2ETest):

    def start(self, limits=""):
        self.port = free_port()
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, limits=limits),
                            wait_port=self.port)

    def box(self, user):
        return maildir_messages(os.path.join(self.tmp, "mail", user))

    def wait_box(self, user, n):
        """Wait until user's maildir holds at least n messages; return them."""
        return wait_for(lambda: len(self.box(user)) >= n and self.box(user),
                        timeout=DELIVERY_TIMEOUT_S, what="%d messages for %s" % (n, user))

    def smtp_source(self, user, *extra):
        source = tool("smtp-source")
        if source is None:
            self.skipTest("smtp-source (postfix) not installed")
        r = subprocess.run([source, "-s", str(SESSIONS), "-m", str(MESSAGES), "-l", "2048",
                            "-f", "src@example.org", "-t", "%s@localhost" % user] + list(extra) +
                           ["127.0.0.1:%d" % self.port], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stdout)

    def mtaload(self, user, *extra):
        """Run mtaload; return (its JSON report, the Message-IDs it saw accepted)."""
        if not os.access(MTALOAD, os.X_OK):
            self.skipTest("build/mtaload not built")
        ids = os.path.join(self.tmp, "%s.ids" % user)
        r = subprocess.run([MTALOAD, "--json", "-q", "-s", str(SESSIONS), "-m", str(MESSAGES),
                            "-f", "load@example.org", "-t", "%s@localhost" % user,
                            "--timeout", "20s", "--ids", ids] + list(extra) +
                           ["127.0.0.1:%d" % self.port], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        report = json.loads(r.stdout)
        self.assertEqual(report["messages"], {"started": MESSAGES, "accepted": MESSAGES,
                                              "rejected": 0, "failed": 0})
        with open(ids) as f:
            return report, f.read().split()

    def assertEachOnce(self, user, accepted_ids):
        """user's maildir holds exactly the messages with these Message-IDs."""
        msgs = self.wait_box(user, len(accepted_ids))
        got = sorted(MESSAGE_ID.search(m).group(1).decode() for m in msgs)
        self.assertEqual(len(set(accepted_ids)), MESSAGES)
        self.assertEqual(got, sorted(accepted_ids))

    def assertLogged(self, n):
        """The daemon committed exactly n messages (one log line each)."""
        self.assertEqual(len(re.findall(r" smtp message msgid=[0-9a-f]{8} ", self.d.log())), n)

    def test_smtp_source_one_command_per_round_trip(self):
        self.start()
        self.smtp_source("one")                 # one message per connection
        self.smtp_source("many", "-d")          # connections reused
        for user in ("one", "many"):
            msgs = self.wait_box(user, MESSAGES)
            ids = {MESSAGE_ID.search(m).group(1) for m in msgs}
            self.assertEqual((len(msgs), len(ids)), (MESSAGES, MESSAGES), user)
        # smtp-source says HELO: no extensions, so no pipelining either
        self.assertIn(b"(ringmta) with SMTP id", self.box("one")[0])
        self.assertLogged(2 * MESSAGES)

    def test_mtaload_pipelined_and_not(self):
        self.start()
        runs = (("piped1", "-c", "1"), ("piped", "-c", "0"), ("serial", "-c", "0", "-P"))
        for user, *extra in runs:
            report, ids = self.mtaload(user, *extra)
            self.assertEqual(report["config"]["pipelining"], "-P" not in extra)
            self.assertEachOnce(user, ids)
        self.assertIn(b"(ringmta) with ESMTP id", self.box("piped")[0])
        self.assertLogged(len(runs) * MESSAGES)

    def test_pipelined_past_max_mails_every_message_once(self):
        """With max-mails 7 a reused pipelined connection meets 452 4.5.3 at
        MAIL; the RCPT and DATA already sent behind it get 503 (RFC 2920
        3.1), no message is half-opened, and mtaload sends it again on a
        new connection."""
        self.start("smtp limit max-mails 7\n")
        report, ids = self.mtaload("capped", "-c", "0")
        self.assertEachOnce("capped", ids)
        self.assertGreater(report["requeued"], 0)
        replies = report["replies"]
        self.assertEqual(replies["mail"], {"250": MESSAGES, "452": report["requeued"]})
        # pipelined: the group behind each refused MAIL was already on the wire
        self.assertEqual(replies["rcpt"], {"250": MESSAGES, "503": report["requeued"]})
        self.assertEqual(replies["data"], {"354": MESSAGES, "503": report["requeued"]})
        self.assertGreaterEqual(report["connections"]["opened"], -(-MESSAGES // 7))
        self.assertLogged(MESSAGES)
        self.assertNotIn("Too many errors", self.d.log())
