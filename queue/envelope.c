/*
 * queue/envelope.c - envelopes: filling a fresh one, and reading and
 * retiring what is queued: envelope and body loads (validated; failures go
 * to quarantine), delete, update, walk and count. See queue/queue.h for
 * the contract.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_int.h"

/* See queue/queue.h. */
void
queue_envelope_fill(const struct queue *q, struct queue_envelope *e, uint32_t msgid,
                    const char *sender, const char *rcpt, const char *action,
                    const char *helo, const char *client, uint64_t body_size, uint64_t now,
                    uint64_t ttl_s)
{
	memset(e, 0, sizeof *e);
	e->id = queue_evpid_new(msgid);
	snprintf(e->sender, sizeof e->sender, "%s", sender);
	snprintf(e->rcpt, sizeof e->rcpt, "%s", rcpt);
	snprintf(e->dest, sizeof e->dest, "%s", rcpt);
	snprintf(e->action, sizeof e->action, "%s", action);
	snprintf(e->helo, sizeof e->helo, "%s", helo);
	snprintf(e->client, sizeof e->client, "%s", client);
	e->created = now;
	e->expire = now + (ttl_s ? ttl_s : queue_ttl_s(q));
	e->next_attempt = now;
	e->body_size = body_size;
}

/* Read and decode one envelope. Returns 0, -ENOENT, -EINVAL for a record
 * that does not decode or names another id (moved to quarantine), or the
 * store's error. */
int
queue_envelope_load(struct queue *q, uint64_t evpid, struct queue_envelope *env)
{
	uint8_t key[8], rec[QUEUE_ENVELOPE_BYTES_MAX];
	size_t len;
	queue_be64_put(key, evpid);
	int err = q->store->ops->get(q->store, QUEUE_CF_ENVELOPES, key, sizeof(key),
	                             rec, sizeof(rec), &len);
	if (err == 0)
		err = queue_envelope_decode(env, rec, len);
	else if (err == -EOVERFLOW)
		err = -EINVAL;
	if (err == 0 && env->id != evpid)
		err = -EINVAL;
	if (err == -EINVAL) {
		queue_store_error(q, "envelope %016llx: bad record",
		                  (unsigned long long)evpid);
		int qerr = queue_quarantine_envelope(q, evpid, rec,
		                                     len > sizeof(rec) ? 0 : len,
		                                     len > sizeof(rec) ? "too long" :
		                                     "does not decode");
		if (qerr < 0)
			return qerr;
	}
	return err;
}

struct queue_body_acc {
	struct queue *q;
	char *data;
	size_t len;
	size_t cap;
	uint32_t next;  /* the chunk index expected next */
	int err;
};

/* Scan callback: open one chunk and append it, checking that none is
 * missing. */
static int
queue_body_chunk(void *arg, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
	struct queue_body_acc *a = arg;
	if (key_len != 8 || queue_be32_get((const uint8_t *)key + 4) != a->next)
		return a->err = -EIO;
	if (a->len + QUEUE_CHUNK_BYTES > a->cap) {
		size_t cap = a->cap ? a->cap : QUEUE_CHUNK_BYTES;
		while (cap < a->len + QUEUE_CHUNK_BYTES)
			cap *= 2;
		char *d = realloc(a->data, cap);
		if (d == NULL)
			return a->err = -ENOMEM;
		a->data = d;
		a->cap = cap;
	}
	size_t got;
	int err = queue_chunk_open(a->q, key, val, val_len, (uint8_t *)a->data + a->len,
	                           &got);
	if (err < 0)
		return a->err = err;
	a->len += got;
	a->next++;
	return 0;
}

/* Read a message's whole body. Returns 0 with *data malloc'd (never NULL)
 * and *len, -ENOENT when there is no chunk, -EIO when a chunk is missing,
 * -EBADMSG when one fails validation (the message goes to quarantine). */
int
queue_body_load(struct queue *q, uint32_t msgid, char **data, size_t *len)
{
	uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES];
	struct queue_body_acc a = { .q = q };
	queue_msg_range(msgid, start, end);
	int err = q->store->ops->scan(q->store, QUEUE_CF_BODIES, start, sizeof(start),
	                              end, sizeof(end), queue_body_chunk, &a);
	if (err == 0 && a.next == 0)
		err = -ENOENT;
	if (err == 0 && a.data == NULL && (a.data = malloc(1)) == NULL)
		err = -ENOMEM;
	if (err < 0) {
		free(a.data);
		if (a.err == -EIO)
			queue_store_error(q, "message %08x: body chunk %u missing",
			                  msgid, a.next);
		if (a.err == -EBADMSG) {
			queue_store_error(q, "message %08x: body chunk %u failed validation",
			                  msgid, a.next);
			int qerr = queue_quarantine_message(q, msgid, "a body chunk failed "
			                                    "validation");
			if (qerr < 0)
				return qerr;
		}
		return err;
	}
	*data = a.data;
	*len = a.len;
	return 0;
}

