/*
 * test/queue/test_crypt.c - `queue encryption`: bodies round-trip through
 * AES-256-GCM, nothing of the plaintext is stored, every message gets its
 * own nonce, a wrong or missing key is a clear error at open (never silent
 * corruption), a tampered chunk goes to quarantine, and encryption and
 * compression work together.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "test/queue/helpers.h"

static char *DIR;

/* Each test gets its own spool folder. */
static void
setup(void)
{
	DIR = tq_tmpdir();
}

/* Remove the spool folder, even after a failed assertion. */
static void
teardown(void)
{
	tq_rmtree(DIR);
	free(DIR);
	DIR = NULL;
}

/* Options for DIR with key byte k (k < 0: no encryption). */
static struct queue_options
keyed(int k, int compression)
{
	struct queue_options o = { .backend = "rocksdb", .path = DIR,
	                           .compression = compression };
	if (k >= 0) {
		o.encryption = 1;
		memset(o.encryption_key, k, sizeof(o.encryption_key));
		o.encryption_key[31] = 0x5a;
	}
	return o;
}

/* Open with key byte k or fail the test. */
static struct queue *
open_keyed(int k, int compression)
{
	struct queue_options o = keyed(k, compression);
	struct queue *q;
	int err = queue_open(&q, &o);
	cr_assert_eq(err, 0, "open: %d %s", err, queue_strerror(NULL));
	return q;
}

/* Every stored body chunk (raw), concatenated, from the closed queue. */
static char *
raw_bodies(size_t *len)
{
	static const char *names[6] = { "default", "bodies", "envelopes", "schedule",
	                                "quarantine", "meta" };
	char path[512], *err = NULL;
	rocksdb_column_family_handle_t *cf[6];
	snprintf(path, sizeof(path), "%s/queue.db", DIR);
	rocksdb_options_t *o = rocksdb_options_create();
	const rocksdb_options_t *cfo[6] = { o, o, o, o, o, o };
	rocksdb_t *db = rocksdb_open_column_families(o, path, 6, names, cfo, cf, &err);
	cr_assert_null(err, "raw open: %s", err);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf[1]);
	char *all = NULL;
	*len = 0;
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t vlen;
		const char *v = rocksdb_iter_value(it, &vlen);
		all = realloc(all, *len + vlen + 1);
		memcpy(all + *len, v, vlen);
		*len += vlen;
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	for (int i = 0; i < 6; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_close(db);
	rocksdb_options_destroy(o);
	return all;
}

