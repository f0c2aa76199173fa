/*
 * test/queue/test_codec.c - the stored envelope format: round trips, encode
 * refusals, where the count of delay warnings lives, a table of malformed
 * records, version 1 records still read, and a bounded seeded mutation run
 * that decode never crashes and accepts only canonical encodings.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "queue/queue.h"
#include "test/queue/helpers.h"

/* Fill a string field with len copies of c. */
static void
fill(char *field, size_t len, char c)
{
	memset(field, c, len);
	field[len] = '\0';
}

/* The envelopes of the round-trip table. */
static struct queue_envelope
codec_case(int i)
{
	struct queue_envelope e = tq_env(0x1234567800000001ULL, 1700000300, "bob@example.net");
	switch (i) {
	case 0:   /* typical */
		break;
	case 1:   /* null reverse path <>, as for a bounce */
		memset(e.sender, 0, sizeof(e.sender));
		break;
	case 2:   /* every string at its maximum length */
		fill(e.sender, QUEUE_ADDR_BYTES_MAX - 1, 's');
		fill(e.rcpt, QUEUE_ADDR_BYTES_MAX - 1, 'r');
		fill(e.dest, QUEUE_ADDR_BYTES_MAX - 1, 'd');
		fill(e.action, QUEUE_NAME_BYTES_MAX - 1, 'a');
		fill(e.helo, QUEUE_HOST_BYTES_MAX - 1, 'h');
		fill(e.client, QUEUE_HOST_BYTES_MAX - 1, 'c');
		fill(e.last_error, QUEUE_ERROR_BYTES_MAX - 1, 'e');
		fill(e.dsn_envid, QUEUE_ENVID_BYTES_MAX - 1, 'v');
		fill(e.dsn_orcpt, QUEUE_ORCPT_BYTES_MAX - 1, 'o');
		break;
	case 3:   /* numbers at their limits */
		e.id = UINT64_MAX;
		e.created = 0;
		e.expire = UINT64_MAX;
		e.next_attempt = UINT64_MAX;
		e.retries = UINT32_MAX;
		e.body_size = UINT64_MAX;
		break;
	case 4:   /* all strings empty, 8-bit text in last_error */
		memset(e.sender, 0, sizeof(e.sender));
		memset(e.rcpt, 0, sizeof(e.rcpt));
		memset(e.dest, 0, sizeof(e.dest));
		memset(e.action, 0, sizeof(e.action));
		memset(e.helo, 0, sizeof(e.helo));
		memset(e.client, 0, sizeof(e.client));
		strcpy(e.last_error, "421 4.7.0 Tr\xc3\xa8s occup\xc3\xa9\r\n");
		break;
	case 5:   /* smallest valid id */
		e.id = 1ULL << 32;
		e.retries = 3;
		strcpy(e.last_error, "450 4.2.0 <bob@example.net>: Recipient address rejected");
		break;
	case 6:   /* every MAIL/RCPT parameter at its largest value */
		e.body = QUEUE_BODY_BINARYMIME;
		e.smtputf8 = 1;
		e.dsn_ret = QUEUE_DSN_RET_HDRS;
		e.dsn_notify = QUEUE_DSN_NOTIFY_SUCCESS | QUEUE_DSN_NOTIFY_FAILURE |
		               QUEUE_DSN_NOTIFY_DELAY;
		strcpy(e.dsn_envid, "QQ314159");
		strcpy(e.dsn_orcpt, "rfc822;b\xc3\xb6" "b@example.net");
		strcpy(e.rcpt, "b\xc3\xb6" "b@example.net");
		break;
	case 7:   /* NOTIFY=NEVER, RET=FULL, 8BITMIME */
		e.body = QUEUE_BODY_8BITMIME;
		e.dsn_ret = QUEUE_DSN_RET_FULL;
		e.dsn_notify = QUEUE_DSN_NOTIFY_NEVER;
		break;
	case 8:   /* one delay warning sent, beside every other flag */
		e.body = QUEUE_BODY_8BITMIME;
		e.smtputf8 = 1;
		e.dsn_ret = QUEUE_DSN_RET_HDRS;
		e.dsn_warned = 1;
		break;
	case 9:   /* every warning sent */
		e.dsn_notify = QUEUE_DSN_NOTIFY_DELAY;
		e.dsn_warned = QUEUE_DSN_WARNED_MAX;
		break;
	case 10:  /* a command from an alias, run as bob */
		e.mda_kind = QUEUE_MDA_COMMAND;
		snprintf(e.mda_user, sizeof e.mda_user, "bob");
		snprintf(e.mda_exec, sizeof e.mda_exec, "/usr/bin/procmail -a \"x y\"");
		break;
	case 11:  /* the longest file path */
		e.mda_kind = QUEUE_MDA_FILE;
		memset(e.mda_exec, '/', sizeof e.mda_exec - 1);
		break;
	}
	return e;
}

