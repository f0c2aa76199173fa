/*
 * queue/queue.c - the queue front: opening a backend (format record, key
 * check, sweep of uncommitted writers), closing, errors and warnings,
 * message and envelope ids, the syncer glue, and the key helpers the other
 * files of queue/ share. The writer is queue/writer.c, reads and removals
 * queue/envelope.c, scheduling queue/schedule.c, the chunk format
 * queue/chunk.c, quarantine queue/quarantine.c, the group-commit syncer
 * queue/syncer.c, the envelope format queue/envelope_codec.c.
 *
 * Crash safety: body chunks are written unsynced as they fill and become part
 * of a message only when queue_commit() writes its envelopes. The first
 * early chunk of a message is written with a marker in the meta family that
 * the commit removes in its own batch, so a crash before commit leaves a
 * marker: queue_open() drops those messages' chunks, one seek per marker
 * (start-up does not depend on the size of the queue).
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
#include <sys/statvfs.h>
#include <time.h>

#include "queue/queue_int.h"

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

/* Say something an operator should see (quarantine, repairs); any thread. */
void
queue_warn(struct queue *q, const char *fmt, ...)
{
	char line[QUEUE_ERROR_BYTES_MAX * 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (q->warn != NULL)
		q->warn("%s", line);
	else
		fprintf(stderr, "queue: %s\n", line);
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

/* The store under q, for tests that inject faults. */
struct queue_store *
queue_store_of(struct queue *q)
{
	return queue_store_profiled_inner(q->store);
}

/* The queue ttl in seconds. */
uint64_t
queue_ttl_s(const struct queue *q)
{
	return q->ttl_s;
}

/* 0, or the WAL write or sync error after which new mail is refused. */
int
queue_failed(struct queue *q)
{
	int err = atomic_load(&q->syncer.failed);
	return err != 0 ? err : atomic_load(&q->store_failed);
}

/* A backend can take no more writes: remember the first error and say so
 * once. Any thread. */
void
queue_store_fatal(struct queue *q, int err)
{
	int none = 0;
	if (atomic_compare_exchange_strong(&q->store_failed, &none, err))
		queue_warn(q, "the store takes no more writes after an error (%s): new "
		           "mail is refused until smtpd restarts", strerror(-err));
}

/* Free space in the spool now, in bytes, or UINT64_MAX when unknown. */
static uint64_t
queue_space_free(struct queue *q, uint64_t *min)
{
	struct statvfs st;
	if (statvfs(q->space_path, &st) < 0)
		return UINT64_MAX;
	*min = q->space_min;
	if (*min == 0) {
		uint64_t pct = (uint64_t)st.f_blocks * st.f_frsize / 100;
		*min = pct < QUEUE_SPACE_BYTES_MIN_FLOOR ? QUEUE_SPACE_BYTES_MIN_FLOOR :
		       pct > QUEUE_SPACE_BYTES_MIN_CEIL ? QUEUE_SPACE_BYTES_MIN_CEIL : pct;
	}
	return (uint64_t)st.f_bavail * st.f_frsize;
}

/* Before taking new mail: -ENOSPC when the spool's free space is below the
 * minimum (looked up at most every QUEUE_SPACE_CHECK_MS), else 0. */
int
queue_space_check(struct queue *q)
{
	struct timespec ts;
	if (q->space_path == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	uint64_t free_b = atomic_load(&q->space_free);
	if (now_ms >= atomic_load(&q->space_at_ms) + QUEUE_SPACE_CHECK_MS) {
		uint64_t min = 0;
		free_b = queue_space_free(q, &min);
		/* below the minimum is stored as 0, so readers need not know it */
		atomic_store(&q->space_free, free_b < min ? 0 : free_b);
		atomic_store(&q->space_at_ms, now_ms);
		free_b = free_b < min ? 0 : free_b;
	}
	if (free_b != 0)
		return 0;
	queue_store_error(q, "free space in the spool is below the minimum: new mail "
	                  "refused until there is more");
	return -ENOSPC;
}

/* Keys of one message's range in the bodies or envelopes family. */
void
queue_msg_range(uint32_t msgid, uint8_t start[QUEUE_MSG_START_BYTES],
                uint8_t end[QUEUE_MSG_END_BYTES])
{
	queue_be32_put(start, msgid);
	queue_be32_put(end, msgid);
	memset(end + 4, 0xff, 4);
	end[8] = 0;
}

/* The key of chunk index of msgid's body: the message id, then the index. */
void
queue_chunk_key(uint8_t key[8], uint32_t msgid, uint32_t index)
{
	queue_be32_put(key, msgid);
	queue_be32_put(key + 4, index);
}

/* Read chunk index of msgid's body, still sealed, into buf (cap bytes):
 * 0, -ENOENT, -EOVERFLOW when longer than cap (*len holds its length), or
 * the store's error. */
int
queue_chunk_get(struct queue *q, uint32_t msgid, uint32_t index, void *buf, size_t cap,
                size_t *len)
{
	uint8_t key[8];
	queue_chunk_key(key, msgid, index);
	return q->store->ops->get(q->store, QUEUE_CF_BODIES, key, sizeof key, buf, cap, len);
}

/* The schedule key of env: next_attempt, then id. */
void
queue_sched_key(uint8_t key[QUEUE_SCHED_KEY_BYTES], const struct queue_envelope *env)
{
	queue_be64_put(key, env->next_attempt);
	queue_be64_put(key + 8, env->id);
}

/* Scan callback: stop at the first key other than *skip (its first 8
 * bytes, zero-padded, so a malformed short key still counts). */
static int
queue_other_key(void *arg, const void *key, size_t key_len, const void *val,
                size_t val_len)
{
	const uint64_t *skip = arg;
	uint8_t k[8] = { 0 };
	memcpy(k, key, key_len < 8 ? key_len : 8);
	return *skip == 0 || queue_be64_get(k) != *skip;
}

/* Does the family hold a key of message msgid (other than skip, when
 * nonzero)? One scan of the message's range. Returns 1, 0 or a negative
 * error. */
int
queue_msg_has(struct queue *q, enum queue_cf cf, uint32_t msgid, uint64_t skip)
{
	uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES];
	queue_msg_range(msgid, start, end);
	return q->store->ops->scan(q->store, cf, start, sizeof(start), end, sizeof(end),
	                           queue_other_key, &skip);
}

/* Is chunk 0 of msgid's body stored? Every stored body has one. Returns
 * 1, 0 or a negative error. */
static int
queue_body_has(struct queue *q, uint32_t msgid)
{
	uint8_t buf[1];
	size_t len;
	int err = queue_chunk_get(q, msgid, 0, buf, 0, &len);
	return err == -ENOENT ? 0 : err == 0 || err == -EOVERFLOW ? 1 : err;
}

/* Pick a fresh message id; call for each new message. Never 0, never one
 * with envelopes or a body in the store (a store error counts as free: the
 * write that follows will report it). */
uint32_t
queue_msgid_new(struct queue *q)
{
	for (;;) {
		uint32_t id;
		queue_random(&id, sizeof(id));
		if (id == 0)
			continue;
		if (queue_msg_has(q, QUEUE_CF_ENVELOPES, id, 0) > 0 || queue_body_has(q, id) > 0)
			continue;
		return id;
	}
}

/* An envelope id for one recipient of msgid: msgid high, random low. */
uint64_t
queue_evpid_new(uint32_t msgid)
{
	uint32_t low;
	queue_random(&low, sizeof(low));
	return (uint64_t)msgid << 32 | low;
}

/* Add the deletion of msgid's body to ops: a point delete per chunk when
 * their count is known and at most QUEUE_DROP_CHUNKS_MAX (no range tombstone
 * for reads to step over), else one range delete. keys holds 8 * max(nchunks,
 * 2) bytes. Returns the ops added. */
size_t
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
		queue_chunk_key(keys + 8 * i, msgid, i);
		ops[i] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_BODIES,
		                                  keys + 8 * i, 8, NULL, 0 };
	}
	return nchunks;
}

