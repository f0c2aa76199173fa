/*
 * test/queue/test_schedule.c - when envelopes are tried: OpenSMTPD's backoff
 * (a table of got/want), and the due scan on both backends: only what is
 * due, in schedule order, from a cursor, filtered by id before any read,
 * stopping when told, bounded per call, and repairing stale or wrong
 * schedule entries and bad records on the way.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "queue/store.h"
#include "test/queue/helpers.h"

struct retry_case {
	uint64_t created, base;
	uint32_t retries;
	uint64_t now, want;
};

/* OpenSMTPD: created + base * step^2, the first step >= retries after now. */
static const struct retry_case retry_cases[] = {
	{ 1000, 400, 1, 1000, 1400 },        /* first retry of a relay: +400 s */
	{ 1000, 400, 2, 1400, 2600 },        /* +1600 s */
	{ 1000, 400, 3, 2600, 4600 },        /* +3600 s */
	{ 1000, 10, 1, 1000, 1010 },         /* local: +10 s */
	{ 1000, 10, 2, 1010, 1040 },
	{ 1000, 10, 5, 1240, 1250 },
	{ 1000, 10, 1, 1500, 1640 },         /* late: the first step after now (8^2*10) */
	{ 1000, 10, 1, 1640, 1810 },         /* exactly at a step: the next one */
	{ 1000, 400, 0, 999, 1000 },         /* retries 0: creation itself when ahead */
	{ 1000, 0, 1, 1000, 1001 },          /* base 0 is taken as 1 */
	{ 1000, 400, 1, 1000 + 4 * 86400, 1000 + 400 * 30 * 30 },  /* 4 days late */
	{ 0, 1, 1, UINT64_MAX - 1, UINT64_MAX },  /* no overflow: never */
};

Test(retry, schedule_table)
{
	for (size_t i = 0; i < sizeof(retry_cases) / sizeof(retry_cases[0]); i++) {
		const struct retry_case *c = &retry_cases[i];
		uint64_t got = queue_retry_next(c->created, c->base, c->retries, c->now);
		cr_assert_eq(got, c->want, "case %zu: got %llu, want %llu", i,
		             (unsigned long long)got, (unsigned long long)c->want);
	}
}

Test(retry, always_after_now_and_growing)
{
	uint64_t prev = 0;
	for (uint32_t r = 1; r < 60; r++) {
		uint64_t t = queue_retry_next(5000, 400, r, prev ? prev : 5000);
		cr_assert_gt(t, prev ? prev : 5000, "retry %u: %llu", r, (unsigned long long)t);
		cr_assert_eq(t, 5000 + 400ull * r * r, "retry %u", r);
		prev = t;
	}
}

TQ_BOTH_BACKENDS(due_ram, due_rocksdb);
#define BOTH(name) TQ_BOTH(due_ram, due_rocksdb, name)

/* What a scan saw, and how it should answer want(). */
struct seen {
	uint64_t wanted[64];   /* ids want() was asked about */
	unsigned nwanted;
	uint64_t taken[64];
	uint64_t taken_next[64];
	unsigned ntaken;
	uint64_t skip;         /* want() says SKIP for this id */
	unsigned stop_after;   /* want() says STOP once this many were taken (0: never) */
};

/* want(): record, then skip/stop/take as configured. */
static enum queue_due_want
want(void *arg, uint64_t evpid)
{
	struct seen *s = arg;
	cr_assert_lt(s->nwanted, 64);
	s->wanted[s->nwanted++] = evpid;
	if (evpid == s->skip)
		return QUEUE_DUE_SKIP;
	if (s->stop_after && s->ntaken >= s->stop_after)
		return QUEUE_DUE_STOP;
	return QUEUE_DUE_TAKE;
}

/* take(): record. */
static void
take(void *arg, const struct queue_envelope *env)
{
	struct seen *s = arg;
	cr_assert_lt(s->ntaken, 64);
	s->taken_next[s->ntaken] = env->next_attempt;
	s->taken[s->ntaken++] = env->id;
}

/* Index of id in ids[0..n), or -1. */
static int
index_of(const uint64_t *ids, unsigned n, uint64_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return (int)i;
	return -1;
}

