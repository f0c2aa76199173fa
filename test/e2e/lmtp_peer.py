"""test/e2e/lmtp_peer.py - a small LMTP server (RFC 2033) for tests, on
127.0.0.1 or a UNIX socket, answering each accepted recipient after the
data with the reply its local part chooses: "full..." 452 4.2.2, "gone..."
550 5.1.1, anything else 250. RCPT itself refuses "nouser...". Every
transaction is recorded: the LHLO name, MAIL, the RCPT addresses as sent
and the body, so a test sees exactly what ringmta said."""
import socket
import threading


def _reply_for(rcpt):
    user = rcpt.split("@")[0].lower()
    if user.startswith("full"):
        return b"452 4.2.2 <%s> Mailbox full\r\n" % rcpt.encode()
    if user.startswith("gone"):
        return b"550 5.1.1 <%s> Gone away\r\n" % rcpt.encode()
    return b"250 2.0.0 <%s> Saved\r\n" % rcpt.encode()


class LmtpPeer:

    def __init__(self, port=None, path=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.transactions = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        conn.sendall(b"220 lmtp.test LMTP ready\r\n")
        txn = None
        try:
            for line in f:
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd.split(" ")[0].upper()
                if verb == "LHLO":
                    self.lhlo = cmd[5:]
                    conn.sendall(b"250-lmtp.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250 ENHANCEDSTATUSCODES\r\n")
                elif verb == "MAIL":
                    txn = {"lhlo": self.lhlo, "mail": cmd, "rcpts": [], "body": b""}
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    if addr.lower().startswith("nouser"):
                        conn.sendall(b"550 5.1.1 <%s> No such user\r\n" % addr.encode())
                    else:
                        txn["rcpts"].append(addr)
                        conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    body = []
                    for dl in f:
                        if dl == b".\r\n":
                            break
                        body.append(dl[1:] if dl.startswith(b"..") else dl)
                    txn["body"] = b"".join(body)
                    with self.lock:
                        self.transactions.append(txn)
                    conn.sendall(b"".join(_reply_for(r) for r in txn["rcpts"]))
                elif verb == "RSET":
                    txn = None
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    conn.sendall(b"500 5.5.2 What?\r\n")
        except (OSError, ValueError):
            pass
        finally:
            f.close()
            conn.close()

    def delivered(self):
        with self.lock:
            return list(self.transactions)

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(5)