/* Room for `fixed` ops plus the body deletion of nchunks chunks, and for
 * their keys: *keys points past the ops at 8 * max(nchunks, 2) bytes for the
 * body (a range takes 13) plus an envelope and a schedule key. Returns NULL
 * without memory. */
struct queue_store_op *
queue_drop_alloc(size_t fixed, uint32_t nchunks, uint8_t **keys)
{
	size_t n = nchunks > QUEUE_DROP_CHUNKS_MAX || nchunks < 2 ? 2 : nchunks;
	struct queue_store_op *ops = malloc((fixed + n) * sizeof(*ops) + 8 * n +
	                                    QUEUE_SCHED_KEY_BYTES + 8);
	if (ops != NULL)
		*keys = (uint8_t *)(ops + fixed + n);
	return ops;
}

/* Delete an uncommitted message's body (nchunks chunks, 0 for unknown) and
 * its writer marker, unsynced. */
int
queue_body_drop(struct queue *q, uint32_t msgid, uint32_t nchunks)
{
	uint8_t *keys, marker[5] = { QUEUE_META_PENDING };
	uint64_t seq;
	struct queue_store_op *ops = queue_drop_alloc(1, nchunks, &keys);
	if (ops == NULL)
		return -ENOMEM;
	queue_be32_put(marker + 1, msgid);
	ops[0] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_META, marker,
	                                  sizeof(marker), NULL, 0 };
	size_t n = 1 + queue_body_drop_ops(msgid, nchunks, ops + 1, keys);
	int err = q->store->ops->write(q->store, ops, n, &seq);
	free(ops);
	return err;
}