BOTH(only_due_in_schedule_order)
{
	uint64_t next[] = { 50, 10, 30, 31, 100, 1000 }, ids[6];
	tq_put(Q, "m", 1, 1, next, 6, ids);
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { .nwanted = 0 };
	cr_assert_eq(queue_due(Q, 50, &cur, 100, want, take, &s), 1, "range not exhausted");
	uint64_t want_ids[] = { ids[1], ids[2], ids[3], ids[0] };
	cr_assert_eq(s.ntaken, 4, "took %u, want the 4 due at 50", s.ntaken);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(s.taken[i], want_ids[i], "position %u", i);
		cr_assert_leq(s.taken_next[i], 50);
	}
	cr_assert_eq(s.nwanted, 4, "want() asked about an entry that is not due");
	/* the cursor moved past them: nothing new until time passes */
	s.ntaken = s.nwanted = 0;
	cr_assert_eq(queue_due(Q, 50, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 0, "the cursor did not move");
	cr_assert_eq(queue_due(Q, 100, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 1);
	cr_assert_eq(s.taken[0], ids[4]);
}

BOTH(skip_stop_rewind_and_limit)
{
	uint64_t next[] = { 1, 2, 3, 4, 5 }, ids[5];
	tq_put(Q, "m", 1, 1, next, 5, ids);
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { .skip = ids[1], .stop_after = 2 };
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 0, "STOP is not the end");
	cr_assert_eq(s.ntaken, 2);
	cr_assert_eq(s.taken[0], ids[0]);
	cr_assert_eq(s.taken[1], ids[2]);
	/* the entry that said STOP is visited again next time */
	s.stop_after = 0;
	s.ntaken = s.nwanted = 0;
	cr_assert_eq(queue_due(Q, 10, &cur, 1, want, take, &s), 0, "keys_max is not the end");
	cr_assert_eq(s.ntaken, 1);
	cr_assert_eq(s.taken[0], ids[3]);
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 2);
	cr_assert_eq(s.taken[1], ids[4]);
	/* a rewind brings an earlier entry back; a later one does not move it */
	queue_due_rewind(&cur, 2, ids[1]);
	queue_due_rewind(&cur, 4, ids[3]);
	s.skip = 0;
	s.ntaken = 0;
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 1);
	cr_assert_geq(s.ntaken, 1);
	cr_assert_eq(s.taken[0], ids[1], "rewind did not go back to the skipped entry");
}

/* A pause stored while an attempt ran (smtpctl) survives the attempt's
 * write-back; smtpctl's own resume (old_env given) is written as asked. */
BOTH(pause_survives_the_write_back_of_an_attempt)
{
	uint64_t next[] = { 5 }, ids[1];
	tq_put(Q, "m", 1, 1, next, 1, ids);
	struct queue_envelope attempt, stored, paused;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &attempt), 0);
	paused = attempt;
	paused.paused = 1;
	paused.next_attempt = QUEUE_PAUSED_AT;
	cr_assert_eq(queue_envelope_update(Q, &attempt, &paused), 0);
	attempt.retries = 1;                 /* the attempt failed meanwhile */
	attempt.next_attempt = 400;
	cr_assert_eq(queue_envelope_update(Q, NULL, &attempt), 0);
	cr_assert_eq(queue_envelope_load(Q, ids[0], &stored), 0);
	cr_expect_eq(stored.paused, 1);
	cr_expect_eq(stored.next_attempt, QUEUE_PAUSED_AT);
	cr_expect_eq(stored.retries, 1, "the attempt's own news is kept");
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { 0 };
	cr_assert_eq(queue_due(Q, 100000, &cur, 100, want, take, &s), 1);
	cr_expect_eq(s.ntaken, 0, "a paused envelope came due");
	struct queue_envelope resumed = stored;
	resumed.paused = 0;
	resumed.next_attempt = 7;
	cr_assert_eq(queue_envelope_update(Q, &stored, &resumed), 0);
	cr_assert_eq(queue_envelope_load(Q, ids[0], &stored), 0);
	cr_expect_eq(stored.paused, 0);
	memset(&cur, 0, sizeof(cur));
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 1);
	cr_expect_eq(s.ntaken, 1);
}

