/*
 * queue/queue.c - the queue front: opening a backend, message and envelope
 * ids, the body writer, commit, load, delete, update, walk and count, over
 * the store contract in queue/store.h. The group-commit syncer is in
 * queue/syncer.c, the record format in queue/envelope_codec.c.
 *
 * Crash safety: body chunks are written unsynced as they fill and become part
 * of a message only when queue_commit() writes its envelopes. A crash before
 * commit leaves chunks with no envelope; queue_open() deletes them (one seek
 * per message in the bodies family, cheap for a queue of this size). A
 * schedule entry whose envelope is gone is removed by queue_walk().
 *
 * Locking: the store is thread-safe; the error text has its own mutex;
 * delete_lock serialises queue_envelope_delete() so that two threads deleting
 * a message's last two envelopes cannot both leave the body behind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "queue/queue.h"
#include "queue/store.h"
#include "queue/syncer.h"

#define QUEUE_MSG_START_BYTES 4  /* msgid: sorts before its own 8-byte keys */
#define QUEUE_MSG_END_BYTES 9    /* msgid + ff ff ff ff 00: after them all */
#define QUEUE_SCHED_KEY_BYTES 16
#define QUEUE_DROP_CHUNKS_MAX 1024  /* point deletes up to this many chunks */

struct queue {
	struct queue_store *store;
	struct queue_syncer syncer;
	pthread_mutex_t err_lock;
	char err[QUEUE_ERROR_BYTES_MAX];
	pthread_mutex_t delete_lock;
	atomic_uint_fast64_t bad_records;
};

static __thread char queue_open_err[QUEUE_ERROR_BYTES_MAX];

/* Record the text of a store error; called by backends, any thread. */
void
queue_store_error(struct queue *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&q->err_lock);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	pthread_mutex_unlock(&q->err_lock);
	va_end(ap);
}

/* The last error text, copied for the calling thread; with q NULL, why this
 * thread's last queue_open() failed. */
const char *
queue_strerror(struct queue *q)
{
	static __thread char copy[QUEUE_ERROR_BYTES_MAX];
	if (q == NULL)
		return queue_open_err;
	pthread_mutex_lock(&q->err_lock);
	memcpy(copy, q->err, sizeof(copy));
	pthread_mutex_unlock(&q->err_lock);
	return copy;
}

/* Keys of one message's range in the bodies or envelopes family. */
static void
queue_msg_range(uint32_t msgid, uint8_t start[QUEUE_MSG_START_BYTES],
                uint8_t end[QUEUE_MSG_END_BYTES])
{
	queue_be32_put(start, msgid);
	queue_be32_put(end, msgid);
	memset(end + 4, 0xff, 4);
	end[8] = 0;
}

/* The schedule key of env: next_attempt, then id. */
static void
queue_sched_key(uint8_t key[QUEUE_SCHED_KEY_BYTES], const struct queue_envelope *env)
{
	queue_be64_put(key, env->next_attempt);
	queue_be64_put(key + 8, env->id);
}

/* Scan callback: remember the first key's 8 bytes (zero-padded, so a
 * malformed short key still yields its message id) and stop. */
static int
queue_first_key(void *arg, const void *key, size_t key_len, const void *val,
                size_t val_len)
{
	memset(arg, 0, 8);
	memcpy(arg, key, key_len < 8 ? key_len : 8);
	return 1;
}

/* Does the family hold a key of message msgid (other than skip, when
 * nonzero)? Returns 1, 0 or a negative error. */
static int
queue_msg_has(struct queue *q, enum queue_cf cf, uint32_t msgid, uint64_t skip)
{
	uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES], key[8];
	queue_msg_range(msgid, start, end);
	int rc = q->store->ops->scan(q->store, cf, start, sizeof(start), end,
	                             sizeof(end), queue_first_key, key);
	if (rc <= 0 || skip == 0 || queue_be64_get(key) != skip)
		return rc;
	/* the first key is the one to skip: look again just past it */
	uint8_t next[9];
	memcpy(next, key, 8);
	next[8] = 0;
	return q->store->ops->scan(q->store, cf, next, sizeof(next), end, sizeof(end),
	                           queue_first_key, key);
}