/* Chunks a committed body of body_size bytes was stored in. */
uint32_t
queue_body_chunks(uint64_t body_size)
{
	uint64_t n = (body_size + QUEUE_CHUNK_BYTES - 1) / QUEUE_CHUNK_BYTES;
	return n == 0 ? 1 : n > UINT32_MAX ? 0 : (uint32_t)n;
}

/* Scan callback: remember the msgid of the first writer marker. */
static int
queue_first_marker(void *arg, const void *key, size_t key_len, const void *val,
                   size_t val_len)
{
	const uint8_t *k = key;
	*(int64_t *)arg = key_len == 5 ? (int64_t)queue_be32_get(k + 1) : -1;
	return 1;
}

/* At open: drop the chunks of every writer that never committed (their
 * markers), and markers that are malformed. Returns 0 or an error. */
static int
queue_sweep_writers(struct queue *q)
{
	uint8_t start[5] = { QUEUE_META_PENDING }, end[1] = { QUEUE_META_PENDING + 1 };
	for (;;) {
		int64_t msgid = -2;
		int rc = q->store->ops->scan(q->store, QUEUE_CF_META, start, 1, end,
		                             sizeof(end), queue_first_marker, &msgid);
		if (rc <= 0)
			return rc;
		if (msgid < 0) {
			/* a malformed key: ends the sweep rather than loop on it */
			queue_warn(q, "malformed writer marker in the meta family left alone");
			return 0;
		}
		if ((rc = queue_body_drop(q, (uint32_t)msgid, 0)) < 0)
			return rc;
		queue_warn(q, "message %08x was never committed: its body chunks "
		           "were dropped", (unsigned)msgid);
	}
}

/* Scan callback: note that the family holds a key, and stop. */
static int
queue_any_key(void *arg, const void *key, size_t key_len, const void *val,
              size_t val_len)
{
	*(int *)arg = 1;
	return 1;
}

/* At open: the meta "format" record says how the store was written; a new
 * store gets one; one without it but with data is from an older ringmta.
 * Returns 0, -EPROTO or the store's error. */
