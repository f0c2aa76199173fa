/*
 * bench/ring.h - what the load generator and the sink share about their
 * rings: set-up with the flags a single-threaded owner wants
 * (SINGLE_ISSUER, DEFER_TASKRUN, COOP_TASKRUN when the kernel has them),
 * the monotonic clock, and a readable message for a refused ring.
 */
#ifndef BENCH_RING_H
#define BENCH_RING_H

#include <liburing.h>
#include <stdint.h>

/* Set up ring with entries SQEs; returns 0 or a negative errno. */
int bench_ring_init(struct io_uring *ring, unsigned entries);
/* A hint for a ring set-up error (after strerror). */
const char *bench_ring_hint(int err);
/* Nanoseconds on CLOCK_MONOTONIC (the clock of Python's time.monotonic()). */
uint64_t bench_now_ns(void);
/* Get an SQE, submitting what is queued when the SQ is full. */
struct io_uring_sqe *bench_ring_sqe(struct io_uring *ring);

#endif
