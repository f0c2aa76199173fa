"""test/e2e/test_srs.py - SRS (`srs key`, `srs key backup`, a relay
action's `srs`) as a forwarder's users and peers see it: mail to a
forwarding address (a virtual entry sending alice@fwd.test to
alice@remote.test) reaches the next hop (test/e2e/smtp_peer.py on loopback)
with MAIL FROM:<SRS0=HHHH=TT=sender.domain=user@fwd.test>, whose hash
Python's hmac (and Mail::SRS, Debian's libmail-srs-perl) compute alike; a
bounce (MAIL FROM:<>) to that address is relayed to the original sender; a
tampered or expired one is refused at RCPT, as OpenSMTPD answers it (the
address goes on undecoded: the virtual table does not know it); mail that
was not forwarded keeps its sender, a null sender stays null, an SRS0
sender becomes SRS1; the backup key opens addresses of the previous key.
A forward from a remote client (a PROXY header from 192.0.2.10) goes out
by a `from local` rule, as OpenSMTPD matches the addresses an expansion
makes. As root, a test user's ~/.forward gets the same rewrite. Bounces
to addresses an OpenSMTPD forwarder made with the same key (its own hash:
SHA-1 of the key and the address text, computed here with hashlib) are
decoded too, SRS0 and SRS1, with the key or the backup key; tampered or
expired ones are refused as ours are. A bounce submitted with sendmail -f
'<>' (a local program's) is decoded the same way. Nothing leaves
loopback."""
import base64
import hashlib
import hmac
import os
import re
import smtplib
import subprocess
import time
import unittest

from harness import E2ETest, free_port, tool, wait_for
from smtp_peer import SmtpPeer
from test_local import make_user
from test_proxy import ProxiedSMTP, v1
from test_sendmail_personas import SMTPCTL, persona

KEY, OLD_KEY = "s3cret-today", "s3cret-last-month"

