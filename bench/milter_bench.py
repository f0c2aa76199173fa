"""bench/milter_bench.py - relaying with one milter in the path, against the
same ringmta without it, in one run (`ninja bench-milter`): run_bench.py's
rounds, sink, no-loss check, tables and private network namespace. The
milter is build/test/milter_test (test/milter/milter_test.c, Debian's
libmilter): it answers every step, counts the headers and body it is shown
and adds one header at end of message, so every message makes the whole
round of the protocol (connect, helo, mail, rcpt, data, each header, end
of header, the body, end of message) and gets a header change applied.

  2k       2 KiB messages, 20 sessions, one message per connection: each
           session opens its own milter connection
  session  2 KiB messages, 20 sessions, unlimited messages per connection

Options are run_bench.py's; the ceiling is left out unless asked for.
"""
import os
import socket
import subprocess
import sys

import benchlib
import ringmta
import run_bench

SCENARIOS = {
    "2k": run_bench.Load("2k", "2 KiB messages, 20 sessions, one message per connection",
                         2048, 20, 2000, per_conn=1, goal="msg/s with a milter against none"),
    "session": run_bench.Load("session", "2 KiB messages, 20 sessions, unlimited messages "
                              "per connection", 2048, 20, 2000, per_conn=0,
                              goal="msg/s with a milter against none"),
}

MILTER = None   # build/test/milter_test, set by main()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RingmtaMilter(ringmta.Ringmta):
    """ringmta with the test milter on its listener."""

    name = "ringmta+milter"

    def unavailable(self):
        if not os.access(MILTER, os.X_OK):
            return "%s is missing (ninja %s)" % (MILTER, MILTER)
        return super().unavailable()

    def config(self, workdir, listen_port, sink_port):
        text = super().config(workdir, listen_port, sink_port)
        text = text.replace("listen on 127.0.0.1 port %d\n" % listen_port,
                            "listen on 127.0.0.1 port %d milter bench\n" % listen_port)
        return 'milter bench "inet:127.0.0.1:%d"\n%s' % (self.milter_port, text)

    def start(self, workdir, listen_port, sink_port):
        self.milter_port = free_port()
        self.milter = subprocess.Popen([MILTER, "inet:%d@127.0.0.1" % self.milter_port],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if self.milter.stdout.readline().strip() != b"ready":
            raise benchlib.BenchError("the test milter did not start")
        super().start(workdir, listen_port, sink_port)

    def stop(self):
        notes = super().stop()
        benchlib.stop_process(self.milter, 5)
        return notes

    # The milter's end-of-message line is part of a healthy round here.
    def log_notes(self, limit=20):
        odd = [l for l in self.log_text().splitlines() if not ringmta.NORMAL_LINE.search(l)
               and " milter=bench phase=eom action=continue " not in l]
        if len(odd) > limit:
            odd = odd[:limit] + ["... and %d more unusual lines" % (len(odd) - limit)]
        return odd


def main(argv):
    global MILTER
    builddir = "build"
    for i, a in enumerate(argv):
        if a == "--builddir" and i + 1 < len(argv):
            builddir = argv[i + 1]
    MILTER = os.path.abspath(os.path.join(builddir, "test", "milter_test"))
    run_bench.SCENARIOS = SCENARIOS
    run_bench.MTA_FACTORIES = (
        ("ringmta", lambda a: ringmta.Ringmta(a.ringmta_binary)),
        ("ringmta+milter", lambda a: RingmtaMilter(a.ringmta_binary)),
    )
    run_bench.__file__ = os.path.abspath(__file__)   # the private namespace re-runs this
    if "--ceiling" in argv:
        argv = [a for a in argv if a != "--ceiling"]
    elif "--no-ceiling" not in argv:
        argv = argv + ["--no-ceiling"]
    if not any(a == "--json" or a.startswith("--json=") for a in argv):
        argv = argv + ["--json", os.path.join(builddir, "bench", "milter-results.json")]
    return run_bench.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
