"""bench/postfix.py - a private Postfix instance as an MTA under test: a
temporary config folder (main.cf, master.cf), queue and data folders, its log
in a file through postlogd; started with `postfix -c DIR start` and stopped
with `postfix -c DIR stop` (then abort, then SIGKILL of the processes it
had). The system's /etc/postfix and port 25 are left alone; the one
exception is an empty /etc/postfix/main.cf created for the run when the
package left none (Debian's postfix-script reads it for
multi_instance_directories), removed again at stop.
"""
import os
import pwd
import re
import subprocess

import benchlib

POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
MASTER_CF_DIST = "/usr/share/postfix/master.cf.dist"
SYSTEM_MAIN_CF = "/etc/postfix/main.cf"
COMMAND_TIMEOUT_S = 60
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
VERIFY_TIMEOUT_S = 15

MAIN_CF = """\
# Private benchmark instance: relays everything to smtp-sink on loopback.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
myhostname = bench.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:{sink_port}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = {maillog}
maillog_file_prefixes = {base}
# No DNS: the next hop is an IP literal in brackets, names come from
# /etc/hosts, and clients are not looked up.
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
# Nothing is delivered locally: no alias or local recipient tables.
alias_maps =
alias_database =
local_recipient_maps =
biff = no
default_process_limit = 100
"""

# Log lines worth reporting; a healthy round has none.
ODD_LINE = re.compile(r"warning:|error:|fatal:|panic:|status=(deferred|bounced)|reject:")


