#!/usr/bin/env python3
"""bench/run_bench.py - relay throughput of ringmta against Postfix and
OpenSMTPD on loopback, beside the no-queue ceiling; `ninja bench` runs it.

A run re-executes itself in a private network namespace with only lo (as
root; --no-netns skips it), fetches and unpacks OpenSMTPD from Debian first
when /usr/sbin/smtpd is not OpenSMTPD (bench/opensmtpd.py), then runs each
scenario (--scenario: 2k, 100k, 1session; all three by default). In a
scenario, each round runs, for the ceiling and each MTA in turn: a fresh
sink (mtasink, or Postfix's smtp-sink with --sink smtp-sink), the MTA
started fresh with an empty queue relaying example.net to the sink (the
ceiling: no MTA, the load goes straight into the sink), then the load
generator (mtaload, or smtp-source with --driver smtp-source) sends N
messages. Measured: end-to-end msgs/s (generator start until the sink has
counted N), acceptance msgs/s (the generator's run time), CPU seconds per
1000 messages used by the MTA's process tree, and with mtaload the
end-of-data to 250 latency. With mtaload and mtasink every accepted
Message-ID must reach the sink exactly once. Prints one table per scenario
(medians [min..max], % of the ceiling) with ratios against Postfix, writes
BUILDDIR/bench/results.json. Exits 1 only when ringmta failed a round. See
bench/README.md.
"""
import argparse
import copy
import hashlib
import os
import platform
import shutil
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
CEILING = "ceiling"
# The disk's bound on a durable queue: appends of this many bytes, each
# followed by fdatasync (the WAL's pattern under load), for this long.
DISK_BLOCK_BYTES = 256 << 10
DISK_PROBE_S = 2.0
METRICS = (("e2e_msgs_per_s", "end-to-end msg/s"),
           ("accept_msgs_per_s", "accepted msg/s"),
           ("cpu_s_per_1000", "CPU s/1000 msgs"),
           ("eod_p50_ms", "end-of-data p50 ms"),
           ("eod_p99_ms", "end-of-data p99 ms"),
           ("eod_p99_9_ms", "end-of-data p99.9 ms"),
           ("eod_max_ms", "end-of-data max ms"),
           ("harness_cpu_s_per_1000", "mtaload + mtasink CPU s/1000 msgs"))
RATIO_METRICS = ("e2e_msgs_per_s", "accept_msgs_per_s", "cpu_s_per_1000", "eod_p99_ms")
DISPLAY_NAMES = {CEILING: "ceiling (no MTA)"}


class Load:
    """One scenario: what each round sends (messages of size body bytes over
    sessions concurrent connections, per_conn messages per connection,
    pipelining or not) and the goal its table is read against."""

    def __init__(self, name, title, size, sessions, messages, per_conn=1,
                 pipelining=True, goal=None, disk_bound=False, issue_ceiling=False):
        self.name = name
        self.title = title
        self.size = size
        self.sessions = sessions
        self.messages = messages
        self.per_conn = per_conn
        self.pipelining = pipelining
        self.goal = goal
        self.disk_bound = disk_bound
        self.issue_ceiling = issue_ceiling

    # Returns a copy sending at most n messages per round.
    def capped(self, n):
        load = Load(**vars(self))
        load.messages = min(self.messages, n)
        return load

    # Returns the parameters as a dict, for results.json.
    def parameters(self):
        return {"size_bytes": self.size, "sessions": self.sessions,
                "messages": self.messages, "per_conn": self.per_conn,
                "pipelining": self.pipelining}


