/*
 * queue/queue.h - the durable mail queue: message bodies, envelopes (one per
 * recipient), the schedule index and a quarantine for records that fail
 * validation, over a swappable store backend (queue/store_rocksdb.c: RocksDB
 * column families; queue/store_ram.c: memory, for tests).
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
 * Nothing is visible to queue_due() or queue_walk() until commit.
 *
 * Scheduling (queue/schedule.c): the schedule family is keyed by (next
 * attempt, evpid), so queue_due() finds what is due with one range scan from
 * a cursor, never a full scan, and nothing is held in memory between calls.
 * queue_retry_next() is OpenSMTPD's backoff: creation + base x retry^2.
 *
 * Records are binary, versioned and validated when read (envelopes:
 * queue/envelope_codec.c; body chunks: queue/chunk.c, optionally
 * AES-256-GCM). A record that fails validation is moved to the quarantine
 * family with a warning (queue_options.warn) and the read fails; the rest
 * of the queue carries on.
 *
 * Storage errors: below queue_options.space_bytes_min of free space in the
 * spool, queue_body_begin() and queue_commit() refuse with -ENOSPC before
 * the disk is full; a failed write returns -ENOSPC (the disk is full) or
 * -EIO; the message is then not acknowledged (the session answers 452
 * 4.3.1). After a failed WAL write or sync the store takes no more writes
 * (RocksDB cannot be trusted to, and asserts if asked): queue_failed() is
 * nonzero and queue_body_begin(), queue_body_append() and queue_commit()
 * refuse with -EIO until restart; nothing crashes.
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

#define QUEUE_ADDR_BYTES_MAX 257     /* RFC 5321 path (256 octets), plus NUL */
#define QUEUE_NAME_BYTES_MAX 64      /* an action name from smtpd.conf */
#define QUEUE_HOST_BYTES_MAX 256
#define QUEUE_ERROR_BYTES_MAX 256
#define QUEUE_CHUNK_BYTES 65536      /* body chunk size in the store */
#define QUEUE_ENVELOPE_VERSION 3      /* versions 1 and 2 are still read */
#define QUEUE_ENVID_BYTES_MAX 101     /* RFC 3461 ENVID, decoded, plus NUL */
#define QUEUE_ORCPT_BYTES_MAX 501     /* RFC 3461 ORCPT "type;addr", decoded, plus NUL */
#define QUEUE_USER_BYTES_MAX 64       /* a local user name, plus NUL */
#define QUEUE_EXEC_BYTES_MAX 1024     /* a file or command from an expansion */
#define QUEUE_KEY_BYTES 32           /* AES-256 */
#define QUEUE_TTL_S_DEFAULT (4 * 24 * 3600)  /* OpenSMTPD's queue ttl: 4 days */
#define QUEUE_RETRY_BASE_RELAY_S 400         /* OpenSMTPD's BACKOFF_TRANSFER */
#define QUEUE_RETRY_BASE_LOCAL_S 10          /* OpenSMTPD's BACKOFF_DELIVERY */
#define QUEUE_PAUSED_AT UINT64_MAX           /* a paused envelope's next attempt */

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
	/* what the client said at MAIL and RCPT (version 2) */
	uint8_t body;                     /* QUEUE_BODY_*: MAIL BODY= */
	uint8_t smtputf8;                 /* MAIL SMTPUTF8 (RFC 6531) */
	uint8_t dsn_ret;                  /* QUEUE_DSN_RET_*: MAIL RET= */
	uint8_t dsn_notify;               /* QUEUE_DSN_NOTIFY_* bits: RCPT NOTIFY=, 0 absent */
	char dsn_envid[QUEUE_ENVID_BYTES_MAX];  /* MAIL ENVID=, "" absent */
	char dsn_orcpt[QUEUE_ORCPT_BYTES_MAX];  /* RCPT ORCPT= "rfc822;addr", "" absent */
	uint8_t dsn_warned;               /* delay warnings sent (`bounce warn-interval`
	                                   * intervals passed), 0..QUEUE_DSN_WARNED_MAX */
	uint8_t postmaster_copy;          /* a report to postmaster on a report that
	                                   * failed: if it fails too, it is dropped */
	uint8_t paused;                   /* smtpctl pause envelope: its next attempt
	                                   * is QUEUE_PAUSED_AT until resumed */
	/* how a local delivery runs when alias, virtual or ~/.forward
	 * expansion chose it (version 3) */
	uint8_t mda_kind;                 /* QUEUE_MDA_*: the action's method, or a
	                                   * file or command from an expansion */
	char mda_user[QUEUE_USER_BYTES_MAX];  /* the local user to deliver as (the
	                                   * mailbox's owner, or who runs the file
	                                   * or command); "" = from dest, or the
	                                   * action's or daemon's user */
	char mda_exec[QUEUE_EXEC_BYTES_MAX];  /* QUEUE_MDA_FILE: the path;
	                                   * QUEUE_MDA_COMMAND: the command */
};