/* Pick a fresh message id; call for each new message. Never 0, never one
 * with envelopes or chunks in the store (a store error counts as free: the
 * write that follows will report it). */
uint32_t
queue_msgid_new(struct queue *q)
{
	for (;;) {
		uint32_t id;
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			if (errno == EINTR)
				continue;
			perror("queue: getrandom");
			abort();
		}
		if (id == 0)
			continue;
		if (queue_msg_has(q, QUEUE_CF_ENVELOPES, id, 0) > 0 ||
		    queue_msg_has(q, QUEUE_CF_BODIES, id, 0) > 0)
			continue;
		return id;
	}
}

/* An envelope id for one recipient of msgid: msgid high, random low. */
uint64_t
queue_evpid_new(uint32_t msgid)
{
	uint32_t low;
	while (getrandom(&low, sizeof(low), 0) != sizeof(low)) {
		if (errno != EINTR) {
			perror("queue: getrandom");
			abort();
		}
	}
	return (uint64_t)msgid << 32 | low;
}

/* Add the deletion of msgid's body to ops: a point delete per chunk when
 * their count is known and at most QUEUE_DROP_CHUNKS_MAX (no range tombstone
 * for reads to step over), else one range delete. keys holds 8 * max(nchunks,
 * 2) bytes. Returns the ops added. */
static size_t
queue_body_drop_ops(uint32_t msgid, uint32_t nchunks, struct queue_store_op *ops,
                    uint8_t *keys)
{
	if (nchunks == 0 || nchunks > QUEUE_DROP_CHUNKS_MAX) {
		uint8_t *end = keys + QUEUE_MSG_START_BYTES;
		queue_msg_range(msgid, keys, end);
		ops[0] = (struct queue_store_op){ QUEUE_OP_DELETE_RANGE, QUEUE_CF_BODIES,
		                                  keys, QUEUE_MSG_START_BYTES,
		                                  end, QUEUE_MSG_END_BYTES };
		return 1;
	}
	for (uint32_t i = 0; i < nchunks; i++) {
		queue_be32_put(keys + 8 * i, msgid);
		queue_be32_put(keys + 8 * i + 4, i);
		ops[i] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_BODIES,
		                                  keys + 8 * i, 8, NULL, 0 };
	}
	return nchunks;
}

/* Room for `fixed` ops plus the body deletion of nchunks chunks, and for
 * their keys: *keys points past the ops at 8 * max(nchunks, 2) bytes for the
 * body (a range takes 13) plus an envelope and a schedule key. Returns NULL
 * without memory. */
static struct queue_store_op *
queue_drop_alloc(size_t fixed, uint32_t nchunks, uint8_t **keys)
{
	size_t n = nchunks > QUEUE_DROP_CHUNKS_MAX || nchunks < 2 ? 2 : nchunks;
	struct queue_store_op *ops = malloc((fixed + n) * sizeof(*ops) + 8 * n +
	                                    QUEUE_SCHED_KEY_BYTES + 8);
	if (ops != NULL)
		*keys = (uint8_t *)(ops + fixed + n);
	return ops;
}

/* Delete msgid's body (nchunks chunks, 0 for unknown), unsynced. */
static int
queue_body_drop(struct queue *q, uint32_t msgid, uint32_t nchunks)
{
	uint8_t *keys;
	uint64_t seq;
	struct queue_store_op *ops = queue_drop_alloc(0, nchunks, &keys);
	if (ops == NULL)
		return -ENOMEM;
	size_t n = queue_body_drop_ops(msgid, nchunks, ops, keys);
	int err = q->store->ops->write(q->store, ops, n, &seq);
	free(ops);
	return err;
}

/* At open: drop the chunks of every message that has no envelope (a crash
 * between queue_body_append() and queue_commit()). Returns 0 or an error. */
