#!/usr/bin/env python3
"""bench/idle_memory.py - memory per idle SMTP session: how much an MTA's
processes grow for each client connection that has said EHLO and then
waits. The scaling target for ringmta is under 16 KiB per idle session.

For each MTA (ringmta's build/smtpd, Postfix, OpenSMTPD when installed),
started fresh with the relay configuration run_bench.py uses
(bench/ringmta.py, bench/postfix.py, bench/opensmtpd.py) on 127.0.0.1:

1. open --warmup (20) idle sessions and keep them open: the one-time costs
   of the first sessions (pages shared with a forked helper copied on
   first write, a heap's first growth) stay out of the figure, and the
   measured sessions cannot reuse memory the warm-up ones freed;
2. read the memory of the MTA's processes: from /proc/PID/smaps_rollup the
   sum of Rss, Pss, private memory (Private_Clean + Private_Dirty) and
   Anonymous over ringmta's smtpd and its helper child (its process tree),
   every process of the private Postfix instance (one smtpd per session),
   OpenSMTPD's process tree;
3. open N more connections from this process (asyncio), read each 220
   greeting, send `EHLO bench.example` and read the 250 reply: N idle
   sessions;
4. wait a moment, read the memory again; KiB per idle session = the growth
   divided by the sessions that reached the 250 (RSS, Pss, private,
   anonymous);
5. close every connection, stop the MTA.

Pss is the figure to compare MTAs by: Postfix's RSS counts the shared
libraries of each smtpd process again. Postfix runs one smtpd process per
session and at most default_process_limit (100 in bench/postfix.py) of
them, so it gets min(N, that limit - warm-up) sessions unless
--peer-sessions says otherwise; more would wait in its listen queue
unanswered.

Like run_bench.py, as root it re-executes itself in a private network
namespace with only lo (--no-netns stays outside), after fetching
OpenSMTPD from Debian when needed (run_bench.prepare_opensmtpd).

Run as root (Postfix's master needs it; /proc/PID/smaps_rollup of another
user's process too), under a minute on 2 cores:

    ninja -C . build/smtpd
    python3 bench/idle_memory.py --builddir build
    python3 bench/idle_memory.py --sessions 2000 --mta ringmta

Prints a table and writes BUILDDIR/bench/idle_memory.json. Exits 1 when
ringmta could not be measured (not built, did not start, sessions refused),
0 otherwise; the figure against the target is reported, not enforced.
"""
import argparse
import asyncio
import os
import platform
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import postfix  # noqa: E402
import run_bench  # noqa: E402

TARGET_KIB = 16
DEFAULT_SESSIONS = 1000
NOFILE_WANTED = 65536
SESSION_TIMEOUT_S = 60
SETTLE_S = 1.0
WARMUP_SESSIONS = 20
EHLO = b"EHLO bench.example\r\n"
ROLLUP_FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous")
MTAS = ("ringmta", "postfix", "opensmtpd")


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Memory per idle SMTP session (after EHLO) "
                                "of ringmta, Postfix and OpenSMTPD on loopback.")
    p.add_argument("--builddir", default="build", help="where smtpd was built")
    p.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS,
                   help="idle sessions to open (default %d)" % DEFAULT_SESSIONS)
    p.add_argument("--peer-sessions", type=int,
                   help="sessions for Postfix (default: min(--sessions, its "
                   "default_process_limit - --warmup))")
    p.add_argument("--warmup", type=int, default=WARMUP_SESSIONS,
                   help="sessions opened before the first reading and held open "
                   "(default %d; 0: none)" % WARMUP_SESSIONS)
    p.add_argument("--settle", type=float, default=SETTLE_S,
                   help="seconds to wait before each reading (default %.1f)" % SETTLE_S)
    p.add_argument("--mta", action="append", choices=MTAS,
                   help="measure only this MTA (repeatable; default all available)")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true", help="keep the MTAs' folders")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/idle_memory.json)")
    args = p.parse_args(argv)
    if args.sessions < 1 or (args.peer_sessions is not None and args.peer_sessions < 1):
        p.error("--sessions and --peer-sessions must be at least 1")
    return args




def postfix_process_limit():
    """Return default_process_limit from bench/postfix.py's main.cf, or 100
    (Postfix's own default)."""
    m = re.search(r"^default_process_limit\s*=\s*(\d+)", postfix.MAIN_CF, re.M)
    return int(m.group(1)) if m else 100


def bench_args(args):
    """Return the options namespace run_bench's MTA factories expect, built
    by run_bench's own parser, with ringmta's binary set."""
    bargs = run_bench.parse_args(["--builddir", args.builddir])
    bargs.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    bargs.ringmta_binary = bargs.ringmta_built
    # run_bench's prepare_opensmtpd looks at --mta: fetch only when wanted.
    bargs.mta = None if not args.mta or "opensmtpd" in args.mta else ["ringmta"]
    return bargs


