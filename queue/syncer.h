/*
 * queue/syncer.h - the group-commit syncer (queue/syncer.c), embedded in
 * struct queue. Submitters push requests onto a lock-free stack and wake the
 * syncer thread through an eventfd; the thread takes the whole stack, syncs
 * the store's WAL once for all of them, and calls each done() in submission
 * order. A request whose seq is already durable is answered without a sync.
 * A failed sync is remembered (failed): RocksDB accepts no more writes after
 * it, so the queue above refuses new mail until restart.
 */
#ifndef QUEUE_SYNCER_H
#define QUEUE_SYNCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "queue/queue.h"
#include "queue/store.h"

struct queue_syncer {
	struct queue_store *store;
	_Atomic(struct queue_sync_req *) head;  /* Treiber stack, newest first */
	int efd;                                /* eventfd: "the stack is not empty" */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_uint_fast64_t syncs;             /* WAL syncs done by the thread */
	atomic_uint_fast64_t durable_seq;       /* every seq <= this is durable */
	atomic_int failed;                      /* 0, or the first sync error */
};

/* Set up (no thread yet); returns 0 or -errno. */
int queue_syncer_init(struct queue_syncer *sy, struct queue_store *store);
/* Start the thread; returns 0, -EALREADY, or -errno. */
int queue_syncer_spawn(struct queue_syncer *sy);
/* Queue req; never blocks, takes no lock. */
void queue_syncer_push(struct queue_syncer *sy, struct queue_sync_req *req);
/* Sync on the calling thread; returns 0 or the store's error. */
int queue_syncer_sync(struct queue_syncer *sy);
/* Stop the thread after it served what waits, serve any leftovers, free. */
void queue_syncer_fini(struct queue_syncer *sy);

#endif
