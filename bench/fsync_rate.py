#!/usr/bin/env python3
"""bench/fsync_rate.py - group commit, measured: how many WAL fsyncs ringmta's
syncer (queue/syncer.c) makes against how many messages it accepts, at 1, 20
and 100 concurrent sessions, beside the raw fsync rate of the file system
the queue lives on.

Each round: a fresh build/mtasink, a fresh ringmta with an empty queue
relaying to it (bench/ringmta.py, `smtp limit max-mails` raised so that a
connection carries all of its session's messages), the daemon's fsync
counter read (`smtpctl show stats`: ringmta.queue.fsync), mtaload for a
fixed --duration, the counter read again. Reported per session count, the
median [min..max] over --rounds rounds: accepted msg/s and fsyncs/s over the
time between the two readings, messages per fsync, and mtaload's end-of-data
latency. Then every accepted message must reach the sink exactly once (the
Message-ID check of run_bench.py) and be logged as delivered.

The raw rate: 4 KiB appended to a file and fdatasync(2)ed, in a loop for
--disk-seconds, in the folder where the queues are made (--dir), at the
start and again at the end of the run. A syncer that shares its fsyncs among
the sessions accepts more messages per second than the disk does fsyncs.

Run (as root it re-executes itself in a private network namespace with only
lo, like run_bench.py; --no-netns stays outside):

    ninja build/smtpd build/smtpctl build/mtaload build/mtasink
    python3 bench/fsync_rate.py --builddir build
    python3 bench/fsync_rate.py --sessions 100 --duration 5 --rounds 5

Writes BUILDDIR/bench/fsync_rate.json (--json PATH elsewhere); exits 1 when
a round failed (a lost message, a generator error, a timeout), 0 otherwise.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import pipelining  # noqa: E402
import run_bench  # noqa: E402
import tools  # noqa: E402

METRICS = (("accept_msgs_per_s", "accepted msg/s"),
           ("fsyncs_per_s", "fsyncs/s"),
           ("msgs_per_fsync", "messages per fsync"),
           ("eod_p50_ms", "end-of-data p50 ms"),
           ("eod_p99_ms", "end-of-data p99 ms"))
FSYNC_COUNTER = re.compile(r"^ringmta\.queue\.fsync=(\d+)$", re.M)
DISK_WRITE_BYTES = 4096
SMTPCTL_TIMEOUT_S = 10
SINK_EXPECT = 10 ** 9          # mtasink's --expect: never reached, the count is read
MAILS_MAX = 0x7fffffff         # the largest `smtp limit max-mails` the grammar takes
GOAL_SESSIONS = 100


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="ringmta's group commit: WAL fsyncs per second "
                                "against accepted messages per second, by session count, "
                                "beside the disk's raw fsync rate.")
    p.add_argument("--builddir", default="build",
                   help="where smtpd, smtpctl, mtaload, mtasink are")
    p.add_argument("--sessions", default="1,20,100",
                   help="concurrent sessions, comma-separated (default 1,20,100)")
    p.add_argument("--duration", type=float, default=10,
                   help="seconds of load per round (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per session count (default 3)")
    p.add_argument("--size", type=int, default=2048,
                   help="body bytes, as run_bench.py's (default 2048)")
    p.add_argument("--per-conn", type=int, default=0,
                   help="messages per connection, 0 = unlimited (default 0)")
    p.add_argument("--disk-seconds", type=float, default=3,
                   help="seconds of the raw fsync loop, at start and at end (default 3)")
    p.add_argument("--dir", default="/tmp",
                   help="where the rounds' queues and the raw fsync file go (default /tmp)")
    p.add_argument("--round-timeout", type=float, default=120,
                   help="seconds after the load before a round counts as failed "
                   "(default 120)")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true", help="keep every round's folder")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/fsync_rate.json)")
    args = p.parse_args(argv)
    args.session_list = benchlib.session_counts(p, args.sessions, "1,20,100")
    if args.rounds < 1 or args.duration <= 0 or args.disk_seconds <= 0 or args.size < 0 \
            or args.per_conn < 0:
        p.error("--rounds at least 1, --duration and --disk-seconds above 0, --size and "
                "--per-conn at least 0")
    return args


def missing_tools(builddir):
    """Return the binaries this needs that are not built."""
    return [p for p in (os.path.join(builddir, n)
                        for n in ("smtpd", "smtpctl", "mtaload", "mtasink"))
            if not os.access(p, os.X_OK)]


def disk_fsync_rate(directory, seconds):
    """The raw fsync rate: 4 KiB appended and fdatasync'd in a loop; returns
    {fsyncs, seconds, per_s, mean_us}."""
    r = benchlib.durable_write_rate(directory, seconds, DISK_WRITE_BYTES)
    return {"fsyncs": r["writes"], "seconds": r["seconds"], "per_s": r["per_s"],
            "mean_us": r["mean_us"]}


def fsync_count(smtpctl, conf):
    """Return ringmta.queue.fsync from `smtpctl -f conf show stats`."""
    try:
        done = subprocess.run([smtpctl, "-f", conf, "show", "stats"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=SMTPCTL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise benchlib.BenchError("smtpctl show stats: %s" % e)
    m = FSYNC_COUNTER.search(done.stdout)
    if done.returncode != 0 or m is None:
        raise benchlib.BenchError("smtpctl show stats (status %d) has no ringmta.queue.fsync: "
                                  "%s" % (done.returncode, done.stdout.strip()[-300:]))
    return int(m.group(1))


def wait_for_load(load, mta, deadline):
    """Wait until mtaload has exited; raise BenchError at the deadline or
    when ringmta dies."""
    while not load.done():
        if time.monotonic() >= deadline:
            raise benchlib.BenchError("mtaload still running at the round's deadline")
        if not benchlib.pid_alive(mta.root_pid):
            raise benchlib.BenchError("ringmta died during the load")
        time.sleep(0.05)


def measure(args, sessions, mta, workdir, port, rec):
    """Read the counter, run the timed load, read it again; fill rec."""
    conf = os.path.join(workdir, "smtpd.conf")
    load = tools.MtaLoad(args.builddir, workdir, port, 1, sessions,
                         args.size + run_bench.SMTP_SOURCE_HEADER_BYTES,
                         ["-c", str(args.per_conn), "-d", "%gs" % args.duration])
    rec["_source"] = load
    before = fsync_count(args.smtpctl, conf)
    t0 = time.monotonic()
    load.start()
    try:
        wait_for_load(load, mta, t0 + args.duration + args.round_timeout)
    finally:
        load.stop()
    t1 = time.monotonic()
    after = fsync_count(args.smtpctl, conf)
    report = load.report or {}
    accepted = report.get("messages", {}).get("accepted", 0)
    fsyncs = after - before
    rec.update(window_s=round(t1 - t0, 3), accepted=accepted, fsyncs=fsyncs,
               accept_msgs_per_s=round(accepted / (t1 - t0), 1),
               fsyncs_per_s=round(fsyncs / (t1 - t0), 1))
    if fsyncs > 0:
        rec["msgs_per_fsync"] = round(accepted / fsyncs, 2)
    if load.proc.returncode != 0:
        rec["problems"].append("mtaload exited with status %d: %s"
                               % (load.proc.returncode, load.output()[-300:]))
    run_bench.driver_figures(load, rec)
    if accepted == 0:
        rec["problems"].append("no message was accepted")


def wait_for_sink(sink, n, timeout_s):
    """Wait until the sink has counted n messages (problems, not errors)."""
    try:
        benchlib.wait_for(lambda: sink.count >= n, timeout_s, "the sink to count %d" % n)
        return []
    except benchlib.BenchError as e:
        return ["%s (it counted %d)" % (e, sink.count)]


def run_round(args, sessions, index, workroot):
    """One round at one session count; return its record."""
    workdir = os.path.join(workroot, "s%d-round%d" % (sessions, index))
    os.makedirs(workdir, mode=0o755)
    os.chmod(workdir, 0o755)
    rec = {"sessions": sessions, "round": index, "ok": False, "problems": [],
           "log_notes": [], "workdir": workdir}
    mta = pipelining.RingmtaManyMails(args.ringmta_binary, MAILS_MAX)
    sink = tools.MtaSink(args.builddir, workdir, SINK_EXPECT)
    try:
        sink_port = sink.start()
        port = benchlib.free_port()
        mta.start(workdir, port, sink_port)
        measure(args, sessions, mta, workdir, port, rec)
        rec["problems"] += wait_for_sink(sink, rec["accepted"], args.round_timeout)
        rec["problems"] += mta.verify(rec["accepted"])
    except benchlib.BenchError as e:
        rec["problems"].append(str(e))
    finally:
        rec["log_notes"] = mta.log_notes()
        rec["problems"] += ["stop: " + p for p in mta.stop()]
        sink.stop()
    run_bench.check_no_loss(rec, sink)
    rec.pop("_source", None)
    rec["ok"] = not rec["problems"] and "fsyncs" in rec
    return rec


def print_round(rec):
    """One line per finished round, and its problems."""
    line = "%3d session%s round %d:" % (rec["sessions"], " " if rec["sessions"] == 1 else "s",
                                        rec["round"])
    if "fsyncs" in rec:
        line += " %6d messages, %6d fsyncs in %.1f s: %7.1f msg/s, %7.1f fsyncs/s" % (
            rec["accepted"], rec["fsyncs"], rec["window_s"], rec["accept_msgs_per_s"],
            rec["fsyncs_per_s"])
        if "msgs_per_fsync" in rec:
            line += ", %.2f msgs per fsync" % rec["msgs_per_fsync"]
    benchlib.print_round_end(line, rec)


def disk_best(disk):
    """The higher of the raw fsync rates measured (start, end)."""
    return max(d["per_s"] for d in disk.values())


def goal(summaries, disk):
    """Return {sessions, accepted, disk_fsyncs_per_s, met} for the goal at
    GOAL_SESSIONS sessions, or None when that count was not run."""
    s = summaries.get(GOAL_SESSIONS, {}).get("accept_msgs_per_s")
    if s is None:
        return None
    best = disk_best(disk)
    return {"sessions": GOAL_SESSIONS, "accept_msgs_per_s": s["median"],
            "disk_fsyncs_per_s": best, "met": s["median"] > best}


def print_report(args, summaries, disk, the_goal):
    """The table, the disk's raw rate and the goal."""
    print()
    print("group commit: %g s of load per round, %d body bytes, %s per connection, %d "
          "rounds; median [min..max]" % (args.duration, args.size,
                                         args.per_conn or "all", args.rounds))
    head = ["sessions", "rounds"] + [title for _, title in METRICS]
    rows = [[str(n), "%d/%d" % (s["rounds_ok"], s["rounds"])] +
            [run_bench.fmt_range(s, k) for k, _ in METRICS] for n, s in summaries.items()]
    run_bench.print_rows(head, rows)
    print("raw fsync rate of %s (%d-byte appends, fdatasync each, %g s): %.0f/s at start "
          "(%.0f us each), %.0f/s at end (%.0f us each)"
          % (args.dir, DISK_WRITE_BYTES, args.disk_seconds, disk["start"]["per_s"],
             disk["start"]["mean_us"], disk["end"]["per_s"], disk["end"]["mean_us"]))
    if the_goal:
        print("goal: at %d sessions more messages accepted per second than the disk's raw "
              "fsyncs per second: %.0f msg/s against %.0f fsyncs/s (%s)"
              % (GOAL_SESSIONS, the_goal["accept_msgs_per_s"], the_goal["disk_fsyncs_per_s"],
                 "met" if the_goal["met"] else "NOT met"))


