/*
 * test/queue/helpers.h - shared by the queue tests: temporary spool folders,
 * envelopes, and writing a whole message through the public API.
 */
#ifndef TEST_QUEUE_HELPERS_H
#define TEST_QUEUE_HELPERS_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/queue.h"

/* A fresh folder under /tmp; free() the result after tq_rmtree(). */
static inline char *
tq_tmpdir(void)
{
	char *dir = strdup("/tmp/ringmta-queue-XXXXXX");
	cr_assert(dir != NULL && mkdtemp(dir) != NULL, "mkdtemp failed");
	return dir;
}

/* nftw callback: remove one entry (children first). */
static inline int
tq_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Remove a folder made by tq_tmpdir() and everything below it. */
static inline void
tq_rmtree(const char *dir)
{
	if (dir != NULL && strncmp(dir, "/tmp/ringmta-queue-", 19) == 0)
		nftw(dir, tq_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Open a queue or fail the test with the store's text. */
static inline struct queue *
tq_open(const char *backend, const char *path)
{
	struct queue_options opts = { .backend = backend, .path = path };
	struct queue *q = NULL;
	int err = queue_open(&q, &opts);
	cr_assert_eq(err, 0, "queue_open(%s): %d %s", backend, err, queue_strerror(NULL));
	return q;
}

/* An envelope with every field set, strings derived from rcpt. */
static inline struct queue_envelope
tq_env(uint64_t id, uint64_t next_attempt, const char *rcpt)
{
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	env.id = id;
	snprintf(env.sender, sizeof(env.sender), "sender@example.org");
	snprintf(env.rcpt, sizeof(env.rcpt), "%s", rcpt);
	snprintf(env.dest, sizeof(env.dest), "%s", rcpt);
	snprintf(env.action, sizeof(env.action), "relay");
	snprintf(env.helo, sizeof(env.helo), "client.example.org");
	snprintf(env.client, sizeof(env.client), "192.0.2.7");
	env.created = 1700000000;
	env.expire = 1700000000 + 4 * 86400;
	env.next_attempt = next_attempt;
	return env;
}

/* A body of len bytes whose content depends on seed. malloc'd. */
static inline char *
tq_body(size_t len, unsigned seed)
{
	char *b = malloc(len ? len : 1);
	cr_assert(b != NULL);
	for (size_t i = 0; i < len; i++)
		b[i] = (char)('A' + (i * 7 + seed) % 26);
	return b;
}

/* Write body (appended in pieces of piece bytes) and one envelope per entry
 * of next[]; ids[] receives the evpids. Returns the commit's seq. */
static inline uint64_t
tq_put(struct queue *q, const char *body, size_t len, size_t piece,
       const uint64_t *next, unsigned n, uint64_t *ids)
{
	struct queue_writer w;
	struct queue_envelope envs[16];
	uint64_t seq = 0;
	cr_assert(n <= 16);
	cr_assert_eq(queue_body_begin(q, &w), 0);
	for (size_t off = 0; off < len; off += piece) {
		size_t take = len - off < piece ? len - off : piece;
		cr_assert_eq(queue_body_append(&w, body + off, take), 0);
	}
	for (unsigned i = 0; i < n; i++) {
		char rcpt[64];
		snprintf(rcpt, sizeof(rcpt), "rcpt%u@example.net", i);
		envs[i] = tq_env(queue_evpid_new(w.msgid), next[i], rcpt);
		ids[i] = envs[i].id;
	}
	int err = queue_commit(&w, envs, n, &seq);
	cr_assert_eq(err, 0, "queue_commit: %d %s", err, queue_strerror(q));
	return seq;
}

/* Every behaviour test of a file on both backends: TQ_BOTH_BACKENDS(ram,
 * rocksdb) defines the per-test queue Q (and its folder DIR), the fixtures,
 * and BOTH(name) { ... } registering the body in both suites. */
#define TQ_BOTH_BACKENDS(ram_suite, rocksdb_suite)                             \
	static struct queue *Q;                                                \
	static char *DIR;                                                      \
	static void setup_ram(void) { Q = tq_open("ram", NULL); }             \
	static void setup_rocksdb(void)                                        \
	{                                                                      \
		DIR = tq_tmpdir();                                             \
		Q = tq_open("rocksdb", DIR);                                   \
	}                                                                      \
	static void teardown(void)                                             \
	{                                                                      \
		queue_close(Q);                                                \
		Q = NULL;                                                      \
		tq_rmtree(DIR);                                                \
		free(DIR);                                                     \
		DIR = NULL;                                                    \
	}                                                                      \
	struct tq_both_backends_##ram_suite { int unused; }

#define TQ_BOTH(ram_suite, rocksdb_suite, name)                                \
	static void name##_body(void);                                         \
	Test(ram_suite, name, .init = setup_ram, .fini = teardown)             \
	{ name##_body(); }                                                     \
	Test(rocksdb_suite, name, .init = setup_rocksdb, .fini = teardown)     \
	{ name##_body(); }                                                     \
	static void name##_body(void)

#endif