# The presets. Message counts keep a default run (3 rounds each) within a
# few minutes on 2 cores while a round of ringmta lasts long enough for its
# memtables to fill and flush (steady state, not a burst into empty ones).
SCENARIOS = {
    "2k": Load("2k", "2 KiB messages, 20 sessions", 2048, 20, 10000,
               goal="msg/s and CPU against Postfix"),
    "100k": Load("100k", "100 KiB messages, 20 sessions", 102400, 20, 3000,
                 goal="ringmta at least 80% of the ceiling", disk_bound=True,
                 issue_ceiling=True),
    "1session": Load("1session", "2 KiB messages, 1 session, no pipelining", 2048, 1, 300,
                     pipelining=False, goal="ringmta no worse than Postfix"),
}
SHAPE_OPTIONS = ("size", "sessions", "per_conn", "no_pipelining")


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Relay throughput: ringmta vs Postfix vs "
                                "OpenSMTPD on loopback, beside the no-MTA ceiling, driven "
                                "by mtaload or smtp-source.")
    p.add_argument("--builddir", default="build", help="where smtpd was built")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                   help="run this preset (repeatable; default all: 2k, 100k, 1session)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per MTA and scenario "
                   "(default 3)")
    p.add_argument("--messages", type=int,
                   help="messages per round in every scenario (default: the scenario's, "
                   "10000 / 3000 / 300)")
    p.add_argument("--sessions", type=int,
                   help="concurrent client connections (a custom scenario)")
    p.add_argument("--size", type=int,
                   help="message body bytes, smtp-source -l; mtaload sends the same bytes "
                   "in all (a custom scenario)")
    p.add_argument("--per-conn", type=int,
                   help="messages per client connection, 0 = unlimited (a custom scenario; "
                   "default 1; with smtp-source anything but 1 means -d)")
    p.add_argument("--no-pipelining", action="store_true", default=None,
                   help="mtaload: one command per round trip (a custom scenario)")
    p.add_argument("--driver", choices=("mtaload", "smtp-source"), default="mtaload",
                   help="load generator (default mtaload)")
    p.add_argument("--sink", choices=("mtasink", "smtp-sink"), default="mtasink",
                   help="the relays' next hop (default mtasink)")
    p.add_argument("--no-chunking", action="store_true",
                   help="mtasink does not offer CHUNKING, so the relays send DATA "
                        "(by default it offers it, as Postfix's smtpd does; ringmta "
                        "then sends BDAT, Postfix and OpenSMTPD still DATA)")
    p.add_argument("--round-timeout", type=float, default=120,
                   help="seconds before a round counts as failed (default 120)")
    p.add_argument("--mta", action="append", choices=[m for m, _ in MTA_FACTORIES],
                   help="benchmark only this MTA (repeatable; default all)")
    p.add_argument("--no-ceiling", action="store_true",
                   help="do not measure the no-MTA ceiling")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true",
                   help="keep every round's folder (logs, spools); failed rounds "
                   "are always kept")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/results.json)")
    args = p.parse_args(argv)
    if args.rounds < 1 or (args.messages or 1) < 1 or (args.sessions or 1) < 1:
        p.error("--rounds, --messages and --sessions must be at least 1")
    if (args.per_conn or 0) < 0:
        p.error("--per-conn must be 0 or more")
    if args.size is not None and args.size < 0:
        p.error("--size must be 0 or more")
    args.loads = chosen_loads(args)
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    return args


def chosen_loads(args):
    """Return the scenarios to run: the --scenario presets (all by default);
    explicit shape options (--size, --sessions, --per-conn, --no-pipelining)
    without --scenario make one custom scenario on top of 2k's values, and
    with --scenario change the chosen presets; --messages applies to all."""
    shaped = any(getattr(args, o) is not None for o in SHAPE_OPTIONS)
    if shaped and not args.scenario:
        base = [Load("custom", "custom load", **{k: v for k, v in vars(SCENARIOS["2k"]).items()
                                                  if k not in ("name", "title", "goal")})]
    else:
        base = [SCENARIOS[n] for n in (args.scenario or list(SCENARIOS))]
    loads = []
    for preset in base:
        load = Load(**vars(preset))
        load.size = preset.size if args.size is None else args.size
        load.sessions = args.sessions or preset.sessions
        load.messages = args.messages or preset.messages
        load.per_conn = preset.per_conn if args.per_conn is None else args.per_conn
        load.pipelining = preset.pipelining and not args.no_pipelining
        if load.name == "custom":
            load.title = "%d-byte bodies, %d sessions%s" % (
                load.size, load.sessions, "" if load.pipelining else ", no pipelining")
        loads.append(load)
    return loads


MTA_FACTORIES = (
    ("ringmta", lambda a: ringmta.Ringmta(a.ringmta_binary)),
    ("postfix", lambda a: postfix.Postfix()),
    ("opensmtpd", lambda a: opensmtpd.OpenSmtpd(a.opensmtpd_binary, a.opensmtpd_why_not)),
)


