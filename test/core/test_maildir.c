/*
 * test/core/test_maildir.c - what a maildir file looks like: Return-Path and
 * Delivered-To on top, CRLF turned into LF, everything else untouched.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/maildir.h"

struct render_case {
	const char *sender, *rcpt, *body, *want;
};

static const struct render_case render_cases[] = {
	{ "a@example.org", "b@localhost", "Subject: x\r\n\r\nhello\r\n",
	  "Return-Path: <a@example.org>\nDelivered-To: b@localhost\nSubject: x\n\nhello\n" },
	{ "", "b@localhost", "body\r\n",
	  "Return-Path: <>\nDelivered-To: b@localhost\nbody\n" },
	/* a bare CR or LF is content, kept as it came */
	{ "a@x", "b@y", "one\rtwo\nthree\r\n",
	  "Return-Path: <a@x>\nDelivered-To: b@y\none\rtwo\nthree\n" },
	/* a CR at the very end has no LF after it: kept */
	{ "a@x", "b@y", "end\r", "Return-Path: <a@x>\nDelivered-To: b@y\nend\r" },
	{ "a@x", "b@y", "", "Return-Path: <a@x>\nDelivered-To: b@y\n" },
};

Test(maildir, render_table)
{
	for (size_t i = 0; i < sizeof render_cases / sizeof render_cases[0]; i++) {
		const struct render_case *c = &render_cases[i];
		size_t len = 0;
		char *out = maildir_render(c->sender, c->rcpt, c->body, strlen(c->body), &len);
		cr_assert_not_null(out);
		cr_expect(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
		          "case %zu: got \"%.*s\", want \"%s\"", i, (int)len, out, c->want);
		free(out);
	}
}
