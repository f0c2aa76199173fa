#!/usr/bin/env python3
"""bench/sweep.py - relay throughput against concurrency: the curve of
end-to-end messages per second from 1 to 1,000 concurrent client sessions
for ringmta (one shard per CPU, and one shard), Postfix and OpenSMTPD (when
installed), on loopback, with a PNG of it drawn by gnuplot.

Each point is run_bench.py's round (bench/run_bench.py, bench/README.md):
mtaload -> MTA -> mtasink on 127.0.0.1, a fresh MTA with an empty queue,
one message per connection, every accepted Message-ID checked at the sink.
Only the number of concurrent sessions and of messages change from point to
point: messages = max(--messages-min, --messages-per-session x sessions).

"ringmta 1 shard" is the same binary started with its CPU affinity set to
CPU 0 (as `taskset -c 0` does; ringmta makes one shard per CPU of its
affinity mask); the generator and the sink are not pinned. Postfix runs
with bench/postfix.py's configuration (default_process_limit = 100, so past
100 sessions clients wait in its listen queue); the limits in force are
printed and kept in the JSON.

Like run_bench.py, as root it re-executes itself in a private network
namespace with only lo (--no-netns stays outside), after fetching what it
needs from Debian first: OpenSMTPD's package (run_bench.prepare_opensmtpd)
and gnuplot-nox when gnuplot is missing.

Run (as root, for Postfix and OpenSMTPD; about 7 minutes on 2 cores with
the defaults):

    ninja -C . build/smtpd build/mtaload build/mtasink
    python3 bench/sweep.py --builddir build            # table, JSON, PNG
    python3 bench/sweep.py --builddir build --publish  # also docs/bench-concurrency.png
    python3 bench/sweep.py --levels 1,20,200 --rounds 1 --mta ringmta

Writes BUILDDIR/bench/sweep.json, BUILDDIR/bench/sweep.dat (the plotted
table) and BUILDDIR/bench/concurrency.png (bench/sweep.gp draws it; gnuplot
is installed with apt-get when missing and running as root). Exits 1 when a
ringmta point failed, 0 otherwise (a failing peer is reported, not fatal).
"""
import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import postfix  # noqa: E402
import run_bench  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PLOT_SCRIPT = os.path.join(HERE, "sweep.gp")
PUBLISHED_PNG = os.path.join(REPO, "docs", "bench-concurrency.png")
DEFAULT_LEVELS = "1,10,20,50,100,200,500,1000"
NOFILE_WANTED = 65536
APT_TIMEOUT_S = 600
GNUPLOT_TIMEOUT_S = 60
PIN_CPUS = {0}
SHARDS_LINE = re.compile(r"smtpd: ready: (\d+) shards")
METRICS = (("e2e_msgs_per_s", "end-to-end msg/s", 0),
           ("cpu_s_per_1000", "CPU s/1000 msgs", 3),
           ("eod_p99_ms", "end-of-data p99 ms", 2))


class PinnedStart:
    """An MTA from run_bench's factories started with CPU affinity
    PIN_CPUS, as under `taskset -c 0`: the calling thread's mask is set
    around start(), so the MTA's processes inherit it, and restored at once,
    so the sink (started before) and the generator (started after) are not
    pinned. Everything else is the wrapped MTA's."""

    def __init__(self, inner, cpus):
        self._inner = inner
        self._cpus = cpus

    # Starts the wrapped MTA with the calling thread pinned.
    def start(self, workdir, listen_port, sink_port):
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self._cpus)
        try:
            return self._inner.start(workdir, listen_port, sink_port)
        finally:
            os.sched_setaffinity(0, saved)

    # Everything but start() is the wrapped MTA's (root_pid, verify, stop...).
    def __getattr__(self, name):
        return getattr(self._inner, name)


