"""test/e2e/test_auth.py - SMTP AUTH on the receiving side (RFC 4954):
PLAIN and LOGIN with swaks over STARTTLS and implicit TLS and with Python's
smtplib, credentials from a table of crypt(3) hashes (sha512-crypt, bcrypt,
yescrypt), AUTH offered only under TLS, a wrong password answered 535 after
a pause, the per-address failure limit (421), "*" aborting an exchange, a
user name with an encoded line feed refused, `auth` requiring AUTH before
MAIL, `senders <table>`, `received-auth`, `mask-src`, and `match auth` /
`match from auth <table>` choosing the action. Loopback only."""
import base64
import ctypes
import os
import re
import smtplib
import socket
import ssl
import subprocess
import time

from harness import E2ETest, free_port, maildir_messages, tool, wait_for
from test_tls import make_certs

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt(password, setting):
    return _libcrypt.crypt(password.encode(), setting.encode()).decode()


PASSWORDS = {"alice": "alice-secret", "bob": "bob secret 2", "carol": "carol-pw"}
CONF = """
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
table creds file:{tmp}/creds
table users {{ alice = "alice@example.org, @alias.example" }}
table bobonly {{ bob }}
listen on 127.0.0.1 port {sub} tls-require pki mail.test auth <creds> senders <users> received-auth
listen on 127.0.0.1 port {smtps} smtps pki mail.test auth-optional <creds> mask-src
listen on 127.0.0.1 port {mx} tls pki mail.test auth-optional <creds>
listen on 127.0.0.1 port {plain} auth <creds>
listen on 127.0.0.1 port {masq} tls pki mail.test auth <creds> senders <users> masquerade
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
action "authed" maildir "{tmp}/authed/%{{rcpt.user}}" user "{user}"
action "bobbox" maildir "{tmp}/bob/%{{rcpt.user}}" user "{user}"
match from auth <bobonly> for local action "bobbox"
match auth from any for local action "authed"
match from any for local action "local"
"""


def b64(raw):
    return base64.b64encode(raw).decode()


