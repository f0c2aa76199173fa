"""bench/benchlib.py - the pieces every benchmarked MTA shares: a private
network namespace with only lo for a whole bench run (and, when a run asks
for one, a private mount namespace), free loopback ports,
bounded waits, the disk's rate of durable writes, an SMTP greeting probe, Postfix's smtp-sink as the receiving
peer (with its running message counter read as it arrives), smtp-source as
the load generator, CPU accounting over a process tree from /proc, and
careful stopping of processes this harness started.

Nothing here talks to anything but 127.0.0.1. Every wait has a deadline.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SINK_BACKLOG = 1024


# Set to the network namespace a bench script was started in when it
# re-executes itself inside a new one; a different namespace on arrival means
# the re-execution happened.
NETNS_ENV = "RINGMTA_BENCH_OUTER_NETNS"
# The same for the mount namespace, when the re-execution made one too.
MNTNS_ENV = "RINGMTA_BENCH_OUTER_MNTNS"
NETNS_PROBE_TIMEOUT_S = 10


class BenchError(Exception):
    """A round cannot go on; the message says why."""


def durable_write_rate(directory, seconds, block_bytes):
    """Append block_bytes and fdatasync, in a loop for `seconds`, to a new
    file in directory (removed after), as a queue's WAL does; return
    {writes, seconds, per_s, mean_us, mb_per_s}."""
    fd, path = tempfile.mkstemp(prefix="fsync-probe-", dir=directory)
    block = b"\xa5" * block_bytes
    n = 0
    try:
        began = time.monotonic()
        deadline = began + seconds
        while time.monotonic() < deadline:
            os.write(fd, block)
            os.fdatasync(fd)
            n += 1
        took = time.monotonic() - began
    finally:
        os.close(fd)
        os.unlink(path)
    return {"writes": n, "seconds": round(took, 3), "per_s": round(n / took, 1),
            "mean_us": round(took * 1e6 / max(n, 1), 1),
            "mb_per_s": round(n * block_bytes / took / 1e6, 1)}


def namespace_id(kind):
    """Return an identifier of this process's namespace of that kind ("net",
    "mnt"), or None."""
    try:
        return str(os.stat("/proc/self/ns/%s" % kind).st_ino)
    except OSError:
        return None


def network_namespace():
    """Return an identifier of this process's network namespace, or None."""
    return namespace_id("net")


