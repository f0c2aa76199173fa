"""test/e2e/test_relay_options.py - a relay action's session options as
the receiving peer sees them (test/e2e/smtp_peer.py records each EHLO name,
MAIL FROM and client address): `helo`, `mail-from` (whole, and @domain
keeping the user), `src` rotating over 127.0.0.2 and 127.0.0.3 (all of
127.0.0.0/8 is loopback on Linux), `helo-src` naming us by the source
address, `domain <table>` routing by recipient domain; and `backup mx
NAME` over dnsmasq on loopback, relaying only to MX hosts preferred over
NAME. Nothing leaves loopback."""
import os
import smtplib

from harness import E2ETest, free_port, port_open, tool, wait_for
from smtp_peer import SmtpPeer
from test_mx import DnsMasq

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
mta limit session-mail-max 1
table routes {{ example.net = "smtp+notls://127.0.0.1:{peer}" }}
action "opts" relay host smtp://127.0.0.1:{peer} helo out.example \\
    mail-from "bounces@relay.example" src {{ 127.0.0.2, 127.0.0.3 }}
action "keepuser" relay host smtp://127.0.0.1:{peer} mail-from "@relay.example"
action "bysrc" relay host smtp://127.0.0.1:{peer} src 127.0.0.3 \\
    helo-src {{ 127.0.0.3 = three.example }}
action "bydomain" relay domain <routes>
match from local for domain "opts.test" action "opts"
match from local for domain "keepuser.test" action "keepuser"
match from local for domain "bysrc.test" action "bysrc"
match from local for domain "example.net" action "bydomain"
match from local for domain "unrouted.test" action "bydomain"
"""


class RelayOptions(E2ETest):

    def setUp(self):
        super().setUp()
        self.port, self.peer_port = free_port(), free_port()
        self.peer = SmtpPeer(self.peer_port)
        self.cleanups.append(self.peer.stop)
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, peer=self.peer_port),
                            wait_port=self.port)

    def send(self, rcpt, n=1, sender="alice@example.org"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for i in range(n):
                self.assertEqual(s.sendmail(sender, [rcpt],
                                            "Subject: opt %d\r\n\r\nbody\r\n" % i), {})

    def test_helo_mail_from_and_source_addresses(self):
        self.send("u@opts.test", 4)
        wait_for(lambda: self.peer.messages >= 4, timeout=30, what="4 messages at the peer")
        self.assertEqual(set(self.peer.helos), {"out.example"})
        self.assertEqual(self.peer.mail_froms, ["bounces@relay.example"] * 4)
        # session-mail-max 1: a connection per message, from each address in turn
        self.assertEqual(set(self.peer.sources), {"127.0.0.2", "127.0.0.3"}, self.peer.sources)

    def test_mail_from_domain_keeps_the_user(self):
        self.send("u@keepuser.test", sender="carol@example.org")
        wait_for(lambda: self.peer.messages >= 1, timeout=30, what="the message at the peer")
        self.assertEqual(self.peer.mail_froms, ["carol@relay.example"])
        self.assertNotIn("out.example", self.peer.helos)

    def test_helo_src_names_us_by_the_source_address(self):
        self.send("u@bysrc.test")
        wait_for(lambda: self.peer.messages >= 1, timeout=30, what="the message at the peer")
        self.assertEqual(self.peer.sources, ["127.0.0.3"])
        self.assertEqual(self.peer.helos, ["three.example"])

    def test_domain_table_routes_by_recipient_domain(self):
        self.send("u@example.net")
        wait_for(lambda: self.peer.messages >= 1, timeout=30, what="the message at the peer")
        self.send("u@unrouted.test")
        log = wait_for(lambda: "no relay host for domain unrouted.test" in self.d.log() and
                       self.d.log(), timeout=30, what="the unrouted domain deferred")
        self.assertIn("result=TempFail", log)
        self.assertEqual(self.peer.messages, 1)


BACKUP_CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
action "backup" relay backup mx mx2.backup.test
action "primary" relay backup mx mx1.backup.test
match from local for domain "backup.test" action "backup"
match from local for domain "primary.test" action "primary"
"""


class BackupMx(E2ETest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("MX hosts listen on port 25: needs root")
        if tool("dnsmasq") is None:
            self.skipTest("dnsmasq not installed (dnsmasq-base)")
        for addr in ("127.0.0.2", "127.0.0.4"):
            if port_open(25, addr):
                self.skipTest("something listens on %s:25 already" % addr)
        self.dns_port = free_port()
        dns = DnsMasq(self.dns_port, [
            "--mx-host=backup.test,mx1.backup.test,10",
            "--mx-host=backup.test,mx2.backup.test,20",
            "--mx-host=backup.test,mx3.backup.test,30",
            "--host-record=mx1.backup.test,127.0.0.2",
            "--host-record=mx2.backup.test,127.0.0.3",
            "--host-record=mx3.backup.test,127.0.0.4",
            "--mx-host=primary.test,mx1.backup.test,10",
            "--mx-host=primary.test,mx2.backup.test,20"])
        self.cleanups.append(dns.stop)
        self.port = free_port()
        env = dict(os.environ, RINGMTA_RESOLVERS="127.0.0.1:%d" % self.dns_port)
        self.d = self.smtpd(BACKUP_CONF.format(port=self.port, tmp=self.tmp), env=env,
                            wait_port=self.port)

    def send(self, rcpt="u@backup.test"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("a@example.org", [rcpt], "Subject: b\r\n\r\nbackup\r\n")

    def peer_on(self, addr):
        p = SmtpPeer(25, host=addr)
        self.cleanups.append(p.stop)
        return p

    def test_relays_to_the_more_preferred_mx(self):
        mx1, mx3 = self.peer_on("127.0.0.2"), self.peer_on("127.0.0.4")
        self.send()
        wait_for(lambda: mx1.messages >= 1, timeout=30, what="the message at mx1")
        self.assertEqual(mx3.connections, 0)

    def test_never_to_a_less_preferred_mx(self):
        mx3 = self.peer_on("127.0.0.4")           # less preferred than us, and up
        self.send()                                # mx1 is down: the mail waits
        log = wait_for(lambda: "result=TempFail" in self.d.log() and self.d.log(),
                       timeout=30, what="the delivery deferred")
        self.assertIn("mx1.backup.test", log)
        self.assertEqual(mx3.connections, 0)

    def test_the_most_preferred_mx_does_not_relay(self):
        mx1 = self.peer_on("127.0.0.2")
        self.send("u@primary.test")
        log = wait_for(lambda: "result=TempFail" in self.d.log() and self.d.log(),
                       timeout=30, what="the delivery deferred")
        self.assertIn("we are its most preferred MX host", log)
        self.assertEqual(mx1.connections, 0)
