/*
 * test/proto/test_milter_proto.c - tests of proto/milter_proto.c and
 * proto/milter_edit.c: the packets smtpd writes (octet for octet, bounds),
 * the replies a milter writes back, well-formed and malformed, and the
 * end-of-message modifications applied to a message.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/milter_edit.h"
#include "proto/milter_proto.h"

/* A packet: length, command, data. */
static size_t
pkt(char *out, char cmd, const char *data, size_t n)
{
	uint32_t len = (uint32_t)n + 1;

	out[0] = (char)(len >> 24);
	out[1] = (char)(len >> 16);
	out[2] = (char)(len >> 8);
	out[3] = (char)len;
	out[4] = cmd;
	memcpy(out + 5, data, n);
	return n + 5;
}

Test(milter_proto, optneg_packet)
{
	char out[32];
	int n = proto_milter_optneg(out, sizeof out, 0x3f, 0x1ff7ff);

	cr_assert_eq(n, 17);
	cr_assert_eq(memcmp(out, "\0\0\0\x0dO\0\0\0\x06\0\0\0\x3f\0\x1f\xf7\xff", 17), 0);
	cr_assert_eq(proto_milter_optneg(out, 16, 0, 0), -1, "a short buffer is -1");
}

Test(milter_proto, connect_and_macros)
{
	char out[128];
	int n = proto_milter_connect(out, sizeof out, "[192.0.2.1]", '4', 25, "192.0.2.1");

	cr_assert_eq(n, 5 + 12 + 1 + 2 + 10);
	cr_assert_eq(memcmp(out + 4, "C[192.0.2.1]\0" "4\0\x19" "192.0.2.1\0", n - 4), 0);
	const char *m[] = { "j", "mx.example", "{client_addr}", "192.0.2.1", "{auth_authen}", NULL };
	n = proto_milter_macros(out, sizeof out, 'C', m, 3);
	cr_assert_eq(memcmp(out + 4, "DCj\0mx.example\0{client_addr}\0" "192.0.2.1\0", n - 4), 0,
	             "a NULL value leaves the pair out");
	n = proto_milter_connect(out, sizeof out, "localhost", 'U', 0, NULL);
	cr_assert_eq(memcmp(out + 4, "Clocalhost\0U", n - 4), 0);
	cr_assert_eq(n, 16);
}

Test(milter_proto, strings_and_body)
{
	char out[70000];
	const char *mail[] = { "<a@example.org>", "SIZE=100", "BODY=8BITMIME" };
	int n = proto_milter_strings(out, sizeof out, PROTO_MILTER_MAIL, mail, 3);

	cr_assert_eq(memcmp(out, "\0\0\0\x28M<a@example.org>\0SIZE=100\0BODY=8BITMIME\0", n), 0);
	n = proto_milter_strings(out, sizeof out, PROTO_MILTER_EOH, NULL, 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(out, "\0\0\0\x01N", 5), 0);
	cr_assert_eq(proto_milter_strings(out, 10, PROTO_MILTER_MAIL, mail, 1), -1);
	static char big[PROTO_MILTER_BODY_CHUNK_BYTES + 1];
	cr_assert_eq(proto_milter_body(out, sizeof out, big, sizeof big - 1), 65540);
	cr_assert_eq(proto_milter_body(out, sizeof out, big, sizeof big), -1,
	             "a body chunk is at most 65535 octets");
}

/* A parse rendered as one string. */
static void
render(const char *in, size_t len, char *out, size_t cap)
{
	struct proto_milter_msg r;
	long n = proto_milter_parse(in, len, &r);

	if (n <= 0) {
		snprintf(out, cap, "%ld %s", n, r.error ? r.error : "");
		return;
	}
	snprintf(out, cap, "%ld %c idx=%u code=%u name=%s value=%s text=%.*s data=%zu", n, r.cmd,
	         r.index, r.code, r.name ? r.name : "-", r.value ? r.value : "-",
	         r.text ? (int)r.text_len : 1, r.text ? r.text : "-", r.data_len);
}

struct reply_case {
	char cmd;
	const char *data;
	size_t n;
	const char *want;
};

