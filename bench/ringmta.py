"""bench/ringmta.py - ringmta (build/smtpd) as an MTA under test: writes a
relay-only smtpd.conf with a fresh queue folder, runs `smtpd -d -f FILE`
with its log in a file, checks the log after the load, stops it with
SIGTERM. OpenSMTPD shares the grammar and the log format, so bench/opensmtpd.py
builds on this class.
"""
import os
import re
import subprocess
import time

import benchlib

CONF_TEMPLATE = """\
listen on 127.0.0.1 port {listen_port}
{queue_line}table dom {{ "example.net" }}
action "out" relay host smtp://127.0.0.1:{sink_port}
match from local for domain <dom> action "out"
"""

# Log lines every healthy relay round produces; anything else is reported.
NORMAL_LINE = re.compile(
    r" smtp (connected|disconnected reason=quit|envelope|message)\b"
    r"| mta (connected|disconnected)\b"
    r"| mta delivery .* result=Ok "
    r"| smtpd: (starting|listening|ready|stopping|exiting|running as)"
    r"| control: listening on ")
READY_LINE = "smtpd: ready"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
VERIFY_TIMEOUT_S = 10


class Ringmta(benchlib.Mta):
    """ringmta's daemon from the build folder."""

    name = "ringmta"
    ready_line = READY_LINE

    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.proc = None
        self.logpath = None
        self.stopped = False

    # Returns None when build/smtpd exists, else why it cannot run.
    def unavailable(self):
        if not os.access(self.binary, os.X_OK):
            return "%s is missing (run ninja build/smtpd)" % self.binary
        return None

    # Returns the smtpd.conf text for this round.
    def config(self, workdir, listen_port, sink_port):
        spool = os.path.join(workdir, "spool")
        return CONF_TEMPLATE.format(listen_port=listen_port, sink_port=sink_port,
                                    queue_line='queue path "%s"\n' % spool)

    # Writes the config, starts `smtpd -d -f`, waits for "ready" and a 220.
    def start(self, workdir, listen_port, sink_port):
        conf = os.path.join(workdir, "smtpd.conf")
        with open(conf, "w") as f:
            f.write(self.config(workdir, listen_port, sink_port))
        self.logpath = os.path.join(workdir, "smtpd.log")
        try:
            with open(self.logpath, "wb") as log:
                self.proc = subprocess.Popen([self.binary, "-d", "-f", conf], stdout=log,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=workdir)
        except OSError as e:
            raise benchlib.BenchError("cannot run %s: %s" % (self.binary, e))
        self.root_pid = self.proc.pid
        try:
            if self.ready_line:
                benchlib.wait_for(lambda: self.proc.poll() is not None or
                                  self.ready_line in self.log_text(), START_TIMEOUT_S,
                                  "%s to log '%s'" % (self.name, self.ready_line))
            benchlib.wait_for(lambda: self.proc.poll() is not None or
                              benchlib.smtp_greets(listen_port), START_TIMEOUT_S,
                              "%s to greet on port %d" % (self.name, listen_port))
        except benchlib.BenchError as e:
            raise benchlib.BenchError("%s; log tail: %s" % (e, self.log_tail()))
        if self.proc.poll() is not None:
            raise benchlib.BenchError("%s exited with status %d at start; log tail: %s"
                                      % (self.name, self.proc.returncode, self.log_tail()))

    # Returns the whole log so far ("" before start() made one).
    def log_text(self):
        if self.logpath is None:
            return ""
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # Returns the last lines of the log, for error messages.
    def log_tail(self, lines=5):
        return " | ".join(self.log_text().strip().splitlines()[-lines:])

    # Returns the number of deliveries the log reports as done.
    def delivered(self):
        return self.log_text().count("result=Ok")

    # Every message the sink took must appear in the log as result=Ok.
    def verify(self, n):
        try:
            benchlib.wait_for(lambda: self.delivered() >= n, VERIFY_TIMEOUT_S,
                              "%d result=Ok lines" % n)
        except benchlib.BenchError:
            pass
        got = self.delivered()
        if got != n:
            return ["log shows %d deliveries with result=Ok, want %d" % (got, n)]
        return []

    # Returns lines that are not part of a healthy relay round, with a count
    # of how many more there were.
    def log_notes(self, limit=20):
        odd = [l for l in self.log_text().splitlines() if not NORMAL_LINE.search(l)]
        if len(odd) > limit:
            odd = odd[:limit] + ["... and %d more unusual lines" % (len(odd) - limit)]
        return odd

    # SIGTERM, bounded wait, SIGKILL; a non-zero exit is a problem.
    def stop(self):
        if self.proc is None or self.stopped:
            return []
        self.stopped = True
        began = time.monotonic()
        status, killed = benchlib.stop_process(self.proc, STOP_TIMEOUT_S)
        if killed:
            return ["did not exit within %d s of SIGTERM; killed" % STOP_TIMEOUT_S]
        if status != 0:
            return ["exited with status %d after SIGTERM (%.1f s); log tail: %s"
                    % (status, time.monotonic() - began, self.log_tail())]
        return []
