/*
 * test/queue/test_syncer.c - group commit: every request answered exactly
 * once, with 0, and requests that wait together share one WAL sync. Runs on
 * both backends (the RAM sync is a no-op through the same path).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "test/queue/helpers.h"

#define SY_THREADS 8
#define SY_ROUNDS 25

TQ_BOTH_BACKENDS(syncer_ram, syncer_rocksdb);
#define BOTH(name) TQ_BOTH(syncer_ram, syncer_rocksdb, name)

/* A request the test can watch: how often done() ran, with what. */
struct watched {
	struct queue_sync_req req;
	atomic_int calls;
	atomic_int err;
};

static atomic_int done_total;

/* done(): count the call and keep the result. */
static void
watched_done(struct queue_sync_req *req, int err)
{
	struct watched *w = (struct watched *)req;
	atomic_store(&w->err, err);
	atomic_fetch_add(&w->calls, 1);
	atomic_fetch_add(&done_total, 1);
}

/* Wait until done_total reaches want, at most 20 s. */
static void
wait_total(int want)
{
	for (int ms = 0; atomic_load(&done_total) < want; ms++) {
		cr_assert_lt(ms, 20000, "only %d of %d requests answered",
		             atomic_load(&done_total), want);
		usleep(1000);
	}
}

/* Write one small message; returns its seq. */
static uint64_t
commit_one(void)
{
	uint64_t next = 1, id;
	return tq_put(Q, "body\r\n", 6, 6, &next, 1, &id);
}

BOTH(waiting_requests_share_one_sync)
{
	enum { N = 50 };
	static struct watched w[N];
	atomic_store(&done_total, 0);
	for (int i = 0; i < N; i++) {
		w[i] = (struct watched){ .req = { .done = watched_done } };
		w[i].req.seq = commit_one();
		queue_sync_submit(Q, &w[i].req);
	}
	cr_assert_eq(atomic_load(&done_total), 0, "answered before the syncer ran");
	cr_assert_eq(queue_syncer_start(Q), 0);
	cr_assert_eq(queue_syncer_start(Q), -EALREADY);
	wait_total(N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&w[i].calls), 1, "request %d: done() ran %d times",
		             i, atomic_load(&w[i].calls));
		cr_assert_eq(atomic_load(&w[i].err), 0);
	}
	cr_assert_eq(queue_syncer_syncs(Q), 1, "%llu syncs for %d waiting requests",
	             (unsigned long long)queue_syncer_syncs(Q), N);
}

static atomic_int submitted_first;  /* threads past their first submit */

/* The first request answered holds the syncer until every thread has
 * submitted, so the rest must wait together. */
static void
gate_done(struct queue_sync_req *req, int err)
{
	static atomic_int gate_used;
	if (atomic_exchange(&gate_used, 1) == 0)
		for (int ms = 0; ms < 10000 && atomic_load(&submitted_first) < SY_THREADS; ms++)
			usleep(1000);
	watched_done(req, err);
}

/* One session thread: commit, submit, wait for done(), SY_ROUNDS times. */
static void *
submitter(void *arg)
{
	struct watched *w = arg;
	for (int r = 0; r < SY_ROUNDS; r++) {
		struct watched *cur = &w[r];
		*cur = (struct watched){ .req = { .done = gate_done } };
		cur->req.seq = commit_one();
		queue_sync_submit(Q, &cur->req);
		if (r == 0)
			atomic_fetch_add(&submitted_first, 1);
		while (atomic_load(&cur->calls) == 0)  /* a session waits for its 250 */
			usleep(100);
	}
	return NULL;
}

BOTH(threads_each_answered_once)
{
	static struct watched w[SY_THREADS][SY_ROUNDS];
	pthread_t th[SY_THREADS];
	atomic_store(&done_total, 0);
	atomic_store(&submitted_first, 0);
	cr_assert_eq(queue_syncer_start(Q), 0);
	for (int t = 0; t < SY_THREADS; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, submitter, w[t]), 0);
	for (int t = 0; t < SY_THREADS; t++)
		pthread_join(th[t], NULL);
	wait_total(SY_THREADS * SY_ROUNDS);
	for (int t = 0; t < SY_THREADS; t++)
		for (int r = 0; r < SY_ROUNDS; r++) {
			cr_assert_eq(atomic_load(&w[t][r].calls), 1,
			             "thread %d round %d: done() ran %d times", t, r,
			             atomic_load(&w[t][r].calls));
			cr_assert_eq(atomic_load(&w[t][r].err), 0);
		}
	uint64_t syncs = queue_syncer_syncs(Q);
	/* at most: one for the first, one for the rest of round one, one each
	 * after that -- fewer than the requests */
	cr_assert_leq(syncs, SY_THREADS * SY_ROUNDS - (SY_THREADS - 2),
	              "%llu syncs for %d requests: no grouping",
	             (unsigned long long)syncs, SY_THREADS * SY_ROUNDS);
	cr_assert_gt(syncs, 0);
}

BOTH(close_answers_what_waits)
{
	static struct watched w[3];
	atomic_store(&done_total, 0);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct watched){ .req = { .done = watched_done } };
		w[i].req.seq = commit_one();
		queue_sync_submit(Q, &w[i].req);
	}
	queue_close(Q);  /* the syncer never started */
	Q = NULL;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(atomic_load(&w[i].calls), 1, "request %d not answered at close", i);
	Q = tq_open(DIR ? "rocksdb" : "ram", DIR);
}

BOTH(already_durable_needs_no_sync)
{
	static struct watched w;
	atomic_store(&done_total, 0);
	cr_assert_eq(queue_syncer_start(Q), 0);
	uint64_t seq = commit_one();
	cr_assert_eq(queue_sync_now(Q), 0);
	w = (struct watched){ .req = { .seq = seq, .done = watched_done } };
	queue_sync_submit(Q, &w.req);
	wait_total(1);
	cr_assert_eq(atomic_load(&w.err), 0);
	cr_assert_eq(queue_syncer_syncs(Q), 0, "synced again for a durable write");

	w = (struct watched){ .req = { .seq = commit_one(), .done = watched_done } };
	queue_sync_submit(Q, &w.req);
	wait_total(2);
	cr_assert_eq(queue_syncer_syncs(Q), 1, "a new write was not synced");
}