def series_table(ncpu):
    """Return [(key, label, factory)] of every curve the sweep can draw; the
    factories are run_bench's, so each MTA is configured as the bench does."""
    bench = dict(run_bench.MTA_FACTORIES)
    return [
        ("ringmta", "ringmta, %d shard%s" % (ncpu, "" if ncpu == 1 else "s"),
         bench["ringmta"]),
        ("ringmta-1shard", "ringmta, 1 shard",
         lambda a: PinnedStart(bench["ringmta"](a), PIN_CPUS)),
        ("postfix", "Postfix", bench["postfix"]),
        ("opensmtpd", "OpenSMTPD", bench["opensmtpd"]),
    ]


def with_smaller_cap(factory, cap):
    """Wrap an MTA factory so that an MTA which asks run_round to send it
    fewer messages (message_limit(), for an MTA too slow for the full
    count) gets at most cap: at about one message per second, each point of
    such a curve would otherwise cost minutes."""
    def make(args):
        mta = factory(args)
        own_limit = getattr(mta, "message_limit", None)
        if own_limit is not None:
            def message_limit(sessions):
                limit = own_limit(sessions)
                return min(limit, cap) if limit else limit
            mta.message_limit = message_limit
        return mta
    return make


def parse_args(argv, series_keys):
    """Return the sweep's own options."""
    p = argparse.ArgumentParser(description="Relay throughput against concurrent "
                                "sessions: ringmta (N shards, 1 shard), Postfix, "
                                "OpenSMTPD; table, JSON and a PNG.")
    p.add_argument("--builddir", default="build", help="where smtpd, mtaload, mtasink are")
    p.add_argument("--levels", default=DEFAULT_LEVELS,
                   help="concurrent sessions, comma-separated (default %s)" % DEFAULT_LEVELS)
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds per point, the median is plotted (default 1)")
    p.add_argument("--messages-min", type=int, default=2000,
                   help="at least this many messages per point (default 2000)")
    p.add_argument("--messages-per-session", type=int, default=5,
                   help="messages per point = max(--messages-min, this x sessions) "
                   "(default 5)")
    p.add_argument("--size", type=int, default=2048,
                   help="message body bytes, as run_bench.py's --size (default 2048)")
    p.add_argument("--round-timeout", type=float, default=90,
                   help="seconds before a point counts as failed (default 90)")
    p.add_argument("--slow-messages", type=int, default=20,
                   help="messages per point for an MTA that asks for fewer than the "
                   "full count because it is slow (OpenSMTPD past its listen backlog; "
                   "default 20)")
    p.add_argument("--mta", action="append", choices=series_keys,
                   help="only this curve (repeatable; default all available)")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true", help="keep every round's folder")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/sweep.json)")
    p.add_argument("--png", help="plot file (default BUILDDIR/bench/concurrency.png)")
    p.add_argument("--no-plot", action="store_true", help="table and JSON only")
    p.add_argument("--publish", action="store_true",
                   help="copy the PNG to docs/bench-concurrency.png")
    args = p.parse_args(argv)
    try:
        args.level_list = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    except ValueError:
        p.error("--levels: comma-separated whole numbers, e.g. %s" % DEFAULT_LEVELS)
    if not args.level_list or args.level_list[0] < 1:
        p.error("--levels must be at least 1")
    if args.rounds < 1 or args.messages_min < 1 or args.messages_per_session < 0 or \
            args.slow_messages < 1:
        p.error("--rounds, --messages-min and --slow-messages must be at least 1")
    if args.publish and args.no_plot:
        p.error("--publish needs the plot")
    return args


def bench_args(sweep):
    """Return the options namespace run_bench.run_round expects, built by
    run_bench's own parser (so every option it knows has its default)."""
    args = run_bench.parse_args(["--builddir", sweep.builddir, "--rounds", "1",
                                 "--round-timeout", str(sweep.round_timeout)])
    args.ringmta_built = os.path.abspath(os.path.join(sweep.builddir, "smtpd"))
    # run_bench's prepare_opensmtpd looks at --mta: fetch only when wanted.
    args.mta = None if not sweep.mta or "opensmtpd" in sweep.mta else ["ringmta"]
    return args