static int
queue_clean_orphans(struct queue *q)
{
	uint8_t start[QUEUE_MSG_START_BYTES] = { 0 }, key[8];
	for (;;) {
		int rc = q->store->ops->scan(q->store, QUEUE_CF_BODIES, start,
		                             sizeof(start), NULL, 0, queue_first_key, key);
		if (rc <= 0)
			return rc;
		uint32_t msgid = queue_be32_get(key);
		rc = queue_msg_has(q, QUEUE_CF_ENVELOPES, msgid, 0);
		if (rc == 0)
			rc = queue_body_drop(q, msgid, 0);
		if (rc < 0)
			return rc;
		if (msgid == UINT32_MAX)
			return 0;
		queue_be32_put(start, msgid + 1);
	}
}

/* Open the queue named by opts: the backend's store, the syncer's eventfd
 * (not its thread), then the orphan-chunk sweep. Returns 0 and *qp, or an
 * error with the text in queue_strerror(NULL). */
int
queue_open(struct queue **qp, const struct queue_options *opts)
{
	const struct queue_store_ops *ops = &queue_store_rocksdb;
	if (opts->backend != NULL && strcmp(opts->backend, "ram") == 0)
		ops = &queue_store_ram;
	else if (opts->backend != NULL && strcmp(opts->backend, "rocksdb") != 0) {
		snprintf(queue_open_err, sizeof(queue_open_err),
		         "unknown queue backend \"%s\"", opts->backend);
		return -EINVAL;
	}
	struct queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	pthread_mutex_init(&q->err_lock, NULL);
	pthread_mutex_init(&q->delete_lock, NULL);
	int err = ops->open(q, opts, &q->store);
	if (err == 0 && (err = queue_syncer_init(&q->syncer, q->store)) < 0)
		queue_store_error(q, "eventfd: %s", strerror(-err));
	if (err == 0)
		err = queue_clean_orphans(q);
	if (err < 0) {
		memcpy(queue_open_err, q->err, sizeof(queue_open_err));
		if (q->store != NULL) {
			queue_syncer_fini(&q->syncer);
			q->store->ops->close(q->store);
		}
		pthread_mutex_destroy(&q->err_lock);
		pthread_mutex_destroy(&q->delete_lock);
		free(q);
		return err;
	}
	*qp = q;
	return 0;
}

/* Shut down: serve waiting sync requests, stop the syncer, close the store.
 * Writers still open are abandoned (their chunks go at the next open). */
void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	queue_syncer_fini(&q->syncer);
	q->store->ops->close(q->store);
	pthread_mutex_destroy(&q->err_lock);
	pthread_mutex_destroy(&q->delete_lock);
	free(q);
}

/* Start the group-commit thread; returns 0, -EALREADY or -errno. */
int
queue_syncer_start(struct queue *q)
{
	return queue_syncer_spawn(&q->syncer);
}

/* Hand req to the syncer; never blocks. Requests submitted before
 * queue_syncer_start() wait for it (or for queue_close()). */
void
queue_sync_submit(struct queue *q, struct queue_sync_req *req)
{
	queue_syncer_push(&q->syncer, req);
}

/* Make every write so far durable, on this thread; returns 0 or -EIO. */
int
queue_sync_now(struct queue *q)
{
	return queue_syncer_sync(&q->syncer);
}

/* For tests: WAL syncs the syncer thread has done. */
uint64_t
queue_syncer_syncs(struct queue *q)
{
	return atomic_load(&q->syncer.syncs);
}

/* Envelopes queue_walk() skipped because they failed to decode. */
uint64_t
queue_bad_records(struct queue *q)
{
	return atomic_load(&q->bad_records);
}

/* Start a message: a fresh msgid and a chunk buffer. Returns 0 or -ENOMEM. */
int
queue_body_begin(struct queue *q, struct queue_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->buf = malloc(QUEUE_CHUNK_BYTES);
	if (w->buf == NULL)
		return -ENOMEM;
	w->q = q;
	w->msgid = queue_msgid_new(q);
	return 0;
}

/* Write the full buffer as the next chunk, unsynced. */
static int
queue_chunk_flush(struct queue_writer *w)
{
	uint8_t key[8];
	uint64_t seq;
	queue_be32_put(key, w->msgid);
	queue_be32_put(key + 4, w->chunk_next);
	struct queue_store_op op = { QUEUE_OP_PUT, QUEUE_CF_BODIES, key, sizeof(key),
	                             w->buf, w->buf_len };
	int err = w->q->store->ops->write(w->q->store, &op, 1, &seq);
	if (err == 0) {
		w->chunk_next++;
		w->buf_len = 0;
	}
	return err;
}

