"""test/e2e/test_bench_local_delivery.py - bench/local_delivery.py on a tiny
run (ringmta only, so nothing is downloaded; 20 messages to one user and to
5 users, one round, outside any network namespace): it finishes, its JSON
reports every message delivered once into the right maildir with a
positive rate, the 5 users got 4 messages each (mtaload's --rcpt-pattern,
round-robin), and no test user is left behind. Root only (the script
creates and removes local users); speed is never asserted.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench"))

from harness import BUILD, E2ETest  # noqa: E402
import testusers  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                      "local_delivery.py")
RUN_TIMEOUT = 240
MESSAGES = 20


class LocalDeliveryScript(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("the bench creates local test users: root only")
        # `ninja test` builds it: missing is a failure, not a skip
        self.assertTrue(os.access(os.path.join(BUILD, "mtaload"), os.X_OK), "mtaload not built")

    def test_tiny_run_delivers_every_message_once(self):
        out = os.path.join(self.tmp, "local_delivery.json")
        r = subprocess.run([sys.executable, SCRIPT, "--builddir", BUILD, "--no-netns",
                            "--mta", "ringmta", "--users", "1,5", "--messages", str(MESSAGES),
                            "--sessions", "4", "--rounds", "1", "--json", out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("deliveries/s", r.stdout)
        self.assertEqual(testusers.bench_named(), {}, "test users left behind")
        with open(out) as f:
            doc = json.load(f)
        self.assertEqual(doc["skipped"], {})
        self.assertEqual(doc["test_users"]["count"], 5)
        self.assertEqual(doc["test_users"]["problems"], [])
        self.assertEqual(sorted(doc["scenarios"]), ["1user", "5users"])
        for name, users in (("1user", 1), ("5users", 5)):
            scen = doc["scenarios"][name]
            self.assertEqual(scen["parameters"]["users"], users)
            self.assertEqual(list(scen["rounds"]), ["ringmta"])
            (rec,) = scen["rounds"]["ringmta"]
            self.assertTrue(rec["ok"], rec["problems"])
            self.assertEqual(rec["accepted"], MESSAGES)
            self.assertEqual(rec["delivered"], MESSAGES)
            self.assertEqual(rec["logged_ok"], MESSAGES)
            self.assertEqual((rec["per_user_min"], rec["per_user_max"]),
                             (MESSAGES // users, MESSAGES // users))
            self.assertGreater(rec["deliveries_per_s"], 0)
            self.assertGreaterEqual(rec["cpu_ms_per_delivery"], 0)
            self.assertEqual(scen["summary"]["ringmta"]["rounds_ok"], 1)
            self.assertGreater(scen["summary"]["ringmta"]["deliveries_per_s"]["median"], 0)
