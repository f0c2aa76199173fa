/*
 * bench/loadspec.c - option value parsers and the random number generator
 * of bench/loadspec.h.
 */
#include "bench/loadspec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Returns the multiplier of a byte-count suffix, or 0 when it is unknown. */
static uint64_t
bench_bytes_unit(const char *s)
{
	static const struct { const char *name; uint64_t mult; } units[] = {
		{"", 1}, {"b", 1},
		{"k", UINT64_C(1) << 10}, {"kb", UINT64_C(1) << 10}, {"kib", UINT64_C(1) << 10},
		{"m", UINT64_C(1) << 20}, {"mb", UINT64_C(1) << 20}, {"mib", UINT64_C(1) << 20},
		{"g", UINT64_C(1) << 30}, {"gb", UINT64_C(1) << 30}, {"gib", UINT64_C(1) << 30},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcasecmp(s, units[i].name) == 0)
			return units[i].mult;
	return 0;
}

/* "2048", "2k", "2KiB": bytes. */
int
bench_parse_bytes(const char *text, uint64_t *bytes)
{
	if (text == NULL || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	uint64_t mult = bench_bytes_unit(end);
	if (mult == 0 || n > UINT64_MAX / mult)
		return -1;
	*bytes = (uint64_t)n * mult;
	return 0;
}

/* "SIZE" or "MIN-MAX". */
int
bench_sizedist_parse(const char *text, struct bench_sizedist *dist)
{
	char buf[64];
	if (text == NULL || strlen(text) >= sizeof buf)
		return -1;
	strcpy(buf, text);
	char *dash = strchr(buf, '-');
	uint64_t lo, hi;
	if (dash != NULL) {
		*dash = '\0';
		if (bench_parse_bytes(buf, &lo) < 0 || bench_parse_bytes(dash + 1, &hi) < 0)
			return -1;
	} else {
		if (bench_parse_bytes(buf, &lo) < 0)
			return -1;
		hi = lo;
	}
	if (lo == 0 || lo > hi || hi > BENCH_SIZE_BYTES_MAX)
		return -1;
	dist->min_bytes = lo;
	dist->max_bytes = hi;
	return 0;
}

/* A size drawn uniformly from [min, max]. */
uint64_t
bench_sizedist_pick(const struct bench_sizedist *dist, uint64_t *rng)
{
	uint64_t span = dist->max_bytes - dist->min_bytes;
	if (span == 0)
		return dist->min_bytes;
	return dist->min_bytes + bench_rng_next(rng) % (span + 1);
}

/* A non-negative decimal number with nothing after it. */
int
bench_parse_double(const char *text, double *value)
{
	if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
		return -1;
	errno = 0;
	char *end;
	double v = strtod(text, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0.0) || v > 1e18)
		return -1;
	*value = v;
	return 0;
}

/* "10", "1.5s", "250ms", "2m", "1h": nanoseconds. */
int
bench_parse_duration_ns(const char *text, uint64_t *ns)
{
	static const struct { const char *name; double ns; } units[] = {
		{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"m", 60e9}, {"h", 3600e9},
	};
	if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
		return -1;
	errno = 0;
	char *end;
	double v = strtod(text, &end);
	if (errno != 0 || !(v >= 0.0))
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		double total = v * units[i].ns;
		if (total > 86400e9)
			return -1;
		*ns = (uint64_t)(total + 0.5);
		return 0;
	}
	return -1;
}

/* A whole number in [lo, hi]. */
int
bench_parse_uint(const char *text, uint64_t lo, uint64_t hi, uint64_t *value)
{
	if (text == NULL || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*value = n;
	return 0;
}

/* "127.x.y.z:PORT", "localhost:PORT" or ":PORT"; only 127.0.0.0/8. */
int
bench_parse_loopback(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = text ? strrchr(text, ':') : NULL;
	if (colon == NULL || (size_t)(colon - text) >= sizeof host)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	uint64_t port;
	if (bench_parse_uint(colon + 1, 1, 65535, &port) < 0)
		return -1;
	struct in_addr addr;
	if (host[0] == '\0' || strcmp(host, "localhost") == 0)
		addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &addr) != 1)
		return -1;
	if ((ntohl(addr.s_addr) >> 24) != 127)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr = addr;
	return 0;
}

/* One "%u" or "%0Wu" and nothing else that printf would read. */
int
bench_rcpt_pattern_parse(const char *text, struct bench_rcpt_pattern *p)
{
	if (text == NULL || strlen(text) >= sizeof p->text || strpbrk(text, "\r\n<> ") != NULL)
		return -1;
	const char *pct = strchr(text, '%');
	if (pct == NULL)
		return -1;
	size_t conv = 2;
	unsigned width = 0;
	if (pct[1] == '0' && pct[2] >= '1' && pct[2] <= '0' + BENCH_RCPT_WIDTH_MAX &&
	    pct[3] == 'u') {
		conv = 4;
		width = (unsigned)(pct[2] - '0');
	} else if (pct[1] != 'u') {
		return -1;
	}
	if (strchr(pct + conv, '%') != NULL)
		return -1;
	strcpy(p->text, text);
	p->at = (size_t)(pct - text);
	p->conv_bytes = conv;
	p->width = width;
	return 0;
}

/* The pattern with n written in. */
int
bench_rcpt_pattern_format(const struct bench_rcpt_pattern *p, uint64_t n, char *buf,
                          size_t size)
{
	const char *suffix = p->text + p->at + p->conv_bytes;
	int len = snprintf(NULL, 0, "%.*s%0*llu%s", (int)p->at, p->text, (int)p->width,
	                   (unsigned long long)n, suffix);
	if (len < 0 || (size_t)len >= size)
		return -1;
	snprintf(buf, size, "%.*s%0*llu%s", (int)p->at, p->text, (int)p->width,
	         (unsigned long long)n, suffix);
	return len;
}

/* xorshift64* (Vigna 2016). */
uint64_t
bench_rng_next(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* splitmix64 of value, never 0. */
uint64_t
bench_rng_seed(uint64_t value)
{
	uint64_t z = value + UINT64_C(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	z ^= z >> 31;
	return z ? z : 1;
}