class Auth(E2ETest):

    def setUp(self):
        super().setUp()
        make_certs(self.tmp)
        self.write("creds", "alice %s\nbob %s\ncarol %s\n" % (
            crypt(PASSWORDS["alice"], "$6$saltsalt"),
            crypt(PASSWORDS["bob"], "$2b$05$abcdefghijklmnopqrstuu"),
            crypt(PASSWORDS["carol"], "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$")))
        self.sub, self.smtps, self.mx = free_port(), free_port(), free_port()
        self.plain, self.masq = free_port(), free_port()
        self.d = self.smtpd(CONF.format(tmp=self.tmp, sub=self.sub, smtps=self.smtps, mx=self.mx,
                                        plain=self.plain, masq=self.masq, user=self.user()),
                            wait_port=self.sub)

    def context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        ctx.check_hostname = False
        return ctx

    def starttls(self, port):
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        s.starttls(context=self.context())
        s.ehlo("client.test")
        return s

    def delivered(self, folder, user):
        return wait_for(lambda: maildir_messages(os.path.join(self.tmp, folder, user)),
                        what="delivery to %s/%s" % (folder, user))

    def swaks(self, port, mech, user, password, rcpt, tls="--tls"):
        r = subprocess.run([tool("swaks"), "--server", "127.0.0.1", "--port", str(port), tls,
                            "--auth", mech, "--auth-user", user, "--auth-password", password,
                            "--from", "%s@example.org" % user, "--to", rcpt,
                            "--helo", "client.test", "--body", "via swaks %s" % mech,
                            "--timeout", "30"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        return r

    def test_swaks_starttls_plain_and_login(self):
        for mech in ("PLAIN", "LOGIN"):
            r = self.swaks(self.sub, mech, "alice", PASSWORDS["alice"], "alice@localhost")
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("235 2.0.0 Authentication succeeded", r.stdout)
        msgs = wait_for(lambda: len(maildir_messages(os.path.join(self.tmp, "authed", "alice")))
                        == 2 and maildir_messages(os.path.join(self.tmp, "authed", "alice")),
                        what="two deliveries")
        self.assertIn(b"via swaks PLAIN", b"".join(msgs))
        self.assertIn(b"via swaks LOGIN", b"".join(msgs))
        self.assertRegex(self.d.log(), r"smtp authentication user=alice result=ok")

    def test_swaks_tls_on_connect_plain_and_login(self):
        for mech, user in (("PLAIN", "carol"), ("LOGIN", "carol")):
            r = self.swaks(self.smtps, mech, user, PASSWORDS[user], "carol@localhost",
                           tls="--tls-on-connect")
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("235 2.0.0 Authentication succeeded", r.stdout)
        wait_for(lambda: len(maildir_messages(os.path.join(self.tmp, "authed", "carol"))) == 2,
                 what="two deliveries")

    def test_smtplib_starttls_login_received_auth(self):
        s = self.starttls(self.sub)
        self.assertIn("auth", s.esmtp_features)
        self.assertEqual(s.login("alice", PASSWORDS["alice"])[0], 235)
        self.assertEqual(s.sendmail("alice@example.org", ["dest@localhost"],
                                    "Subject: sub\r\n\r\nsubmitted\r\n"), {})
        msg = self.delivered("authed", "dest")[0]
        received = msg.split(b"\n\n")[0].decode()
        self.assertRegex(received, r"with ESMTPSA id \w+ \(TLSv1\.3:[^)]*\) auth=yes user=alice")
        self.assertIn("from client.test (127.0.0.1 [127.0.0.1])", received)

    def test_smtp_ssl_login_mask_src_and_bcrypt(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.smtps, context=self.context(), timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.login("bob", PASSWORDS["bob"])[0], 235)
            self.assertEqual(s.sendmail("bob@example.org", ["dest@localhost"],
                                        "Subject: ssl\r\n\r\nby bob\r\n"), {})
        msg = self.delivered("bob", "dest")[0]   # match from auth <bobonly>
        header = msg.split(b"\n\n")[0].decode()
        self.assertRegex(header, r"(?m)^Received: by \S+ \(ringmta\) with ESMTPSA id")
        self.assertNotIn("127.0.0.1", header)
        self.assertNotIn("client.test", header)
        self.assertNotIn("user=bob", header, "received-auth is not on this listener")

    def test_unauthenticated_mail_goes_to_another_action(self):
        s = self.starttls(self.mx)
        self.assertEqual(s.sendmail("x@example.org", ["dest@localhost"],
                                    "Subject: anon\r\n\r\nanonymous\r\n"), {})
        msg = self.delivered("mail", "dest")[0]
        self.assertIn(b"anonymous", msg)
        self.assertIn(b"with ESMTPS id", msg)
        s.close()
        s = self.starttls(self.mx)
        s.login("carol", PASSWORDS["carol"])
        s.sendmail("carol@example.org", ["dest@localhost"], "Subject: a\r\n\r\nwith auth\r\n")
        self.assertIn(b"with auth", self.delivered("authed", "dest")[0])

    def test_auth_not_offered_before_starttls(self):
        s = smtplib.SMTP("127.0.0.1", self.mx, timeout=30)
        self.addCleanup(s.close)
        code, text = s.ehlo("client.test")
        self.assertEqual(code, 250)
        self.assertNotIn(b"AUTH", text)
        self.assertIn(b"STARTTLS", text)
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0alice\0" + PASSWORDS["alice"].encode()))
        self.assertEqual(code, 503, text)
        s.starttls(context=self.context())
        code, text = s.ehlo("client.test")
        self.assertIn(b"AUTH PLAIN LOGIN", text)

    def test_wrong_password_535_after_a_pause(self):
        s = self.starttls(self.sub)
        start = time.monotonic()
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0alice\0wrong"))
        took = time.monotonic() - start
        self.assertEqual((code, text), (535, b"5.7.8 Authentication failed"))
        self.assertGreaterEqual(took, 0.9)
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0nosuchuser\0wrong"))
        self.assertEqual(code, 535)
        self.assertRegex(self.d.log(), r"smtp authentication user=alice result=permfail")
        self.assertEqual(s.login("alice", PASSWORDS["alice"])[0], 235, "a later success")

    def test_repeated_failures_are_refused_with_421(self):
        s = self.starttls(self.sub)
        for _ in range(4):
            self.assertEqual(s.docmd("AUTH", "PLAIN " + b64(b"\0alice\0guess"))[0], 535)
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0alice\0guess"))
        self.assertEqual(code, 421, text)
        self.assertRaises(smtplib.SMTPServerDisconnected, s.noop)
        s = self.starttls(self.sub)   # the address stays blocked, right password or not
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0alice\0" + PASSWORDS["alice"].encode()))
        self.assertEqual(code, 421, text)
        self.assertIn("smtp authentication refused address=127.0.0.1", self.d.log())

    def test_star_aborts_and_the_next_exchange_starts_afresh(self):
        s = self.starttls(self.sub)
        self.assertEqual(s.docmd("AUTH", "LOGIN"), (334, b"VXNlcm5hbWU6"))
        self.assertEqual(s.docmd(b64(b"alice")), (334, b"UGFzc3dvcmQ6"))
        self.assertEqual(s.docmd("*"), (501, b"5.7.0 Authentication aborted"))
        # the password line of the aborted exchange is now an unknown command
        self.assertEqual(s.docmd(b64(PASSWORDS["alice"].encode()))[0], 500)
        self.assertEqual(s.docmd("MAIL", "FROM:<alice@example.org>")[0], 530)
        self.assertEqual(s.docmd("AUTH", "PLAIN")[0], 334)
        self.assertEqual(s.docmd(b64(b"\0alice\0" + PASSWORDS["alice"].encode()))[0], 235)

    def test_user_with_an_encoded_line_feed_is_refused(self):
        s = self.starttls(self.sub)
        code, text = s.docmd("AUTH", "PLAIN " + b64(b"\0alice\nsmtp authentication user=root "
                                                    b"result=ok\0x"))
        self.assertEqual((code, text), (501, b"5.5.2 Syntax error"))
        self.assertEqual(s.docmd("AUTH", "LOGIN " + b64(b"ali\rce"))[0], 501)
        self.assertNotIn("user=root", self.d.log())
        self.assertEqual(s.login("alice", PASSWORDS["alice"])[0], 235)

    def test_auth_required_before_mail(self):
        s = self.starttls(self.sub)
        self.assertEqual(s.docmd("MAIL", "FROM:<alice@example.org>"),
                         (530, b"5.7.0 Must issue an AUTH command first"))
        s2 = self.starttls(self.mx)   # auth-optional
        self.assertEqual(s2.docmd("MAIL", "FROM:<alice@example.org>")[0], 250)

    def test_senders_table(self):
        s = self.starttls(self.sub)
        s.login("alice", PASSWORDS["alice"])
        self.assertEqual(s.docmd("MAIL", "FROM:<bob@example.org>"),
                         (553, b"5.7.1 Sender address rejected"))
        self.assertEqual(s.docmd("MAIL", "FROM:<>")[0], 553)
        self.assertEqual(s.docmd("MAIL", "FROM:<anyone@alias.example>")[0], 250)
        s.rset()
        self.assertEqual(s.docmd("MAIL", "FROM:<alice+tag@example.org>")[0], 250)
        s.rset()
        s3 = self.starttls(self.sub)
        s3.login("carol", PASSWORDS["carol"])   # no entry in the senders table
        self.assertEqual(s3.docmd("MAIL", "FROM:<carol@example.org>")[0], 553)



    def test_plain_text_auth_on_a_loopback_listener(self):
        s = smtplib.SMTP("127.0.0.1", self.plain, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        self.assertIn("auth", s.esmtp_features)            # no STARTTLS needed on loopback
        self.assertNotIn("starttls", s.esmtp_features)
        self.assertEqual(s.mail("alice@example.org")[0], 530)   # auth: AUTH before MAIL
        self.assertEqual(s.login("alice", PASSWORDS["alice"])[0], 235)
        self.assertEqual(s.sendmail("alice@example.org", ["plain@localhost"], "S: p\r\n\r\nx\r\n"),
                         {})
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "authed", "plain")),
                 what="mail after plain-text AUTH on loopback")

    def test_masquerade_rewrites_the_from_header(self):
        s = self.starttls(self.masq)
        s.login("alice", PASSWORDS["alice"])
        msg = ("From: Alice A. <spoofed@elsewhere.example>\r\nTo: m@localhost\r\n"
               "Subject: masq\r\n\r\nFrom: a line of the body\r\n")
        self.assertEqual(s.sendmail("team@alias.example", ["masq@localhost"], msg), {})
        box = os.path.join(self.tmp, "authed", "masq")
        wait_for(lambda: maildir_messages(box), what="the masqueraded message")
        got = maildir_messages(box)[0].decode()
        self.assertIn("\nFrom: Alice A. <team@alias.example>\n", got)
        self.assertNotIn("spoofed@", got)
        self.assertIn("\nFrom: a line of the body\n", got)     # the body is left alone
        self.assertEqual(s.mail("mallory@evil.example")[0], 553)  # senders still apply

