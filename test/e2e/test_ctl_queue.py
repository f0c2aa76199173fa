"""test/e2e/test_ctl_queue.py - smtpctl against a queue with deferred mail
(the smart host is down): show queue in OpenSMTPD's format and as JSON,
show envelope, schedule, remove, show stats and status, pause and resume
smtp observed on the listener; an unprivileged user refused the privileged
commands and shown only its own messages; a malformed request drops only
that client."""
import json
import os
import pwd
import re
import smtplib
import socket
import subprocess

from harness import BUILD, E2ETest, as_nobody, free_port, wait_for

SMTPCTL = os.path.join(BUILD, "smtpctl")

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table out {{ "example.net" }}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
action "out" relay host smtp://127.0.0.1:{sink}
match from any for local action "local"
match from local for domain <out> action "out"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)

LINE = re.compile(r"^(?P<evpid>[0-9a-f]{16})\|inet4\|mta\|\|from@example\.org\|"
                  r"(?P<rcpt>[a-z]+@example\.net)\|(?P=rcpt)\|(?P<created>\d+)\|(?P<expire>\d+)\|"
                  r"0\|(?P<retry>\d+)\|pending\|-?\d+\|.*refused.*$")


class SmtpctlDeferredQueue(E2ETest):

    def setUp(self):
        super().setUp()
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        self.port, self.sink_port = free_port(), free_port()
        env = dict(os.environ)
        env.pop("RINGMTA_RETRY_BASE_S", None)      # deferred mail stays deferred
        self.d = self.smtpd(CONF.format(port=self.port, tmp=self.tmp, sink=self.sink_port),
                            wait_port=self.port, env=env)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for rcpt in ("a@example.net", "b@example.net"):
                s.sendmail("from@example.org", [rcpt], "Subject: deferred\r\n\r\nwaits\r\n")
        wait_for(lambda: self.d.log().count("result=TempFail") >= 2, timeout=20,
                 what="two deferred envelopes")

    def ctl(self, *args, want_rc=0, user=None):
        return self.smtpctl(*args, want_rc=want_rc, user=user)

    def queue(self):
        return [l for l in self.ctl("show", "queue").stdout.splitlines() if l]

    def wait_route_back(self):
        """The refused route is skipped for a while (route backoff): wait
        until smtpctl show routes says it is usable again."""
        wait_for(lambda: all(r["timeout"] == "-" for r in
                             json.loads(self.ctl("--json", "show", "routes").stdout)),
                 timeout=30, interval=0.5, what="the route's backoff over")

    def test_show_queue_opensmtpd_format_and_json(self):
        lines = self.queue()
        self.assertEqual(len(lines), 2, lines)
        for l in lines:
            m = LINE.match(l)
            self.assertIsNotNone(m, l)
            self.assertEqual(int(m.group("expire")) - int(m.group("created")), 4 * 24 * 3600)
            self.assertGreaterEqual(int(m.group("retry")), 1)
        self.assertEqual(sorted(LINE.match(l).group("rcpt") for l in lines),
                         ["a@example.net", "b@example.net"])
        doc = json.loads(self.ctl("show", "queue", "--json").stdout)
        self.assertEqual(len(doc), 2)
        self.assertEqual({e["evpid"] for e in doc}, {l.split("|")[0] for l in lines})
        self.assertIsInstance(doc[0]["retry"], int)
        self.assertEqual(doc[0]["agent"], "mta")

    def test_show_envelope(self):
        evpid = self.queue()[0].split("|")[0]
        out = self.ctl("show", "envelope", evpid).stdout
        self.assertIn("evpid: %s\n" % evpid, out)
        self.assertIn("msgid: %s\n" % evpid[:8], out)
        self.assertRegex(out, r"\nrcpt: [ab]@example\.net\n")
        self.assertRegex(out, r"\nerrorline: .*refused")
        self.assertNotIn("dsn-", out)   # unset fields are left out, as OpenSMTPD does
        doc = json.loads(self.ctl("--json", "show", "envelope", evpid).stdout)
        self.assertEqual(doc["evpid"], evpid)
        r = self.ctl("show", "envelope", "0123456789abcdef", want_rc=1)
        self.assertIn("no such envelope", r.stderr)

    def test_show_envelope_has_the_dsn_parameters(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("from@example.org", ["dsn@example.net"], b"Subject: d\r\n\r\nd\r\n",
                       mail_options=["RET=HDRS", "ENVID=env+2B1", "BODY=8BITMIME"],
                       rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Dsn@example.net"])
        wait_for(lambda: self.d.log().count("result=TempFail") >= 3, timeout=20,
                 what="the third deferred envelope")
        evpid = [l for l in self.queue() if "|dsn@example.net|" in l][0].split("|")[0]
        out = self.ctl("show", "envelope", evpid).stdout
        for want in ("dsn-notify: success,delay\n", "dsn-ret: hdrs\n", "dsn-envid: env+1\n",
                     "dsn-orcpt: rfc822;Dsn@example.net\n", "body: 8bitmime\n"):
            self.assertIn(want, out)
        self.assertNotIn("smtputf8", out)

    def test_schedule_one_retries_now_then_all_delivers(self):
        before = self.d.log().count("result=TempFail")
        evpid = self.queue()[0].split("|")[0]
        self.assertEqual(self.ctl("schedule", evpid).stdout, "1 envelope scheduled\n")
        wait_for(lambda: self.d.log().count("result=TempFail") >= before + 1, timeout=15,
                 what="a new attempt after schedule")
        sink = self.sink(self.sink_port)
        self.wait_route_back()
        self.assertEqual(self.ctl("schedule", "all").stdout, "2 envelopes scheduled\n")
        wait_for(lambda: self.d.log().count("result=Ok") >= 2, timeout=20,
                 what="both delivered after schedule all")
        self.assertEqual(len(sink.messages()), 2)
        wait_for(lambda: self.queue() == [], what="an empty queue")

    def test_remove_by_evpid_msgid_and_all(self):
        lines = self.queue()
        first, second = lines[0].split("|")[0], lines[1].split("|")[0]
        self.assertEqual(self.ctl("remove", first).stdout, "1 envelope removed\n")
        self.assertEqual([l.split("|")[0] for l in self.queue()], [second])
        self.assertEqual(self.ctl("remove", first).stdout, "0 envelope removed\n")
        self.assertEqual(self.ctl("remove", second[:8]).stdout, "1 envelope removed\n")
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.ctl("remove", "all").stdout, "0 envelope removed\n")
        self.assertIn("envelope removed by uid", self.d.log())
        # the sink comes up: a new message goes through, nothing removed does
        sink = self.sink(self.sink_port)
        self.wait_route_back()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("from@example.org", ["c@example.net"], "Subject: new\r\n\r\nnew\r\n")
        wait_for(lambda: "to=<c@example.net>" in self.d.log() and "result=Ok" in self.d.log(),
                 timeout=20, what="the new message delivered")
        msgs = sink.messages()
        self.assertEqual(len(msgs), 1, msgs)
        self.assertIn(b"X-Rcpt-Args: <c@example.net>", msgs[0])
        self.ctl("remove", "nonsense", want_rc=1)

    def test_show_stats_and_status(self):
        out = self.ctl("show", "stats").stdout
        stats = dict(l.split("=", 1) for l in out.splitlines())
        self.assertEqual(stats["scheduler.envelope"], "2")
        self.assertIn("uptime", stats)
        self.assertRegex(stats["uptime.human"], r"^(\d+[dhms])+$")
        self.assertEqual(list(stats), sorted(stats))            # OpenSMTPD's order
        self.assertEqual(int(stats["smtp.session"]),
                         sum(int(v) for k, v in stats.items() if k.endswith(".session")
                             and k.startswith("ringmta.shard.")))
        doc = json.loads(self.ctl("show", "stats", "--json").stdout)
        self.assertEqual(doc["scheduler.envelope"], 2)
        self.assertEqual(self.ctl("show", "status").stdout,
                         "MDA running\nMTA running\nSMTP running\n")

    def banner(self, timeout):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                return s.recv(100)
            except socket.timeout:
                return b""

    def test_pause_and_resume_smtp(self):
        self.assertEqual(self.ctl("pause", "smtp").stdout, "command succeeded\n")
        self.assertIn("SMTP paused", self.ctl("show", "status").stdout)
        self.assertEqual(self.banner(1.5), b"")                  # waits in the backlog
        self.ctl("resume", "smtp")
        self.assertTrue(self.banner(5).startswith(b"220 "))
        self.assertIn("SMTP running", self.ctl("show", "status").stdout)

    def test_pause_mda_needs_the_scheduler_hook(self):
        r = subprocess.run([SMTPCTL, "-f", self.d.conf, "pause", "mta"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if r.returncode == 69:
            self.assertIn("not available yet", r.stderr)
            self.skipTest("pause mta|mda: core/delivery.c has no control hook yet")
        self.assertEqual(r.stdout, "command succeeded\n")
        self.assertIn("MTA paused", self.ctl("show", "status").stdout)
        self.ctl("resume", "mta")

    def test_unprivileged_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run smtpctl as nobody")
        for args in (("show", "stats"), ("schedule", "all"), ("remove", "all"),
                     ("pause", "smtp"), ("reload",), ("log", "verbose"), ("show", "status")):
            r = self.ctl(*args, want_rc=1, user="nobody")
            self.assertIn("permission denied", r.stderr)
        self.assertEqual(len(self.queue()), 2)                   # nothing removed
        self.assertEqual(self.ctl("show", "queue", user="nobody").stdout, "")
        r = subprocess.run(["sendmail", "-i", "nobodys@example.net"], executable=SMTPCTL,
                           input=b"Subject: mine\n\nx\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, preexec_fn=as_nobody, timeout=30,
                           env=dict(os.environ, SMTPD_CONF=self.d.conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = wait_for(lambda: self.ctl("show", "queue", user="nobody").stdout, what="own mail")
        self.assertEqual(len(mine.splitlines()), 1, mine)
        self.assertIn("|local|mta||nobody@", mine)
        self.assertIn("refused show-stats for uid 65534", self.d.log())

    def test_malformed_request_drops_only_that_client(self):
        sock = os.path.join(self.tmp, "spool", "smtpd.sock")
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o666)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(s.recv(100), b"")                   # dropped
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock)
            # version 1, type 1 (show queue), one string where none belongs
            frame = bytes([1, 1, 0, 0]) + bytes(8) + bytes(4) + b"\x00\x01" + \
                b"\x00\x00\x00\x01x" + bytes(4)
            s.sendall(len(frame).to_bytes(4, "big") + frame)
            self.assertEqual(s.recv(100), b"")
        log = self.d.log()
        self.assertIn("malformed request", log)
        self.assertIn("over a size limit", log)
        self.assertIn("wrong number of strings", log)
        self.assertEqual(len(self.queue()), 2)                   # still serving

    def test_reload_and_log_level(self):
        self.assertEqual(self.ctl("reload").stdout, "command succeeded\n")
        wait_for(lambda: "reload: configuration" in self.d.log(), what="the reload")
        self.ctl("log", "verbose")
        self.assertIn("control: log verbose", self.d.log())
        self.ctl("log", "brief")
        r = self.ctl("spf", "walk", want_rc=69)
        self.assertIn("not available yet", r.stderr)
        self.ctl("frobnicate", want_rc=1)

    def test_monitor_counts_what_happens(self):
        p = subprocess.Popen([SMTPCTL, "-f", self.d.conf, "monitor", "4"], stdout=subprocess.PIPE,
                             text=True)
        first = [p.stdout.readline() for _ in range(3)]   # the header and the absolute line
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("from@example.org", ["c@example.net"], "Subject: d\r\n\r\nx\r\n")
        out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        lines = "".join(first).splitlines() + out.splitlines()
        self.assertEqual(lines[1].split(), ["curr", "conn", "disc", "curr", "enq", "deq", "ok",
                                            "tmpfail", "prmfail", "loop", "expire", "remove",
                                            "bounce"])
        rows = [[int(x) for x in l.split()] for l in lines[2:]]
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0][3], 2)                    # the two deferred envelopes
        self.assertEqual(sum(r[1] for r in rows[1:]), 1)   # one new client
        self.assertEqual(sum(r[4] for r in rows[1:]), 1)   # one envelope enqueued
        self.assertEqual(rows[-1][3], 3)
        self.assertGreaterEqual(sum(r[7] for r in rows[1:]), 1)   # its deferral
        r = self.ctl("monitor", "x", want_rc=1)
        self.assertIn("usage", r.stderr)

    def test_encrypt_makes_a_hash_crypt_accepts(self):
        import crypt
        one = self.ctl("encrypt", "s3cret").stdout.strip()
        self.assertTrue(one.startswith("$"), one)
        self.assertEqual(crypt.crypt("s3cret", one), one)
        self.assertNotEqual(crypt.crypt("other", one), one)
        r = subprocess.run([SMTPCTL, "encrypt"], input="pw one\npw two\n", capture_output=True,
                           text=True, timeout=30)
        hashes = r.stdout.split()
        self.assertEqual(len(hashes), 2)
        self.assertEqual(crypt.crypt("pw two", hashes[1]), hashes[1])
        self.assertNotEqual(hashes[0], self.ctl("encrypt", "pw one").stdout.strip())  # salted

    def test_show_message_prints_the_queued_message(self):
        evpid = self.queue()[0].split("|")[0]
        r = self.ctl("show", "message", evpid)
        self.assertRegex(r.stdout, r"^Received: from ")
        self.assertIn("Subject: deferred\n\nwaits\n", r.stdout.replace("\r\n", "\n"))
        self.ctl("show", "message", evpid[:8], want_rc=1)        # an envelope id is needed
        r = self.ctl("show", "message", "0123456789abcdef", want_rc=1)
        self.assertIn("no such envelope", r.stderr)
        r = self.ctl("show", "message", evpid, user="nobody", want_rc=1)   # root's message
        self.assertIn("no such envelope", r.stderr)

    def test_show_message_of_a_large_message_comes_whole(self):
        body = "".join("line %06d %s\r\n" % (i, "x" * 60) for i in range(3000))   # ~210 KB
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("from@example.org", ["big@example.net"], "Subject: big\r\n\r\n" + body)
        wait_for(lambda: any("big@example.net" in l for l in self.queue()), what="the big one")
        evpid = [l for l in self.queue() if "big@example.net" in l][0].split("|")[0]
        out = subprocess.run([SMTPCTL, "-f", self.d.conf, "show", "message", evpid],
                             capture_output=True, timeout=30).stdout.replace(b"\r\n", b"\n")
        self.assertTrue(out.endswith(body.replace("\r\n", "\n").encode()), out[-200:])

    def test_pause_and_resume_envelope(self):
        a, b = [l.split("|")[0] for l in self.queue()]
        self.assertEqual(self.ctl("pause", "envelope", a).stdout, "1 envelope paused\n")
        self.assertEqual(self.ctl("pause", "envelope", a).stdout, "0 envelope paused\n")
        state = {l.split("|")[0]: l.split("|")[11:13] for l in self.queue()}
        self.assertEqual(state[a], ["paused", "-1"])
        self.assertEqual(state[b][0], "pending")
        self.assertEqual(self.ctl("schedule", "all").stdout, "1 envelope scheduled\n")  # not a
        tries = self.d.log().count(a + " mta delivery")
        # the shards' next scan retries b only; a is never attempted while paused
        wait_for(lambda: self.d.log().count("result=TempFail") >= 3, timeout=20, what="b retried")
        self.assertEqual(self.d.log().count(a + " mta delivery"), tries)
        self.ctl("pause", "envelope", a, user="nobody", want_rc=1)
        self.assertEqual(self.ctl("resume", "envelope", "all").stdout, "1 envelope resumed\n")
        self.assertEqual({l.split("|")[0]: l.split("|")[11] for l in self.queue()}[a], "pending")
        wait_for(lambda: self.d.log().count(a + " mta delivery") > tries, timeout=20,
                 what="a tried again")
