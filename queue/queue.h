/*
 * queue/queue.h - the durable mail queue: message bodies, envelopes (one per
 * recipient) and the schedule index, over a swappable store backend
 * (queue/store_rocksdb.c: RocksDB column families; queue/store_ram.c: memory,
 * for tests).
 *
 * Identifiers follow OpenSMTPD: a message id is 32 random bits (printed as 8
 * hex digits), an envelope id is the message id in the high 32 bits and 32
 * random bits below (16 hex digits). queue_msgid_new() never returns 0 and
 * never an id already in the store.
 *
 * Writing a message (one shard, one session):
 *   queue_body_begin(q, &w)            -> w.msgid
 *   queue_body_append(&w, data, len)   buffered; full chunks are written
 *                                      unsynced as they fill
 *   queue_commit(&w, envs, n, &seq)    last chunk, envelopes and schedule
 *                                      entries in one atomic write, unsynced;
 *                                      seq is what must be synced before 250
 *   or queue_body_abort(&w)            deletes what was written
 *   queue_sync_submit(q, &req)         never blocks: the syncer thread syncs the
 *                                      WAL once for every request waiting, then
 *                                      calls req->done(req, err) on its thread
 * Nothing is visible to queue_walk() until commit.
 *
 * Records are binary, versioned and length-prefixed (queue/envelope_codec.c);
 * a record that fails to decode is reported, never trusted.
 *
 * Threads: a struct queue may be used from every shard at once (RocksDB is
 * thread-safe); a struct queue_writer belongs to one thread. All functions
 * return 0 or a negative errno-style value; errors from the store are logged
 * through the store's error text (queue_strerror()).
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_ADDR_BYTES_MAX 256     /* RFC 5321 path, plus NUL */
#define QUEUE_NAME_BYTES_MAX 64      /* an action name from smtpd.conf */
#define QUEUE_HOST_BYTES_MAX 256
#define QUEUE_ERROR_BYTES_MAX 256
#define QUEUE_CHUNK_BYTES 65536      /* body chunk size in the store */
#define QUEUE_ENVELOPE_VERSION 1

struct queue;

struct queue_envelope {
	uint64_t id;                      /* evpid; id >> 32 is the msgid */
	char sender[QUEUE_ADDR_BYTES_MAX];  /* reverse path, "" for <> */
	char rcpt[QUEUE_ADDR_BYTES_MAX];    /* the recipient as given */
	char dest[QUEUE_ADDR_BYTES_MAX];    /* where to deliver (after aliases) */
	char action[QUEUE_NAME_BYTES_MAX];  /* the smtpd.conf action name */
	char helo[QUEUE_HOST_BYTES_MAX];    /* client's HELO name */
	char client[QUEUE_HOST_BYTES_MAX];  /* client address, text */
	uint64_t created;                 /* unix seconds */
	uint64_t expire;                  /* unix seconds after which it bounces */
	uint64_t next_attempt;            /* unix seconds */
	uint32_t retries;
	uint64_t body_size;
	char last_error[QUEUE_ERROR_BYTES_MAX];
};

struct queue_options {
	const char *backend;   /* "rocksdb" (default) or "ram" */
	const char *path;      /* the spool folder; the store lives below it */
	int compression;       /* zstd on the body column family */
};

/* A body being written. Owned by the caller (embed it in the session). */
struct queue_writer {
	struct queue *q;
	uint32_t msgid;
	uint32_t chunk_next;   /* index of the next chunk to write */
	uint64_t size;         /* bytes appended so far */
	char *buf;             /* QUEUE_CHUNK_BYTES, allocated by begin, freed by commit/abort */
	size_t buf_len;
};

/* A request to make everything written up to `seq` durable. Owned by the
 * caller (embed it in the session); done() runs on the syncer thread with 0 or
 * a negative errno. The caller must not touch req until done() ran. */
struct queue_sync_req {
	struct queue_sync_req *next;  /* the syncer's, do not touch */
	uint64_t seq;
	void (*done)(struct queue_sync_req *req, int err);
};

int queue_open(struct queue **q, const struct queue_options *opts);
/* Stops the syncer (after finishing what waits) and closes the store. */
void queue_close(struct queue *q);
const char *queue_strerror(struct queue *q);  /* last store error text */

uint32_t queue_msgid_new(struct queue *q);
uint64_t queue_evpid_new(uint32_t msgid);

int queue_body_begin(struct queue *q, struct queue_writer *w);
int queue_body_append(struct queue_writer *w, const void *data, size_t len);
/* envs[i].id must already be set (queue_evpid_new(w->msgid)). */
int queue_commit(struct queue_writer *w, const struct queue_envelope *envs,
                 unsigned n, uint64_t *seq);
void queue_body_abort(struct queue_writer *w);

/* Start the group-commit syncer thread (queue_open does not). */
int queue_syncer_start(struct queue *q);
void queue_sync_submit(struct queue *q, struct queue_sync_req *req);
/* Sync now, on the calling thread (tests, shutdown). */
int queue_sync_now(struct queue *q);

int queue_envelope_load(struct queue *q, uint64_t evpid, struct queue_envelope *env);
/* Read the whole body of a message into *data (malloc'd, caller frees). */
int queue_body_load(struct queue *q, uint32_t msgid, char **data, size_t *len);
/* Delivery done (or given up): remove the envelope and its schedule entry,
 * and the body when it was the message's last envelope. Unsynced. */
int queue_envelope_delete(struct queue *q, uint64_t evpid);
/* Temporary failure: store env (retries, last_error, next_attempt updated by
 * the caller) and move its schedule entry. Unsynced. */
int queue_envelope_update(struct queue *q, const struct queue_envelope *old_env,
                          const struct queue_envelope *env);

/* Call fn for every envelope in the queue, in schedule order (next_attempt,
 * then id). fn returns 0 to go on, anything else to stop (returned). */
int queue_walk(struct queue *q, int (*fn)(void *arg, const struct queue_envelope *env),
               void *arg);
/* How many envelopes the queue holds. */
int queue_count(struct queue *q, uint64_t *n);

/* Encoding, exposed for tests and fuzzing (queue/envelope_codec.c). */
size_t queue_envelope_encode(const struct queue_envelope *env, uint8_t *buf, size_t cap);
int queue_envelope_decode(struct queue_envelope *env, const uint8_t *buf, size_t len);

/* Additions to the contract above (queue/queue.c, queue/envelope_codec.c):
 * - queue_strerror(NULL) gives why this thread's last queue_open() failed.
 * - queue_commit() stores each envelope's body_size as the bytes appended;
 *   it refuses (-EINVAL) no envelopes, an id of another message, duplicate
 *   ids and unterminated strings, and leaves the writer open on any error.
 * - queue_open() deletes body chunks that have no envelope (a crash between
 *   append and commit); queue_walk() removes schedule entries whose envelope
 *   is gone and skips (and counts) envelopes that fail to decode.
 * - Requests submitted before queue_syncer_start() wait for it, or for
 *   queue_close(), which answers everything still waiting. */
#define QUEUE_ENVELOPE_BYTES_MAX 2048  /* an encoded envelope is never longer */
/* WAL syncs the syncer thread has done since open (tests: group commit). */
uint64_t queue_syncer_syncs(struct queue *q);
/* Stored envelopes that failed to decode and were skipped by queue_walk(). */
uint64_t queue_bad_records(struct queue *q);

#endif
