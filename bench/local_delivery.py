#!/usr/bin/env python3
"""bench/local_delivery.py - local maildir deliveries per second, ringmta
against OpenSMTPD in the same run, to one user and to 1,000 users; `ninja
bench-local` runs it.

Root only: it creates local test users (bench/testusers.py: rmbl0000,
rmbl0001, ... with homes under the run's folder) and removes them all at the
end, also when a round fails or the script gets SIGTERM. As root it
re-executes itself in a private network namespace with only lo (--no-netns
skips that), and, when OpenSMTPD comes unpacked from Debian's package, in a
private mount namespace too, where bench/opensmtpd.py makes the package's
mail.maildir appear at the path compiled into OpenSMTPD.

Each scenario (--users, default 1 and 1000) runs --rounds rounds; in a
round ringmta and then OpenSMTPD: every user's ~/Maildir emptied, the MTA
started fresh with an empty queue, delivering bench.test into
%{user.directory}/Maildir, then mtaload sends --messages messages over
--sessions sessions to rmbl%04u@bench.test round-robin over the scenario's
users. Measured: deliveries per second (the messages found in the users'
Maildir/new, over the time from mtaload's start until the last of them
appeared: the newest mtime of the new/ folders), queued msg/s (until the
MTA's log showed the last message committed to its queue), and the CPU
milliseconds per delivery of the MTA's process tree, delivery processes
included. Every message must arrive exactly once, in the right
maildir (Message-IDs against those mtaload saw accepted; To: against the
mailbox). Prints one table per scenario (medians [min..max]) with the
ratio ringmta/OpenSMTPD, writes BUILDDIR/bench/local_delivery.json. Exits 1
when ringmta failed a round or a test user could not be removed. See
bench/README.md, "Local delivery".
"""
import argparse
import os
import platform
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
import testusers  # noqa: E402
import tools  # noqa: E402

DOMAIN = "bench.test"
RCPT_PATTERN = testusers.PREFIX + "%04u@" + DOMAIN
CONF_TEMPLATE = """\
listen on 127.0.0.1 port {listen_port}
{queue_line}action "local" maildir "%{{user.directory}}/Maildir"
match from any for domain "{domain}" action "local"
"""
# Log lines both MTAs write: a message committed to the queue (just before
# its 250), a local delivery, and one that went well.
QUEUED_LINE = re.compile(r" smtp message msgid=")
DELIVERY_LINE = re.compile(r" mda delivery ")
DELIVERY_OK = re.compile(r" mda delivery .* result=\"?Ok\"? ")
METRICS = (("deliveries_per_s", "deliveries/s"),
           ("queued_msgs_per_s", "queued msg/s"),
           ("cpu_ms_per_delivery", "CPU ms/delivery"))
HEADER_READ_BYTES = 4096
# How often the wait reads the MTA's log for new delivery lines.
POLL_S = 0.05


class LocalRingmta(ringmta.Ringmta):
    """ringmta delivering bench.test into each user's ~/Maildir."""

    # Returns the smtpd.conf text: local delivery only, a fresh queue.
    def config(self, workdir, listen_port, _sink_port):
        return CONF_TEMPLATE.format(listen_port=listen_port, domain=DOMAIN,
                                    queue_line='queue path "%s"\n'
                                    % os.path.join(workdir, "spool"))

    # Lines that are not part of a healthy round.
    def log_notes(self, limit=20):
        return unusual(self.log_text(), ringmta.NORMAL_LINE, limit)


class LocalOpenSmtpd(opensmtpd.OpenSmtpd):
    """OpenSMTPD delivering bench.test into each user's ~/Maildir (through
    mail.maildir, run as the user); its queue is the system's."""

    # The same config without `queue path`.
    def config(self, workdir, listen_port, _sink_port):
        return CONF_TEMPLATE.format(listen_port=listen_port, domain=DOMAIN, queue_line="")

    # Lines that are not part of a healthy round.
    def log_notes(self, limit=20):
        return unusual(self.log_text(), opensmtpd.NORMAL_LINE, limit)