BOTH(update_and_delete_seen_by_next_scan)
{
	uint64_t next[] = { 5, 6 }, ids[2];
	tq_put(Q, "m", 1, 1, next, 2, ids);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	env.next_attempt = 500;
	env.retries = 1;
	cr_assert_eq(queue_envelope_update(Q, NULL, &env), 0);
	cr_assert_eq(queue_envelope_delete(Q, ids[1]), 0);
	cr_assert_eq(queue_envelope_update(Q, NULL, &(struct queue_envelope){ 0 }), -EINVAL);
	struct queue_envelope gone = env;
	gone.id = ids[1];
	cr_assert_eq(queue_envelope_update(Q, NULL, &gone), -ENOENT,
	             "an update brought a removed envelope back");
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { 0 };
	cr_assert_eq(queue_due(Q, 499, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 0, "moved entry still due at its old time");
	memset(&cur, 0, sizeof(cur));
	cr_assert_eq(queue_due(Q, 500, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 1);
	cr_assert_eq(s.taken[0], ids[0]);
	cr_assert_eq(s.taken_next[0], 500);
}

BOTH(many_due_across_slices)
{
	/* more than one store slice (256 keys), several messages */
	enum { MSGS = 40, PER = 16 };
	uint64_t next[PER], ids[MSGS][PER];
	for (unsigned m = 0; m < MSGS; m++) {
		for (unsigned i = 0; i < PER; i++)
			next[i] = 1 + (m * PER + i) % 97;
		tq_put(Q, "m", 1, 1, next, PER, ids[m]);
	}
	struct queue_due_cursor cur = { 0, 0 };
	unsigned total = 0, calls = 0;
	uint64_t last_next = 0;
	for (;;) {
		struct seen s = { 0 };
		int rc = queue_due(Q, 1000, &cur, 50, want, take, &s);
		cr_assert_geq(rc, 0);
		for (unsigned i = 0; i < s.ntaken; i++) {
			cr_assert_geq(s.taken_next[i], last_next, "out of order");
			last_next = s.taken_next[i];
		}
		total += s.ntaken;
		calls++;
		if (rc == 1)
			break;
		cr_assert_lt(calls, 100);
	}
	cr_assert_eq(total, MSGS * PER, "saw %u of %u", total, MSGS * PER);
	cr_assert_geq(calls, MSGS * PER / 50, "keys_max not honoured");
}

BOTH(stale_and_wrong_entries_repaired)
{
	uint64_t next[] = { 5, 7 }, ids[2];
	tq_put(Q, "m", 1, 1, next, 2, ids);
	struct queue_store *st = queue_store_of(Q);
	uint64_t seq;
	uint8_t stale[16], wrong[16];
	static const uint8_t shortkey[10] = { 0, 0, 0, 0, 0, 0, 0, 3, 0xaa, 0xbb };
	/* a schedule entry whose envelope does not exist */
	queue_be64_put(stale, 3);
	queue_be64_put(stale + 8, ids[0] ^ 0xffff);
	/* a second entry for ids[1] at the wrong time */
	queue_be64_put(wrong, 4);
	queue_be64_put(wrong + 8, ids[1]);
	struct queue_store_op ops[] = {
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, stale, 16, "", 0 },
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, wrong, 16, "", 0 },
		{ QUEUE_OP_PUT, QUEUE_CF_SCHEDULE, shortkey, sizeof(shortkey), "", 0 },
	};
	cr_assert_eq(st->ops->write(st, ops, 3, &seq), 0);
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { 0 };
	cr_assert_eq(queue_due(Q, 6, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 1, "took %u", s.ntaken);
	cr_assert_eq(s.taken[0], ids[0]);
	/* a second scan from the start: the stale, short and wrong keys are
	 * gone, ids[1] due at 7 once */
	memset(&cur, 0, sizeof(cur));
	s = (struct seen){ 0 };
	cr_assert_eq(queue_due(Q, 100, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.nwanted, 2, "schedule entries left: %u, want 2", s.nwanted);
	cr_assert_eq(s.ntaken, 2);
	cr_assert_eq(s.taken[1], ids[1]);
	cr_assert_eq(s.taken_next[1], 7);
}

BOTH(bad_record_quarantined_by_scan)
{
	uint64_t next[] = { 5, 6 }, ids[2];
	tq_put(Q, "m", 1, 1, next, 2, ids);
	struct queue_store *st = queue_store_of(Q);
	uint64_t seq;
	uint8_t key[8];
	queue_be64_put(key, ids[0]);
	struct queue_store_op op = { QUEUE_OP_PUT, QUEUE_CF_ENVELOPES, key, 8, "\x09junk", 5 };
	cr_assert_eq(st->ops->write(st, &op, 1, &seq), 0);
	struct queue_due_cursor cur = { 0, 0 };
	struct seen s = { 0 };
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 1);
	cr_assert_eq(s.ntaken, 1, "the good envelope is still taken");
	cr_assert_eq(s.taken[0], ids[1]);
	cr_assert_eq(queue_bad_records(Q), 1);
	uint64_t n;
	cr_assert_eq(queue_quarantine_count(Q, &n), 0);
	cr_assert_eq(n, 2, "quarantine: the record and the body chunk");
	memset(&cur, 0, sizeof(cur));
	s = (struct seen){ 0 };
	cr_assert_eq(queue_due(Q, 10, &cur, 100, want, take, &s), 1);
	cr_assert_eq(index_of(s.wanted, s.nwanted, ids[0]), -1,
	             "the bad record's schedule entry is still there");
}
