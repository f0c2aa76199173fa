/*
 * queue/discover.c - smtpctl discover: envelopes the store holds that the
 * scheduler cannot see, scheduled again.
 *
 * The scheduler (queue_due()) and queue_walk() see an envelope only through
 * its key in the schedule family (next attempt, evpid). queue/ always writes
 * the two together in one batch, so a crash never separates them; an
 * envelope record without its schedule key comes from outside: restored from
 * a backup, copied in with RocksDB's ldb, or left by a tool. That is what
 * "not known to the scheduler" means here, and what discover repairs: the
 * schedule key is written again, due now (a paused envelope keeps its pause).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "queue/queue_int.h"
#include "queue/store.h"

/* Scan callback: collect envelope ids (8-byte keys) into a bounded list. */
struct discover_ids {
	uint64_t *ids;
	unsigned n, cap;
};

static int
discover_collect(void *arg, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
	struct discover_ids *l = arg;
	(void)val;
	(void)val_len;
	if (key_len != 8)
		return 0;
	if (l->n == l->cap)
		return 1;   /* the rest waits for another discover */
	l->ids[l->n++] = queue_be64_get(key);
	return 0;
}

/* Scan callback: the key exists. */
static int
discover_found(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
	(void)key;
	(void)key_len;
	(void)val;
	(void)val_len;
	*(int *)arg = 1;
	return 1;
}

/* One envelope: 1 when its schedule key was missing and is written now, 0
 * when the scheduler knew it, or a negative error (-ENOENT: no such
 * envelope, or one that failed validation and went to quarantine). */
static int
discover_one(struct queue *q, uint64_t evpid, uint64_t now)
{
	struct queue_envelope env;
	uint8_t key[QUEUE_SCHED_KEY_BYTES], end[QUEUE_SCHED_KEY_BYTES + 1];
	uint8_t ekey[8], rec[QUEUE_ENVELOPE_BYTES_MAX];
	int err = queue_envelope_load(q, evpid, &env);
	if (err < 0)
		return err == -EINVAL ? -ENOENT : err;
	queue_sched_key(key, &env);
	memcpy(end, key, sizeof key);
	end[QUEUE_SCHED_KEY_BYTES] = 0;
	int found = 0;
	err = q->store->ops->scan(q->store, QUEUE_CF_SCHEDULE, key, sizeof key, end, sizeof end,
	                          discover_found, &found);
	if (err < 0)
		return err;
	if (found)
		return 0;
	if (!env.paused)
		env.next_attempt = now;
	size_t len = queue_envelope_encode(&env, rec, sizeof rec);
	if (len == 0)
		return -EINVAL;
	queue_be64_put(ekey, env.id);
	queue_sched_key(key, &env);
	struct queue_store_op ops[2] = {
		{ QUEUE_OP_PUT, QUEUE_CF_ENVELOPES, ekey, sizeof ekey, rec, len },
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, key, sizeof key, "", 0 },
	};
	uint64_t seq;
	err = q->store->ops->write(q->store, ops, 2, &seq);
	return err < 0 ? err : 1;
}

int
queue_discover(struct queue *q, uint64_t id, int is_msgid, unsigned *found,
               unsigned *discovered)
{
	uint64_t now = (uint64_t)time(NULL);
	uint64_t ids[QUEUE_DISCOVER_MAX];
	struct discover_ids l = { ids, 0, QUEUE_DISCOVER_MAX };
	*found = *discovered = 0;
	if (!is_msgid) {
		ids[l.n++] = id;
	} else {
		uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES];
		queue_msg_range((uint32_t)id, start, end);
		int err = q->store->ops->scan(q->store, QUEUE_CF_ENVELOPES, start, sizeof start, end,
		                              sizeof end, discover_collect, &l);
		if (err < 0)
			return err;
	}
	for (unsigned i = 0; i < l.n; i++) {
		int r = discover_one(q, ids[i], now);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		(*found)++;
		*discovered += (unsigned)r;
	}
	return 0;
}