def unusual(text, normal, limit):
    """Log lines matched neither by normal nor as a delivery that went well."""
    odd = [l for l in text.splitlines() if not (normal.search(l) or DELIVERY_OK.search(l))]
    if len(odd) > limit:
        odd = odd[:limit] + ["... and %d more unusual lines" % (len(odd) - limit)]
    return odd


MTA_FACTORIES = (
    ("ringmta", lambda a: LocalRingmta(a.ringmta_binary)),
    ("opensmtpd", lambda a: LocalOpenSmtpd(a.opensmtpd_binary, a.opensmtpd_why_not)),
)


class LogCounter:
    """Follows an MTA's log as it grows, reading only what was appended:
    counts the messages committed to the queue (noting the monotonic time
    of the poll that first saw `target` of them) and the local delivery
    lines, ok and any other result."""

    def __init__(self, path, target):
        self.path = path
        self.target = target
        self.offset = 0
        self.pending = b""
        self.queued = 0
        self.queued_all_at = None
        self.ok = 0
        self.other = 0
        self.first_other = None

    # Reads what was appended since the last call; returns ok + other.
    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return self.ok + self.other
        self.offset += len(chunk)
        data = self.pending + chunk
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            if QUEUED_LINE.search(line):
                self.queued += 1
            elif DELIVERY_OK.search(line):
                self.ok += 1
            elif DELIVERY_LINE.search(line):
                self.other += 1
                self.first_other = self.first_other or line
        if self.queued >= self.target and self.queued_all_at is None:
            self.queued_all_at = time.monotonic()
        return self.ok + self.other


class Scenario:
    """Deliveries spread round-robin over `users` local users."""

    def __init__(self, users, messages, sessions, per_conn, size):
        self.users = users
        self.name = "1user" if users == 1 else "%dusers" % users
        self.title = "one user" if users == 1 else "%d users" % users
        self.messages = messages
        self.sessions = sessions
        self.per_conn = per_conn
        self.size = size

    # Returns the parameters, for the JSON.
    def parameters(self):
        return {"users": self.users, "messages": self.messages, "sessions": self.sessions,
                "per_conn": self.per_conn, "size_bytes": self.size,
                "rcpt_pattern": RCPT_PATTERN, "domain": DOMAIN}


def parse_args(argv):
    """Return the command line options."""
    p = argparse.ArgumentParser(description="Local maildir deliveries per second, ringmta "
                                "against OpenSMTPD, to one user and to many (as root).")
    p.add_argument("--builddir", default="build", help="where smtpd and mtaload were built")
    p.add_argument("--users", default="1,1000",
                   help="comma-separated user counts, one scenario each (default 1,1000)")
    p.add_argument("--messages", type=int, default=2000,
                   help="messages per round (default 2000)")
    p.add_argument("--sessions", type=int, default=20,
                   help="concurrent client connections (default 20)")
    p.add_argument("--per-conn", type=int, default=100,
                   help="messages per connection, 0 = unlimited (default 100, the "
                   "max-mails both MTAs allow by default)")
    p.add_argument("--size", type=int, default=2048,
                   help="body bytes, as run_bench.py's 2k (default 2048)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    p.add_argument("--mta", action="append", choices=[m for m, _ in MTA_FACTORIES],
                   help="benchmark only this MTA (repeatable; default both)")
    p.add_argument("--round-timeout", type=float, default=300,
                   help="seconds after mtaload's start before a round counts as failed "
                   "(default 300)")
    p.add_argument("--no-netns", action="store_true",
                   help="stay in the machine's network namespace")
    p.add_argument("--keep", action="store_true",
                   help="keep every round's folder and the homes; failed rounds are "
                   "always kept")
    p.add_argument("--json", help="results file (default BUILDDIR/bench/local_delivery.json)")
    args = p.parse_args(argv)
    try:
        counts = [int(x) for x in args.users.split(",") if x.strip()]
    except ValueError:
        p.error("--users: comma-separated whole numbers, e.g. 1,1000")
    if not counts or min(counts) < 1 or max(counts) > testusers.USERS_MAX:
        p.error("--users: each from 1 to %d" % testusers.USERS_MAX)
    if args.rounds < 1 or args.messages < 1 or args.sessions < 1 or args.per_conn < 0 \
            or args.size < 0:
        p.error("--rounds, --messages and --sessions at least 1; --per-conn and --size "
                "at least 0")
    args.scenarios = [Scenario(n, args.messages, args.sessions, args.per_conn, args.size)
                      for n in counts]
    args.ringmta_built = os.path.abspath(os.path.join(args.builddir, "smtpd"))
    return args


