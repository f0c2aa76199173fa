/*
 * bench/sink_int.h - what bench/sink.c (accept, receive, answer, send) and
 * its helpers share: the session, its operations, and the pieces kept in
 * their own files: bench/sink_tls.c (STARTTLS and implicit TLS),
 * bench/sink_auth.c (AUTH PLAIN and LOGIN), bench/sink_proxy.c (the PROXY
 * header). Not for other users of bench/sink.h.
 */
#ifndef BENCH_SINK_INT_H
#define BENCH_SINK_INT_H

#include <sys/types.h>

#include "bench/sink.h"
#include "proto/proxy.h"

#define SINK_OUT_BYTES 4096
#define SINK_PLAIN_BYTES 16384                   /* decrypted bytes per read */

enum { OP_RECV = 1, OP_SEND = 2, OP_TIMER = 3 };      /* in a completion's low bits */
enum { SINK_AUTH_NONE, SINK_AUTH_PLAIN, SINK_AUTH_LOGIN_USER, SINK_AUTH_LOGIN_PASS };

struct bench_ssession {
	struct bench_ssession *prev, *next, *next_starved, *next_dead;
	struct bench_sinker *sk;
	int fd;
	unsigned inflight;
	int recv_armed, send_armed, timer_armed, closing, close_after_send, starved, dead;
	int holding;              /* a provided buffer is being read */
	unsigned short bid;
	size_t hoff, hlen;
	int wait_timer, wait_send;
	struct __kernel_timespec ts;
	int send_tls;             /* the armed send reads the TLS output, not out */
	int tls_on;               /* tls is open: every byte from here is TLS */
	int starttls_pending;     /* 220 to STARTTLS queued: TLS starts behind it */
	int proxy_pending;        /* the PROXY header is not read yet */
	int auth_step;            /* SINK_AUTH_*: a continuation line is due */
	int authed;
	char *plain;              /* SINK_PLAIN_BYTES of decrypted input, with TLS */
	size_t poff, plen;
	struct bench_tls tls;
	struct proto_proxy pp;
	char out[SINK_OUT_BYTES];
	size_t out_len, out_ready, send_len;
	int has_mail;
	unsigned nrcpt;
	unsigned bdat_chunks;     /* BDAT chunks of this transaction so far */
	uint64_t last_ns;
	struct bench_sinkproto p;
};

/* bench/sink.c */
void ssession_close(struct bench_ssession *s);
/* An event: a command, the greeting (cmd CONNECT, ev NULL), the end of a
 * message. Returns -1 when the session was closed. */
int ssession_event(struct bench_ssession *s, enum bench_sink_cmd cmd,
                   const struct bench_sink_event *ev);
void sink_count(_Atomic uint64_t *c, uint64_t n);
/* The held provided buffer. */
const char *ssession_held(const struct bench_ssession *s);
/* After the PROXY header, or at accept without --proxy: the greeting, or
 * TLS first with --tls-implicit. Returns -1 when the session was closed. */
int ssession_start(struct bench_ssession *s);

/* bench/sink_tls.c */
/* Open TLS on the session: what is queued and not in flight goes out in
 * plaintext ahead of it (the 220 to STARTTLS). Returns -1 when closed. */
int ssession_tls_begin(struct bench_ssession *s);
/* Decrypted bytes to read next (lending it the rest of the held buffer);
 * 0 when none now, -1 when the session was closed. */
ssize_t ssession_tls_input(struct bench_ssession *s, const char **data);
/* Encrypt ready replies, send the ciphertext (one send at a time). */
void ssession_tls_flush(struct bench_ssession *s);
/* Returns 1 when TLS still reads from the held buffer. */
int ssession_tls_holds(const struct bench_ssession *s);
/* The session is gone: free its TLS. */
void ssession_tls_end(struct bench_ssession *s);

/* bench/sink_auth.c */
/* The reply to AUTH (arg: mechanism and initial response), or to a
 * continuation line while auth_step is set. */
const char *ssession_auth(struct bench_ssession *s, const char *arg);
const char *ssession_auth_line(struct bench_ssession *s, const char *line);

/* bench/sink_proxy.c */
/* Read the PROXY header from the held buffer: 1 when it ended (the greeting
 * or the TLS handshake follows), 0 when more is needed, -1 when the
 * session was closed (a malformed header). */
int ssession_proxy_feed(struct bench_ssession *s);

#endif