CONF = """
listen on 127.0.0.1 port {port}
listen on 127.0.0.1 port {proxied} proxy-v2
queue path "{tmp}/spool"
srs key "{key}"
{backup}
table virt {{ "alice@fwd.test" = "alice@remote.test", \\
    "list@fwd.test" = "x@remote.test, y@remote.test" }}
action "fwd" forward-only virtual <virt>
action "out" relay host smtp+notls://127.0.0.1:{peer} srs
match from any for domain "fwd.test" action "fwd"
match from local for any action "out"
"""

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def srs_hash(key, *fields):
    """HMAC-SHA1 over the lower-cased fields, base64, 4 characters."""
    mac = hmac.new(key.encode(), b"".join(f.lower().encode() for f in fields), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()[:4]


def srs0(key, local, domain, ours, days_ago=0):
    """The SRS0 address a forwarder with key makes for local@domain."""
    day = (int(time.time()) // 86400 - days_ago) % 1024
    tt = B32[day >> 5] + B32[day & 31]
    return "SRS0=%s=%s=%s=%s@%s" % (srs_hash(key, tt, domain, local), tt, domain, local, ours)


def opensmtpd_hash(key, text):
    """OpenSMTPD's srs.c: SHA-1 of the key then the text after "SRS0=HHHH="
    (its domain included, case as written), base64, 4 characters."""
    return base64.b64encode(hashlib.sha1(key.encode() + text.encode()).digest()).decode()[:4]


def opensmtpd_srs0(key, local, domain, ours, days_ago=0):
    """The SRS0 address an OpenSMTPD forwarder with key makes."""
    day = (int(time.time()) // 86400 - days_ago) % 1024
    text = "%s%s=%s=%s@%s" % (B32[day >> 5], B32[day & 31], domain, local, ours)
    return "SRS0=%s=%s" % (opensmtpd_hash(key, text), text)


def opensmtpd_srs1(key, srs0_addr, ours):
    """The SRS1 address an OpenSMTPD forwarder with key makes of an SRS0
    sender (another forwarder's)."""
    local, host = srs0_addr.rsplit("@", 1)
    text = "%s==%s@%s" % (host, local[5:], ours)
    return "SRS1=%s=%s" % (opensmtpd_hash(key, text), text)


class SrsBase(E2ETest):
    """smtpd forwarding fwd.test to the peer with `srs`; backup is the
    `srs key backup` line, if any."""
    backup = ""

    def setUp(self):
        super().setUp()
        self.port, self.proxied, self.peer_port = free_port(), free_port(), free_port()
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.d = self.smtpd(CONF.format(port=self.port, proxied=self.proxied, tmp=self.tmp,
                                        peer=self.peer_port, key=KEY, backup=self.backup),
                            wait_port=self.port)

    def send(self, sender, rcpts, smtp=None):
        with smtp or smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail(sender, rcpts, "Subject: srs\r\n\r\nbody\r\n"), {})

    def refused(self, sender, rcpt):
        """RCPT's reply code and text for rcpt after MAIL FROM:<sender>."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.mail(sender)[0], 250)
            return s.rcpt(rcpt)

    def envelopes_at_peer(self, n):
        wait_for(lambda: self.peer.messages >= n, timeout=30, what="%d messages at the peer" % n)
        return list(self.peer.envelopes)

    def forwarded_address(self):
        """The MAIL FROM the peer sees for carol's mail to alice@fwd.test."""
        self.send("carol@example.org", ["alice@fwd.test"])
        (sender, rcpt), = self.envelopes_at_peer(1)
        self.assertEqual(rcpt, "alice@remote.test")
        return sender



class Srs(SrsBase):

    def test_forwarded_mail_goes_out_with_an_srs_sender(self):
        sender = self.forwarded_address()
        self.assertEqual(sender, srs0(KEY, "carol", "example.org", "fwd.test"))
        self.assertRegex(self.d.log(), r"mta srs evpid=[0-9a-f]{16} from=<carol@example.org> "
                                       r"sender=<%s>" % re.escape(sender))
        if tool("perl") is None or not os.path.exists("/usr/share/perl5/Mail/SRS.pm"):
            self.skipTest("Mail::SRS not installed (libmail-srs-perl)")
        # a second implementation of the scheme takes it back with our key
        r = subprocess.run(["perl", "-MMail::SRS", "-e",
                            'print Mail::SRS->new(Secret => [$ARGV[0]], MaxAge => 4)'
                            '->reverse($ARGV[1])', KEY, sender],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "carol@example.org"), r.stderr)

    def test_a_bounce_reaches_the_original_sender(self):
        sender = self.forwarded_address()
        self.send("", [sender])
        envs = self.envelopes_at_peer(2)
        self.assertEqual(envs[1], ("", "carol@example.org"))
        self.assertIn("smtp srs rcpt=<%s> decoded to=<carol@example.org>" % sender, self.d.log())
        # some MTAs fold local parts: the address still decodes
        self.send("", [sender.lower()])
        self.assertEqual(self.envelopes_at_peer(3)[2], ("", "carol@example.org"))

    def test_tampered_and_expired_addresses_are_refused(self):
        good = srs0(KEY, "carol", "example.org", "fwd.test")
        tampered = good.replace("=carol@", "=mallory@")
        expired = srs0(KEY, "carol", "example.org", "fwd.test", days_ago=5)
        foreign = srs0("someone-elses-key", "carol", "example.org", "fwd.test")
        for addr, why in ((tampered, "bad hash"), (expired, "expired timestamp"),
                          (foreign, "bad hash")):
            code, text = self.refused("", addr)
            self.assertEqual(code, 550, text)
            self.assertIn("smtp srs rcpt=<%s> not decoded: %s" % (addr, why), self.d.log())
        # four days old is still valid (srs ttl's default, as OpenSMTPD)
        self.assertEqual(self.refused("", srs0(KEY, "carol", "example.org", "fwd.test",
                                               days_ago=4))[0], 250)
        # only bounces are decoded: a sender's mail to it is not
        self.assertEqual(self.refused("carol@example.org", good)[0], 550)
        self.assertEqual(self.peer.connections, 0)

    def test_mail_that_was_not_forwarded_keeps_its_sender(self):
        self.send("carol@example.org", ["dave@remote.test", "alice@fwd.test"])
        envs = self.envelopes_at_peer(2)
        # one message, two transactions: only the forwarded one is rewritten
        self.assertIn(("carol@example.org", "dave@remote.test"), envs)
        self.assertIn((srs0(KEY, "carol", "example.org", "fwd.test"), "alice@remote.test"), envs)

    def test_null_sender_stays_null_and_srs0_becomes_srs1(self):
        self.send("", ["alice@fwd.test"])
        first = srs0("another-forwarder", "carol", "example.org", "first.example")
        self.send(first, ["list@fwd.test"])
        envs = self.envelopes_at_peer(2)
        self.assertIn(("", "alice@remote.test"), envs)
        rest = first.split("@")[0][4:]             # "=HHHH=TT=example.org=carol"
        srs1 = "SRS1=%s=first.example=%s@fwd.test" % (srs_hash(KEY, "first.example", rest), rest)
        self.assertIn((srs1, "x@remote.test"), envs)
        self.assertIn((srs1, "y@remote.test"), envs)
        # its bounce goes back to the first forwarder
        self.send("", [srs1])
        self.assertEqual(self.envelopes_at_peer(3)[-1], ("", first))

    def test_a_forward_from_a_remote_client_goes_out(self):
        smtp = ProxiedSMTP(v1("192.0.2.10"), "127.0.0.1", self.proxied, timeout=30)
        self.send("carol@example.org", ["alice@fwd.test"], smtp=smtp)
        (sender, rcpt), = self.envelopes_at_peer(1)
        self.assertEqual((sender, rcpt), (srs0(KEY, "carol", "example.org", "fwd.test"),
                                          "alice@remote.test"))
        # while the same client may not relay itself
        with ProxiedSMTP(v1("192.0.2.10"), "127.0.0.1", self.proxied, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("carol@example.org")
            self.assertEqual(s.rcpt("dave@remote.test")[0], 550)

    def test_a_bounce_to_an_opensmtpd_address_reaches_the_original_sender(self):
        # mail this host forwarded before it ran ringmta, with the same key
        addr = opensmtpd_srs0(KEY, "carol", "example.org", "fwd.test", days_ago=3)
        self.assertNotEqual(addr, srs0(KEY, "carol", "example.org", "fwd.test", days_ago=3))
        self.send("", [addr])
        self.assertEqual(self.envelopes_at_peer(1), [("", "carol@example.org")])
        self.assertIn("smtp srs rcpt=<%s> decoded to=<carol@example.org>" % addr, self.d.log())
        # SRS1 (an OpenSMTPD second forwarder): back to the first one
        first = srs0("another-forwarder", "carol", "example.org", "first.example")
        srs1 = opensmtpd_srs1(KEY, first, "fwd.test")
        self.send("", [srs1])
        self.assertEqual(self.envelopes_at_peer(2)[1], ("", first))

    def test_tampered_and_expired_opensmtpd_addresses_are_refused(self):
        good = opensmtpd_srs0(KEY, "carol", "example.org", "fwd.test")
        srs1 = opensmtpd_srs1(KEY, srs0("x", "carol", "example.org", "first.example"), "fwd.test")
        cases = ((good.replace("=carol@", "=mallory@"), "bad hash"),
                 # its hash covers our domain as written, and keeps its case
                 (good.replace("@fwd.test", "@FWD.test"), "bad hash"),
                 (good[:5] + good[5:9].swapcase() + good[9:], "bad hash"),
                 (srs1.replace("=first.example=", "=evil.example="), "bad hash"),
                 (opensmtpd_srs0(KEY, "carol", "example.org", "fwd.test", days_ago=5),
                  "expired timestamp"),
                 (opensmtpd_srs0("someone-elses-key", "carol", "example.org", "fwd.test"),
                  "bad hash"))
        for addr, why in cases:
            code, text = self.refused("", addr)
            self.assertEqual(code, 550, addr + " " + text.decode())
            self.assertIn("smtp srs rcpt=<%s> not decoded: %s" % (addr, why), self.d.log())
        self.assertEqual(self.peer.connections, 0)

    def test_a_bounce_submitted_with_sendmail_is_decoded(self):
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        env = dict(os.environ, SMTPD_CONF=self.d.conf)
        ours = srs0(KEY, "carol", "example.org", "fwd.test")
        theirs = opensmtpd_srs0(KEY, "dave", "example.org", "fwd.test")
        msg = b"Subject: bounce\n\nundeliverable\n"

        def sendmail(sender, rcpt):
            return persona("sendmail", ["-f", sender, "--", rcpt], msg, env=env)
        for rcpt in (ours, theirs):
            r = sendmail("<>", rcpt)
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        envs = self.envelopes_at_peer(2)
        self.assertIn(("", "carol@example.org"), envs)
        self.assertIn(("", "dave@example.org"), envs)
        self.assertIn("control srs rcpt=<%s> decoded to=<carol@example.org>" % ours,
                      self.d.log())
        # a tampered one goes on undecoded: the virtual table does not know it
        bad = ours.replace("=carol@", "=mallory@")
        self.assertEqual(sendmail("<>", bad).returncode, 67)
        self.assertIn("control srs rcpt=<%s> not decoded: bad hash" % bad, self.d.log())
        # only bounces are decoded
        self.assertEqual(sendmail("erin@example.org", ours).returncode, 67)
        self.assertEqual(self.peer.messages, 2)

    def test_a_bounce_left_in_the_offline_folder_is_decoded(self):
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.d.stop()
        addr = opensmtpd_srs0(KEY, "carol", "example.org", "fwd.test", days_ago=1)
        r = persona("sendmail", ["-f", "<>", "--", addr], b"Subject: bounce\n\nx\n",
                    env=dict(os.environ, SMTPD_CONF=self.d.conf))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.d.start(wait_port=self.port)
        self.assertEqual(self.envelopes_at_peer(1), [("", "carol@example.org")])
        self.assertIn("control srs rcpt=<%s> decoded to=<carol@example.org>" % addr,
                      self.d.log())


class SrsKeyRollover(SrsBase):
    """`srs key backup`: addresses made with the previous key still decode;
    new ones are made with the new key."""
    backup = 'srs key backup "%s"' % OLD_KEY

    def test_the_backup_key_opens_old_addresses(self):
        old = srs0(OLD_KEY, "carol", "example.org", "fwd.test", days_ago=2)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("", [old], "Subject: bounce\r\n\r\nbody\r\n"), {})
            s.sendmail("erin@example.org", ["alice@fwd.test"], "Subject: new\r\n\r\nbody\r\n")
        wait_for(lambda: self.peer.messages >= 2, timeout=30, what="2 messages at the peer")
        envs = self.peer.envelopes
        self.assertIn(("", "carol@example.org"), envs)
        self.assertIn((srs0(KEY, "erin", "example.org", "fwd.test"), "alice@remote.test"), envs)
        self.assertTrue(re.search(r"srs rcpt=<SRS0=[^>]+> decoded to=<carol@example.org>",
                                  self.d.log()))
        # and so does an OpenSMTPD address made with the previous key
        self.send("", [opensmtpd_srs0(OLD_KEY, "dave", "example.org", "fwd.test", days_ago=1)])
        wait_for(lambda: self.peer.messages >= 3, timeout=30, what="3 messages at the peer")
        self.assertIn(("", "dave@example.org"), self.peer.envelopes)
        # a key neither current nor backup opens nothing
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("")
            code, _ = s.rcpt(srs0("s3cret-long-ago", "carol", "example.org", "fwd.test"))
        self.assertEqual(code, 550)


FORWARD_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
srs key "{key}"
action "home" maildir
action "out" relay host smtp+notls://127.0.0.1:{peer} srs
match from any for domain "home.test" action "home"
match from local for any action "out"
"""


class SrsDotForward(E2ETest):
    """A user's ~/.forward sending mail on to another domain: the same SRS
    sender, under the domain the mail came to."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("creating a test user needs root")
        os.makedirs(os.path.join(self.tmp, "home"))
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        u = make_user("rmsrs1", os.path.join(self.tmp, "home", "rmsrs1"))
        self.cleanups.append(lambda: subprocess.run(["userdel", "-r", "rmsrs1"],
                                                    stderr=subprocess.DEVNULL))
        fwd = os.path.join(u.pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write("rmsrs1@remote.test\n")
        os.chown(fwd, u.pw_uid, u.pw_gid)
        os.chmod(fwd, 0o644)
        self.port, self.peer_port = free_port(), free_port()
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.d = self.smtpd(FORWARD_CONF.format(port=self.port, tmp=self.tmp,
                                                peer=self.peer_port, key=KEY),
                            wait_port=self.port)

    def test_a_dot_forward_goes_out_with_an_srs_sender(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            self.assertEqual(s.sendmail("carol@example.org", ["rmsrs1@home.test"],
                                        "Subject: fwd\r\n\r\nbody\r\n"), {})
        wait_for(lambda: self.peer.messages >= 1, timeout=30, what="the message at the peer")
        self.assertEqual(self.peer.envelopes,
                         [(srs0(KEY, "carol", "example.org", "home.test"), "rmsrs1@remote.test")])


if __name__ == "__main__":
    unittest.main()
