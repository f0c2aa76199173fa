/*
 * queue/store_profile.c - smtpctl profile queue: the time of every store
 * operation (write batch, point read, range scan, WAL sync), counted per
 * operation while profiling is on.
 *
 * queue_open() puts this store in front of the backend it opened; each call
 * goes through to the backend. With profiling off it costs one relaxed load
 * and an indirect call; on, two clock_gettime(CLOCK_MONOTONIC) calls and
 * three relaxed atomic updates (calls, total, max) shared by every thread.
 * The counters are process-wide (one queue per daemon).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "queue/queue_int.h"
#include "queue/store.h"

enum { PROF_WRITE, PROF_GET, PROF_SCAN, PROF_SYNC, PROF_OPS };

static const char *const prof_names[PROF_OPS] = {
	"store.write", "store.get", "store.scan", "store.sync",
};

static atomic_int prof_on;
static struct {
	atomic_uint_fast64_t calls, total_ns, max_ns;
} prof[PROF_OPS];

struct store_profiled {
	struct queue_store head;
	struct queue_store *inner;
};

static uint64_t
prof_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 0 when profiling is off, else the start time (never 0). */
static uint64_t
prof_begin(void)
{
	if (!atomic_load_explicit(&prof_on, memory_order_relaxed))
		return 0;
	return prof_now_ns() | 1;
}

static void
prof_end(unsigned op, uint64_t t0)
{
	if (t0 == 0)
		return;
	uint64_t ns = prof_now_ns() - t0;
	atomic_fetch_add_explicit(&prof[op].calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&prof[op].total_ns, ns, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&prof[op].max_ns, memory_order_relaxed);
	while (ns > max && !atomic_compare_exchange_weak_explicit(&prof[op].max_ns, &max, ns,
	                                                          memory_order_relaxed,
	                                                          memory_order_relaxed))
		;
}

#define INNER(s) (((struct store_profiled *)(s))->inner)

static int
prof_open(struct queue *q, const struct queue_options *opts, struct queue_store **store)
{
	(void)q;
	(void)opts;
	(void)store;
	return -EINVAL;   /* made by queue_store_profiled(), never opened */
}

static void
prof_close(struct queue_store *s)
{
	struct queue_store *inner = INNER(s);
	inner->ops->close(inner);
	free(s);
}

static int
prof_write(struct queue_store *s, const struct queue_store_op *ops, size_t n, uint64_t *seq)
{
	uint64_t t0 = prof_begin();
	int err = INNER(s)->ops->write(INNER(s), ops, n, seq);
	prof_end(PROF_WRITE, t0);
	return err;
}

static int
prof_get(struct queue_store *s, enum queue_cf cf, const void *key, size_t key_len, void *buf,
         size_t cap, size_t *len)
{
	uint64_t t0 = prof_begin();
	int err = INNER(s)->ops->get(INNER(s), cf, key, key_len, buf, cap, len);
	prof_end(PROF_GET, t0);
	return err;
}

static int
prof_scan(struct queue_store *s, enum queue_cf cf, const void *start, size_t start_len,
          const void *end, size_t end_len, queue_scan_fn fn, void *arg)
{
	uint64_t t0 = prof_begin();
	int err = INNER(s)->ops->scan(INNER(s), cf, start, start_len, end, end_len, fn, arg);
	prof_end(PROF_SCAN, t0);
	return err;
}

static int
prof_sync(struct queue_store *s)
{
	uint64_t t0 = prof_begin();
	int err = INNER(s)->ops->sync(INNER(s));
	prof_end(PROF_SYNC, t0);
	return err;
}

static uint64_t
prof_latest_seq(struct queue_store *s)
{
	return INNER(s)->ops->latest_seq(INNER(s));
}

static const struct queue_store_ops queue_store_profile_ops = {
	.name = "profiled", .open = prof_open, .close = prof_close, .write = prof_write,
	.get = prof_get, .scan = prof_scan, .sync = prof_sync, .latest_seq = prof_latest_seq,
};

struct queue_store *
queue_store_profiled(struct queue *q, struct queue_store *inner)
{
	struct store_profiled *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->head.ops = &queue_store_profile_ops;
	s->head.q = q;
	s->inner = inner;
	return &s->head;
}

struct queue_store *
queue_store_profiled_inner(struct queue_store *s)
{
	return s->ops == &queue_store_profile_ops ? INNER(s) : s;
}

void
queue_profile_set(int on)
{
	if (on && !atomic_load(&prof_on))
		for (unsigned i = 0; i < PROF_OPS; i++) {
			atomic_store(&prof[i].calls, 0);
			atomic_store(&prof[i].total_ns, 0);
			atomic_store(&prof[i].max_ns, 0);
		}
	atomic_store(&prof_on, on != 0);
}

int
queue_profile_on(void)
{
	return atomic_load_explicit(&prof_on, memory_order_relaxed);
}

unsigned
queue_profile_read(struct queue_profile_stat *out, unsigned cap)
{
	unsigned n = 0;
	for (unsigned i = 0; i < PROF_OPS && n < cap; i++, n++) {
		out[n].name = prof_names[i];
		out[n].calls = atomic_load(&prof[i].calls);
		out[n].total_ns = atomic_load(&prof[i].total_ns);
		out[n].max_ns = atomic_load(&prof[i].max_ns);
	}
	return n;
}
