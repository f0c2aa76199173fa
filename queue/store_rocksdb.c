/*
 * queue/store_rocksdb.c - the RocksDB store backend ("rocksdb", the default).
 *
 * The store lives at <path>/queue.db (folders made with mode 0700) as the
 * column families "bodies", "envelopes", "schedule", "quarantine" and "meta"
 * beside "default", which RocksDB requires and we leave empty. "bodies" keeps chunks of
 * blob_bytes_min or more in blob files, so compaction does not rewrite
 * message bodies, with blob garbage collection on, and zstd compression when
 * the queue is configured with compression (none otherwise). Writes go to
 * the WAL's buffer in memory (manual_wal_flush: no write(2) per batch);
 * sync() is one rocksdb_flush_wal(sync=1), which writes that buffer and
 * makes every write before it durable; close() does the same. The queue's
 * syncer calls sync() within a second of any write (queue/syncer.c).
 * RocksDB is thread-safe, so this file holds no lock.
 *
 * Errors: RocksDB reports a full disk as "IO error: No space left on device"
 * (or a NoSpace status); that becomes -ENOSPC, anything else -EIO. After a
 * failed write or WAL sync the store is broken: RocksDB keeps a background
 * error until reopened, and its WAL writer asserts (aborting the process
 * in builds with assertions, as Debian's) if written or synced again after
 * an error; its automatic recovery from a full disk does exactly that, so
 * paranoid_checks is off (a failed write then leaves no background error
 * and starts no recovery). The first failure sets `broken`, tells the queue
 * (queue_store_fatal()), and every later write or sync fails here without
 * reaching RocksDB. Reads go on: what is queued can still be read.
 */
#include <errno.h>
#include <limits.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/store.h"

#define RDB_BLOB_BYTES_MIN 4096          /* body values this big go to blob files */
/* The bodies' memtable: a body delivered before its memtable fills is
 * dropped with its delete at flush and never written to a blob file (nor
 * read back from one). It is 1/64 of the machine's memory, between the
 * bounds; the WAL may hold four of them before flushes are forced. */
#define RDB_BODY_BUFFER_BYTES_MIN (64ull << 20)
#define RDB_BODY_BUFFER_BYTES_MAX (256ull << 20)
#define RDB_WAL_BUFFERS 4
#define RDB_WAL_RECYCLE 4
/* "bodies" and "envelopes" are keyed by message id first: their memtables
 * hash that prefix into buckets, each a small skip list, so a write or a
 * lookup of one message costs a bucket and a few steps instead of a
 * search of the whole memtable. Scans within one message stay in its
 * bucket; any other scan asks for total order. */
#define RDB_MSG_PREFIX_BYTES 4
#define RDB_HASH_BUCKETS (1u << 17)
#define RDB_HASH_HEIGHT 4
#define RDB_HASH_BRANCHING 4
/* "schedule" holds small keys in time order, most of them deleted within
 * seconds: a small memtable keeps its skip list in the CPU's caches, and a
 * flush writes only the few keys still live (and tombstones). */
#define RDB_SCHEDULE_BUFFER_BYTES (4u << 20)
/* A total-order scan of a hashed memtable (show queue, show stats' count)
 * sorts a copy of it first: the envelopes' memtable stays small so that
 * copy does too. */
#define RDB_ENVELOPES_BUFFER_BYTES (8u << 20)
#define RDB_INFO_LOGS_MAX 4
#define RDB_CF_TOTAL (QUEUE_CF_COUNT + 1)

static const char *const rdb_cf_names[RDB_CF_TOTAL] = {
	"default", "bodies", "envelopes", "schedule", "quarantine", "meta"
};

struct rdb_store {
	struct queue_store base;
	rocksdb_t *db;
	rocksdb_options_t *dbopts;
	rocksdb_options_t *cfopts[RDB_CF_TOTAL];
	rocksdb_column_family_handle_t *cfs[RDB_CF_TOTAL];  /* [0] is default */
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	atomic_int broken;          /* 0, or the error that ended writing */
};

/* Record a RocksDB error for queue_strerror() and free it; returns -ENOSPC
 * for a full disk, else -EIO. */
