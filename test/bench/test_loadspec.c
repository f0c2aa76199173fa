/*
 * test/bench/test_loadspec.c - tests for bench/loadspec.c: byte counts,
 * size distributions, durations, loopback addresses (anything off the
 * machine refused), recipient patterns and the random sizes staying inside
 * their range.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "bench/loadspec.h"

struct bytes_case {
	const char *text;
	int ok;
	uint64_t want;
};

Test(loadspec, bytes)
{
	static const struct bytes_case cases[] = {
		{"2048", 1, 2048}, {"2k", 1, 2048}, {"2K", 1, 2048}, {"2kB", 1, 2048},
		{"2KiB", 1, 2048}, {"100k", 1, 102400}, {"1m", 1, 1048576}, {"1MiB", 1, 1048576},
		{"1g", 1, UINT64_C(1) << 30}, {"0", 1, 0}, {"7b", 1, 7},
		{"", 0, 0}, {"k", 0, 0}, {"-1", 0, 0}, {"2x", 0, 0}, {"2.5k", 0, 0}, {" 2k", 0, 0},
		{"2 k", 0, 0}, {"99999999999999999999", 0, 0}, {"20000000000g", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t got = 12345;
		int r = bench_parse_bytes(cases[i].text, &got);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': got status %d", cases[i].text, r);
		if (cases[i].ok)
			cr_expect_eq(got, cases[i].want, "'%s': got %llu, want %llu", cases[i].text,
			             (unsigned long long)got, (unsigned long long)cases[i].want);
		else
			cr_expect_eq(got, 12345, "'%s': output touched on error", cases[i].text);
	}
}

struct dist_case {
	const char *text;
	int ok;
	uint64_t lo, hi;
};

Test(loadspec, size_distribution)
{
	static const struct dist_case cases[] = {
		{"2k", 1, 2048, 2048}, {"1k-100k", 1, 1024, 102400}, {"10-10", 1, 10, 10},
		{"256m", 1, UINT64_C(256) << 20, UINT64_C(256) << 20},
		{"0", 0, 0, 0}, {"100k-1k", 0, 0, 0}, {"1k-", 0, 0, 0}, {"-1k", 0, 0, 0},
		{"1k-2k-3k", 0, 0, 0}, {"257m", 0, 0, 0}, {"abc", 0, 0, 0},
		{"1k-100000000000000000000000000000000000000000000000000000000000000k", 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_sizedist d = {0, 0};
		int r = bench_sizedist_parse(cases[i].text, &d);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': got status %d", cases[i].text, r);
		if (r == 0 && cases[i].ok) {
			cr_expect_eq(d.min_bytes, cases[i].lo, "'%s' min", cases[i].text);
			cr_expect_eq(d.max_bytes, cases[i].hi, "'%s' max", cases[i].text);
		}
	}
}

Test(loadspec, picks_stay_in_range_and_cover_it)
{
	struct bench_sizedist d;
	cr_assert_eq(bench_sizedist_parse("1000-1009", &d), 0);
	uint64_t rng = bench_rng_seed(1);
	int seen[10] = {0};
	for (int i = 0; i < 10000; i++) {
		uint64_t v = bench_sizedist_pick(&d, &rng);
		cr_assert(v >= 1000 && v <= 1009, "picked %llu", (unsigned long long)v);
		seen[v - 1000]++;
	}
	for (int i = 0; i < 10; i++)
		cr_expect_gt(seen[i], 800, "value %d picked %d times of 10000", 1000 + i, seen[i]);
	cr_assert_eq(bench_sizedist_parse("2k", &d), 0);
	cr_expect_eq(bench_sizedist_pick(&d, &rng), 2048);
}

struct dur_case {
	const char *text;
	int ok;
	uint64_t want_ns;
};

Test(loadspec, durations)
{
	static const struct dur_case cases[] = {
		{"10", 1, 10000000000ull}, {"10s", 1, 10000000000ull}, {"1.5s", 1, 1500000000ull},
		{"250ms", 1, 250000000ull}, {"2m", 1, 120000000000ull}, {"1h", 1, 3600000000000ull},
		{"100us", 1, 100000ull}, {"0", 1, 0}, {".5", 1, 500000000ull},
		{"", 0, 0}, {"s", 0, 0}, {"10x", 0, 0}, {"-1s", 0, 0}, {"25h", 0, 0}, {"1 s", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t got = 777;
		int r = bench_parse_duration_ns(cases[i].text, &got);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': got status %d", cases[i].text, r);
		if (cases[i].ok)
			cr_expect_eq(got, cases[i].want_ns, "'%s': got %llu ns", cases[i].text,
			             (unsigned long long)got);
	}
}

struct addr_case {
	const char *text;
	int ok;
	const char *ip;
	unsigned port;
};

Test(loadspec, loopback_only)
{
	static const struct addr_case cases[] = {
		{"127.0.0.1:25", 1, "127.0.0.1", 25}, {"127.1.2.3:2525", 1, "127.1.2.3", 2525},
		{"localhost:587", 1, "127.0.0.1", 587}, {":10025", 1, "127.0.0.1", 10025},
		{"10.0.0.1:25", 0, NULL, 0}, {"192.168.1.1:25", 0, NULL, 0}, {"0.0.0.0:25", 0, NULL, 0},
		{"128.0.0.1:25", 0, NULL, 0}, {"example.com:25", 0, NULL, 0},
		{"127.0.0.1", 0, NULL, 0}, {"127.0.0.1:0", 0, NULL, 0}, {"127.0.0.1:65536", 0, NULL, 0},
		{"127.0.0.1:x", 0, NULL, 0}, {"[::1]:25", 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_in sa;
		int r = bench_parse_loopback(cases[i].text, &sa);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': got status %d", cases[i].text, r);
		if (r == 0 && cases[i].ok) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
			cr_expect_str_eq(ip, cases[i].ip, "'%s'", cases[i].text);
			cr_expect_eq(ntohs(sa.sin_port), cases[i].port, "'%s'", cases[i].text);
		}
	}
}

Test(loadspec, uint_and_double)
{
	uint64_t v;
	cr_expect_eq(bench_parse_uint("20", 1, 100, &v), 0);
	cr_expect_eq(v, 20);
	cr_expect_eq(bench_parse_uint("0", 1, 100, &v), -1, "below range");
	cr_expect_eq(bench_parse_uint("101", 1, 100, &v), -1, "above range");
	cr_expect_eq(bench_parse_uint("5x", 1, 100, &v), -1, "trailing text");
	double d;
	cr_expect_eq(bench_parse_double("0.25", &d), 0);
	cr_expect_float_eq(d, 0.25, 1e-12);
	cr_expect_eq(bench_parse_double("1e3", &d), 0);
	cr_expect_float_eq(d, 1000.0, 1e-9);
	cr_expect_eq(bench_parse_double("-1", &d), -1);
	cr_expect_eq(bench_parse_double("nan", &d), -1);
	cr_expect_eq(bench_parse_double("1/2", &d), -1);
}

struct pattern_case {
	const char *text;
	int ok;
	uint64_t n;
	const char *want;         /* the pattern with n written in */
};

