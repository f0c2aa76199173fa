"""test/e2e/postfix_peer.py - a private Postfix instance as the receiving MTA
of relay tests: it listens on 127.0.0.1:PORT, offers STARTTLS with a
certificate the test made, can require AUTH (Cyrus SASL with a sasldb file
the test fills: PLAIN and LOGIN, only under TLS), and delivers mail for
peer.test into one maildir through virtual(8). Started, checked and stopped
by bench/postfix.py's Postfix class (a private config folder, its own queue
and maillog; the system's Postfix and port 25 are left alone)."""
import glob
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench"))

import postfix  # noqa: E402

SASLPASSWD2 = "/usr/sbin/saslpasswd2"
SASL_PLAIN = (glob.glob("/usr/lib/*/sasl2/libplain.so") or ["/usr/lib/sasl2/libplain.so"])[0]
DOMAIN = "peer.test"

MAIN_CF = """\
# Private test instance: the receiving MTA for {domain}.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
myhostname = mx.{domain}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks =
maillog_file = {maillog}
maillog_file_prefixes = {base}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = {tls_level}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_relay_restrictions = {restrictions}
"""

SASL_CF = """\
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {conf}
smtpd_sasl_local_domain = {domain}
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous
"""

SASL_SMTPD_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: {mechs}
sasldb_path: {sasldb}
"""


def unavailable():
    """None when a private Postfix with Cyrus SASL can run here, else why not."""
    why = postfix.Postfix().unavailable()
    if why is not None:
        return why
    for path, pkg in ((SASLPASSWD2, "sasl2-bin"), (SASL_PLAIN, "libsasl2-modules")):
        if not os.path.exists(path):
            return "%s is missing (apt-get install %s)" % (path, pkg)
    return None


class PostfixPeer(postfix.Postfix):
    """Postfix receiving mail for peer.test: users {name: password} makes
    AUTH required (PLAIN and LOGIN, or mechs), else any client may send."""

    name = "postfix-peer"

    def __init__(self, cert, key, users=None, mechs=("PLAIN", "LOGIN"), tls_level="may"):
        super().__init__()
        self.cert, self.key = cert, key
        self.users, self.mechs, self.tls_level = users, mechs, tls_level

    def write_config(self, base, listen_port, sink_port):
        super().write_config(base, listen_port, sink_port)
        self.mail = os.path.join(base, "mail")
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.mail)
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        restrictions = ("permit_sasl_authenticated, reject" if self.users
                        else "reject_unauth_destination")
        text = MAIN_CF.format(domain=DOMAIN, queue=os.path.join(base, "queue"),
                              data=os.path.join(base, "data"), maillog=self.maillog, base=base,
                              mail=self.mail, uid=nobody.pw_uid, gid=nobody.pw_gid,
                              cert=self.cert, key=self.key, tls_level=self.tls_level,
                              restrictions=restrictions)
        if self.users:
            sasldb = os.path.join(base, "sasldb2")
            # Debian's Postfix reads CONFIG_DIRECTORY/sasl/smtpd.conf
            sasl_dir = os.path.join(self.conf, "sasl")
            os.makedirs(sasl_dir)
            text += SASL_CF.format(conf=sasl_dir, domain=DOMAIN)
            with open(os.path.join(sasl_dir, "smtpd.conf"), "w") as f:
                f.write(SASL_SMTPD_CONF.format(mechs=" ".join(self.mechs), sasldb=sasldb))
            for user, password in self.users.items():
                subprocess.run([SASLPASSWD2, "-p", "-c", "-f", sasldb, "-u", DOMAIN, user],
                               input=password.encode(), check=True, timeout=30)
            pf = pwd.getpwnam("postfix")
            os.chown(sasldb, pf.pw_uid, pf.pw_gid)
            os.chmod(sasldb, 0o600)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(text)

    def messages(self):
        """The messages delivered, as bytes, in the order of their names."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, "box", sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out
