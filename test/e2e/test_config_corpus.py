"""test/e2e/test_config_corpus.py - the real smtpd.conf files of
../shared/testdata/smtpd-conf against build/smtpd -n, with every file they
name present, and what an operator sees: "configuration OK" with one
warning per usage not supported yet, errors with the line and a caret, and
a daemon that refuses to start with a configuration it cannot run.

The files the configurations name (/etc/aliases, /etc/mail/*, certificates
and keys under /etc/ssl) are created in a private mount namespace: unshare -m,
then an overlay mount of a prepared folder over /etc (a bind mount of
prepared folders over /etc/mail and /etc/ssl when overlayfs is missing),
so nothing on the machine changes. Certificates come from openssl req -x509.
The db: tables are built from their text files with build/makemap, as an
operator would (-t set for lists of domains, the default map for users).

Interface names: the top-level files use OpenBSD's lo0, egress and all;
ringmta reads lo0 as lo, egress as the interface(s) of the default route(s)
(none: a warning, no listener), all as the wildcard address. linux/ has the
same files with Linux names.
"""
import glob
import os
import re
import shutil
import subprocess
import unittest

from harness import E2ETest, SMTPD

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.environ.get("RINGMTA_TESTDATA",
                          os.path.join(TOP, "..", "shared", "testdata", "smtpd-conf"))

WARNING = re.compile(r"^(?P<file>.+):\d+:\d+: warning: (.+ is not supported yet, smtpd will "
                     r"refuse to start with this configuration|no default route: .*)$")

MAIL_FILES = {
    "aliases": "root: postmaster\npostmaster: bob\n",
    "secrets": "bob bob:secret\n",
    "other-relays": "192.0.2.0/24\n198.51.100.7\n",
    "domains": "example.org\nexample.com\n",
    "vdomains": "example.net\n",
    "users": "bob@example.net bob\n",
    "creds": "bob $2b$08$8bXJdCVyBx5qTmkgC3WwYe3nJDVaNGuHz3fHWXtKvj8n1h1fJ4OWa\n",
    "include.conf": "# included by nothing yet\n",
}
# db: tables: the text file each is built from, and its makemap type
MAKEMAP_DBS = {"domains.db": ("domains", ["-t", "set"]),
               "vdomains.db": ("vdomains", ["-t", "set"]),
               "users.db": ("users", [])}
MAKEMAP = os.path.join(os.path.dirname(SMTPD), "makemap")
PKI_NAMES = ("mail.example.com", "mail.hypno.cat", "mx.example.org")


def openssl_pair(crt, key, cn):
    """A self-signed certificate and its key (P-256, fast)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + cn,
                    "-days", "2", "-keyout", key, "-out", crt],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_etc(root, omit=()):
    """root/upper/{aliases,mail/,ssl/} as the configurations expect them."""
    upper = os.path.join(root, "upper")
    os.makedirs(os.path.join(upper, "mail"))
    os.makedirs(os.path.join(upper, "ssl", "private"))
    os.makedirs(os.path.join(root, "work"))
    with open(os.path.join(upper, "aliases"), "w") as f:
        f.write(MAIL_FILES["aliases"])
    for name, text in MAIL_FILES.items():
        with open(os.path.join(upper, "mail", name), "w") as f:
            f.write(text)
    for db, (source, args) in MAKEMAP_DBS.items():
        subprocess.run([MAKEMAP] + args + ["-o", os.path.join(upper, "mail", db),
                                           os.path.join(upper, "mail", source)],
                       check=True, timeout=30)
    ssl = os.path.join(upper, "ssl")
    openssl_pair(os.path.join(ssl, "ca.crt"), os.path.join(root, "ca.key"), "ringmta test CA")
    for cn in PKI_NAMES:
        crt, key = os.path.join(ssl, cn + ".crt"), os.path.join(ssl, "private", cn + ".key")
        openssl_pair(crt, key, cn)
        os.chmod(key, 0o600)
        with open(os.path.join(ssl, cn + ".fullchain.pem"), "w") as out:
            out.write(open(crt).read() + open(os.path.join(ssl, "ca.crt")).read())
    for rel in omit:
        os.remove(os.path.join(upper, rel))
    return upper


NAMESPACE_SCRIPT = r"""
set -e
mount --make-rprivate /
if ! mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc \
        2>/dev/null; then
    [ -d /etc/mail ] && [ -d /etc/ssl ] || exit 77
    mount --bind "$1/upper/mail" /etc/mail
    mount --bind "$1/upper/ssl" /etc/ssl