/* Does hay[0..len) contain the needle? */
static int
contains(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

Test(crypt, round_trip_and_nothing_plain_on_disk, .init = setup, .fini = teardown)
{
	static const size_t sizes[] = { 0, 1, 5000, QUEUE_CHUNK_BYTES, 2 * QUEUE_CHUNK_BYTES + 7 };
	struct queue *q = open_keyed(1, 0);
	uint64_t ids[5], next = 1;
	for (size_t i = 0; i < 5; i++) {
		char *body = tq_body(sizes[i], 0);
		if (sizes[i] >= 16)
			memcpy(body, "SECRET-PLAINTEXT", 16);
		tq_put(q, body, sizes[i], 3000, &next, 1, &ids[i]);
		free(body);
	}
	queue_close(q);
	size_t len;
	char *raw = raw_bodies(&len);
	cr_assert(!contains(raw, len, "SECRET-PLAINTEXT"), "plaintext stored");
	cr_assert(!contains(raw, len, "ABCDEFGHIJ"), "plaintext stored");
	free(raw);
	q = open_keyed(1, 0);
	for (size_t i = 0; i < 5; i++) {
		char *want = tq_body(sizes[i], 0), *got;
		if (sizes[i] >= 16)
			memcpy(want, "SECRET-PLAINTEXT", 16);
		cr_assert_eq(queue_body_load(q, (uint32_t)(ids[i] >> 32), &got, &len), 0,
		             "size %zu", sizes[i]);
		cr_assert_eq(len, sizes[i]);
		cr_assert_eq(memcmp(got, want, len), 0, "size %zu differs", sizes[i]);
		free(got);
		free(want);
	}
	queue_close(q);
}

Test(crypt, same_body_different_ciphertext, .init = setup, .fini = teardown)
{
	struct queue *q = open_keyed(2, 0);
	uint64_t ids[2], next = 1;
	tq_put(q, "identical body", 14, 14, &next, 1, &ids[0]);
	tq_put(q, "identical body", 14, 14, &next, 1, &ids[1]);
	queue_close(q);
	size_t len;
	char *raw = raw_bodies(&len);
	cr_assert_eq(len, 2 * (2 + 12 + 14 + 16), "stored %zu bytes", len);
	cr_assert_neq(memcmp(raw + 2, raw + len / 2 + 2, 12), 0, "a nonce repeated");
	cr_assert_neq(memcmp(raw + 14, raw + len / 2 + 14, 14), 0, "same ciphertext");
	free(raw);
}

Test(crypt, wrong_or_missing_key_refused_at_open, .init = setup, .fini = teardown)
{
	struct queue *q = open_keyed(3, 0);
	uint64_t id, next = 1;
	tq_put(q, "mail", 4, 4, &next, 1, &id);
	queue_close(q);
	static const struct { int key; const char *text; } cases[] = {
		{ 4, "does not match" },
		{ -1, "is encrypted" },
	};
	for (size_t i = 0; i < 2; i++) {
		struct queue_options o = keyed(cases[i].key, 0);
		struct queue *bad = NULL;
		cr_assert_eq(queue_open(&bad, &o), -EKEYREJECTED, "case %zu", i);
		cr_assert_null(bad);
		cr_assert(strstr(queue_strerror(NULL), cases[i].text) != NULL,
		          "case %zu: %s", i, queue_strerror(NULL));
	}
	/* the right key still opens it; once empty, it opens without a key */
	q = open_keyed(3, 0);
	cr_assert_eq(queue_envelope_delete(q, id), 0);
	queue_close(q);
	struct queue_options plain = keyed(-1, 0);
	cr_assert_eq(queue_open(&q, &plain), 0, "empty queue without a key: %s",
	             queue_strerror(NULL));
	queue_close(q);
}

Test(crypt, tampered_chunk_quarantined, .init = setup, .fini = teardown)
{
	struct queue *q = open_keyed(5, 0);
	uint64_t id, other, next = 1;
	tq_put(q, "to be tampered with", 19, 19, &next, 1, &id);
	tq_put(q, "left alone", 10, 10, &next, 1, &other);
	queue_close(q);
	/* flip one ciphertext bit of the first message's chunk */
	static const char *names[6] = { "default", "bodies", "envelopes", "schedule",
	                                "quarantine", "meta" };
	char path[512], *err = NULL, key[8];
	rocksdb_column_family_handle_t *cf[6];
	snprintf(path, sizeof(path), "%s/queue.db", DIR);
	rocksdb_options_t *o = rocksdb_options_create();
	const rocksdb_options_t *cfo[6] = { o, o, o, o, o, o };
	rocksdb_t *db = rocksdb_open_column_families(o, path, 6, names, cfo, cf, &err);
	cr_assert_null(err);
	for (int i = 0; i < 4; i++)
		key[i] = (char)(id >> (56 - 8 * i));
	memset(key + 4, 0, 4);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	size_t vlen;
	char *v = rocksdb_get_cf(db, ro, cf[1], key, 8, &vlen, &err);
	cr_assert(v != NULL && err == NULL);
	v[20] ^= 1;
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(db, wo, cf[1], key, 8, v, vlen, &err);
	cr_assert_null(err);
	rocksdb_free(v);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_readoptions_destroy(ro);
	for (int i = 0; i < 6; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_close(db);
	rocksdb_options_destroy(o);

	q = open_keyed(5, 0);
	char *body;
	size_t len;
	cr_assert_eq(queue_body_load(q, (uint32_t)(id >> 32), &body, &len), -EBADMSG);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, id, &env), -ENOENT, "not moved aside");
	cr_assert_eq(queue_body_load(q, (uint32_t)(other >> 32), &body, &len), 0);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(body, "left alone", 10), 0);
	free(body);
	queue_close(q);
}

Test(crypt, with_compression, .init = setup, .fini = teardown)
{
	struct queue *q = open_keyed(6, 1);
	uint64_t id, next = 1;
	char *body = tq_body(200000, 4), *got;
	size_t len;
	tq_put(q, body, 200000, 65536, &next, 1, &id);
	queue_close(q);
	q = open_keyed(6, 1);
	cr_assert_eq(queue_body_load(q, (uint32_t)(id >> 32), &got, &len), 0);
	cr_assert_eq(len, 200000);
	cr_assert_eq(memcmp(got, body, len), 0);
	free(got);
	free(body);
	queue_close(q);
}
