/*
 * test/bench/test_hist.c - tests for bench/hist.c: bucket boundaries and
 * precision, quantiles against exact sorted values, merging, empty
 * histograms and values past the top bucket.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bench/hist.h"
#include "bench/loadspec.h"

static struct bench_hist h, h2;

Test(hist, small_values_are_exact)
{
	for (uint64_t v = 0; v < 128; v++) {
		cr_expect_eq(bench_hist_index(v), v, "index(%llu) = %u", (unsigned long long)v,
		             bench_hist_index(v));
		cr_expect_eq(bench_hist_bucket_low(bench_hist_index(v)), v);
	}
}

Test(hist, buckets_are_contiguous_and_narrow)
{
	/* every value lands in a bucket whose low bound is <= value and whose
	 * next bucket starts above it; width at most 1/64 of the value */
	uint64_t rng = bench_rng_seed(7);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = bench_rng_next(&rng) >> (bench_rng_next(&rng) % 64);
		if (v > BENCH_HIST_VALUE_MAX)
			v %= BENCH_HIST_VALUE_MAX;
		unsigned idx = bench_hist_index(v);
		cr_assert_lt(idx, BENCH_HIST_BUCKETS);
		uint64_t lo = bench_hist_bucket_low(idx);
		cr_assert_leq(lo, v, "value %llu below bucket %u low %llu", (unsigned long long)v,
		              idx, (unsigned long long)lo);
		if (idx + 1 < BENCH_HIST_BUCKETS)
			cr_assert_gt(bench_hist_bucket_low(idx + 1), v);
		if (v >= 128)
			cr_assert_leq((bench_hist_bucket_low(idx + 1) - lo) * 64, v);
	}
	cr_expect_eq(bench_hist_index(BENCH_HIST_VALUE_MAX), BENCH_HIST_BUCKETS - 1);
	cr_expect_eq(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
}

Test(hist, empty_gives_zero)
{
	bench_hist_init(&h);
	cr_expect_eq(bench_hist_quantile(&h, 0.5), 0);
	cr_expect_eq(bench_hist_quantile(&h, 1.0), 0);
	cr_expect_eq(bench_hist_mean(&h), 0.0);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

Test(hist, quantiles_match_sorted_values_within_precision)
{
	enum { N = 20000 };
	static uint64_t vals[N];
	uint64_t rng = bench_rng_seed(42);
	bench_hist_init(&h);
	for (int i = 0; i < N; i++) {
		/* latencies from 10 us to about 50 ms, skewed */
		vals[i] = 10000 + bench_rng_next(&rng) % 1000000 * (1 + i % 50);
		bench_hist_add(&h, vals[i]);
	}
	qsort(vals, N, sizeof vals[0], cmp_u64);
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
		uint64_t want = vals[(size_t)(qs[k] * N + 0.999999) - 1];
		uint64_t got = bench_hist_quantile(&h, qs[k]);
		double err = got > want ? (double)(got - want) / (double)want :
		                          (double)(want - got) / (double)want;
		cr_expect_lt(err, 0.02, "q%.3f: got %llu, want %llu", qs[k], (unsigned long long)got,
		             (unsigned long long)want);
	}
	cr_expect_eq(bench_hist_quantile(&h, 1.0), vals[N - 1]);
	cr_expect_eq(h.min, vals[0]);
	cr_expect_eq(h.count, N);
}

Test(hist, single_value_is_reported_exactly)
{
	bench_hist_init(&h);
	bench_hist_add(&h, 1234567);
	cr_expect_eq(bench_hist_quantile(&h, 0.5), 1234567, "clamped to min/max");
	cr_expect_eq(bench_hist_quantile(&h, 0.999), 1234567);
	cr_expect_eq(bench_hist_mean(&h), 1234567.0);
}

Test(hist, merge_equals_adding_everything_to_one)
{
	bench_hist_init(&h);
	bench_hist_init(&h2);
	struct bench_hist *all = malloc(sizeof *all);
	cr_assert_not_null(all);
	bench_hist_init(all);
	for (uint64_t v = 1; v < 5000; v++) {
		bench_hist_add(v % 3 ? &h : &h2, v * 997);
		bench_hist_add(all, v * 997);
	}
	bench_hist_merge(&h, &h2);
	cr_expect_eq(h.count, all->count);
	cr_expect_eq(h.sum, all->sum);
	cr_expect_eq(h.min, all->min);
	cr_expect_eq(h.max, all->max);
	cr_expect_arr_eq(h.buckets, all->buckets, sizeof h.buckets);
	free(all);
}

Test(hist, huge_values_keep_exact_max)
{
	bench_hist_init(&h);
	bench_hist_add(&h, 5);
	bench_hist_add(&h, UINT64_C(1) << 50);
	cr_expect_eq(bench_hist_quantile(&h, 1.0), UINT64_C(1) << 50);
	cr_expect_eq(bench_hist_quantile(&h, 0.5), 5);
}
