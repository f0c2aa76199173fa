/*
 * bench/sink.h - the sink's engine: one sinker per thread, each with its
 * own io_uring ring, its own SO_REUSEPORT listening socket (multishot
 * accept), a provided-buffer ring for receives, and its sessions. A session
 * answers like a fast MTA that keeps nothing: EHLO offers PIPELINING,
 * 8BITMIME and SIZE; replies to pipelined commands go out in one write per
 * received batch (RFC 2920 3.2); messages and their bytes are counted and
 * their Message-IDs kept when asked. Faults are injected per command: a
 * soft (4xx) or hard (5xx) reply, or a disconnect without reply, for a
 * chosen fraction of those commands; and a delay before a command's reply.
 * Optional: STARTTLS or implicit TLS with a certificate (bench/tlsmem.h),
 * AUTH PLAIN and LOGIN taking any credentials (and requiring them before
 * MAIL when asked), a PROXY v1/v2 header expected first on every
 * connection, whose claimed source addresses are counted.
 *
 * Ownership: the config is the caller's, read-only and shared. Each sinker
 * owns its ring, socket, buffers and sessions; its counters and its
 * Message-ID list (under ids_lock) may be read from any thread.
 */
#ifndef BENCH_SINK_H
#define BENCH_SINK_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench/addrset.h"
#include "bench/sinkproto.h"
#include "bench/tlsmem.h"

#define BENCH_SINK_BUF_BYTES 16384
#define BENCH_SINK_BUF_COUNT 256            /* per thread, a power of two */

struct bench_sink_config {
	struct sockaddr_in listen;
	unsigned threads;
	unsigned backlog;
	unsigned sessions_max;    /* per thread; more connections are closed at once */
	uint64_t size_max;        /* SIZE offered (RFC 1870); bigger messages get 552 */
	unsigned soft_mask, hard_mask, drop_mask;   /* 1 << BENCH_SINK_* */
	double fault_rate;        /* fraction of matching commands that get the fault */
	uint32_t delays_ms[BENCH_SINK_CMD_COUNT];
	uint64_t seed;
	uint64_t idle_ns;         /* close sessions silent this long */
	int record_ids;
	uint64_t ids_max;         /* over all threads */
	uint64_t expect;          /* note the moment the message count reaches this */
	char hostname[128];
	struct bench_tls_ctx *tls_ctx;   /* server side; NULL: no TLS */
	int tls_implicit;         /* TLS from the first byte, else STARTTLS is offered */
	int auth;                 /* offer AUTH PLAIN LOGIN, take any credentials */
	int auth_require;         /* MAIL before AUTH gets 530 */
	int proxy;                /* a PROXY v1 or v2 header comes first */
	int chunking;             /* offer CHUNKING (RFC 3030): BDAT */
};

/* Updated by the owning thread, read by anyone. */
struct bench_sink_counters {
	_Atomic uint64_t sessions, messages, bytes, rcpts, rejected, dropped, errors, refused;
	_Atomic uint64_t commands[BENCH_SINK_CMD_COUNT];
	_Atomic uint64_t tls_handshakes, tls_errors, auth_ok, auth_bad, auth_required;
	_Atomic uint64_t proxy_v1, proxy_v2, proxy_local, proxy_errors;
	_Atomic unsigned active;
};

struct bench_ssession;

struct bench_sinker {
	const struct bench_sink_config *cfg;
	unsigned index;
	pthread_t thread;
	int listen_fd;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned bufs_returned;
	struct bench_ssession *sessions;       /* doubly linked, all open sessions */
	struct bench_ssession *starved;        /* receive got -ENOBUFS */
	struct bench_ssession *dead;           /* freed at the end of the turn */
	int stop_started;
	uint64_t stop_deadline_ns;
	int accept_armed;
	uint64_t now_ns, next_tick_ns;
	uint64_t rng;
	struct bench_sink_counters ctr;
	pthread_mutex_t ids_lock;
	char *ids;                /* "<id>\n" after "<id>\n" */
	size_t ids_len, ids_cap;
	uint64_t ids_count;
	struct bench_addrset sources;   /* PROXY sources; read only after the thread ends */
	int setup_error;
	char setup_message[160];
};

/* Shared by every sinker of the process. */
struct bench_sink_shared {
	_Atomic uint64_t messages;     /* over all threads */
	_Atomic uint64_t reached_ns;   /* CLOCK_MONOTONIC when messages reached expect, else 0 */
	_Atomic uint64_t first_ns, last_ns;   /* first and last message accepted */
	_Atomic uint64_t ids_count;
	_Atomic unsigned open, open_peak;   /* sessions open now, and at most at once */
	atomic_int stopping;
};

extern struct bench_sink_shared bench_sink_shared;

/* Bind the listening socket of sinker index (SO_REUSEPORT; the port of
 * cfg->listen, which the caller set to the real one after the first bind
 * when it was 0); returns 0 or a negative errno. */
int bench_sinker_init(struct bench_sinker *sk, const struct bench_sink_config *cfg,
                      unsigned index);
/* Run it on its own thread; returns 0 or a positive errno. */
int bench_sinker_start(struct bench_sinker *sk);
/* From any thread: every sinker closes its sessions and returns. */
void bench_sink_stop(void);
/* Join the thread and free what init allocated, except sk->ids (free it
 * after writing the Message-IDs out) and sk->sources (bench_addrset_free
 * after counting them). */
void bench_sinker_finish(struct bench_sinker *sk);

#endif
