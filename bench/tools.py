"""bench/tools.py - the harness's own load generator and sink (build/mtaload,
build/mtasink) as Python objects, beside benchlib's smtp-source and
smtp-sink wrappers: start, follow, stop, read the results. The no-loss check
(Message-IDs mtaload had accepted against those mtasink received) lives here,
and so does NoMta, the "ceiling" pseudo-MTA: the load sent straight into the
sink, what the generator and the sink can do with nothing in between.

Nothing here talks to anything but 127.0.0.1. Every wait has a deadline.
"""
import json
import os
import re
import subprocess
import threading
import time

import benchlib

# mtaload's deadline for each operation (connect, each reply): far above any
# healthy reply on loopback, short enough that a connection a server left
# hanging is given up and retried on a new one within a round.
LOAD_OP_TIMEOUT_S = 15
SENDER = "bench@example.org"
RCPT = "rcpt@example.net"


class MtaSink:
    """A fresh build/mtasink on a port it picks itself (it prints the port,
    so there is no race for a free one). A reader thread follows its stdout:
    the 'reached N messages at T' line gives the CLOCK_MONOTONIC moment the
    Nth message was accepted, the same clock as time.monotonic(). stop()
    sends SIGTERM and reads the final JSON summary; the Message-IDs it
    received are in ids_path."""

    LISTEN = re.compile(r"mtasink: listening on 127\.0\.0\.1:(\d+)")
    REACHED = re.compile(r"mtasink: reached (\d+) messages at ([0-9.]+)")
    COUNT = re.compile(r"messages=(\d+)")

    def __init__(self, builddir, workdir, target, extra=()):
        self.binary = os.path.abspath(os.path.join(builddir, "mtasink"))
        self.target = target
        self.count = 0
        self.reached_at = None
        self.reached = threading.Event()
        self.summary = None
        self.port = None
        self.proc = None
        self.ids_path = os.path.join(workdir, "sink.ids")
        self.errpath = os.path.join(workdir, "sink.err")
        self.extra = list(extra)
        self.last_record = ""
        self._listening = threading.Event()
        self._thread = None

    # Returns None when build/mtasink exists, else why not.
    def unavailable(self):
        if not os.access(self.binary, os.X_OK):
            return "%s is missing (run ninja build/mtasink)" % self.binary
        return None

    # Starts it; returns the port, or raises BenchError.
    def start(self):
        argv = [self.binary, "--expect", str(self.target), "--ids", self.ids_path,
                "--count-interval", "250ms"] + self.extra + ["127.0.0.1:0"]
        with open(self.errpath, "ab") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()
        if not self._listening.wait(10) or self.proc.poll() is not None:
            self.stop()
            raise benchlib.BenchError("mtasink did not start: %s" % self.errors())
        return self.port

    # Reader thread body: one line at a time until the pipe closes.
    def _follow(self):
        for raw in self.proc.stdout:
            line = raw.decode("ascii", "replace").strip()
            m = self.LISTEN.search(line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()
                continue
            m = self.REACHED.search(line)
            if m:
                self.reached_at = float(m.group(2))
                self.count = max(self.count, int(m.group(1)))
                self.reached.set()
                continue
            if line.startswith("{"):
                try:
                    self.summary = json.loads(line)
                except ValueError:
                    pass
                continue
            m = self.COUNT.search(line)
            if m:
                self.count = max(self.count, int(m.group(1)))
                self.last_record = line

    # Returns mtasink's stderr text, for error messages.
    def errors(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read().strip()[-500:]
        except OSError:
            return ""

    # SIGTERM, read the summary; safe to call twice.
    def stop(self):
        if self.proc is None:
            return
        benchlib.stop_process(self.proc, 10)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.proc.stdout.close()
        if self.summary is not None:
            self.count = max(self.count, self.summary.get("messages", 0))

    # Returns the Message-IDs the sink received, as a list (duplicates kept).
    def received_ids(self):
        try:
            with open(self.ids_path) as f:
                return f.read().split()
        except OSError:
            return []


class MtaLoad:
    """One build/mtaload run: a count of messages over a number of sessions,
    its JSON report parsed at exit, the accepted Message-IDs in ids_path."""

    def __init__(self, builddir, workdir, port, messages, sessions, size, extra=()):
        self.binary = os.path.abspath(os.path.join(builddir, "mtaload"))
        self.ids_path = os.path.join(workdir, "load.ids")
        self.outpath = os.path.join(workdir, "load.json")
        self.errpath = os.path.join(workdir, "load.err")
        self.argv = [self.binary, "--json", "-q", "-m", str(messages), "-s", str(sessions),
                     "-l", str(size), "-f", SENDER, "-t", RCPT, "--ids", self.ids_path,
                     "--timeout", "%ds" % LOAD_OP_TIMEOUT_S] + list(extra) + \
            ["127.0.0.1:%d" % port]
        self.proc = None
        self.started_at = None
        self.exited_at = None
        self.report = None

    # Returns None when build/mtaload exists, else why not.
    def unavailable(self):
        if not os.access(self.binary, os.X_OK):
            return "%s is missing (run ninja build/mtaload)" % self.binary
        return None

    # Starts it; call right after the CPU reading that opens a round.
    def start(self):
        with open(self.outpath, "wb") as out, open(self.errpath, "wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        threading.Thread(target=self._reap, daemon=True).start()

    # Waiter thread body: notes the exit and reads the report.
    def _reap(self):
        self.proc.wait()
        try:
            with open(self.outpath) as f:
                self.report = json.load(f)
        except (OSError, ValueError):
            self.report = None
        self.exited_at = time.monotonic()

    # Returns True once mtaload has exited (and its report was read).
    def done(self):
        return self.exited_at is not None

    # Returns what mtaload printed on stderr and a summary of its errors.
    def output(self):
        text = ""
        try:
            with open(self.errpath, errors="replace") as f:
                text = f.read().strip()
        except OSError:
            pass
        if self.report and self.report.get("errors_total"):
            text += " errors: %s" % json.dumps(self.report.get("errors"))
        return text

    # Kills it if still running (a round that timed out).
    def stop(self):
        if self.proc is not None:
            benchlib.stop_process(self.proc, 2)

    # Returns the Message-IDs mtaload saw accepted.
    def accepted_ids(self):
        try:
            with open(self.ids_path) as f:
                return f.read().split()
        except OSError:
            return []


def no_loss_problems(sent_ids, received_ids, limit=5):
    """Compare what the driver saw accepted with what the sink received;
    return a list of problems (missing, duplicated, unexpected), empty when
    every accepted message arrived exactly once."""
    problems = []
    sent = set(sent_ids)
    seen = {}
    for i in received_ids:
        seen[i] = seen.get(i, 0) + 1
    missing = sorted(sent - set(seen))
    dups = sorted(i for i, n in seen.items() if n > 1)
    extra = sorted(set(seen) - sent)
    if len(sent) != len(sent_ids):
        problems.append("the driver reports %d duplicate Message-IDs"
                        % (len(sent_ids) - len(sent)))
    if missing:
        problems.append("%d accepted messages never reached the sink, e.g. %s"
                        % (len(missing), ", ".join(missing[:limit])))
    if dups:
        problems.append("%d messages reached the sink more than once, e.g. %s"
                        % (len(dups), ", ".join(dups[:limit])))
    if extra:
        problems.append("%d messages reached the sink that the driver never saw "
                        "accepted, e.g. %s" % (len(extra), ", ".join(extra[:limit])))
    return problems


class NoMta(benchlib.Mta):
    """The ceiling: no MTA at all, the generator talks to the sink directly.
    The round driver runs it like an MTA; nothing is started, no CPU is
    counted, and the sink's own checks (count, Message-IDs) still apply."""

    name = "ceiling"

    # Always possible: it needs only the generator and the sink.
    def unavailable(self):
        return None

    # Points the load at the sink.
    def start(self, workdir, listen_port, sink_port):
        self.load_port = sink_port

    # Nothing of its own to check.
    def verify(self, n):
        return []

    # Nothing to stop.
    def stop(self):
        return []
