#!/usr/bin/env python3
"""bench/run_bench.py - relay throughput of ringmta against Postfix (and
OpenSMTPD when installed) on loopback; `ninja bench` runs it.

Each round, for each MTA in turn: a fresh sink (mtasink, or Postfix's
smtp-sink with --sink smtp-sink), the MTA started fresh with an empty queue
relaying example.net to the sink, then the load generator (mtaload, or
smtp-source with --driver smtp-source) sends N messages of 2 KiB over 20
concurrent connections. Measured: end-to-end msgs/s (generator start until
the sink has counted N), acceptance msgs/s (the generator's run time), CPU
seconds per 1000 messages used by the MTA's process tree, and with mtaload
the end-of-data to 250 latency. With mtaload and mtasink every accepted
Message-ID must reach the sink exactly once. Prints a table of medians
[min..max] and the ringmta/Postfix ratios, writes
BUILDDIR/bench/results.json. Exits 1 only when ringmta failed a round. See
bench/README.md.
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
import tools  # noqa: E402

SENDER = tools.SENDER
RCPT = tools.RCPT
SOURCE_FAILED_GRACE_S = 10
# smtp-source -l N sends N body bytes after 133 bytes of its own headers;
# mtaload's size is the whole message, so it gets N + 133 and the MTA sees
# the same number of bytes from either generator.
SMTP_SOURCE_HEADER_BYTES = 133
METRICS = (("e2e_msgs_per_s", "end-to-end msg/s"),
           ("accept_msgs_per_s", "accepted msg/s"),
           ("cpu_s_per_1000", "CPU s/1000 msgs"),
           ("eod_p99_ms", "end-of-data p99 ms"))


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Relay throughput: ringmta vs Postfix "
                                "(vs OpenSMTPD) on loopback, driven by mtaload or "
                                "smtp-source.")
    p.add_argument("--builddir", default="build", help="where smtpd was built")
    p.add_argument("--rounds", type=int, default=5, help="rounds per MTA (default 5)")
    p.add_argument("--messages", type=int, default=2000,
                   help="messages per round (default 2000)")
    p.add_argument("--sessions", type=int, default=20,
                   help="concurrent client connections (default 20)")
    p.add_argument("--size", type=int, default=2048,
                   help="message body bytes (smtp-source -l; mtaload sends the same "
                   "bytes in all, default 2048)")
    p.add_argument("--driver", choices=("mtaload", "smtp-source"), default="mtaload",
                   help="load generator (default mtaload)")
    p.add_argument("--sink", choices=("mtasink", "smtp-sink"), default="mtasink",
                   help="the relays' next hop (default mtasink)")
    p.add_argument("--per-conn", type=int, default=1,
                   help="messages per client connection, 0 = unlimited (default 1, "
                   "smtp-source's default; with smtp-source anything but 1 means -d)")
    p.add_argument("--no-pipelining", action="store_true",
                   help="mtaload: one command per round trip")
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
    if args.per_conn < 0:
        p.error("--per-conn must be 0 or more")
    return args


MTA_FACTORIES = (
    ("ringmta", lambda a: ringmta.Ringmta(a.ringmta_binary)),
    ("postfix", lambda a: postfix.Postfix()),
    ("opensmtpd", lambda a: opensmtpd.OpenSmtpd(a.ringmta_built)),
)


def make_driver(args, workdir, port):
    """The load generator of a round: mtaload or smtp-source, both with
    start(), done(), started_at, exited_at, proc, output(), stop()."""
    if args.driver == "smtp-source":
        source = benchlib.Source(workdir, port, args.messages, args.sessions, args.size,
                                 SENDER, RCPT)
        if args.per_conn != 1:
            source.argv[1:1] = ["-d"]
        return source
    extra = ["-c", str(args.per_conn)] + (["-P"] if args.no_pipelining else [])
    return tools.MtaLoad(args.builddir, workdir, port, args.messages, args.sessions,
                         args.size + SMTP_SOURCE_HEADER_BYTES, extra)


def make_sink(args, workdir):
    """The relays' next hop: mtasink or smtp-sink, both with start() -> port,
    reached (an Event), reached_at, count, last_record, stop()."""
    if args.sink == "smtp-sink":
        return benchlib.Sink(workdir, args.messages)
    return tools.MtaSink(args.builddir, workdir, args.messages)


def wait_for_load(source, sink, mta, args):
    """Wait until the generator has exited and the sink has counted every
    message; raise BenchError on timeout, when the MTA dies, or when the
    generator failed and the sink stays short."""
    deadline = source.started_at + args.round_timeout
    while not (source.done() and sink.reached.is_set()):
        now = time.monotonic()
        if now >= deadline:
            raise benchlib.BenchError(
                "round not finished after %.1f s: %s %s, sink counted %d of %d"
                % (args.round_timeout, args.driver,
                   "exited" if source.done() else "still running", sink.count,
                   args.messages))
        if not benchlib.pid_alive(mta.root_pid):
            raise benchlib.BenchError("%s died during the load (sink counted %d of %d)"
                                      % (mta.name, sink.count, args.messages))
        if source.done() and source.proc.returncode != 0 and \
                now - source.exited_at > SOURCE_FAILED_GRACE_S:
            raise benchlib.BenchError("%s exited with status %d; sink counted %d of %d"
                                      % (args.driver, source.proc.returncode, sink.count,
                                         args.messages))
        sink.reached.wait(0.05)


def driver_figures(source, rec):
    """With mtaload: its latency figures and what it saw refused or lost."""
    report = getattr(source, "report", None)
    if not report:
        return
    lat = report.get("latency_ms", {})
    for stage, key in (("dot", "eod"), ("message", "msg"), ("connect", "connect")):
        if stage in lat:
            for q in ("p50", "p90", "p99", "p99_9", "max"):
                rec["%s_%s_ms" % (key, q)] = lat[stage][q]
    rec["driver_messages"] = report.get("messages")
    rec["driver_errors"] = report.get("errors")
    rec["driver_replies"] = report.get("replies")
    msgs = report.get("messages", {})
    if msgs.get("rejected") or msgs.get("failed"):
        rec["problems"].append("mtaload: %d rejected, %d failed; errors %s; replies %s" % (
            msgs.get("rejected", 0), msgs.get("failed", 0), report.get("errors"),
            report.get("replies")))


def measure(mta, sink, workdir, listen_port, args, rec):
    """Run the load against a started MTA and fill rec with the timings."""
    n = args.messages
    source = make_driver(args, workdir, listen_port)
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
        rec["problems"].append("%s exited with status %d" % (args.driver,
                                                             source.proc.returncode))
    driver_figures(source, rec)
    rec["_source"] = source


def check_no_loss(rec, sink):
    """mtaload and mtasink: every Message-ID mtaload saw accepted reached the
    sink exactly once, and nothing else did."""
    source = rec.pop("_source", None)
    if not isinstance(source, tools.MtaLoad) or not isinstance(sink, tools.MtaSink):
        return
    sent, got = source.accepted_ids(), sink.received_ids()
    rec["ids_sent"] = len(sent)
    rec["ids_received"] = len(got)
    rec["problems"] += tools.no_loss_problems(sent, got)


def run_round(name, factory, index, args, workroot):
    """Run one round for one MTA; return its record (ok, timings, problems)."""
    workdir = os.path.join(workroot, "%s-round%d" % (name, index))
    os.makedirs(workdir, mode=0o755)
    os.chmod(workdir, 0o755)
    rec = {"mta": name, "round": index, "ok": False, "problems": [], "log_notes": [],
           "workdir": workdir}
    mta = factory(args)
    sink = make_sink(args, workdir)
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
    check_no_loss(rec, sink)
    rec.pop("_source", None)
    rec["ok"] = not rec["problems"] and "e2e_s" in rec
    return rec


def summarize(records):
    """Return {metric: {median, min, max}} over the successful records."""
    good = [r for r in records if r["ok"]]
    out = {"rounds_ok": len(good), "rounds": len(records)}
    for key, _ in METRICS:
        values = [r[key] for r in good if key in r]
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
    print("relay throughput: %s -> MTA -> %s, %d messages x %d body bytes per round, "
          "%d concurrent connections, %s messages per connection, %d rounds; "
          "median [min..max] over successful rounds"
          % (args.driver, args.sink, args.messages, args.size, args.sessions,
             args.per_conn or "unlimited", args.rounds))
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
                "  (CPU and latency: lower is better)")


def print_round(rec):
    """Print one line per finished round, and its problems."""
    if "e2e_s" in rec:
        line = ("%-10s round %d: e2e %7.1f msg/s  accepted %7.1f msg/s  CPU %.3f s "
                "(%.3f s/1000)" % (rec["mta"], rec["round"], rec["e2e_msgs_per_s"],
                                   rec["accept_msgs_per_s"], rec["cpu_s"],
                                   rec["cpu_s_per_1000"]))
        if "eod_p99_ms" in rec:
            line += "  end-of-data p50/p99/max %.2f/%.2f/%.2f ms" % (
                rec["eod_p50_ms"], rec["eod_p99_ms"], rec["eod_max_ms"])
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
    needed = [benchlib.SMTP_SINK] if args.sink == "smtp-sink" else \
        [os.path.join(args.builddir, "mtasink")]
    needed += [benchlib.SMTP_SOURCE] if args.driver == "smtp-source" else \
        [os.path.join(args.builddir, "mtaload")]
    for tool in needed:
        if not os.access(tool, os.X_OK):
            print("bench: %s is missing (%s)" % (tool, "apt-get install postfix"
                  if tool.startswith("/usr") else "ninja build/mtaload build/mtasink"),
                  file=sys.stderr)
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
        "benchmark": "relay throughput, %s -> MTA -> %s on loopback" % (args.driver,
                                                                        args.sink),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                    "loadavg_at_start": args.loadavg_at_start,
                    "loadavg_at_end": list(os.getloadavg())},
        "ringmta": {"revision": source_revision(), "binary_sha256": args.ringmta_sha256},
        "parameters": {"rounds": args.rounds, "messages": args.messages,
                       "sessions": args.sessions, "size_bytes": args.size,
                       "round_timeout_s": args.round_timeout, "sender": SENDER,
                       "recipient": RCPT, "driver": args.driver, "sink": args.sink,
                       "per_conn": args.per_conn, "pipelining": not args.no_pipelining},
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