def point_load(sweep, sessions):
    """Return the run_bench.Load of one point: sweep.size-byte bodies over
    sessions connections, one message per connection, pipelining."""
    messages = max(sweep.messages_min, sweep.messages_per_session * sessions)
    return run_bench.Load("s%d" % sessions, "%d sessions" % sessions, sweep.size,
                          sessions, messages, per_conn=1, pipelining=True)




def known_limits():
    """Return the limits that shape the curve at high concurrency."""
    limits = {}
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            limits["somaxconn"] = int(f.read())
    except (OSError, ValueError):
        pass
    m = re.search(r"^default_process_limit\s*=\s*(\d+)", postfix.MAIN_CF, re.M)
    if m:
        limits["postfix_default_process_limit"] = int(m.group(1))
    limits["ringmta_listen_backlog"] = "SOMAXCONN (listen(fd, SOMAXCONN), capped by somaxconn)"
    limits["ringmta_sessions_per_shard"] = shard_sessions_max()
    limits["postfix_note"] = ("one smtpd process per session, at most "
                              "default_process_limit of them; further clients wait in "
                              "the listen queue (backlog = the process limit) until one "
                              "is free")
    return limits


def shard_sessions_max():
    """Return SHARD_SESSIONS_MAX from core/shard.h, or None."""
    try:
        with open(os.path.join(REPO, "core", "shard.h")) as f:
            m = re.search(r"#define\s+SHARD_SESSIONS_MAX\s+(\d+)", f.read())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def missing_tools(builddir):
    """Return the harness binaries that are not built."""
    return [p for p in (os.path.join(builddir, n) for n in ("mtaload", "mtasink"))
            if not os.access(p, os.X_OK)]


def available_series(bargs, ncpu, chosen):
    """Return ([(key, label, factory)] that can run here, {key: why not})."""
    active, skipped = [], {}
    for key, label, factory in series_table(ncpu):
        if chosen and key not in chosen:
            continue
        why = factory(bargs).unavailable()
        if why:
            skipped[key] = why
            print("sweep: skipping %s: %s" % (label, why), flush=True)
        else:
            active.append((key, label, factory))
    return active, skipped


def run_point(key, factory, sessions, index, args, bargs, workroot):
    """Run one round of one curve at one concurrency; return its record,
    with the shard count ringmta logged ("smtpd: ready: N shards")."""
    load = point_load(args, sessions)
    rec = run_bench.run_round(key, factory, index, bargs, load, workroot)
    # run_round may send fewer messages to a slow MTA (rec["capped_because"])
    rec.update(series=key, sessions=sessions, messages=rec.get("messages", load.messages))
    shards = logged_shards(rec["workdir"])
    if shards is not None:
        rec["shards"] = shards
    return rec


def logged_shards(workdir):
    """Return N from ringmta's "smtpd: ready: N shards" in workdir, or None."""
    try:
        with open(os.path.join(workdir, "smtpd.log"), errors="replace") as f:
            m = SHARDS_LINE.search(f.read())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def print_point(label, rec):
    """Print one line per finished round, and its problems."""
    line = "%-18s %5d sessions %6d msgs round %d:" % (label, rec["sessions"],
                                                       rec["messages"], rec["round"])
    if "e2e_s" in rec:
        line += " e2e %7.1f msg/s  CPU %.3f s/1000" % (rec["e2e_msgs_per_s"],
                                                      rec["cpu_s_per_1000"])
        if "eod_p99_ms" in rec:
            line += "  end-of-data p99 %.2f ms" % rec["eod_p99_ms"]
    if "shards" in rec:
        line += "  (%d shard%s)" % (rec["shards"], "" if rec["shards"] == 1 else "s")
    print(line + ("" if rec["ok"] else "  FAILED"), flush=True)
    if rec.get("capped_because"):
        print("    fewer messages: %s" % rec["capped_because"])
    for p in rec["problems"]:
        print("    problem: %s" % p)
    for note in rec["log_notes"][:3]:
        print("    log: %s" % note)
    if not rec["ok"]:
        print("    kept: %s" % rec["workdir"], flush=True)


