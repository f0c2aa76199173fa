"""test/e2e/test_mx_scale.py - relaying by MX at scale: 10,000 messages to
100 domains whose MX records (served by dnsmasq on loopback) name four hosts
on 127.0.0.10-13 port 25, each played by build/mtasink. Every message must
arrive exactly once (the Message-IDs mtaload sent against those the sinks
kept), at the host its domain's MX names, over reused connections, and no
host may see more connections at once than `mta limit max-conn-per-host`
allows, although 25 domains, routed on every shard, share each host.

Loopback only: smtpd asks dnsmasq on 127.0.0.1 (RINGMTA_RESOLVERS), the
sinks listen on 127.0.0.10-13."""
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BUILD, E2ETest, free_port, port_open, tool, wait_for  # noqa: E402
from test_bench_tools import MtaSink  # noqa: E402
from test_mx import DnsMasq  # noqa: E402

MTALOAD = os.path.join(BUILD, "mtaload")
DOMAINS = 100
HOSTS = ["127.0.0.%d" % (10 + k) for k in range(4)]
MESSAGES = 10000
CONN_PER_HOST = 4

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "mx" relay
match from local for any action "mx"
mta limit max-conn-per-host {per_host}
"""


class MxScale(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("MX hosts listen on port 25: needs root")
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        for addr in HOSTS:
            if port_open(25, addr):
                self.skipTest("something listens on %s:25 already" % addr)
        records = []
        for k, addr in enumerate(HOSTS):
            records.append("--host-record=mx%d.hosts.test,%s" % (k, addr))
        for n in range(DOMAINS):
            records.append("--mx-host=d%02d.test,mx%d.hosts.test,10" % (n, n % len(HOSTS)))
        self.dns_port = free_port()
        dns = DnsMasq(self.dns_port, records)
        self.cleanups.append(dns.stop)
        self.sinks = []
        for k, addr in enumerate(HOSTS):
            s = MtaSink(self.tmp, ["--ids", os.path.join(self.tmp, "sink%d.ids" % k)],
                        host=addr, port=25)
            self.cleanups.append(s.stop)
            self.sinks.append(s)
        self.port = free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, per_host=CONN_PER_HOST),
                            env=env, wait_port=self.port)

    def test_ten_thousand_messages_to_a_hundred_domains(self):
        sent_ids = os.path.join(self.tmp, "sent.ids")
        r = subprocess.run([MTALOAD, "-q", "--json", "-s", "20", "-c", "100",
                            "-m", str(MESSAGES), "--rcpt-pattern", "user@d%02u.test",
                            "--rcpt-count", str(DOMAINS), "--ids", sent_ids,
                            "127.0.0.1:%d" % self.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertEqual(json.loads(r.stdout)["messages"]["accepted"], MESSAGES)

        def delivered():
            return self.d.log().count(" result=Ok ")
        wait_for(lambda: delivered() >= MESSAGES, timeout=600, interval=1,
                 what="%d deliveries (%d so far)" % (MESSAGES, delivered()))
        summaries = [s.stop() for s in self.sinks]
        log = self.d.log()

        # exactly once: the sinks' Message-IDs are the ones mtaload sent
        with open(sent_ids) as f:
            sent = collections.Counter(f.read().split())
        got = collections.Counter()
        for k in range(len(HOSTS)):
            with open(os.path.join(self.tmp, "sink%d.ids" % k)) as f:
                got.update(f.read().split())
        self.assertEqual(sum(sent.values()), MESSAGES)
        self.assertEqual(len(sent), MESSAGES, "mtaload's Message-IDs are distinct")
        dup = [i for i, n in got.items() if n > 1]
        self.assertEqual(dup[:5], [], "%d messages arrived more than once" % len(dup))
        self.assertEqual(got, sent)
        self.assertNotIn("result=TempFail", log)
        self.assertNotIn("result=PermFail", log)

        # each domain's mail went to the host its MX names
        wrong = []
        for m in re.finditer(r"rcpt=<user@d(\d\d)\.test> relay=mx(\d)\.hosts\.test "
                             r"\[([\d.]+)\]:25 .*result=Ok", log):
            domain, mx, addr = int(m.group(1)), int(m.group(2)), m.group(3)
            if mx != domain % len(HOSTS) or addr != HOSTS[mx]:
                wrong.append(m.group(0))
        self.assertEqual(wrong[:3], [])
        self.assertEqual(len(re.findall(r"relay=mx\d\.hosts\.test .*result=Ok", log)), MESSAGES)

        # connections reused, and no host saw more at once than the limit
        sessions = sum(s["sessions"] for s in summaries)
        per_conn = MESSAGES / sessions
        for k, s in enumerate(summaries):
            self.assertEqual(s["messages"], MESSAGES // len(HOSTS), "host %d" % k)
            self.assertLessEqual(s["sessions_peak"], CONN_PER_HOST,
                                 "host %d had %d connections at once" %
                                 (k, s["sessions_peak"]))
        self.assertGreaterEqual(per_conn, 5.0, "%d connections for %d messages" %
                                (sessions, MESSAGES))
        print("\n  %d messages over %d connections (%.1f per connection); at most %s "
              "at once per host" % (MESSAGES, sessions, per_conn,
                                    [s["sessions_peak"] for s in summaries]),
              file=sys.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