SYSCONF = """
smtp limit max-auth-failures 0
pki mail.test cert "{tmp}/mail.crt" key "{tmp}/mail.key"
listen on 127.0.0.1 port {port} tls pki mail.test auth
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match auth from any for local action "local"
"""


class SystemUsers(E2ETest):
    """Plain `auth`: the system's users, checked through PAM by the root
    helper's child (a test user the test makes with a password)."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("making a user with a password needs root")
        subprocess.run(["userdel", "-r", "rmauth"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "rmauth"],
                       check=True)
        self.cleanups.append(lambda: subprocess.run(["userdel", "rmauth"],
                                                    stderr=subprocess.DEVNULL))
        subprocess.run(["chpasswd"], input=b"rmauth:Sys-Secret 9\n", check=True)
        make_certs(self.tmp)
        self.port = free_port()
        self.d = self.smtpd(SYSCONF.format(tmp=self.tmp, port=self.port, user=self.user()),
                            wait_port=self.port)

    def session(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.crt"))
        ctx.check_hostname = False
        s.starttls(context=ctx)
        s.ehlo("client.test")
        return s

    def test_system_password_through_pam(self):
        s = self.session()
        self.assertEqual(s.login("rmauth", "Sys-Secret 9")[0], 235)
        self.assertEqual(s.sendmail("rmauth@example.org", ["box@localhost"], "S: x\r\n\r\ny\r\n"), {})
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "box")),
                 what="mail after a system user's AUTH")
        for user, pw in (("rmauth", "wrong"), ("no-such-user-rm", "x"), ("root", "")):
            s = self.session()
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.login(user, pw)
            self.assertIn(e.exception.smtp_code, (535, 501), user)
        subprocess.run(["usermod", "--lock", "rmauth"], check=True)
        s = self.session()
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            s.login("rmauth", "Sys-Secret 9")
        log = self.d.log()
        self.assertIn("smtp authentication user=rmauth result=ok", log)
        self.assertIn("smtp authentication user=rmauth result=permfail", log)


if __name__ == "__main__":
    import unittest
    unittest.main()
