/*
 * core/shard.h - one shard: a thread pinned to a CPU with its own io_uring
 * ring, its own listening sockets, sessions, deliveries and relay
 * connections. Nothing a shard owns is touched by another thread; shards and
 * the syncer talk to a shard only through its mailbox (shard_post()).
 *
 * Every operation in flight on a ring is a struct core_op embedded in the
 * struct that owns it (a session, a delivery, a connection); the CQE's
 * user_data points at it and the loop calls op->complete(op, res, flags).
 * Owners count their operations in flight and are freed only when the count
 * is zero (STYLE.md habit 12).
 *
 * One turn of the loop: submit and wait, drain every CQE and dispatch it,
 * drain the mailbox, then run what was deferred to the end of the turn
 * (freeing closed sessions). Callbacks never re-enter the loop.
 */
#ifndef CORE_SHARD_H
#define CORE_SHARD_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/list.h"
#include "core/geoip_stats.h"
#include "core/metrics.h"

struct daemon;
struct shard;
struct rules_config;

struct core_op {
	void (*complete)(struct core_op *op, int res, unsigned flags);
};

/* A message for a shard's mailbox. handle() runs on the receiving shard and
 * owns the message from then on (free it, or it is embedded in something
 * the sender still owns and the contract says who frees). */
struct shard_msg {
	struct shard_msg *next;
	void (*handle)(struct shard *sh, struct shard_msg *msg);
};

struct shard_listener {
	struct core_op accept_op;
	struct shard *shard;
	int fd;
	unsigned index;           /* into config->listeners */
	int armed;
	int owned;                /* bound by this shard (else inherited, shared) */
};

#define SHARD_BUF_BYTES 16384
#define SHARD_BUF_COUNT 512
#define SHARD_BGID 1
#define SHARD_SESSIONS_MAX 4096
#define SHARD_TICK_MS 1000

struct shard {
	unsigned index;
	int cpu;
	pthread_t thread;
	struct daemon *daemon;
	struct io_uring ring;
	const struct rules_config *config;   /* held (rules_hold()); switched only
	                                      * on this thread; new sessions
	                                      * take it */

	/* mailbox: lock-free stack of messages, eventfd to wake the ring */
	_Atomic(struct shard_msg *) mailbox;
	int mailbox_fd;
	uint64_t mailbox_count;
	struct core_op mailbox_op;

	/* provided-buffer ring for recv */
	struct io_uring_buf_ring *buf_ring;
	char *bufs;
	unsigned bufs_returned;   /* returned since the last re-arm of starved sessions */

	struct shard_listener *listeners;
	unsigned nlisteners;

	struct list_head sessions;
	struct list_head sessions_starved;   /* recv got -ENOBUFS */
	struct list_head sessions_dead;      /* freed at the end of the turn */
	unsigned nsessions;

	struct core_op tick_op;
	struct __kernel_timespec tick_ts;
	uint64_t now_ms;          /* CLOCK_MONOTONIC, refreshed every turn */

	struct delivery_sched *sched;  /* core/delivery.c */
	struct relay_pool *relay;      /* core/relay.c */
	struct shard_dns *dns;         /* core/shard_dns.c, made on first use */
	struct mda_client *mda;        /* core/mda_client.c, when there is a helper */
	struct filter_procs *filters;  /* core/filter_proc.c: this shard's instances */
	struct dnsbl_cache *dnsbl_cache; /* core/dnsbl_cache.c, made on first use */
	unsigned maildir_inflight;

	struct metrics metrics;   /* written by this shard only (core/metrics.h) */
	struct geoip_stats geo_stats; /* sessions by country (core/geoip_stats.h) */

	int stopping;             /* stop accepting; exit when idle */
	uint64_t stop_deadline_ms;
	int setup_error;          /* set by the thread when the ring failed */
	char setup_message[256];
};

/* Start the shard's thread; returns 0 or a negative errno. The thread sets
 * up its ring and reports through sh->setup_error before the loop runs. */
int shard_start(struct shard *sh);
/* After the thread ended and was joined: free the shard's memory. */
void shard_free(struct shard *sh);
/* Post msg to sh's mailbox from any thread. Never blocks. */
void shard_post(struct shard *sh, struct shard_msg *msg);
/* Get an SQE, submitting first if the SQ is full. Never returns NULL. */
struct io_uring_sqe *shard_sqe(struct shard *sh);
/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t shard_clock_ms(void);

#endif
