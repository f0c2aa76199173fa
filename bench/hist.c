/*
 * bench/hist.c - the log-linear latency histogram of bench/hist.h.
 */
#include "bench/hist.h"

#include <string.h>

/* Before first use: empty the histogram. */
void
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

/* Returns the bucket of value: itself below 2^SUB_BITS, else the octave
 * and the top SUB_BITS-1 bits below the leading one. */
unsigned
bench_hist_index(uint64_t value)
{
	if (value > BENCH_HIST_VALUE_MAX)
		value = BENCH_HIST_VALUE_MAX;
	if (value < (1u << BENCH_HIST_SUB_BITS))
		return (unsigned)value;
	unsigned msb = 63u - (unsigned)__builtin_clzll(value);
	unsigned shift = msb - (BENCH_HIST_SUB_BITS - 1);
	unsigned mant = (unsigned)(value >> shift);       /* in [HALF, 2*HALF) */
	return (1u << BENCH_HIST_SUB_BITS) + (shift - 1) * BENCH_HIST_HALF +
	       (mant - BENCH_HIST_HALF);
}

/* Returns the smallest value of bucket idx. */
uint64_t
bench_hist_bucket_low(unsigned idx)
{
	if (idx < (1u << BENCH_HIST_SUB_BITS))
		return idx;
	unsigned rel = idx - (1u << BENCH_HIST_SUB_BITS);
	unsigned shift = rel / BENCH_HIST_HALF + 1;
	uint64_t mant = BENCH_HIST_HALF + rel % BENCH_HIST_HALF;
	return mant << shift;
}

/* Returns the width of bucket idx. */
static uint64_t
bench_hist_bucket_width(unsigned idx)
{
	if (idx < (1u << BENCH_HIST_SUB_BITS))
		return 1;
	return UINT64_C(1) << ((idx - (1u << BENCH_HIST_SUB_BITS)) / BENCH_HIST_HALF + 1);
}

/* Record one value. */
void
bench_hist_add(struct bench_hist *h, uint64_t value)
{
	h->buckets[bench_hist_index(value)]++;
	h->count++;
	h->sum += value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

/* Add every value of from into into. */
void
bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

/* The value at quantile q; see bench/hist.h. */
uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	if (q < 0.0)
		q = 0.0;
	double want = q * (double)h->count;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = bench_hist_bucket_low(i) + bench_hist_bucket_width(i) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

/* The mean, or 0 when empty. */
double
bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