def bring_loopback_up():
    """Bring lo up in a fresh network namespace and check that it is the only
    interface and that 127.0.0.1 takes connections. Raises BenchError."""
    try:
        done = subprocess.run(["ip", "link", "set", "lo", "up"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=NETNS_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError("ip link set lo up: %s" % e)
    if done.returncode != 0:
        raise BenchError("ip link set lo up: %s" % done.stdout.decode(errors="replace"))
    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        raise BenchError("the new network namespace has interfaces besides lo: %s"
                         % ", ".join(others))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=NETNS_PROBE_TIMEOUT_S).close()


def can_unshare(unshare, flags):
    """Return None when `unshare FLAGS true` works here, else why not."""
    try:
        done = subprocess.run([unshare] + list(flags) + ["true"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=NETNS_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if done.returncode != 0:
        return done.stdout.decode(errors="replace").strip() or "status %d" % done.returncode
    return None


def in_private_netns():
    """Return True in the namespace enter_private_netns() re-executed into."""
    outer = os.environ.get(NETNS_ENV)
    return outer is not None and outer != network_namespace()


def in_private_mntns():
    """Return True in a mount namespace a re-execution here made (mounts
    made in it are seen by this process and its children only)."""
    outer = os.environ.get(MNTNS_ENV)
    return outer is not None and outer != namespace_id("mnt")


def enter_netns_unless(no_netns, argv, script, who, mount=False):
    """enter_private_netns() unless --no-netns was given (then say so, as
    `who`, after entering a private mount namespace alone when mount is
    true); return whether this process is in a private network namespace."""
    if no_netns:
        if mount:
            enter_private_mntns(argv, os.path.abspath(script))
        print("%s: --no-netns: running in the machine's network namespace" % who,
              flush=True)
        return False
    return enter_private_netns(argv, os.path.abspath(script), mount=mount)


def metric_spread(records, metrics):
    """Return {key: {median, min, max}} for each (key, label) of metrics over
    the successful records (those with "ok") that carry it."""
    out = {}
    for key, _ in metrics:
        values = [r[key] for r in records if r["ok"] and key in r]
        if values:
            out[key] = {"median": round(statistics.median(values), 4),
                        "min": min(values), "max": max(values)}
    return out


def session_counts(parser, text, example):
    """The comma-separated session counts of a --sessions option, each at
    least 1; a bad list ends the program through parser.error()."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        parser.error("--sessions: comma-separated whole numbers, e.g. %s" % example)
    if not counts or min(counts) < 1:
        parser.error("--sessions must be at least 1")
    return counts


def round_spread(records, metrics):
    """Return {rounds_ok, rounds, key: {median, min, max}}: how many rounds
    passed, and metric_spread() over them."""
    out = {"rounds_ok": sum(1 for r in records if r["ok"]), "rounds": len(records)}
    out.update(metric_spread(records, metrics))
    return out


def print_round_end(line, rec):
    """Print a round's line (FAILED when it did not pass), its problems and,
    when it failed, the folder kept for a look."""
    print(line + ("" if rec["ok"] else "  FAILED"), flush=True)
    for p in rec["problems"]:
        print("    problem: %s" % p)
    if not rec["ok"]:
        print("    kept: %s" % rec["workdir"], flush=True)


def provenance(loadavg_at_start, netns, revision, binary_sha256, **machine):
    """The "when", "machine" and "ringmta" parts every bench JSON carries;
    machine takes extra keys (kernel, cpu_model, ...)."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": dict({"cpus": os.cpu_count(), "loadavg_at_start": loadavg_at_start,
                         "loadavg_at_end": list(os.getloadavg()),
                         "private_network_namespace": netns}, **machine),
        "ringmta": {"revision": revision, "binary_sha256": binary_sha256},
    }


def write_json(path, doc):
    """Write doc to path as indented JSON, through a rename."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def raise_nofile_limit(wanted):
    """Raise RLIMIT_NOFILE (inherited by the generator, the sink and the
    MTAs) towards wanted; as root the hard limit too. Return the soft limit
    in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass  # a container may cap the hard limit: use what it allows
    target = hard if hard == resource.RLIM_INFINITY or hard < wanted else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# `unshare` flags for a private mount namespace: mounts made in it never
# propagate to the machine's.
MOUNT_FLAGS = ["--mount", "--propagation", "private"]


def reexec_unshared(flags, env, argv, script):
    """Re-execute `unshare FLAGS -- python3 SCRIPT ARGV...` with env; does
    not return."""
    unshare = shutil.which("unshare")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(unshare, [unshare] + flags + ["--", sys.executable,
                                            os.path.abspath(script or sys.argv[0])]
              + list(argv), env)


def unshare_problem(flags):
    """Return None when this root process can run `unshare FLAGS`, else why not."""
    unshare = shutil.which("unshare")
    return can_unshare(unshare, flags) if unshare else "unshare(1) is missing (util-linux)"


def enter_private_netns(argv, script=None, mount=False):
    """Run the calling script in a new network namespace whose only interface
    is lo, so that no server it starts can reach (or ask a DNS server on)
    another host; with mount, in a private mount namespace as well (see
    enter_private_mntns()). Outside one, as root: re-executes `unshare --net
    -- python3 SCRIPT ARGV...` (which does not return). Inside (after the
    re-execution): brings lo up, prints one line, returns True. Returns False
    with a printed reason when it cannot be done (not root, no unshare(1),
    no permission); the caller goes on in the machine's namespaces."""
    if in_private_netns():
        bring_loopback_up()
        print("bench: running in a private network namespace with only lo "
              "(127.0.0.1); no server here can reach another host", flush=True)
        return True
    if os.geteuid() != 0:
        print("bench: not root: running in the machine's network namespace", flush=True)
        return False
    flags = ["--net"] + (MOUNT_FLAGS if mount else [])
    why = unshare_problem(flags)
    if why:
        print("bench: cannot make a private network namespace (%s): running in the "
              "machine's" % why, flush=True)
        return False
    env = dict(os.environ, **{NETNS_ENV: network_namespace() or ""})
    if mount:
        env[MNTNS_ENV] = namespace_id("mnt") or ""
    reexec_unshared(flags, env, argv, script)


def enter_private_mntns(argv, script=None):
    """Run the calling script in a private mount namespace (propagation
    private), where it may mount things that only it and its children see:
    as root outside one, re-executes `unshare --mount --propagation private
    -- python3 SCRIPT ARGV...` (which does not return). Returns True inside
    one, False with a printed reason when it cannot be made."""
    if in_private_mntns():
        return True
    why = "not root" if os.geteuid() != 0 else unshare_problem(MOUNT_FLAGS)
    if why:
        print("bench: cannot make a private mount namespace (%s)" % why, flush=True)
        return False
    reexec_unshared(MOUNT_FLAGS, dict(os.environ, **{MNTNS_ENV: namespace_id("mnt") or ""}),
                    argv, script)


def exit_on_sigterm():
    """Turn SIGTERM into SystemExit, so that the finally blocks that stop
    every server run when the bench is killed (as by ninja)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout_s, what, interval_s=0.05):
    """Poll predicate until it returns a true value; raise BenchError after
    timeout_s seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(interval_s)


def smtp_greets(port, timeout_s=2.0):
    """Connect to 127.0.0.1:port, read the greeting and say QUIT; return True
    when the greeting was a 220."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            greeting = s.recv(512)
            s.sendall(b"QUIT\r\n")
            try:
                s.recv(512)
            except OSError:
                pass
            return greeting.startswith(b"220")
    except OSError:
        return False


def proc_stat(pid):
    """Return (ppid, cpu_ticks, starttime) of a live process, where cpu_ticks is
    utime+stime+cutime+cstime; None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    rest = data[data.rindex(")") + 2:].split()
    ppid = int(rest[1])
    ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    return ppid, ticks, int(rest[19])


def process_tree(root):
    """Return {pid: (ppid, cpu_ticks, starttime)} for root and every live
    process whose parent chain leads to root."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                table[int(name)] = st
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in tree:
            tree[pid] = table[pid]
            todo.extend(children.get(pid, []))
    return tree


def tree_cpu_s(root):
    """Return the CPU seconds (user+system) used so far by root's process tree:
    for every live process in it, its own time plus that of its reaped
    children. A child that exits moves its time into its parent's cutime, so
    the sum only grows and a difference of two readings is the CPU used in
    between."""
    tree = process_tree(root)
    if root not in tree:
        raise BenchError("process %d is gone" % root)
    return sum(t for _, t, _ in tree.values()) / CLK_TCK


def peak_rss_kib(pid):
    """Return VmHWM (peak resident set) of pid in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pid_alive(pid, starttime=None):
    """Return True while pid exists (and, when starttime is given, is still the
    same process) and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return False
    rest = data[data.rindex(")") + 2:].split()
    if rest[0] == "Z":
        return False
    return starttime is None or int(rest[19]) == starttime


def pids_with_env(entry):
    """Return [(pid, starttime)] of live processes whose environment holds
    entry ("NAME=value") exactly."""
    want = entry.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        st = proc_stat(int(name))
        if want in env and st is not None and pid_alive(int(name), st[2]):
            found.append((int(name), st[2]))
    return found


def kill_pids(pids, timeout_s=5.0):
    """SIGKILL every (pid, starttime) in pids that is still the same live
    process, then wait up to timeout_s for them to vanish."""
    for pid, start in pids:
        if pid_alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(p, s) for p, s in pids):
        time.sleep(0.05)


def stop_process(proc, timeout_s=15.0):
    """SIGTERM a Popen child, wait up to timeout_s, then SIGKILL it; return
    (exit status, True when it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    proc.terminate()
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10), True


class Sink:
    """A fresh smtp-sink on a free loopback port. A reader thread follows its
    -c counter ("sess=.. quit=.. mesg=N", records separated by CR) and notes
    the monotonic time at which the message count first reached target."""

    COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, workdir, target):
        self.target = target
        self.count = 0
        self.last_record = ""
        self.reached_at = None
        self.reached = threading.Event()
        self.port = None
        self.proc = None
        self.errpath = os.path.join(workdir, "sink.err")
        self._thread = None

    # Call once; returns the port, or raises BenchError.
    def start(self, attempts=3):
        for _ in range(attempts):
            self.port = free_port()
            argv = [SMTP_SINK, "-c", "127.0.0.1:%d" % self.port, str(SINK_BACKLOG)]
            if os.geteuid() == 0:
                argv[1:1] = ["-u", "nobody"]
            with open(self.errpath, "ab") as err:
                self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                             stdin=subprocess.DEVNULL)
            self._thread = threading.Thread(target=self._follow, daemon=True)
            self._thread.start()
            try:
                wait_for(lambda: self.proc.poll() is not None or smtp_greets(self.port),
                         10, "smtp-sink to greet")
            except BenchError:
                self.stop()
                continue
            if self.proc.poll() is None:
                return self.port
            self.stop()
        raise BenchError("smtp-sink did not start: %s" % self.errors())

    # Reader thread body: parse counter records until the pipe closes.
    def _follow(self):
        fd = self.proc.stdout.fileno()
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            now = time.monotonic()
            pending += chunk
            found = self.COUNTER.findall(pending)
            records = [r for r in re.split(rb"[\r\n]", pending) if r.strip()]
            if records:
                self.last_record = records[-1].decode("ascii", "replace").strip()
            cut = max(pending.rfind(b"\r"), pending.rfind(b"\n"))
            if cut >= 0:
                pending = pending[cut + 1:]
            if found:
                self.count = max(self.count, int(found[-1]))
                if self.count >= self.target and self.reached_at is None:
                    self.reached_at = now
                    self.reached.set()

    # Returns smtp-sink's stderr text, for error messages.
    def errors(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read().strip()[-500:]
        except OSError:
            return ""

    # Call at the end of a round; safe to call twice.
    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, 5)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self.proc.stdout.close()


