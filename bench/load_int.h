/*
 * bench/load_int.h - what bench/load.c (the SMTP client loop) and
 * bench/load_tls.c (TLS and the PROXY header on those sessions) share: the
 * session, its states and operations. Not for other users of bench/load.h.
 */
#ifndef BENCH_LOAD_INT_H
#define BENCH_LOAD_INT_H

#include <sys/socket.h>

#include "bench/load.h"
#include "bench/replyparse.h"
#include "bench/tlsmem.h"

#define LOAD_RECV_BYTES 1024
#define LOAD_TLS_RECV_BYTES 16384
#define LOAD_HDR_BYTES 1024

/* LS_CONNECTING..LS_AUTH: warming up (between connect and the first message). */
enum { LS_DOWN, LS_CONNECTING, LS_TLS, LS_GREETING, LS_EHLO, LS_STARTTLS, LS_AUTH, LS_READY,
       LS_TXN, LS_DOT, LS_RSET, LS_QUIT };
enum { OP_RECV = 1, OP_SEND = 2, OP_CONNECT = 3 };

/* A session's TLS: the connection and a receive buffer a record fits in. */
struct bench_ltls {
	struct bench_tls conn;
	uint64_t t_start;         /* the handshake began */
	char rbuf[LOAD_TLS_RECV_BYTES];
};

struct bench_lsession {
	struct bench_loader *ld;
	int fd;
	int state;
	unsigned inflight;
	int recv_armed, send_armed, closing, close_error, in_idle, pipelining;
	int send_tls;             /* the armed send reads the TLS output, not out */
	uint64_t deadline_ns, retry_at_ns;
	uint64_t t_connect, t_connected, t_sent, t_dot, t_greet_from;
	uint64_t msg_sched_ns, msg_seq, msg_size;
	uint64_t msgs_on_conn;
	unsigned reply_idx, sent_idx, rcpt_ok;
	int msg_active, msg_rejected;
	int requeue;              /* MAIL got 4xx after earlier messages: retry elsewhere */
	int quit_sent;            /* QUIT went out behind the message (RFC 2920 3.1) */
	struct bench_reply_parser rp;
	char rbuf[LOAD_RECV_BYTES];
	struct bench_ltls *tls;   /* NULL until TLS starts on this connection */
	char *out;
	size_t out_len, out_off, out_cap;
	char hdr[LOAD_HDR_BYTES];
	struct iovec iov[3];
	struct msghdr mh;
	int body_pending;
	unsigned gen;             /* bumped on every connect */
};

/* bench/load.c */
void lsession_state(struct bench_lsession *s, int st);
void lsession_count_error(struct bench_lsession *s, enum bench_err kind);
void lsession_fail(struct bench_lsession *s, enum bench_err kind);
void lsession_close(struct bench_lsession *s, int error);
void lsession_flush(struct bench_lsession *s);
int lsession_cmd(struct bench_lsession *s, const char *fmt, const char *arg);
int lsession_body_advance(struct bench_lsession *s, size_t res);
/* Feed plaintext replies; stops early when the session closed, reconnected
 * or started TLS (bytes after the reply to STARTTLS are dropped). */
void lsession_replies(struct bench_lsession *s, const char *buf, size_t len);
/* Stop the whole run for a reason every connection would hit. */
void loader_fatal(struct bench_loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* bench/load_tls.c */
/* Queue the PROXY header (the first bytes of the connection); -1: failed. */
int lsession_proxy_header(struct bench_lsession *s);
/* Start the handshake (implicit TLS at connect, or after 220 to STARTTLS);
 * returns -1 when the session failed. */
int lsession_tls_start(struct bench_lsession *s);
/* Ciphertext received into s->tls->rbuf: handshake, then replies. */
void lsession_tls_recv(struct bench_lsession *s, size_t len);
/* Encrypt what is pending and send the ciphertext (one send at a time). */
void lsession_tls_flush(struct bench_lsession *s);
/* A send of ciphertext completed. */
void lsession_tls_sent(struct bench_lsession *s, size_t n);
/* Forget the connection's TLS (the socket is closed or closing, nothing
 * in flight). */
void lsession_tls_free(struct bench_lsession *s);

#endif
