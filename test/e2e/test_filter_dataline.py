"""test/e2e/test_filter_dataline.py - the data-line phase of filter
processes (smtpd-filters(7)), with filters written here in a few lines of
Python: one that rewrites the Subject: header and adds a header of its own
(more lines than it got), one that swallows the lines holding a word, both
in a chain (the second gets what the first returned), one that never
answers the end of a message (451 after RINGMTA_FILTER_TIMEOUT_S, the
message before it in the same session delivered) and one that exits in
the middle of a message (451, started again); BDAT chunks through the
same filter; a 7 MB message through a filter that starts slowly (the
client held back while smtpd's buffer for the process is full). The
delivered files are checked byte for byte, dot-stuffed lines included.
smtpd runs on one CPU (one shard, one instance of each process). Nothing
leaves loopback."""
import os
import smtplib
import sys

from harness import E2ETest, free_port, maildir_messages, wait_for

FILTER = r'''
import os, sys
mode = sys.argv[1]
def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
for line in sys.stdin:
    if line.strip() == "config|ready":
        break
out("register|filter|smtp-in|data-line")
out("register|ready")
first = {}
for line in sys.stdin:
    f = line.rstrip("\n").split("|")
    if f[0] != "filter" or f[4] != "data-line":
        continue
    sid, token, data = f[5], f[6], "|".join(f[7:])
    def back(text):
        out("filter-dataline|%s|%s|%s" % (sid, token, text))
    if mode == "rewrite":
        if token not in first:
            first[token] = 1
            back("X-Filtered: by rewrite")
        if data.startswith("Subject: "):
            data = "Subject: [checked] " + data[len("Subject: "):]
        back(data)
    elif mode == "swallow":
        if "SECRET" not in data:
            back(data)
    elif mode == "hang":
        if data == "." and first.get(token) == "hang":
            continue
        if data.startswith("Subject: hang"):
            first[token] = "hang"
        back(data)
    elif mode == "die":
        if data == "DIE":
            os._exit(3)
        back(data)
    elif mode == "slow":
        if token not in first:   # a slow start: smtpd's side fills, the client waits
            first[token] = 1
            import time
            time.sleep(2)
        back(data)
'''

CONF = """
filter subj proc-exec "{py} {tmp}/f.py rewrite" user "{user}"
filter hush proc-exec "{py} {tmp}/f.py swallow" user "{user}"
filter mute proc-exec "{py} {tmp}/f.py hang" user "{user}"
filter crash proc-exec "{py} {tmp}/f.py die" user "{user}"
filter slow proc-exec "{py} {tmp}/f.py slow" user "{user}"
filter both chain {{ subj, hush }}
listen on 127.0.0.1 port {port} filter subj
listen on 127.0.0.1 port {port_chain} filter both
listen on 127.0.0.1 port {port_hang} filter mute
listen on 127.0.0.1 port {port_die} filter crash
listen on 127.0.0.1 port {port_slow} filter slow
queue path "{tmp}/spool"
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "{user}"
match from any for any action "local"
"""


