#!/usr/bin/env python3
"""bench/filter_bench.py - what a filter process (smtpd-filters(7)) in the
path costs ringmta's intake, next to OpenSMTPD running the same filter:
the same messages over the same sessions into build/smtpd (and OpenSMTPD,
as run_bench.py gets it) relaying to build/mtasink on 127.0.0.1, with no
filter, with one `proc-exec` filter asked at mail-from and rcpt-to (it
answers proceed), and with one registered for data-line (it echoes every
line back). Prints accepted and end-to-end messages per second for each,
the medians over --rounds rounds, and each filter row against its MTA's
row without; writes BUILDDIR/bench/filter.json. The default is 4 sessions:
OpenSMTPD's compiled-in listen backlog of 5 stalls more (run_bench.py caps
its messages then, which leaves nothing to compare).

The filter is a few lines of Python (/usr/bin/python3) reading its input in
blocks and answering every request of a block in one write, as a filter
written with care would; it runs as smtpd's unprivileged user. Each round
is run_bench.py's round (bench/run_bench.py, bench/README.md): a fresh
mtasink, a fresh ringmta with an empty queue, the load, the no-loss check
of Message-IDs (so a data-line filter that lost or changed a message fails
the round) and of the logged deliveries. Rows are interleaved within a
round, so a change in the machine's load hits them alike.

Run (as root it re-executes itself in a private network namespace with only
lo, like run_bench.py; --no-netns stays outside):

    ninja build/smtpd build/mtaload build/mtasink
    python3 bench/filter_bench.py --builddir build
    python3 bench/filter_bench.py --sessions 1,20 --messages 5000 --rounds 5 --no-opensmtpd

Exits 1 when a round failed, 0 otherwise.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import opensmtpd  # noqa: E402
import ringmta  # noqa: E402
import run_bench  # noqa: E402

FILTER_PYTHON = "/usr/bin/python3"   # readable by smtpd's user, unlike a pyenv
FILTER_SCRIPT = r'''
import os, sys
mode = sys.argv[1]
out = sys.stdout.buffer
rest = b""
def batches():
    global rest
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            sys.exit(0)
        *lines, rest = (rest + chunk).split(b"\n")
        yield lines
for lines in batches():
    if b"config|ready" in lines:
        break
if mode == "dataline":
    out.write(b"register|filter|smtp-in|data-line\n")
else:
    out.write(b"register|filter|smtp-in|mail-from\nregister|filter|smtp-in|rcpt-to\n")
out.write(b"register|ready\n")
out.flush()
for lines in batches():
    answers = []
    for line in lines:
        f = line.split(b"|", 7)
        if f[0] != b"filter" or len(f) < 7:
            continue
        if f[4] == b"data-line":
            answers.append(b"filter-dataline|%s|%s|%s" % (f[5], f[6], f[7] if len(f) > 7
                                                          else b""))
        else:
            answers.append(b"filter-result|%s|%s|proceed" % (f[5], f[6]))
    if answers:
        out.write(b"\n".join(answers) + b"\n")
        out.flush()
'''

# (key, label, MTA, filter mode or None): the rows of every table.
ROWS = (
    ("none", "no filter", "ringmta", None),
    ("proc", "proc-exec filter at mail-from, rcpt-to", "ringmta", "proc"),
    ("dataline", "proc-exec filter, data-line echo", "ringmta", "dataline"),
    ("osmtpd-none", "OpenSMTPD, no filter", "opensmtpd", None),
    ("osmtpd-proc", "OpenSMTPD, filter at mail-from, rcpt-to", "opensmtpd", "proc"),
    ("osmtpd-dataline", "OpenSMTPD, data-line echo", "opensmtpd", "dataline"),
)
# Each filter row against the row without a filter of the same MTA.
BASELINE = {"proc": "none", "dataline": "none", "osmtpd-proc": "osmtpd-none",
            "osmtpd-dataline": "osmtpd-none"}
METRICS = (("accept_msgs_per_s", "accepted msg/s"),
           ("e2e_msgs_per_s", "end-to-end msg/s"),
           ("msg_p50_ms", "message p50 ms"),
           ("cpu_s_per_1000", "CPU s/1000 msgs"))
RATIO_METRICS = ("accept_msgs_per_s", "e2e_msgs_per_s")
FILTER_LOG_LINE = re.compile(r" filter bench: (started pid|ready) "
                             r"|^info: Starting processor bench$")


def filtered_config(text, workdir, listen_port, mails_max, mode):
    """Return a relay config text with `smtp limit max-mails` raised so that
    one connection may carry every message of the round and, for a filter
    row, the bench filter (its script written to workdir) on its listener."""
    text = "smtp limit max-mails %d\n" % mails_max + text
    if mode is None:
        return text
    script = os.path.join(workdir, "bench_filter.py")
    with open(script, "w") as f:
        f.write(FILTER_SCRIPT)
    os.chmod(script, 0o644)
    listen = "listen on 127.0.0.1 port %d" % listen_port
    return ('filter bench proc-exec "%s %s %s"\n' % (FILTER_PYTHON, script, mode) +
            text.replace(listen, listen + " filter bench", 1))


class RingmtaFiltered(ringmta.Ringmta):
    """ringmta as run_bench.py runs it, with the limit and the filter."""

    def __init__(self, binary, mails_max, mode):
        super().__init__(binary)
        self.mails_max = mails_max
        self.mode = mode

    def config(self, workdir, listen_port, sink_port):
        return filtered_config(super().config(workdir, listen_port, sink_port), workdir,
                               listen_port, self.mails_max, self.mode)

    # The filter's own start lines are part of a healthy round here.
    def log_notes(self, limit=20):
        return [l for l in super().log_notes(limit) if not FILTER_LOG_LINE.search(l)]


class OpenSmtpdFiltered(opensmtpd.OpenSmtpd):
    """OpenSMTPD as run_bench.py runs it, with the same limit and filter."""

    def __init__(self, binary, why_not, mails_max, mode):
        super().__init__(binary, why_not)
        self.mails_max = mails_max
        self.mode = mode

    def config(self, workdir, listen_port, sink_port):
        return filtered_config(super().config(workdir, listen_port, sink_port), workdir,
                               listen_port, self.mails_max, self.mode)

    def log_notes(self, limit=20):
        return [l for l in super().log_notes(limit) if not FILTER_LOG_LINE.search(l)]


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="ringmta's (and OpenSMTPD's) intake with no "
                                "filter, with one proc-exec filter at mail-from and rcpt-to, "
                                "and with one at data-line; medians and ratios.")
    p.add_argument("--builddir", default="build", help="where smtpd, mtaload, mtasink are")
    p.add_argument("--sessions", default="4",
                   help="concurrent sessions, comma-separated: one table each (default 4)")
    p.add_argument("--messages", type=int, default=2000,
                   help="messages per round (default 2000)")
    p.add_argument("--size", type=int, default=2048, help="body bytes (default 2048)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per row (default 3)")
    p.add_argument("--round-timeout", type=float, default=180,
                   help="seconds before a round counts as failed (default 180)")
    p.add_argument("--no-opensmtpd", action="store_true",
                   help="leave OpenSMTPD's rows out (they need root, and Debian's "
                   "package fetched once with apt-get download)")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true", help="keep every round's folder")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/filter.json)")
    args = p.parse_args(argv)
    args.session_list = benchlib.session_counts(p, args.sessions, "4")
    if args.rounds < 1 or args.messages < 1 or args.size < 0:
        p.error("--rounds and --messages must be at least 1, --size at least 0")
    return args


def missing_tools(builddir):
    """Return what this needs that is not there."""
    need = [os.path.join(builddir, n) for n in ("smtpd", "mtaload", "mtasink")]
    return [p for p in need + [FILTER_PYTHON] if not os.access(p, os.X_OK)]


def round_args(args):
    """Return the options namespace run_bench.run_round expects."""
    return run_bench.parse_args(["--builddir", args.builddir, "--mta", "ringmta",
                                 "--mta", "opensmtpd", "--round-timeout",
                                 str(args.round_timeout)])


def print_round(sessions, label, rec):
    """One line per finished round, and its problems."""
    line = "%3d session%s %-40s round %d:" % (sessions, " " if sessions == 1 else "s", label,
                                              rec["round"])
    if "e2e_s" in rec:
        line += " accepted %7.1f msg/s  end-to-end %7.1f msg/s" % (rec["accept_msgs_per_s"],
                                                                   rec["e2e_msgs_per_s"])
    benchlib.print_round_end(line, rec)


def row_factory(args, mta, mode):
    """Return the run_bench factory of one row's MTA."""
    if mta == "opensmtpd":
        return lambda a: OpenSmtpdFiltered(a.opensmtpd_binary, a.opensmtpd_why_not,
                                           args.messages, mode)
    return lambda a: RingmtaFiltered(a.ringmta_binary, args.messages, mode)


