"""test/e2e/test_queue_pause.py - `smtpctl pause mta` holds relayed mail on
disk (no attempt is made, local mail still goes), `resume mta` lets it go
at the next scan of the schedule."""
import os
import pwd
import smtplib
import subprocess
import time

from harness import BUILD, E2ETest, free_port, maildir_messages, wait_for

SMTPCTL = os.path.join(BUILD, "smtpctl")

CONF = """
listen on 127.0.0.1 port {port}
queue path "{tmp}/spool"
table out {{ "example.net" }}
action "local" maildir "{tmp}/mail/%{{rcpt.user}}" user "@USER@"
action "out" relay host smtp://127.0.0.1:{sink}
match from local for domain <out> action "out"
match from local for local action "local"
""".replace("@USER@", pwd.getpwuid(os.geteuid()).pw_name)


class PauseDelivery(E2ETest):

    def ctl(self, *args):
        r = subprocess.run([SMTPCTL, "-f", self.d.conf] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "smtpctl %s: %s%s" % (" ".join(args), r.stdout,
                                                              r.stderr))
        return r.stdout

    def test_pause_mta_holds_relay_mail_until_resume(self):
        if not os.access(SMTPCTL, os.X_OK):
            self.skipTest("build/smtpctl not built")
        port, sink_port = free_port(), free_port()
        self.d = self.smtpd(CONF.format(port=port, tmp=self.tmp, sink=sink_port),
                            wait_port=port)
        sink = self.sink(sink_port)
        self.assertEqual(self.ctl("pause", "mta"), "command succeeded\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("from@localhost", ["a@example.net"], "Subject: held\r\n\r\nx\r\n")
            s.sendmail("from@localhost", ["me@localhost"], "Subject: local\r\n\r\nx\r\n")
        wait_for(lambda: maildir_messages(os.path.join(self.tmp, "mail", "me")),
                 what="local mail delivered while mta is paused")
        time.sleep(2.5)     # two scans of the schedule
        self.assertNotIn("mta delivery", self.d.log())
        self.assertEqual(sink.messages(), [])
        self.assertEqual(self.ctl("resume", "mta"), "command succeeded\n")
        wait_for(lambda: "result=Ok" in self.d.log().split("mta delivery", 1)[-1],
                 timeout=10, what="the held message relayed after resume")