#define CODEC_CASES 12

Test(codec, round_trip_table)
{
	for (int i = 0; i < CODEC_CASES; i++) {
		struct queue_envelope in = codec_case(i), out;
		uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX], again[QUEUE_ENVELOPE_BYTES_MAX];
		size_t len = queue_envelope_encode(&in, buf, sizeof(buf));
		size_t want = 1 + 5 * 8 + 4 + 11 * 2 + 2 + 1 + strlen(in.sender) + strlen(in.rcpt) +
		              strlen(in.dest) + strlen(in.action) + strlen(in.helo) +
		              strlen(in.client) + strlen(in.last_error) + strlen(in.dsn_envid) +
		              strlen(in.dsn_orcpt) + strlen(in.mda_user) + strlen(in.mda_exec);
		cr_assert_eq(len, want, "case %d: encoded %zu bytes, want %zu", i, len, want);
		cr_assert_eq(buf[0], QUEUE_ENVELOPE_VERSION, "case %d: version byte", i);
		int err = queue_envelope_decode(&out, buf, len);
		cr_assert_eq(err, 0, "case %d: decode got %d, want 0", i, err);
		cr_assert_eq(out.id, in.id, "case %d: id", i);
		cr_assert_str_eq(out.sender, in.sender, "case %d: sender", i);
		cr_assert_str_eq(out.rcpt, in.rcpt, "case %d: rcpt", i);
		cr_assert_str_eq(out.last_error, in.last_error, "case %d: last_error", i);
		cr_assert_eq(out.retries, in.retries, "case %d: retries", i);
		cr_assert_eq(out.body_size, in.body_size, "case %d: body_size", i);
		cr_assert_eq(out.dsn_notify, in.dsn_notify, "case %d: notify", i);
		cr_assert_eq(out.dsn_warned, in.dsn_warned, "case %d: warned", i);
		cr_assert_str_eq(out.dsn_orcpt, in.dsn_orcpt, "case %d: orcpt", i);
		cr_assert_eq(memcmp(&out, &in, sizeof(in)), 0, "case %d: struct differs", i);
		cr_assert_eq(queue_envelope_encode(&out, again, sizeof(again)), len);
		cr_assert_eq(memcmp(again, buf, len), 0, "case %d: re-encoding differs", i);
	}
}