def wait_for_deliveries(load, counter, mta, deadline_s, messages):
    """Wait until the log shows a delivery for every message (or, once
    mtaload has exited, for every message it had accepted); raise
    BenchError at the deadline or when the MTA dies."""
    deadline = load.started_at + deadline_s
    while True:
        seen = counter.poll()
        if seen >= messages:
            return
        if load.done():
            accepted = (load.report or {}).get("messages", {}).get("accepted", 0)
            if seen >= accepted:
                return
        if time.monotonic() >= deadline:
            raise benchlib.BenchError(
                "round not finished after %.0f s: mtaload %s, the log shows %d of %d "
                "deliveries" % (deadline_s, "exited" if load.done() else "still running",
                                seen, messages))
        if not benchlib.pid_alive(mta.root_pid):
            raise benchlib.BenchError("%s died during the load (%d deliveries logged)"
                                      % (mta.name, seen))
        time.sleep(POLL_S)


def measure(args, scen, mta, workdir, port, rec):
    """Send the load to a started MTA, wait for its deliveries; fill rec."""
    counter = LogCounter(mta.logpath, scen.messages)
    counter.poll()
    load = tools.MtaLoad(args.builddir, workdir, port, scen.messages, scen.sessions,
                         scen.size + run_bench.SMTP_SOURCE_HEADER_BYTES,
                         ["-c", str(scen.per_conn), "--rcpt-pattern", RCPT_PATTERN,
                          "--rcpt-count", str(scen.users)])
    cpu0 = benchlib.tree_cpu_s(mta.root_pid)
    rec["t0_wall"] = time.time()
    load.start()
    try:
        wait_for_deliveries(load, counter, mta, args.round_timeout, scen.messages)
        cpu1 = benchlib.tree_cpu_s(mta.root_pid)
        benchlib.wait_for(load.done, max(1.0, load.started_at + args.round_timeout -
                                         time.monotonic()), "mtaload to exit")
    finally:
        load.stop()
        rec["mtaload_status"] = load.proc.returncode
        rec["mtaload_output"] = load.output()[-2000:]
        rec["_sent_ids"] = load.accepted_ids()
    report = load.report or {}
    accepted = report.get("messages", {}).get("accepted", 0)
    rec.update(accepted=accepted, logged_queued=counter.queued, logged_ok=counter.ok,
               logged_other=counter.other, cpu_s=round(cpu1 - cpu0, 3),
               mtaload_s=round(load.exited_at - load.started_at, 4),
               greeting_timeouts=report.get("errors", {}).get("timeout", {}).get("greeting", 0))
    if counter.queued_all_at is not None:
        queued_s = counter.queued_all_at - load.started_at
        rec.update(queued_s=round(queued_s, 4),
                   queued_msgs_per_s=round(scen.messages / queued_s, 1))
    run_bench.driver_figures(load, rec)
    if load.proc.returncode != 0:
        rec["problems"].append("mtaload exited with status %d" % load.proc.returncode)
    if accepted != scen.messages:
        rec["problems"].append("mtaload had %d of %d messages accepted"
                               % (accepted, scen.messages))
    if counter.other:
        rec["problems"].append("%d deliveries did not go well, e.g. %s"
                               % (counter.other, counter.first_other))


def read_header(path):
    """Return {lower-case name: value} of a delivered message's header
    (the first value of each field; folded lines joined)."""
    with open(path, "rb") as f:
        head = f.read(HEADER_READ_BYTES).decode("utf-8", "replace")
    fields, last = {}, None
    for line in head.split("\n"):
        if line in ("", "\r"):
            break
        if line[0] in " \t" and last:
            fields[last] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        last = name.strip().lower()
        fields.setdefault(last, value.strip())
    return fields


