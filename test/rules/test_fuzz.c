/*
 * test/rules/test_fuzz.c - bounded random inputs (fixed seed) for
 * rules_load_string(): random bytes, and random sequences of real smtpd.conf
 * words. Each must give a config or an error with a place; never a crash.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test/rules/helpers.h"

#define FUZZ_ROUNDS 3000
#define FUZZ_BYTES_MAX 200

/* xorshift32: the same sequence on every run. */
static uint32_t
fuzz_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Load text; the result must be a config or an error with a place. */
static void
fuzz_one(const char *text, unsigned round)
{
	struct rules_error err;
	struct rules_config *c = rules_load_string("f.conf", text, &helper_params, &err);

	if (c != NULL) {
		rules_free(c);
		return;
	}
	cr_assert(err.line > 0 && err.column > 0, "round %u: error without a place: %s", round,
	          err.message);
	cr_assert(err.message[0] != '\0', "round %u: empty message", round);
	cr_assert_str_eq(err.file, "f.conf", "round %u", round);
}

Test(fuzz, random_bytes)
{
	char text[FUZZ_BYTES_MAX + 1];
	uint32_t seed = 0x5eed1234;
	unsigned round, i, n;

	for (round = 0; round < FUZZ_ROUNDS; round++) {
		n = fuzz_next(&seed) % FUZZ_BYTES_MAX;
		for (i = 0; i < n; i++) {
			text[i] = (char)(fuzz_next(&seed) & 0xff);
			if (text[i] == '\0')
				text[i] = '\n';
		}
		text[n] = '\0';
		fuzz_one(text, round);
	}
}

Test(fuzz, random_words)
{
	static const char *const words[] = {
		"listen", "on", "127.0.0.1", "::1", "localhost", "any", "port", "25", "70000", "tag",
		"T", "hostname", "h", "socket", "table", "t", "{", "}", "<", ">", "!", "=", ",",
		"a", "\"q\"", "file:/nonexistent", "action", "maildir", "relay", "host",
		"smtp://h:26", "match", "from", "for", "src", "domain", "rcpt-to", "mail-from",
		"local", "reject", "queue", "path", "smtp", "max-message-size", "10M", "include",
		"$m", "m", "\n", "\n", "\n", "#", "\\\n", "'", "pki", "mbox", "10.0.0.0/8",
		"filter", "proc-exec", "proc", "phase", "connect", "commit", "chain", "junk",
		"disconnect", "tls", "tls-require", "smtps", "verify", "auth", "auth-optional", "ca",
		"cert", "key", "helo", "regex", "rdns", "fcrdns", "bounce", "warn-interval", "4h",
		"srs", "mta", "mda", "limit", "wrapper", "ttl", "alias", "virtual", "lmtp", "backup",
		"mx", "egress", "lo0", "all", "\"%{rcpt.user}\"", "\"%{x\"", "db:/nonexistent",
		"senders", "masquerade", "no-dsn", "<localhost>", "scheduler", "admd", "1.5M",
	};
	char text[2048];
	uint32_t seed = 0xc0ffee;
	unsigned round, i, n;
	size_t len;

	for (round = 0; round < FUZZ_ROUNDS; round++) {
		n = fuzz_next(&seed) % 40;
		len = 0;
		text[0] = '\0';
		for (i = 0; i < n; i++) {
			const char *w = words[fuzz_next(&seed) % (sizeof words / sizeof words[0])];

			len += (size_t)snprintf(text + len, sizeof text - len, "%s ", w);
		}
		fuzz_one(text, round);
	}
}