Test(codec, encode_refuses)
{
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX];
	struct queue_envelope e = codec_case(0);
	size_t len = queue_envelope_encode(&e, buf, sizeof(buf));
	cr_assert_gt(len, 0);
	cr_assert_eq(queue_envelope_encode(&e, buf, len - 1), 0, "short buffer accepted");
	cr_assert_eq(queue_envelope_encode(&e, buf, len), len, "exact buffer refused");

	struct queue_envelope unterminated = e;
	memset(unterminated.rcpt, 'x', sizeof(unterminated.rcpt));
	cr_assert_eq(queue_envelope_encode(&unterminated, buf, sizeof(buf)), 0,
	             "rcpt without NUL encoded");
	struct queue_envelope no_msgid = e;
	no_msgid.id = 0xdeadbeef;
	cr_assert_eq(queue_envelope_encode(&no_msgid, buf, sizeof(buf)), 0,
	             "id with message id 0 encoded");
	struct queue_envelope bad = e;
	bad.body = 3;
	cr_assert_eq(queue_envelope_encode(&bad, buf, sizeof(buf)), 0, "BODY value 3 encoded");
	bad = e;
	bad.dsn_ret = 3;
	cr_assert_eq(queue_envelope_encode(&bad, buf, sizeof(buf)), 0, "RET value 3 encoded");
	bad = e;
	bad.dsn_notify = 0x10;
	cr_assert_eq(queue_envelope_encode(&bad, buf, sizeof(buf)), 0, "NOTIFY bit 0x10 encoded");
	bad = e;
	bad.dsn_warned = QUEUE_DSN_WARNED_MAX + 1;
	cr_assert_eq(queue_envelope_encode(&bad, buf, sizeof(buf)), 0, "dsn_warned 5 encoded");
}

/* Where the warned count lives: bits 5-7 of the flags octet. */
Test(codec, warned_count_in_the_flags_octet)
{
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX];
	struct queue_envelope e = codec_case(8);
	size_t len = queue_envelope_encode(&e, buf, sizeof(buf));
	size_t flags_at = len - 5 - 2 - 2 * 2 - strlen(e.dsn_envid) - strlen(e.dsn_orcpt);
	cr_assert_eq(buf[flags_at], 0x20 | 0x10 | QUEUE_DSN_RET_HDRS << 2 | QUEUE_BODY_8BITMIME,
	             "flags octet 0x%02x", buf[flags_at]);
}

/* postmaster's copy of a report: bit 4 of the NOTIFY octet, kept apart
 * from the NOTIFY bits both ways; a paused envelope: bit 5. */
Test(codec, postmaster_copy_in_the_notify_octet)
{
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX];
	struct queue_envelope e = codec_case(8), out;
	e.postmaster_copy = 1;
	size_t len = queue_envelope_encode(&e, buf, sizeof(buf));
	size_t notify_at = len - 5 - 2 - 2 * 2 - strlen(e.dsn_envid) - strlen(e.dsn_orcpt) + 1;
	cr_assert_eq(buf[notify_at], 0x10 | e.dsn_notify, "notify octet 0x%02x", buf[notify_at]);
	cr_assert_eq(queue_envelope_decode(&out, buf, len), 0);
	cr_expect_eq(out.postmaster_copy, 1);
	cr_expect_eq(out.dsn_notify, e.dsn_notify);
	buf[notify_at] |= 0x40;   /* bits 6-7 mean nothing: refused */
	cr_expect_eq(queue_envelope_decode(&out, buf, len), -EINVAL);
	e.postmaster_copy = 2;
	cr_expect_eq(queue_envelope_encode(&e, buf, sizeof(buf)), 0);
	e.postmaster_copy = 0;
	e.paused = 1;
	len = queue_envelope_encode(&e, buf, sizeof(buf));
	cr_assert_eq(buf[notify_at], 0x20 | e.dsn_notify, "notify octet 0x%02x", buf[notify_at]);
	cr_assert_eq(queue_envelope_decode(&out, buf, len), 0);
	cr_expect_eq(out.paused, 1);
	cr_expect_eq(out.postmaster_copy, 0);
	e.paused = 2;
	cr_expect_eq(queue_envelope_encode(&e, buf, sizeof(buf)), 0);
}

/* A version 1 record: the encoding of e (no mda fields) cut after
 * last_error. */
static size_t
codec_v1(const struct queue_envelope *e, uint8_t *buf, size_t cap)
{
	size_t len = queue_envelope_encode(e, buf, cap);
	cr_assert_gt(len, 0);
	buf[0] = 1;
	return len - 5 - 2 - 2 * 2 - strlen(e->dsn_envid) - strlen(e->dsn_orcpt);
}

