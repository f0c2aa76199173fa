"""bench/opensmtpd.py - OpenSMTPD as an MTA under test, and getting it onto a
machine that has Postfix: Debian cannot install the two side by side, so
when /usr/sbin/smtpd is not OpenSMTPD, Debian's opensmtpd package is fetched
with `apt-get download` into a cache folder (BUILDDIR/bench/opensmtpd/),
unpacked there with `dpkg -x` and run from there. Getting it ready also
installs missing shared libraries (the package's library dependencies, which
do not conflict with Postfix), creates the users compiled into the binary
(Debian's opensmtpd and opensmtpq) and its chroot folder.

Local delivery runs helpers from a folder compiled into the binary
(/usr/libexec/opensmtpd/mail.maildir, ...), which an unpacked package does
not fill: provide_helpers() makes the unpacked ones appear there for a run
in a private mount namespace only (a read-only overlay; nothing on the
machine changes).

As an MTA it is ringmta's twin: the same smtpd.conf grammar and maillog
lines, so it reuses bench/ringmta.py. The differences: the binary, no
`queue path` (OpenSMTPD's queue is fixed at /var/spool/smtpd, so a round
refuses to start when that queue holds mail, and checks it drained after the
load), quoted `result="Ok"` in its delivery lines, and readiness is the 220
greeting alone.
"""
import os
import re
import shutil
import socket
import subprocess

import benchlib
import ringmta

SYSTEM_SMTPD = "/usr/sbin/smtpd"
PACKAGE = "opensmtpd"
UNPACKED_SMTPD = os.path.join("root", "usr", "sbin", "smtpd")
SPOOL = "/var/spool/smtpd"
CONTROL_SOCKET = "/var/run/smtpd.sock"
OTHER_INSTANCE_WAIT_S = 60
# Folders of the spool that hold mail; purge/ and temporary/ hold only what
# OpenSMTPD is about to delete or has not yet accepted.
MAIL_DIRS = ("queue", "incoming", "offline", "corrupt")
DEFAULT_CHROOT = "/var/lib/opensmtpd/empty"
DEFAULT_LIBEXEC = "/usr/libexec/opensmtpd"
# The helper a maildir action runs, as the recipient, once per delivery.
MAILDIR_HELPER = "mail.maildir"
DEFAULT_USERS = ("opensmtpd", "opensmtpq")
NOLOGIN = "/usr/sbin/nologin"
APT_TIMEOUT_S = 300
COMMAND_TIMEOUT_S = 60
QUEUE_DRAIN_TIMEOUT_S = 10
# OpenSMTPD's listen(2) backlog (SMTPD_BACKLOG), and the messages a round
# sends when more sessions than that connect at once.
LISTEN_BACKLOG = 5
STALLED_MESSAGES = 40
NORMAL_LINE = re.compile(
    ringmta.NORMAL_LINE.pattern +
    r'| mta delivery .* result="Ok" '
    r"| mta connecting address=smtp://127\.0\.0\.1:"
    r"|^info: OpenSMTPD [0-9.p]+ starting"
    r"|^smtp-out: (hiwat reached|back to lowat) on \[relay:127\.0\.0\.1,")


