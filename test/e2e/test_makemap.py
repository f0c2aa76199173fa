"""test/e2e/test_makemap.py - makemap and newaliases as an operator runs
them, and the db: table they build deciding a real SMTP session.

makemap: aliases, set and map files into FILE.db with the input's mode and
no temporary file left behind; -U prints them back; tinycdb's `cdb -d`
reads the output (skipped without tinycdb); every failure with its exact
message and sysexits code: a bad line (65, FILE:LINE), a duplicate key, a
missing input (66), an output folder that cannot hold the file (73), an
unknown -d or -t (64), -U on a file that is not a db (65); a failed build
leaves the old db in place. newaliases rebuilds the config's db: tables
that an action's `alias` names (also as sendmail -bi) and leaves the
others. smtpd with `match for domain <d>` over a db: table accepts a
recipient of a domain in it and refuses one not in it; a db: file that is
not a cdb is a precise `smtpd -n` error.
"""
import os
import shutil
import smtplib
import stat
import subprocess

from harness import BUILD, SMTPD, E2ETest, free_port

MAKEMAP = os.path.join(BUILD, "makemap")
NEWALIASES = os.path.join(BUILD, "newaliases")
SENDMAIL = os.path.join(BUILD, "sendmail")

ALIASES = "# who gets what\nroot: bob\nPostmaster:  root, carol\n\nabuse: root\n"


def run(prog, args, env=None):
    return subprocess.run([prog] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=30, env=env)


