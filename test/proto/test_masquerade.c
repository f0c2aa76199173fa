/*
 * test/proto/test_masquerade.c - the From: rewrite of `senders ...
 * masquerade`: display names kept, folded fields, every piece size (a
 * message fed one octet at a time comes out the same), From: lines in the
 * body left alone, overlong fields passed as they are.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/masquerade.h"

static char out[65536];
static size_t out_len;

static int
collect(void *arg, const char *data, size_t len)
{
	(void)arg;
	cr_assert_leq(out_len + len, sizeof out);
	memcpy(out + out_len, data, len);
	out_len += len;
	return 0;
}

/* Feed in pieces of step octets; the result as a string. */
static const char *
rewrite(const char *in, size_t step)
{
	static struct proto_masq m;
	out_len = 0;
	proto_masq_begin(&m, "alice@example.org");
	size_t len = strlen(in);
	for (size_t off = 0; off < len; off += step)
		cr_assert_eq(proto_masq_feed(&m, in + off, len - off < step ? len - off : step,
		                             collect, NULL), 0);
	cr_assert_eq(proto_masq_end(&m, collect, NULL), 0);
	out[out_len] = '\0';
	return out;
}

Test(masquerade, from_fields_rewritten_whatever_the_pieces)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "From: Alice Example <alias@other.example>\r\nSubject: s\r\n\r\nbody\r\n",
		  "From: Alice Example <alice@example.org>\r\nSubject: s\r\n\r\nbody\r\n" },
		{ "Subject: s\r\nfrom: someone@else.example (Some One)\r\n\r\nFrom: not me\r\n",
		  "Subject: s\r\nFrom: alice@example.org\r\n\r\nFrom: not me\r\n" },
		{ "From: \"Doe, Jane\"\r\n <jane@x.example>\r\nTo: b@c\r\n\r\nx\r\n",
		  "From: \"Doe, Jane\"\r\n <alice@example.org>\r\nTo: b@c\r\n\r\nx\r\n" },
		{ "From: a@b\nTo: c@d\n\nbody From: x\n",
		  "From: alice@example.org\nTo: c@d\n\nbody From: x\n" },
		{ "To: c@d\r\n\r\n", "To: c@d\r\n\r\n" },
		{ "From: a@b", "From: a@b" },    /* no line end at all: left alone */
		{ "", "" },
	};
	static const size_t steps[] = { 1, 2, 3, 7, 64, 100000 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
			cr_expect_str_eq(rewrite(cases[i].in, steps[k]), cases[i].want,
			                 "case %zu in pieces of %zu", i, steps[k]);
}

Test(masquerade, overlong_fields_pass_as_they_are)
{
	static char in[3 * PROTO_MASQ_FIELD_MAX];
	size_t n = 0;
	n += (size_t)sprintf(in + n, "From: <x@y>\r\n");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(in + n, " (a comment that goes on and on %03d)\r\n", i);
	n += (size_t)sprintf(in + n, "To: t@u\r\n\r\nbody\r\n");
	cr_assert_lt(n, sizeof in);
	for (size_t step = 1; step <= 4096; step *= 8)
		cr_expect_str_eq(rewrite(in, step), in, "pieces of %zu", step);
	static char longline[2 * PROTO_MASQ_FIELD_MAX];
	memset(longline, 'a', sizeof longline - 64);
	memcpy(longline, "From: ", 6);
	strcpy(longline + sizeof longline - 64, "\r\nTo: t@u\r\n\r\nb\r\n");
	cr_expect_str_eq(rewrite(longline, 1000), longline);
}
