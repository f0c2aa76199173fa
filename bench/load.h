/*
 * bench/load.h - the load generator's engine: one loader per thread, each
 * with its own io_uring ring and its share of the sessions, the message
 * budget and the target rate. A session connects, reads the greeting, says
 * EHLO (with --tls the TLS handshake comes first; with --starttls STARTTLS,
 * the handshake and a second EHLO follow; with --auth AUTH PLAIN comes
 * next; with --proxy a PROXY header is the first thing sent), then sends
 * messages (MAIL, RCPTs, DATA in one write when the server
 * offers PIPELINING and it is on, RFC 2920; else one command per round
 * trip), the body with a unique Message-ID in one write, and QUIT after
 * msgs_per_conn messages. Closed loop: a session starts its next message as
 * soon as the last one is answered. Open loop: messages fall due at the
 * target rate and idle connected sessions take them; a message's latency
 * counts from the moment it fell due, so a slow server shows as latency
 * (no coordinated omission).
 *
 * Every operation has a deadline (timeout_ns); a loader stops starting
 * messages when its budget or the duration is spent, when the run is
 * stopped (bench_load_stop) or after errors_max errors, then says QUIT on
 * idle sessions and returns once every session is closed, or drain_ns after
 * it stopped starting messages.
 *
 * Ownership: the config (and its body template) is the caller's, read-only,
 * shared by all loaders; each loader owns its ring, sessions and stats. The
 * counters in struct bench_load_live may be read from any thread.
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench/hist.h"
#include "bench/loadspec.h"
#include "bench/proxyhdr.h"
#include "bench/tlsmem.h"

#define BENCH_LOAD_RCPTS_MAX 1000
#define BENCH_LOAD_ADDR_BYTES_MAX 200
#define BENCH_LOAD_LINE_BYTES 78             /* body line: 76 characters and CRLF */

/* Where latency and replies are counted. */
enum bench_stage {
	BENCH_STAGE_CONNECT,
	BENCH_STAGE_GREETING,
	BENCH_STAGE_EHLO,
	BENCH_STAGE_STARTTLS,     /* STARTTLS -> 220 */
	BENCH_STAGE_TLS,          /* the TLS handshake: ClientHello to Finished */
	BENCH_STAGE_AUTH,         /* AUTH PLAIN -> 235 */
	BENCH_STAGE_MAIL,
	BENCH_STAGE_RCPT,
	BENCH_STAGE_DATA,
	BENCH_STAGE_DOT,          /* end of data -> reply */
	BENCH_STAGE_RSET,
	BENCH_STAGE_QUIT,
	BENCH_STAGE_MESSAGE,      /* message start (or due time) -> reply to end of data */
	BENCH_STAGE_COUNT
};

enum bench_err {
	BENCH_ERR_CONNECT,        /* per errno in connect_errno[] too */
	BENCH_ERR_TIMEOUT,
	BENCH_ERR_EOF,            /* the server closed the connection unasked */
	BENCH_ERR_RECV,
	BENCH_ERR_SEND,
	BENCH_ERR_PROTOCOL,       /* malformed or unexpected reply */
	BENCH_ERR_CLOSED_421,     /* the server said 421 and closed */
	BENCH_ERR_TLS,            /* a TLS handshake or record failed */
	BENCH_ERR_COUNT
};

#define BENCH_ERRNO_MAX 160
#define BENCH_LOAD_AUTH_B64_BYTES 700        /* base64 of NUL user NUL pass, 255 each */

enum bench_load_tls { BENCH_LOAD_TLS_NONE, BENCH_LOAD_TLS_STARTTLS, BENCH_LOAD_TLS_IMPLICIT };

