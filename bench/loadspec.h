/*
 * bench/loadspec.h - parsing the load generator's and the sink's option
 * values, without I/O: byte counts ("2048", "2k", "1MiB"), message size
 * distributions ("2k" fixed, "1k-100k" uniform), durations ("10", "10s",
 * "500ms", "2m"), loopback addresses ("127.0.0.1:2525"), recipient patterns
 * ("user%04u@example.net": one number per recipient), and a seeded random
 * number generator (xorshift64*) for picking sizes and faults.
 *
 * Every parser returns 0, or -1 with the output untouched when the text is
 * not valid. Units are binary for bytes (k = 1024).
 */
#ifndef BENCH_LOADSPEC_H
#define BENCH_LOADSPEC_H

#include <netinet/in.h>
#include <stdint.h>

#define BENCH_SIZE_BYTES_MAX (UINT64_C(256) << 20)   /* one message, 256 MiB */

#define BENCH_RCPT_PATTERN_BYTES_MAX 200     /* as an address option, NUL included */
#define BENCH_RCPT_WIDTH_MAX 9                /* "%09u" */

/* A recipient address with one number in it: text holds the pattern as
 * given; the conversion ("%u", or "%0Wu" zero-padded to W digits) starts
 * at offset `at` and is conv_bytes long. */
struct bench_rcpt_pattern {
	char text[BENCH_RCPT_PATTERN_BYTES_MAX];
	size_t at;
	size_t conv_bytes;
	unsigned width;           /* 0: no padding */
};

struct bench_sizedist {
	uint64_t min_bytes;
	uint64_t max_bytes;       /* == min_bytes: fixed size */
};

/* "2048", "2k", "2K", "2kB", "2KiB", "3m", "1g": bytes. */
int bench_parse_bytes(const char *text, uint64_t *bytes);
/* "SIZE" or "MIN-MAX" (uniform), each a byte count in 1..BENCH_SIZE_BYTES_MAX. */
int bench_sizedist_parse(const char *text, struct bench_sizedist *dist);
/* A size drawn from dist. */
uint64_t bench_sizedist_pick(const struct bench_sizedist *dist, uint64_t *rng);
/* "10" (seconds), "1.5s", "250ms", "2m", "1h": nanoseconds, at most a day. */
int bench_parse_duration_ns(const char *text, uint64_t *ns);
/* A non-negative decimal number with nothing after it. */
int bench_parse_double(const char *text, double *value);
/* A whole number in [lo, hi]. */
int bench_parse_uint(const char *text, uint64_t lo, uint64_t hi, uint64_t *value);
/* "127.x.y.z:PORT" or "localhost:PORT" or ":PORT" (127.0.0.1). Any address
 * outside 127.0.0.0/8 is refused: the harness never leaves the machine. */
int bench_parse_loopback(const char *text, struct sockaddr_in *sa);
/* "PREFIX%uSUFFIX" or "PREFIX%0WuSUFFIX" (W 1..9): exactly one conversion,
 * no other '%', none of CR, LF, '<', '>', space; shorter than
 * BENCH_RCPT_PATTERN_BYTES_MAX. */
int bench_rcpt_pattern_parse(const char *text, struct bench_rcpt_pattern *p);
/* Write the pattern with n in place of its conversion into buf; returns
 * the length, or -1 (buf untouched) when it does not fit in size. */
int bench_rcpt_pattern_format(const struct bench_rcpt_pattern *p, uint64_t n, char *buf,
                              size_t size);
/* Next number of a xorshift64* sequence; *state must not be 0. */
uint64_t bench_rng_next(uint64_t *state);
/* A seed that is never 0, from any 64-bit value. */
uint64_t bench_rng_seed(uint64_t value);

#endif