Test(milter_proto, replies)
{
	static const struct reply_case cases[] = {
		{ 'c', "", 0, "5 c idx=0 code=0 name=- value=- text=- data=0" },
		{ 'a', "", 0, "5 a idx=0 code=0 name=- value=- text=- data=0" },
		{ 'y', "550 5.7.1 No thanks\0", 20,
		  "25 y idx=0 code=550 name=- value=- text=5.7.1 No thanks data=0" },
		{ 'y', "421 4.7.0\0", 10, "15 y idx=0 code=421 name=- value=- text=4.7.0 data=0" },
		{ 'y', "250 ok\0", 7, "-1 REPLYCODE without a 4xx or 5xx code on one line" },
		{ 'y', "550 a\r\nb\0", 9, "-1 REPLYCODE without a 4xx or 5xx code on one line" },
		{ 'y', "550-5.7.1 first\r\n550 5.7.1 second\0", 34,
		  "39 y idx=0 code=550 name=- value=- text=5.7.1 first data=0" },
		{ 'y', "550 5.7.1 bell\a\0", 16, "-1 REPLYCODE without a 4xx or 5xx code on one line" },
		{ 'y', "550 no nul", 10, "-1 REPLYCODE without a 4xx or 5xx code on one line" },
		{ 'h', "X-Test\0yes\0", 11, "16 h idx=0 code=0 name=X-Test value=yes text=- data=0" },
		{ 'h', "X-Test\0yes", 10, "-1 header without a name and a value" },
		{ 'h', "X Test\0yes\0", 11, "-1 header name with a space, ':' or a control" },
		{ 'i', "\0\0\0\0DKIM-Signature\0v=1\0", 23,
		  "28 i idx=0 code=0 name=DKIM-Signature value=v=1 text=- data=0" },
		{ 'm', "\0\0\0\x02Subject\0\0", 13, "18 m idx=2 code=0 name=Subject value= text=- data=0" },
		{ 'm', "\0\0", 2, "-1 header index cut short" },
		{ '+', "<x@example.org>\0", 16, "21 + idx=0 code=0 name=<x@example.org> value=- text=- data=0" },
		{ '-', "<x@example.org>", 15, "-1 string without its NUL" },
		{ 'q', "virus\0", 6, "11 q idx=0 code=0 name=virus value=- text=- data=0" },
		{ 'b', "new body\r\n", 10, "15 b idx=0 code=0 name=- value=- text=- data=10" },
		{ 'Z', "", 0, "-1 unknown reply" },
	};
	char in[256], got[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = pkt(in, cases[i].cmd, cases[i].data, cases[i].n);
		render(in, n, got, sizeof got);
		cr_expect_str_eq(got, cases[i].want, "reply %zu: got %s, want %s", i, got, cases[i].want);
	}
}

Test(milter_proto, partial_and_bounds)
{
	char in[64], got[128];
	size_t n = pkt(in, 'c', "", 0);

	for (size_t k = 0; k < n; k++) {
		render(in, k, got, sizeof got);
		cr_assert_str_eq(got, "0 ", "%zu octets are not a packet yet", k);
	}
	memcpy(in, "\0\0\0\0c", 5);
	render(in, 5, got, sizeof got);
	cr_assert_str_eq(got, "-1 a packet of length 0");
	memcpy(in, "\x7f\xff\xff\xff" "b", 5);
	render(in, 5, got, sizeof got);
	cr_assert_str_eq(got, "-1 a packet over the size limit");
}

Test(milter_proto, optneg_check)
{
	char in[64];
	struct proto_milter_msg r;
	const char *why = NULL;
	size_t n = pkt(in, 'O', "\0\0\0\x06\0\0\0\x01\0\0\0\x10", 12);

	cr_assert_eq(proto_milter_parse(in, n, &r), 17);
	cr_assert_eq(r.version, 6);
	cr_assert_eq(proto_milter_optneg_check(&r, PROTO_MILTER_ACTIONS_OFFERED,
	                                       PROTO_MILTER_PROTOCOL_OFFERED, &why), 0);
	r.actions = PROTO_MILTER_F_SETSYMLIST;
	cr_assert_eq(proto_milter_optneg_check(&r, PROTO_MILTER_ACTIONS_OFFERED,
	                                       PROTO_MILTER_PROTOCOL_OFFERED, &why), -1);
	cr_assert_str_eq(why, "actions ringmta did not offer");
	r.actions = 0;
	r.version = 1;
	cr_assert_eq(proto_milter_optneg_check(&r, 0, 0, &why), -1);
	n = pkt(in, 'O', "\0\0\0\x06", 4);
	cr_assert_eq(proto_milter_parse(in, n, &r), -1, "an OPTNEG cut short");
}

Test(milter_proto, steps_skipped_and_unanswered)
{
	uint32_t p = PROTO_MILTER_P_NOHELO | PROTO_MILTER_P_NR_RCPT | PROTO_MILTER_P_NOBODY;

	cr_assert(proto_milter_sends(p, PROTO_MILTER_STEP_CONNECT));
	cr_assert_not(proto_milter_sends(p, PROTO_MILTER_STEP_HELO));
	cr_assert_not(proto_milter_sends(p, PROTO_MILTER_STEP_BODY));
	cr_assert(proto_milter_sends(p, PROTO_MILTER_STEP_EOM));
	cr_assert_not(proto_milter_replies(p, PROTO_MILTER_STEP_RCPT));
	cr_assert(proto_milter_replies(p, PROTO_MILTER_STEP_MAIL));
	cr_assert(proto_milter_is_final('y'));
	cr_assert_not(proto_milter_is_final('h'));
	cr_assert_not(proto_milter_is_final('p'));
}