static int
rdb_fail(struct rdb_store *s, const char *what, char *err)
{
	int ret = -EIO;
	if (err != NULL && (strstr(err, "No space left") != NULL ||
	                    strstr(err, "NoSpace") != NULL))
		ret = -ENOSPC;
	queue_store_error(s->base.q, "rocksdb %s: %s", what, err ? err : "failed");
	rocksdb_free(err);
	return ret;
}

/* mkdir -p with mode 0700; returns 0 or -errno. */
static int
rdb_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	return 0;
}

/* Does cf keep its memtable hashed by message id? */
static int
rdb_cf_hashed(enum queue_cf cf)
{
	return cf == QUEUE_CF_BODIES || cf == QUEUE_CF_ENVELOPES;
}

/* Bytes of the bodies' memtable for a machine of this much memory. */
static uint64_t
rdb_body_buffer_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 64 : 0;
	if (bytes < RDB_BODY_BUFFER_BYTES_MIN)
		return RDB_BODY_BUFFER_BYTES_MIN;
	return bytes > RDB_BODY_BUFFER_BYTES_MAX ? RDB_BODY_BUFFER_BYTES_MAX : bytes;
}

/* Options for the database and each column family. */
static void
rdb_options(struct rdb_store *s, const struct queue_options *opts)
{
	uint64_t body_buffer = rdb_body_buffer_bytes();
	s->dbopts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->dbopts, 1);
	rocksdb_options_set_create_missing_column_families(s->dbopts, 1);
	rocksdb_options_set_max_total_wal_size(s->dbopts, RDB_WAL_BUFFERS * body_buffer);
	rocksdb_options_set_keep_log_file_num(s->dbopts, RDB_INFO_LOGS_MAX);
	/* A failed WAL write must not start RocksDB's automatic recovery: it
	 * flushes through the failed WAL writer and asserts. We stop writing
	 * instead (see the top of this file); reads still verify checksums. */
	rocksdb_options_set_paranoid_checks(s->dbopts, 0);
	rocksdb_options_set_manual_wal_flush(s->dbopts, 1);
	/* Reuse up to RDB_WAL_RECYCLE old log files instead of making new ones:
	 * a sync then overwrites blocks the file already has, so fdatasync
	 * flushes data without writing the inode (size, new extents). Recycled
	 * files use the record format that carries the log number, so old
	 * records left in one are never replayed. RocksDB before its 2024 fix
	 * (pull request 12403) turns it off under point-in-time recovery, the
	 * default we keep (Debian 12's 7.8 logs "recycle_log_file_num: 0"):
	 * there every sync of a growing log also writes its inode. Asked for
	 * anyway, for builds against a RocksDB that honours it. */
	rocksdb_options_set_recycle_log_file_num(s->dbopts, RDB_WAL_RECYCLE);
	/* Shards write small batches at once: one leader inserting the group's
	 * batches beats followers spinning with sched_yield on 2-4 cores. */
	rocksdb_options_set_enable_write_thread_adaptive_yield(s->dbopts, 0);
	rocksdb_options_set_allow_concurrent_memtable_write(s->dbopts, 0);
	for (int i = 0; i < RDB_CF_TOTAL; i++)
		s->cfopts[i] = rocksdb_options_create();
	for (int cf = 0; cf < QUEUE_CF_COUNT; cf++) {
		if (!rdb_cf_hashed((enum queue_cf)cf))
			continue;
		rocksdb_options_set_prefix_extractor(
			s->cfopts[1 + cf], rocksdb_slicetransform_create_fixed_prefix(RDB_MSG_PREFIX_BYTES));
		rocksdb_options_set_hash_skip_list_rep(s->cfopts[1 + cf], RDB_HASH_BUCKETS,
		                                       RDB_HASH_HEIGHT, RDB_HASH_BRANCHING);
	}
	rocksdb_options_set_write_buffer_size(s->cfopts[1 + QUEUE_CF_SCHEDULE],
	                                      RDB_SCHEDULE_BUFFER_BYTES);
	rocksdb_options_set_write_buffer_size(s->cfopts[1 + QUEUE_CF_ENVELOPES],
	                                      RDB_ENVELOPES_BUFFER_BYTES);
	rocksdb_options_t *b = s->cfopts[1 + QUEUE_CF_BODIES];
	rocksdb_options_set_enable_blob_files(b, 1);
	rocksdb_options_set_min_blob_size(b, RDB_BLOB_BYTES_MIN);
	rocksdb_options_set_enable_blob_gc(b, 1);
	rocksdb_options_set_write_buffer_size(b, (size_t)body_buffer);
	/* Bodies are compressed with `queue compression` only (RocksDB's own
	 * default would be Snappy). Every SST block and blob file records how
	 * it was compressed, so a queue reopened with the other setting reads
	 * what it holds; only new files follow the option. */
	int codec = opts->compression ? rocksdb_zstd_compression : rocksdb_no_compression;
	rocksdb_options_set_compression(b, codec);
	rocksdb_options_set_blob_compression_type(b, codec);
	s->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts, 0);
	s->ropts = rocksdb_readoptions_create();
}

