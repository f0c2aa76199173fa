/*
 * queue/quarantine.c - moving records that fail validation aside: into the
 * quarantine family, exactly as they were read, with a warning, in one
 * atomic batch with their removal from where they were. The rest of the
 * queue carries on; an operator can look at (or restore) what was moved.
 *
 *   an envelope record: the record, and a copy of its message's body
 *     chunks (unless already there), so the quarantine holds the whole
 *     message; the body itself stays for the message's other envelopes
 *   a message whose body failed: every envelope record and body chunk
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_int.h"

/* A batch under construction, owning copies of every key and value. */
struct quar_batch {
	struct queue *q;
	struct queue_store_op *ops;
	size_t n, cap;
	void **mem;          /* copies to free */
	size_t nmem, capmem;
	int err;
	int move;            /* scans: delete the originals too */
	enum queue_cf cf;    /* the family being scanned */
};

/* Keep a copy of len bytes at p (prefix byte first when prefix != 0). */
static void *
quar_copy(struct quar_batch *b, int prefix, const void *p, size_t len)
{
	if (b->nmem == b->capmem) {
		size_t cap = b->capmem ? 2 * b->capmem : 16;
		void **m = realloc(b->mem, cap * sizeof(*m));
		if (m == NULL)
			return NULL;
		b->mem = m;
		b->capmem = cap;
	}
	size_t off = prefix ? 1 : 0;
	uint8_t *c = malloc(len + off + 1);
	if (c == NULL)
		return NULL;
	c[0] = (uint8_t)prefix;
	if (len > 0)
		memcpy(c + off, p, len);
	b->mem[b->nmem++] = c;
	return c;
}

/* Append one op (key and value copied, the key with a prefix byte when
 * prefix != 0). Sets b->err on failure. */
static void
quar_op(struct quar_batch *b, int kind, enum queue_cf cf, int prefix,
        const void *key, size_t key_len, const void *val, size_t val_len)
{
	if (b->err < 0)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct queue_store_op *o = realloc(b->ops, cap * sizeof(*o));
		if (o == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->ops = o;
		b->cap = cap;
	}
	void *k = quar_copy(b, prefix, key, key_len);
	void *v = val != NULL ? quar_copy(b, 0, val, val_len) : NULL;
	if (k == NULL || (val != NULL && v == NULL)) {
		b->err = -ENOMEM;
		return;
	}
	b->ops[b->n++] = (struct queue_store_op){ (uint8_t)kind, (uint8_t)cf, k,
	                                          key_len + (prefix ? 1 : 0), v, val_len };
}

/* Write the batch and free it; returns 0 or the error. */
static int
quar_commit(struct quar_batch *b)
{
	uint64_t seq;
	int err = b->err;
	if (err == 0 && b->n > 0)
		err = b->q->store->ops->write(b->q->store, b->ops, b->n, &seq);
	for (size_t i = 0; i < b->nmem; i++)
		free(b->mem[i]);
	free(b->mem);
	free(b->ops);
	return err;
}

/* Scan callback: copy a body chunk or envelope record into quarantine
 * (and, when moving, delete it and an envelope's schedule entry). */
static int
quar_scan_one(void *arg, const void *key, size_t key_len, const void *val,
              size_t val_len)
{
	struct quar_batch *b = arg;
	int prefix = b->cf == QUEUE_CF_BODIES ? QUEUE_QUAR_BODY : QUEUE_QUAR_ENVELOPE;
	quar_op(b, QUEUE_OP_PUT, QUEUE_CF_QUARANTINE, prefix, key, key_len, val, val_len);
	if (!b->move)
		return b->err;
	quar_op(b, QUEUE_OP_DELETE, b->cf, 0, key, key_len, NULL, 0);
	struct queue_envelope env;
	if (b->cf == QUEUE_CF_ENVELOPES && queue_envelope_decode(&env, val, val_len) == 0) {
		uint8_t skey[QUEUE_SCHED_KEY_BYTES];
		queue_sched_key(skey, &env);
		quar_op(b, QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, 0, skey, sizeof(skey), NULL, 0);
	}
	return b->err;
}

/* Add msgid's records of family cf to the batch. */
static void
quar_scan(struct quar_batch *b, enum queue_cf cf, uint32_t msgid)
{
	uint8_t start[QUEUE_MSG_START_BYTES], end[QUEUE_MSG_END_BYTES];
	if (b->err < 0)
		return;
	queue_msg_range(msgid, start, end);
	b->cf = cf;
	int err = b->q->store->ops->scan(b->q->store, cf, start, sizeof(start), end,
	                                 sizeof(end), quar_scan_one, b);
	if (err < 0 && b->err == 0)
		b->err = err;
}

/* Move one envelope record that failed validation (rec, len: as read) to
 * quarantine with a copy of its body; its schedule entry is left for
 * queue_due()/queue_walk() to remove. Returns 0 or the store's error. */
int
queue_quarantine_envelope(struct queue *q, uint64_t evpid, const void *rec,
                          size_t len, const char *why)
{
	struct quar_batch b = { .q = q };
	uint8_t key[8], first[9] = { QUEUE_QUAR_BODY };
	uint8_t probe[1];
	size_t plen;
	queue_be64_put(key, evpid);
	quar_op(&b, QUEUE_OP_PUT, QUEUE_CF_QUARANTINE, QUEUE_QUAR_ENVELOPE, key, 8,
	        rec, len);
	quar_op(&b, QUEUE_OP_DELETE, QUEUE_CF_ENVELOPES, 0, key, 8, NULL, 0);
	queue_be64_put(first + 1, evpid & 0xffffffff00000000ull);
	int have = q->store->ops->get(q->store, QUEUE_CF_QUARANTINE, first, sizeof(first),
	                              probe, sizeof(probe), &plen);
	if (have == -ENOENT)
		quar_scan(&b, QUEUE_CF_BODIES, (uint32_t)(evpid >> 32));
	int err = quar_commit(&b);
	if (err == 0) {
		atomic_fetch_add(&q->quarantined, 1);
		queue_warn(q, "envelope %016llx %s: moved to quarantine",
		           (unsigned long long)evpid, why);
	}
	return err;
}

/* Move a whole message (every envelope record and body chunk, the
 * schedule entries of envelopes that decode) to quarantine. Returns 0 or
 * the store's error. */
int
queue_quarantine_message(struct queue *q, uint32_t msgid, const char *why)
{
	struct quar_batch b = { .q = q, .move = 1 };
	quar_scan(&b, QUEUE_CF_ENVELOPES, msgid);
	quar_scan(&b, QUEUE_CF_BODIES, msgid);
	int err = quar_commit(&b);
	if (err == 0) {
		atomic_fetch_add(&q->quarantined, 1);
		queue_warn(q, "message %08x %s: moved to quarantine with its envelopes",
		           msgid, why);
	}
	return err;
}