class OpenSmtpd(ringmta.Ringmta):
    """OpenSMTPD run in the foreground with -d, from the system or from the
    unpacked package. `why_not` is set when it cannot run here."""

    name = "opensmtpd"
    ready_line = None
    message_limit_why = ("its listen backlog of 5 (compiled in) overflows when more "
                         "clients connect at once, and they wait for SYN-ACK "
                         "retransmits (1 s, 2 s, 4 s, ...)")

    def __init__(self, binary, why_not=None):
        super().__init__(binary or SYSTEM_SMTPD)
        self.why_not = why_not
        self.queue_was_empty = False

    # Its compiled-in listen backlog of 5 overflows when 20 clients connect
    # at once; the connections left waiting for a retransmitted SYN-ACK hold
    # it to a message or two per second, so such a round gets fewer messages
    # than the others to stay within the run's time.
    def message_limit(self, sessions):
        return STALLED_MESSAGES if sessions > LISTEN_BACKLOG else None

    # Returns None when OpenSMTPD may run, else why not (one line).
    def unavailable(self):
        if self.why_not:
            return self.why_not
        if os.geteuid() != 0:
            return "OpenSMTPD must be started as root"
        if not os.access(self.binary, os.X_OK):
            return "%s is missing" % self.binary
        return None

    # OpenSMTPD has no `queue path`: its queue is the system's.
    def config(self, workdir, listen_port, sink_port):
        return ringmta.CONF_TEMPLATE.format(listen_port=listen_port, sink_port=sink_port,
                                            queue_line="")

    # Waits (bounded) for any other OpenSMTPD on this machine to go, refuses
    # to run over a queue that holds mail, then starts as ringmta does. Once
    # it runs, it is the only OpenSMTPD (the control socket sees to that),
    # so whatever its queue then holds is this round's.
    def start(self, workdir, listen_port, sink_port):
        try:
            benchlib.wait_for(lambda: not control_socket_answers(), OTHER_INSTANCE_WAIT_S,
                              "another OpenSMTPD (control socket %s) to stop"
                              % CONTROL_SOCKET, interval_s=0.5)
        except benchlib.BenchError as e:
            raise benchlib.BenchError("%s; OpenSMTPD instances share one queue and "
                                      "cannot run side by side" % e)
        held = queued_files()
        if held:
            raise benchlib.BenchError(
                "OpenSMTPD's queue %s holds %d files (e.g. %s); not touching it"
                % (SPOOL, len(held), held[0]))
        super().start(workdir, listen_port, sink_port)
        self.queue_was_empty = True

    # Returns the number of deliveries its log reports as done.
    def delivered(self):
        text = self.log_text()
        return text.count('result="Ok"') + text.count("result=Ok ")

    # ringmta's check, then the queue must drain.
    def verify(self, n):
        problems = super().verify(n)
        try:
            benchlib.wait_for(lambda: not queued_files(), QUEUE_DRAIN_TIMEOUT_S,
                              "OpenSMTPD's queue to drain", interval_s=0.2)
        except benchlib.BenchError as e:
            problems.append("%s (%d files left)" % (e, len(queued_files())))
        return problems

    # Lines that are not part of a healthy relay round.
    def log_notes(self, limit=20):
        odd = [l for l in self.log_text().splitlines() if not NORMAL_LINE.search(l)]
        if len(odd) > limit:
            odd = odd[:limit] + ["... and %d more unusual lines" % (len(odd) - limit)]
        return odd

    # Stops it; mail a failed round left behind in a queue that was empty
    # when the round began is this round's own, and is removed so that the
    # next round can run.
    def stop(self):
        problems = super().stop()
        left = queued_files() if self.queue_was_empty else []
        if left:
            for name in MAIL_DIRS:
                clear_folder(os.path.join(SPOOL, name))
            problems.append("removed %d files this round left in %s" % (len(left), SPOOL))
        return problems


def control_socket_answers():
    """Return True when a running OpenSMTPD answers on its control socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(CONTROL_SOCKET)
            return True
        except OSError:
            return False


def queued_files(limit=1000):
    """Return up to limit paths of files in OpenSMTPD's mail folders."""
    found = []
    for name in MAIL_DIRS:
        for top, _, files in os.walk(os.path.join(SPOOL, name)):
            found += [os.path.join(top, f) for f in files]
            if len(found) >= limit:
                return found
    return found


def clear_folder(path):
    """Remove everything inside path, keeping path itself."""
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def run(argv, cwd=None, timeout_s=COMMAND_TIMEOUT_S):
    """Run a command; return (exit status, output). A missing program or a
    timeout is status -1 with the reason as output."""
    try:
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return -1, "%s took more than %d s" % (argv[0], timeout_s)
    except OSError as e:
        return -1, "cannot run %s: %s" % (argv[0], e)
    return done.returncode, done.stdout.decode("utf-8", "replace").strip()


def is_opensmtpd(path):
    """Return True when dpkg says path belongs to opensmtpd, or (for a build
    outside dpkg) when the binary names itself OpenSMTPD."""
    status, out = run(["dpkg-query", "-S", path], timeout_s=10)
    if status == 0:
        return out.startswith(PACKAGE)
    try:
        with open(path, "rb") as f:
            return b"OpenSMTPD" in f.read()
    except OSError:
        return False


def system_smtpd(ringmta_built):
    """Return /usr/sbin/smtpd when it is OpenSMTPD (not ringmta's own), else None."""
    if not os.path.exists(SYSTEM_SMTPD):
        return None
    if os.path.exists(ringmta_built) and os.path.samefile(SYSTEM_SMTPD, ringmta_built):
        return None
    return SYSTEM_SMTPD if is_opensmtpd(SYSTEM_SMTPD) else None


def cached_deb(cache):
    """Return the newest opensmtpd .deb in cache, or None."""
    debs = sorted(f for f in os.listdir(cache) if f.startswith(PACKAGE + "_")
                  and f.endswith(".deb")) if os.path.isdir(cache) else []
    return os.path.join(cache, debs[-1]) if debs else None