#define QUEUE_MDA_ACTION   0
#define QUEUE_MDA_FILE     1
#define QUEUE_MDA_COMMAND  2

/* The values of the MAIL and RCPT parameters an envelope keeps; they are
 * those of proto/smtp_ext.h (core/session.c checks that they agree). */
#define QUEUE_BODY_7BIT        0
#define QUEUE_BODY_8BITMIME    1
#define QUEUE_BODY_BINARYMIME  2
#define QUEUE_DSN_RET_NONE     0
#define QUEUE_DSN_RET_FULL     1
#define QUEUE_DSN_RET_HDRS     2
#define QUEUE_DSN_NOTIFY_NEVER   0x1u
#define QUEUE_DSN_NOTIFY_SUCCESS 0x2u
#define QUEUE_DSN_NOTIFY_FAILURE 0x4u
#define QUEUE_DSN_NOTIFY_DELAY   0x8u
#define QUEUE_DSN_WARNED_MAX     4   /* OpenSMTPD's MAX_BOUNCE_WARN intervals */

struct queue_options {
	const char *backend;   /* "rocksdb" (default) or "ram" */
	const char *path;      /* the spool folder; the store lives below it */
	int compression;       /* zstd on the body column family */
	uint64_t ttl_s;        /* queue ttl; 0 means QUEUE_TTL_S_DEFAULT */
	/* queue encryption: every body chunk AES-256-GCM sealed with this key.
	 * A queue written with a key cannot be opened without it or with
	 * another (queue_open() fails with -EKEYREJECTED and says why). */
	int encryption;
	uint8_t encryption_key[QUEUE_KEY_BYTES];
	/* Refuse new mail below this much free space in the spool (bytes);
	 * 0: 1% of the file system, within [4 MiB, 256 MiB]. */
	uint64_t space_bytes_min;
	/* Where warnings go (quarantine, stale entries); NULL: stderr. */
	void (*warn)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

/* A body being written. Owned by the caller (embed it in the session). */
struct queue_writer {
	struct queue *q;
	uint32_t msgid;
	uint32_t chunk_next;   /* index of the next chunk to write */
	uint64_t size;         /* bytes appended so far */
	char *buf;             /* QUEUE_CHUNK_BYTES of payload, allocated by begin,
	                        * freed by commit/abort */
	size_t buf_len;
	char *seal;            /* the sealed chunk (header, payload or
	                        * ciphertext, tag); with buf */
	uint8_t nonce[8];      /* per message: high bytes of every chunk's nonce */
};

/* A request to make everything written up to `seq` durable. Owned by the
 * caller (embed it in the session); done() runs on the syncer thread with 0 or
 * a negative errno. The caller must not touch req until done() ran. */
struct queue_sync_req {
	struct queue_sync_req *next;  /* the syncer's, do not touch */
	uint64_t seq;
	void (*done)(struct queue_sync_req *req, int err);
};

/* Open (creating when missing). Errors: -EINVAL (bad options), -errno for
 * the folders, -EIO from the store, -EKEYREJECTED (encryption key missing or
 * wrong), -EPROTO (a store written in another format); queue_strerror(NULL)
 * says why. */
int queue_open(struct queue **q, const struct queue_options *opts);
/* Stops the syncer (after finishing what waits) and closes the store. */
void queue_close(struct queue *q);
const char *queue_strerror(struct queue *q);  /* last store error text */
/* The queue ttl in seconds (for envelope expire = created + ttl). */
uint64_t queue_ttl_s(const struct queue *q);
/* 0, or the negative errno of the WAL write or sync failure after which the
 * queue refuses new mail (and takes no writes) until restart. */
int queue_failed(struct queue *q);

uint32_t queue_msgid_new(struct queue *q);
uint64_t queue_evpid_new(uint32_t msgid);
/* A fresh envelope of message msgid (SMTP session or local submission):
 * a new evpid, sender, recipient (as destination too), action, HELO name,
 * client text, body size, created and due now, expiring after ttl_s (the
 * action's ttl; 0: the queue ttl); every other field zero. */
void queue_envelope_fill(const struct queue *q, struct queue_envelope *e, uint32_t msgid,
                         const char *sender, const char *rcpt, const char *action,
                         const char *helo, const char *client, uint64_t body_size,
                         uint64_t now, uint64_t ttl_s);

/* -ENOMEM, -ENOSPC below the free space minimum, -EIO when queue_failed(). */
int queue_body_begin(struct queue *q, struct queue_writer *w);
/* -EINVAL on a closed writer, -EFBIG, -ENOSPC, -EIO. */
int queue_body_append(struct queue_writer *w, const void *data, size_t len);
/* envs[i].id must already be set (queue_evpid_new(w->msgid)). Errors:
 * -EINVAL (refused envelopes), -ENOMEM, -ENOSPC (disk full or below the
 * free space minimum), -EIO. */
int queue_commit(struct queue_writer *w, const struct queue_envelope *envs,
                 unsigned n, uint64_t *seq);
void queue_body_abort(struct queue_writer *w);

/* Start the group-commit syncer thread (queue_open does not). */
int queue_syncer_start(struct queue *q);
void queue_sync_submit(struct queue *q, struct queue_sync_req *req);
/* Sync now, on the calling thread (tests, shutdown). */
int queue_sync_now(struct queue *q);

/* Read one envelope: 0, -ENOENT, -EINVAL when the record failed validation
 * (it is then in quarantine), or the store's error. */
int queue_envelope_load(struct queue *q, uint64_t evpid, struct queue_envelope *env);
/* Read the whole body of a message into *data (malloc'd, caller frees).
 * -ENOENT without a body, -EBADMSG when a chunk failed validation (the
 * whole message, body and envelopes, is then in quarantine). */
int queue_body_load(struct queue *q, uint32_t msgid, char **data, size_t *len);
/* The same for a body of body_size bytes (an envelope's): a point read per
 * chunk, for delivery; the result and the errors are queue_body_load()'s. */
int queue_body_read(struct queue *q, uint32_t msgid, uint64_t body_size, char **data,
                    size_t *len);
/* Delivery done (or given up): remove the envelope and its schedule entry,
 * and the body when it was the message's last envelope. Unsynced. */
int queue_envelope_delete(struct queue *q, uint64_t evpid);
/* Temporary failure: store env (retries, last_error, next_attempt updated by
 * the caller) and move its schedule entry from where the stored record has
 * it. Unsynced. -ENOENT when the envelope is no longer stored (removed or
 * quarantined meanwhile): nothing is written. old_env NULL is the
 * scheduler's write-back after an attempt: a pause stored meanwhile
 * (smtpctl pause envelope) is kept, env written paused with its next
 * attempt at QUEUE_PAUSED_AT. smtpctl's own changes pass the envelope they
 * loaded as old_env, and are written as given. */
int queue_envelope_update(struct queue *q, const struct queue_envelope *old_env,
                          const struct queue_envelope *env);

/* smtpctl discover (queue/discover.c): the envelope id (is_msgid 0) or
 * every envelope of the message id (at most QUEUE_DISCOVER_MAX) whose record
 * has no schedule key gets one again, due now (a paused one stays paused).
 * *found counts the envelopes stored, *discovered those scheduled again.
 * Unsynced. Returns 0 or the store's error. */
#define QUEUE_DISCOVER_MAX 4096
int queue_discover(struct queue *q, uint64_t id, int is_msgid, unsigned *found,
                   unsigned *discovered);

/* smtpctl profile queue (queue/store_profile.c): the time of each store
 * operation. queue_profile_set(1) clears the counters and starts timing,
 * (0) stops it (the counters stay readable); process-wide, any thread.
 * queue_profile_read() fills at most cap rows (4 today: store.write,
 * store.get, store.scan, store.sync) and returns how many. */
struct queue_profile_stat {
	const char *name;
	uint64_t calls, total_ns, max_ns;
};
void queue_profile_set(int on);
int queue_profile_on(void);
unsigned queue_profile_read(struct queue_profile_stat *out, unsigned cap);

/* Call fn for every envelope in the queue, in schedule order (next_attempt,
 * then id). A full scan: for smtpctl and tests, never for scheduling (use
 * queue_due()). fn returns 0 to go on, anything else to stop (returned). */
int queue_walk(struct queue *q, int (*fn)(void *arg, const struct queue_envelope *env),
               void *arg);
/* How many envelopes the queue holds (a full scan of the envelope keys). */
int queue_count(struct queue *q, uint64_t *n);

/* --- scheduling (queue/schedule.c) --- */

/* Where the next queue_due() starts: the first schedule key (time, evpid)
 * not looked at yet. Zero it to start from the oldest entry. */
struct queue_due_cursor {
	uint64_t time;
	uint64_t evpid;
};

enum queue_due_want {
	QUEUE_DUE_SKIP,   /* not for me (another owner, or already held) */
	QUEUE_DUE_TAKE,   /* load it and hand it to take() */
	QUEUE_DUE_STOP,   /* no room now: stop before it (the cursor stays) */
};

/* Visit schedule entries from *cur up to those due at `now` (inclusive), at
 * most keys_max of them: want(arg, evpid) decides from the key alone (no
 * read); for TAKE the envelope is loaded and take(arg, env) gets it (take
 * may write to the queue). Stale entries (envelope gone) are removed, bad
 * records quarantined. *cur moves past every entry visited. Returns 1 when
 * the due range is exhausted, 0 when stopped early (keys_max or STOP), or
 * the store's error. */
int queue_due(struct queue *q, uint64_t now, struct queue_due_cursor *cur,
              unsigned keys_max, enum queue_due_want (*want)(void *arg, uint64_t evpid),
              void (*take)(void *arg, const struct queue_envelope *env), void *arg);
/* Move the cursor back so that (time, evpid) is visited again. */
void queue_due_rewind(struct queue_due_cursor *cur, uint64_t time, uint64_t evpid);

/* The next attempt after `retries` failed ones, OpenSMTPD's backoff:
 * created + base_s x step^2 with step from retries up, the first such time
 * after now. Pure. */
uint64_t queue_retry_next(uint64_t created, uint64_t base_s, uint32_t retries,
                          uint64_t now);

/* Encoding, exposed for tests and fuzzing (queue/envelope_codec.c). */
size_t queue_envelope_encode(const struct queue_envelope *env, uint8_t *buf, size_t cap);
int queue_envelope_decode(struct queue_envelope *env, const uint8_t *buf, size_t len);

/* Additions to the contract above (queue/queue.c, queue/envelope_codec.c):
 * - queue_strerror(NULL) gives why this thread's last queue_open() failed.
 * - queue_commit() stores each envelope's body_size as the bytes appended;
 *   it refuses (-EINVAL) no envelopes, an id of another message, duplicate
 *   ids and unterminated strings, and leaves the writer open on any error.
 * - queue_open() deletes the chunks of messages whose writer never
 *   committed (a crash between append and commit), found through a marker
 *   written with a message's first early chunk: no scan of the bodies.
 * - Requests submitted before queue_syncer_start() wait for it, or for
 *   queue_close(), which answers everything still waiting. */
#define QUEUE_ENVELOPE_BYTES_MAX 4096  /* an encoded envelope is never longer */
/* WAL syncs the syncer thread has done since open (tests: group commit). */
uint64_t queue_syncer_syncs(struct queue *q);
/* Records moved to quarantine since open. */
uint64_t queue_bad_records(struct queue *q);
/* Records held in the quarantine family (a scan of it). */
int queue_quarantine_count(struct queue *q, uint64_t *n);

#endif