/* queue_body_load() for a body whose size the envelope gives: one point
 * read per chunk (no iterator to build and seek). Anything unexpected (a
 * chunk missing, a size that does not add up, a chunk failing validation)
 * falls back to queue_body_load(), which reports and quarantines. */
int
queue_body_read(struct queue *q, uint32_t msgid, uint64_t body_size, char **data,
                size_t *len)
{
	uint32_t n = queue_body_chunks(body_size);
	if (body_size == 0 || n == 0 || n > QUEUE_BODY_READ_CHUNKS_MAX)
		return queue_body_load(q, msgid, data, len);
	/* room for n whole chunks: a stored chunk never writes past it */
	char *out = malloc((size_t)n * QUEUE_CHUNK_BYTES);
	uint8_t *sealed = malloc(QUEUE_CHUNK_SEALED_BYTES_MAX);
	size_t off = 0;
	int ok = out != NULL && sealed != NULL;
	size_t sealed_len, got;
	for (uint32_t i = 0; ok && i < n; i++) {
		uint8_t key[8];
		queue_chunk_key(key, msgid, i);
		ok = queue_chunk_get(q, msgid, i, sealed, QUEUE_CHUNK_SEALED_BYTES_MAX,
		                     &sealed_len) == 0 &&
		     queue_chunk_open(q, key, sealed, sealed_len, (uint8_t *)out + off, &got) == 0 &&
		     (i + 1 == n || got == QUEUE_CHUNK_BYTES);
		if (ok)
			off += got;
	}
	/* a full last chunk may have a successor the size does not count */
	if (ok && off == (size_t)n * QUEUE_CHUNK_BYTES)
		ok = queue_chunk_get(q, msgid, n, sealed, QUEUE_CHUNK_SEALED_BYTES_MAX,
		                     &sealed_len) == -ENOENT;
	free(sealed);
	if (!ok || off != body_size) {
		free(out);
		return queue_body_load(q, msgid, data, len);
	}
	*data = out;
	*len = off;
	return 0;
}

/* Write the deletion of envelope evpid and its schedule entry, with its
 * body when drop_body. */
static int
queue_delete_batch(struct queue *q, const struct queue_envelope *env, int drop_body)
{
	uint32_t nchunks = drop_body ? queue_body_chunks(env->body_size) : 0;
	uint8_t *keys;
	uint64_t seq;
	size_t k = 0;
	struct queue_store_op *ops = queue_drop_alloc(2, nchunks, &keys);
	if (ops == NULL)
		return -ENOMEM;
	uint8_t *ekey = keys, *skey = keys + 8;
	queue_be64_put(ekey, env->id);
	ops[k++] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_ENVELOPES,
	                                    ekey, 8, NULL, 0 };
	queue_sched_key(skey, env);
	ops[k++] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE,
	                                    skey, QUEUE_SCHED_KEY_BYTES, NULL, 0 };
	if (drop_body)
		k += queue_body_drop_ops((uint32_t)(env->id >> 32), nchunks, ops + k,
		                         keys + 8 + QUEUE_SCHED_KEY_BYTES);
	int err = q->store->ops->write(q->store, ops, k, &seq);
	free(ops);
	return err;
}

/* Remove an envelope and its schedule entry, and the body with the last
 * envelope, in one unsynced batch. Returns 0, -ENOENT (also for a record
 * that failed validation: it went to quarantine, its body stays for the
 * other envelopes and the quarantine copy), or the store's error. */
int
queue_envelope_delete(struct queue *q, uint64_t evpid)
{
	struct queue_envelope env;
	pthread_mutex_lock(&q->delete_lock);
	int err = queue_envelope_load(q, evpid, &env);
	if (err == -EINVAL)
		err = -ENOENT;
	if (err == 0)
		err = queue_msg_has(q, QUEUE_CF_ENVELOPES, (uint32_t)(evpid >> 32), evpid);
	if (err >= 0)
		err = queue_delete_batch(q, &env, err == 0);
	pthread_mutex_unlock(&q->delete_lock);
	return err;
}

