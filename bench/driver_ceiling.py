#!/usr/bin/env python3
"""bench/driver_ceiling.py - how much load each load generator can drive
with no MTA in the way: smtp-source and mtaload, each against smtp-sink and
against mtasink, the same number of sessions and messages, one message per
connection (both tools' default) and many per connection (smtp-source -d,
mtaload -c 0). Prints messages per second (messages the sink counted over
the generator's run time) and the generator's CPU per 1000 messages,
median [min..max] over the rounds, and the load average.

    python3 bench/driver_ceiling.py --builddir build [--rounds 3]
        [--messages 20000] [--sessions 20] [--size 2048] [--no-netns]

As root it runs in a private network namespace with only lo (see
benchlib.enter_private_netns), as run_bench.py does.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import tools  # noqa: E402

RUN_TIMEOUT_S = 300
SMTP_SOURCE_HEADER_BYTES = 133


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Load generator ceiling: smtp-source vs "
                                "mtaload against smtp-sink and mtasink, no MTA.")
    p.add_argument("--builddir", default="build")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--size", type=int, default=2048,
                   help="smtp-source -l (body bytes); mtaload gets that plus the 133 "
                   "bytes of smtp-source's headers, so the sink sees the same size")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    return p.parse_args(argv)


def driver_argv(args, driver, reuse, port):
    """The command line of one generator run."""
    if driver == "smtp-source":
        argv = [benchlib.SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages),
                "-l", str(args.size), "-f", tools.SENDER, "-t", tools.RCPT]
        return argv + (["-d"] if reuse else []) + ["127.0.0.1:%d" % port]
    return [os.path.join(args.builddir, "mtaload"), "-q", "-s", str(args.sessions), "-m",
            str(args.messages), "-l", str(args.size + SMTP_SOURCE_HEADER_BYTES), "-c", "0" if reuse else "1",
            "-f", tools.SENDER, "-t", tools.RCPT, "127.0.0.1:%d" % port]


def start_sink(args, kind, workdir):
    """Start smtp-sink or mtasink; returns (object, port)."""
    if kind == "smtp-sink":
        sink = benchlib.Sink(workdir, args.messages)
    else:
        sink = tools.MtaSink(args.builddir, workdir, args.messages)
    return sink, sink.start()


def one_run(args, driver, sink_kind, reuse, workdir):
    """One generator run against a fresh sink; returns a dict of results."""
    sink, port = start_sink(args, sink_kind, workdir)
    try:
        argv = driver_argv(args, driver, reuse, port)
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        deadline = t0 + RUN_TIMEOUT_S
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise benchlib.BenchError("%s did not finish in %d s" % (driver, RUN_TIMEOUT_S))
            time.sleep(0.002)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        sink.reached.wait(10)
        count = sink.count
    finally:
        sink.stop()
    if sink_kind == "mtasink" and sink.summary:
        count = sink.summary["messages"]
    cpu = ru.ru_utime + ru.ru_stime
    return {"msgs_per_s": count / wall, "count": count, "wall_s": wall,
            "cpu_s_per_1000": cpu * 1000.0 / max(count, 1),
            "status": proc.returncode, "stderr": err[-300:]}


def median_fmt(values, digits=0):
    """Return 'median [min..max]'."""
    return "%.*f [%.*f..%.*f]" % (digits, statistics.median(values), digits, min(values),
                                  digits, max(values))


def main(argv):
    """Run every combination for every round, print the table."""
    args = parse_args(argv)
    if not args.no_netns:
        try:
            benchlib.enter_private_netns(argv, __file__)
        except benchlib.BenchError as e:
            print("bench: the private network namespace does not work: %s" % e,
                  file=sys.stderr)
            return 1
    combos = [(d, s, r) for r in (False, True) for s in ("smtp-sink", "mtasink")
              for d in ("smtp-source", "mtaload")]
    results = {c: [] for c in combos}
    load0 = os.getloadavg()
    workroot = tempfile.mkdtemp(prefix="ringmta-ceiling-", dir="/tmp")
    os.chmod(workroot, 0o755)
    for rnd in range(args.rounds):
        for combo in combos:
            workdir = os.path.join(workroot, "%s-%s-%d-%d" % (combo[0], combo[1], combo[2], rnd))
            os.makedirs(workdir)
            os.chmod(workdir, 0o755)
            rec = one_run(args, combo[0], combo[1], combo[2], workdir)
            results[combo].append(rec)
            if rec["count"] != args.messages or rec["status"] != 0:
                print("  %s -> %s: sink counted %d of %d, status %d %s" % (
                    combo[0], combo[1], rec["count"], args.messages, rec["status"],
                    rec["stderr"]), flush=True)
    load1 = os.getloadavg()
    print("load generators, no MTA: %d messages, %d sessions, %d rounds; load average "
          "%.2f at start, %.2f at end" % (args.messages, args.sessions, args.rounds,
                                           load0[0], load1[0]))
    print("%-12s %-10s %-10s %-24s %-20s" % ("generator", "sink", "msgs/conn", "msg/s",
                                             "generator CPU s/1000 msgs"))
    for combo in combos:
        recs = results[combo]
        print("%-12s %-10s %-10s %-24s %-20s" % (
            combo[0], combo[1], "many" if combo[2] else "1",
            median_fmt([r["msgs_per_s"] for r in recs]),
            median_fmt([r["cpu_s_per_1000"] for r in recs], 3)))
    subprocess.run(["rm", "-rf", workroot])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