def download_deb(cache, log):
    """`apt-get download opensmtpd` into cache (with one `apt-get update` and
    a retry when the package lists do not know it); return the .deb path.
    Raises BenchError."""
    os.makedirs(cache, exist_ok=True)
    argv = ["apt-get", "download", "-o", "APT::Sandbox::User=root", PACKAGE]
    log("bench: fetching Debian's %s package into %s (apt-get download)" % (PACKAGE, cache))
    status, out = run(argv, cwd=cache, timeout_s=APT_TIMEOUT_S)
    if status != 0:
        log("bench: apt-get download failed; running apt-get update once")
        run(["apt-get", "update"], timeout_s=APT_TIMEOUT_S)
        status, out = run(argv, cwd=cache, timeout_s=APT_TIMEOUT_S)
    deb = cached_deb(cache)
    if status != 0 or deb is None:
        raise benchlib.BenchError("apt-get download %s failed: %s"
                                  % (PACKAGE, out.splitlines()[-1:] or out))
    return deb


def unpack_deb(deb, cache):
    """dpkg -x the package into cache/root; return the smtpd path there."""
    root = os.path.join(cache, "root")
    shutil.rmtree(root, ignore_errors=True)
    status, out = run(["dpkg", "-x", deb, root])
    binary = os.path.join(cache, UNPACKED_SMTPD)
    if status != 0 or not os.access(binary, os.X_OK):
        raise benchlib.BenchError("dpkg -x %s failed: %s" % (deb, out))
    return binary


def missing_libraries(binary):
    """Return the shared libraries ldd cannot find for binary."""
    status, out = run(["ldd", binary])
    if status != 0:
        raise benchlib.BenchError("ldd %s failed: %s" % (binary, out))
    return [l.split()[0] for l in out.splitlines() if "not found" in l]


def library_packages(deb):
    """Return the library packages the .deb depends on (libfoo..., zlib1g)."""
    status, out = run(["dpkg-deb", "-f", deb, "Depends"])
    if status != 0:
        raise benchlib.BenchError("dpkg-deb -f %s Depends failed: %s" % (deb, out))
    names = [alt.split("|")[0].split("(")[0].strip() for alt in out.split(",")]
    return [n for n in names if n.startswith("lib") or n.startswith("zlib")]


def package_installed(name):
    """Return True when dpkg says the package is installed."""
    status, out = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", name], timeout_s=10)
    return status == 0 and out == "installed"


def install_libraries(binary, deb, log):
    """When ldd finds libraries missing, apt-get install the package's
    library dependencies that are not installed. Raises BenchError when
    libraries are still missing."""
    missing = missing_libraries(binary)
    if not missing:
        return
    wanted = [p for p in library_packages(deb) if not package_installed(p)]
    log("bench: OpenSMTPD needs %s; apt-get install %s" % (", ".join(missing),
                                                           " ".join(wanted)))
    if wanted:
        status, out = run(["apt-get", "install", "-y", "--no-install-recommends"] + wanted,
                          timeout_s=APT_TIMEOUT_S)
        if status != 0:
            raise benchlib.BenchError("apt-get install %s failed: %s"
                                      % (" ".join(wanted), out.splitlines()[-1:]))
    still = missing_libraries(binary)
    if still:
        raise benchlib.BenchError("shared libraries still missing: %s" % ", ".join(still))


def compiled_in(binary):
    """Return (users, chroot folder) named in the binary: the users from its
    "unknown user NAME" messages, the chroot from its .../empty path."""
    with open(binary, "rb") as f:
        data = f.read()
    users = sorted({m.decode() for m in re.findall(rb"unknown user ([a-z_][a-z0-9_-]*)\0", data)})
    chroots = re.findall(rb"\0(/[a-z0-9_/.-]+/empty)\0", data)
    chroot = chroots[0].decode() if chroots else DEFAULT_CHROOT
    return users or list(DEFAULT_USERS), chroot


def libexec_dir(binary):
    """Return the helper folder compiled into binary (Debian's:
    /usr/libexec/opensmtpd)."""
    with open(binary, "rb") as f:
        found = re.findall(rb"\0(/[a-z0-9_/.-]*/libexec/opensmtpd)\0", f.read())
    return found[0].decode() if found else DEFAULT_LIBEXEC


def helpers_in_place(binary):
    """Return True when the compiled-in helper folder holds mail.maildir."""
    return os.access(os.path.join(libexec_dir(binary), MAILDIR_HELPER), os.X_OK)


def unpacked_libexec(binary):
    """Return the helper folder inside the unpacked package binary came from."""
    root = binary[:-len(UNPACKED_SMTPD)] + "root" if binary.endswith(UNPACKED_SMTPD) else None
    if root is None:
        raise benchlib.BenchError("%s is not an unpacked package's smtpd" % binary)
    return os.path.join(root, libexec_dir(binary).lstrip("/"))


