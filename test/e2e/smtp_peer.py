"""test/e2e/smtp_peer.py - a small SMTP server on loopback for the relay
tests that must see what the peer sees: how many connections are open at
once, how many messages each connection carried, when each MAIL came, and
peers that misbehave before the first transaction (a greeting that never
comes, a 421 greeting); and what each client said: its EHLO name, its MAIL
FROM address, each RCPT TO with the MAIL FROM before it, and the source
address it connected from. No PIPELINING or other extension is offered, so the
client speaks one command at a time; each message is answered after
data_delay seconds."""
import socket
import threading
import time


class SmtpPeer:
    def __init__(self, port, greeting="220 peer ESMTP", data_delay=0.0, host="127.0.0.1"):
        self.greeting = greeting        # None: never greet (a stall)
        self.data_delay = data_delay
        self.lock = threading.Lock()
        self.open = 0
        self.max_open = 0
        self.connections = 0
        self.per_conn = []              # messages of each closed connection
        self.mail_times = []            # time.monotonic() of each MAIL
        self.messages = 0
        self.open_at_message = []       # connections open as each message ended
        self.helos = []                 # EHLO/HELO names, in order
        self.mail_froms = []            # MAIL FROM addresses, without <>
        self.envelopes = []             # (MAIL FROM, RCPT TO) of each recipient
        self.sources = []               # the client address of each connection
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            source = conn.getpeername()[0]
        except OSError:
            source = None
        with self.lock:
            self.sources.append(source)
            self.open += 1
            self.connections += 1
            self.max_open = max(self.max_open, self.open)
        count = 0
        mail_from = None
        try:
            conn.settimeout(60)
            f = conn.makefile("rb")
            if self.greeting is None:
                f.readline()            # nothing comes: wait for the client to give up
                return
            conn.sendall(self.greeting.encode() + b"\r\n")
            if not self.greeting.startswith("220"):
                return
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    with self.lock:
                        self.helos.append(line[5:].strip().decode(errors="replace"))
                    conn.sendall(b"250 peer\r\n")
                elif verb == b"MAIL":
                    addr = line.decode(errors="replace").partition(":")[2].strip()
                    addr = addr.split(" ")[0].strip("<>")
                    mail_from = addr
                    with self.lock:
                        self.mail_times.append(time.monotonic())
                        self.mail_froms.append(addr)
                    conn.sendall(b"250 ok\r\n")
                elif verb == b"RCPT":
                    rcpt = line.decode(errors="replace").partition(":")[2].strip()
                    with self.lock:
                        self.envelopes.append((mail_from, rcpt.split(" ")[0].strip("<>")))
                    conn.sendall(b"250 ok\r\n")
                elif verb in (b"RSET", b"NOOP"):
                    conn.sendall(b"250 ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    time.sleep(self.data_delay)
                    count += 1
                    with self.lock:
                        self.messages += 1
                        self.open_at_message.append(self.open)
                    conn.sendall(b"250 queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"502 no\r\n")
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open -= 1
                self.per_conn.append(count)

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
