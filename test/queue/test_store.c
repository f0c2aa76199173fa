/*
 * test/queue/test_store.c - queue behaviour, run once on the RAM backend and
 * once on RocksDB: bodies in many chunks, commit, load, walk order, update,
 * delete, abort, count, refused commits.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "test/queue/helpers.h"

TQ_BOTH_BACKENDS(queue_ram, queue_rocksdb);
#define BOTH(name) TQ_BOTH(queue_ram, queue_rocksdb, name)

struct walked {
	uint64_t ids[64];
	uint64_t next[64];
	unsigned n;
};

/* Walk callback: record ids and next_attempt in order. */
static int
collect(void *arg, const struct queue_envelope *env)
{
	struct walked *w = arg;
	cr_assert_lt(w->n, 64);
	w->ids[w->n] = env->id;
	w->next[w->n++] = env->next_attempt;
	return 0;
}

/* queue_count(), asserted to succeed. */
static uint64_t
count(void)
{
	uint64_t n = 99;
	cr_assert_eq(queue_count(Q, &n), 0);
	return n;
}

BOTH(body_sizes_round_trip)
{
	static const struct { size_t len, piece; } cases[] = {
		{ 0, 1 }, { 1, 1 }, { 1000, 7 }, { QUEUE_CHUNK_BYTES - 1, 4096 },
		{ QUEUE_CHUNK_BYTES, 4096 }, { QUEUE_CHUNK_BYTES + 1, 65537 },
		{ 2 * QUEUE_CHUNK_BYTES, 1000 }, { 3 * QUEUE_CHUNK_BYTES + 17, 100000 },
		{ 5 * QUEUE_CHUNK_BYTES / 2, 5 * QUEUE_CHUNK_BYTES / 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = tq_body(cases[i].len, (unsigned)i), *got = NULL;
		uint64_t next = 100, id;
		size_t len = 0;
		tq_put(Q, body, cases[i].len, cases[i].piece, &next, 1, &id);
		int err = queue_body_load(Q, (uint32_t)(id >> 32), &got, &len);
		cr_assert_eq(err, 0, "size %zu: body_load %d", cases[i].len, err);
		cr_assert_eq(len, cases[i].len, "size %zu: got %zu bytes back",
		             cases[i].len, len);
		cr_assert_eq(memcmp(got, body, len), 0, "size %zu: content differs",
		             cases[i].len);
		struct queue_envelope env;
		cr_assert_eq(queue_envelope_load(Q, id, &env), 0);
		cr_assert_eq(env.body_size, cases[i].len, "size %zu: body_size %llu",
		             cases[i].len, (unsigned long long)env.body_size);
		free(got);
		free(body);
	}
	cr_assert_eq(count(), sizeof(cases) / sizeof(cases[0]));
}

BOTH(commit_then_load_every_field)
{
	struct queue_writer w;
	cr_assert_eq(queue_body_begin(Q, &w), 0);
	cr_assert_neq(w.msgid, 0);
	cr_assert_eq(queue_body_append(&w, "Subject: hi\r\n\r\nbody\r\n", 21), 0);
	struct walked seen = { .n = 0 };
	cr_assert_eq(queue_walk(Q, collect, &seen), 0);
	cr_assert_eq(seen.n, 0, "walk saw an uncommitted message");
	cr_assert_eq(count(), 0);

	struct queue_envelope env = tq_env(queue_evpid_new(w.msgid), 42, "a@example.net");
	memset(env.sender, 0, sizeof(env.sender));  /* <> */
	env.retries = 2;
	strcpy(env.last_error, "421 try later");
	uint64_t seq = 0;
	cr_assert_eq(queue_commit(&w, &env, 1, &seq), 0);
	cr_assert_gt(seq, 0, "commit gave no sequence number");
	cr_assert_null(w.buf, "writer still holds its buffer");

	struct queue_envelope got;
	cr_assert_eq(queue_envelope_load(Q, env.id, &got), 0);
	env.body_size = 21;
	cr_assert_eq(memcmp(&got, &env, sizeof(env)), 0, "loaded envelope differs");
	cr_assert_eq(queue_envelope_load(Q, env.id ^ 1, &got), -ENOENT);
	cr_assert_eq(count(), 1);
	queue_body_abort(&w);  /* after commit: nothing to undo */
	cr_assert_eq(count(), 1);
}

BOTH(walk_in_schedule_order)
{
	uint64_t next_a[] = { 50, 10, 30 }, next_b[] = { 10, 20 }, ids[5];
	tq_put(Q, "a", 1, 1, next_a, 3, ids);
	tq_put(Q, "b", 1, 1, next_b, 2, ids + 3);
	struct walked seen = { .n = 0 };
	cr_assert_eq(queue_walk(Q, collect, &seen), 0);
	cr_assert_eq(seen.n, 5);
	uint64_t want_next[] = { 10, 10, 20, 30, 50 };
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(seen.next[i], want_next[i], "position %u: next_attempt %llu, want %llu",
		             i, (unsigned long long)seen.next[i],
		             (unsigned long long)want_next[i]);
	uint64_t lo = ids[1] < ids[3] ? ids[1] : ids[3];
	cr_assert_eq(seen.ids[0], lo, "equal next_attempt not ordered by id");
	cr_assert_eq(seen.ids[4], ids[0]);
}

BOTH(update_moves_schedule_entry)
{
	uint64_t next[] = { 10, 20, 30 }, ids[3];
	tq_put(Q, "x", 1, 1, next, 3, ids);
	struct queue_envelope old, upd;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &old), 0);
	upd = old;
	upd.next_attempt = 25;
	upd.retries = 1;
	strcpy(upd.last_error, "451 4.3.0 mailbox busy");
	cr_assert_eq(queue_envelope_update(Q, &old, &upd), 0);

	struct walked seen = { .n = 0 };
	cr_assert_eq(queue_walk(Q, collect, &seen), 0);
	cr_assert_eq(seen.n, 3, "walk saw %u envelopes, want 3 (stale entry?)", seen.n);
	cr_assert_eq(seen.ids[0], ids[1]);
	cr_assert_eq(seen.ids[1], ids[0], "updated envelope not moved to 25");
	cr_assert_eq(seen.next[1], 25);
	cr_assert_eq(seen.ids[2], ids[2]);

	struct queue_envelope got;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &got), 0);
	cr_assert_eq(got.retries, 1);
	cr_assert_str_eq(got.last_error, "451 4.3.0 mailbox busy");
	cr_assert_eq(count(), 3);

	struct queue_envelope other = upd;
	other.id = ids[1];
	cr_assert_eq(queue_envelope_update(Q, &upd, &other), -EINVAL, "id change accepted");
}

