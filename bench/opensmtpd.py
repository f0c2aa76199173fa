"""bench/opensmtpd.py - OpenSMTPD (/usr/sbin/smtpd from Debian's opensmtpd
package) as an MTA under test. Same smtpd.conf grammar and maillog lines as
ringmta, so it reuses bench/ringmta.py; the differences: the binary, no
`queue path` (OpenSMTPD's queue is fixed at /var/spool/smtpd, so the round
refuses to start when that queue holds anything), and readiness is the 220
greeting alone. Skipped with a message when the package is not installed
(Debian cannot install it beside Postfix).
"""
import os
import subprocess

import benchlib
import ringmta

OPENSMTPD = "/usr/sbin/smtpd"
SPOOL_DIRS = ("/var/spool/smtpd/queue", "/var/spool/smtpd/incoming")


class OpenSmtpd(ringmta.Ringmta):
    """OpenSMTPD run in the foreground with -d."""

    name = "opensmtpd"
    ready_line = None

    def __init__(self, ringmta_binary):
        super().__init__(OPENSMTPD)
        self.ringmta_binary = ringmta_binary

    # Returns None when /usr/sbin/smtpd is OpenSMTPD and may run, else why not.
    def unavailable(self):
        if not os.path.exists(OPENSMTPD):
            return ("OpenSMTPD is not installed (%s is missing; Debian's opensmtpd "
                    "package conflicts with postfix)" % OPENSMTPD)
        if os.path.exists(self.ringmta_binary) and os.path.samefile(OPENSMTPD,
                                                                    self.ringmta_binary):
            return "%s is ringmta's own binary, not OpenSMTPD" % OPENSMTPD
        if not is_opensmtpd(OPENSMTPD):
            return "%s is not OpenSMTPD (not from the opensmtpd package)" % OPENSMTPD
        if os.geteuid() != 0:
            return "OpenSMTPD must be started as root"
        return None

    # OpenSMTPD has no `queue path`: its queue is the system's.
    def config(self, workdir, listen_port, sink_port):
        return ringmta.CONF_TEMPLATE.format(listen_port=listen_port, sink_port=sink_port,
                                            queue_line="")

    # Refuses to run over a queue that is not empty, then starts as ringmta does.
    def start(self, workdir, listen_port, sink_port):
        for d in SPOOL_DIRS:
            if os.path.isdir(d) and any(os.scandir(d)):
                raise benchlib.BenchError("OpenSMTPD's queue %s is not empty" % d)
        super().start(workdir, listen_port, sink_port)


def is_opensmtpd(path):
    """Return True when dpkg says path belongs to opensmtpd, or (for a build
    outside dpkg) when the binary names itself OpenSMTPD."""
    try:
        done = subprocess.run(["dpkg-query", "-S", path], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=10)
        if done.returncode == 0:
            return done.stdout.startswith(b"opensmtpd")
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        with open(path, "rb") as f:
            return b"OpenSMTPD" in f.read()
    except OSError:
        return False
