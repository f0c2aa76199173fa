/*
 * queue/schedule.c - when envelopes are tried: OpenSMTPD's backoff
 * (queue_retry_next()) and the due scan over the schedule family
 * (queue_due()), which reads keys from a cursor up to "now" in slices of
 * QUEUE_DUE_SLICE, lets the caller pick by envelope id before any envelope
 * is read, and repairs what it finds wrong on the way (stale entries, an
 * entry whose time disagrees with its envelope, records that fail
 * validation). Nothing is kept between calls but the caller's cursor.
 */
#include <errno.h>
#include <string.h>

#include "queue/queue_int.h"

#define QUEUE_DUE_SLICE 256   /* schedule keys read per store scan */

/* The next attempt after `retries` failures: created + base_s x step^2 for
 * the first step >= retries that lands after now (OpenSMTPD
 * scheduler_backoff()/scheduler_next()). Pure; call after every temporary
 * failure with the new retry count. */
uint64_t
queue_retry_next(uint64_t created, uint64_t base_s, uint32_t retries, uint64_t now)
{
	uint64_t step = retries;
	if (base_s == 0)
		base_s = 1;
	if (now > created) {
		/* start near the answer: step^2 > (now - created) / base_s */
		uint64_t need = (now - created) / base_s, lo = 0, hi = 1ull << 32;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (mid * mid <= need)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && lo - 1 > step)
			step = lo - 1;
	}
	for (;; step++) {
		if (step >= (1ull << 32) || step * step > (UINT64_MAX - created) / base_s)
			return UINT64_MAX;
		uint64_t t = created + base_s * step * step;
		if (t > now)
			return t;
	}
}

/* Move the cursor back so that (time, evpid) is visited again: call when an
 * envelope handed out could not be kept (no room, shutting down). */
void
queue_due_rewind(struct queue_due_cursor *cur, uint64_t time, uint64_t evpid)
{
	if (time < cur->time || (time == cur->time && evpid < cur->evpid)) {
		cur->time = time;
		cur->evpid = evpid;
	}
}

/* The cursor just past (time, evpid). */
static void
queue_due_advance(struct queue_due_cursor *cur, uint64_t time, uint64_t evpid)
{
	cur->time = evpid == UINT64_MAX ? time + 1 : time;
	cur->evpid = evpid == UINT64_MAX ? 0 : evpid + 1;
}

struct queue_due_slice {
	uint8_t keys[QUEUE_DUE_SLICE][QUEUE_SCHED_KEY_BYTES];
	uint8_t bad[QUEUE_DUE_SLICE];   /* the key was not 16 bytes */
	uint8_t raw[QUEUE_DUE_SLICE][64];  /* a malformed key, as read (cut at 64) */
	size_t raw_len[QUEUE_DUE_SLICE];
	unsigned n, max;
};

/* Scan callback: copy keys until the slice is full. */
static int
queue_due_collect(void *arg, const void *key, size_t key_len, const void *val,
                  size_t val_len)
{
	struct queue_due_slice *s = arg;
	unsigned i = s->n++;
	s->bad[i] = key_len != QUEUE_SCHED_KEY_BYTES;
	memset(s->keys[i], 0, QUEUE_SCHED_KEY_BYTES);
	memcpy(s->keys[i], key, key_len < QUEUE_SCHED_KEY_BYTES ? key_len : QUEUE_SCHED_KEY_BYTES);
	s->raw_len[i] = key_len < sizeof(s->raw[i]) ? key_len : sizeof(s->raw[i]);
	memcpy(s->raw[i], key, s->raw_len[i]);
	return s->n == s->max;
}

/* Delete one schedule key; returns 0 or the store's error. */
static int
queue_due_drop(struct queue *q, const void *key, size_t len)
{
	uint64_t seq;
	struct queue_store_op op = { QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, key, len, NULL, 0 };
	return q->store->ops->write(q->store, &op, 1, &seq);
}

/* The entry `key` (time t) names env, whose record says another time: put
 * the entry where the record says. Returns 0 or the store's error. */
static int
queue_due_fix(struct queue *q, const uint8_t *key, const struct queue_envelope *env)
{
	uint8_t right[QUEUE_SCHED_KEY_BYTES];
	uint64_t seq;
	queue_sched_key(right, env);
	struct queue_store_op ops[2] = {
		{ QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, key, QUEUE_SCHED_KEY_BYTES, NULL, 0 },
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, right, sizeof(right), "", 0 },
	};
	queue_warn(q, "envelope %016llx: schedule entry at %llu, record says %llu: moved",
	           (unsigned long long)env->id,
	           (unsigned long long)queue_be64_get(key),
	           (unsigned long long)env->next_attempt);
	return q->store->ops->write(q->store, ops, 2, &seq);
}

/* Load the envelope of a wanted entry and hand it to take() if it is due.
 * Returns 0 or the store's error. */
static int
queue_due_one(struct queue *q, uint64_t now, const uint8_t *key,
              void (*take)(void *arg, const struct queue_envelope *env), void *arg)
{
	struct queue_envelope env;
	uint64_t t = queue_be64_get(key), id = queue_be64_get(key + 8);
	int err = queue_envelope_load(q, id, &env);
	if (err == -ENOENT || err == -EINVAL)   /* gone, or now in quarantine */
		return queue_due_drop(q, key, QUEUE_SCHED_KEY_BYTES);
	if (err < 0)
		return err;
	if (env.next_attempt != t && (err = queue_due_fix(q, key, &env)) < 0)
		return err;
	if (env.next_attempt <= now)
		take(arg, &env);
	return 0;
}

/* See queue/queue.h. One slice at a time: read up to QUEUE_DUE_SLICE keys
 * in [cursor, (now + 1, 0)), then decide and load each outside the scan, so
 * take() may write. */
int
queue_due(struct queue *q, uint64_t now, struct queue_due_cursor *cur,
          unsigned keys_max, enum queue_due_want (*want)(void *arg, uint64_t evpid),
          void (*take)(void *arg, const struct queue_envelope *env), void *arg)
{
	static __thread struct queue_due_slice s;
	uint8_t start[QUEUE_SCHED_KEY_BYTES], end[QUEUE_SCHED_KEY_BYTES];
	unsigned seen = 0;
	if (now == UINT64_MAX)
		now--;
	queue_be64_put(end, now + 1);
	memset(end + 8, 0, 8);
	while (seen < keys_max) {
		queue_be64_put(start, cur->time);
		queue_be64_put(start + 8, cur->evpid);
		s.n = 0;
		s.max = keys_max - seen < QUEUE_DUE_SLICE ? keys_max - seen : QUEUE_DUE_SLICE;
		int err = q->store->ops->scan(q->store, QUEUE_CF_SCHEDULE, start, sizeof(start),
		                              end, sizeof(end), queue_due_collect, &s);
		if (err < 0)
			return err;
		for (unsigned i = 0; i < s.n; i++, seen++) {
			if (s.bad[i]) {
				queue_warn(q, "malformed schedule entry removed");
				if ((err = queue_due_drop(q, s.raw[i], s.raw_len[i])) < 0)
					return err;
				continue;
			}
			uint64_t t = queue_be64_get(s.keys[i]), id = queue_be64_get(s.keys[i] + 8);
			enum queue_due_want w = want(arg, id);
			if (w == QUEUE_DUE_STOP)
				return 0;
			if (w == QUEUE_DUE_TAKE && (err = queue_due_one(q, now, s.keys[i], take,
			                                                arg)) < 0)
				return err;
			queue_due_advance(cur, t, id);
		}
		if (s.n < s.max)
			return 1;
	}
	return 0;
}
