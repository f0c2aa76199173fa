/*
 * queue/syncer.c - group commit: one WAL sync for every commit waiting.
 *
 * Submit path (any thread, no lock, no wait): push the caller's request onto
 * a Treiber stack with a CAS on the head; the push that finds the stack empty
 * writes the eventfd. A push onto a non-empty stack needs no wakeup: the
 * request it found there has not been taken yet, so the syncer, already woken
 * for it, takes both with the same exchange.
 *
 * Syncer thread: take the whole stack with one atomic exchange, reverse it
 * into submission order, note the highest seq, sync the store once (unless
 * that seq is already durable), then call every done(). The sequence number
 * read before a sync is durable after it, so later requests at or below it
 * are answered without another fsync.
 *
 * Writes nobody waits for (removals, retry times) are made durable too: when
 * the syncer has slept SYNCER_IDLE_SYNC_MS with writes past durable_seq, it
 * syncs once. The store may hold such writes in memory until then
 * (queue/store_rocksdb.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "queue/syncer.h"

#define SYNCER_IDLE_SYNC_MS 1000   /* unwaited-for writes are durable within this */

/* Prepare the stack and the eventfd; call from queue_open(). Returns 0 or
 * -errno. */
int
queue_syncer_init(struct queue_syncer *sy, struct queue_store *store)
{
	memset(sy, 0, sizeof(*sy));
	sy->store = store;
	atomic_init(&sy->head, NULL);
	atomic_init(&sy->stop, false);
	atomic_init(&sy->syncs, 0);
	atomic_init(&sy->durable_seq, 0);
	atomic_init(&sy->failed, 0);
	sy->efd = eventfd(0, EFD_CLOEXEC);
	return sy->efd < 0 ? -errno : 0;
}

/* Wake the syncer thread; callable from any thread. */
static void
syncer_wake(struct queue_syncer *sy)
{
	uint64_t one = 1;
	while (write(sy->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Queue req for the next sync; never blocks (see the file comment). */
void
queue_syncer_push(struct queue_syncer *sy, struct queue_sync_req *req)
{
	struct queue_sync_req *old = atomic_load_explicit(&sy->head, memory_order_relaxed);
	do {
		req->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&sy->head, &old, req,
	                                                memory_order_release,
	                                                memory_order_relaxed));
	if (old == NULL)
		syncer_wake(sy);
}

/* Sync the store once and advance durable_seq; returns 0 or the error,
 * which is also kept in sy->failed: every later call fails with it. */
int
queue_syncer_sync(struct queue_syncer *sy)
{
	int failed = atomic_load(&sy->failed);
	if (failed != 0)
		return failed;   /* nothing written since is trusted to be durable */
	uint64_t seq = sy->store->ops->latest_seq(sy->store);
	int err = sy->store->ops->sync(sy->store);
	if (err < 0) {
		int none = 0;
		atomic_compare_exchange_strong(&sy->failed, &none, err);
		return err;
	}
	uint64_t cur = atomic_load(&sy->durable_seq);
	while (cur < seq && !atomic_compare_exchange_weak(&sy->durable_seq, &cur, seq))
		;
	return 0;
}

/* Answer every request of a taken stack (newest first) after one sync. */
static void
syncer_serve(struct queue_syncer *sy, struct queue_sync_req *list)
{
	struct queue_sync_req *fifo = NULL, *next;
	uint64_t seq_max = 0;
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = fifo;
		fifo = list;
		if (list->seq > seq_max)
			seq_max = list->seq;
	}
	int err = 0;
	if (seq_max > atomic_load(&sy->durable_seq)) {
		err = queue_syncer_sync(sy);
		atomic_fetch_add(&sy->syncs, 1);
	}
	for (; fifo != NULL; fifo = next) {
		next = fifo->next;  /* done() may reuse the request */
		fifo->done(fifo, err);
	}
}

/* Wait for a wakeup on the eventfd; after SYNCER_IDLE_SYNC_MS without one,
 * sync whatever was written since the last sync. */
static void
syncer_sleep(struct queue_syncer *sy)
{
	struct pollfd pfd = { .fd = sy->efd, .events = POLLIN };
	int n = poll(&pfd, 1, SYNCER_IDLE_SYNC_MS);
	if (n == 0) {
		if (atomic_load(&sy->failed) == 0 &&
		    sy->store->ops->latest_seq(sy->store) > atomic_load(&sy->durable_seq)) {
			queue_syncer_sync(sy);
			atomic_fetch_add(&sy->syncs, 1);
		}
		return;
	}
	if (n < 0 && errno != EINTR) {
		perror("queue syncer: poll");
		usleep(1000);  /* cannot happen on a valid eventfd; do not spin */
		return;
	}
	uint64_t count;
	ssize_t r = read(sy->efd, &count, sizeof(count));
	if (r < 0 && errno != EINTR && errno != EAGAIN) {
		perror("queue syncer: eventfd read");
		usleep(1000);
	}
}

/* The syncer thread: serve, then sleep on the eventfd until stopped. */
static void *
syncer_main(void *arg)
{
	struct queue_syncer *sy = arg;
	for (;;) {
		struct queue_sync_req *list = atomic_exchange_explicit(&sy->head, NULL,
		                                                       memory_order_acquire);
		if (list != NULL) {
			syncer_serve(sy, list);
			continue;
		}
		if (atomic_load(&sy->stop))
			break;
		syncer_sleep(sy);
	}
	return NULL;
}

/* Start the thread with every signal blocked (signals belong to the
 * daemon's own threads); returns 0, -EALREADY or -errno. */
int
queue_syncer_spawn(struct queue_syncer *sy)
{
	sigset_t all, old;
	if (sy->started)
		return -EALREADY;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&sy->thread, NULL, syncer_main, sy);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		return -err;
	pthread_setname_np(sy->thread, "queue-syncer");
	sy->started = true;
	return 0;
}

/* Stop the thread once it has served what waits, answer anything still on
 * the stack from here, and close the eventfd; call from queue_close(). */
void
queue_syncer_fini(struct queue_syncer *sy)
{
	if (sy->started) {
		atomic_store(&sy->stop, true);
		syncer_wake(sy);
		pthread_join(sy->thread, NULL);
		sy->started = false;
	}
	struct queue_sync_req *list = atomic_exchange(&sy->head, NULL);
	if (list != NULL)
		syncer_serve(sy, list);
	if (sy->efd >= 0)
		close(sy->efd);
	sy->efd = -1;
}