/* Store env in place of the stored record and move its schedule entry, one
 * unsynced batch. Returns 0, -ENOENT when the envelope is gone (or failed
 * validation), -EINVAL when env does not encode, or the store's error. */
int
queue_envelope_update(struct queue *q, const struct queue_envelope *old_env,
                      const struct queue_envelope *env)
{
	uint8_t ekey[8], oldkey[QUEUE_SCHED_KEY_BYTES], newkey[QUEUE_SCHED_KEY_BYTES];
	uint8_t rec[QUEUE_ENVELOPE_BYTES_MAX];
	struct queue_envelope stored;
	uint64_t seq;

	if (old_env != NULL && old_env->id != env->id)
		return -EINVAL;
	size_t len = queue_envelope_encode(env, rec, sizeof(rec));
	if (len == 0)
		return -EINVAL;
	int err = queue_envelope_load(q, env->id, &stored);
	if (err < 0)
		return err == -EINVAL ? -ENOENT : err;
	struct queue_envelope kept;
	if (old_env == NULL && stored.paused && !env->paused) {
		kept = *env;          /* paused while it was being attempted */
		kept.paused = 1;
		kept.next_attempt = QUEUE_PAUSED_AT;
		env = &kept;
		len = queue_envelope_encode(env, rec, sizeof(rec));
	}
	queue_be64_put(ekey, env->id);
	queue_sched_key(oldkey, &stored);
	queue_sched_key(newkey, env);
	struct queue_store_op ops[3] = {
		{ QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, oldkey, sizeof(oldkey), NULL, 0 },
		{ QUEUE_OP_PUT, QUEUE_CF_ENVELOPES, ekey, sizeof(ekey), rec, len },
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, newkey, sizeof(newkey), "", 0 },
	};
	return q->store->ops->write(q->store, ops, 3, &seq);
}

struct queue_walk_ctx {
	struct queue *q;
	int (*fn)(void *arg, const struct queue_envelope *env);
	void *arg;
};

/* Scan callback over the schedule: load the envelope and hand it on. A
 * missing envelope means a stale entry (removed); a bad one was moved to
 * quarantine by the load (its entry removed here). */
static int
queue_walk_one(void *arg, const void *key, size_t key_len, const void *val,
               size_t val_len)
{
	struct queue_walk_ctx *c = arg;
	struct queue_envelope env;
	uint64_t seq;
	struct queue_store_op op = { QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, key, key_len,
	                             NULL, 0 };
	if (key_len != QUEUE_SCHED_KEY_BYTES)
		return c->q->store->ops->write(c->q->store, &op, 1, &seq);
	int err = queue_envelope_load(c->q, queue_be64_get((const uint8_t *)key + 8), &env);
	if (err == -ENOENT || err == -EINVAL)
		return c->q->store->ops->write(c->q->store, &op, 1, &seq);
	if (err < 0)
		return err;
	return c->fn(c->arg, &env);
}

/* Call fn for each envelope in schedule order (next_attempt, then id), over
 * the schedule as it was when the walk began; fn may delete or update.
 * Returns 0, fn's nonzero result, or the store's error. */
int
queue_walk(struct queue *q, int (*fn)(void *arg, const struct queue_envelope *env),
           void *arg)
{
	struct queue_walk_ctx c = { q, fn, arg };
	uint8_t start[1] = { 0 };
	return q->store->ops->scan(q->store, QUEUE_CF_SCHEDULE, start, 0, NULL, 0,
	                           queue_walk_one, &c);
}

/* Scan callback: count keys. */
static int
queue_count_one(void *arg, const void *key, size_t key_len, const void *val,
                size_t val_len)
{
	(*(uint64_t *)arg)++;
	return 0;
}

/* Count the envelopes; returns 0 or the store's error. */
int
queue_count(struct queue *q, uint64_t *n)
{
	uint8_t start[1] = { 0 };
	*n = 0;
	return q->store->ops->scan(q->store, QUEUE_CF_ENVELOPES, start, 0, NULL, 0,
	                           queue_count_one, n);
}

/* Count the records in quarantine; returns 0 or the store's error. */
int
queue_quarantine_count(struct queue *q, uint64_t *n)
{
	uint8_t start[1] = { 0 };
	*n = 0;
	return q->store->ops->scan(q->store, QUEUE_CF_QUARANTINE, start, 0, NULL, 0,
	                           queue_count_one, n);
}
