#!/usr/bin/env python3
"""bench/pipelining.py - what PIPELINING (RFC 2920) is worth to a client of
ringmta: the same messages over the same number of sessions, sent by mtaload
with pipelining (MAIL, RCPT and DATA in one write), by mtaload -P (one
command per round trip) and by Postfix's smtp-source (one command per round
trip: it has no pipelining), into build/smtpd relaying to build/mtasink on
127.0.0.1. Prints accepted and end-to-end messages per second for each, the
medians over --rounds rounds, and the ratio pipelined / one command per
round trip; writes BUILDDIR/bench/pipelining.json.

Each round is run_bench.py's round (bench/run_bench.py, bench/README.md): a
fresh mtasink, a fresh ringmta with an empty queue, the load, the no-loss
check of Message-IDs (mtaload rows) and of the logged deliveries. Rows are
interleaved within a round, so a change in the machine's load hits them
alike. Connections are reused by default (--per-conn 0: a connection carries
all of its session's messages), which leaves per-message round trips as the
difference: two with pipelining (MAIL+RCPT+DATA, then the message), four
without (MAIL, RCPT, DATA, the message). ringmta is given `smtp limit
max-mails` equal to the message count so that no session is cut short.

Run (as root it re-executes itself in a private network namespace with only
lo, like run_bench.py; --no-netns stays outside):

    ninja build/smtpd build/mtaload build/mtasink
    python3 bench/pipelining.py --builddir build
    python3 bench/pipelining.py --sessions 1 --messages 5000 --rounds 7

Exits 1 when a round failed, 0 otherwise.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import ringmta  # noqa: E402
import run_bench  # noqa: E402

# (key, label, driver, pipelining): the rows of every table.
ROWS = (
    ("pipelined", "mtaload, pipelined", "mtaload", True),
    ("serial", "mtaload -P, one command per round trip", "mtaload", False),
    ("smtp-source", "smtp-source, one command per round trip", "smtp-source", False),
)
METRICS = (("accept_msgs_per_s", "accepted msg/s"),
           ("e2e_msgs_per_s", "end-to-end msg/s"),
           ("msg_p50_ms", "message p50 ms"),
           ("cpu_s_per_1000", "CPU s/1000 msgs"))
RATIO_METRICS = ("accept_msgs_per_s", "e2e_msgs_per_s")


class RingmtaManyMails(ringmta.Ringmta):
    """ringmta as run_bench.py runs it, with `smtp limit max-mails` raised so
    that one connection may carry every message of the round."""

    def __init__(self, binary, mails_max):
        super().__init__(binary)
        self.mails_max = mails_max

    # Returns run_bench's relay config with the raised limit in front.
    def config(self, workdir, listen_port, sink_port):
        return "smtp limit max-mails %d\n" % self.mails_max + \
            super().config(workdir, listen_port, sink_port)


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="ringmta's intake with and without SMTP "
                                "pipelining: mtaload, mtaload -P and smtp-source, same "
                                "sessions and messages; medians and ratios.")
    p.add_argument("--builddir", default="build", help="where smtpd, mtaload, mtasink are")
    p.add_argument("--sessions", default="1,20",
                   help="concurrent sessions, comma-separated: one table each (default 1,20)")
    p.add_argument("--messages", type=int, default=5000,
                   help="messages per round (default 5000)")
    p.add_argument("--size", type=int, default=2048,
                   help="body bytes, smtp-source -l; mtaload sends the same bytes "
                   "(default 2048)")
    p.add_argument("--per-conn", type=int, default=0,
                   help="messages per connection, 0 = unlimited (default 0; with "
                   "smtp-source anything but 1 means -d)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per row (default 5)")
    p.add_argument("--round-timeout", type=float, default=120,
                   help="seconds before a round counts as failed (default 120)")
    p.add_argument("--no-smtp-source", action="store_true",
                   help="leave the smtp-source row out")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true", help="keep every round's folder")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/pipelining.json)")
    args = p.parse_args(argv)
    args.session_list = benchlib.session_counts(p, args.sessions, "1,20")
    if args.rounds < 1 or args.messages < 1 or args.size < 0 or args.per_conn < 0:
        p.error("--rounds and --messages must be at least 1, --size and --per-conn "
                "at least 0")
    return args


def active_rows(args):
    """Return the rows that can run here; say why one cannot."""
    rows = []
    for row in ROWS:
        if row[2] == "smtp-source" and args.no_smtp_source:
            continue
        if row[2] == "smtp-source" and not os.access(benchlib.SMTP_SOURCE, os.X_OK):
            print("pipelining: no %s (apt-get install postfix): its row is left out"
                  % benchlib.SMTP_SOURCE, flush=True)
            continue
        rows.append(row)
    return rows


def missing_tools(builddir):
    """Return the binaries this needs that are not built."""
    return [p for p in (os.path.join(builddir, n) for n in ("smtpd", "mtaload", "mtasink"))
            if not os.access(p, os.X_OK)]


def round_args(args, driver):
    """Return the options namespace run_bench.run_round expects, built by
    run_bench's own parser, with this row's load generator."""
    bargs = run_bench.parse_args(["--builddir", args.builddir, "--mta", "ringmta",
                                  "--round-timeout", str(args.round_timeout),
                                  "--driver", driver])
    bargs.ringmta_binary = args.ringmta_binary
    return bargs


def row_load(args, sessions, key, pipelining):
    """Return the run_bench.Load of one row at one session count."""
    return run_bench.Load("s%d-%s" % (sessions, key), "%d sessions, %s" % (sessions, key),
                          args.size, sessions, args.messages, per_conn=args.per_conn,
                          pipelining=pipelining)


def print_round(sessions, label, rec):
    """One line per finished round, and its problems."""
    line = "%3d session%s %-40s round %d:" % (sessions, " " if sessions == 1 else "s", label,
                                              rec["round"])
    if "e2e_s" in rec:
        line += " accepted %7.1f msg/s  end-to-end %7.1f msg/s" % (rec["accept_msgs_per_s"],
                                                                   rec["e2e_msgs_per_s"])
    benchlib.print_round_end(line, rec)


def ratios(summary, records):
    """Return {"pipelined/X": {metric: ratio}} for each other row: the ratio
    of the medians, and (as "paired_" + metric) the median of the per-round
    ratios, rounds of one index having run back to back."""
    out = {}
    for other in summary:
        if other == "pipelined":
            continue
        r = {k: run_bench.median_ratio(summary, "pipelined", other, k) for k in RATIO_METRICS}
        for k in RATIO_METRICS:
            paired = [a[k] / b[k] for a, b in zip(records["pipelined"], records[other])
                      if a["ok"] and b["ok"] and b.get(k)]
            if paired:
                r["paired_" + k] = round(statistics.median(paired), 3)
        r = {k: v for k, v in r.items() if v is not None}
        if r:
            out["pipelined/%s" % other] = r
    return out


def print_table(args, rows, sessions, summary, all_ratios):
    """One table per session count, then its ratios."""
    print()
    print("%d session%s, %d messages x %d body bytes per round, %s per connection, "
          "%d rounds; median [min..max]" % (sessions, "" if sessions == 1 else "s",
                                            args.messages, args.size,
                                            args.per_conn or "all", args.rounds))
    head = ["client", "rounds"] + [title for _, title in METRICS]
    cells = []
    for key, label, _, _ in rows:
        s = summary[key]
        cells.append([label, "%d/%d" % (s["rounds_ok"], s["rounds"])] +
                     [run_bench.fmt_range(s, m) for m, _ in METRICS])
    run_bench.print_rows(head, cells)
    for pair, r in all_ratios.items():
        print("%s: accepted %s, end-to-end %s (ratio of the medians; median of the "
              "per-round ratios: %s, %s)" % (
                  pair, ratio_text(r, "accept_msgs_per_s"), ratio_text(r, "e2e_msgs_per_s"),
                  ratio_text(r, "paired_accept_msgs_per_s"),
                  ratio_text(r, "paired_e2e_msgs_per_s")))


def ratio_text(r, key):
    """Return a ratio as "1.23x", or "-" when there is none."""
    return "%.2fx" % r[key] if key in r else "-"


def run_all(args, rows, workroot):
    """Run every round: per round, per session count, every row in turn.
    Return {sessions: {row key: [records]}}."""
    factory = lambda a: RingmtaManyMails(a.ringmta_binary, args.messages)  # noqa: E731
    row_args = {key: round_args(args, driver) for key, _, driver, _ in rows}
    records = {s: {key: [] for key, _, _, _ in rows} for s in args.session_list}
    for index in range(1, args.rounds + 1):
        for sessions in args.session_list:
            for key, label, _, pipelining in rows:
                load = row_load(args, sessions, key, pipelining)
                rec = run_bench.run_round("ringmta", factory, index, row_args[key], load,
                                          workroot)
                records[sessions][key].append(rec)
                print_round(sessions, label, rec)
                if rec["ok"] and not args.keep:
                    shutil.rmtree(rec["workdir"], ignore_errors=True)
    return records


def main(argv):
    """Run the rounds, print the tables, write the JSON; return the exit status."""
    args = parse_args(argv)
    benchlib.exit_on_sigterm()
    missing = missing_tools(args.builddir)
    if missing:
        print("pipelining: missing %s (ninja build/smtpd build/mtaload build/mtasink)"
              % ", ".join(missing), file=sys.stderr)
        return 1
    try:
        netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "pipelining")
    except benchlib.BenchError as e:
        print("pipelining: the private network namespace does not work: %s" % e,
              file=sys.stderr)
        return 1
    benchlib.raise_nofile_limit(4096)
    workroot = tempfile.mkdtemp(prefix="ringmta-pipelining-", dir="/tmp")
    os.chmod(workroot, 0o755)
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    run_bench.snapshot_binary(args, workroot)
    rows = active_rows(args)
    run_bench.note_load_average(args)
    began = time.monotonic()
    records = run_all(args, rows, workroot)
    results = {}
    for sessions in args.session_list:
        summary = {key: benchlib.round_spread(recs, METRICS)
                   for key, recs in records[sessions].items()}
        results[str(sessions)] = {"summary": summary,
                                  "ratios": ratios(summary, records[sessions]),
                                  "rounds": records[sessions]}
        print_table(args, rows, sessions, summary, results[str(sessions)]["ratios"])
    path = args.json or os.path.join(args.builddir, "bench", "pipelining.json")
    benchlib.write_json(path, {
        "benchmark": "ringmta intake with and without SMTP pipelining, loopback",
        **benchlib.provenance(args.loadavg_at_start, netns, run_bench.source_revision(),
                              args.ringmta_sha256),
        "parameters": {"messages": args.messages, "size_bytes": args.size,
                       "per_conn": args.per_conn, "rounds": args.rounds,
                       "rows": [label for _, label, _, _ in rows]},
        "elapsed_s": round(time.monotonic() - began, 1),
        "sessions": results,
    })
    print("results: %s" % path)
    failed = any(not r["ok"] for per in records.values() for recs in per.values()
                 for r in recs)
    if not failed and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