def make_mta(name, bargs):
    """Return an MTA object exactly as run_bench.py builds it."""
    return dict(run_bench.MTA_FACTORIES)[name](bargs)


def sessions_for(name, args):
    """Return how many idle sessions to open against this MTA."""
    if name != "postfix":
        return args.sessions
    if args.peer_sessions is not None:
        return args.peer_sessions
    return max(1, min(args.sessions, postfix_process_limit() - args.warmup))


def mta_pids(mta):
    """Return the pids whose memory counts as the MTA's: every process of a
    Postfix instance, else the process tree of its first process."""
    if hasattr(mta, "instance_pids"):
        return [pid for pid, _ in mta.instance_pids()]
    return list(benchlib.process_tree(mta.root_pid))


def read_rollup(pid):
    """Return {field: KiB} from /proc/PID/smaps_rollup, or None when the
    process is gone."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[0].rstrip(":") in ROLLUP_FIELDS:
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    return out


def memory_of(mta):
    """Return the MTA's memory summed over its processes, in KiB: rss, pss,
    private (Private_Clean + Private_Dirty), anonymous, and processes."""
    total = {"rss": 0, "pss": 0, "private": 0, "anonymous": 0, "processes": 0}
    for pid in mta_pids(mta):
        r = read_rollup(pid)
        if r is None:
            continue
        total["rss"] += r.get("Rss", 0)
        total["pss"] += r.get("Pss", 0)
        total["private"] += r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        total["anonymous"] += r.get("Anonymous", 0)
        total["processes"] += 1
    return total


async def read_reply(reader):
    """Read one SMTP reply (its last line has a space after the code);
    return the code, or None at end of stream."""
    while True:
        line = await reader.readline()
        if not line:
            return None
        if len(line) >= 4 and line[3:4] != b"-":
            return line[:3].decode("ascii", "replace")


async def open_idle_session(port):
    """Connect, read the 220, say EHLO and read the 250; return the open
    (reader, writer), or raise OSError/asyncio.TimeoutError/ValueError."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        code = await read_reply(reader)
        if code != "220":
            raise ValueError("greeting %s" % code)
        writer.write(EHLO)
        await writer.drain()
        code = await read_reply(reader)
        if code != "250":
            raise ValueError("EHLO answered %s" % code)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def open_sessions(port, n, timeout_s=SESSION_TIMEOUT_S):
    """Open n idle sessions at once; return (list of open (reader, writer),
    {error: count})."""
    async def bounded():
        return await asyncio.wait_for(open_idle_session(port), timeout_s)
    results = await asyncio.gather(*(bounded() for _ in range(n)), return_exceptions=True)
    opened, errors = [], {}
    for r in results:
        if isinstance(r, BaseException):
            key = "%s: %s" % (type(r).__name__, r) if str(r) else type(r).__name__
            errors[key] = errors.get(key, 0) + 1
        else:
            opened.append(r)
    return opened, errors


async def close_sessions(opened):
    """Close every session (QUIT is not sent: a close is what an idle client
    that goes away does)."""
    for _, writer in opened:
        writer.close()
    for _, writer in opened:
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (OSError, asyncio.TimeoutError):
            pass


def per_session(before, after, n):
    """Return {rss, pss, private}_kib_per_session: growth / n."""
    return {"%s_kib_per_session" % k: round((after[k] - before[k]) / n, 2) if n else None
            for k in ("rss", "pss", "private", "anonymous")}


async def measure_idle(mta, port, n, args, rec):
    """Open --warmup sessions and keep them, read the memory, open n more,
    read it again, close them all; fill rec. The warm-up sessions take the
    one-time costs of the first sessions (pages shared with a forked helper
    copied on first write, a heap's first growth) out of the per-session
    figure; they stay open so that the measured sessions cannot reuse their
    memory."""
    warm, opened = [], []
    try:
        if args.warmup:
            warm, errors = await open_sessions(port, args.warmup)
            rec["warmup_sessions"] = len(warm)
            if errors:
                rec["warmup_errors"] = errors
        await asyncio.sleep(args.settle)
        rec["before"] = memory_of(mta)
        opened, errors = await open_sessions(port, n)
        rec["sessions_open"] = len(opened)
        rec["session_errors"] = errors
        await asyncio.sleep(args.settle)
        rec["after"] = memory_of(mta)
        rec.update(per_session(rec["before"], rec["after"], len(opened)))
    finally:
        await close_sessions(warm + opened)


