"""test/e2e/test_install.py - `ninja install` (ctl/install.py) into a
staging folder (DESTDIR): every program, persona link, unit, manual page
and the example config where README.md says, with its mode; an existing
smtpd.conf left alone; the installed smtpd checks the installed example
and runs on a copy of it (loopback, a free port), with the installed
smtpctl, mailq and makemap talking to it; every manual page passes
`mandoc -T lint` and `groff -ww` with nothing to say."""
import os
import re
import signal
import smtplib
import stat
import subprocess
import sys

from harness import BUILD, E2ETest, free_port, tool, wait_for

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALL = os.path.join(TOP, "ctl", "install.py")
sys.path.insert(0, TOP)
from configure import PERSONAS  # noqa: E402  the links the build makes

PAGES = {"man5": ["aliases.5", "forward.5", "smtpd.conf.5"],
         "man8": ["makemap.8", "sendmail.8", "smtpctl.8", "smtpd.8"]}
UNITS = ["ringmta-smtp.socket", "ringmta-smtps.socket", "ringmta-submission.socket",
         "ringmta.service"]


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class Install(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(os.path.join(BUILD, "smtpctl"), os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.stage = os.path.join(self.tmp, "stage")

    def install(self, prefix=None, want_rc=0):
        env = {k: v for k, v in os.environ.items() if k not in ("PREFIX", "DESTDIR")}
        env["DESTDIR"] = self.stage
        if prefix is not None:
            env["PREFIX"] = prefix
        r = subprocess.run([sys.executable, INSTALL, "--builddir", BUILD], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, want_rc, r.stdout + r.stderr)
        return r

    def staged(self, *parts):
        return os.path.join(self.stage, *[p.lstrip("/") for p in parts])

    def check_layout(self, prefix):
        top = self.staged(prefix)
        for prog in ("smtpd", "smtpctl"):
            p = os.path.join(top, "sbin", prog)
            self.assertTrue(os.path.isfile(p) and not os.path.islink(p), p)
            self.assertEqual(mode(p), 0o755, p)
        for name in PERSONAS:
            self.assertEqual(os.readlink(os.path.join(top, "sbin", name)), "smtpctl", name)
        for name in ("mailq", "newaliases"):
            link = os.path.join(top, "bin", name)
            self.assertEqual(os.readlink(link), "../sbin/smtpctl")
            self.assertTrue(os.path.samefile(link, os.path.join(top, "sbin", "smtpctl")))
        for section, names in PAGES.items():
            folder = os.path.join(top, "share", "man", section)
            self.assertEqual(sorted(os.listdir(folder)), names)
            for name in names:
                self.assertEqual(mode(os.path.join(folder, name)), 0o644, name)
        units = os.path.join(top, "lib", "systemd", "system")
        self.assertEqual(sorted(os.listdir(units)), UNITS)
        for name in UNITS:
            self.assertEqual(mode(os.path.join(units, name)), 0o644, name)
        with open(os.path.join(units, "ringmta.service")) as f:
            service = f.read()
        smtpd = os.path.join(prefix, "sbin", "smtpd")
        self.assertIn("ExecStart=%s -d\n" % smtpd, service)
        self.assertIn("ExecStartPre=%s -n\n" % smtpd, service)
        example = self.staged("/etc/ringmta/smtpd.conf.example")
        self.assertEqual(mode(example), 0o644)
        with open(example) as f, open(os.path.join(TOP, "docs", "smtpd.conf.example")) as g:
            self.assertEqual(f.read(), g.read())
        spool = self.staged("/var/spool/ringmta")
        self.assertTrue(os.path.isdir(spool))
        self.assertEqual(mode(spool), 0o711)
        leftovers = [os.path.join(d, n) for d, _, files in os.walk(self.stage) for n in files
                     if ".install." in n]
        self.assertEqual(leftovers, [])

    def test_ninja_install_runs_the_script(self):
        r = subprocess.run(["ninja", "-C", TOP, "-t", "commands", "install"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        last = r.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("python3 ctl/install.py --builddir build --prefix="),
                        last)

    def test_default_prefix_layout_twice(self):
        out = self.install().stdout
        self.assertIn("install: %s\n" % self.staged("/usr/local/sbin/smtpd"), out)
        self.check_layout("/usr/local")
        self.assertFalse(os.path.lexists(self.staged("/usr/sbin/sendmail")))
        self.install()   # again over the first: files and links replaced
        self.check_layout("/usr/local")

    def test_prefix_usr_owns_usr_sbin_sendmail(self):
        self.install(prefix="/usr")
        self.check_layout("/usr")
        sendmail = self.staged("/usr/sbin/sendmail")
        self.assertTrue(os.path.samefile(sendmail, self.staged("/usr/sbin/smtpctl")))

    def test_existing_config_is_left_alone(self):
        conf = self.staged("/etc/ringmta/smtpd.conf")
        os.makedirs(os.path.dirname(conf))
        with open(conf, "w") as f:
            f.write("# the site's own\n")
        os.chmod(conf, 0o600)
        os.makedirs(self.staged("/var/spool/ringmta"), mode=0o700)
        self.install()
        with open(conf) as f:
            self.assertEqual(f.read(), "# the site's own\n")
        self.assertEqual(mode(conf), 0o600)
        self.assertEqual(mode(self.staged("/var/spool/ringmta")), 0o700)

    def test_relative_prefix_refused(self):
        r = self.install(prefix="usr/local", want_rc=1)
        self.assertIn("PREFIX must be an absolute path", r.stderr)
        self.assertFalse(os.path.exists(self.stage))

    def test_installed_smtpd_checks_and_runs_the_example(self):
        self.install()
        sbin = self.staged("/usr/local/sbin")
        example = self.staged("/etc/ringmta/smtpd.conf.example")
        r = subprocess.run([os.path.join(sbin, "smtpd"), "-n", "-f", example],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))
        # the example on a free loopback port with a spool of its own
        port = free_port()
        with open(example) as f:
            text = f.read()
        text = re.sub(r"(?m)^listen on localhost$", "listen on 127.0.0.1 port %d" % port, text)
        text = re.sub(r'(?m)^queue path ".*"$', 'queue path "%s/spool"' % self.tmp, text)
        self.assertIn("port %d" % port, text)
        conf = self.write("smtpd.conf", text)
        log = open(os.path.join(self.tmp, "smtpd.log"), "wb")
        proc = subprocess.Popen([os.path.join(sbin, "smtpd"), "-d", "-f", conf], cwd=self.tmp,
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        self.cleanups.append(stop)

        def logged():
            with open(os.path.join(self.tmp, "smtpd.log"), errors="replace") as f:
                return f.read()
        wait_for(lambda: "smtpd: ready" in logged() or proc.poll() is not None, timeout=20,
                 what="installed smtpd ready")
        self.assertIsNone(proc.poll(), logged())
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            self.assertEqual(s.ehlo("client.example")[0], 250)
        env = dict(os.environ, SMTPD_CONF=conf)
        ctl = subprocess.run([os.path.join(sbin, "smtpctl"), "show", "status"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=30)
        self.assertEqual(ctl.returncode, 0, ctl.stderr)
        self.assertIn("SMTP running", ctl.stdout)
        for mailq in (os.path.join(sbin, "mailq"), self.staged("/usr/local/bin/mailq")):
            q = subprocess.run([mailq], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual((q.returncode, q.stdout, q.stderr), (0, "", ""), mailq)
        # makemap through its link
        domains = self.write("domains", "example.org\nexample.net\n")
        makemap = os.path.join(sbin, "makemap")
        m = subprocess.run([makemap, "-t", "set", domains], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(m.returncode, 0, m.stderr)
        u = subprocess.run([makemap, "-U", domains + ".db"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(u.stdout, "example.org\nexample.net\n", u.stderr)
        stop()
        self.assertEqual(proc.returncode, 0, logged())

    def test_manual_pages_lint_clean(self):
        self.install()
        mandoc, groff = tool("mandoc"), tool("groff")
        if not mandoc and not groff:
            self.skipTest("neither mandoc nor groff is installed")
        pages = [self.staged("/usr/local/share/man", section, name)
                 for section, names in sorted(PAGES.items()) for name in names]
        for page in pages:
            if mandoc:
                # warnings and errors; style hints need a mandoc.db of the
                # machine's pages to resolve cross references
                r = subprocess.run([mandoc, "-T", "lint", "-W", "warning", page],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=30)
                self.assertEqual((r.returncode, r.stdout), (0, ""), page)
            if groff:
                r = subprocess.run([groff, "-ww", "-mandoc", "-z", page],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=30)
                self.assertEqual((r.returncode, r.stdout), (0, ""), page)
