"""test/e2e/test_config_convert.py - smtpd --convert on configurations in
the grammar before OpenSMTPD 6.4 as guides print them: the modern text on
stdout, which smtpd -n accepts and the daemon runs; exit 2 with a
"# not converted" comment and a file:line:column note for what has no
modern form; and smtpd -n on the old file pointing to --convert."""
import os
import smtplib
import subprocess

from harness import E2ETest, SMTPD, free_port, maildir_messages, wait_for

GUIDE = """\
# a typical pre-6.4 configuration
table aliases file:{tmp}/aliases
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"

expire 4d
accept from any for domain "example.org" alias <aliases> deliver to maildir "{tmp}/mail/%{{rcpt.user}}"
accept for local alias <aliases> deliver to maildir "{tmp}/mail/%{{rcpt.user}}"
accept from local for any relay via smtp://127.0.0.1:{relay}
"""

GUIDE_MODERN = """\
# a typical pre-6.4 configuration
table aliases file:{tmp}/aliases
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"

queue ttl 4d
action "local_maildir" maildir "{tmp}/mail/%{{rcpt.user}}" alias <aliases>
action "relay_via_smarthost" relay host smtp://127.0.0.1:{relay}

match from any for domain "example.org" action "local_maildir"
match for local action "local_maildir"
match from local for any action "relay_via_smarthost"
"""

# what the daemon runs today: no alias, no expire
DELIVER = """\
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
accept from any for domain "example.org" deliver to maildir "{tmp}/mail/%{{rcpt.user}}"
accept from local for any relay via smtp://127.0.0.1:{relay}
"""

# more configurations from guides; each must convert fully and pass -n
OTHERS = [
    """\
map "aliases" {{ source plain "{tmp}/aliases" }}
listen on 127.0.0.1 port 2525
accept for local alias aliases deliver to maildir
accept for any relay
""",
    """\
table vdomains {{ example.org, example.net }}
table vusers file:{tmp}/aliases
listen on 127.0.0.1 port 2525 tag IN
max-message-size 20M
bounce-warn {{ 1h, 6h }}
accept tagged IN from any for domain <vdomains> virtual <vusers> deliver to maildir "{tmp}/v/%{{rcpt.user}}"
accept from local for any relay backup mx1.example.org
reject from any for any
""",
    """\
lan = "127.0.0.1"
listen on $lan port 2525
accept from source {{ 192.0.2.0/24, 198.51.100.7 }} sender "@example.org" for any relay via smtp://relay.example.net:2526 hostname mx.example.org
accept for local deliver to maildir expire 1d
""",
]


class Convert(E2ETest):

    def run_smtpd(self, *args):
        return subprocess.run([SMTPD] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=10, cwd=self.tmp)

    def setUp(self):
        super().setUp()
        self.write("aliases", "postmaster: root\nalice: bob\n")

    def test_guide_config_converts_and_the_result_passes_n(self):
        port, relay = free_port(), free_port()
        old = self.write("old.conf", GUIDE.format(tmp=self.tmp, port=port, relay=relay))
        r = self.run_smtpd("--convert", old)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, GUIDE_MODERN.format(tmp=self.tmp, port=port, relay=relay))
        new = self.write("new.conf", r.stdout)
        r = self.run_smtpd("-n", "-f", new)
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"))
        self.assertEqual(r.stderr, "")

    def test_converted_config_runs_and_delivers(self):
        port, relay = free_port(), free_port()
        old = self.write("old.conf", DELIVER.format(tmp=self.tmp, port=port, relay=relay))
        r = self.run_smtpd("--convert", old)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('action "local_maildir" maildir "%s/mail/%%{rcpt.user}"\n' % self.tmp,
                      r.stdout)
        self.smtpd(r.stdout, wait_port=port)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            self.assertEqual(s.sendmail("carol@example.net", ["%s@example.org" % self.user()],
                                        "Subject: converted\r\n\r\nhello\r\n"), {})
        box = os.path.join(self.tmp, "mail", self.user())
        wait_for(lambda: maildir_messages(box), what="delivery to the maildir")
        self.assertIn(b"Subject: converted", maildir_messages(box)[0])

    def test_other_guide_configs_convert_and_pass_n(self):
        for i, text in enumerate(OTHERS):
            old = self.write("old%d.conf" % i, text.format(tmp=self.tmp))
            r = self.run_smtpd("--convert", old)
            self.assertEqual((r.returncode, r.stderr), (0, ""), "config %d" % i)
            self.assertNotIn("accept", r.stdout)
            new = self.write("new%d.conf" % i, r.stdout)
            r = self.run_smtpd("-n", "-f", new)
            self.assertEqual(r.returncode, 0, "config %d:\n%s%s" % (i, r.stderr, r.stdout))
            self.assertTrue(r.stdout.endswith("configuration OK\n"), r.stdout)

    def test_n_on_an_old_config_points_to_convert(self):
        old = self.write("old.conf", GUIDE.format(tmp=self.tmp, port=2525, relay=2526))
        r = self.run_smtpd("-n", "-f", old)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines()[0],
                         '%s:6:1: "expire" is the smtpd.conf grammar before OpenSMTPD 6.4: '
                         '"smtpd --convert %s" prints the modern equivalent' % (old, old))
        self.assertEqual(r.stderr.splitlines()[1:], ["  expire 4d", "  ^"])

    def test_what_cannot_be_converted_exits_2_and_is_kept_as_a_comment(self):
        old = self.write("old.conf", "listen on 127.0.0.1 port 2525\n"
                                     "accept for local deliver to maildir\n"
                                     "accept for any relay via ssl://smtp.example.com\n")
        r = self.run_smtpd("--convert", old)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout,
                         "listen on 127.0.0.1 port 2525\n"
                         'action "local_maildir" maildir\n'
                         "\n"
                         'match for local action "local_maildir"\n'
                         "# not converted: ssl:// (SMTPS or STARTTLS) has no modern equivalent: "
                         "choose smtps:// or smtp+tls://\n"
                         "# accept for any relay via ssl://smtp.example.com\n")
        self.assertEqual(r.stderr,
                         "%s:3:26: not converted: ssl:// (SMTPS or STARTTLS) has no modern "
                         "equivalent: choose smtps:// or smtp+tls://\n" % old)
        new = self.write("new.conf", r.stdout)
        self.assertEqual(self.run_smtpd("-n", "-f", new).returncode, 0)

    def test_unreadable_or_unlexable_file_exits_1(self):
        missing = os.path.join(self.tmp, "missing.conf")
        r = self.run_smtpd("--convert", missing)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertEqual(r.stderr, '%s: cannot read "%s": No such file or directory\n'
                         % (missing, missing))
        bad = self.write("bad.conf", 'accept for any deliver to mda "cmd\n')
        r = self.run_smtpd("--convert", bad)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertEqual(r.stderr, '%s:1:31: unterminated string\n'
                         '  accept for any deliver to mda "cmd\n'
                         '                                ^\n' % bad)
        r = self.run_smtpd("--convert")
        self.assertEqual(r.returncode, 1)
        self.assertIn("smtpd --convert file", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
