/*
 * bench/hist.h - a latency histogram for the load generator: log-linear
 * buckets (exact below 128, then 64 buckets per power of two, so a bucket
 * is at most 1/64 = 1.6 % wide), exact count, min, max and sum. Values are
 * nanoseconds (any unit works); values above BENCH_HIST_VALUE_MAX are
 * counted in the top bucket, their exact max still kept.
 *
 * No allocation: a struct bench_hist is about 18 KiB, owned by the caller.
 * One writer per histogram; merge per-thread histograms at the end.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_HALF (1u << (BENCH_HIST_SUB_BITS - 1))
#define BENCH_HIST_VALUE_MAX ((UINT64_C(1) << 41) - 1)   /* about 36 minutes in ns */
#define BENCH_HIST_BUCKETS ((1u << BENCH_HIST_SUB_BITS) + \
                            (41u - BENCH_HIST_SUB_BITS) * BENCH_HIST_HALF)

struct bench_hist {
	uint64_t count;
	uint64_t min;            /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t sum;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

/* Before first use: empty the histogram. */
void bench_hist_init(struct bench_hist *h);
/* Record one value. */
void bench_hist_add(struct bench_hist *h, uint64_t value);
/* Add every value of from into into. */
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* The value at quantile q (0 < q <= 1): the middle of the bucket holding
 * the ceil(q * count)-th smallest value, clamped to [min, max]; q >= 1 gives
 * max exactly. Returns 0 for an empty histogram. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
/* The mean, or 0 when empty. */
double bench_hist_mean(const struct bench_hist *h);
/* The bucket index of a value (exposed for tests). */
unsigned bench_hist_index(uint64_t value);
/* The smallest value that falls into bucket idx (exposed for tests). */
uint64_t bench_hist_bucket_low(unsigned idx);

#endif
