/*
 * core/daemon.h - what every shard may read: the queue, the shard array, the
 * machine's name, the configuration being rolled out. Written by the main
 * thread before shards start (and, for config, only through the reload
 * protocol in core/reload.c); read by shards without locks.
 */
#ifndef CORE_DAEMON_H
#define CORE_DAEMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/metrics.h"

struct queue;
struct shard;
struct rules_config;
struct tls_ctx;
struct source_limit;
struct auth_limit;
struct mta_tls;
struct geoip;

#define DAEMON_SHARDS_MAX 64   /* shards at most, whatever the CPU count */

struct daemon {
	struct queue *queue;
	struct tls_ctx **tls_ctx;            /* per listener index, NULL without TLS */
	unsigned ntls_ctx;
	struct mta_tls *mta_tls;             /* relay client contexts (core/mta_tls.c) */
	struct shard *shards;
	unsigned nshards;
	char hostname[256];
	int privileged;                      /* started as root: shards drop to RINGMTA_USER */
	char user_name[64];                  /* who the daemon runs as */
	char user_home[1024];
	char exe[1024];                      /* smtpd's own path (smtpd --deliver) */
	uid_t files_uid;                     /* owner of what it creates: the queue
	                                      * user (RINGMTA_QUEUE_USER) as root */
	const struct rules_config *config;   /* the config shards start with */
	atomic_uint config_acks;             /* shards that moved to a new config
	                                      * (or passed a sync) */
	atomic_uint shards_running;
	int main_wake_fd;                    /* eventfd: a shard exited or acked */
	atomic_uint_fast64_t session_ids;
	struct source_limit *sources;        /* sessions per client address */
	struct source_limit *relay_hosts;    /* relay connections per remote
	                                      * address and port (core/relay.c) */
	time_t started;                      /* unix seconds */
	struct metrics main_metrics;         /* the main thread's: local submissions */
	struct auth_limit *auth_fails;       /* failed AUTH per client address */
	_Atomic(struct geoip *) geoip;       /* the GeoIP databases, NULL none:
	                                      * replaced by daemon_update_geoip() */
};

/* A new session/connection id for log lines (unique for this run). */
uint64_t daemon_id_new(struct daemon *d);
/* Every shard's metrics summed, with the queue's gauges (main thread). */
struct metrics_snapshot;
void daemon_metrics(struct daemon *d, struct metrics_snapshot *s);
/* Wake the main thread (from any thread). */
void daemon_wake_main(struct daemon *d);
/* smtpctl update table NAME, on the main thread: cur's file: table NAME
 * read again; its old entries freed once every shard passed a turn.
 * Returns the entry count, or -1 with why (cap bytes) filled. */
long daemon_update_table(struct daemon *d, const struct rules_config *cur, const char *name,
                         char *why, size_t cap);
/* smtpctl update geoip and reload, on the main thread: the GeoIP files
 * of cur read again and swapped in; the old ones closed once every shard
 * passed a turn. Returns 0, or -1 with why filled (naming the file) and
 * the databases in use kept. */
int daemon_update_geoip(struct daemon *d, const struct rules_config *cur, char *why, size_t cap);

#endif
