/*
 * test/ctl/test_ctl_proto.c - the control protocol's frames: what goes in
 * comes out, a frame split anywhere waits for the rest, and every kind of
 * malformed frame is refused with the error the daemon logs before it drops
 * the client.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_proto.h"

/* Encode one frame into a fresh buffer. */
static struct ctl_buf
frame(uint8_t type, uint64_t id, uint32_t arg, const char *const *strs, unsigned n,
      const void *blob, size_t blob_len)
{
	struct ctl_buf b = { 0 };
	cr_assert_eq(ctl_encode(&b, type, id, arg, strs, n, blob, blob_len), 0);
	return b;
}

Test(ctl_proto, round_trip_keeps_every_field)
{
	static struct ctl_msg m;
	const char *strs[] = { "evpid", "0123456789abcdef", "sender", "", "error", "550 x|y" };
	struct ctl_buf b = frame(CTL_RECORD, 0x1122334455667788ull, 7, strs, 6, NULL, 0);
	size_t used = 0, need = 0;
	cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
	cr_expect_eq(used, b.len);
	cr_expect_eq(m.type, CTL_RECORD);
	cr_expect_eq(m.id, 0x1122334455667788ull);
	cr_expect_eq(m.arg, 7);
	cr_assert_eq(m.nstr, 6);
	for (unsigned i = 0; i < 6; i++)
		cr_expect(m.str[i].len == strlen(strs[i]) && memcmp(m.str[i].p, strs[i], m.str[i].len) == 0,
		          "string %u: got \"%.*s\", want \"%s\"", i, (int)m.str[i].len, m.str[i].p, strs[i]);
	cr_expect_eq(m.blob_len, 0);
	const char *why = NULL;
	cr_expect_eq(ctl_check(&m, &why), 0);
	ctl_buf_free(&b);
}

Test(ctl_proto, blob_round_trip_and_copy)
{
	static struct ctl_msg m;
	char body[CTL_BLOB_BYTES_MAX];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)(i * 7);
	struct ctl_buf b = frame(CTL_DATA, 0, 0, NULL, 0, body, sizeof body);
	size_t used, need;
	cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
	cr_assert_eq(m.blob_len, sizeof body);
	cr_expect_eq(memcmp(m.blob, body, sizeof body), 0);
	ctl_buf_free(&b);

	const char *s[] = { "bob@example.org" };
	b = frame(CTL_MAIL, 0, 0, s, 1, NULL, 0);
	cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
	char small[8], big[64];
	cr_expect_eq(ctl_str_copy(&m, 0, small, sizeof small), -1);   /* does not fit */
	cr_expect_eq(ctl_str_copy(&m, 1, big, sizeof big), -1);       /* missing */
	cr_assert_eq(ctl_str_copy(&m, 0, big, sizeof big), 0);
	cr_expect_str_eq(big, "bob@example.org");
	ctl_buf_free(&b);
}

Test(ctl_proto, split_anywhere_waits_for_the_rest)
{
	static struct ctl_msg m;
	const char *s[] = { "rcpt@example.org" };
	struct ctl_buf b = frame(CTL_RCPT, 0, 0, s, 1, NULL, 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		size_t used = 0, need = 0;
		int r = ctl_decode(b.p, cut, &m, &used, &need);
		cr_expect_eq(r, 0, "cut at %zu: got %d, want 0 (need more)", cut, r);
		cr_expect_eq(need, cut < 4 ? (size_t)CTL_HEADER_BYTES : b.len,
		             "cut at %zu: need %zu", cut, need);
	}
	ctl_buf_free(&b);
}

Test(ctl_proto, two_frames_in_one_read)
{
	static struct ctl_msg m;
	struct ctl_buf b = { 0 };
	const char *s[] = { "a@b" };
	cr_assert_eq(ctl_encode(&b, CTL_MAIL, 0, 0, s, 1, NULL, 0), 0);
	cr_assert_eq(ctl_encode(&b, CTL_DATA_END, 0, 0, NULL, 0, NULL, 0), 0);
	size_t used, need;
	cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
	cr_expect_eq(m.type, CTL_MAIL);
	cr_assert_eq(ctl_decode(b.p + used, b.len - used, &m, &used, &need), 1);
	cr_expect_eq(m.type, CTL_DATA_END);
	ctl_buf_free(&b);
}