def display_name(name):
    """The row label of an MTA (the ceiling's says what it is)."""
    return DISPLAY_NAMES.get(name, name)


def make_driver(args, load, workdir, port):
    """The load generator of a round: mtaload or smtp-source, both with
    start(), done(), started_at, exited_at, proc, output(), stop()."""
    if args.driver == "smtp-source":
        source = benchlib.Source(workdir, port, load.messages, load.sessions, load.size,
                                 SENDER, RCPT)
        if load.per_conn != 1:
            source.argv[1:1] = ["-d"]
        return source
    extra = ["-c", str(load.per_conn)] + ([] if load.pipelining else ["-P"])
    return tools.MtaLoad(args.builddir, workdir, port, load.messages, load.sessions,
                         load.size + SMTP_SOURCE_HEADER_BYTES, extra)


def make_sink(args, load, workdir):
    """The relays' next hop: mtasink or smtp-sink, both with start() -> port,
    reached (an Event), reached_at, count, last_record, stop()."""
    if args.sink == "smtp-sink":
        return benchlib.Sink(workdir, load.messages)
    return tools.MtaSink(args.builddir, workdir, load.messages,
                         ["--no-chunking"] if args.no_chunking else [])


def wait_for_load(source, sink, mta, args, load):
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
                   load.messages))
        if mta.root_pid is not None and not benchlib.pid_alive(mta.root_pid):
            raise benchlib.BenchError("%s died during the load (sink counted %d of %d)"
                                      % (mta.name, sink.count, load.messages))
        if source.done() and source.proc.returncode != 0 and \
                now - source.exited_at > SOURCE_FAILED_GRACE_S:
            raise benchlib.BenchError("%s exited with status %d; sink counted %d of %d"
                                      % (args.driver, source.proc.returncode, sink.count,
                                         load.messages))
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


def cpu_reading(mta):
    """CPU seconds of the MTA's process tree so far; None when nothing is counted."""
    return None if mta.root_pid is None else benchlib.tree_cpu_s(mta.root_pid)


def sink_cpu_reading(sink):
    """CPU seconds of the sink so far; None when it is not running."""
    proc = getattr(sink, "proc", None)
    if proc is None or proc.poll() is not None:
        return None
    try:
        return benchlib.tree_cpu_s(proc.pid)
    except benchlib.BenchError:
        return None


def harness_cpu(source, sink_cpu0, sink_cpu1, n, rec):
    """With mtaload: the generator's and the sink's CPU in the round (the
    work of moving the messages over one hop of loopback TCP)."""
    report = getattr(source, "report", None) or {}
    cpu = report.get("cpu_s")
    if not cpu or sink_cpu0 is None or sink_cpu1 is None:
        return
    load_s = cpu.get("user", 0.0) + cpu.get("system", 0.0)
    rec.update(load_cpu_s=round(load_s, 3), sink_cpu_s=round(sink_cpu1 - sink_cpu0, 3),
               harness_cpu_s_per_1000=round((load_s + sink_cpu1 - sink_cpu0) * 1000.0 / n, 4))


def measure(mta, sink, workdir, port, args, load, rec):
    """Run the load against a started MTA (or straight into the sink) and
    fill rec with the timings."""
    n = load.messages
    source = make_driver(args, load, workdir, port)
    cpu0 = cpu_reading(mta)
    sink_cpu0 = sink_cpu_reading(sink)
    source.start()
    try:
        wait_for_load(source, sink, mta, args, load)
        cpu1 = cpu_reading(mta)
        sink_cpu1 = sink_cpu_reading(sink)
    finally:
        source.stop()
        rec["source_status"] = source.proc.returncode
        rec["source_output"] = source.output()[-2000:]
        rec["sink_count"] = sink.count
    e2e = sink.reached_at - source.started_at
    accept = source.exited_at - source.started_at
    rec.update(e2e_s=round(e2e, 4), accept_s=round(accept, 4),
               e2e_msgs_per_s=round(n / e2e, 1), accept_msgs_per_s=round(n / accept, 1))
    if cpu0 is not None:
        rec.update(cpu_s=round(cpu1 - cpu0, 3),
                   cpu_s_per_1000=round((cpu1 - cpu0) * 1000.0 / n, 4),
                   peak_rss_kib=benchlib.peak_rss_kib(mta.root_pid))
    if source.proc.returncode != 0:
        rec["problems"].append("%s exited with status %d" % (args.driver,
                                                             source.proc.returncode))
    driver_figures(source, rec)
    harness_cpu(source, sink_cpu0, sink_cpu1, n, rec)
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


