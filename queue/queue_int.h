/*
 * queue/queue_int.h - what the files of queue/ share and nobody else sees:
 * struct queue, the key layouts (queue/store.h lists them), the body chunk
 * format (queue/chunk.c), quarantine (queue/quarantine.c) and warnings.
 *
 * A stored body chunk, version 1:
 *   u8 QUEUE_CHUNK_VERSION, u8 kind
 *   kind QUEUE_CHUNK_PLAIN: the payload
 *   kind QUEUE_CHUNK_GCM:   12-byte nonce (the message's 8 random bytes +
 *                           the chunk index, u32), the ciphertext, a 16-byte
 *                           tag; the chunk's key (msgid, index) is the
 *                           additional data, so a chunk cannot be moved
 * A payload is at most QUEUE_CHUNK_BYTES.
 */
#ifndef QUEUE_QUEUE_INT_H
#define QUEUE_QUEUE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"
#include "queue/store.h"
#include "queue/syncer.h"

#define QUEUE_MSG_START_BYTES 4  /* msgid: sorts before its own 8-byte keys */
#define QUEUE_MSG_END_BYTES 9    /* msgid + ff ff ff ff 00: after them all */
#define QUEUE_SCHED_KEY_BYTES 16
#define QUEUE_DROP_CHUNKS_MAX 1024  /* point deletes up to this many chunks */
#define QUEUE_BODY_READ_CHUNKS_MAX 1024  /* point reads up to this many chunks */
#define QUEUE_FORMAT_VERSION 2      /* of the store as a whole (meta "format") */
#define QUEUE_SPACE_BYTES_MIN_FLOOR (4ull << 20)
#define QUEUE_SPACE_BYTES_MIN_CEIL (256ull << 20)
#define QUEUE_SPACE_CHECK_MS 250    /* free space is looked up this often */

#define QUEUE_CHUNK_VERSION 1
#define QUEUE_CHUNK_PLAIN 0
#define QUEUE_CHUNK_GCM 1
#define QUEUE_CHUNK_HDR_BYTES 2
#define QUEUE_GCM_NONCE_BYTES 12
#define QUEUE_GCM_TAG_BYTES 16
#define QUEUE_CHUNK_SEALED_BYTES_MAX (QUEUE_CHUNK_HDR_BYTES + QUEUE_GCM_NONCE_BYTES + \
                                      QUEUE_CHUNK_BYTES + QUEUE_GCM_TAG_BYTES)

#define QUEUE_META_PENDING 'w'      /* meta key prefix: an uncommitted writer */
#define QUEUE_QUAR_ENVELOPE 'e'     /* quarantine key prefixes */
#define QUEUE_QUAR_BODY 'b'

struct queue {
	struct queue_store *store;
	struct queue_syncer syncer;
	pthread_mutex_t err_lock;
	char err[QUEUE_ERROR_BYTES_MAX];
	pthread_mutex_t delete_lock;
	atomic_uint_fast64_t quarantined;
	uint64_t ttl_s;
	int encrypt;
	uint8_t key[QUEUE_KEY_BYTES];
	uint64_t key_gen;                 /* unique per open: per-thread cipher cache */
	void (*warn)(const char *fmt, ...);
	atomic_int store_failed;          /* queue_store_fatal() */
	char *space_path;                 /* statvfs() here; NULL: no check */
	uint64_t space_min;               /* bytes; from the options */
	atomic_uint_fast64_t space_free;  /* last free space seen, bytes */
	atomic_uint_fast64_t space_at_ms; /* when (CLOCK_MONOTONIC_COARSE) */
};

/* queue/store_profile.c: a store in front of inner that times its calls
 * (NULL without memory); the backend under it (s itself when not one). */
struct queue_store *queue_store_profiled(struct queue *q, struct queue_store *inner);
struct queue_store *queue_store_profiled_inner(struct queue_store *s);

/* queue/queue.c */
void queue_warn(struct queue *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void queue_chunk_key(uint8_t key[8], uint32_t msgid, uint32_t index);
int queue_chunk_get(struct queue *q, uint32_t msgid, uint32_t index, void *buf, size_t cap,
                    size_t *len);
void queue_msg_range(uint32_t msgid, uint8_t start[QUEUE_MSG_START_BYTES],
                     uint8_t end[QUEUE_MSG_END_BYTES]);
void queue_sched_key(uint8_t key[QUEUE_SCHED_KEY_BYTES], const struct queue_envelope *env);
int queue_msg_has(struct queue *q, enum queue_cf cf, uint32_t msgid, uint64_t skip);
size_t queue_body_drop_ops(uint32_t msgid, uint32_t nchunks, struct queue_store_op *ops,
                           uint8_t *keys);
struct queue_store_op *queue_drop_alloc(size_t fixed, uint32_t nchunks, uint8_t **keys);
int queue_body_drop(struct queue *q, uint32_t msgid, uint32_t nchunks);
uint32_t queue_body_chunks(uint64_t body_size);

int queue_space_check(struct queue *q);

/* queue/random.c */
void queue_random(void *buf, size_t len);

/* queue/chunk.c */
size_t queue_chunk_seal(const struct queue *q, const uint8_t chunk_key[8],
                        const uint8_t nonce[8], const void *payload, size_t len,
                        uint8_t *out);
int queue_chunk_open(const struct queue *q, const uint8_t chunk_key[8],
                     const void *sealed, size_t len, uint8_t *out, size_t *out_len);
int queue_keycheck(struct queue *q);

/* queue/quarantine.c */
int queue_quarantine_envelope(struct queue *q, uint64_t evpid, const void *rec,
                              size_t len, const char *why);
int queue_quarantine_message(struct queue *q, uint32_t msgid, const char *why);

#endif