class Postfix(benchlib.Mta):
    """Postfix configured as a relay to the same sink."""

    name = "postfix"

    def __init__(self):
        self.conf = None
        self.maillog = None
        self.master_start = None
        self.created_main_cf = False
        self.stopped = False

    # Returns None when a private Postfix can run here, else why not.
    def unavailable(self):
        for path in (POSTFIX, POSTQUEUE, MASTER_CF_DIST):
            if not os.path.exists(path):
                return "%s is missing (apt-get install postfix)" % path
        if os.geteuid() != 0:
            return "Postfix's master must be started as root"
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            return "there is no postfix user"
        return None

    # Runs one postfix command against the private config; returns
    # (exit status, output).
    def command(self, *args, timeout_s=COMMAND_TIMEOUT_S):
        argv = [POSTFIX, "-c", self.conf] + list(args)
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return -1, "postfix %s took more than %d s" % (" ".join(args), timeout_s)
        return done.returncode, done.stdout.decode("utf-8", "replace").strip()

    # Writes main.cf and master.cf under base; creates queue and data folders.
    def write_config(self, base, listen_port, sink_port):
        self.conf = os.path.join(base, "conf")
        queue = os.path.join(base, "queue")
        data = os.path.join(base, "data")
        self.maillog = os.path.join(base, "maillog")
        for d in (self.conf, queue, data):
            os.makedirs(d, mode=0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        os.chmod(data, 0o700)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(queue=queue, data=data, maillog=self.maillog,
                                   base=base, sink_port=sink_port))
        with open(MASTER_CF_DIST) as f:
            dist = f.read().splitlines()
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(master_cf_lines(dist, listen_port)) + "\n")

    # Creates an empty system main.cf only when none exists.
    def ensure_system_main_cf(self):
        if not os.path.exists(SYSTEM_MAIN_CF) and os.path.isdir(os.path.dirname(SYSTEM_MAIN_CF)):
            with open(SYSTEM_MAIN_CF, "w") as f:
                f.write("# Created empty by ringmta's bench/postfix.py; removed after.\n")
            self.created_main_cf = True

    # Configures, checks (which creates the queue folders with Postfix's
    # ownership), starts, and waits for the master's pid and a 220.
    def start(self, workdir, listen_port, sink_port):
        base = os.path.join(workdir, "postfix")
        self.write_config(base, listen_port, sink_port)
        self.ensure_system_main_cf()
        status, out = self.command("check")
        if status != 0:
            raise benchlib.BenchError("postfix check failed (%d): %s %s"
                                      % (status, out, self.log_tail()))
        status, out = self.command("start")
        if status != 0:
            raise benchlib.BenchError("postfix start failed (%d): %s %s"
                                      % (status, out, self.log_tail()))
        pidfile = os.path.join(base, "queue", "pid", "master.pid")
        self.root_pid = benchlib.wait_for(lambda: read_pid(pidfile), START_TIMEOUT_S,
                                          "Postfix master.pid")
        st = benchlib.proc_stat(self.root_pid)
        self.master_start = st[2] if st else None
        benchlib.wait_for(lambda: benchlib.smtp_greets(listen_port), START_TIMEOUT_S,
                          "Postfix to greet on port %d" % listen_port)

    # Returns the maillog text so far.
    def log_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    # Returns the last lines of the maillog, for error messages.
    def log_tail(self, lines=5):
        return " | ".join(self.log_text().strip().splitlines()[-lines:])

    # Returns True when `postqueue -p` reports an empty queue.
    def queue_empty(self):
        try:
            done = subprocess.run([POSTQUEUE, "-c", self.conf, "-p"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return b"Mail queue is empty" in done.stdout

    # The queue must drain; the number of status=sent lines is checked too.
    def verify(self, n):
        problems = []
        try:
            benchlib.wait_for(self.queue_empty, VERIFY_TIMEOUT_S, "postqueue -p to be empty",
                              interval_s=0.2)
        except benchlib.BenchError as e:
            problems.append(str(e))
        try:
            benchlib.wait_for(lambda: self.log_text().count("status=sent") >= n, 5,
                              "status=sent lines", interval_s=0.2)
        except benchlib.BenchError:
            pass
        sent = self.log_text().count("status=sent")
        if sent != n:
            problems.append("maillog shows %d status=sent, want %d" % (sent, n))
        return problems

    # Returns warnings, errors, deferrals and bounces from the maillog.
    def log_notes(self, limit=20):
        odd = [l for l in self.log_text().splitlines() if ODD_LINE.search(l)]
        if len(odd) > limit:
            odd = odd[:limit] + ["... and %d more unusual lines" % (len(odd) - limit)]
        return odd

    # postfix stop; if processes linger, postfix abort; then SIGKILL every
    # process of this instance (they all carry MAIL_CONFIG=<our conf>, which
    # also finds children that outlive the master). Removes a main.cf it made.
    def stop(self):
        if self.stopped or self.conf is None:
            return []
        self.stopped = True
        problems = []
        status, out = self.command("stop", timeout_s=STOP_TIMEOUT_S)
        if status != 0 and self.root_pid is not None:
            problems.append("postfix stop failed (%d): %s" % (status, out))
        if not self.wait_gone(STOP_TIMEOUT_S):
            problems.append("Postfix processes still running %d s after stop; aborted"
                            % STOP_TIMEOUT_S)
            self.command("abort", timeout_s=10)
            if not self.wait_gone(5):
                benchlib.kill_pids(self.instance_pids())
        if self.created_main_cf:
            os.unlink(SYSTEM_MAIN_CF)
            self.created_main_cf = False
        return problems

    # Returns [(pid, starttime)] of every live process of this instance.
    def instance_pids(self):
        return benchlib.pids_with_env("MAIL_CONFIG=" + self.conf)

    # Waits up to timeout_s for every process of this instance to be gone.
    def wait_gone(self, timeout_s):
        try:
            benchlib.wait_for(lambda: not self.instance_pids(), timeout_s,
                              "Postfix to exit", interval_s=0.1)
            return True
        except benchlib.BenchError:
            return False


def master_cf_lines(dist, listen_port):
    """Return master.cf.dist's lines with the smtp inet service moved to
    127.0.0.1:listen_port and chroot turned off for every service (a chroot
    would be the temporary queue folder, without the files the daemons read)."""
    out = []
    for line in dist:
        fields = line.split()
        if line[:1].isalnum() and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = "127.0.0.1:%d" % listen_port
            fields[4] = "n"
            line = " ".join(fields)
        out.append(line)
    return out


def read_pid(path):
    """Return the pid in Postfix's pid file, or None while it is missing."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