Test(ctl_proto, encode_refuses_what_cannot_be_decoded)
{
	struct ctl_buf b = { 0 };
	static char big[CTL_STR_BYTES_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	const char *s[] = { big };
	cr_expect_eq(ctl_encode(&b, CTL_MAIL, 0, 0, s, 1, NULL, 0), -CTL_ETOOBIG);
	cr_expect_eq(ctl_encode(&b, CTL_DATA, 0, 0, NULL, 0, big, CTL_BLOB_BYTES_MAX + 1),
	             -CTL_ETOOBIG);
	cr_expect_eq(ctl_encode(&b, CTL_RECORD, 0, 0, s, CTL_STRINGS_MAX + 1, NULL, 0),
	             -CTL_ETOOBIG);
	cr_expect_eq(b.len, 0, "nothing appended");
	ctl_buf_free(&b);
}

/* ---- malformed frames: a valid frame, one mutation, the error ---- */

enum mutation {
	MUT_VERSION,          /* byte 4 */
	MUT_RESERVED,         /* byte 7 */
	MUT_LEN_HUGE,         /* frame_len over the limit */
	MUT_LEN_TINY,         /* frame_len shorter than a header */
	MUT_LEN_PLUS,         /* frame_len one more, and a trailing byte */
	MUT_NSTR_MORE,        /* claims one string more than there is */
	MUT_NSTR_HUGE,        /* more strings than allowed */
	MUT_STR_LEN_LONG,     /* a string running past the frame */
	MUT_STR_LEN_HUGE,     /* a string over CTL_STR_BYTES_MAX */
	MUT_STR_NUL,          /* a NUL inside a string */
	MUT_BLOB_LEN_HUGE,    /* blob over CTL_BLOB_BYTES_MAX */
	MUT_BLOB_LEN_SHORT,   /* blob length less than what follows */
};

struct malformed_case {
	enum mutation mut;
	int want;
};

static const struct malformed_case malformed_cases[] = {
	{ MUT_VERSION, -CTL_EVERSION },
	{ MUT_RESERVED, -CTL_EMALFORMED },
	{ MUT_LEN_HUGE, -CTL_ETOOBIG },
	{ MUT_LEN_TINY, -CTL_EMALFORMED },
	{ MUT_LEN_PLUS, -CTL_EMALFORMED },
	{ MUT_NSTR_MORE, -CTL_EMALFORMED },
	{ MUT_NSTR_HUGE, -CTL_ETOOBIG },
	{ MUT_STR_LEN_LONG, -CTL_EMALFORMED },
	{ MUT_STR_LEN_HUGE, -CTL_ETOOBIG },
	{ MUT_STR_NUL, -CTL_EMALFORMED },
	{ MUT_BLOB_LEN_HUGE, -CTL_ETOOBIG },
	{ MUT_BLOB_LEN_SHORT, -CTL_EMALFORMED },
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* Apply a mutation to a MAIL frame carrying "abc". */
static size_t
mutate(uint8_t *p, size_t len, enum mutation mut)
{
	size_t str_at = CTL_HEADER_BYTES, blob_at = CTL_HEADER_BYTES + 4 + 3;
	switch (mut) {
	case MUT_VERSION: p[4] = CTL_PROTO_VERSION + 1; break;
	case MUT_RESERVED: p[7] = 1; break;
	case MUT_LEN_HUGE: put32(p, CTL_FRAME_BYTES_MAX + 1); break;
	case MUT_LEN_TINY: put32(p, 10); break;
	case MUT_LEN_PLUS: put32(p, (uint32_t)len - 4 + 1); p[len++] = 'x'; break;
	case MUT_NSTR_MORE: p[21] = 2; break;
	case MUT_NSTR_HUGE: p[20] = (CTL_STRINGS_MAX + 1) >> 8; p[21] = (CTL_STRINGS_MAX + 1) & 0xff; break;
	case MUT_STR_LEN_LONG: put32(p + str_at, 200); break;
	case MUT_STR_LEN_HUGE: put32(p + str_at, CTL_STR_BYTES_MAX + 1); break;
	case MUT_STR_NUL: p[str_at + 5] = '\0'; break;
	case MUT_BLOB_LEN_HUGE: put32(p + blob_at, CTL_BLOB_BYTES_MAX + 1); break;
	case MUT_BLOB_LEN_SHORT: put32(p, (uint32_t)len - 4 + 2); p[len++] = 'x'; p[len++] = 'y';
		break;
	}
	return len;
}

Test(ctl_proto, malformed_table)
{
	static struct ctl_msg m;
	for (size_t i = 0; i < sizeof malformed_cases / sizeof malformed_cases[0]; i++) {
		const struct malformed_case *c = &malformed_cases[i];
		const char *s[] = { "abc" };
		struct ctl_buf b = frame(CTL_MAIL, 0, 0, s, 1, NULL, 0);
		uint8_t buf[256];
		memcpy(buf, b.p, b.len);
		size_t len = mutate(buf, b.len, c->mut);
		size_t used = 0, need = 0;
		int r = ctl_decode(buf, len, &m, &used, &need);
		cr_expect_eq(r, c->want, "mutation %d: got %d, want %d", c->mut, r, c->want);
		ctl_buf_free(&b);
	}
}

Test(ctl_proto, garbage_is_refused_not_waited_for)
{
	static struct ctl_msg m;
	/* "GET / HTTP/1.1" read as a length is far over the limit */
	const char *http = "GET / HTTP/1.1\r\n";
	size_t used, need;
	cr_expect_eq(ctl_decode((const uint8_t *)http, strlen(http), &m, &used, &need),
	             -CTL_ETOOBIG);
	/* a plausible length with another version: refused before the rest comes */
	uint8_t v2[5] = { 0, 0, 0, 30, 2 };
	cr_expect_eq(ctl_decode(v2, sizeof v2, &m, &used, &need), -CTL_EVERSION);
}

/* ---- per-type checks ---- */

struct check_case {
	const char *name;
	uint8_t type;
	uint64_t id;
	uint32_t arg;
	unsigned nstr;
	size_t blob_len;
	int ok;
};

static const struct check_case check_cases[] = {
	{ "show queue", CTL_SHOW_QUEUE, 0, 0, 0, 0, 1 },
	{ "show envelope", CTL_SHOW_ENVELOPE, 0x1234567890abcdefull, 0, 0, 0, 1 },
	{ "show envelope without id", CTL_SHOW_ENVELOPE, 0, 0, 0, 0, 0 },
	{ "schedule all", CTL_SCHEDULE, 0, CTL_SEL_ALL, 0, 0, 1 },
	{ "schedule msgid", CTL_SCHEDULE, 0x12345678, CTL_SEL_MSGID, 0, 0, 1 },
	{ "remove evpid", CTL_REMOVE, 0x1234567890abcdefull, CTL_SEL_EVPID, 0, 0, 1 },
	{ "schedule all with an id", CTL_SCHEDULE, 5, CTL_SEL_ALL, 0, 0, 0 },
	{ "remove evpid without id", CTL_REMOVE, 0, CTL_SEL_EVPID, 0, 0, 0 },
	{ "remove msgid over 32 bits", CTL_REMOVE, 1ull << 32, CTL_SEL_MSGID, 0, 0, 0 },
	{ "schedule unknown selector", CTL_SCHEDULE, 5, 3, 0, 0, 0 },
	{ "pause mda", CTL_PAUSE, 0, CTL_AGENT_MDA, 0, 0, 1 },
	{ "resume smtp", CTL_RESUME, 0, CTL_AGENT_SMTP, 0, 0, 1 },
	{ "pause nothing", CTL_PAUSE, 0, 0, 0, 0, 0 },
	{ "pause agent 4", CTL_PAUSE, 0, 4, 0, 0, 0 },
	{ "log verbose", CTL_LOG_VERBOSE, 0, 1, 0, 0, 1 },
	{ "log level 2", CTL_LOG_VERBOSE, 0, 2, 0, 0, 0 },
	{ "mail", CTL_MAIL, 0, 0, 1, 0, 1 },
	{ "mail without sender", CTL_MAIL, 0, 0, 0, 0, 0 },
	{ "rcpt with two", CTL_RCPT, 0, 0, 2, 0, 0 },
	{ "data", CTL_DATA, 0, 0, 0, 100, 1 },
	{ "data with a string", CTL_DATA, 0, 0, 1, 100, 0 },
	{ "show queue with a blob", CTL_SHOW_QUEUE, 0, 0, 0, 10, 0 },
	{ "type 0", 0, 0, 0, 0, 0, 0 },
	{ "type past the requests", CTL_REQUEST_LAST + 1, 0, 0, 0, 0, 0 },
	{ "type 250", 250, 0, 0, 0, 0, 0 },
	{ "record with pairs", CTL_RECORD, 0, 0, 4, 0, 1 },
	{ "record with an odd count", CTL_RECORD, 0, 0, 3, 0, 0 },
	{ "ok with text", CTL_OK, 3, 0, 1, 0, 1 },
	{ "fail with a blob", CTL_FAIL, 0, 550, 1, 5, 0 },
	{ "discover evpid", CTL_DISCOVER, 0x1234567890abcdefull, CTL_SEL_EVPID, 0, 0, 1 },
	{ "discover msgid", CTL_DISCOVER, 0x12345678, CTL_SEL_MSGID, 0, 0, 1 },
	{ "discover all", CTL_DISCOVER, 0, CTL_SEL_ALL, 0, 0, 0 },
	{ "discover msgid over 32 bits", CTL_DISCOVER, 1ull << 40, CTL_SEL_MSGID, 0, 0, 0 },
	{ "trace smtp", CTL_TRACE, 0, CTL_TRACE_SMTP, 0, 0, 1 },
	{ "untrace all", CTL_UNTRACE, 0, CTL_TRACE_ALL, 0, 0, 1 },
	{ "trace nothing", CTL_TRACE, 0, 0, 0, 0, 0 },
	{ "trace an unknown bit", CTL_TRACE, 0, CTL_TRACE_ALL + 1, 0, 0, 0 },
	{ "profile queue", CTL_PROFILE, 0, CTL_PROFILE_QUEUE, 0, 0, 1 },
	{ "unprofile an unknown bit", CTL_UNPROFILE, 0, 4, 0, 0, 0 },
	{ "pause mta from for", CTL_MTA_BLOCK, 0, 0, 2, 0, 1 },
	{ "pause mta from without domain", CTL_MTA_BLOCK, 0, 0, 1, 0, 0 },
	{ "resume mta from for", CTL_MTA_UNBLOCK, 0, 0, 2, 0, 1 },
	{ "show mta paused", CTL_SHOW_MTA_BLOCK, 0, 0, 0, 0, 1 },
	{ "show mta paused with a string", CTL_SHOW_MTA_BLOCK, 0, 0, 1, 0, 0 },
	{ "show hoststats", CTL_SHOW_HOSTSTATS, 0, 0, 0, 0, 1 },
};

Test(ctl_proto, check_table)
{
	static struct ctl_msg m;
	static const char blob[128];
	const char *strs[] = { "k", "v", "k2", "v2" };
	for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
		const struct check_case *c = &check_cases[i];
		struct ctl_buf b = frame(c->type, c->id, c->arg, strs, c->nstr, blob, c->blob_len);
		size_t used, need;
		cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1, "%s: decode", c->name);
		const char *why = "";
		int r = ctl_check(&m, &why);
		cr_expect_eq(r == 0, c->ok, "%s: got %d (%s), want %s", c->name, r, r ? why : "ok",
		             c->ok ? "ok" : "refused");
		ctl_buf_free(&b);
	}
}

