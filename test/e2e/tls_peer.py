"""test/e2e/tls_peer.py - a small SMTP server for relay tests, with Python's
ssl module: STARTTLS offered or not, implicit TLS (smtps), AUTH PLAIN and
LOGIN against a user table, 535 for wrong credentials, or a broken TLS
(220 to STARTTLS, then bytes that are not TLS). Every session is recorded:
whether and how TLS ran (version, the SNI asked for), each AUTH command
with the mechanism and whether it came under TLS, the credentials decoded,
and each message (MAIL, RCPT addresses, body), so a test sees exactly what
ringmta did on the wire."""
import base64
import socket
import ssl
import threading


class TlsPeer:

    def __init__(self, port, cert=None, key=None, starttls=True, smtps=False, users=None,
                 mechs=("PLAIN", "LOGIN"), auth_plain_text=False, broken_tls=False,
                 host="127.0.0.1"):
        self.ctx = None
        if cert is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
            self.ctx.sni_callback = self._sni
        self.starttls, self.smtps, self.broken_tls = starttls, smtps, broken_tls
        self.users, self.mechs, self.auth_plain_text = users, mechs, auth_plain_text
        self.sessions = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _sni(self, sslsock, name, ctx):
        sslsock.sni_name = name

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _tls(self, conn, s):
        tls = self.ctx.wrap_socket(conn, server_side=True)
        s["tls"] = tls.version()
        s["cipher"] = tls.cipher()[0]
        s["sni"] = getattr(tls, "sni_name", None)
        return tls

    def _serve(self, conn):
        s = {"tls": None, "sni": None, "auth": [], "messages": []}
        with self.lock:
            self.sessions.append(s)
        conn.settimeout(10)
        try:
            if self.smtps:
                conn = self._tls(conn, s)
            conn.sendall(b"220 peer.test ESMTP\r\n")
            f = conn.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    break
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO":
                    ext = ["PIPELINING", "8BITMIME"]
                    if self.starttls and not s["tls"]:
                        ext.append("STARTTLS")
                    if self.users is not None and (s["tls"] or self.auth_plain_text):
                        ext.append("AUTH " + " ".join(self.mechs))
                    reply = ["250-peer.test"] + ["250-" + e for e in ext[:-1]] + ["250 " + ext[-1]]
                    conn.sendall(("\r\n".join(reply) + "\r\n").encode())
                elif verb == "STARTTLS" and self.starttls and not s["tls"]:
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    if self.broken_tls:
                        conn.sendall(b"this is not a TLS record\r\n" * 4)
                        break
                    f.close()
                    conn = self._tls(conn, s)
                    f = conn.makefile("rb")
                elif verb == "AUTH" and self.users is not None:
                    self._auth(conn, f, cmd, s)
                elif verb == "MAIL":
                    s["messages"].append({"mail": cmd, "rcpts": [], "body": b""})
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    s["messages"][-1]["rcpts"].append(cmd[cmd.index("<") + 1:cmd.index(">")])
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    body = []
                    for dl in f:
                        if dl == b".\r\n":
                            break
                        body.append(dl[1:] if dl.startswith(b"..") else dl)
                    s["messages"][-1]["body"] = b"".join(body)
                    conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif verb in ("RSET", "NOOP"):
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    conn.sendall(b"502 5.5.2 Not here\r\n")
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _auth(self, conn, f, cmd, s):
        words = cmd.split(" ")
        mech = words[1].upper() if len(words) > 1 else ""
        entry = {"mech": mech, "tls": s["tls"] is not None}
        s["auth"].append(entry)
        if mech == "PLAIN" and "PLAIN" in self.mechs:
            if len(words) > 2:
                resp = words[2]
            else:
                conn.sendall(b"334 \r\n")
                resp = f.readline().strip().decode()
            parts = base64.b64decode(resp).split(b"\0")
            user, password = parts[1].decode(), parts[2].decode()
        elif mech == "LOGIN" and "LOGIN" in self.mechs:
            conn.sendall(b"334 VXNlcm5hbWU6\r\n")
            user = base64.b64decode(f.readline().strip()).decode()
            conn.sendall(b"334 UGFzc3dvcmQ6\r\n")
            password = base64.b64decode(f.readline().strip()).decode()
        else:
            conn.sendall(b"504 5.5.4 Unrecognized authentication type\r\n")
            return
        entry["user"], entry["password"] = user, password
        if self.users.get(user) == password:
            entry["ok"] = True
            conn.sendall(b"235 2.7.0 Authentication successful\r\n")
        else:
            entry["ok"] = False
            conn.sendall(b"535 5.7.8 Authentication credentials invalid\r\n")

    def snapshot(self):
        with self.lock:
            return [dict(s) for s in self.sessions]

    def messages(self):
        return [m for s in self.snapshot() for m in s["messages"]]

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(5)