/* Add body bytes. A full chunk is written when more data follows it, so the
 * last chunk always goes with the commit. Returns 0, -EINVAL on a closed
 * writer, -EFBIG past 2^32 chunks, or the store's error. */
int
queue_body_append(struct queue_writer *w, const void *data, size_t len)
{
	const char *p = data;
	if (w->buf == NULL)
		return -EINVAL;
	while (len > 0) {
		if (w->buf_len == QUEUE_CHUNK_BYTES) {
			if (w->chunk_next == UINT32_MAX)
				return -EFBIG;
			int err = queue_chunk_flush(w);
			if (err < 0)
				return err;
		}
		size_t take = QUEUE_CHUNK_BYTES - w->buf_len;
		if (take > len)
			take = len;
		memcpy(w->buf + w->buf_len, p, take);
		w->buf_len += take;
		w->size += take;
		p += take;
		len -= take;
	}
	return 0;
}

/* qsort order for envelope ids. */
static int
queue_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Envelope ids of a commit: each in w's message, no two alike. */
static int
queue_commit_ids_ok(const struct queue_writer *w, const struct queue_envelope *envs,
                    unsigned n, uint64_t *ids)
{
	for (unsigned i = 0; i < n; i++) {
		if (envs[i].id >> 32 != w->msgid)
			return 0;
		ids[i] = envs[i].id;
	}
	qsort(ids, n, sizeof(ids[0]), queue_u64_cmp);
	for (unsigned i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			return 0;
	return 1;
}

/* Fill ops[] for the commit batch in mem; returns the op count or 0 when an
 * envelope does not encode. body_size is set to the bytes appended. */
static size_t
queue_commit_ops(struct queue_writer *w, const struct queue_envelope *envs,
                 unsigned n, struct queue_store_op *ops, uint8_t *mem)
{
	size_t k = 0;
	uint8_t *chunk_key = mem;
	mem += 8;
	queue_be32_put(chunk_key, w->msgid);
	queue_be32_put(chunk_key + 4, w->chunk_next);
	ops[k++] = (struct queue_store_op){ QUEUE_OP_PUT, QUEUE_CF_BODIES, chunk_key,
	                                    8, w->buf, w->buf_len };
	for (unsigned i = 0; i < n; i++) {
		struct queue_envelope env = envs[i];
		uint8_t *ekey = mem, *skey = mem + 8, *rec = mem + 8 + QUEUE_SCHED_KEY_BYTES;
		env.body_size = w->size;
		size_t len = queue_envelope_encode(&env, rec, QUEUE_ENVELOPE_BYTES_MAX);
		if (len == 0)
			return 0;
		queue_be64_put(ekey, env.id);
		queue_sched_key(skey, &env);
		ops[k++] = (struct queue_store_op){ QUEUE_OP_PUT, QUEUE_CF_ENVELOPES,
		                                    ekey, 8, rec, len };
		ops[k++] = (struct queue_store_op){ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE,
		                                    skey, QUEUE_SCHED_KEY_BYTES, "", 0 };
		mem += 8 + QUEUE_SCHED_KEY_BYTES + QUEUE_ENVELOPE_BYTES_MAX;
	}
	return k;
}

/* Write the last chunk, every envelope and its schedule entry in one atomic
 * unsynced batch; *seq is what to submit to the syncer. Each envelope's
 * body_size is stored as the bytes appended. Returns 0 (the writer is then
 * closed), -EINVAL for no envelopes, an id not of this message, a duplicate
 * id or a string without its NUL, -ENOMEM, or the store's error; on error the
 * writer stays open for queue_body_abort(). */
int
queue_commit(struct queue_writer *w, const struct queue_envelope *envs,
             unsigned n, uint64_t *seq)
{
	if (w->q == NULL)
		return -EINVAL;  /* never begun */
	if (w->buf == NULL || n == 0) {
		queue_store_error(w->q, "commit refused: %s",
		                  w->buf == NULL ? "writer closed" : "no envelopes");
		return -EINVAL;
	}
	size_t per = 8 + QUEUE_SCHED_KEY_BYTES + QUEUE_ENVELOPE_BYTES_MAX;
	struct queue_store_op *ops = malloc((2 * (size_t)n + 1) * sizeof(*ops) +
	                                    n * sizeof(uint64_t) + 8 + n * per);
	if (ops == NULL)
		return -ENOMEM;
	uint64_t *ids = (uint64_t *)(ops + 2 * (size_t)n + 1);
	uint8_t *mem = (uint8_t *)(ids + n);
	int err = -EINVAL;
	size_t k = 0;
	if (queue_commit_ids_ok(w, envs, n, ids))
		k = queue_commit_ops(w, envs, n, ops, mem);
	if (k > 0)
		err = w->q->store->ops->write(w->q->store, ops, k, seq);
	else
		queue_store_error(w->q, "message %08x: commit refused: an envelope id "
		                  "of another message, a duplicate, or a field "
		                  "without its NUL", w->msgid);
	free(ops);
	if (err == 0) {
		free(w->buf);
		w->buf = NULL;
		w->buf_len = 0;
	}
	return err;
}

/* Give up a message: delete the chunks written so far and close the writer.
 * Harmless on a writer already committed or aborted. */
void
queue_body_abort(struct queue_writer *w)
{
	if (w->buf == NULL)
		return;
	if (w->chunk_next > 0)
		(void)queue_body_drop(w->q, w->msgid, w->chunk_next);  /* else swept at open */
	free(w->buf);
	w->buf = NULL;
	w->buf_len = 0;
}

/* Read and decode one envelope. Returns 0, -ENOENT, -EINVAL for a record
 * that does not decode (or names another id), or the store's error. */
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
	if (err == -EINVAL)
		queue_store_error(q, "envelope %016llx: bad record",
		                  (unsigned long long)evpid);
	return err;
}