class Source:
    """One smtp-source run: `smtp-source -s SESSIONS -m N -l BYTES -f FROM
    -t TO 127.0.0.1:PORT`, timed from start to exit."""

    def __init__(self, workdir, port, messages, sessions, size_bytes, sender, rcpt):
        self.argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages),
                     "-l", str(size_bytes), "-f", sender, "-t", rcpt,
                     "127.0.0.1:%d" % port]
        self.errpath = os.path.join(workdir, "source.err")
        self.proc = None
        self.started_at = None
        self.exited_at = None

    # Starts smtp-source; call right after the CPU reading that opens a round.
    def start(self):
        with open(self.errpath, "wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdout=err, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        threading.Thread(target=self._reap, daemon=True).start()

    # Waiter thread body: notes the moment smtp-source exits.
    def _reap(self):
        self.proc.wait()
        self.exited_at = time.monotonic()

    # Returns True once smtp-source has exited.
    def done(self):
        return self.exited_at is not None

    # Returns the output smtp-source printed (warnings and errors only).
    def output(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read().strip()
        except OSError:
            return ""

    # Kills smtp-source if it is still running (a round that timed out).
    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, 2)


class Mta:
    """What the round driver needs from an MTA under test. A subclass sets
    name, and implements unavailable(), start(), verify(), stop(). One object
    serves one round: start() -> the measured load -> verify() -> stop()."""

    name = "mta"
    # The process whose tree's CPU is counted; None counts none.
    root_pid = None
    # Where the load goes; start() sets it (None: the MTA's listen port).
    load_port = None
    # Why message_limit() cuts a round short, for the report.
    message_limit_why = None

    # Returns at most how many messages a round of this many concurrent
    # sessions may send (None: the scenario's count), for an MTA so slow
    # under such a load that the full count would not fit in a run.
    def message_limit(self, sessions):
        return None

    # Returns None when the MTA can be benchmarked here, or why it cannot.
    def unavailable(self):
        raise NotImplementedError

    # Starts the MTA with an empty queue in workdir, listening on
    # 127.0.0.1:listen_port and relaying example.net to 127.0.0.1:sink_port;
    # returns once it greets, with root_pid set. Raises BenchError.
    def start(self, workdir, listen_port, sink_port):
        raise NotImplementedError

    # After the sink has counted n messages: returns a list of problems with
    # the MTA's own view (queue not empty, fewer deliveries logged); empty
    # when all is well. May wait a few seconds for the MTA to settle.
    def verify(self, n):
        raise NotImplementedError

    # Returns unusual lines of the MTA's log (at most limit), for the report.
    def log_notes(self, limit=20):
        return []

    # Stops everything start() started; returns a list of problems seen while
    # stopping (had to be killed, bad exit status). Safe to call twice.
    def stop(self):
        raise NotImplementedError