def provide_helpers(binary):
    """Make the unpacked package's helpers appear at the folder compiled
    into binary, for this process and its children only: in a private mount
    namespace (benchlib.enter_private_mntns()), a read-only overlay whose
    upper layer is the package's usr/libexec and lower layer the machine's,
    mounted on the machine's (/usr/libexec): the helpers appear beside what
    is there, nothing is hidden, nothing on the machine is written, and the
    mount ends with the namespace. Returns a line saying what was done, or
    raises BenchError."""
    target = libexec_dir(binary)
    if helpers_in_place(binary):
        return "%s is in place" % os.path.join(target, MAILDIR_HELPER)
    if not benchlib.in_private_mntns():
        raise benchlib.BenchError("its helpers (%s) can only be provided in a private "
                                  "mount namespace" % target)
    upper = os.path.dirname(unpacked_libexec(binary))
    mountpoint = os.path.dirname(target)
    if not os.access(os.path.join(upper, os.path.basename(target), MAILDIR_HELPER), os.X_OK):
        raise benchlib.BenchError("the package has no %s under %s" % (MAILDIR_HELPER, upper))
    if not os.path.isdir(mountpoint):
        raise benchlib.BenchError("%s is missing: nowhere to mount its helpers" % mountpoint)
    if any(c in upper + mountpoint for c in ":,\\"):
        raise benchlib.BenchError("cannot name %s or %s in overlay options" % (upper, mountpoint))
    status, out = run(["mount", "-t", "overlay", "overlay", "-o",
                       "ro,lowerdir=%s:%s" % (upper, mountpoint), mountpoint])
    if status != 0:
        raise benchlib.BenchError("mount -t overlay on %s failed: %s" % (mountpoint, out))
    if not helpers_in_place(binary):
        raise benchlib.BenchError("%s still missing after the overlay"
                                  % os.path.join(target, MAILDIR_HELPER))
    return ("%s from %s (read-only overlay on %s in the run's private mount namespace)"
            % (os.path.join(target, MAILDIR_HELPER), upper, mountpoint))


def ensure_user(name, home, log):
    """Create a system group and user name (no login, no home made) if missing."""
    if run(["getent", "group", name], timeout_s=10)[0] != 0:
        status, out = run(["groupadd", "--system", name])
        if status != 0:
            raise benchlib.BenchError("groupadd %s failed: %s" % (name, out))
    if run(["getent", "passwd", name], timeout_s=10)[0] != 0:
        log("bench: creating system user %s for OpenSMTPD" % name)
        status, out = run(["useradd", "--system", "--no-create-home", "--home-dir", home,
                           "--shell", NOLOGIN, "-g", name, name])
        if status != 0:
            raise benchlib.BenchError("useradd %s failed: %s" % (name, out))


def ensure_runtime(binary, log):
    """Create the users and the chroot folder compiled into binary."""
    users, chroot = compiled_in(binary)
    for name in users:
        ensure_user(name, chroot, log)
    os.makedirs(chroot, mode=0o755, exist_ok=True)


def unpacked_smtpd(cache, fetch, log):
    """Return OpenSMTPD's smtpd unpacked in cache, downloading and unpacking
    the package first when fetch is true and it is not there yet."""
    binary = os.path.join(cache, UNPACKED_SMTPD)
    deb = cached_deb(cache)
    if os.access(binary, os.X_OK) and deb:
        return binary, deb
    if not fetch:
        raise benchlib.BenchError("%s is not unpacked and cannot be fetched here" % binary)
    deb = deb or download_deb(cache, log)
    return unpack_deb(deb, cache), deb


def prepare(builddir, ringmta_built, fetch=True, log=print):
    """Find or fetch OpenSMTPD and make it runnable; return (binary, origin,
    why_not): origin says where it comes from, why_not is None or one line
    saying why OpenSMTPD cannot run here."""
    if os.geteuid() != 0:
        return None, None, "OpenSMTPD must be started as root"
    binary = system_smtpd(ringmta_built)
    if binary:
        return binary, "%s (installed)" % binary, None
    cache = os.path.abspath(os.path.join(builddir, "bench", PACKAGE))
    try:
        binary, deb = unpacked_smtpd(cache, fetch, log)
        install_libraries(binary, deb, log)
        ensure_runtime(binary, log)
    except benchlib.BenchError as e:
        return None, None, "cannot get OpenSMTPD from Debian's package: %s" % e
    return binary, "%s (from %s)" % (binary, os.path.basename(deb)), None
