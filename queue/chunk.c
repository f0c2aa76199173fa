/*
 * queue/chunk.c - the stored form of a body chunk (layout in
 * queue/queue_int.h): a version header, then the payload, or with `queue
 * encryption` the payload sealed with AES-256-GCM (wolfCrypt). Also the key
 * check record, so that a wrong key is a clear error at start, never silent
 * corruption.
 *
 * Nonces: each message draws 8 random bytes when its writer begins; a
 * chunk's 12-byte nonce is those and its index, so no nonce repeats under
 * one key unless two messages draw the same 64 bits. Each thread keeps its
 * own keyed Aes object (wolfCrypt's is not for concurrent use), set up at
 * its first seal or open for a queue.
 *
 * A queue with a key still reads plain chunks (written before encryption
 * was turned on); a queue without a key refuses to open while the key check
 * record and any body exist.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/types.h>

#include "queue/queue_int.h"

#define CHUNK_KEYCHECK_VERSION 1
#define CHUNK_KEYCHECK_TEXT "ringmta queue key check v1\n"
#define CHUNK_KEYCHECK_TEXT_BYTES (sizeof(CHUNK_KEYCHECK_TEXT) - 1)
#define CHUNK_KEYCHECK_BYTES (1 + QUEUE_GCM_NONCE_BYTES + CHUNK_KEYCHECK_TEXT_BYTES + \
                              QUEUE_GCM_TAG_BYTES)

/* The calling thread's cipher, keyed for q: set up once per thread and
 * queue (q->key_gen tells queues apart, even one reopened at the same
 * address). Returns NULL when the library fails. */
static Aes *
chunk_aes(const struct queue *q)
{
	static __thread Aes aes;
	static __thread uint64_t gen;   /* 0: not set up */
	if (gen == q->key_gen)
		return &aes;
	if (gen != 0)
		wc_AesFree(&aes);
	gen = 0;
	if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
		return NULL;
	if (wc_AesGcmSetKey(&aes, q->key, QUEUE_KEY_BYTES) != 0) {
		wc_AesFree(&aes);
		return NULL;
	}
	gen = q->key_gen;
	return &aes;
}

/* AES-256-GCM one way or the other with q's key; returns 0 or -EBADMSG
 * (decrypt: the tag does not match) or -EIO (the library failed). */
static int
chunk_gcm(const struct queue *q, int encrypt, const uint8_t nonce[QUEUE_GCM_NONCE_BYTES],
          const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
          uint8_t *out, uint8_t tag[QUEUE_GCM_TAG_BYTES])
{
	Aes *aes = chunk_aes(q);
	int ret;
	if (aes == NULL)
		return -EIO;
	if (encrypt)
		ret = wc_AesGcmEncrypt(aes, out, in, (word32)len, nonce, QUEUE_GCM_NONCE_BYTES,
		                       tag, QUEUE_GCM_TAG_BYTES, aad, (word32)aad_len);
	else
		ret = wc_AesGcmDecrypt(aes, out, in, (word32)len, nonce, QUEUE_GCM_NONCE_BYTES,
		                       tag, QUEUE_GCM_TAG_BYTES, aad, (word32)aad_len);
	if (ret == AES_GCM_AUTH_E)
		return -EBADMSG;
	return ret == 0 ? 0 : -EIO;
}

/* Seal len bytes of payload as the chunk stored under chunk_key, into out
 * (QUEUE_CHUNK_SEALED_BYTES_MAX); call before every chunk write. Returns the
 * stored length, or 0 when encryption failed. */
size_t
queue_chunk_seal(const struct queue *q, const uint8_t chunk_key[8],
                 const uint8_t nonce[8], const void *payload, size_t len,
                 uint8_t *out)
{
	out[0] = QUEUE_CHUNK_VERSION;
	if (!q->encrypt) {
		out[1] = QUEUE_CHUNK_PLAIN;
		memcpy(out + QUEUE_CHUNK_HDR_BYTES, payload, len);
		return QUEUE_CHUNK_HDR_BYTES + len;
	}
	out[1] = QUEUE_CHUNK_GCM;
	uint8_t *iv = out + QUEUE_CHUNK_HDR_BYTES, *ct = iv + QUEUE_GCM_NONCE_BYTES;
	memcpy(iv, nonce, 8);
	memcpy(iv + 8, chunk_key + 4, 4);   /* the chunk index */
	if (chunk_gcm(q, 1, iv, chunk_key, 8, payload, len, ct, ct + len) < 0)
		return 0;
	return QUEUE_CHUNK_HDR_BYTES + QUEUE_GCM_NONCE_BYTES + len + QUEUE_GCM_TAG_BYTES;
}

/* Check and open a stored chunk into out (QUEUE_CHUNK_BYTES); call on every
 * chunk read. Returns 0 with *out_len, or -EBADMSG for anything seal would
 * not have produced with this key (unknown version or kind, bad length,
 * failed tag), -EIO when the library failed. */