def run_round(name, factory, index, args, load, workroot):
    """Run one round for one MTA; return its record (ok, timings, problems)."""
    workdir = os.path.join(workroot, "%s-%s-round%d" % (load.name, name, index))
    os.makedirs(workdir, mode=0o755)
    os.chmod(workdir, 0o755)
    mta = factory(args)
    rec = {"mta": name, "scenario": load.name, "round": index, "ok": False,
           "problems": [], "log_notes": [], "workdir": workdir}
    limit = mta.message_limit(load.sessions)
    if limit and limit < load.messages:
        load = load.capped(limit)
        rec["capped_because"] = mta.message_limit_why
    rec["messages"] = load.messages
    sink = make_sink(args, load, workdir)
    try:
        sink_port = sink.start()
        listen_port = benchlib.free_port()
        mta.start(workdir, listen_port, sink_port)
        measure(mta, sink, workdir, mta.load_port or listen_port, args, load, rec)
        rec["problems"] += mta.verify(load.messages)
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
    out = benchlib.round_spread(records, METRICS)
    out["messages_per_round"] = max((r["messages"] for r in records), default=0)
    why = [r["capped_because"] for r in records if r.get("capped_because")]
    if why:
        out["capped_because"] = why[0]
    return out


def fmt_number(value):
    """A figure with as many decimals as its size calls for."""
    if value >= 100:
        return "%.0f" % value
    return "%.1f" % value if value >= 10 else "%.2f" % value


def fmt_range(summary, key):
    """Return 'median [min..max]' for one metric, or '-'."""
    m = summary.get(key)
    if m is None:
        return "-"
    return "%s [%s..%s]" % (fmt_number(m["median"]), fmt_number(m["min"]),
                            fmt_number(m["max"]))


def fmt_median(summary, key):
    """Return the median of one metric, or '-'."""
    m = summary.get(key)
    return "-" if m is None else fmt_number(m["median"])


def median_ratio(summaries, mine, theirs, key):
    """mine's median / theirs' median for one metric, or None."""
    a, b = summaries.get(mine, {}).get(key), summaries.get(theirs, {}).get(key)
    if a is None or b is None or b["median"] <= 0:
        return None
    return round(a["median"] / b["median"], 3)


def ratios(summaries):
    """Return {"X/Y": {metric: ratio}} for every MTA against Postfix, and
    ringmta against OpenSMTPD, where both have medians."""
    pairs = [(m, "postfix") for m in summaries if m not in ("postfix", CEILING)]
    pairs.append(("ringmta", "opensmtpd"))
    out = {}
    for mine, theirs in pairs:
        r = {k: median_ratio(summaries, mine, theirs, k) for k in RATIO_METRICS}
        r = {k: v for k, v in r.items() if v is not None}
        if r:
            out["%s/%s" % (mine, theirs)] = r
    return out


def percent_of_ceiling(summaries):
    """Return {mta: end-to-end median as a % of the ceiling's}."""
    out = {}
    for name in summaries:
        if name != CEILING:
            r = median_ratio(summaries, name, CEILING, "e2e_msgs_per_s")
            if r is not None:
                out[name] = round(100.0 * r, 1)
    return out


def table_rows(names, summaries, skipped, pct):
    """The table's rows (lists of cells), one per MTA in names."""
    rows = []
    for name in names:
        if name in skipped:
            rows.append([display_name(name), "skipped: " + skipped[name]])
            continue
        if name not in summaries:
            continue
        s = summaries[name]
        lat = "/".join(fmt_median(s, k) for k in ("eod_p50_ms", "eod_p99_ms",
                                                   "eod_p99_9_ms", "eod_max_ms"))
        rows.append([display_name(name), "%d/%d" % (s["rounds_ok"], s["rounds"]),
                     fmt_range(s, "e2e_msgs_per_s"), fmt_median(s, "accept_msgs_per_s"),
                     fmt_range(s, "cpu_s_per_1000"), lat,
                     "%.0f%%" % pct[name] if name in pct else "-"])
    return rows


