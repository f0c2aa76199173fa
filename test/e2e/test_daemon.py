"""test/e2e/test_daemon.py - smtpd as an operator meets it: -n checks,
the embedded default config, signals, and systemd socket activation."""
import os
import re
import pwd
import signal
import smtplib
import subprocess

from harness import (E2ETest, SMTPD, Smtpd, free_port, maildir_messages, port_open,
                     tool, wait_for)

GOOD = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
match from any for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)


class ConfigCheck(E2ETest):

    def check(self, text):
        path = os.path.join(self.tmp, "check.conf")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=10), path

    def test_good_config_is_ok(self):
        r, _ = self.check(GOOD.format(port=2525, tmp=self.tmp))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "configuration OK")

    def test_bad_config_names_file_line_column(self):
        r, path = self.check('listen on 127.0.0.1 port 2525\naction "x" maildir\n'
                             'match from any for local action "nope"\n')
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.strip(), r"^%s:3:\d+: .*nope" % path)

    def test_define_overrides_macro(self):
        path = os.path.join(self.tmp, "m.conf")
        with open(path, "w") as f:
            f.write('p = "2525"\nlisten on 127.0.0.1 port $p\n')
        r = subprocess.run([SMTPD, "-n", "-f", path, "-D", "p=70000"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("70000", r.stderr)


class Signals(E2ETest):

    def test_sighup_reload_keeps_old_on_error_and_takes_good(self):
        port = free_port()
        d = self.smtpd(GOOD.format(port=port, tmp=self.tmp), wait_port=port)
        d.write_config("listen on 127.0.0.1 port %d\nthis is not a config\n" % port)
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in d.log(), what="reload refused")
        self.assertRegex(d.log(), r"smtpd.conf:2:1: ")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.org", ["r1@localhost"], "S: x\r\n\r\n1\r\n"), {})
        # a good config that also accepts example.com
        d.write_config(GOOD.format(port=port, tmp=self.tmp) +
                       'match from any for domain "example.com" action "local"\n')
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reload: configuration" in d.log(), what="reload done")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.org", ["r2@example.com"], "S: x\r\n\r\n2\r\n"), {})
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "r2")), what="r2 delivery")

    def test_open_sessions_finish_under_the_config_they_started_with(self):
        port = free_port()
        with_example = (GOOD.format(port=port, tmp=self.tmp) +
                        'match from any for domain "example.com" action "local"\n')
        d = self.smtpd(with_example, wait_port=port)
        old = smtplib.SMTP("127.0.0.1", port, timeout=10)
        self.cleanups.append(old.close)
        old.ehlo("old.example.org")
        # two reloads: example.com goes, then comes back as a reject
        d.write_config(GOOD.format(port=port, tmp=self.tmp))
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.log().count("reload: configuration") == 1, what="first reload")
        d.write_config(GOOD.format(port=port, tmp=self.tmp) +
                       'match from any for domain "example.com" reject\n')
        d.signal(signal.SIGHUP)
        wait_for(lambda: d.log().count("reload: configuration") == 2, what="second reload")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as new:
            new.ehlo("new.example.org")
            new.mail("a@example.org")
            self.assertEqual(new.rcpt("n@example.com")[0], 550)
        # the session opened before both reloads still decides as it began
        self.assertEqual(old.sendmail("a@example.org", ["o@example.com"], "S: x\r\n\r\no\r\n"), {})
        old.quit()
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "o")), what="o delivery")

    def test_sigterm_exits_cleanly(self):
        port = free_port()
        d = self.smtpd(GOOD.format(port=port, tmp=self.tmp), wait_port=port)
        self.assertEqual(d.stop(), 0)
        self.assertIn("smtpd: exiting", d.log())
        self.assertFalse(port_open(port))


class DefaultConfig(E2ETest):

    def test_embedded_default_listens_on_2525_and_delivers_to_mail(self):
        if port_open(2525):
            self.skipTest("something already listens on 127.0.0.1:2525")
        if os.path.exists("/etc/ringmta/smtpd.conf"):
            self.skipTest("/etc/ringmta/smtpd.conf exists: the default is not used")
        env = dict(os.environ)
        env.pop("SMTPD_CONF", None)
        log = open(os.path.join(self.tmp, "smtpd.log"), "ab")
        p = subprocess.Popen([SMTPD, "-d"], cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                             env=env)
        self.cleanups.append(lambda: (p.terminate(), p.wait(10)))
        wait_for(lambda: port_open(2525), what="default listener")
        with smtplib.SMTP("127.0.0.1", 2525, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.org", ["someone@localhost"], "S: x\r\n\r\nd\r\n"), {})
            self.assertEqual(s.docmd("RCPT TO:<x@example.com>")[0], 503)
            s.mail("a@example.org")
            self.assertEqual(s.rcpt("x@example.com")[0], 550)
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "someone")),
                 what="maildir under ./mail")
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "spool")))


class SocketActivation(E2ETest):

    def test_systemd_socket_activate(self):
        activate = tool("systemd-socket-activate")
        if activate is None:
            self.skipTest("systemd-socket-activate not installed")
        port = free_port()
        d = Smtpd(self.tmp, GOOD.format(port=port, tmp=self.tmp))
        self.cleanups.append(d.stop)
        d.start(wrapper=[activate, "-l", "127.0.0.1:%d" % port, "--fdname=smtp"],
                wait_ready=False)
        wait_for(lambda: port_open(port), what="the activation socket")
        # smtpd is started by systemd-socket-activate at the first connection
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            self.assertEqual(s.sendmail("a@example.org", ["act@localhost"], "S: x\r\n\r\nact\r\n"), {})
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "act")), what="delivery")
        self.assertIn("socket activation: listen on 127.0.0.1", d.log())