def summarize_point(records):
    """Return {metric: median} over the successful rounds of one point, with
    rounds_ok and rounds."""
    good = [r for r in records if r["ok"]]
    out = {"rounds_ok": len(good), "rounds": len(records)}
    for key, _, _ in METRICS:
        values = [r[key] for r in good if key in r]
        if values:
            out[key] = round(statistics.median(values), 4)
    return out


def print_tables(args, active, summary, ncpu):
    """Print one sessions x curve table per metric."""
    print()
    print("relay throughput against concurrency: mtaload -> MTA -> mtasink, %d body "
          "bytes, one message per connection, messages per point = max(%d, %d x "
          "sessions), %d round%s per point (median); %d CPUs"
          % (args.size, args.messages_min, args.messages_per_session, args.rounds,
             "" if args.rounds == 1 else "s", ncpu))
    for metric, title, digits in METRICS:
        print()
        head = "%-9s" % "sessions" + "".join(" %18s" % label for _, label, _ in active)
        print(title)
        print(head)
        print("-" * len(head))
        for level in args.level_list:
            cells = []
            for key, _, _ in active:
                cells.append(" %18s" % table_cell(summary[key].get(level, {}), metric,
                                                  digits))
            print("%-9d" % level + "".join(cells))


def table_cell(point, metric, digits):
    """Return a point's median as text; "failed" when no round succeeded,
    with "(k/n)" when only some did."""
    value = point.get(metric)
    if value is None:
        return "failed" if point.get("rounds") else "-"
    text = "%.*f" % (digits, value)
    if point["rounds_ok"] < point["rounds"]:
        text += " (%d/%d)" % (point["rounds_ok"], point["rounds"])
    return text


def print_failures(active, records):
    """Print why each failed point failed (its first problem)."""
    lines = []
    for key, label, _ in active:
        for level, recs in records[key].items():
            for r in recs:
                if not r["ok"] and r["problems"]:
                    lines.append("  %s at %d sessions: %s" % (label, level,
                                                              r["problems"][0]))
    if lines:
        print()
        print("failed points:")
        print("\n".join(lines))


def print_limits(limits):
    """Print the limits in force that bend the curve."""
    print()
    print("limits: somaxconn %s; ringmta listen backlog SOMAXCONN, %s sessions per "
          "shard; Postfix default_process_limit %s (%s)"
          % (limits.get("somaxconn"), limits.get("ringmta_sessions_per_shard"),
             limits.get("postfix_default_process_limit"), limits["postfix_note"]))


def write_plot_data(path, args, active, summary):
    """Write the plotted table: a header of quoted curve names, then one row
    per concurrency level, "?" where a point is missing. A curve with no
    point at all is left out."""
    active = [a for a in active if any("e2e_msgs_per_s" in p
                                       for p in summary[a[0]].values())]
    with open(path, "w") as f:
        f.write("sessions " + " ".join('"%s"' % label for _, label, _ in active) + "\n")
        for level in args.level_list:
            row = [str(level)]
            for key, _, _ in active:
                value = summary[key].get(level, {}).get("e2e_msgs_per_s")
                row.append("?" if value is None else "%.1f" % value)
            f.write(" ".join(row) + "\n")