/* Release whatever rdb_open made, in any state. A broken store is not
 * closed: closing flushes the WAL writer that saw the error, which asserts;
 * the process is about to exit, the next open replays the WAL. */
static void
rdb_close(struct queue_store *store)
{
	struct rdb_store *s = (struct rdb_store *)store;
	if (atomic_load(&s->broken) != 0) {
		queue_store_error(s->base.q, "rocksdb: store left open after a failed write");
		return;
	}
	if (s->db != NULL) {
		char *rerr = NULL;
		rocksdb_flush_wal(s->db, 1, &rerr);   /* the buffered tail of the WAL */
		if (rerr != NULL)
			rdb_fail(s, "flush_wal at close", rerr);
	}
	for (int i = 0; i < RDB_CF_TOTAL; i++)
		if (s->cfs[i] != NULL)
			rocksdb_column_family_handle_destroy(s->cfs[i]);
	if (s->db != NULL)
		rocksdb_close(s->db);
	for (int i = 0; i < RDB_CF_TOTAL; i++)
		if (s->cfopts[i] != NULL)
			rocksdb_options_destroy(s->cfopts[i]);
	if (s->dbopts != NULL)
		rocksdb_options_destroy(s->dbopts);
	if (s->wopts != NULL)
		rocksdb_writeoptions_destroy(s->wopts);
	if (s->ropts != NULL)
		rocksdb_readoptions_destroy(s->ropts);
	free(s);
}

/* Open (or create) <opts->path>/queue.db; returns 0, -EINVAL without a
 * path, -errno for the folders, -EIO from RocksDB. */