Test(codec, version_2_records_still_read)
{
	struct queue_envelope e = codec_case(6), out;
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX], again[QUEUE_ENVELOPE_BYTES_MAX];
	size_t len = queue_envelope_encode(&e, buf, sizeof(buf)) - 5;  /* kind, two "" */
	buf[0] = 2;
	cr_assert_eq(queue_envelope_decode(&out, buf, len), 0, "version 2 record refused");
	cr_assert_eq(memcmp(&out, &e, sizeof e), 0, "version 2 record read differently");
	size_t n = queue_envelope_encode(&out, again, sizeof(again));
	cr_assert_eq(n, len + 5, "rewritten as version 3 with no mda fields");
	cr_assert_eq(again[0], QUEUE_ENVELOPE_VERSION);
	cr_assert_eq(memcmp(again + 1, buf + 1, len - 1), 0);
	cr_assert_eq(queue_envelope_decode(&out, buf, len + 1), -EINVAL,
	             "version 2 record with a trailing byte");
	struct queue_envelope with_mda = codec_case(10);
	len = queue_envelope_encode(&with_mda, buf, sizeof(buf));
	buf[0] = 2;
	cr_assert_eq(queue_envelope_decode(&out, buf, len), -EINVAL,
	             "version 3 fields behind a version 2 byte");
	with_mda.mda_kind = QUEUE_MDA_COMMAND + 1;
	cr_expect_eq(queue_envelope_encode(&with_mda, buf, sizeof(buf)), 0, "unknown mda kind");
}

Test(codec, version_1_records_still_read)
{
	struct queue_envelope e = codec_case(5), out;
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX], again[QUEUE_ENVELOPE_BYTES_MAX];
	size_t len = codec_v1(&e, buf, sizeof(buf));
	cr_assert_eq(queue_envelope_decode(&out, buf, len), 0, "version 1 record refused");
	cr_assert_eq(memcmp(&out, &e, sizeof e), 0, "version 1 record read differently");
	size_t n = queue_envelope_encode(&out, again, sizeof(again));
	cr_assert_eq(n, len + 6 + 5, "rewritten as version 3 with empty parameters");
	cr_assert_eq(again[0], QUEUE_ENVELOPE_VERSION);
	cr_assert_eq(memcmp(again + 1, buf + 1, len - 1), 0);
	cr_assert_eq(memcmp(again + len, "\0\0\0\0\0\0\0\0\0\0\0", 11), 0);
	cr_assert_eq(queue_envelope_decode(&out, buf, len + 1), -EINVAL,
	             "version 1 record with a trailing byte");
	struct queue_envelope with_dsn = codec_case(6);
	uint8_t v2[QUEUE_ENVELOPE_BYTES_MAX];
	size_t v2len = queue_envelope_encode(&with_dsn, v2, sizeof(v2));
	v2[0] = 1;
	cr_assert_eq(queue_envelope_decode(&out, v2, v2len), -EINVAL,
	             "version 2 parameters behind a version 1 byte");
}

struct malformed {
	const char *name;
	size_t off;        /* first byte to overwrite */
	const char *bytes; /* overwrite with these */
	size_t n;
	int extra;         /* bytes appended (+) or cut (-) */
};

/* Offsets in the encoding of codec_case(0): strings start at 45; sender is
 * "sender@example.org" (18 bytes), rcpt's length is at 65; the flags octet
 * (bits 0-1 BODY, 2-3 RET, 4 SMTPUTF8, 5-7 warnings sent) follows
 * last_error (empty) after dest, action, helo and client; dsn_notify
 * follows it. */