def ensure_gnuplot():
    """Return the gnuplot binary, installing gnuplot-nox with apt-get when
    it is missing and this runs as root; None when there is none."""
    found = shutil.which("gnuplot")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("sweep: installing gnuplot-nox", flush=True)
    for step in (["apt-get", "install", "-y", "gnuplot-nox"],
                 ["apt-get", "update"], ["apt-get", "install", "-y", "gnuplot-nox"]):
        if step[1] == "update" and shutil.which("gnuplot"):
            break
        try:
            subprocess.run(step, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, timeout=APT_TIMEOUT_S,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        except (OSError, subprocess.TimeoutExpired) as e:
            print("sweep: %s: %s" % (" ".join(step), e), file=sys.stderr)
    return shutil.which("gnuplot")


def plot_title(args, ncpu):
    """Return the plot's title: the machine and the message size."""
    model = cpu_model()
    return ("Relay throughput on loopback, %d CPU core%s%s, %d-byte body, "
            "1 message per connection" % (ncpu, "" if ncpu == 1 else "s",
                                          " (%s)" % model if model else "", args.size))


def cpu_model():
    """Return the CPU's model name from /proc/cpuinfo, or ""."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return ""


def plot_note(active, summary, limits):
    """Return the line under the plot: which points failed (they are not
    drawn) and Postfix's process limit when Postfix is drawn."""
    parts = []
    failed = ["%s at %s" % (label, ", ".join(str(level) for level, p in
                                             sorted(summary[key].items())
                                             if p.get("rounds") and "e2e_msgs_per_s" not in p))
              for key, label, _ in active
              if any(p.get("rounds") and "e2e_msgs_per_s" not in p
                     for p in summary[key].values())]
    if failed:
        parts.append("Not drawn, failed (see sweep.json): %s sessions." % "; ".join(failed))
    if any(key == "postfix" for key, _, _ in active) and \
            "postfix_default_process_limit" in limits:
        parts.append("Postfix: default_process_limit = %d."
                     % limits["postfix_default_process_limit"])
    return " ".join(parts)


def gnuplot_string(text):
    """Return text as a single-quoted gnuplot string."""
    return "'%s'" % text.replace("'", "''")


def render_png(datafile, png, title, note, xmax):
    """Draw the curves with bench/sweep.gp; return None or why not."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot is missing (apt-get install gnuplot-nox)"
    defs = "datafile=%s; outfile=%s; plottitle=%s; plotnote=%s; xmax=%g" % (
        gnuplot_string(datafile), gnuplot_string(png), gnuplot_string(title),
        gnuplot_string(note), xmax)
    try:
        done = subprocess.run([gnuplot, "-e", defs, PLOT_SCRIPT], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=GNUPLOT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "gnuplot: %s" % e
    if done.returncode != 0 or not os.path.exists(png):
        return "gnuplot failed (%d): %s" % (done.returncode,
                                            done.stdout.decode("utf-8", "replace")[-500:])
    return None




def run_sweep(args, bargs, active, workroot):
    """Run every point; return ({key: {level: [records]}}, any ringmta failed).
    A point that failed is not run again in later rounds: a peer that cannot
    hold the concurrency would cost a round timeout each time."""
    records = {key: {level: [] for level in args.level_list} for key, _, _ in active}
    ringmta_failed = False
    for level in args.level_list:
        for index in range(1, args.rounds + 1):
            for key, label, factory in active:
                if any(not r["ok"] for r in records[key][level]):
                    continue
                rec = run_point(key, with_smaller_cap(factory, args.slow_messages), level,
                                index, args, bargs, workroot)
                records[key][level].append(rec)
                print_point(label, rec)
                if not rec["ok"] and key.startswith("ringmta"):
                    ringmta_failed = True
                if rec["ok"] and not args.keep:
                    shutil.rmtree(rec["workdir"], ignore_errors=True)
    return records, ringmta_failed




def main(argv):
    """Run the sweep, print the tables, write JSON and the PNG; return the
    exit status."""
    ncpu = len(os.sched_getaffinity(0))
    keys = [k for k, _, _ in series_table(ncpu)]
    args = parse_args(argv, keys)
    benchlib.exit_on_sigterm()
    missing = missing_tools(args.builddir)
    if missing:
        print("sweep: %s missing (ninja build/mtaload build/mtasink)" % ", ".join(missing),
              file=sys.stderr)
        return 1
    if not args.no_plot and not ensure_gnuplot():
        print("sweep: gnuplot is missing and cannot be installed: no plot", flush=True)
    bargs = bench_args(args)
    run_bench.prepare_opensmtpd(bargs, fetch=not benchlib.in_private_netns())
    try:
        netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "sweep")
    except benchlib.BenchError as e:
        print("sweep: the private network namespace does not work: %s" % e,
              file=sys.stderr)
        return 1
    nofile = benchlib.raise_nofile_limit(NOFILE_WANTED)
    if nofile < 2 * max(args.level_list) + 64:
        print("sweep: note: open files limit %d is low for %d sessions"
              % (nofile, max(args.level_list)), flush=True)
    workroot = tempfile.mkdtemp(prefix="ringmta-sweep-", dir="/tmp")
    os.chmod(workroot, 0o755)
    run_bench.snapshot_binary(bargs, workroot)
    active, skipped = available_series(bargs, ncpu, args.mta)
    if not active:
        print("sweep: nothing to measure", file=sys.stderr)
        return 1
    limits = known_limits()
    load_start = list(os.getloadavg())
    if load_start[0] > 1.0:
        print("sweep: note: load average %.1f at start; other work on this machine "
              "skews the numbers" % load_start[0], flush=True)
    began = time.monotonic()
    records, ringmta_failed = run_sweep(args, bargs, active, workroot)
    summary = {key: {level: summarize_point(recs) for level, recs in per.items()}
               for key, per in records.items()}
    print_tables(args, active, summary, ncpu)
    print_failures(active, records)
    print_limits(limits)
    outdir = os.path.join(args.builddir, "bench")
    os.makedirs(outdir, exist_ok=True)
    png = args.png or os.path.join(outdir, "concurrency.png")
    datafile = os.path.join(outdir, "sweep.dat")
    write_plot_data(datafile, args, active, summary)
    drawable = any("e2e_msgs_per_s" in p for per in summary.values() for p in per.values())
    plot_problem = None if args.no_plot else "no point succeeded" if not drawable else render_png(
        datafile, png, plot_title(args, ncpu), plot_note(active, summary, limits),
        max(args.level_list) * 1.3)
    if plot_problem:
        print("sweep: no plot: %s" % plot_problem, file=sys.stderr)
    elif not args.no_plot:
        print("plot: %s" % png)
        if args.publish:
            os.makedirs(os.path.dirname(PUBLISHED_PNG), exist_ok=True)
            shutil.copyfile(png, PUBLISHED_PNG)
            print("published: %s" % PUBLISHED_PNG)
    doc = {
        "benchmark": "relay throughput against concurrent sessions, mtaload -> MTA -> "
                     "mtasink on loopback",
        **benchlib.provenance(load_start, netns, run_bench.source_revision(),
                              bargs.ringmta_sha256, cpus=ncpu, cpu_model=cpu_model(),
                              kernel=platform.release(), open_files_limit=nofile),
        "opensmtpd": getattr(bargs, "opensmtpd_origin", None),
        "parameters": {"levels": args.level_list, "rounds": args.rounds,
                       "messages_min": args.messages_min,
                       "messages_per_session": args.messages_per_session,
                       "size_bytes": args.size, "per_conn": 1, "pipelining": True,
                       "round_timeout_s": args.round_timeout,
                       "slow_messages": args.slow_messages,
                       "pinned_cpus_1shard": sorted(PIN_CPUS)},
        "limits": limits,
        "series": {key: label for key, label, _ in active},
        "skipped": skipped,
        "elapsed_s": round(time.monotonic() - began, 1),
        "summary": {key: {str(level): s for level, s in per.items()}
                    for key, per in summary.items()},
        "plot": None if plot_problem or args.no_plot else os.path.abspath(png),
        "rounds": [r for per in records.values() for recs in per.values() for r in recs],
    }
    path = args.json or os.path.join(outdir, "sweep.json")
    benchlib.write_json(path, doc)
    print("results: %s" % path)
    all_ok = all(r["ok"] for r in doc["rounds"])
    if all_ok and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    return 1 if ringmta_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