def measure(name, args, bargs, workroot):
    """Start one MTA, measure it with idle sessions, stop it; return its record."""
    workdir = os.path.join(workroot, name)
    os.makedirs(workdir, mode=0o755)
    n = sessions_for(name, args)
    rec = {"mta": name, "sessions_wanted": n, "problems": [], "workdir": workdir}
    mta = make_mta(name, bargs)
    try:
        port = benchlib.free_port()
        mta.start(workdir, port, benchlib.free_port())
        asyncio.run(measure_idle(mta, port, n, args, rec))
        if rec["sessions_open"] < n:
            rec["problems"].append("only %d of %d sessions reached EHLO's 250: %s"
                                   % (rec["sessions_open"], n, rec["session_errors"]))
    except benchlib.BenchError as e:
        rec["problems"].append(str(e))
    finally:
        rec["problems"] += ["stop: " + p for p in mta.stop()]
    rec["ok"] = not rec["problems"] and "pss_kib_per_session" in rec
    return rec


def fmt(value, digits=1):
    """Return a number as text, or "-"."""
    return "-" if value is None else "%.*f" % (digits, value)


def print_table(records):
    """Print one line per MTA."""
    print()
    print("memory per idle session (connected, EHLO answered, then silent); growth of "
          "the MTA's processes / sessions, KiB")
    head = "%-10s %9s %11s %12s %10s %10s %10s %10s  %s" % (
        "MTA", "sessions", "processes", "Pss MiB", "RSS/sess", "Pss/sess", "priv/sess",
        "anon/sess", "target")
    print(head)
    print("-" * len(head))
    for rec in records:
        if "after" not in rec:
            print("%-10s FAILED: %s" % (rec["mta"], "; ".join(rec["problems"])))
            continue
        b, a = rec["before"], rec["after"]
        target = ""
        if rec["mta"] == "ringmta":
            target = "%s %d KiB" % ("under" if rec["pss_kib_per_session"] < TARGET_KIB
                                    else "OVER", TARGET_KIB)
        print("%-10s %9d %11s %12s %10s %10s %10s %10s  %s" % (
            rec["mta"], rec["sessions_open"], "%d->%d" % (b["processes"], a["processes"]),
            "%.1f->%.1f" % (b["pss"] / 1024.0, a["pss"] / 1024.0),
            fmt(rec["rss_kib_per_session"]), fmt(rec["pss_kib_per_session"]),
            fmt(rec["private_kib_per_session"]), fmt(rec["anonymous_kib_per_session"]),
            target))
        for p in rec["problems"]:
            print("    problem: %s" % p)






def main(argv):
    """Measure every available MTA, print the table, write the JSON; return
    the exit status."""
    args = parse_args(argv)
    benchlib.exit_on_sigterm()
    bargs = bench_args(args)
    run_bench.prepare_opensmtpd(bargs, fetch=not benchlib.in_private_netns())
    try:
        netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "idle_memory")
    except benchlib.BenchError as e:
        print("idle_memory: the private network namespace does not work: %s" % e,
              file=sys.stderr)
        return 1
    nofile = benchlib.raise_nofile_limit(NOFILE_WANTED)
    if nofile < args.sessions + 64:
        print("idle_memory: open files limit %d is too low for %d sessions"
              % (nofile, args.sessions), file=sys.stderr)
        return 1
    workroot = tempfile.mkdtemp(prefix="ringmta-idle-", dir="/tmp")
    os.chmod(workroot, 0o755)
    run_bench.snapshot_binary(bargs, workroot)
    records, skipped = [], {}
    for name in MTAS:
        if args.mta and name not in args.mta:
            continue
        why = make_mta(name, bargs).unavailable()
        if why:
            skipped[name] = why
            print("idle_memory: skipping %s: %s" % (name, why), flush=True)
            continue
        rec = measure(name, args, bargs, workroot)
        records.append(rec)
        if rec["ok"] and not args.keep:
            shutil.rmtree(rec["workdir"], ignore_errors=True)
        elif not rec["ok"]:
            print("idle_memory: %s failed; kept %s" % (name, rec["workdir"]), flush=True)
    print_table(records)
    doc = {
        "benchmark": "memory per idle SMTP session after EHLO, on loopback",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "kernel": platform.release(),
                    "open_files_limit": nofile, "private_network_namespace": netns},
        "ringmta": {"revision": run_bench.source_revision(),
                    "binary_sha256": bargs.ringmta_sha256},
        "opensmtpd": getattr(bargs, "opensmtpd_origin", None),
        "parameters": {"sessions": args.sessions, "warmup_sessions": args.warmup,
                       "settle_s": args.settle,
                       "postfix_process_limit": postfix_process_limit(),
                       "target_kib_per_session": TARGET_KIB},
        "skipped": skipped,
        "results": records,
    }
    path = args.json or os.path.join(args.builddir, "bench", "idle_memory.json")
    benchlib.write_json(path, doc)
    print("results: %s" % path)
    if all(r["ok"] for r in records) and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    ringmta_ok = any(r["mta"] == "ringmta" and r["ok"] for r in records)
    wanted = not args.mta or "ringmta" in args.mta
    return 1 if wanted and not ringmta_ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