static int
rdb_open(struct queue *q, const struct queue_options *opts,
         struct queue_store **store)
{
	char dir[PATH_MAX];
	if (opts->path == NULL || opts->path[0] == '\0') {
		queue_store_error(q, "rocksdb: no queue path");
		return -EINVAL;
	}
	if (snprintf(dir, sizeof(dir), "%s/queue.db", opts->path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int err = rdb_mkdirs(dir);
	if (err < 0) {
		queue_store_error(q, "mkdir %s: %s", dir, strerror(-err));
		return err;
	}
	struct rdb_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &queue_store_rocksdb;
	s->base.q = q;
	rdb_options(s, opts);
	char *rerr = NULL;
	s->db = rocksdb_open_column_families(s->dbopts, dir, RDB_CF_TOTAL,
	                                     rdb_cf_names,
	                                     (const rocksdb_options_t *const *)s->cfopts,
	                                     s->cfs, &rerr);
	if (rerr != NULL) {
		err = rdb_fail(s, "open", rerr);
		s->db = NULL;
		memset(s->cfs, 0, sizeof(s->cfs));
		rdb_close(&s->base);
		return err;
	}
	*store = &s->base;
	return 0;
}

/* A write or sync failed with err: no more writes until reopened. Returns
 * err. */
static int
rdb_break(struct rdb_store *s, int err)
{
	int none = 0;
	atomic_compare_exchange_strong(&s->broken, &none, err);
	queue_store_fatal(s->base.q, err);
	return err;
}

/* The error for a write or sync refused because the store is broken. */
static int
rdb_refuse(struct rdb_store *s, const char *what)
{
	int err = atomic_load(&s->broken);
	queue_store_error(s->base.q, "rocksdb %s refused: the store failed earlier (%s); "
	                  "restart smtpd", what, strerror(-err));
	return err;
}

/* Write the batch unsynced, WAL on; *seq is the latest sequence after it. */
static int
rdb_write(struct queue_store *store, const struct queue_store_op *ops, size_t n,
          uint64_t *seq)
{
	struct rdb_store *s = (struct rdb_store *)store;
	if (atomic_load(&s->broken) != 0)
		return rdb_refuse(s, "write");
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	for (size_t i = 0; i < n; i++) {
		const struct queue_store_op *op = &ops[i];
		rocksdb_column_family_handle_t *cf = s->cfs[1 + op->cf];
		if (op->kind == QUEUE_OP_PUT)
			rocksdb_writebatch_put_cf(wb, cf, op->key, op->key_len,
			                          op->val, op->val_len);
		else if (op->kind == QUEUE_OP_DELETE)
			rocksdb_writebatch_delete_cf(wb, cf, op->key, op->key_len);
		else
			rocksdb_writebatch_delete_range_cf(wb, cf, op->key, op->key_len,
			                                   op->val, op->val_len);
	}
	char *rerr = NULL;
	rocksdb_write(s->db, s->wopts, wb, &rerr);
	rocksdb_writebatch_destroy(wb);
	if (rerr != NULL)
		return rdb_break(s, rdb_fail(s, "write", rerr));
	*seq = rocksdb_get_latest_sequence_number(s->db);
	return 0;
}

/* Point read through a pinned slice, copied into buf. */
static int
rdb_get(struct queue_store *store, enum queue_cf cf, const void *key,
        size_t key_len, void *buf, size_t cap, size_t *len)
{
	struct rdb_store *s = (struct rdb_store *)store;
	char *rerr = NULL;
	rocksdb_pinnableslice_t *v = rocksdb_get_pinned_cf(s->db, s->ropts,
	                                                   s->cfs[1 + cf], key,
	                                                   key_len, &rerr);
	if (rerr != NULL)
		return rdb_fail(s, "get", rerr);
	if (v == NULL)
		return -ENOENT;
	const char *p = rocksdb_pinnableslice_value(v, len);
	int err = *len > cap ? -EOVERFLOW : 0;
	if (err == 0)
		memcpy(buf, p, *len);
	rocksdb_pinnableslice_destroy(v);
	return err;
}

/* Iterate [start, end) with an upper bound so RocksDB stops at end. */
static int
rdb_scan(struct queue_store *store, enum queue_cf cf, const void *start,
         size_t start_len, const void *end, size_t end_len,
         queue_scan_fn fn, void *arg)
{
	struct rdb_store *s = (struct rdb_store *)store;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	if (end != NULL)
		rocksdb_readoptions_set_iterate_upper_bound(ro, end, end_len);
	int one_message = rdb_cf_hashed(cf) && end != NULL &&
	                  start_len >= RDB_MSG_PREFIX_BYTES && end_len >= RDB_MSG_PREFIX_BYTES &&
	                  memcmp(start, end, RDB_MSG_PREFIX_BYTES) == 0;
	if (one_message)
		rocksdb_readoptions_set_prefix_same_as_start(ro, 1);
	else
		rocksdb_readoptions_set_total_order_seek(ro, 1);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cfs[1 + cf]);
	int rc = 0;
	rocksdb_iter_seek(it, start, start_len);
	while (rc == 0 && rocksdb_iter_valid(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		rc = fn(arg, k, klen, v, vlen);
		if (rc == 0)
			rocksdb_iter_next(it);
	}
	char *rerr = NULL;
	rocksdb_iter_get_error(it, &rerr);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rerr != NULL)
		return rdb_fail(s, "iterate", rerr);
	return rc;
}

/* One WAL fsync: everything written before the call is durable after it. */
static int
rdb_sync(struct queue_store *store)
{
	struct rdb_store *s = (struct rdb_store *)store;
	char *rerr = NULL;
	if (atomic_load(&s->broken) != 0)
		return rdb_refuse(s, "sync");
	rocksdb_flush_wal(s->db, 1, &rerr);
	if (rerr != NULL)
		return rdb_break(s, rdb_fail(s, "flush_wal", rerr));
	return 0;
}

/* The sequence number of the latest write RocksDB has applied. */
static uint64_t
rdb_latest_seq(struct queue_store *store)
{
	struct rdb_store *s = (struct rdb_store *)store;
	return rocksdb_get_latest_sequence_number(s->db);
}

const struct queue_store_ops queue_store_rocksdb = {
	.name = "rocksdb",
	.open = rdb_open,
	.close = rdb_close,
	.write = rdb_write,
	.get = rdb_get,
	.scan = rdb_scan,
	.sync = rdb_sync,
	.latest_seq = rdb_latest_seq,
};