fi
shift
exec "$@"
"""


def in_namespace(root, args, cwd):
    """Run args with root's prepared /etc; the machine's /etc is untouched."""
    return subprocess.run(["unshare", "-m", "sh", "-c", NAMESPACE_SCRIPT, "sh", root] + args,
                          cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def corpus():
    files = sorted(glob.glob(os.path.join(TESTDATA, "*.conf")))
    return files + sorted(glob.glob(os.path.join(TESTDATA, "linux", "*.conf")))


class ConfigCorpusTest(E2ETest):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private mount namespace")
        if shutil.which("openssl") is None:
            self.skipTest("needs openssl for the certificates")
        if not corpus():
            self.skipTest("no testdata in %s" % TESTDATA)

    def run_n(self, root, conf):
        r = in_namespace(root, [SMTPD, "-n", "-f", conf], cwd=self.tmp)
        if r.returncode == 77:
            self.skipTest("neither overlayfs nor /etc/mail to bind over")
        return r

    def test_every_real_config_passes_n(self):
        root = os.path.join(self.tmp, "etc-ok")
        build_etc(root)
        for conf in corpus():
            with self.subTest(conf=os.path.relpath(conf, TESTDATA)):
                if "linux" in conf and "eth0" in open(conf).read() and \
                        not os.path.exists("/sys/class/net/eth0"):
                    self.skipTest("no eth0 here")
                r = self.run_n(root, conf)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, "configuration OK\n")
                for line in r.stderr.splitlines():
                    m = WARNING.match(line)
                    self.assertIsNotNone(m, "unexpected line: %r" % line)
                    self.assertEqual(m.group("file"), conf)

    def test_warnings_name_each_usage(self):
        root = os.path.join(self.tmp, "etc-ok")
        build_etc(root)
        conf = os.path.join(self.tmp, "later.conf")
        with open(conf, "w") as f:
            f.write('admd "example.org"\n'
                    'filter f phase connect match dnsbl "bl.example" junk\n'
                    'listen on 127.0.0.1 filter f\n'
                    'action r relay host smtp://mx.example.org\nmda limit max-session 3\n'
                    'match from local for any action r\n'
                    'filter b phase connect match src 192.0.2.1 junk\n'
                    'listen on 127.0.0.2 filter b\n')
        r = self.run_n(root, conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        tail = "is not supported yet, smtpd will refuse to start with this configuration"
        self.assertEqual(r.stderr.splitlines(), [
            "%s:1:1: warning: admd %s" % (conf, tail),
            "%s:5:5: warning: mda limit %s" % (conf, tail),
        ])

    def test_missing_certificate_is_a_precise_error(self):
        root = os.path.join(self.tmp, "etc-nocert")
        build_etc(root, omit=("ssl/mail.example.com.crt",))
        conf = os.path.join(TESTDATA, "linux", "04-man-tls-auth-mda.conf")
        r = self.run_n(root, conf)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines(), [
            '%s:1:27: cannot read certificate "/etc/ssl/mail.example.com.crt": '
            'No such file or directory' % conf,
            '  pki mail.example.com cert "/etc/ssl/mail.example.com.crt"',
            '                            ^',
        ])

    def test_missing_table_file_is_a_precise_error(self):
        root = os.path.join(self.tmp, "etc-notable")
        build_etc(root, omit=("mail/other-relays",))
        conf = os.path.join(TESTDATA, "linux", "06-man-other-relays-reject.conf")
        r = self.run_n(root, conf)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0],
                         '%s:2:20: cannot open table file "/etc/mail/other-relays": '
                         'No such file or directory' % conf)


class CheckOutputTest(E2ETest):
    """-n and start-up as an operator sees them (no namespace needed)."""

    def write(self, text):
        path = os.path.join(self.tmp, "smtpd.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_supported_config_prints_ok_and_nothing_else(self):
        path = self.write('listen on 127.0.0.1 port 2525\naction "local" maildir\n'
                          'match from any for local action "local"\n')
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))

    def test_error_shows_the_line_and_a_caret_and_a_hint(self):
        path = self.write('listen on 127.0.0.1 port 2525\naction "local" maildri\n'
                          'match from any for local action "local"\n')
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines(), [
            '%s:2:16: unknown action type "maildri"; did you mean "maildir"?' % path,
            '  action "local" maildri',
            '                 ^',
        ])

    def test_daemon_refuses_to_start_with_unsupported_config(self):
        path = self.write('admd "example.org"\nlisten on 127.0.0.1 port 2525\n'
                          'action "local" maildir\nmatch from any for local action "local"\n')
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, "-n accepts it")
        r = subprocess.run([SMTPD, "-d", "-f", path], cwd=self.tmp, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "%s:1:1: admd is not supported yet" % path)
        self.assertNotIn("ready", r.stderr)


if __name__ == "__main__":
    unittest.main()
