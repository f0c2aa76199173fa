/*
 * queue/store_ram.c - the in-memory store backend ("ram"), for tests: each
 * column family is a sorted array of malloc'd key/value pairs behind one
 * mutex. A batch applies under the lock, so it is atomic; sync is a no-op
 * (nothing survives close) but still runs through the syncer. A scan copies
 * its range under the lock, a slice of RAM_SCAN_SLICE items at a time, and
 * calls back without it, so the callback may write (like a RocksDB
 * iterator, though a slice boundary may see those writes).
 *
 * Fault injection for tests: queue_store_ram_inject() makes every write
 * and/or sync fail with a given errno until it is called again with 0; a
 * failed write reports the store broken (queue_store_fatal()), as the
 * RocksDB backend does.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "queue/store.h"

#define RAM_SCAN_SLICE 256

struct ram_item {
	uint8_t *key;
	size_t key_len;
	uint8_t *val;
	size_t val_len;
};

struct ram_cf {
	struct ram_item *items;
	size_t n;
	size_t cap;
};

struct ram_store {
	struct queue_store base;
	pthread_mutex_t lock;
	struct ram_cf cfs[QUEUE_CF_COUNT];
	uint64_t seq;
	int write_err;   /* injected: every write fails with this (0: none) */
	int sync_err;    /* injected: every sync fails with this */
};

/* For tests: from now on every write fails with write_err and every sync
 * with sync_err (negative errnos; 0 turns the fault off). */
void
queue_store_ram_inject(struct queue_store *store, int write_err, int sync_err)
{
	struct ram_store *s = (struct ram_store *)store;
	pthread_mutex_lock(&s->lock);
	s->write_err = write_err;
	s->sync_err = sync_err;
	pthread_mutex_unlock(&s->lock);
}