class Notify(E2ETest):
    """The sd_notify protocol as systemd would see it: READY=1 after the
    queue was resumed, WATCHDOG=1 pings, RELOADING=1 with MONOTONIC_USEC on
    SIGHUP, STOPPING=1 on SIGTERM."""

    def test_ready_watchdog_reload_stopping(self):
        import socket as sk
        path = os.path.join(self.tmp, "notify.sock")
        rx = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
        rx.bind(path)
        os.chmod(path, 0o777)   # as systemd's: smtpd may have dropped root by now
        rx.settimeout(0.2)
        self.cleanups.append(rx.close)
        port = free_port()
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        d = Smtpd(self.tmp, GOOD.format(port=port, tmp=self.tmp))
        self.cleanups.append(d.stop)
        d.start(env=env, wait_port=port)
        got = []

        def saw(text):
            try:
                got.append(rx.recv(4096).decode())
            except OSError:
                pass
            return any(text in g for g in got)
        wait_for(lambda: saw("READY=1"), what="READY=1")
        wait_for(lambda: saw("WATCHDOG=1"), what="WATCHDOG=1")
        d.signal(signal.SIGHUP)
        wait_for(lambda: saw("RELOADING=1"), what="RELOADING=1")
        reloading = [g for g in got if "RELOADING=1" in g][0]
        self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
        d.signal(signal.SIGTERM)
        wait_for(lambda: saw("STOPPING=1"), what="STOPPING=1")
        self.assertEqual(d.proc.wait(20), 0)


class Daemonised(E2ETest):

    def test_without_d_it_detaches_and_serves(self):
        port = free_port()
        conf = os.path.join(self.tmp, "bg.conf")
        with open(conf, "w") as f:
            f.write(GOOD.format(port=port, tmp=self.tmp))
        r = subprocess.run([SMTPD, "-f", conf], cwd=self.tmp, timeout=20,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, r.stderr)    # the parent returns at once

        def pid_of_daemon():
            for p in os.listdir("/proc"):
                if p.isdigit():
                    try:
                        with open("/proc/%s/cmdline" % p, "rb") as f:
                            if conf.encode() in f.read():
                                return int(p)
                    except OSError:
                        pass
            return None
        pid = wait_for(pid_of_daemon, what="the detached smtpd")
        self.cleanups.append(lambda: os.kill(pid, signal.SIGKILL))
        wait_for(lambda: port_open(port), what="the detached smtpd's port")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.org", ["bg@localhost"], "S: x\r\n\r\nbg\r\n"), {})
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "bg")), what="delivery")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                 open("/proc/%d/stat" % pid).read().split()[2] == "Z", what="daemon exit")


MAILLOG = r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ smtpd\[%d\]: "


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


class LogTargets(E2ETest):
    """-l: the maillog format on stdout (for containers) or in a file that a
    SIGHUP opens again after a rotation; a bad target refused."""

    def write_conf(self):
        port = free_port()
        conf = os.path.join(self.tmp, "log.conf")
        with open(conf, "w") as f:
            f.write(GOOD.format(port=port, tmp=self.tmp))
        return port, conf

    def test_stdout_in_the_maillog_format(self):
        port, conf = self.write_conf()
        out = open(os.path.join(self.tmp, "stdout"), "wb")
        self.cleanups.append(out.close)
        p = subprocess.Popen([SMTPD, "-l", "stdout", "-f", conf], cwd=self.tmp, stdout=out,
                             stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: p.poll() is None and (p.kill(), p.wait()))
        text = lambda: read(os.path.join(self.tmp, "stdout"))
        wait_for(lambda: "smtpd: ready" in text(), what="ready on stdout (no detaching)")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.sendmail("a@example.org", ["lg@localhost"], "S: x\r\n\r\nlog\r\n")
        wait_for(lambda: "result=Ok" in text(), what="the delivery line")
        p.terminate()
        self.assertEqual(p.wait(timeout=20), 0)
        lines = text().splitlines()
        self.assertGreater(len(lines), 5)
        for line in lines:
            self.assertRegex(line, MAILLOG % p.pid)
        self.assertTrue(any(re.search(r"smtp connected address=127\.0\.0\.1", l) for l in lines))

    def test_file_reopened_after_rotation(self):
        if os.geteuid() != 0:
            self.skipTest("a log folder the queue user can write needs root")
        port, conf = self.write_conf()
        logdir = os.path.join(self.tmp, "log")
        os.mkdir(logdir)
        q = pwd.getpwnam("_smtpq") if "_smtpq" in [u.pw_name for u in pwd.getpwall()] else None
        if q is not None:
            os.chown(logdir, q.pw_uid, q.pw_gid)
        log = os.path.join(logdir, "mail.log")
        d = Smtpd(self.tmp, GOOD.format(port=port, tmp=self.tmp), name="log2.conf")
        self.cleanups.append(d.stop)
        d.start(args=["-l", log], wait_ready=False)
        wait_for(lambda: "smtpd: ready" in read(log),
                 what="ready in the log file")
        self.assertNotIn("smtpd: ready", d.log())      # not on stderr as well
        os.rename(log, log + ".1")
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reload: configuration" in read(log),
                 what="the reload line in a new file")
        for line in read(log).splitlines() + read(log + ".1").splitlines():
            self.assertRegex(line, MAILLOG % d.proc.pid)

    def test_bad_target_is_refused(self):
        _port, conf = self.write_conf()
        for target in ("relative.log", "/nonexistent-dir/x.log"):
            r = subprocess.run([SMTPD, "-d", "-l", target, "-f", conf], cwd=self.tmp,
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, r"^smtpd: (-l wants|log file /nonexistent-dir/x\.log: No such)")