struct queue_body_acc {
	char *data;
	size_t len;
	size_t cap;
	uint32_t next;  /* the chunk index expected next */
	int err;
};

/* Scan callback: append one chunk, checking that none is missing. */
static int
queue_body_chunk(void *arg, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
	struct queue_body_acc *a = arg;
	if (key_len != 8 || queue_be32_get((const uint8_t *)key + 4) != a->next)
		return a->err = -EIO;
	if (a->len + val_len > a->cap) {
		size_t cap = a->cap ? a->cap : QUEUE_CHUNK_BYTES;
		while (cap < a->len + val_len)
			cap *= 2;
		char *d = realloc(a->data, cap);
		if (d == NULL)
			return a->err = -ENOMEM;
		a->data = d;
		a->cap = cap;
	}
	if (val_len > 0)
		memcpy(a->data + a->len, val, val_len);
	a->len += val_len;
	a->next++;
	return 0;
}

/* Read a message's whole body. Returns 0 with *data malloc'd (never NULL)
 * and *len, -ENOENT when there is no chunk, -EIO when a chunk is missing. */
int
queue_body_load(struct queue *q, uint32_t msgid, char **data, size_t *len)
{
	uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES];
	struct queue_body_acc a = { 0 };
	queue_msg_range(msgid, start, end);
	int err = q->store->ops->scan(q->store, QUEUE_CF_BODIES, start, sizeof(start),
	                              end, sizeof(end), queue_body_chunk, &a);
	if (err == 0 && a.next == 0)
		err = -ENOENT;
	if (err == 0 && a.data == NULL && (a.data = malloc(1)) == NULL)
		err = -ENOMEM;
	if (err < 0) {
		if (a.err == -EIO)
			queue_store_error(q, "message %08x: body chunk %u missing",
			                  msgid, a.next);
		free(a.data);
		return err;
	}
	*data = a.data;
	*len = a.len;
	return 0;
}