struct bench_load_config {
	struct sockaddr_in target;
	unsigned sessions;        /* total over all threads */
	unsigned threads;
	uint64_t messages;        /* 0: run for duration_ns */
	uint64_t duration_ns;
	uint64_t msgs_per_conn;   /* 0: unlimited */
	struct bench_sizedist size;
	unsigned rcpts;
	uint64_t rcpt_count;      /* >0: recipients from rcpt_pattern, numbers 0..count-1 */
	struct bench_rcpt_pattern rcpt_pattern;
	int pipelining;
	double rate;              /* messages per second; 0: closed loop */
	uint64_t timeout_ns;      /* per operation */
	uint64_t drain_ns;        /* after the last message started */
	uint64_t errors_max;      /* 0: no limit */
	uint64_t ids_max;         /* accepted Message-IDs kept per thread */
	int record_ids;
	uint64_t seed;
	char from[BENCH_LOAD_ADDR_BYTES_MAX];
	char to[BENCH_LOAD_ADDR_BYTES_MAX];
	char helo[BENCH_LOAD_ADDR_BYTES_MAX];
	char run_id[32];          /* in every Message-ID: <RUN.THREAD.SEQ@mtaload.invalid> */
	char date[64];            /* the Date: header of every message */
	const char *body;         /* body_bytes of BENCH_LOAD_LINE_BYTES lines */
	size_t body_bytes;
	int tls_mode;             /* enum bench_load_tls */
	struct bench_tls_ctx *tls_ctx;   /* shared by every session; NULL without TLS */
	int tls_verify;           /* tls_ctx checks the server's chain */
	int auth;                 /* AUTH PLAIN with auth_b64 after EHLO */
	char auth_user[64];       /* for the report */
	char auth_b64[BENCH_LOAD_AUTH_B64_BYTES];
	int proxy_version;        /* 0: no PROXY header; 1 or 2 */
	int proxy_random;         /* source addresses at random, else in order */
	struct bench_cidr proxy_src;
	char proxy_src_text[64];
};

/* Read by the progress line while the loaders run. */
struct bench_load_live {
	_Atomic uint64_t started, ok, rejected, failed, bytes_ok;
	_Atomic uint64_t conns_opened, conns_failed, errors;
	_Atomic unsigned connected;
};

struct bench_load_stats {
	struct bench_hist lat[BENCH_STAGE_COUNT];
	uint64_t replies[BENCH_STAGE_COUNT][400];     /* by code - 200 */
	uint64_t errors[BENCH_ERR_COUNT][BENCH_STAGE_COUNT];
	uint64_t connect_errno[BENCH_ERRNO_MAX];
	uint64_t ids_dropped;                          /* beyond ids_max */
	uint64_t requeued;        /* MAIL 4xx after earlier messages: started again elsewhere */
};

struct bench_lsession;

struct bench_loader {
	const struct bench_load_config *cfg;
	unsigned index;
	pthread_t thread;
	int ring_ok;
	struct io_uring ring;
	struct bench_lsession *sessions;
	unsigned nsessions;
	struct bench_lsession **idle;  /* connected, waiting for a message to fall due */
	unsigned nidle;
	uint64_t quota;           /* messages this loader may start (count mode) */
	uint64_t started;
	double rate;              /* this loader's share, messages per second */
	uint64_t t0_ns, end_ns, now_ns, next_scan_ns, drain_deadline_ns;
	uint64_t seq;
	uint64_t rng;
	int finishing;            /* no more messages will start */
	int errors_hit;           /* errors_max reached */
	unsigned open;            /* sessions with a socket */
	unsigned warming;         /* sessions between connect and EHLO's reply */
	uint64_t *ids;            /* accepted message sequence numbers */
	size_t nids, ids_cap;
	struct bench_load_stats *stats;
	struct bench_load_live live;
	uint64_t elapsed_ns;      /* from start to the last session closed */
	int setup_error;
	char setup_message[160];
	unsigned nloaders;
	uint64_t proxy_next;      /* in order: the next address of the block */
	uint64_t proxy_rng;       /* at random: its own sequence */
	char fatal[200];          /* why the run stopped (no STARTTLS, AUTH refused) */
	char tls_error[160];      /* the first TLS failure */
	char tls_desc[96];        /* protocol and cipher of the first handshake */
};

/* Prepare loader index of nloaders for cfg (sessions, budget and rate
 * split evenly); returns 0 or -ENOMEM. */
int bench_loader_init(struct bench_loader *ld, const struct bench_load_config *cfg,
                      unsigned index, unsigned nloaders);
/* Run the loader on its own thread; returns 0 or a positive errno. */
int bench_loader_start(struct bench_loader *ld);
/* From any thread (or a signal handler): stop starting messages. */
void bench_load_stop(void);
/* Join the thread. */
void bench_loader_join(struct bench_loader *ld);
/* Free what init allocated. */
void bench_loader_free(struct bench_loader *ld);
/* The name of a stage ("mail", "dot", ...) and of an error kind. */
const char *bench_stage_name(enum bench_stage st);
const char *bench_err_name(enum bench_err e);
/* Write the Message-ID of message seq of loader thread into buf; returns
 * its length. */
int bench_load_msgid(const struct bench_load_config *cfg, unsigned thread, uint64_t seq,
                     char *buf, size_t size);

#endif