def check_maildirs(users, scen, rec):
    """Count and read what reached the users' maildirs; fill rec with the
    deliveries, the end time (the newest mtime of a Maildir/new folder: the
    last rename into it) and the rate; add a problem for anything missing,
    duplicated, misdelivered or left in tmp/."""
    ids, misdelivered, tmp_left, newest_ns, per_user = [], [], 0, 0, []
    for name in users.names[:scen.users]:
        box = users.maildir(name)
        new = os.path.join(box, "new")
        files = os.listdir(new)
        per_user.append(len(files))
        tmp_left += len(os.listdir(os.path.join(box, "tmp")))
        if files:
            newest_ns = max(newest_ns, os.stat(new).st_mtime_ns)
        for f in files:
            fields = read_header(os.path.join(new, f))
            ids.append(fields.get("message-id", "(none)"))
            if fields.get("to", "").lower() != "<%s@%s>" % (name, DOMAIN):
                misdelivered.append("%s got To: %s" % (name, fields.get("to")))
    delivered = len(ids)
    rec.update(delivered=delivered, per_user_min=min(per_user), per_user_max=max(per_user))
    sent = rec.pop("_sent_ids", [])
    rec["problems"] += tools.no_loss_problems(sent, ids)
    if delivered != scen.messages:
        rec["problems"].append("%d messages in the maildirs, want %d" % (delivered,
                                                                          scen.messages))
    if misdelivered:
        rec["problems"].append("%d messages in the wrong maildir, e.g. %s"
                               % (len(misdelivered), misdelivered[0]))
    if tmp_left:
        rec["problems"].append("%d files left in Maildir/tmp" % tmp_left)
    if delivered and newest_ns:
        e2e = newest_ns / 1e9 - rec["t0_wall"]
        rec.update(e2e_s=round(e2e, 4), deliveries_per_s=round(delivered / e2e, 1))
        if "cpu_s" in rec:
            rec["cpu_ms_per_delivery"] = round(rec["cpu_s"] * 1000.0 / delivered, 4)


def run_row(args, scen, name, factory, index, users, workroot):
    """One MTA's round in one scenario; return its record."""
    workdir = os.path.join(workroot, "%s-%s-round%d" % (scen.name, name, index))
    os.makedirs(workdir, mode=0o755)
    os.chmod(workdir, 0o755)
    rec = {"mta": name, "scenario": scen.name, "round": index, "ok": False,
           "problems": [], "log_notes": [], "workdir": workdir}
    users.reset_maildirs(scen.users)
    mta = factory(args)
    try:
        port = benchlib.free_port()
        mta.start(workdir, port, None)
        measure(args, scen, mta, workdir, port, rec)
        rec["problems"] += mta.verify(rec["accepted"])
    except benchlib.BenchError as e:
        rec["problems"].append(str(e))
    finally:
        rec["log_notes"] = mta.log_notes()
        rec["problems"] += ["stop: " + p for p in mta.stop()]
    if "accepted" in rec:
        try:
            check_maildirs(users, scen, rec)
        except OSError as e:
            rec["problems"].append("reading the maildirs: %s" % e)
    rec.pop("_sent_ids", None)
    rec["ok"] = not rec["problems"] and "deliveries_per_s" in rec
    return rec


def print_row(rec):
    """One line per finished round, and its problems."""
    line = "%-9s %-9s round %d:" % (rec["scenario"], rec["mta"], rec["round"])
    if "deliveries_per_s" in rec:
        line += " %5d delivered in %6.2f s: %7.1f deliveries/s" % (
            rec["delivered"], rec["e2e_s"], rec["deliveries_per_s"])
        if "queued_msgs_per_s" in rec:
            line += ", queued %7.1f msg/s" % rec["queued_msgs_per_s"]
        if "cpu_ms_per_delivery" in rec:
            line += ", CPU %.2f ms/delivery" % rec["cpu_ms_per_delivery"]
    benchlib.print_round_end(line, rec)
    if rec.get("greeting_timeouts"):
        print("    note: %d connections got no greeting within mtaload's %d s timeout "
              "(their messages went over the other sessions)"
              % (rec["greeting_timeouts"], tools.LOAD_OP_TIMEOUT_S))
    for note in rec["log_notes"][:5]:
        print("    log: %s" % note)