/* queue_body_read(): the same bytes as queue_body_load() for every size;
 * a size that does not match what is stored still gets the stored body
 * (the scan), and a removed body is -ENOENT. */
BOTH(body_read_by_size_matches_load)
{
	static const size_t sizes[] = {
		1, 1000, QUEUE_CHUNK_BYTES - 1, QUEUE_CHUNK_BYTES, QUEUE_CHUNK_BYTES + 1,
		3 * QUEUE_CHUNK_BYTES + 17,
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *body = tq_body(sizes[i], (unsigned)i + 7), *got = NULL;
		uint64_t next = 100, id;
		size_t len = 0;
		tq_put(Q, body, sizes[i], 4096, &next, 1, &id);
		uint32_t msgid = (uint32_t)(id >> 32);
		cr_assert_eq(queue_body_read(Q, msgid, sizes[i], &got, &len), 0,
		             "size %zu", sizes[i]);
		cr_assert_eq(len, sizes[i], "size %zu: got %zu bytes", sizes[i], len);
		cr_assert_eq(memcmp(got, body, len), 0, "size %zu: content differs", sizes[i]);
		free(got);
		/* a wrong size (one chunk more, one byte less) falls back to the scan */
		for (int wrong = 0; wrong < 2; wrong++) {
			uint64_t claim = wrong ? sizes[i] - 1 : sizes[i] + QUEUE_CHUNK_BYTES;
			cr_assert_eq(queue_body_read(Q, msgid, claim, &got, &len), 0);
			cr_assert_eq(len, sizes[i], "size %zu claimed %llu: got %zu bytes",
			             sizes[i], (unsigned long long)claim, len);
			cr_assert_eq(memcmp(got, body, len), 0);
			free(got);
		}
		cr_assert_eq(queue_envelope_delete(Q, id), 0);
		cr_assert_eq(queue_body_read(Q, msgid, sizes[i], &got, &len), -ENOENT,
		             "size %zu: body read after its last envelope went", sizes[i]);
		free(body);
	}
}

BOTH(delete_last_envelope_removes_body)
{
	char *body = tq_body(3 * QUEUE_CHUNK_BYTES, 5), *got;
	uint64_t next[] = { 1, 2 }, ids[2], keep_next = 3, keep;
	size_t len;
	tq_put(Q, body, 3 * QUEUE_CHUNK_BYTES, 10000, next, 2, ids);
	tq_put(Q, "other", 5, 5, &keep_next, 1, &keep);
	uint32_t msgid = (uint32_t)(ids[0] >> 32);

	cr_assert_eq(queue_envelope_delete(Q, ids[0]), 0);
	cr_assert_eq(queue_envelope_load(Q, ids[0], &(struct queue_envelope){ 0 }), -ENOENT);
	cr_assert_eq(queue_body_load(Q, msgid, &got, &len), 0,
	             "body gone while an envelope remains");
	cr_assert_eq(len, 3 * QUEUE_CHUNK_BYTES);
	free(got);
	cr_assert_eq(count(), 2);

	cr_assert_eq(queue_envelope_delete(Q, ids[1]), 0);
	cr_assert_eq(queue_body_load(Q, msgid, &got, &len), -ENOENT,
	             "body kept after its last envelope");
	cr_assert_eq(queue_envelope_delete(Q, ids[1]), -ENOENT);
	cr_assert_eq(count(), 1);
	struct walked seen = { .n = 0 };
	cr_assert_eq(queue_walk(Q, collect, &seen), 0);
	cr_assert_eq(seen.n, 1);
	cr_assert_eq(seen.ids[0], keep);
	cr_assert_eq(queue_body_load(Q, (uint32_t)(keep >> 32), &got, &len), 0);
	cr_assert_eq(len, 5);
	free(got);
	free(body);
}

