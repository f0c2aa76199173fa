"""bench/tls_bench.py - relaying over STARTTLS, ringmta against Postfix in the
same run (`ninja bench-tls`): run_bench.py's rounds, sink, no-loss check,
tables and private network namespace, with each MTA's listener offering
STARTTLS on a certificate made here by the openssl command line and mtaload
sending --starttls. Two scenarios, 2 KiB messages over 20 sessions:

  handshakes  one message per connection, so one TLS handshake per message:
              messages/s is TLS handshakes/s
  starttls    unlimited messages per connection: one handshake per session,
              messages/s over TLS

Postfix: smtpd_tls_security_level = may with the same certificate (its
default session cache and tickets). ringmta: `listen on ... tls pki bench`.
Options are run_bench.py's; the ceiling is left out (the sink speaks no TLS).
"""
import os
import subprocess
import sys

import postfix
import ringmta
import run_bench

SCENARIOS = {
    "handshakes": run_bench.Load("handshakes", "STARTTLS, one message per connection "
                                 "(TLS handshakes/s), 2 KiB, 20 sessions", 2048, 20, 2000,
                                 per_conn=1, goal="handshakes/s against Postfix"),
    "starttls": run_bench.Load("starttls", "2 KiB messages over STARTTLS, one handshake "
                               "per session, 20 sessions", 2048, 20, 2000, per_conn=0,
                               goal="msg/s and CPU against Postfix"),
}


def make_cert(workdir):
    """A self-signed P-256 certificate for bench.example in workdir; returns
    (cert, key) paths."""
    cert, key = os.path.join(workdir, "bench.crt"), os.path.join(workdir, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=bench.example"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class RingmtaTls(ringmta.Ringmta):
    """ringmta with STARTTLS offered on its listener."""

    def config(self, workdir, listen_port, sink_port):
        cert, key = make_cert(workdir)
        text = super().config(workdir, listen_port, sink_port)
        text = text.replace("listen on 127.0.0.1 port %d\n" % listen_port,
                            "listen on 127.0.0.1 port %d tls pki bench\n" % listen_port)
        return 'pki bench cert "%s" key "%s"\n%s' % (cert, key, text)

    # The handshake's line is part of a healthy round here.
    def log_notes(self, limit=20):
        return [l for l in super().log_notes(limit) if " smtp tls ciphers=" not in l]


class PostfixTls(postfix.Postfix):
    """Postfix with STARTTLS offered by its smtpd."""

    def write_config(self, base, listen_port, sink_port):
        super().write_config(base, listen_port, sink_port)
        cert, key = make_cert(base)
        with open(os.path.join(self.conf, "main.cf"), "a") as f:
            f.write("smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\n"
                    "smtpd_tls_key_file = %s\nsmtpd_tls_loglevel = 0\n" % (cert, key))


def make_driver(args, load, workdir, port):
    """run_bench's mtaload, sending STARTTLS before each transaction's session."""
    source = plain_make_driver(args, load, workdir, port)
    source.argv[-1:-1] = ["--starttls"]
    return source


plain_make_driver = run_bench.make_driver


def main(argv):
    run_bench.SCENARIOS = SCENARIOS
    run_bench.MTA_FACTORIES = (
        ("ringmta", lambda a: RingmtaTls(a.ringmta_binary)),
        ("postfix", lambda a: PostfixTls()),
    )
    run_bench.make_driver = make_driver
    run_bench.__file__ = os.path.abspath(__file__)   # the private namespace re-runs this
    if "--mta" not in argv:      # OpenSMTPD is not part of this comparison
        argv = argv + ["--mta", "ringmta", "--mta", "postfix"]
    if "--no-ceiling" not in argv:
        argv = argv + ["--no-ceiling"]
    if not any(a == "--json" or a.startswith("--json=") for a in argv):
        builddir = "build"
        for i, a in enumerate(argv):
            if a == "--builddir" and i + 1 < len(argv):
                builddir = argv[i + 1]
        argv = argv + ["--json", os.path.join(builddir, "bench", "tls-results.json")]
    return run_bench.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
