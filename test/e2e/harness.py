"""test/e2e/harness.py - helpers for end-to-end tests: start the real
build/smtpd on loopback with a temporary configuration, Postfix's smtp-sink
as a relay peer, wait for log lines and maildir files with bounded loops.

Every wait has a deadline; every process started is stopped in tearDown.
Nothing here talks to anything but 127.0.0.1.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("RINGMTA_BUILD",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SMTPD = os.path.join(BUILD, "smtpd")


# Ports handed out come from below Linux's ephemeral range (32768-60999 by
# default), where the kernel picks the source port of every outgoing
# connection and of bind(0): a port taken from there could be reused by a
# relay or milter connection before the daemon under test binds it. They
# are handed out in turn from a random start, so one run never gets the
# same port twice.
FREE_PORT_FIRST, FREE_PORT_LAST = 20000, 32767
_next_port = [FREE_PORT_FIRST + int.from_bytes(os.urandom(2), "big") %
              (FREE_PORT_LAST - FREE_PORT_FIRST + 1)]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside
    the ephemeral range."""
    span = FREE_PORT_LAST - FREE_PORT_FIRST + 1
    for _ in range(span):
        port = _next_port[0]
        _next_port[0] = FREE_PORT_FIRST + (port + 1 - FREE_PORT_FIRST) % span
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:   # every one taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tool(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def maildir_messages(path):
    """Contents of every message in path/new, sorted by file name."""
    new = os.path.join(path, "new")
    if not os.path.isdir(new):
        return []
    out = []
    for name in sorted(os.listdir(new)):
        with open(os.path.join(new, name), "rb") as f:
            out.append(f.read())
    return out


class Smtpd:
    """One smtpd -d process with its own folder, config, spool and log."""

    def __init__(self, workdir, config, name="smtpd.conf"):
        self.workdir = workdir
        self.conf = os.path.join(workdir, name)
        self.logpath = os.path.join(workdir, "smtpd.log")
        self.proc = None
        self.write_config(config)

    def write_config(self, config):
        with open(self.conf, "w") as f:
            f.write(config)

    def start(self, args=(), wrapper=(), wait_port=None, env=None, wait_ready=True,
              stdin_text=None):
        """Start smtpd -d and wait for this run's "ready" line (listeners are
        bound before it); wait_port: also check that run listens on it. No
        test connection is made: it would count as a session. stdin_text:
        what smtpd reads on its standard input (then closed)."""
        earlier = self.log()
        self.logfile = open(self.logpath, "ab")
        self.proc = subprocess.Popen(list(wrapper) + [SMTPD, "-d", "-f", self.conf] + list(args),
                                     cwd=self.workdir, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, env=env,
                                     stdin=None if stdin_text is None else subprocess.PIPE)
        if stdin_text is not None:
            self.proc.stdin.write(stdin_text.encode())
            self.proc.stdin.close()
        if not wait_ready:
            return self
        def this_run():
            return self.log()[len(earlier):]
        wait_for(lambda: "smtpd: ready" in this_run() or self.proc.poll() is not None,
                 timeout=20, what="smtpd ready")
        if self.proc.poll() is not None:
            raise AssertionError("smtpd exited %s:\n%s" % (self.proc.returncode, self.log()))
        if wait_port and not re.search(r"smtpd: listening on \S+ port %d\n" % wait_port,
                                       this_run()):
            raise AssertionError("smtpd does not listen on port %d:\n%s" %
                                 (wait_port, this_run()))
        return self

    def log(self):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logfile.close()
        return self.proc.returncode

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.logfile.close()


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:port, dumping each message to a file."""

    def __init__(self, workdir, port, extra=(), host="127.0.0.1"):
        self.dir = os.path.join(workdir, "sink")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.port = port
        args = [tool("smtp-sink")]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["-d", os.path.join(self.dir, "%M."), "-c"] + list(extra) + [
            "%s:%d" % (host, port), "128"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: port_open(port, host) or self.proc.poll() is not None, what="smtp-sink")
        if self.proc.poll() is not None:
            raise AssertionError("smtp-sink failed: %s" % self.proc.stderr.read())

    def messages(self):
        out = []
        for root, _dirs, files in os.walk(self.dir):
            for name in sorted(files):
                with open(os.path.join(root, name), "rb") as f:
                    out.append(f.read())
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def as_nobody():
    """preexec_fn: run the child as nobody (65534) with no groups."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


class E2ETest(unittest.TestCase):
    """Base class: a temp folder per test; processes registered are stopped."""

    def setUp(self):
        if not os.access(SMTPD, os.X_OK):
            self.skipTest("build/smtpd not built")
        self.tmp = tempfile.mkdtemp(prefix="ringmta-e2e-")
        os.chmod(self.tmp, 0o755)
        self.cleanups = []

    def tearDown(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        if getattr(self, "_outcome", None) is not None and not self._ok():
            for p in (os.path.join(self.tmp, "smtpd.log"),):
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        print("\n--- %s ---\n%s" % (p, f.read()[-4000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _ok(self):
        result = self._outcome.result
        return not any(t is self for t, _ in result.failures + result.errors)

    def write(self, name, text):
        """Write text to the file name in the test's folder; its path."""
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def smtpd(self, config, **kw):
        d = Smtpd(self.tmp, config)
        self.cleanups.append(d.stop)
        return d.start(**kw)

    def sink(self, port, extra=()):
        s = SmtpSink(self.tmp, port, extra)
        self.cleanups.append(s.stop)
        return s

    def smtpctl(self, *args, want_rc=0, user=None):
        """Run build/smtpctl against the running daemon's config (self.d);
        user="nobody" runs it unprivileged. Fails on another exit status."""
        r = subprocess.run([os.path.join(BUILD, "smtpctl"), "-f", self.d.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                           preexec_fn=as_nobody if user == "nobody" else None)
        self.assertEqual(r.returncode, want_rc, "smtpctl %s: %s%s" % (" ".join(args), r.stdout,
                                                                    r.stderr))
        return r

    def user(self):
        return pwd.getpwuid(os.geteuid()).pw_name
