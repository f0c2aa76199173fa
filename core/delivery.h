/*
 * core/delivery.h - the scheduler: which envelope is due, where it goes, and
 * what happens with the result.
 *
 * Every envelope is owned by one shard, chosen by a hash of its action and
 * its recipient's domain, so the connections and state for a destination
 * live on one thread. delivery_submit() (from a session's shard, after the
 * commit is durable) and delivery_recover() (from the main thread, at start)
 * post envelopes to their owners. On the owner, a heap ordered by next
 * attempt releases due envelopes to maildir (core/maildir.c) or relay
 * (core/relay.c), which report back with delivery_result():
 *   DELIVERY_OK        delivered: envelope removed from the queue
 *   DELIVERY_TEMPFAIL  kept; next attempt after a growing delay, until expiry
 *   DELIVERY_PERMFAIL  removed and logged (bounces come with the queue issue)
 */
#ifndef CORE_DELIVERY_H
#define CORE_DELIVERY_H

#include <stdint.h>

#include "core/shard.h"
#include "queue/queue.h"

#define DELIVERY_RETRY_FIRST_S 10
#define DELIVERY_RETRY_MAX_S 3600

enum delivery_status {
	DELIVERY_OK,
	DELIVERY_TEMPFAIL,
	DELIVERY_PERMFAIL,
};

struct delivery_item {
	struct shard_msg msg;        /* while travelling to the owner */
	struct delivery_item *next;  /* in a relay destination's queue */
	uint64_t start_ms;           /* when this attempt started */
	struct queue_envelope env;
};

struct delivery_sched;

int delivery_init(struct shard *sh);
/* Free the shard's schedule (envelopes stay on disk). */
void delivery_free(struct shard *sh);
/* After a durable commit: route copies of envs to their owner shards. */
void delivery_submit(struct shard *sh, const struct queue_envelope *envs, unsigned n);
/* From the main thread at start-up: route one stored envelope. */
int delivery_recover(struct daemon *d, const struct queue_envelope *env);
/* Once a second on the shard: start what is due. */
void delivery_tick(struct shard *sh);
/* An attempt ended; takes the item. stat is the log text ("250 2.0.0 Ok"). */
void delivery_result(struct shard *sh, struct delivery_item *it,
                     enum delivery_status st, const char *stat, const char *via);
/* The domain part of an address ("" if none). */
const char *delivery_domain(const char *addr);

#endif