def active_rows(args, bargs):
    """Return the rows that can run here; say why OpenSMTPD's cannot."""
    why = "left out (--no-opensmtpd)" if args.no_opensmtpd else \
        row_factory(args, "opensmtpd", None)(bargs).unavailable()
    if why:
        print("filter_bench: no OpenSMTPD rows: %s" % why, flush=True)
    return [row for row in ROWS if row[2] != "opensmtpd" or not why]


def run_all(args, rows, bargs, workroot):
    """Run every round: per round, per session count, every row in turn.
    Return {sessions: {row key: [records]}}."""
    records = {s: {row[0]: [] for row in rows} for s in args.session_list}
    for index in range(1, args.rounds + 1):
        for sessions in args.session_list:
            for key, label, mta, mode in rows:
                load = run_bench.Load("s%d-%s" % (sessions, key), "%d sessions, %s" %
                                      (sessions, label), args.size, sessions, args.messages,
                                      per_conn=0)
                rec = run_bench.run_round(mta, row_factory(args, mta, mode), index, bargs,
                                          load, workroot)
                records[sessions][key].append(rec)
                print_round(sessions, label, rec)
                if rec["ok"] and not args.keep:
                    shutil.rmtree(rec["workdir"], ignore_errors=True)
    return records


def print_table(args, rows, sessions, summary):
    """One table per session count, then each filter row against its MTA's
    row without a filter."""
    print()
    print("%d session%s, %d messages x %d body bytes per round, %d rounds; median "
          "[min..max]" % (sessions, "" if sessions == 1 else "s", args.messages, args.size,
                          args.rounds))
    head = ["path", "rounds"] + [title for _, title in METRICS]
    cells = []
    for key, label, _, _ in rows:
        s = summary[key]
        cells.append([label, "%d/%d" % (s["rounds_ok"], s["rounds"])] +
                     [run_bench.fmt_range(s, m) for m, _ in METRICS])
    run_bench.print_rows(head, cells)
    for key, label, _, mode in rows:
        if mode is None or BASELINE[key] not in summary:
            continue
        r = [run_bench.median_ratio(summary, key, BASELINE[key], m) for m in RATIO_METRICS]
        print("%s / without: accepted %s, end-to-end %s" % (
            label, *("%.2fx" % x if x is not None else "-" for x in r)))