static const char MSG[] = "Received: by x\r\n\tfor <a@b>\r\nSubject: hi\r\n"
                          "X-A: 1\r\nx-a: 2\r\n\r\nbody\r\n";

/* MSG with edit e applied, NUL-ended in out. */
static long
edit(const struct proto_milter_msg *e, char *out, size_t cap)
{
	long n = proto_milter_edit(MSG, sizeof MSG - 1, e, 0, out, cap - 1);

	if (n >= 0)
		out[n] = '\0';
	return n;
}

Test(milter_edit, fields_as_milters_see_them)
{
	struct proto_milter_field f;
	size_t hdr, body, pos = 0;
	char v[64];

	proto_milter_split(MSG, sizeof MSG - 1, &hdr, &body);
	cr_assert_str_eq(MSG + body, "body\r\n");
	cr_assert(proto_milter_field_next(MSG, hdr, &pos, &f));
	cr_assert_eq(proto_milter_field_value(&f, 0, v, sizeof v), 15);
	cr_assert_str_eq(v, "by x\n\tfor <a@b>", "a folded value keeps its LF");
	cr_assert(proto_milter_field_next(MSG, hdr, &pos, &f));
	proto_milter_field_value(&f, 1, v, sizeof v);
	cr_assert_str_eq(v, " hi", "with HDR_LEADSPC the space stays");
	cr_assert(proto_milter_field_next(MSG, hdr, &pos, &f));
	cr_assert(proto_milter_field_next(MSG, hdr, &pos, &f));
	cr_assert_not(proto_milter_field_next(MSG, hdr, &pos, &f));
	cr_assert_eq(proto_milter_field_value(&f, 0, v, 1), -1, "a value that does not fit");
}

Test(milter_edit, header_edits)
{
	char out[512];
	struct proto_milter_msg e = { .cmd = 'h', .name = "X-Milter", .value = "yes" };

	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "x-a: 2\r\nX-Milter: yes\r\n\r\nbody") != NULL, "add: %s", out);
	e = (struct proto_milter_msg){ .cmd = 'i', .index = 0, .name = "DKIM-Signature",
	                               .value = "v=1;\n\tb=abc" };
	edit(&e, out, sizeof out);
	cr_assert(strncmp(out, "DKIM-Signature: v=1;\r\n\tb=abc\r\nReceived:", 39) == 0,
	          "insert at 0, LF as CRLF: %s", out);
	e.index = 1;
	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "<a@b>\r\nDKIM-Signature:") != NULL, "insert at 1: %s", out);
	e = (struct proto_milter_msg){ .cmd = 'm', .index = 2, .name = "X-A", .value = "two" };
	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "X-A: 1\r\nX-A: two\r\n\r\n") != NULL, "change the 2nd: %s", out);
	e.value = "";
	e.index = 1;
	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "hi\r\nx-a: 2\r\n\r\n") != NULL, "delete the 1st: %s", out);
	e = (struct proto_milter_msg){ .cmd = 'm', .index = 1, .name = "X-New", .value = "v" };
	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "X-New: v\r\n\r\nbody") != NULL, "change of a missing one adds it");
	e.value = "";
	cr_assert_eq(edit(&e, out, sizeof out), (long)sizeof MSG - 1, "deleting a missing one");
	e = (struct proto_milter_msg){ .cmd = 'h', .name = "X-Milter", .value = "yes" };
	cr_assert_eq(edit(&e, out, 20), -1, "a short buffer is -1");
	cr_assert_leq(sizeof MSG - 1 + 14, proto_milter_edit_bound(sizeof MSG - 1, &e));
}

Test(milter_edit, body_replaced)
{
	char out[512];
	struct proto_milter_msg e = { .cmd = 'b', .data = "new\nbody\r\n", .data_len = 10 };

	edit(&e, out, sizeof out);
	cr_assert(strstr(out, "x-a: 2\r\n\r\nnew\r\nbody\r\n") != NULL, "%s", out);
	cr_assert_eq(strlen(out), sizeof MSG - 1 - 6 + 11);
	long n = proto_milter_edit("Subject: x\r\n", 12, &e, 0, out, sizeof out);
	cr_assert_eq(n, 12 + 2 + 11, "a message without a body gets the empty line");
}