int
queue_chunk_open(const struct queue *q, const uint8_t chunk_key[8],
                 const void *sealed, size_t len, uint8_t *out, size_t *out_len)
{
	const uint8_t *p = sealed;
	if (len < QUEUE_CHUNK_HDR_BYTES || p[0] != QUEUE_CHUNK_VERSION)
		return -EBADMSG;
	if (p[1] == QUEUE_CHUNK_PLAIN) {
		*out_len = len - QUEUE_CHUNK_HDR_BYTES;
		if (*out_len > QUEUE_CHUNK_BYTES)
			return -EBADMSG;
		memcpy(out, p + QUEUE_CHUNK_HDR_BYTES, *out_len);
		return 0;
	}
	size_t over = QUEUE_CHUNK_HDR_BYTES + QUEUE_GCM_NONCE_BYTES + QUEUE_GCM_TAG_BYTES;
	if (p[1] != QUEUE_CHUNK_GCM || !q->encrypt || len < over ||
	    len - over > QUEUE_CHUNK_BYTES)
		return -EBADMSG;
	const uint8_t *iv = p + QUEUE_CHUNK_HDR_BYTES, *ct = iv + QUEUE_GCM_NONCE_BYTES;
	*out_len = len - over;
	if (memcmp(iv + 8, chunk_key + 4, 4) != 0)
		return -EBADMSG;   /* a nonce for another index */
	uint8_t tag[QUEUE_GCM_TAG_BYTES];
	memcpy(tag, ct + *out_len, sizeof(tag));
	return chunk_gcm(q, 0, iv, chunk_key, 8, ct, *out_len, out, tag);
}

/* Write a fresh key check record sealed with q's key. */
static int
chunk_keycheck_write(struct queue *q)
{
	uint8_t rec[CHUNK_KEYCHECK_BYTES], *iv = rec + 1, *ct = iv + QUEUE_GCM_NONCE_BYTES;
	uint64_t seq;
	rec[0] = CHUNK_KEYCHECK_VERSION;
	while (getrandom(iv, QUEUE_GCM_NONCE_BYTES, 0) != QUEUE_GCM_NONCE_BYTES)
		;
	if (chunk_gcm(q, 1, iv, (const uint8_t *)"keycheck", 8,
	              (const uint8_t *)CHUNK_KEYCHECK_TEXT, CHUNK_KEYCHECK_TEXT_BYTES,
	              ct, ct + CHUNK_KEYCHECK_TEXT_BYTES) < 0) {
		queue_store_error(q, "queue encryption: the cipher failed");
		return -EIO;
	}
	struct queue_store_op op = { QUEUE_OP_PUT, QUEUE_CF_META, "keycheck", 8,
	                             rec, sizeof(rec) };
	return q->store->ops->write(q->store, &op, 1, &seq);
}

/* Scan callback: note that a key exists, and stop. */
static int
chunk_any(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
	*(int *)arg = 1;
	return 1;
}

/* A key check record exists but no key was given: fine only when no body
 * is stored (the record then goes). Returns 0 or -EKEYREJECTED. */
static int
chunk_keycheck_unkeyed(struct queue *q)
{
	int any = 0;
	uint64_t seq;
	int err = q->store->ops->scan(q->store, QUEUE_CF_BODIES, "", 0, NULL, 0,
	                              chunk_any, &any);
	if (err < 0)
		return err;
	if (any) {
		queue_store_error(q, "the queue is encrypted: `queue encryption` with "
		                  "its key is required to open it");
		return -EKEYREJECTED;
	}
	struct queue_store_op op = { QUEUE_OP_DELETE, QUEUE_CF_META, "keycheck", 8,
	                             NULL, 0 };
	return q->store->ops->write(q->store, &op, 1, &seq);
}

/* At open: with a key, the stored check must open with it (a new queue gets
 * one); without a key, there must be no encrypted body. Returns 0,
 * -EKEYREJECTED with the reason in the error text, or the store's error. */
int
queue_keycheck(struct queue *q)
{
	uint8_t rec[CHUNK_KEYCHECK_BYTES], text[CHUNK_KEYCHECK_TEXT_BYTES];
	size_t len;
	int err = q->store->ops->get(q->store, QUEUE_CF_META, "keycheck", 8, rec,
	                             sizeof(rec), &len);
	if (err == -ENOENT)
		return q->encrypt ? chunk_keycheck_write(q) : 0;
	if (err < 0 && err != -EOVERFLOW)
		return err;
	if (!q->encrypt)
		return chunk_keycheck_unkeyed(q);
	const uint8_t *iv = rec + 1, *ct = iv + QUEUE_GCM_NONCE_BYTES;
	uint8_t tag[QUEUE_GCM_TAG_BYTES];
	if (err == 0 && len == sizeof(rec) && rec[0] == CHUNK_KEYCHECK_VERSION) {
		memcpy(tag, ct + CHUNK_KEYCHECK_TEXT_BYTES, sizeof(tag));
		err = chunk_gcm(q, 0, iv, (const uint8_t *)"keycheck", 8, ct,
		                CHUNK_KEYCHECK_TEXT_BYTES, text, tag);
	} else {
		err = -EBADMSG;
	}
	if (err == 0 && memcmp(text, CHUNK_KEYCHECK_TEXT, sizeof(text)) == 0)
		return 0;
	queue_store_error(q, "queue encryption key does not match the key this "
	                  "queue was written with");
	return -EKEYREJECTED;
}