Test(loadspec, rcpt_patterns)
{
	static const struct pattern_case cases[] = {
		{"rmbl%04u@bench.test", 1, 7, "rmbl0007@bench.test"},
		{"rmbl%04u@bench.test", 1, 12345, "rmbl12345@bench.test"},
		{"u%u@x", 1, 0, "u0@x"}, {"%u", 1, 42, "42"}, {"a%09u", 1, 1, "a000000001"},
		{"%u@example.net", 1, 999999999, "999999999@example.net"},
		{"user@example.net", 0, 0, NULL}, {"u%d@x", 0, 0, NULL}, {"u%s@x", 0, 0, NULL},
		{"u%4u@x", 0, 0, NULL}, {"u%00u@x", 0, 0, NULL}, {"u%010u@x", 0, 0, NULL},
		{"u%u%u@x", 0, 0, NULL}, {"u%u@x%%", 0, 0, NULL}, {"u%", 0, 0, NULL},
		{"u%0", 0, 0, NULL}, {"u%04", 0, 0, NULL}, {"u %u@x", 0, 0, NULL},
		{"<u%u@x>", 0, 0, NULL}, {"u%u@x\r\nRSET", 0, 0, NULL}, {"", 0, 0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_rcpt_pattern p;
		int r = bench_rcpt_pattern_parse(cases[i].text, &p);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': got status %d", cases[i].text, r);
		if (r != 0 || !cases[i].ok)
			continue;
		char buf[BENCH_RCPT_PATTERN_BYTES_MAX + 16];
		int len = bench_rcpt_pattern_format(&p, cases[i].n, buf, sizeof buf);
		cr_expect_eq(len, (int)strlen(cases[i].want), "'%s': length %d", cases[i].text, len);
		cr_expect_str_eq(buf, cases[i].want, "'%s' with %llu: got '%s', want '%s'",
		                 cases[i].text, (unsigned long long)cases[i].n, buf, cases[i].want);
	}
}

Test(loadspec, rcpt_pattern_limits)
{
	struct bench_rcpt_pattern p;
	char text[BENCH_RCPT_PATTERN_BYTES_MAX + 1];
	memset(text, 'a', sizeof text);
	memcpy(text, "%u", 2);
	text[BENCH_RCPT_PATTERN_BYTES_MAX - 1] = '\0';
	cr_expect_eq(bench_rcpt_pattern_parse(text, &p), 0, "the longest pattern");
	text[BENCH_RCPT_PATTERN_BYTES_MAX - 1] = 'a';
	text[BENCH_RCPT_PATTERN_BYTES_MAX] = '\0';
	cr_expect_eq(bench_rcpt_pattern_parse(text, &p), -1, "one byte too long");
	cr_assert_eq(bench_rcpt_pattern_parse("rmbl%04u@bench.test", &p), 0);
	char small[8] = "keep";
	cr_expect_eq(bench_rcpt_pattern_format(&p, 1, small, sizeof small), -1);
	cr_expect_str_eq(small, "keep", "buffer untouched when too small");
	char exact[20];
	cr_expect_eq(bench_rcpt_pattern_format(&p, 1, exact, sizeof exact), 19);
	cr_expect_str_eq(exact, "rmbl0001@bench.test");
}
