/*
 * bench/ring.c - ring set-up and the clock for bench/ (see bench/ring.h).
 */
#include "bench/ring.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* Set up ring with the best flags the kernel takes. */
int
bench_ring_init(struct io_uring *ring, unsigned entries)
{
	struct io_uring_params p;
	unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
#ifdef HAVE_IORING_SETUP_SINGLE_ISSUER
	flags |= IORING_SETUP_SINGLE_ISSUER;
#endif
#ifdef HAVE_IORING_SETUP_DEFER_TASKRUN
	flags |= IORING_SETUP_DEFER_TASKRUN;
#endif
	memset(&p, 0, sizeof p);
	p.flags = flags;
	int ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof p);
		ret = io_uring_queue_init_params(entries, ring, &p);
	}
	return ret;
}

/* A hint for a ring set-up error. */
const char *
bench_ring_hint(int err)
{
	if (err == -EPERM)
		return "io_uring is disabled: check kernel.io_uring_disabled or a seccomp profile";
	if (err == -ENOSYS)
		return "the kernel has no io_uring";
	if (err == -ENOMEM)
		return "locked memory limit too low (ulimit -l)";
	return "the kernel refused to set up a ring";
}

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Get an SQE, submitting what is queued when the SQ is full. */
struct io_uring_sqe *
bench_ring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (sqe == NULL) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}