BOTH(abort_removes_chunks)
{
	struct queue_writer w;
	char *body = tq_body(5 * QUEUE_CHUNK_BYTES / 2, 1), *got;
	size_t len;
	cr_assert_eq(queue_body_begin(Q, &w), 0);
	cr_assert_eq(queue_body_append(&w, body, 5 * QUEUE_CHUNK_BYTES / 2), 0);
	cr_assert_eq(w.chunk_next, 2, "full chunks not written as they filled");
	cr_assert_eq(queue_body_load(Q, w.msgid, &got, &len), 0);
	cr_assert_eq(len, 2 * QUEUE_CHUNK_BYTES);
	free(got);
	queue_body_abort(&w);
	cr_assert_null(w.buf);
	cr_assert_eq(queue_body_load(Q, w.msgid, &got, &len), -ENOENT,
	             "chunks left after abort");
	cr_assert_eq(count(), 0);
	cr_assert_eq(queue_body_append(&w, "x", 1), -EINVAL, "append after abort");
	free(body);
}

BOTH(commit_refuses_bad_envelopes)
{
	struct queue_writer w;
	uint64_t seq;
	cr_assert_eq(queue_body_begin(Q, &w), 0);
	cr_assert_eq(queue_body_append(&w, "body", 4), 0);
	struct queue_envelope envs[2];
	envs[0] = tq_env(queue_evpid_new(w.msgid), 1, "a@example.net");
	envs[1] = tq_env(queue_evpid_new(w.msgid ^ 1), 1, "b@example.net");
	static const struct { const char *name; int n; } cases[] = {
		{ "no envelopes", 0 }, { "envelope of another message", 2 },
		{ "duplicate envelope id", -2 }, { "rcpt without NUL", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct queue_envelope try[2] = { envs[0], envs[1] };
		unsigned n = (unsigned)abs(cases[i].n);
		if (cases[i].n == -2)
			try[1].id = try[0].id;
		if (cases[i].n == -1)
			memset(try[0].rcpt, 'x', sizeof(try[0].rcpt));
		int err = queue_commit(&w, try, n, &seq);
		cr_assert_eq(err, -EINVAL, "%s: got %d, want -EINVAL", cases[i].name, err);
		cr_assert(strstr(queue_strerror(Q), "commit refused") != NULL,
		          "%s: error text \"%s\"", cases[i].name, queue_strerror(Q));
		cr_assert_eq(count(), 0, "%s: something was stored", cases[i].name);
	}
	cr_assert_eq(queue_commit(&w, envs, 1, &seq), 0, "writer unusable after refusal");
	cr_assert_eq(count(), 1);
}

/* Walk callback: delete each envelope as it is handed over. */
static int
delete_each(void *arg, const struct queue_envelope *env)
{
	cr_assert_eq(queue_envelope_delete(arg, env->id), 0);
	return 0;
}

/* Walk callback: count the call and stop the walk with 7. */
static int
stop_at_first(void *arg, const struct queue_envelope *env)
{
	(*(int *)arg)++;
	return 7;
}

BOTH(walk_stops_and_callback_may_delete)
{
	uint64_t next[] = { 3, 1, 2 }, ids[3];
	tq_put(Q, "m", 1, 1, next, 3, ids);
	int calls = 0;
	cr_assert_eq(queue_walk(Q, stop_at_first, &calls), 7);
	cr_assert_eq(calls, 1);
	cr_assert_eq(queue_walk(Q, delete_each, Q), 0);
	cr_assert_eq(count(), 0);
	char *got;
	size_t len;
	cr_assert_eq(queue_body_load(Q, (uint32_t)(ids[0] >> 32), &got, &len), -ENOENT);
}

BOTH(ids_fresh_and_well_formed)
{
	uint64_t next = 1, id;
	tq_put(Q, "m", 1, 1, &next, 1, &id);
	uint32_t seen[256];
	for (int i = 0; i < 256; i++) {
		seen[i] = queue_msgid_new(Q);
		cr_assert_neq(seen[i], 0);
		cr_assert_neq(seen[i], (uint32_t)(id >> 32));
		for (int j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j], "msgid repeated");
		cr_assert_eq(queue_evpid_new(seen[i]) >> 32, seen[i]);
	}
}
