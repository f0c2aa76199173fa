/*
 * test/rules/test_queue.c - the queue's storage and expiry options as the
 * daemon receives them: queue compression, queue encryption with a key of
 * 32 octets as written (OpenSMTPD's form), from standard input without one
 * or with stdin or -, queue ttl, and each action's ttl (else the queue's);
 * a key of another length refused at its place, and no error ever showing
 * the key or its line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test/rules/helpers.h"

#define TAIL "action a maildir\nmatch for any action a\n"
#define KEY "0123456789abcdef0123456789abcdef"   /* 32 octets */

/* Load text, which must be accepted and run by the daemon as it is. */
static struct rules_config *
queue_load(const char *text)
{
	char msg[1024];
	struct rules_error err;
	struct rules_config *c = helper_load(text, msg, sizeof msg);

	cr_assert_not_null(c, "refused:\n%s%s", text, msg);
	cr_expect_eq(c->nunsupported, 0, "recorded as not supported:\n%s", text);
	cr_expect_eq(rules_runtime_check(c, &err), 0, "refused at start:\n%s", text);
	return c;
}

Test(queue_options, defaults_without_queue_lines)
{
	struct rules_config *c = queue_load(TAIL);

	cr_expect_eq(c->queue_compression, 0);
	cr_expect_eq(c->queue_encryption, 0);
	cr_expect_eq(c->queue_ttl_s, 4 * 86400, "OpenSMTPD's 4 days");
	cr_expect_eq(rules_action_find(c, "a")->ttl_s, 4 * 86400);
	rules_free(c);
}

Test(queue_options, compression)
{
	struct rules_config *c = queue_load("queue compression\n" TAIL);

	cr_expect_eq(c->queue_compression, 1);
	cr_expect_eq(c->queue_encryption, 0);
	rules_free(c);
}

Test(queue_options, encryption_key_is_32_octets_as_written)
{
	static const char *const texts[] = {
		"queue encryption \"" KEY "\"\n" TAIL,
		"queue encryption " KEY "\n" TAIL,            /* a bare word, digits first */
		"k = \"" KEY "\"\nqueue encryption $k\n" TAIL,  /* from a macro */
		"queue encryption stdin\nqueue encryption \"" KEY "\"\n" TAIL,   /* the last wins */
	};

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct rules_config *c = queue_load(texts[i]);
		cr_expect_eq(c->queue_encryption, 1, "case %zu", i);
		cr_expect_eq(c->queue_key_stdin, 0, "case %zu", i);
		cr_expect_eq(memcmp(c->queue_key, KEY, 32), 0, "case %zu: the key as written", i);
		rules_queue_key_wipe(c);
		static const uint8_t zero[RULES_QUEUE_KEY_BYTES];
		cr_expect_eq(memcmp(c->queue_key, zero, sizeof zero), 0, "case %zu: wiped", i);
		rules_free(c);
	}
}

Test(queue_options, encryption_key_from_standard_input)
{
	static const char *const texts[] = {
		"queue encryption\n" TAIL,
		"queue encryption stdin\n" TAIL,
		"queue encryption STDIN\n" TAIL,
		"queue encryption -\n" TAIL,
		"queue encryption \"stdin\"\n" TAIL,
		"queue encryption \"" KEY "\"\nqueue encryption\n" TAIL,   /* the last wins */
	};
	static const uint8_t zero[RULES_QUEUE_KEY_BYTES];

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct rules_config *c = queue_load(texts[i]);
		cr_expect_eq(c->queue_encryption, 1, "case %zu", i);
		cr_expect_eq(c->queue_key_stdin, 1, "case %zu", i);
		cr_expect_eq(memcmp(c->queue_key, zero, sizeof zero), 0, "case %zu: no key kept", i);
		rules_free(c);
	}
}

/* Refusals at the key's place, never naming the key nor showing its line. */
Test(queue_options, encryption_key_of_another_length_is_refused)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "queue encryption \"sixteen-octets!!\"\n",
		  "t.conf:1:18: queue encryption key must be 32 octets, not 16 (\"openssl rand -hex 16\" "
		  "prints one)" },
		{ "# two\n\nqueue  encryption " KEY "0\n",
		  "t.conf:3:19: queue encryption key must be 32 octets, not 33 (\"openssl rand -hex 16\" "
		  "prints one)" },
		/* 64 hex digits are 64 octets: OpenSMTPD does not decode them either */
		{ "queue encryption " KEY KEY "\n",
		  "t.conf:1:18: queue encryption key must be 32 octets, not 64 (\"openssl rand -hex 16\" "
		  "prints one)" },
		{ "queue encryption \"\"\n",
		  "t.conf:1:18: queue encryption key must be 32 octets, not 0 (\"openssl rand -hex 16\" "
		  "prints one)" },
		{ "queue encryption \"" KEY "\" again\n",
		  "t.conf:1:53: expected end of line, got \"again\"" },
		{ "queue encryption {\n",
		  "t.conf:1:18: expected a key, \"stdin\" or \"-\", got \"{\"" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rules_error err;
		char got[2048];
		snprintf(text, sizeof text, "%s" TAIL, cases[i].text);
		struct rules_config *c = rules_load_string("t.conf", text, &helper_params, &err);
		cr_expect_null(c, "case %zu loaded", i);
		rules_free(c);
		rules_error_format_long(&err, got, sizeof got);
		cr_expect_str_eq(got, cases[i].want, "case %zu: the long form shows no line", i);
		cr_expect_null(strstr(got, "0123456789abcdef"), "case %zu: the key shown", i);
		cr_expect_null(strstr(got, "sixteen"), "case %zu: the key shown", i);
	}
}

/* An error on another line still shows that line under the message. */
Test(queue_options, other_errors_keep_their_line)
{
	struct rules_error err;
	char got[2048];
	struct rules_config *c = rules_load_string(
		"t.conf", "queue encryption \"" KEY "\"\nqueue ttl 4w\n" TAIL, &helper_params, &err);

	cr_assert_null(c);
	rules_error_format_long(&err, got, sizeof got);
	cr_expect_str_eq(got, "t.conf:2:11: invalid ttl delay \"4w\": expected a number then s, "
	                      "m, h or d (30m, 4h, 2d)\n  queue ttl 4w\n            ^");
}

Test(queue_options, queue_ttl_and_action_ttls)
{
	struct rules_config *c = queue_load(
		"action r relay host smtp://127.0.0.1:2 ttl 2s\n"
		"action m maildir ttl 30m\n"
		"action plain relay host smtp://127.0.0.1:3\n"
		"queue ttl 1h\n"   /* after the actions: still theirs when they have none */
		TAIL);

	cr_expect_eq(c->queue_ttl_s, 3600);
	cr_expect_eq(rules_action_find(c, "r")->ttl_s, 2);
	cr_expect_eq(rules_action_find(c, "m")->ttl_s, 1800);
	cr_expect_eq(rules_action_find(c, "plain")->ttl_s, 3600);
	cr_expect_eq(rules_action_find(c, "a")->ttl_s, 3600);
	rules_free(c);
	c = queue_load("queue ttl 2d\nqueue ttl 90s\n" TAIL);
	cr_expect_eq(c->queue_ttl_s, 90, "the last queue ttl wins");
	rules_free(c);
}