#define CODEC_FLAGS_AT (67 + 15 + 2 + 15 + 2 + 5 + 2 + 18 + 2 + 9 + 2)
static const struct malformed malformed_table[] = {
	{ "version 0", 0, "\x00", 1, 0 },
	{ "version 4", 0, "\x04", 1, 0 },
	{ "message id 0", 1, "\x00\x00\x00\x00", 4, 0 },
	{ "sender longer than its field", 45, "\x01\x00", 2, 0 },
	{ "sender length past the end", 45, "\xff\xff", 2, 0 },
	{ "sender length one short", 45, "\x00\x11", 2, 0 },
	{ "sender length one long", 45, "\x00\x13", 2, 0 },
	{ "NUL inside sender", 50, "\x00", 1, 0 },
	{ "NUL at the end of rcpt", 67 + 14, "\x00", 1, 0 },
	{ "rcpt longer than its field", 65, "\x01\x00", 2, 0 },
	{ "warned 5", CODEC_FLAGS_AT, "\xa0", 1, 0 },
	{ "warned 7", CODEC_FLAGS_AT, "\xe0", 1, 0 },
	{ "warned 6 with SMTPUTF8", CODEC_FLAGS_AT, "\xd0", 1, 0 },
	{ "BODY value 3", CODEC_FLAGS_AT, "\x03", 1, 0 },
	{ "RET value 3", CODEC_FLAGS_AT, "\x0c", 1, 0 },
	{ "NOTIFY octet bit 0x40", CODEC_FLAGS_AT + 1, "\x40", 1, 0 },
	{ "envid longer than its field", CODEC_FLAGS_AT + 2, "\x00\x65", 2, 0 },
	{ "trailing byte", 0, "", 0, 1 },
	{ "last byte cut", 0, "", 0, -1 },
};

Test(codec, malformed_table)
{
	uint8_t good[QUEUE_ENVELOPE_BYTES_MAX + 1];
	struct queue_envelope e = codec_case(0), out;
	size_t len = queue_envelope_encode(&e, good, sizeof(good));
	cr_assert_eq(memcmp(good + 45, "\x00\x12sender@example.org\x00\x0f", 22), 0,
	             "layout assumed by the table changed");
	for (size_t i = 0; i < sizeof(malformed_table) / sizeof(malformed_table[0]); i++) {
		const struct malformed *m = &malformed_table[i];
		uint8_t bad[sizeof(good)];
		memcpy(bad, good, sizeof(good));
		bad[len] = 'x';
		memcpy(bad + m->off, m->bytes, m->n);
		int err = queue_envelope_decode(&out, bad, len + m->extra);
		cr_assert_eq(err, -EINVAL, "%s: got %d, want -EINVAL", m->name, err);
		cr_assert_eq(out.id, 0, "%s: rejected decode left data behind", m->name);
	}
	cr_assert_eq(queue_envelope_decode(&out, good, len), 0, "the unmodified record");
	good[len - 5] = QUEUE_MDA_COMMAND + 1;   /* the mda kind before two "" */
	cr_assert_eq(queue_envelope_decode(&out, good, len), -EINVAL, "mda kind 3");
	good[len - 5] = QUEUE_MDA_ACTION;
	cr_assert_eq(good[CODEC_FLAGS_AT - 2] | good[CODEC_FLAGS_AT - 1], 0,
	             "layout assumed by the table changed (flags offset)");
	cr_assert_eq(len, CODEC_FLAGS_AT + 2 + 4 + 5, "layout assumed by the table changed (length)");
}