/* Chunks a committed body of body_size bytes was stored in. */
static uint32_t
queue_body_chunks(uint64_t body_size)
{
	uint64_t n = (body_size + QUEUE_CHUNK_BYTES - 1) / QUEUE_CHUNK_BYTES;
	return n == 0 ? 1 : n > UINT32_MAX ? 0 : (uint32_t)n;
}

/* Write the deletion of envelope evpid (env NULL when it did not decode: its
 * schedule key is unknown), with its body when drop_body. */
static int
queue_delete_batch(struct queue *q, uint64_t evpid, const struct queue_envelope *env,
                   int drop_body)
{
	uint32_t nchunks = drop_body && env != NULL ? queue_body_chunks(env->body_size) : 0;
	uint8_t *keys;
	uint64_t seq;
	size_t k = 0;
	struct queue_store_op *ops = queue_drop_alloc(2, nchunks, &keys);
	if (ops == NULL)
		return -ENOMEM;
	uint8_t *ekey = keys, *skey = keys + 8;
	queue_be64_put(ekey, evpid);
	ops[k++] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_ENVELOPES,
	                                    ekey, 8, NULL, 0 };
	if (env != NULL) {
		queue_sched_key(skey, env);
		ops[k++] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE,
		                                    skey, QUEUE_SCHED_KEY_BYTES, NULL, 0 };
	}
	if (drop_body)
		k += queue_body_drop_ops((uint32_t)(evpid >> 32), nchunks, ops + k,
		                         keys + 8 + QUEUE_SCHED_KEY_BYTES);
	int err = q->store->ops->write(q->store, ops, k, &seq);
	free(ops);
	return err;
}

/* Remove an envelope and its schedule entry, and the body with the last
 * envelope, in one unsynced batch. A record that does not decode is removed
 * all the same (its schedule entry goes at the next walk). Returns 0,
 * -ENOENT, or the store's error. */
int
queue_envelope_delete(struct queue *q, uint64_t evpid)
{
	struct queue_envelope env;
	pthread_mutex_lock(&q->delete_lock);
	int err = queue_envelope_load(q, evpid, &env);
	int decoded = err == 0;
	if (err == 0 || err == -EINVAL)
		err = queue_msg_has(q, QUEUE_CF_ENVELOPES, (uint32_t)(evpid >> 32), evpid);
	if (err >= 0)
		err = queue_delete_batch(q, evpid, decoded ? &env : NULL, err == 0);
	pthread_mutex_unlock(&q->delete_lock);
	return err;
}

/* Store env in place of old_env and move its schedule entry, one unsynced
 * batch. Returns 0, -EINVAL when the ids differ or env does not encode, or
 * the store's error. */
int
queue_envelope_update(struct queue *q, const struct queue_envelope *old_env,
                      const struct queue_envelope *env)
{
	uint8_t ekey[8], oldkey[QUEUE_SCHED_KEY_BYTES], newkey[QUEUE_SCHED_KEY_BYTES];
	uint8_t rec[QUEUE_ENVELOPE_BYTES_MAX];
	uint64_t seq;

	if (old_env->id != env->id)
		return -EINVAL;
	size_t len = queue_envelope_encode(env, rec, sizeof(rec));
	if (len == 0)
		return -EINVAL;
	queue_be64_put(ekey, env->id);
	queue_sched_key(oldkey, old_env);
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
 * missing envelope means a stale entry (removed); a bad one is counted and
 * skipped. */
static int
queue_walk_one(void *arg, const void *key, size_t key_len, const void *val,
               size_t val_len)
{
	struct queue_walk_ctx *c = arg;
	struct queue_envelope env;
	uint64_t seq;
	if (key_len != QUEUE_SCHED_KEY_BYTES) {
		atomic_fetch_add(&c->q->bad_records, 1);
		return 0;
	}
	int err = queue_envelope_load(c->q, queue_be64_get((const uint8_t *)key + 8), &env);
	if (err == -ENOENT) {
		struct queue_store_op op = { QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE,
		                             key, key_len, NULL, 0 };
		return c->q->store->ops->write(c->q->store, &op, 1, &seq);
	}
	if (err == -EINVAL) {
		atomic_fetch_add(&c->q->bad_records, 1);
		return 0;
	}
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