class Makemap(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(MAKEMAP, os.X_OK):
            self.skipTest("build/makemap not built")

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def makemap(self, args, rc=0, stderr=""):
        r = run(MAKEMAP, args)
        self.assertEqual((r.returncode, r.stderr), (rc, stderr))
        return r.stdout

    def test_aliases_built_with_the_input_mode_and_dumped_back(self):
        src = self.write("aliases", ALIASES, mode=0o640)
        self.assertEqual(self.makemap(["-t", "aliases", src]), "")
        db = src + ".db"
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode), 0o640)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["aliases", "aliases.db"],
                         "no temporary file left")
        self.assertEqual(self.makemap(["-U", db]),
                         "root\tbob\npostmaster\troot, carol\nabuse\troot\n")

    def test_set_and_map_with_o(self):
        src = self.write("domains", "example.org\n# comment\n  Example.NET\n")
        out = os.path.join(self.tmp, "d.db")
        self.makemap(["-t", "set", "-d", "cdb", "-o", out, src])
        self.assertEqual(self.makemap(["-U", out]), "example.org\nExample.NET\n")
        src = self.write("map", "bob bob@example.org\nalice\talice@example.org, x\n")
        self.makemap(["-d", "hash", src])
        self.assertEqual(self.makemap(["-U", src + ".db"]),
                         "bob\tbob@example.org\nalice\talice@example.org, x\n")

    def test_tinycdb_reads_the_output(self):
        if shutil.which("cdb") is None:
            self.skipTest("no cdb (Debian package tinycdb)")
        src = self.write("aliases", ALIASES)
        self.makemap(["-t", "aliases", src])
        r = subprocess.run(["cdb", "-d", src + ".db"], stdout=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "+4,3:root->bob\n"
                                                       "+10,11:postmaster->root, carol\n"
                                                       "+5,4:abuse->root\n\n"))
        r = subprocess.run(["cdb", "-q", src + ".db", "postmaster"], stdout=subprocess.PIPE,
                           text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "root, carol"))

    def test_bad_lines_name_file_and_line(self):
        cases = [
            ([], "bob bob@example.org\nalice\n",
             '{p}:2: "alice" has no value (a list of keys is built with -t set)'),
            (["-t", "set"], "example.org\nexample.net primary\n",
             '{p}:2: "example.net" is followed by "primary": a set holds keys only'),
            (["-t", "aliases"], "root: bob\n\nroot bob\n",
             '{p}:3: expected "name: value[, value...]"'),
            (["-t", "aliases"], "root: bob,, carol\n",
             '{p}:1: an empty address in the list of "root"'),
            (["-t", "aliases"], "root: bob\nabuse: root\nROOT: carol\n",
             '{p}:3: duplicate key "root" (first on line 1)'),
            (["-t", "set"], "a\n" + "x" * 1024 + "\n",
             "{p}:2: key too long (1024 bytes, at most 1023)"),
        ]
        for args, text, msg in cases:
            with self.subTest(msg=msg):
                src = self.write("in", text)
                self.makemap(args + [src], rc=65, stderr="makemap: " + msg.format(p=src) + "\n")
                self.assertFalse(os.path.exists(src + ".db"))
                self.assertEqual(os.listdir(self.tmp), ["in"], "no temporary file left")

    def test_a_failed_build_keeps_the_old_db(self):
        src = self.write("aliases", "root: bob\n")
        self.makemap(["-t", "aliases", src])
        self.write("aliases", "root: bob\nroot: carol\n")
        self.makemap(["-t", "aliases", src], rc=65,
                     stderr='makemap: %s:2: duplicate key "root" (first on line 1)\n' % src)
        self.assertEqual(self.makemap(["-U", src + ".db"]), "root\tbob\n")

    def test_missing_input_and_unwritable_output(self):
        missing = os.path.join(self.tmp, "nope")
        self.makemap([missing], rc=66,
                     stderr="makemap: %s: No such file or directory\n" % missing)
        self.makemap(["-U", missing + ".db"], rc=66,
                     stderr="makemap: %s.db: No such file or directory\n" % missing)
        src = self.write("domains", "example.org\n")
        self.makemap(["-t", "set", "-o", os.path.join(src, "x.db"), src], rc=73,
                     stderr="makemap: cannot create a file in %s: Not a directory\n" % src)
        if os.geteuid() != 0:
            ro = os.path.join(self.tmp, "ro")
            os.mkdir(ro, 0o555)
            self.makemap(["-t", "set", "-o", os.path.join(ro, "x.db"), src], rc=73,
                         stderr="makemap: cannot create a file in %s: Permission denied\n" % ro)

    def test_usage_errors(self):
        src = self.write("domains", "example.org\n")
        usage = "usage: makemap [-U] [-d cdb] [-o dbfile] [-t aliases|set] file\n"
        self.makemap(["-d", "dbm", src], rc=64, stderr=(
            'makemap: unsupported db type "dbm": the db is a cdb (-d cdb; hash and btree are '
            'taken as cdb)\n' + usage))
        self.makemap(["-t", "virtual", src], rc=64,
                     stderr='makemap: unsupported type "virtual": aliases or set\n' + usage)
        self.makemap([], rc=64, stderr=usage)
        self.makemap([src, src], rc=64, stderr=usage)

    def test_dump_of_a_text_file_is_refused(self):
        src = self.write("domains", "example.org\n")
        self.makemap(["-U", src], rc=65, stderr=(
            "makemap: %s is not a valid db (12 bytes, shorter than the 2048-byte header)\n"
            % src))


NEWALIASES_CONF = """
table aliases db:{tmp}/aliases.db
table domains db:{tmp}/domains.db
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "local" maildir alias <aliases>
match from any for domain <domains> action "local"
"""


