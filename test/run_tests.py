#!/usr/bin/env python3
"""test/run_tests.py - runs every test: the Criterion unit-test binaries in
build/test/ and the end-to-end tests in test/e2e/ (Python unittest, real
binaries on loopback). Prints each suite's result and a closing line
"N passed, N failed, N skipped"; exits 1 if anything failed.

  python3 test/run_tests.py [--builddir build] [--only unit|e2e] [-k PATTERN]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(builddir, totals):
    synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| "
                       r"Failing: (\d+) \| Crashing: (\d+)")
    for binary in sorted(glob.glob(os.path.join(builddir, "test", "test_*"))):
        if not os.access(binary, os.X_OK) or binary.endswith((".o", ".d")):
            continue
        name = os.path.basename(binary)
        print("== %s" % name, flush=True)
        r = subprocess.run([binary, "-j2", "--always-succeed"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=900)
        m = synth.search(r.stdout)
        if not m:
            print(r.stdout)
            print("%s: no Criterion summary (exit %d)" % (name, r.returncode))
            totals["failed"] += 1
            continue
        tested, passing, failing, crashing = map(int, m.groups())
        if failing or crashing:
            print(r.stdout)
        print("%s: %d tested, %d passing, %d failing, %d crashing" % (
            name, tested, passing, failing, crashing), flush=True)
        totals["passed"] += passing
        totals["failed"] += failing + crashing


def run_e2e(builddir, pattern, totals):
    os.environ["RINGMTA_BUILD"] = os.path.abspath(builddir)
    sys.path.insert(0, os.path.join(TOP, "test", "e2e"))
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = ["*%s*" % pattern]
    suite = loader.discover(os.path.join(TOP, "test", "e2e"), pattern="test_*.py",
                            top_level_dir=os.path.join(TOP, "test", "e2e"))
    print("== end-to-end", flush=True)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    totals["passed"] += result.testsRun - bad - skipped
    totals["failed"] += bad
    totals["skipped"] += skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.path.join(TOP, "build"))
    ap.add_argument("--only", choices=["unit", "e2e"])
    ap.add_argument("-k", dest="pattern")
    args = ap.parse_args()
    os.chdir(TOP)
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    if args.only in (None, "unit"):
        run_unit(args.builddir, totals)
    if args.only in (None, "e2e"):
        run_e2e(args.builddir, args.pattern, totals)
    print("%d passed, %d failed, %d skipped" % (
        totals["passed"], totals["failed"], totals["skipped"]), flush=True)
    sys.exit(1 if totals["failed"] else 0)


if __name__ == "__main__":
    main()