def print_rows(head, rows):
    """Print a table: columns as wide as their widest cell; a row of two
    cells (a skipped MTA) runs its second cell across the rest."""
    widths = [max(len(r[i]) for r in [head] + rows if len(r) == len(head))
              for i in range(len(head))]
    line = "  ".join("%-*s" % (w, c) for w, c in zip(widths, head))
    print(line)
    print("-" * len(line))
    for r in rows:
        if len(r) == len(head):
            print("  ".join("%-*s" % (w, c) for w, c in zip(widths, r)).rstrip())
        else:
            print("%-*s  %s" % (widths[0], r[0], r[1]))


def goal_line(load, summaries, pct, all_ratios):
    """One line saying how ringmta did against the scenario's goal."""
    vs_pf = all_ratios.get("ringmta/postfix", {})
    if load.name == "100k" and "ringmta" in pct:
        return "goal: ringmta at least 80%% of the ceiling: %.0f%% (%s)" % (
            pct["ringmta"], "met" if pct["ringmta"] >= 80 else "NOT met")
    if load.name == "1session" and "e2e_msgs_per_s" in vs_pf:
        r = vs_pf["e2e_msgs_per_s"]
        return "goal: ringmta no worse than Postfix: %.2fx its msg/s (%s)" % (
            r, "met" if r >= 1 else "NOT met")
    if load.name == "2k" and "e2e_msgs_per_s" in vs_pf:
        return "goal: msg/s and CPU against Postfix: %.2fx msg/s at %.2fx the CPU" % (
            vs_pf["e2e_msgs_per_s"], vs_pf.get("cpu_s_per_1000", float("nan")))
    return None


def print_scenario(args, load, result, skipped):
    """Print one scenario's table, its ratios and its goal."""
    summaries, pct, all_ratios = result["summary"], result["percent_of_ceiling"], \
        result["ratios"]
    print()
    print("scenario %s: %s; %s -> MTA -> %s%s, %d messages x %d body bytes per round, "
          "%s per connection, %d rounds; median [min..max] over successful rounds"
          % (load.name, load.title, args.driver, args.sink,
             " (CHUNKING offered)" if args.sink == "mtasink" and not args.no_chunking else "",
             load.messages, load.size,
             load.per_conn or "unlimited", args.rounds))
    head = ["MTA", "rounds", "end-to-end msg/s", "accepted msg/s", "CPU s/1000 msgs",
            "end-of-data p50/p99/p99.9/max ms", "% of ceiling"]
    names = ([CEILING] if CEILING in summaries else []) + [n for n, _ in MTA_FACTORIES]
    print_rows(head, table_rows(names, summaries, skipped, pct))
    labels = {"e2e_msgs_per_s": "end-to-end", "accept_msgs_per_s": "accepted",
              "cpu_s_per_1000": "CPU", "eod_p99_ms": "p99"}
    for pair, r in all_ratios.items():
        print("%s (medians): %s  (CPU and latency: lower is better)" % (
            pair, ", ".join("%s %.2fx" % (labels[k], r[k]) for k in RATIO_METRICS if k in r)))
    for name, s in summaries.items():
        if s["messages_per_round"] < load.messages:
            print("%s: %d messages per round, not %d: %s" % (
                name, s["messages_per_round"], load.messages, s.get("capped_because")))
    goal = goal_line(load, summaries, pct, all_ratios)
    if goal:
        print(goal)
    disk = result.get("disk_bound")
    if disk:
        print(disk_line(disk, summaries))
    hop = result.get("hop_bound")
    if hop:
        print(hop_line(hop, summaries))
    alt = result.get("issue_ceiling")
    if alt:
        print(issue_ceiling_line(alt))


def disk_line(disk, summaries):
    """The disk's bound on a durable queue, against the ceiling and ringmta."""
    line = ("disk: %.0f MB/s of %d KiB appends + fdatasync bound a queue that writes "
            "each message once to %.0f msg/s" % (disk["mb_per_s"], disk["block_bytes"] >> 10,
                                                 disk["msgs_per_s"]))
    return line + against_bound(disk["msgs_per_s"], summaries)


