/*
 * test/queue/test_faults.c - storage errors as a session sees them: a failed
 * write is -ENOSPC/-EIO and breaks the store (new mail refused, the first
 * error kept), a failed WAL sync answers every waiting commit with the error
 * and the queue refuses new mail until restart even when the disk recovers,
 * and below the free space minimum new mail is refused with -ENOSPC before
 * the disk is full. Faults are injected into the RAM store; the free space
 * minimum is tried on RocksDB with a minimum no disk can meet.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "queue/store.h"
#include "test/queue/helpers.h"

/* Commit a one-recipient message; returns queue_commit()'s result (the
 * writer is aborted on failure). */
static int
try_commit(struct queue *q, uint64_t *seq, uint64_t *id)
{
	struct queue_writer w;
	int err = queue_body_begin(q, &w);
	if (err < 0)
		return err;
	cr_assert_eq(queue_body_append(&w, "Subject: x\r\n\r\nbody\r\n", 21), 0);
	struct queue_envelope env = tq_env(queue_evpid_new(w.msgid), 1, "a@example.net");
	err = queue_commit(&w, &env, 1, seq);
	if (err < 0)
		queue_body_abort(&w);
	else if (id != NULL)
		*id = env.id;
	return err;
}

Test(faults, failed_write_refuses_new_mail)
{
	struct queue *q = tq_open("ram", NULL);
	uint64_t seq, id;
	cr_assert_eq(try_commit(q, &seq, &id), 0);
	cr_assert_eq(queue_failed(q), 0);
	queue_store_ram_inject(queue_store_of(q), -ENOSPC, 0);
	cr_assert_eq(try_commit(q, &seq, NULL), -ENOSPC, "a full disk is -ENOSPC");
	cr_assert_eq(queue_failed(q), -ENOSPC);
	/* the disk has room again: still refused, the store is not trusted */
	queue_store_ram_inject(queue_store_of(q), 0, 0);
	struct queue_writer w;
	cr_assert_eq(queue_body_begin(q, &w), -EIO);
	cr_assert(strstr(queue_strerror(q), "restart") != NULL, "text: %s",
	          queue_strerror(q));
	/* what was queued before can still be read */
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, id, &env), 0);
	queue_close(q);
}

static sem_t done_sem;
static int done_err[4];
static int done_n;

/* A sync request's completion: note its error. */
static void
note_done(struct queue_sync_req *req, int err)
{
	done_err[done_n++] = err;
	sem_post(&done_sem);
}

Test(faults, failed_sync_answers_error_and_stays_failed)
{
	struct queue *q = tq_open("ram", NULL);
	struct queue_sync_req req[3] = { { .done = note_done }, { .done = note_done },
	                                  { .done = note_done } };
	sem_init(&done_sem, 0, 0);
	done_n = 0;
	cr_assert_eq(queue_syncer_start(q), 0);
	cr_assert_eq(try_commit(q, &req[0].seq, NULL), 0);
	queue_store_ram_inject(queue_store_of(q), 0, -EIO);
	queue_sync_submit(q, &req[0]);
	sem_wait(&done_sem);
	cr_assert_eq(done_err[0], -EIO, "the commit waiting for the sync got %d", done_err[0]);
	cr_assert_eq(queue_failed(q), -EIO);
	/* the sync works again, but the queue refuses until restart */
	queue_store_ram_inject(queue_store_of(q), 0, 0);
	uint64_t seq;
	cr_assert_eq(try_commit(q, &seq, NULL), -EIO);
	cr_assert_eq(queue_sync_now(q), -EIO, "a later sync must not report success");
	queue_close(q);
	sem_destroy(&done_sem);
}

Test(faults, free_space_minimum)
{
	char *dir = tq_tmpdir();
	static const struct { uint64_t min; int want; } cases[] = {
		{ 1, 0 },                      /* any disk has a byte */
		{ UINT64_MAX / 2, -ENOSPC },   /* none has 8 EiB */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct queue_options opts = { .path = dir, .space_bytes_min = cases[i].min };
		struct queue *q;
		uint64_t seq;
		cr_assert_eq(queue_open(&q, &opts), 0, "open: %s", queue_strerror(NULL));
		int got = try_commit(q, &seq, NULL);
		cr_assert_eq(got, cases[i].want, "case %zu: got %d, want %d", i, got,
		             cases[i].want);
		if (got == -ENOSPC) {
			cr_assert(strstr(queue_strerror(q), "free space") != NULL, "text: %s",
			          queue_strerror(q));
			cr_assert_eq(queue_failed(q), 0, "a soft refusal is not a failure");
		}
		queue_close(q);
	}
	tq_rmtree(dir);
	free(dir);
}