Test(ctl_proto, buffer_consume_keeps_the_rest)
{
	struct ctl_buf b = { 0 };
	cr_assert_eq(ctl_encode(&b, CTL_END, 0, 0, NULL, 0, NULL, 0), 0);
	size_t one = b.len;
	cr_assert_eq(ctl_encode(&b, CTL_OK, 9, 0, NULL, 0, NULL, 0), 0);
	ctl_buf_consume(&b, one);
	cr_expect_eq(b.len, one);
	cr_expect_eq(b.p[5], CTL_OK);
	ctl_buf_consume(&b, 1000);
	cr_expect_eq(b.len, 0);
	ctl_buf_free(&b);
}

/* The DSN fields of MAIL and RCPT frames: words both ways, and a frame
 * with one string (as before DSN) or three. */
Test(ctl_proto, dsn_fields)
{
	unsigned bits;
	char text[40];
	cr_expect_eq(ctl_dsn_ret_parse(""), CTL_DSN_RET_NONE);
	cr_expect_eq(ctl_dsn_ret_parse("full"), CTL_DSN_RET_FULL);
	cr_expect_eq(ctl_dsn_ret_parse("HDRS"), CTL_DSN_RET_HDRS);
	cr_expect_eq(ctl_dsn_ret_parse("fulls"), -1);
	cr_expect_eq(ctl_dsn_notify_parse("", &bits), 0);
	cr_expect_eq(bits, 0);
	cr_expect_eq(ctl_dsn_notify_parse("Delay,SUCCESS", &bits), 0);
	cr_expect_eq(bits, CTL_DSN_NOTIFY_DELAY | CTL_DSN_NOTIFY_SUCCESS);
	ctl_dsn_notify_text(bits, text, sizeof text);
	cr_expect_str_eq(text, "SUCCESS,DELAY");
	cr_expect_eq(ctl_dsn_notify_parse("never", &bits), 0);
	cr_expect_eq(bits, CTL_DSN_NOTIFY_NEVER);
	static const char *const bad[] = { "never,delay", "success,", ",success", "a", "delay,delay" };
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(ctl_dsn_notify_parse(bad[i], &bits), -1, "%s", bad[i]);
	cr_expect(ctl_dsn_text_ok("rfc822;a@b", 501));
	cr_expect(!ctl_dsn_text_ok("a\x7f", 501));
	cr_expect(!ctl_dsn_text_ok("abcd", 4));

	struct ctl_buf b = { 0 };
	struct ctl_msg m;
	size_t used, need;
	const char *why;
	const char *strs[3] = { "a@b", "FULL", "env1" };
	for (unsigned n = 1; n <= 3; n++) {
		b.len = 0;
		cr_assert_eq(ctl_encode(&b, CTL_MAIL, 0, 0, strs, n, NULL, 0), 0);
		cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
		cr_expect_eq(ctl_check(&m, &why) == 0, n != 2, "MAIL with %u strings", n);
	}
	free(b.p);
}