class Newaliases(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(NEWALIASES, os.X_OK):
            self.skipTest("build/newaliases not built")
        self.conf = os.path.join(self.tmp, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write(NEWALIASES_CONF.format(tmp=self.tmp, port=free_port()))
        for name, text in (("aliases", ALIASES), ("domains", "example.org\n")):
            with open(os.path.join(self.tmp, name), "w") as f:
                f.write(text)
        self.db = os.path.join(self.tmp, "aliases.db")

    def dump(self, path):
        r = run(MAKEMAP, ["-U", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_rebuilds_the_alias_tables_of_the_config(self):
        r = run(NEWALIASES, ["-f", self.conf])
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, "newaliases: %s: 3 aliases from %s/aliases\n"
                         % (self.db, self.tmp))
        self.assertEqual(self.dump(self.db), "root\tbob\npostmaster\troot, carol\nabuse\troot\n")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "domains.db")),
                         "a db: table no alias names is not an aliases table")

    def test_smtpd_conf_environment_and_sendmail_bi(self):
        env = dict(os.environ, SMTPD_CONF=self.conf)
        for prog, args in ((NEWALIASES, []), (SENDMAIL, ["-bi"])):
            with self.subTest(prog=os.path.basename(prog)):
                if os.path.exists(self.db):
                    os.unlink(self.db)
                r = run(prog, args, env=env)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertEqual(r.stdout, "newaliases: %s: 3 aliases from %s/aliases\n"
                                 % (self.db, self.tmp))
                self.assertTrue(os.path.exists(self.db))

    def test_bad_aliases_file_and_missing_source(self):
        src = os.path.join(self.tmp, "aliases")
        with open(src, "w") as f:
            f.write("root: bob\nroot bob\n")
        r = run(NEWALIASES, ["-f", self.conf])
        self.assertEqual((r.returncode, r.stdout), (65, ""))
        self.assertEqual(r.stderr, 'newaliases: %s:2: expected "name: value[, value...]"\n'
                         % src)
        os.unlink(src)
        r = run(NEWALIASES, ["-f", self.conf])
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        self.assertEqual(r.stderr, "newaliases: table aliases: no %s, %s left as it is\n"
                         % (src, self.db))
        r = run(NEWALIASES, ["-x"])
        self.assertEqual((r.returncode, r.stderr), (64, "usage: newaliases [-f config]\n"))


DB_CONF = """
table d db:{tmp}/domains.db
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for domain <d> action "local"
"""


class DbTableInSmtpd(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(MAKEMAP, os.X_OK):
            self.skipTest("build/makemap not built")
        src = os.path.join(self.tmp, "domains")
        with open(src, "w") as f:
            f.write("in.example\n*.wild.example\n")
        r = run(MAKEMAP, ["-t", "set", src])
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.port = free_port()
        self.conf = DB_CONF.format(tmp=self.tmp, port=self.port, user=self.user())

    def test_domain_in_the_db_accepted_other_refused(self):
        path = os.path.join(self.tmp, "check.conf")
        with open(path, "w") as f:
            f.write(self.conf)
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "configuration OK\n", ""))
        self.d = self.smtpd(self.conf, wait_port=self.port)
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        self.assertEqual(s.ehlo("client.test")[0], 250)
        self.assertEqual(s.mail("sender@example.org")[0], 250)
        ok = (250, b"2.1.5 Destination address valid: Recipient ok")
        self.assertEqual(s.rcpt("bob@in.example"), ok)
        self.assertEqual(s.rcpt("bob@mx.wild.example"), ok)
        self.assertEqual(s.rcpt("bob@out.example"),
                         (550, b"5.1.1 Invalid recipient: <bob@out.example>"))
        # makemap rebuilds the db, smtpctl update table makes smtpd read it
        with open(os.path.join(self.tmp, "domains"), "w") as f:
            f.write("out.example\n")
        r = run(MAKEMAP, ["-t", "set", os.path.join(self.tmp, "domains")])
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(self.smtpctl("update", "table", "d").stdout, "command succeeded\n")
        self.assertEqual(s.rcpt("bob@out.example"), ok)
        self.assertEqual(s.rcpt("bob@in.example")[0], 550)

    def test_a_file_that_is_not_a_db_is_a_precise_error(self):
        db = os.path.join(self.tmp, "domains.db")
        with open(db, "w") as f:
            f.write("in.example\n")
        path = os.path.join(self.tmp, "check.conf")
        with open(path, "w") as f:
            f.write(self.conf)
        r = subprocess.run([SMTPD, "-n", "-f", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertEqual(r.stderr.splitlines(), [
            '%s:2:9: "%s" is not a valid db table (11 bytes, shorter than the 2048-byte '
            'header)' % (path, db),
            "  table d db:%s" % db,
            "          ^",
        ])


if __name__ == "__main__":
    import unittest
    unittest.main()