/* Order keys as RocksDB's bytewise comparator does. */
static int
ram_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the first item whose key is >= key. */
static size_t
ram_lower_bound(const struct ram_cf *cf, const void *key, size_t key_len)
{
	size_t lo = 0, hi = cf->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ram_item *it = &cf->items[mid];
		if (ram_keycmp(it->key, it->key_len, key, key_len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Copy len bytes into a new allocation (never NULL-sized). */
static uint8_t *
ram_dup(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	if (d != NULL && len > 0)
		memcpy(d, p, len);
	return d;
}

/* Free items [from, to) and close the gap. */
static void
ram_erase(struct ram_cf *cf, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		free(cf->items[i].key);
		free(cf->items[i].val);
	}
	if (to > from && cf->n > to)
		memmove(&cf->items[from], &cf->items[to], (cf->n - to) * sizeof(cf->items[0]));
	cf->n -= to - from;
}

/* Insert or replace; returns 0 or -ENOMEM. */
static int
ram_put(struct ram_cf *cf, const struct queue_store_op *op)
{
	size_t i = ram_lower_bound(cf, op->key, op->key_len);
	uint8_t *val = ram_dup(op->val, op->val_len);
	if (val == NULL)
		return -ENOMEM;
	if (i < cf->n && ram_keycmp(cf->items[i].key, cf->items[i].key_len,
	                            op->key, op->key_len) == 0) {
		free(cf->items[i].val);
		cf->items[i].val = val;
		cf->items[i].val_len = op->val_len;
		return 0;
	}
	if (cf->n == cf->cap) {
		size_t cap = cf->cap ? cf->cap * 2 : 64;
		struct ram_item *items = realloc(cf->items, cap * sizeof(*items));
		if (items == NULL) {
			free(val);
			return -ENOMEM;
		}
		cf->items = items;
		cf->cap = cap;
	}
	uint8_t *key = ram_dup(op->key, op->key_len);
	if (key == NULL) {
		free(val);
		return -ENOMEM;
	}
	memmove(&cf->items[i + 1], &cf->items[i], (cf->n - i) * sizeof(cf->items[0]));
	cf->items[i] = (struct ram_item){ key, op->key_len, val, op->val_len };
	cf->n++;
	return 0;
}

/* Remove one key, or a range of keys. */
static void
ram_delete(struct ram_cf *cf, const struct queue_store_op *op)
{
	size_t from = ram_lower_bound(cf, op->key, op->key_len);
	size_t to = from;
	if (op->kind == QUEUE_OP_DELETE_RANGE)
		to = ram_lower_bound(cf, op->val, op->val_len);
	else if (from < cf->n && ram_keycmp(cf->items[from].key, cf->items[from].key_len,
	                                    op->key, op->key_len) == 0)
		to = from + 1;
	if (to > from)
		ram_erase(cf, from, to);
}

/* Make the store; path is ignored. */
static int
ram_open(struct queue *q, const struct queue_options *opts,
         struct queue_store **store)
{
	struct ram_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &queue_store_ram;
	s->base.q = q;
	pthread_mutex_init(&s->lock, NULL);
	*store = &s->base;
	return 0;
}

/* Free everything. */
static void
ram_close(struct queue_store *store)
{
	struct ram_store *s = (struct ram_store *)store;
	for (int c = 0; c < QUEUE_CF_COUNT; c++) {
		ram_erase(&s->cfs[c], 0, s->cfs[c].n);
		free(s->cfs[c].items);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Apply a batch under the lock. A put can only fail for memory; the batch is
 * then partly applied, which the RAM store accepts (tests only). */
static int
ram_write(struct queue_store *store, const struct queue_store_op *ops, size_t n,
          uint64_t *seq)
{
	struct ram_store *s = (struct ram_store *)store;
	pthread_mutex_lock(&s->lock);
	int err = s->write_err;
	if (err != 0) {
		queue_store_error(s->base.q, "ram write: injected error %d", err);
		queue_store_fatal(s->base.q, err);
	}
	for (size_t i = 0; i < n && err == 0; i++) {
		struct ram_cf *cf = &s->cfs[ops[i].cf];
		if (ops[i].kind == QUEUE_OP_PUT)
			err = ram_put(cf, &ops[i]);
		else
			ram_delete(cf, &ops[i]);
	}
	*seq = ++s->seq;
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* Copy one value out under the lock. */
static int
ram_get(struct queue_store *store, enum queue_cf c, const void *key,
        size_t key_len, void *buf, size_t cap, size_t *len)
{
	struct ram_store *s = (struct ram_store *)store;
	struct ram_cf *cf = &s->cfs[c];
	int err = -ENOENT;
	pthread_mutex_lock(&s->lock);
	size_t i = ram_lower_bound(cf, key, key_len);
	if (i < cf->n && ram_keycmp(cf->items[i].key, cf->items[i].key_len,
	                            key, key_len) == 0) {
		*len = cf->items[i].val_len;
		err = *len > cap ? -EOVERFLOW : 0;
		if (err == 0)
			memcpy(buf, cf->items[i].val, *len);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* Free a scan snapshot. */
static void
ram_items_free(struct ram_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].key);
		free(items[i].val);
	}
	free(items);
}

/* Copy at most RAM_SCAN_SLICE items of [start, end) out under the lock into
 * *out, skipping a first key equal to start when `after`; returns the count
 * or -ENOMEM. */
static ssize_t
ram_snapshot(struct ram_store *s, struct ram_cf *cf, const void *start,
             size_t start_len, int after, const void *end, size_t end_len,
             struct ram_item **out)
{
	size_t n = 0;
	int failed = 0;
	pthread_mutex_lock(&s->lock);
	size_t from = ram_lower_bound(cf, start, start_len);
	if (after && from < cf->n && ram_keycmp(cf->items[from].key, cf->items[from].key_len,
	                                        start, start_len) == 0)
		from++;
	size_t to = end ? ram_lower_bound(cf, end, end_len) : cf->n;
	if (to > from + RAM_SCAN_SLICE)
		to = from + RAM_SCAN_SLICE;
	struct ram_item *items = calloc(to > from ? to - from : 1, sizeof(*items));
	failed = items == NULL;
	for (size_t i = from; !failed && i < to; i++) {
		struct ram_item *it = &items[n++];
		it->key = ram_dup(cf->items[i].key, cf->items[i].key_len);
		it->val = ram_dup(cf->items[i].val, cf->items[i].val_len);
		it->key_len = cf->items[i].key_len;
		it->val_len = cf->items[i].val_len;
		failed = it->key == NULL || it->val == NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (failed || n == 0) {
		if (items != NULL)
			ram_items_free(items, n);
		return failed ? -ENOMEM : 0;
	}
	*out = items;
	return (ssize_t)n;
}

/* Call fn on copies of the range, slice by slice, without the lock held. */
static int
ram_scan(struct queue_store *store, enum queue_cf c, const void *start,
         size_t start_len, const void *end, size_t end_len,
         queue_scan_fn fn, void *arg)
{
	struct ram_store *s = (struct ram_store *)store;
	uint8_t *from = ram_dup(start, start_len);
	size_t from_len = start_len;
	int after = 0, rc = 0;
	while (rc == 0 && from != NULL) {
		struct ram_item *items;
		ssize_t n = ram_snapshot(s, &s->cfs[c], from, from_len, after, end,
		                         end_len, &items);
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		for (ssize_t i = 0; i < n && rc == 0; i++)
			rc = fn(arg, items[i].key, items[i].key_len, items[i].val,
			        items[i].val_len);
		free(from);
		from = ram_dup(items[n - 1].key, items[n - 1].key_len);
		from_len = items[n - 1].key_len;
		after = 1;
		ram_items_free(items, (size_t)n);
	}
	if (from == NULL && rc == 0)
		rc = -ENOMEM;
	free(from);
	return rc;
}

/* Nothing to make durable in memory; an injected fault fails. */
static int
ram_sync(struct queue_store *store)
{
	struct ram_store *s = (struct ram_store *)store;
	pthread_mutex_lock(&s->lock);
	int err = s->sync_err;
	pthread_mutex_unlock(&s->lock);
	if (err != 0)
		queue_store_error(s->base.q, "ram sync: injected error %d", err);
	return err;
}

/* The count of batches written so far. */
static uint64_t
ram_latest_seq(struct queue_store *store)
{
	struct ram_store *s = (struct ram_store *)store;
	pthread_mutex_lock(&s->lock);
	uint64_t seq = s->seq;
	pthread_mutex_unlock(&s->lock);
	return seq;
}

const struct queue_store_ops queue_store_ram = {
	.name = "ram",
	.open = ram_open,
	.close = ram_close,
	.write = ram_write,
	.get = ram_get,
	.scan = ram_scan,
	.sync = ram_sync,
	.latest_seq = ram_latest_seq,
};