class DataLineFilters(E2ETest):

    def setUp(self):
        super().setUp()
        self.write("f.py", FILTER)
        self.ports = {k: free_port() for k in ("port", "port_chain", "port_hang", "port_die",
                                                "port_slow")}
        env = dict(os.environ, RINGMTA_FILTER_TIMEOUT_S="2")
        self.d = self.smtpd(CONF.format(py=sys.executable, tmp=self.tmp, user=self.user(),
                                        **self.ports),
                            wait_port=self.ports["port"], wrapper=("taskset", "-c", "0"),
                            env=env)

    def session(self, port):
        s = smtplib.SMTP("127.0.0.1", self.ports[port], timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example")
        return s

    def send(self, port, user, body, session=None):
        s = session or self.session(port)
        self.assertEqual(s.mail("a@example.org")[0], 250)
        self.assertEqual(s.rcpt("%s@local.test" % user)[0], 250)
        return s.data(body)

    def delivered(self, user, count=1):
        path = os.path.join(self.tmp, "mail", user)
        wait_for(lambda: len(maildir_messages(path)) >= count, what="the delivery")
        msgs = []
        for name in sorted(os.listdir(os.path.join(path, "new"))):
            with open(os.path.join(path, "new", name), "rb") as f:
                msgs.append(f.read().replace(b"\n", b"\r\n"))   # maildir keeps LF
        return msgs

    def test_header_rewritten_and_added(self):
        body = (b"Subject: hello\r\nFrom: a@example.org\r\n\r\n"
                b"first line\r\n.dot leads\r\n..two dots\r\n.\r\nlast | with bar\r\n")
        code, _ = self.send("port", "bob", body)
        self.assertEqual(code, 250)
        msg = self.delivered("bob")[0]
        self.assertIn(b"\r\nX-Filtered: by rewrite\r\nReceived: from client.example", msg,
                      "the added line before the first one the filter got")
        self.assertIn(b"\r\nSubject: [checked] hello\r\nFrom: a@example.org\r\n\r\n", msg)
        # smtplib stuffed each leading dot; the filter saw them stuffed and
        # returned them so; the message holds them as the client meant them
        self.assertTrue(msg.endswith(b"\r\n\r\nfirst line\r\n.dot leads\r\n..two dots\r\n.\r\n"
                                     b"last | with bar\r\n"), msg)
        self.assertNotIn(b"Subject: hello", msg)

    def test_chain_swallows_lines(self):
        body = (b"Subject: chained\r\n\r\nkeep one\r\nthe SECRET line\r\n"
                b"keep two\r\nSECRET again\r\n")
        self.assertEqual(self.send("port_chain", "carol", body)[0], 250)
        msg = self.delivered("carol")[0]
        self.assertNotIn(b"SECRET", msg)
        self.assertIn(b"Subject: [checked] chained\r\n", msg, "the first filter's output")
        self.assertTrue(msg.endswith(b"\r\n\r\nkeep one\r\nkeep two\r\n"), msg)

    def test_silent_end_is_451_and_earlier_message_stays(self):
        s = self.session("port_hang")
        self.assertEqual(self.send("port_hang", "dave", b"Subject: fine\r\n\r\nok\r\n", s)[0],
                         250)
        code, text = self.send("port_hang", "dave", b"Subject: hang\r\n\r\nnever\r\n", s)
        self.assertEqual(code, 451)
        self.assertTrue(text.startswith(b"4.7.0"), text)
        self.assertIn("filter mute: no answer for session", self.d.log())
        msgs = self.delivered("dave")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: fine", msgs[0])
        self.assertEqual(s.noop()[0], 250, "the session goes on")
        self.assertEqual(self.send("port_hang", "dave", b"Subject: again\r\n\r\nok\r\n", s)[0],
                         250)
        self.assertEqual(len(self.delivered("dave", 2)), 2)

    def test_death_mid_message_is_451_then_restart(self):
        code, _ = self.send("port_die", "erin", b"Subject: x\r\n\r\nbefore\r\nDIE\r\nafter\r\n")
        self.assertEqual(code, 451)
        wait_for(lambda: self.d.log().count("filter crash: ready") >= 2, timeout=15,
                 what="the filter started again")
        self.assertEqual(self.send("port_die", "erin", b"Subject: y\r\n\r\nlive\r\n")[0], 250)
        msgs = self.delivered("erin")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"\r\n\r\nlive\r\n", msgs[0])

    def test_large_message_waits_for_a_slow_filter(self):
        # 7 MB through a filter that sleeps 2 s first: more than the 4 MiB
        # smtpd buffers for a process, so the client must be held back
        lines = b"".join(b"line %06d of a long message\r\n" % i for i in range(220000))
        self.assertGreater(len(lines), 6 << 20)
        self.assertEqual(self.send("port_slow", "frank", b"Subject: big\r\n\r\n" + lines)[0],
                         250)
        msg = self.delivered("frank")[0]
        self.assertTrue(msg.endswith(lines), "every line, in order")


    def test_bdat_chunks_go_through_the_filter(self):
        import socket
        body = b"Subject: chunked\r\n\r\n.leading dot, not stuffed in BDAT\r\nend\r\n"
        sock = socket.create_connection(("127.0.0.1", self.ports["port"]), timeout=30)
        self.addCleanup(sock.close)
        f = sock.makefile("rb")

        def reply():
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return lines[-1]
        self.assertTrue(reply().startswith(b"220"))
        sock.sendall(b"EHLO client.example\r\n")
        self.assertTrue(reply().startswith(b"250 "))
        sock.sendall(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<gus@local.test>\r\n")
        self.assertTrue(reply().startswith(b"250"))
        self.assertTrue(reply().startswith(b"250"))
        sock.sendall(b"BDAT %d\r\n" % 20 + body[:20])
        self.assertTrue(reply().startswith(b"250"))
        sock.sendall(b"BDAT %d LAST\r\n" % (len(body) - 20) + body[20:])
        self.assertTrue(reply().startswith(b"250 2.0.0"))
        msg = self.delivered("gus")[0]
        self.assertIn(b"\r\nSubject: [checked] chunked\r\n\r\n"
                      b".leading dot, not stuffed in BDAT\r\nend\r\n", msg)


if __name__ == "__main__":
    import unittest
    unittest.main()