static int
queue_check_format(struct queue *q)
{
	uint8_t rec[4], want[4];
	size_t len;
	uint64_t seq;
	queue_be32_put(want, QUEUE_FORMAT_VERSION);
	int err = q->store->ops->get(q->store, QUEUE_CF_META, "format", 6, rec,
	                             sizeof(rec), &len);
	if (err == 0 && len == 4 && memcmp(rec, want, 4) == 0)
		return 0;
	if (err == 0 || err == -EOVERFLOW) {
		queue_store_error(q, "queue format %u, this smtpd reads format %u",
		                  len == 4 ? queue_be32_get(rec) : 0, QUEUE_FORMAT_VERSION);
		return -EPROTO;
	}
	if (err != -ENOENT)
		return err;
	int any = 0;
	uint8_t zero[1] = { 0 };
	for (int cf = 0; cf < QUEUE_CF_META && !any; cf++)
		if ((err = q->store->ops->scan(q->store, cf, zero, 0, NULL, 0,
		                               queue_any_key, &any)) < 0)
			return err;
	if (any) {
		queue_store_error(q, "the queue has mail but no format record (written "
		                  "by an older smtpd): deliver it with that version first");
		return -EPROTO;
	}
	struct queue_store_op op = { QUEUE_OP_PUT, QUEUE_CF_META, "format", 6, want, 4 };
	return q->store->ops->write(q->store, &op, 1, &seq);
}

/* Free q (its store already closed or never opened). */
static void
queue_free(struct queue *q)
{
	pthread_mutex_destroy(&q->err_lock);
	pthread_mutex_destroy(&q->delete_lock);
	memset(q->key, 0, sizeof(q->key));
	free(q->space_path);
	free(q);
}

/* Open the backend named by opts (default rocksdb). Returns 0 or an error,
 * with queue_strerror(NULL) saying why. */
int
queue_open(struct queue **qp, const struct queue_options *opts)
{
	const struct queue_store_ops *ops = &queue_store_rocksdb;
	*qp = NULL;
	if (opts->backend != NULL && strcmp(opts->backend, "ram") == 0) {
		ops = &queue_store_ram;
	} else if (opts->backend != NULL && strcmp(opts->backend, "rocksdb") != 0) {
		snprintf(queue_open_err, sizeof(queue_open_err),
		         "unknown queue backend \"%s\"", opts->backend);
		return -EINVAL;
	}
	struct queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	pthread_mutex_init(&q->err_lock, NULL);
	pthread_mutex_init(&q->delete_lock, NULL);
	q->ttl_s = opts->ttl_s ? opts->ttl_s : QUEUE_TTL_S_DEFAULT;
	static atomic_uint_fast64_t key_gens;
	q->encrypt = opts->encryption != 0;
	memcpy(q->key, opts->encryption_key, sizeof(q->key));
	q->key_gen = atomic_fetch_add(&key_gens, 1) + 1;
	q->warn = opts->warn;
	q->space_min = opts->space_bytes_min;
	if (ops == &queue_store_rocksdb && opts->path != NULL &&
	    (q->space_path = strdup(opts->path)) == NULL) {
		queue_free(q);
		return -ENOMEM;
	}
	int err = ops->open(q, opts, &q->store);
	struct queue_store *timed = err == 0 ? queue_store_profiled(q, q->store) : NULL;
	if (err == 0 && timed == NULL) {
		q->store->ops->close(q->store);
		q->store = NULL;
		queue_store_error(q, "out of memory");
		err = -ENOMEM;
	}
	if (timed != NULL)
		q->store = timed;
	if (err == 0 && (err = queue_syncer_init(&q->syncer, q->store)) < 0)
		queue_store_error(q, "eventfd: %s", strerror(-err));
	if (err == 0)
		err = queue_check_format(q);
	if (err == 0)
		err = queue_keycheck(q);
	if (err == 0)
		err = queue_sweep_writers(q);
	if (err < 0) {
		memcpy(queue_open_err, q->err, sizeof(queue_open_err));
		if (q->store != NULL) {
			queue_syncer_fini(&q->syncer);
			q->store->ops->close(q->store);
		}
		queue_free(q);
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
	queue_free(q);
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

/* Records moved to quarantine since open. */
uint64_t
queue_bad_records(struct queue *q)
{
	return atomic_load(&q->quarantined);
}
