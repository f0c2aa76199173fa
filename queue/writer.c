/*
 * queue/writer.c - writing a message: queue_body_begin(), _append(),
 * queue_commit() and queue_body_abort(). Chunks are sealed by queue/chunk.c
 * (version header, AES-256-GCM when the queue is encrypted); a message's
 * first early chunk goes with a writer marker that its commit removes (see
 * queue/queue.c on crash safety). After a failed WAL sync (queue_failed())
 * nothing new is written: begin, append and commit refuse with -EIO.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_int.h"

/* -EIO with the reason in the error text when the queue refuses new mail
 * (a failed WAL write or sync), else 0. */
static int
queue_refusing(struct queue *q)
{
	int failed = queue_failed(q);
	if (failed == 0)
		return 0;
	queue_store_error(q, "queue refuses new mail after a failed write to its "
	                  "log (%s); restart smtpd", strerror(-failed));
	return -EIO;
}

/* Start a message: a fresh msgid, its nonce and the chunk buffers. Returns
 * 0, -ENOMEM, -ENOSPC below the free space minimum, or -EIO when the queue
 * refuses new mail. */
int
queue_body_begin(struct queue *q, struct queue_writer *w)
{
	memset(w, 0, sizeof(*w));
	int err = queue_refusing(q);
	if (err == 0)
		err = queue_space_check(q);
	if (err < 0)
		return err;
	w->buf = malloc(QUEUE_CHUNK_BYTES);
	w->seal = malloc(QUEUE_CHUNK_SEALED_BYTES_MAX);
	if (w->buf == NULL || w->seal == NULL) {
		free(w->buf);
		free(w->seal);
		w->buf = w->seal = NULL;
		return -ENOMEM;
	}
	queue_random(w->nonce, sizeof(w->nonce));
	w->q = q;
	w->msgid = queue_msgid_new(q);
	return 0;
}

/* Free the writer's buffers; it is closed afterwards. */
static void
queue_writer_close(struct queue_writer *w)
{
	free(w->buf);
	free(w->seal);
	w->buf = w->seal = NULL;
	w->buf_len = 0;
}

/* Seal the buffer as chunk chunk_next into w->seal with its key in key[8];
 * returns the sealed length or 0 when sealing failed. */
static size_t
queue_writer_seal(struct queue_writer *w, uint8_t key[8])
{
	queue_chunk_key(key, w->msgid, w->chunk_next);
	return queue_chunk_seal(w->q, key, w->nonce, w->buf, w->buf_len,
	                        (uint8_t *)w->seal);
}

/* Write the full buffer as the next chunk, unsynced; the first one goes
 * with the writer marker. */
static int
queue_chunk_flush(struct queue_writer *w)
{
	uint8_t key[8], marker[5] = { QUEUE_META_PENDING };
	uint64_t seq;
	size_t len = queue_writer_seal(w, key);
	if (len == 0) {
		queue_store_error(w->q, "message %08x: cannot seal a body chunk", w->msgid);
		return -EIO;
	}
	queue_be32_put(marker + 1, w->msgid);
	struct queue_store_op ops[2] = {
		{ QUEUE_OP_PUT, QUEUE_CF_BODIES, key, sizeof(key), w->seal, len },
		{ QUEUE_OP_PUT, QUEUE_CF_META, marker, sizeof(marker), "", 0 },
	};
	int err = w->q->store->ops->write(w->q->store, ops, w->chunk_next == 0 ? 2 : 1,
	                                  &seq);
	if (err == 0) {
		w->chunk_next++;
		w->buf_len = 0;
	}
	return err;
}

/* Add body bytes. A full chunk is written when more data follows it, so the
 * last chunk always goes with the commit. Returns 0, -EINVAL on a closed
 * writer, -EFBIG past 2^32 chunks, -EIO when the queue refuses new mail, or
 * the store's error. */
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
			int err = queue_refusing(w->q);
			if (err == 0)
				err = queue_chunk_flush(w);
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
 * envelope does not encode or the chunk does not seal. body_size is set to
 * the bytes appended. */
static size_t
queue_commit_ops(struct queue_writer *w, const struct queue_envelope *envs,
                 unsigned n, struct queue_store_op *ops, uint8_t *mem)
{
	size_t k = 0;
	uint8_t *chunk_key = mem, *marker = mem + 8;
	mem += 16;
	size_t sealed = queue_writer_seal(w, chunk_key);
	if (sealed == 0)
		return 0;
	ops[k++] = (struct queue_store_op){ QUEUE_OP_PUT, QUEUE_CF_BODIES, chunk_key,
	                                    8, w->seal, sealed };
	if (w->chunk_next > 0) {
		marker[0] = QUEUE_META_PENDING;
		queue_be32_put(marker + 1, w->msgid);
		ops[k++] = (struct queue_store_op){ QUEUE_OP_DELETE, QUEUE_CF_META,
		                                    marker, 5, NULL, 0 };
	}
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
 * id or a string without its NUL, -ENOMEM, -ENOSPC below the free space
 * minimum, -EIO when the queue refuses new mail, or the store's error
 * (-ENOSPC, -EIO); on error the writer stays open for queue_body_abort(). */
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
	int err = queue_refusing(w->q);
	if (err == 0)
		err = queue_space_check(w->q);
	if (err < 0)
		return err;
	size_t per = 8 + QUEUE_SCHED_KEY_BYTES + QUEUE_ENVELOPE_BYTES_MAX;
	struct queue_store_op *ops = malloc((2 * (size_t)n + 2) * sizeof(*ops) +
	                                    n * sizeof(uint64_t) + 16 + n * per);
	if (ops == NULL)
		return -ENOMEM;
	uint64_t *ids = (uint64_t *)(ops + 2 * (size_t)n + 2);
	uint8_t *mem = (uint8_t *)(ids + n);
	size_t k = 0;
	err = -EINVAL;
	if (queue_commit_ids_ok(w, envs, n, ids))
		k = queue_commit_ops(w, envs, n, ops, mem);
	if (k > 0)
		err = w->q->store->ops->write(w->q->store, ops, k, seq);
	else
		queue_store_error(w->q, "message %08x: commit refused: an envelope id "
		                  "of another message, a duplicate, or a field "
		                  "without its NUL", w->msgid);
	free(ops);
	if (err == 0)
		queue_writer_close(w);
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
	queue_writer_close(w);
}