def ratios(summaries):
    """ringmta's medians over OpenSMTPD's, where both have them."""
    out = {}
    for key, _ in METRICS:
        r = run_bench.median_ratio(summaries, "ringmta", "opensmtpd", key)
        if r is not None:
            out[key] = r
    return out


def run_scenario(args, scen, active, users, workroot):
    """Every round of one scenario, the MTAs interleaved; return its result."""
    records = {name: [] for name, _ in active}
    began = time.monotonic()
    for index in range(1, args.rounds + 1):
        for name, factory in active:
            rec = run_row(args, scen, name, factory, index, users, workroot)
            records[name].append(rec)
            print_row(rec)
            if rec["ok"] and not args.keep:
                shutil.rmtree(rec["workdir"], ignore_errors=True)
    summaries = {name: benchlib.round_spread(recs, METRICS) for name, recs in records.items()}
    return {"title": scen.title, "parameters": scen.parameters(),
            "elapsed_s": round(time.monotonic() - began, 1), "summary": summaries,
            "ratios": ratios(summaries), "rounds": records}


def print_scenario(args, scen, result, skipped):
    """One scenario's table and its ratio."""
    print()
    print("%s: %d messages of %d body bytes to %s, %d sessions, %s per connection, "
          "%d rounds; median [min..max] over successful rounds"
          % (scen.title, scen.messages, scen.size,
             RCPT_PATTERN.replace("%04u", "0000") if scen.users == 1 else
             "%d users round-robin" % scen.users,
             scen.sessions, scen.per_conn or "unlimited", args.rounds))
    head = ["MTA", "rounds"] + [title for _, title in METRICS]
    rows = []
    for name, _ in MTA_FACTORIES:
        if name in skipped:
            rows.append([name, "skipped: " + skipped[name]])
        elif name in result["summary"]:
            s = result["summary"][name]
            rows.append([name, "%d/%d" % (s["rounds_ok"], s["rounds"])] +
                        [run_bench.fmt_range(s, k) for k, _ in METRICS])
    run_bench.print_rows(head, rows)
    r = result["ratios"]
    if "deliveries_per_s" in r:
        print("ringmta/opensmtpd (medians): deliveries/s %.2fx, queued %.2fx, CPU per "
              "delivery %.2fx (lower is better)" % (r["deliveries_per_s"],
                                                    r.get("queued_msgs_per_s", 0),
                                                    r.get("cpu_ms_per_delivery", 0)))
    for name, recs in result["rounds"].items():
        stalled = sum(r.get("greeting_timeouts", 0) for r in recs)
        if stalled:
            print("%s: %d connections in all got no greeting within %d s (of %d rounds)"
                  % (name, stalled, tools.LOAD_OP_TIMEOUT_S, len(recs)))


def active_mtas(args):
    """Return ([(name, factory)] to run, {name: why skipped})."""
    skipped, active = {}, []
    for name, factory in MTA_FACTORIES:
        if args.mta and name not in args.mta:
            continue
        why = factory(args).unavailable()
        if why:
            skipped[name] = why
            print("local_delivery: skipping %s: %s" % (name, why), flush=True)
        else:
            active.append((name, factory))
    return active, skipped


def enter_namespaces(args, argv):
    """Fetch OpenSMTPD while the network is the machine's, re-execute in the
    private namespaces (a mount namespace too when OpenSMTPD's helpers must
    be provided), and there provide them; sets args.netns and
    args.opensmtpd_helpers. Raises BenchError when the network namespace
    does not work."""
    inside = benchlib.in_private_netns() or benchlib.in_private_mntns()
    run_bench.prepare_opensmtpd(args, fetch=not inside)
    binary = args.opensmtpd_binary
    need_mount = binary is not None and not opensmtpd.helpers_in_place(binary)
    args.netns = benchlib.enter_netns_unless(args.no_netns, argv, __file__, "local_delivery",
                                             mount=need_mount)
    args.opensmtpd_helpers = None
    if binary is None:
        return
    try:
        args.opensmtpd_helpers = opensmtpd.provide_helpers(binary)
        print("local_delivery: OpenSMTPD's %s" % args.opensmtpd_helpers, flush=True)
    except benchlib.BenchError as e:
        args.opensmtpd_why_not = "cannot run its %s: %s" % (opensmtpd.MAILDIR_HELPER, e)