def median_of(summaries, name, key="e2e_msgs_per_s"):
    """name's median of one metric, or None."""
    return summaries.get(name, {}).get(key, {}).get("median")


def against_bound(msgs_per_s, summaries):
    """A bound of msgs_per_s as a share of the ceiling, and ringmta's share
    of the bound, as the end of a bound's line."""
    tail = ""
    ceiling, ours = median_of(summaries, CEILING), median_of(summaries, "ringmta")
    if ceiling:
        tail += " (%.0f%% of the ceiling)" % (100.0 * msgs_per_s / ceiling)
    if ours and msgs_per_s > 0:
        tail += "; ringmta at %.0f%% of that bound" % (100.0 * ours / msgs_per_s)
    return tail


def hop_line(hop, summaries):
    """The cores' bound on any relay, against the ceiling and ringmta."""
    line = ("cpu: the ceiling's mtaload + mtasink spend %.3f CPU ms a message on one "
            "loopback hop; a relay adds a second of about as much, so on %d cores none "
            "passes about %.0f msg/s"
            % (hop["ceiling_cpu_ms_per_msg"], hop["cores"], hop["msgs_per_s"]))
    ceiling = median_of(summaries, CEILING)
    if ceiling and hop["msgs_per_s"] >= ceiling:
        return line + (" (above the ceiling: this load waits on round trips, "
                       "not on the cores)")
    return line + against_bound(hop["msgs_per_s"], summaries)


def print_round(rec):
    """Print one line per finished round, and its problems."""
    who = "%-9s %-16s round %d:" % (rec["scenario"], display_name(rec["mta"]), rec["round"])
    line = who
    if "e2e_s" in rec:
        line += " e2e %7.1f msg/s  accepted %7.1f msg/s" % (rec["e2e_msgs_per_s"],
                                                           rec["accept_msgs_per_s"])
        if "cpu_s" in rec:
            line += "  CPU %.3f s (%.3f s/1000)" % (rec["cpu_s"], rec["cpu_s_per_1000"])
        if "eod_p99_ms" in rec:
            line += "  end-of-data p50/p99/max %.2f/%.2f/%.2f ms" % (
                rec["eod_p50_ms"], rec["eod_p99_ms"], rec["eod_max_ms"])
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
    args.ringmta_binary and args.ringmta_sha256."""
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


def missing_tools(args):
    """Return a message naming the generator or sink that is missing, or None."""
    needed = [benchlib.SMTP_SINK] if args.sink == "smtp-sink" else \
        [os.path.join(args.builddir, "mtasink")]
    needed += [benchlib.SMTP_SOURCE] if args.driver == "smtp-source" else \
        [os.path.join(args.builddir, "mtaload")]
    for tool in needed:
        if not os.access(tool, os.X_OK):
            return "%s is missing (%s)" % (tool, "apt-get install postfix" if
                                           tool.startswith("/usr") else
                                           "ninja build/mtaload build/mtasink")
    return None


def prepare_opensmtpd(args, fetch):
    """Find OpenSMTPD, or fetch and unpack Debian's package (only where the
    network is still the machine's); set args.opensmtpd_*."""
    args.opensmtpd_binary, args.opensmtpd_origin, args.opensmtpd_why_not = None, None, None
    if args.mta and "opensmtpd" not in args.mta:
        return
    binary, origin, why = opensmtpd.prepare(args.builddir, args.ringmta_built, fetch=fetch,
                                            log=lambda m: print(m, flush=True))
    args.opensmtpd_binary, args.opensmtpd_origin, args.opensmtpd_why_not = binary, origin, why
    if origin and not (benchlib.in_private_netns() or benchlib.in_private_mntns()):
        print("bench: OpenSMTPD: %s" % origin, flush=True)


def active_mtas(args):
    """Return ([(name, factory)] to run, {name: why skipped}); the ceiling first."""
    chosen = [(n, f) for n, f in MTA_FACTORIES if not args.mta or n in args.mta]
    if not args.no_ceiling:
        chosen.insert(0, (CEILING, lambda a: tools.NoMta()))
    skipped, active = {}, []
    for name, factory in chosen:
        why = factory(args).unavailable()
        if why:
            skipped[name] = why
            print("bench: skipping %s: %s" % (name, why), flush=True)
        else:
            active.append((name, factory))
    return active, skipped


