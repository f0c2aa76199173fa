"""bench/testusers.py - the local users a bench run delivers to: rmbl0000,
rmbl0001, ... created with useradd(8) one after the other (primary group
nogroup, no password, nologin shell, no subordinate ids, the GECOS field
marking them as the bench's), their homes made here (mode 0700, owned by
the user) under the run's folder, their ~/Maildir emptied and made again
before each measurement, and every one of them removed with userdel(8) by
remove(), which the caller runs in a finally block (SIGTERM included, see
benchlib.exit_on_sigterm()).

Users left behind by a run that was killed outright (SIGKILL) are known by
their GECOS mark and removed when the next run starts; a user with a bench
name but without the mark is never touched, and the run refuses to start.
One run at a time: create() takes an exclusive lock (flock on LOCK_PATH)
that remove() lets go, so that no run takes another's users for leftovers.

Measured on the 2-core development machine: useradd and userdel each
rewrite /etc/passwd and /etc/shadow under their lock, about 11 ms and
15 ms a user with 1,000 users. newusers(8) would write them in one batch,
but Debian's sets every password through PAM (a hash per user and a
password on each account), which these accounts must not have.
"""
import fcntl
import grp
import os
import pwd
import re
import shutil
import subprocess
import time

import benchlib

PREFIX = "rmbl"
NAME = re.compile(r"^rmbl\d{4}$")
USERS_MAX = 10000
MARK = "ringmta local delivery bench"
GROUP = "nogroup"
NOLOGIN = "/usr/sbin/nologin"
COMMAND_TIMEOUT_S = 30
LOCK_PATH = "/run/lock/ringmta-bench-testusers.lock"
MAILDIR_SUBDIRS = ("tmp", "new", "cur")


def user_name(index):
    """The name of test user index (0-based)."""
    return "%s%04d" % (PREFIX, index)


def run(argv):
    """Run a command; return (exit status, output), -1 when it cannot run."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)
    return done.returncode, done.stdout.decode("utf-8", "replace").strip()


def bench_named():
    """Return {name: gecos} of every user with a bench name."""
    return {p.pw_name: p.pw_gecos for p in pwd.getpwall() if NAME.match(p.pw_name)}


class TestUsers:
    """count users with homes under home_root. create() once, then
    reset_maildirs() before each measurement, remove() at the end."""

    def __init__(self, home_root, count, log=print):
        if not 1 <= count <= USERS_MAX:
            raise ValueError("1..%d test users" % USERS_MAX)
        self.home_root = home_root
        self.names = [user_name(i) for i in range(count)]
        self.created = []
        self.ids = {}
        self.log = log
        self.create_s = None
        self.remove_s = None
        self.lock_fd = None

    # Returns the home folder of a test user.
    def home(self, name):
        return os.path.join(self.home_root, name)

    # Returns the maildir every action of the bench delivers into.
    def maildir(self, name):
        return os.path.join(self.home(name), "Maildir")

    # Removes marked users an earlier run left; raises BenchError when a
    # bench name belongs to someone else.
    def remove_leftovers(self):
        found = bench_named()
        foreign = sorted(n for n, gecos in found.items() if gecos != MARK)
        if foreign:
            raise benchlib.BenchError("users %s exist and are not this bench's (GECOS is not "
                                      "%r); not touching them" % (", ".join(foreign[:5]), MARK))
        if found:
            self.log("testusers: removing %d test users an earlier run left" % len(found))
            self.created = sorted(found)
            problems = self.remove_users()
            if problems:
                raise benchlib.BenchError("; ".join(problems))

    # Takes the one-run-at-a-time lock; raises BenchError when another run
    # holds it.
    def lock(self):
        path = LOCK_PATH if os.path.isdir(os.path.dirname(LOCK_PATH)) else \
            os.path.join("/tmp", os.path.basename(LOCK_PATH))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise benchlib.BenchError("another run holds %s: its test users are in use" % path)
        self.lock_fd = fd

    # Creates every user and its home; raises BenchError (the users made
    # so far stay listed in self.created, for remove()).
    def create(self):
        self.lock()
        self.remove_leftovers()
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            raise benchlib.BenchError("group %s is missing" % GROUP)
        os.makedirs(self.home_root, mode=0o755, exist_ok=True)
        os.chmod(self.home_root, 0o755)
        self.log("testusers: creating %d users %s..%s (useradd)"
                 % (len(self.names), self.names[0], self.names[-1]))
        began = time.monotonic()
        for name in self.names:
            status, out = run(["useradd", "--no-create-home", "--no-user-group", "-g", GROUP,
                               "--home-dir", self.home(name), "--shell", NOLOGIN,
                               "--comment", MARK, "-K", "SUB_UID_COUNT=0",
                               "-K", "SUB_GID_COUNT=0", name])
            if status != 0:
                raise benchlib.BenchError("useradd %s failed: %s" % (name, out))
            self.created.append(name)
            entry = pwd.getpwnam(name)
            self.ids[name] = (entry.pw_uid, entry.pw_gid)
            os.mkdir(self.home(name), 0o700)
            os.chown(self.home(name), entry.pw_uid, entry.pw_gid)
        self.create_s = round(time.monotonic() - began, 2)

    # Makes ~/Maildir/{tmp,new,cur} of the first `count` users afresh, owned
    # by the user, so that a measurement starts with empty, existing
    # maildirs; then sync(2), so that the removals are not written during it.
    def reset_maildirs(self, count):
        for name in self.names[:count]:
            box = self.maildir(name)
            shutil.rmtree(box, ignore_errors=True)
            uid, gid = self.ids[name]
            os.mkdir(box, 0o700)
            os.chown(box, uid, gid)
            for sub in MAILDIR_SUBDIRS:
                os.mkdir(os.path.join(box, sub), 0o700)
                os.chown(os.path.join(box, sub), uid, gid)
        os.sync()

    # Removes every user this object created (userdel; once more with -f
    # when a process still runs as the user), then lets the lock go. Returns
    # a list of problems, empty when every user is gone. Safe to call twice.
    def remove(self):
        problems = self.remove_users()
        if self.lock_fd is not None and not self.created:
            os.close(self.lock_fd)
            self.lock_fd = None
        return problems

    # remove() without the lock.
    def remove_users(self):
        if not self.created:
            return []
        self.log("testusers: removing %d users (userdel)" % len(self.created))
        began = time.monotonic()
        problems = []
        for name in self.created:
            status, out = run(["userdel", name])
            if status != 0:
                status, out2 = run(["userdel", "-f", name])
                problems.append("userdel %s: %s%s" % (name, out, "; removed with -f"
                                                       if status == 0 else "; " + out2))
        left = sorted(set(self.created) & set(bench_named()))
        if left:
            problems.append("%d test users could not be removed: %s"
                            % (len(left), ", ".join(left[:10])))
        self.created = left
        self.remove_s = round(time.monotonic() - began, 2)
        return problems