def write_json(args, results, skipped, users, user_problems, elapsed_s):
    """Every scenario's rounds, summaries and ratios, with provenance."""
    path = args.json or os.path.join(args.builddir, "bench", "local_delivery.json")
    benchlib.write_json(path, {
        "benchmark": "local maildir deliveries per second, mtaload -> MTA -> "
                     "~/Maildir on loopback",
        **benchlib.provenance(args.loadavg_at_start, args.netns, run_bench.source_revision(),
                              args.ringmta_sha256, kernel=platform.release()),
        "opensmtpd": args.opensmtpd_origin,
        "opensmtpd_helpers": args.opensmtpd_helpers,
        "parameters": {"rounds": args.rounds, "round_timeout_s": args.round_timeout,
                       "sender": tools.SENDER, "rcpt_pattern": RCPT_PATTERN},
        "test_users": {"count": len(users.names), "create_s": users.create_s,
                       "remove_s": users.remove_s, "problems": user_problems},
        "elapsed_s": round(elapsed_s, 1),
        "skipped": skipped,
        "scenarios": results,
    })
    print("results: %s" % path)


def run_all(args, active, users, workroot):
    """Create the users, run every scenario, remove the users (also on an
    exception or SIGTERM); return (results, problems removing users)."""
    results = {}
    try:
        users.create()
        for scen in args.scenarios:
            results[scen.name] = run_scenario(args, scen, active, users, workroot)
    finally:
        user_problems = users.remove()
        for p in user_problems:
            print("local_delivery: %s" % p, file=sys.stderr, flush=True)
    return results, user_problems


def main(argv):
    """Run every scenario, print the tables, write the JSON; return the exit status."""
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("local_delivery: must run as root (it creates and removes local test users)",
              file=sys.stderr)
        return 1
    benchlib.exit_on_sigterm()
    missing = [p for p in (args.ringmta_built, os.path.join(args.builddir, "mtaload"))
               if not os.access(p, os.X_OK)]
    if missing:
        print("local_delivery: missing %s (ninja build/smtpd build/mtaload)"
              % ", ".join(missing), file=sys.stderr)
        return 1
    try:
        enter_namespaces(args, argv)
    except benchlib.BenchError as e:
        print("local_delivery: the private namespaces do not work: %s" % e, file=sys.stderr)
        return 1
    workroot = tempfile.mkdtemp(prefix="ringmta-local-", dir="/tmp")
    os.chmod(workroot, 0o755)
    run_bench.snapshot_binary(args, workroot)
    active, skipped = active_mtas(args)
    run_bench.note_load_average(args)
    began = time.monotonic()
    users = testusers.TestUsers(os.path.join(workroot, "home"),
                                max(s.users for s in args.scenarios),
                                log=lambda m: print("local_delivery: " + m, flush=True))
    try:
        results, user_problems = run_all(args, active, users, workroot)
    except benchlib.BenchError as e:
        print("local_delivery: %s" % e, file=sys.stderr)
        return 1
    for scen in args.scenarios:
        print_scenario(args, scen, results[scen.name], skipped)
    write_json(args, results, skipped, users, user_problems, time.monotonic() - began)
    recs = [r for res in results.values() for rr in res["rounds"].values() for r in rr]
    if all(r["ok"] for r in recs) and not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    ringmta_failed = "ringmta" in skipped or any(not r["ok"] for r in recs
                                                 if r["mta"] == "ringmta")
    wanted = not args.mta or "ringmta" in args.mta
    return 1 if (ringmta_failed and wanted) or user_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
