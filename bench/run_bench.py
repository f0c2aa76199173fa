#!/usr/bin/env python3
"""bench/run_bench.py - relay throughput of ringmta against Postfix (and
OpenSMTPD when installed) on loopback; `ninja bench` runs it.

Each round, for each MTA in turn: a fresh smtp-sink, the MTA started fresh
with an empty queue relaying example.net to the sink, then smtp-source sends
N messages of 2 KiB over 20 concurrent connections. Measured: end-to-end
msgs/s (smtp-source start until the sink has counted N), acceptance msgs/s
(smtp-source's own run time), CPU seconds per 1000 messages used by the MTA's
process tree. Prints a table of medians [min..max] and the ringmta/Postfix
ratios, writes BUILDDIR/bench/results.json. Exits 1 only when ringmta failed
a round. See bench/README.md.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import opensmtpd  # noqa: E402
import postfix  # noqa: E402
import ringmta  # noqa: E402

SENDER = "bench@example.org"
RCPT = "rcpt@example.net"
SOURCE_FAILED_GRACE_S = 10
METRICS = (("e2e_msgs_per_s", "end-to-end msg/s"),
           ("accept_msgs_per_s", "accepted msg/s"),
           ("cpu_s_per_1000", "CPU s/1000 msgs"))


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Relay throughput: ringmta vs Postfix "
                                "(vs OpenSMTPD) on loopback, driven by smtp-source.")
    p.add_argument("--builddir", default="build", help="where smtpd was built")
    p.add_argument("--rounds", type=int, default=5, help="rounds per MTA (default 5)")
    p.add_argument("--messages", type=int, default=2000,
                   help="messages per round (default 2000)")
    p.add_argument("--sessions", type=int, default=20,
                   help="concurrent smtp-source connections (default 20)")
    p.add_argument("--size", type=int, default=2048,
                   help="message payload bytes (smtp-source -l, default 2048)")
    p.add_argument("--round-timeout", type=float, default=120,
                   help="seconds before a round counts as failed (default 120)")
    p.add_argument("--mta", action="append", choices=[m for m, _ in MTA_FACTORIES],
                   help="benchmark only this MTA (repeatable; default all)")
    p.add_argument("--keep", action="store_true",
                   help="keep every round's folder (logs, spools); failed rounds "
                   "are always kept")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/results.json)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.messages < 1 or args.sessions < 1:
        p.error("--rounds, --messages and --sessions must be at least 1")
    return args


MTA_FACTORIES = (
    ("ringmta", lambda a: ringmta.Ringmta(a.ringmta_binary)),
    ("postfix", lambda a: postfix.Postfix()),
    ("opensmtpd", lambda a: opensmtpd.OpenSmtpd(a.ringmta_built)),
)


def wait_for_load(source, sink, mta, args):
    """Wait until smtp-source has exited and the sink has counted every
    message; raise BenchError on timeout, when the MTA dies, or when
    smtp-source failed and the sink stays short."""
    deadline = source.started_at + args.round_timeout
    while not (source.done() and sink.reached.is_set()):
        now = time.monotonic()
        if now >= deadline:
            raise benchlib.BenchError(
                "round not finished after %.1f s: smtp-source %s, sink counted %d of %d"
                % (args.round_timeout, "exited" if source.done() else "still running",
                   sink.count, args.messages))
        if not benchlib.pid_alive(mta.root_pid):
            raise benchlib.BenchError("%s died during the load (sink counted %d of %d)"
                                      % (mta.name, sink.count, args.messages))
        if source.done() and source.proc.returncode != 0 and \
                now - source.exited_at > SOURCE_FAILED_GRACE_S:
            raise benchlib.BenchError("smtp-source exited with status %d; sink counted "
                                      "%d of %d" % (source.proc.returncode, sink.count,
                                                    args.messages))
        sink.reached.wait(0.05)


def measure(mta, sink, workdir, listen_port, args, rec):
    """Run the load against a started MTA and fill rec with the timings."""
    n = args.messages
    source = benchlib.Source(workdir, listen_port, n, args.sessions, args.size,
                             SENDER, RCPT)
    cpu0 = benchlib.tree_cpu_s(mta.root_pid)
    source.start()
    try:
        wait_for_load(source, sink, mta, args)
        cpu1 = benchlib.tree_cpu_s(mta.root_pid)
    finally:
        source.stop()
        rec["source_status"] = source.proc.returncode
        rec["source_output"] = source.output()[-2000:]
        rec["sink_count"] = sink.count
    e2e = sink.reached_at - source.started_at
    accept = source.exited_at - source.started_at
    rec.update(e2e_s=round(e2e, 4), accept_s=round(accept, 4),
               e2e_msgs_per_s=round(n / e2e, 1), accept_msgs_per_s=round(n / accept, 1),
               cpu_s=round(cpu1 - cpu0, 3),
               cpu_s_per_1000=round((cpu1 - cpu0) * 1000.0 / n, 4),
               peak_rss_kib=benchlib.peak_rss_kib(mta.root_pid))
    if source.proc.returncode != 0:
        rec["problems"].append("smtp-source exited with status %d" % source.proc.returncode)


def run_round(name, factory, index, args, workroot):
    """Run one round for one MTA; return its record (ok, timings, problems)."""
    workdir = os.path.join(workroot, "%s-round%d" % (name, index))
    os.makedirs(workdir, mode=0o755)
    os.chmod(workdir, 0o755)
    rec = {"mta": name, "round": index, "ok": False, "problems": [], "log_notes": [],
           "workdir": workdir}
    mta = factory(args)
    sink = benchlib.Sink(workdir, args.messages)
    try:
        sink_port = sink.start()
        listen_port = benchlib.free_port()
        mta.start(workdir, listen_port, sink_port)
        measure(mta, sink, workdir, listen_port, args, rec)
        rec["problems"] += mta.verify(args.messages)
    except benchlib.BenchError as e:
        rec["problems"].append(str(e))
    finally:
        rec["log_notes"] = mta.log_notes()
        rec["problems"] += ["stop: " + p for p in mta.stop()]
        sink.stop()
        rec["sink_final"] = sink.last_record
    rec["ok"] = not rec["problems"] and "e2e_s" in rec
    return rec


def summarize(records):
    """Return {metric: {median, min, max}} over the successful records."""
    good = [r for r in records if r["ok"]]
    out = {"rounds_ok": len(good), "rounds": len(records)}
    for key, _ in METRICS:
        values = [r[key] for r in good]
        if values:
            out[key] = {"median": round(statistics.median(values), 4),
                        "min": min(values), "max": max(values)}
    return out


def fmt_metric(summary, key):
    """Return 'median [min..max]' for one metric, or '-'."""
    m = summary.get(key)
    if m is None:
        return "-"
    digits = 0 if m["median"] >= 100 else 2
    return "%.*f [%.*f..%.*f]" % (digits, m["median"], digits, m["min"], digits, m["max"])


def ratios(summaries, peer):
    """Return {metric: ringmta median / peer median} where both exist."""
    mine, theirs = summaries.get("ringmta", {}), summaries.get(peer, {})
    out = {}
    for key, _ in METRICS:
        if key in mine and key in theirs and theirs[key]["median"] > 0:
            out[key] = round(mine[key]["median"] / theirs[key]["median"], 3)
    return out


def print_report(args, summaries, skipped, all_ratios):
    """Print the table of medians and the ratios."""
    print()
    print("relay throughput: %d messages x %d bytes per round, %d concurrent "
          "connections, %d rounds; median [min..max] over successful rounds"
          % (args.messages, args.size, args.sessions, args.rounds))
    head = "%-10s %-7s" % ("MTA", "rounds") + "".join(" %-24s" % t for _, t in METRICS)
    print(head)
    print("-" * len(head))
    for name, _ in MTA_FACTORIES:
        if name in skipped:
            print("%-10s skipped: %s" % (name, skipped[name]))
        elif name in summaries:
            s = summaries[name]
            print("%-10s %-7s" % (name, "%d/%d" % (s["rounds_ok"], s["rounds"])) +
                  "".join(" %-24s" % fmt_metric(s, k) for k, _ in METRICS))
    for peer, r in all_ratios.items():
        if r:
            print("ringmta/%s (medians): " % peer + ", ".join(
                "%s %.2fx" % (t, r[k]) for k, t in METRICS if k in r) +
                "  (CPU: lower is better)")


def print_round(rec):
    """Print one line per finished round, and its problems."""
    if "e2e_s" in rec:
        line = ("%-10s round %d: e2e %7.1f msg/s  accepted %7.1f msg/s  CPU %.3f s "
                "(%.3f s/1000)" % (rec["mta"], rec["round"], rec["e2e_msgs_per_s"],
                                   rec["accept_msgs_per_s"], rec["cpu_s"],
                                   rec["cpu_s_per_1000"]))
    else:
        line = "%-10s round %d:" % (rec["mta"], rec["round"])
    print(line + ("" if rec["ok"] else "  FAILED"), flush=True)
    for p in rec["problems"]:
        print("    problem: %s" % p)
    for note in rec["log_notes"][:5]:
        print("    log: %s" % note)
    if not rec["ok"]:
        print("    kept: %s" % rec["workdir"], flush=True)


def snapshot_binary(args, workroot):
    """Copy BUILDDIR/smtpd into workroot so that every round runs the same
    binary even if the build folder is rebuilt meanwhile; set
    args.ringmta_built, args.ringmta_binary and args.ringmta_sha256."""
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    args.ringmta_binary = args.ringmta_built
    args.ringmta_sha256 = None
    if not os.access(args.ringmta_built, os.X_OK):
        return
    copy = os.path.join(workroot, "smtpd")
    shutil.copy2(args.ringmta_built, copy)
    args.ringmta_binary = copy
    with open(copy, "rb") as f:
        args.ringmta_sha256 = hashlib.sha256(f.read()).hexdigest()


def source_revision():
    """Return the repository's HEAD commit, with "+dirty" when the work tree
    differs from it, or None outside git."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", top, "rev-parse", "HEAD"], timeout=10,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no"],
                               timeout=10, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.decode().strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv):
    """Run every round, print the report, write the JSON; return the exit status."""
    args = parse_args(argv)
    for tool in (benchlib.SMTP_SINK, benchlib.SMTP_SOURCE):
        if not os.access(tool, os.X_OK):
            print("bench: %s is missing (apt-get install postfix)" % tool, file=sys.stderr)
            return 1
    workroot = tempfile.mkdtemp(prefix="ringmta-bench-", dir="/tmp")
    os.chmod(workroot, 0o755)
    snapshot_binary(args, workroot)
    chosen = [(n, f) for n, f in MTA_FACTORIES if not args.mta or n in args.mta]
    skipped, active = {}, []
    for name, factory in chosen:
        why = factory(args).unavailable()
        if why:
            skipped[name] = why
            print("bench: skipping %s: %s" % (name, why), flush=True)
        else:
            active.append((name, factory))
    records = {name: [] for name, _ in active}
    args.loadavg_at_start = list(os.getloadavg())
    if args.loadavg_at_start[0] > 1.0:
        print("bench: note: load average %.1f at start; other work on this machine "
              "skews the numbers" % args.loadavg_at_start[0], flush=True)
    began = time.monotonic()
    for index in range(1, args.rounds + 1):
        for name, factory in active:
            rec = run_round(name, factory, index, args, workroot)
            records[name].append(rec)
            print_round(rec)
            if rec["ok"] and not args.keep:
                shutil.rmtree(rec["workdir"], ignore_errors=True)
    summaries = {name: summarize(recs) for name, recs in records.items()}
    all_ratios = {peer: ratios(summaries, peer) for peer in summaries if peer != "ringmta"}
    print_report(args, summaries, skipped, all_ratios)
    write_json(args, records, summaries, skipped, all_ratios, time.monotonic() - began)
    if not any(not r["ok"] for recs in records.values() for r in recs) and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    ringmta_failed = "ringmta" in skipped or any(not r["ok"] for r in records.get("ringmta", []))
    return 1 if ringmta_failed and ("ringmta" in dict(chosen)) else 0


def write_json(args, records, summaries, skipped, all_ratios, elapsed_s):
    """Write every round's record, the summaries and the ratios as JSON."""
    path = args.json or os.path.join(args.builddir, "bench", "results.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    doc = {
        "benchmark": "relay throughput, smtp-source -> MTA -> smtp-sink on loopback",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                    "loadavg_at_start": args.loadavg_at_start,
                    "loadavg_at_end": list(os.getloadavg())},
        "ringmta": {"revision": source_revision(), "binary_sha256": args.ringmta_sha256},
        "parameters": {"rounds": args.rounds, "messages": args.messages,
                       "sessions": args.sessions, "size_bytes": args.size,
                       "round_timeout_s": args.round_timeout, "sender": SENDER,
                       "recipient": RCPT},
        "elapsed_s": round(elapsed_s, 1),
        "skipped": skipped,
        "summary": summaries,
        "ratios_ringmta_over": all_ratios,
        "rounds": records,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print("results: %s" % path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