def main(argv):
    """Run the rounds, print the tables, write the JSON; return the exit status."""
    args = parse_args(argv)
    benchlib.exit_on_sigterm()
    missing = missing_tools(args.builddir)
    if missing:
        print("filter_bench: missing %s" % ", ".join(missing), file=sys.stderr)
        return 1
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    bargs = round_args(args)
    if not args.no_opensmtpd:
        run_bench.prepare_opensmtpd(bargs, fetch=not benchlib.in_private_netns())
    try:
        netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "filter_bench")
    except benchlib.BenchError as e:
        print("filter_bench: the private network namespace does not work: %s" % e,
              file=sys.stderr)
        return 1
    benchlib.raise_nofile_limit(4096)
    workroot = tempfile.mkdtemp(prefix="ringmta-filter-bench-", dir="/tmp")
    os.chmod(workroot, 0o755)
    run_bench.snapshot_binary(args, workroot)
    bargs.ringmta_binary = args.ringmta_binary
    run_bench.note_load_average(args)
    rows = active_rows(args, bargs)
    began = time.monotonic()
    records = run_all(args, rows, bargs, workroot)
    results, failed = {}, False
    for sessions in args.session_list:
        summary = {key: benchlib.round_spread(recs, METRICS)
                   for key, recs in records[sessions].items()}
        failed |= any(not r["ok"] for recs in records[sessions].values() for r in recs)
        results[str(sessions)] = {"summary": summary, "rounds": records[sessions]}
        print_table(args, rows, sessions, summary)
    path = args.json or os.path.join(args.builddir, "bench", "filter.json")
    benchlib.write_json(path, {
        "benchmark": "ringmta intake with and without a filter process, loopback",
        **benchlib.provenance(args.loadavg_at_start, netns, run_bench.source_revision(),
                              args.ringmta_sha256),
        "parameters": {"messages": args.messages, "size_bytes": args.size,
                       "rounds": args.rounds, "rows": [row[1] for row in rows]},
        "elapsed_s": round(time.monotonic() - began, 1),
        "sessions": results,
    })
    print("results: %s" % path)
    if not failed and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