/* trace and profile words, as OpenSMTPD's smtpctl takes them. */
Test(ctl_proto, trace_and_profile_words)
{
	static const struct { const char *word; uint32_t bits; } trace[] = {
		{ "imsg", CTL_TRACE_IMSG }, { "io", CTL_TRACE_IO }, { "smtp", CTL_TRACE_SMTP },
		{ "filters", CTL_TRACE_FILTERS }, { "transfer", CTL_TRACE_TRANSFER },
		{ "mta", CTL_TRACE_TRANSFER }, { "bounce", CTL_TRACE_BOUNCE },
		{ "scheduler", CTL_TRACE_SCHEDULER }, { "expand", CTL_TRACE_EXPAND },
		{ "lookup", CTL_TRACE_LOOKUP }, { "stat", CTL_TRACE_STAT },
		{ "rules", CTL_TRACE_RULES }, { "mproc", CTL_TRACE_MPROC }, { "all", CTL_TRACE_ALL },
		{ "SMTP", 0 }, { "", 0 }, { "smtpx", 0 }, { "queue", 0 },
	};
	for (size_t i = 0; i < sizeof trace / sizeof trace[0]; i++)
		cr_expect_eq(ctl_trace_parse(trace[i].word), trace[i].bits, "trace %s: got %#x, want %#x",
		             trace[i].word, ctl_trace_parse(trace[i].word), trace[i].bits);
	cr_expect_eq(ctl_profile_parse("imsg"), CTL_PROFILE_IMSG);
	cr_expect_eq(ctl_profile_parse("queue"), CTL_PROFILE_QUEUE);
	cr_expect_eq(ctl_profile_parse("smtp"), 0);
	cr_expect_str_eq(ctl_trace_name(CTL_TRACE_TRANSFER), "transfer");
	cr_expect_str_eq(ctl_trace_name(CTL_TRACE_SMTP), "smtp");
	cr_expect_str_eq(ctl_trace_name(0x3), "?");
}

/* pause mta from ... for ...: both strings arrive as sent. */
Test(ctl_proto, mta_block_request_round_trip)
{
	static struct ctl_msg m;
	const char *strs[] = { "2001:db8::25", "example.org" };
	struct ctl_buf b = frame(CTL_MTA_BLOCK, 0, 0, strs, 2, NULL, 0);
	size_t used, need;
	const char *why = "";
	char addr[64], domain[64];
	cr_assert_eq(ctl_decode(b.p, b.len, &m, &used, &need), 1);
	cr_assert_eq(ctl_check(&m, &why), 0, "%s", why);
	cr_assert_eq(ctl_str_copy(&m, 0, addr, sizeof addr), 0);
	cr_assert_eq(ctl_str_copy(&m, 1, domain, sizeof domain), 0);
	cr_expect_str_eq(addr, "2001:db8::25");
	cr_expect_str_eq(domain, "example.org");
	cr_expect_str_eq(ctl_type_name(m.type), "pause-mta-from");
	ctl_buf_free(&b);
}
