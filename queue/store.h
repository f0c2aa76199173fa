/*
 * queue/store.h - the store backend contract under queue/queue.c: five
 * ordered key spaces (column families), atomic write batches, point reads,
 * ordered range scans, a WAL sync and the latest sequence number.
 *
 * Backends: queue/store_rocksdb.c (RocksDB column families, the default) and
 * queue/store_ram.c (sorted arrays in memory, for tests; sync is a no-op).
 *
 * Keys (all integers big-endian, so byte order is numeric order):
 *   bodies     msgid u32 + chunk index u32        -> chunk bytes
 *   envelopes  evpid u64 (msgid is its high half) -> encoded envelope
 *   schedule   next_attempt u64 + evpid u64       -> empty
 *   quarantine 'e' + evpid u64                    -> the envelope record as read
 *              'b' + msgid u32 + chunk index u32  -> the chunk as read
 *   meta       "format"                           -> u32 QUEUE_FORMAT_VERSION
 *              "keycheck"                         -> a sealed known text
 *              'w' + msgid u32                    -> empty: a writer flushed
 *                                                    chunks, not committed yet
 *
 * Every function returns 0 or a negative errno; store failures are -EIO
 * (-ENOSPC when the disk is full) with the backend's text left in the queue
 * (queue_store_error()). A store is used from several threads at once and
 * must be thread-safe.
 */
#ifndef QUEUE_STORE_H
#define QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

enum queue_cf {
	QUEUE_CF_BODIES,
	QUEUE_CF_ENVELOPES,
	QUEUE_CF_SCHEDULE,
	QUEUE_CF_QUARANTINE,
	QUEUE_CF_META,
	QUEUE_CF_COUNT
};

enum queue_op_kind {
	QUEUE_OP_PUT,
	QUEUE_OP_DELETE,
	QUEUE_OP_DELETE_RANGE  /* [key, val): val holds the end key */
};

/* One operation of an atomic batch. The memory is the caller's and only has
 * to live until write() returns. */
struct queue_store_op {
	uint8_t kind;          /* enum queue_op_kind */
	uint8_t cf;            /* enum queue_cf */
	const void *key;
	size_t key_len;
	const void *val;
	size_t val_len;
};

/* Called by scan() for each key in range, in order; nonzero stops the scan
 * and is returned by scan(). */
typedef int (*queue_scan_fn)(void *arg, const void *key, size_t key_len,
                             const void *val, size_t val_len);

struct queue_store;

struct queue_store_ops {
	const char *name;
	/* Open (creating when missing); errors go to queue_store_error(q). */
	int (*open)(struct queue *q, const struct queue_options *opts,
	            struct queue_store **store);
	void (*close)(struct queue_store *s);
	/* Apply every op atomically, unsynced; *seq is a sequence number that
	 * covers the write. */
	int (*write)(struct queue_store *s, const struct queue_store_op *ops,
	             size_t n, uint64_t *seq);
	/* Copy the value of key into buf: -ENOENT when missing, -EOVERFLOW
	 * when longer than cap (*len holds the length either way). */
	int (*get)(struct queue_store *s, enum queue_cf cf, const void *key,
	           size_t key_len, void *buf, size_t cap, size_t *len);
	/* Visit keys in [start, end) in order; end NULL means to the end. */
	int (*scan)(struct queue_store *s, enum queue_cf cf, const void *start,
	            size_t start_len, const void *end, size_t end_len,
	            queue_scan_fn fn, void *arg);
	/* Make every write up to now durable (one WAL fsync). */
	int (*sync)(struct queue_store *s);
	uint64_t (*latest_seq)(struct queue_store *s);
};

/* The head every backend's store starts with. */
struct queue_store {
	const struct queue_store_ops *ops;
	struct queue *q;
};

extern const struct queue_store_ops queue_store_rocksdb;
extern const struct queue_store_ops queue_store_ram;

/* Tests: make every RAM-store write fail with write_err and every sync with
 * sync_err (negative errnos, 0 for none) until called again. */
void queue_store_ram_inject(struct queue_store *s, int write_err, int sync_err);
/* The store under q (tests, fault injection). */
struct queue_store *queue_store_of(struct queue *q);

/* A backend that can take no more writes until reopened says so once
 * (queue/queue.c): the queue then refuses new mail (queue_failed()). */
void queue_store_fatal(struct queue *q, int err);

/* Record a store error's text for queue_strerror() (queue/queue.c). */
void queue_store_error(struct queue *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Big-endian integer helpers shared by the key layouts and the codec. */
static inline void
queue_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* Store v big-endian in p[0..7]. */
static inline void
queue_be64_put(uint8_t *p, uint64_t v)
{
	queue_be32_put(p, v >> 32);
	queue_be32_put(p + 4, (uint32_t)v);
}

/* Read a big-endian u32 from p[0..3]. */
static inline uint32_t
queue_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Read a big-endian u64 from p[0..7]. */
static inline uint64_t
queue_be64_get(const uint8_t *p)
{
	return (uint64_t)queue_be32_get(p) << 32 | queue_be32_get(p + 4);
}

#endif