def run_all(args, workroot):
    """Every round, session counts interleaved; return {sessions: [records]}."""
    records = {n: [] for n in args.session_list}
    for index in range(1, args.rounds + 1):
        for sessions in args.session_list:
            rec = run_round(args, sessions, index, workroot)
            records[sessions].append(rec)
            print_round(rec)
            if rec["ok"] and not args.keep:
                shutil.rmtree(rec["workdir"], ignore_errors=True)
    return records


def main(argv):
    """Measure the disk, run the rounds, print the table, write the JSON;
    return the exit status."""
    args = parse_args(argv)
    benchlib.exit_on_sigterm()
    missing = missing_tools(args.builddir)
    if missing:
        print("fsync_rate: missing %s (ninja build/smtpd build/smtpctl build/mtaload "
              "build/mtasink)" % ", ".join(missing), file=sys.stderr)
        return 1
    try:
        netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "fsync_rate")
    except benchlib.BenchError as e:
        print("fsync_rate: the private network namespace does not work: %s" % e,
              file=sys.stderr)
        return 1
    benchlib.raise_nofile_limit(4096)
    workroot = tempfile.mkdtemp(prefix="ringmta-fsync-", dir=args.dir)
    os.chmod(workroot, 0o755)
    args.smtpctl = os.path.abspath(os.path.join(args.builddir, "smtpctl"))
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    run_bench.snapshot_binary(args, workroot)
    run_bench.note_load_average(args)
    began = time.monotonic()
    disk = {"start": disk_fsync_rate(workroot, args.disk_seconds)}
    print("raw fsync rate at start: %.0f/s" % disk["start"]["per_s"], flush=True)
    records = run_all(args, workroot)
    disk["end"] = disk_fsync_rate(workroot, args.disk_seconds)
    summaries = {n: benchlib.round_spread(recs, METRICS) for n, recs in records.items()}
    the_goal = goal(summaries, disk)
    print_report(args, summaries, disk, the_goal)
    path = args.json or os.path.join(args.builddir, "bench", "fsync_rate.json")
    benchlib.write_json(path, {
        "benchmark": "ringmta group commit: WAL fsyncs against accepted messages, loopback",
        **benchlib.provenance(args.loadavg_at_start, netns, run_bench.source_revision(),
                              args.ringmta_sha256),
        "parameters": {"duration_s": args.duration, "size_bytes": args.size,
                       "per_conn": args.per_conn, "rounds": args.rounds,
                       "disk_seconds": args.disk_seconds, "dir": args.dir,
                       "disk_write_bytes": DISK_WRITE_BYTES},
        "elapsed_s": round(time.monotonic() - began, 1),
        "disk": disk,
        "goal": the_goal,
        "sessions": {str(n): {"summary": summaries[n], "rounds": records[n]}
                     for n in args.session_list},
    })
    print("results: %s" % path)
    failed = any(not r["ok"] for recs in records.values() for r in recs)
    if not failed and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