def run_rounds(args, load, mtas, workroot):
    """args.rounds rounds of load, interleaved across mtas [(name,
    factory)]; returns {name: [record]}. A round's folder is removed when
    it passed, unless --keep."""
    records = {name: [] for name, _ in mtas}
    for index in range(1, args.rounds + 1):
        for name, factory in mtas:
            rec = run_round(name, factory, index, args, load, workroot)
            records[name].append(rec)
            print_round(rec)
            if rec["ok"] and not args.keep:
                shutil.rmtree(rec["workdir"], ignore_errors=True)
    return records


def run_scenario(args, load, active, skipped, workroot):
    """Run every round of one scenario, interleaved across the MTAs; return
    its result (parameters, summaries, ratios, % of ceiling, rounds)."""
    began = time.monotonic()
    disk = disk_bound(load, workroot) if load.disk_bound else None
    records = run_rounds(args, load, active, workroot)
    summaries = {name: summarize(recs) for name, recs in records.items()}
    return {"title": load.title, "goal": load.goal, "parameters": load.parameters(),
            "elapsed_s": round(time.monotonic() - began, 1), "summary": summaries,
            "ratios": ratios(summaries), "percent_of_ceiling": percent_of_ceiling(summaries),
            "disk_bound": disk, "hop_bound": hop_bound(summaries),
            "issue_ceiling": issue_ceiling_rounds(args, load, active, workroot),
            "rounds": records}


def issue_ceiling_rounds(args, load, active, workroot):
    """The goal against the ceiling as the issue that set it defines it:
    smtp-source straight into smtp-sink, and ringmta between the two, in
    the same run (rounds interleaved). smtp-sink offers no CHUNKING and
    serves every connection from one thread. Returns {driver, sink,
    summary, percent_of_ceiling, rounds}, or None when the run already
    uses those tools, or the ceiling, ringmta or the tools are missing."""
    if not load.issue_ceiling or (args.driver, args.sink) == ("smtp-source", "smtp-sink"):
        return None
    pair = [(name, factory) for name, factory in active if name in (CEILING, "ringmta")]
    tools_there = all(os.access(t, os.X_OK) for t in (benchlib.SMTP_SOURCE, benchlib.SMTP_SINK))
    if len(pair) != 2 or not tools_there:
        return None
    alt = copy.copy(args)
    alt.driver, alt.sink = "smtp-source", "smtp-sink"
    sub = Load(**vars(load))
    sub.name, sub.disk_bound, sub.issue_ceiling = load.name + "-smtp-sink", False, False
    records = run_rounds(alt, sub, pair, workroot)
    summaries = {name: summarize(recs) for name, recs in records.items()}
    return {"driver": alt.driver, "sink": alt.sink, "summary": summaries,
            "percent_of_ceiling": percent_of_ceiling(summaries), "rounds": records}


def issue_ceiling_line(alt):
    """The goal against smtp-source -> smtp-sink, end to end and accepted."""
    s = alt["summary"]
    ceiling, e2e = median_of(s, CEILING), median_of(s, "ringmta")
    accepted = median_of(s, "ringmta", "accept_msgs_per_s") or 0
    if not ceiling or e2e is None:
        return "goal against smtp-source -> smtp-sink: no result (see the rounds above)"
    return ("goal against the issue's ceiling, smtp-source -> smtp-sink in the same run "
            "(DATA, one sink thread): ceiling %.0f msg/s, ringmta %.0f end to end (%.0f%%, %s), "
            "%.0f accepted (%.0f%%)" % (ceiling, e2e, 100.0 * e2e / ceiling,
                                       "met" if e2e >= 0.8 * ceiling else "NOT met",
                                       accepted, 100.0 * accepted / ceiling))


