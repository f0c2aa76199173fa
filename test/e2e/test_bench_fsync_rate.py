"""test/e2e/test_bench_fsync_rate.py - bench/fsync_rate.py on a tiny run (one
second of load at 1 and 4 sessions, outside any network namespace): it
finishes, its JSON has the figures the README describes, every round passed
its no-loss check, and the fsync counter it reads from `smtpctl show stats`
counts what the syncer does: with one session each message waits for its own
fsync (at least one per message), and never more than one per message plus
the syncer's idle sync (at most one a second). Speed is measured by the
script, never asserted here.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BUILD, E2ETest  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                      "fsync_rate.py")
RUN_TIMEOUT = 240


class FsyncRateScript(E2ETest):

    def setUp(self):
        super().setUp()
        for prog in ("smtpctl", "mtaload", "mtasink"):
            # `ninja test` builds them: missing is a failure, not a skip
            self.assertTrue(os.access(os.path.join(BUILD, prog), os.X_OK),
                            "%s not built" % prog)

    def test_tiny_run_reports_fsyncs_against_messages(self):
        out = os.path.join(self.tmp, "fsync_rate.json")
        r = subprocess.run([sys.executable, SCRIPT, "--builddir", BUILD, "--no-netns",
                            "--sessions", "1,4", "--duration", "1", "--rounds", "1",
                            "--disk-seconds", "0.3", "--dir", self.tmp, "--json", out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("fsyncs/s", r.stdout)
        with open(out) as f:
            doc = json.load(f)
        for when in ("start", "end"):
            self.assertGreater(doc["disk"][when]["fsyncs"], 0)
            self.assertGreater(doc["disk"][when]["per_s"], 0)
        self.assertIsNone(doc["goal"])          # 100 sessions were not run
        self.assertEqual(sorted(doc["sessions"]), ["1", "4"])
        for n, per in doc["sessions"].items():
            for key in ("accept_msgs_per_s", "fsyncs_per_s", "msgs_per_fsync"):
                self.assertIn(key, per["summary"], n)
            (rec,) = per["rounds"]
            self.assertTrue(rec["ok"], rec["problems"])
            self.assertGreater(rec["accepted"], 0)
            self.assertEqual(rec["ids_sent"], rec["accepted"])
            self.assertEqual(rec["ids_received"], rec["accepted"])
            self.assertLessEqual(rec["fsyncs"], rec["accepted"] + rec["window_s"] + 2, rec)
        one = doc["sessions"]["1"]["rounds"][0]
        self.assertGreaterEqual(one["fsyncs"], one["accepted"], one)