Test(codec, every_truncation_rejected)
{
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX];
	struct queue_envelope e = codec_case(2), out;
	size_t len = queue_envelope_encode(&e, buf, sizeof(buf));
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(queue_envelope_decode(&out, buf, cut), -EINVAL,
		             "prefix of %zu/%zu bytes accepted", cut, len);
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random valid envelope: random lengths, random non-NUL bytes. */
static void
random_env(struct queue_envelope *e, uint64_t *s)
{
	char *fields[] = { e->sender, e->rcpt, e->dest, e->action, e->helo,
	                   e->client, e->last_error, e->dsn_envid, e->dsn_orcpt };
	size_t sizes[] = { sizeof(e->sender), sizeof(e->rcpt), sizeof(e->dest),
	                   sizeof(e->action), sizeof(e->helo), sizeof(e->client),
	                   sizeof(e->last_error), sizeof(e->dsn_envid), sizeof(e->dsn_orcpt) };
	memset(e, 0, sizeof(*e));
	e->id = rnd(s) | 1ULL << 40;
	e->created = rnd(s);
	e->next_attempt = rnd(s) % 3 ? rnd(s) : 0;
	e->retries = (uint32_t)rnd(s);
	e->body = (uint8_t)(rnd(s) % 3);
	e->dsn_ret = (uint8_t)(rnd(s) % 3);
	e->smtputf8 = (uint8_t)(rnd(s) % 2);
	e->dsn_notify = (uint8_t)(rnd(s) % 16);
	e->dsn_warned = (uint8_t)(rnd(s) % (QUEUE_DSN_WARNED_MAX + 1));
	for (int f = 0; f < 9; f++) {
		size_t len = rnd(s) % 4 ? rnd(s) % 24 : rnd(s) % sizes[f];
		for (size_t i = 0; i < len; i++)
			fields[f][i] = (char)(1 + rnd(s) % 255);
	}
}

/* Decode must not crash, must leave strings terminated, and may accept only
 * what it would encode back to the same bytes. */
static void
check_decode(const uint8_t *buf, size_t len, long iter)
{
	struct queue_envelope out;
	uint8_t again[QUEUE_ENVELOPE_BYTES_MAX];
	if (queue_envelope_decode(&out, buf, len) != 0)
		return;
	cr_assert_lt(strnlen(out.sender, sizeof(out.sender)), sizeof(out.sender));
	cr_assert_lt(strnlen(out.last_error, sizeof(out.last_error)), sizeof(out.last_error));
	cr_assert_lt(strnlen(out.dsn_orcpt, sizeof(out.dsn_orcpt)), sizeof(out.dsn_orcpt));
	size_t n = queue_envelope_encode(&out, again, sizeof(again));
	if (buf[0] == 1) {   /* version 1: the same with empty parameters after it */
		cr_assert(n == len + 6 && memcmp(again + 1, buf + 1, len - 1) == 0,
		          "iteration %ld: accepted a version 1 record that re-encodes differently",
		          iter);
		return;
	}
	cr_assert(n == len && memcmp(again, buf, len) == 0,
	          "iteration %ld: accepted a record that re-encodes differently", iter);
}

Test(codec, mutations_never_crash_or_accept_noncanonical)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	uint8_t buf[QUEUE_ENVELOPE_BYTES_MAX + 16];
	for (long iter = 0; iter < 20000; iter++) {
		struct queue_envelope e;
		random_env(&e, &s);
		size_t len = queue_envelope_encode(&e, buf, QUEUE_ENVELOPE_BYTES_MAX);
		cr_assert_gt(len, 0, "iteration %ld: valid envelope not encoded", iter);
		check_decode(buf, len, iter);  /* unmodified: must decode */
		cr_assert_eq(queue_envelope_decode(&e, buf, len), 0);
		int flips = 1 + (int)(rnd(&s) % 4);
		for (int i = 0; i < flips; i++) {
			size_t at = rnd(&s) % len;
			if (rnd(&s) % 2)
				buf[at] ^= (uint8_t)(1u << (rnd(&s) % 8));
			else
				buf[at] = (uint8_t)rnd(&s);
		}
		size_t mlen = len;
		if (rnd(&s) % 4 == 0)
			mlen = rnd(&s) % (len + 16);
		check_decode(buf, mlen, iter);
	}
	for (long iter = 0; iter < 5000; iter++) {  /* pure noise */
		size_t len = rnd(&s) % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd(&s);
		buf[0] = rnd(&s) % 2 ? QUEUE_ENVELOPE_VERSION : rnd(&s) % 2 ? 1 : buf[0];
		check_decode(buf, len, iter);
	}
}