def hop_bound(summaries):
    """What the cores allow any relay: in the ceiling, mtaload and mtasink
    spend C CPU seconds a message moving it over one hop of loopback TCP
    (send, the loopback's receive path, the copy out); an MTA between them
    adds a second hop (it receives the message and sends it on), so no
    relay passes cores / 2C messages a second, before it queues a byte.
    None without a ceiling measured by mtaload and mtasink."""
    per_1000 = summaries.get(CEILING, {}).get("harness_cpu_s_per_1000", {}).get("median")
    if not per_1000:
        return None
    cores = len(os.sched_getaffinity(0))
    msgs_per_s = cores * 1000.0 / (2.0 * per_1000)
    return {"cores": cores, "ceiling_cpu_ms_per_msg": round(per_1000, 4),
            "msgs_per_s": round(msgs_per_s, 1)}


def disk_bound(load, workroot):
    """What the disk allows a queue that writes every message once, durably:
    the rate of 256 KiB appends + fdatasync in workroot (the spools' file
    system) over the bytes of one message."""
    r = benchlib.durable_write_rate(workroot, DISK_PROBE_S, DISK_BLOCK_BYTES)
    r["block_bytes"] = DISK_BLOCK_BYTES
    r["msgs_per_s"] = round(r["mb_per_s"] * 1e6 / (load.size + SMTP_SOURCE_HEADER_BYTES), 1)
    return r


def note_load_average(args):
    """Record the load average; say so when other work skews the numbers."""
    args.loadavg_at_start = list(os.getloadavg())
    if args.loadavg_at_start[0] > 1.0:
        print("bench: note: load average %.1f at start; other work on this machine "
              "skews the numbers" % args.loadavg_at_start[0], flush=True)




def main(argv):
    """Run every scenario, print the tables, write the JSON; return the exit status."""
    args = parse_args(argv)
    benchlib.exit_on_sigterm()
    missing = missing_tools(args)
    if missing:
        print("bench: %s" % missing, file=sys.stderr)
        return 1
    prepare_opensmtpd(args, fetch=not benchlib.in_private_netns())
    try:
        args.netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "bench")
    except benchlib.BenchError as e:
        print("bench: the private network namespace does not work: %s" % e, file=sys.stderr)
        return 1
    workroot = tempfile.mkdtemp(prefix="ringmta-bench-", dir="/tmp")
    os.chmod(workroot, 0o755)
    snapshot_binary(args, workroot)
    active, skipped = active_mtas(args)
    note_load_average(args)
    began = time.monotonic()
    results = {}
    for load in args.loads:
        results[load.name] = run_scenario(args, load, active, skipped, workroot)
    for load in args.loads:
        print_scenario(args, load, results[load.name], skipped)
    write_json(args, results, skipped, time.monotonic() - began)
    all_recs = [r for res in results.values() for r in scenario_records(res)]
    if all(r["ok"] for r in all_recs) and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    ringmta_failed = "ringmta" in skipped or any(
        not r["ok"] for r in all_recs if r["mta"] == "ringmta")
    return 1 if ringmta_failed and (not args.mta or "ringmta" in args.mta) else 0


def scenario_records(res):
    """Every round's record of a scenario's result, its smtp-sink rounds too."""
    groups = [res["rounds"]]
    if res.get("issue_ceiling"):
        groups.append(res["issue_ceiling"]["rounds"])
    return [r for rounds in groups for recs in rounds.values() for r in recs]


def write_json(args, results, skipped, elapsed_s):
    """Write every scenario's rounds, summaries, ratios and % of ceiling as JSON."""
    path = args.json or os.path.join(args.builddir, "bench", "results.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    doc = {
        "benchmark": "relay throughput, %s -> MTA -> %s on loopback" % (args.driver,
                                                                        args.sink),
        **benchlib.provenance(args.loadavg_at_start, args.netns, source_revision(),
                              args.ringmta_sha256, kernel=platform.release()),
        "opensmtpd": args.opensmtpd_origin,
        "parameters": {"rounds": args.rounds, "round_timeout_s": args.round_timeout,
                       "sender": SENDER, "recipient": RCPT, "driver": args.driver,
                       "sink": args.sink,
                       "sink_chunking": args.sink == "mtasink" and not args.no_chunking},
        "elapsed_s": round(elapsed_s, 1),
        "skipped": skipped,
        "scenarios": results,
    }
    benchlib.write_json(path, doc)
    print("results: %s" % path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
