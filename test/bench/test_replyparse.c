/*
 * test/bench/test_replyparse.c - tests for bench/replyparse.c: real server
 * replies (Postfix, OpenSMTPD, smtp-sink EHLO), every split point of a
 * pipelined batch, and malformed replies beside valid ones.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bench/replyparse.h"

struct want {
	int code;
	unsigned lines;
	unsigned ext;
	const char *text;
};

/* Feed input in pieces of chunk bytes (0: all at once); collect replies.
 * Returns the number of replies, or -1 on a malformed reply. */
static int
run(const char *input, size_t chunk, struct bench_reply *out, int max)
{
	struct bench_reply_parser p;
	bench_reply_init(&p);
	size_t len = strlen(input), off = 0;
	int n = 0;
	while (off < len) {
		size_t piece = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
		size_t done = 0;
		while (done < piece) {
			size_t used;
			int r = bench_reply_feed(&p, input + off + done, piece - done, &used, &out[n]);
			done += used;
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			if (++n == max)
				return n;
		}
		off += piece;
	}
	return n;
}

static const char postfix_ehlo[] =
	"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
	"250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
	"250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

Test(reply, postfix_ehlo_keywords)
{
	struct bench_reply r[4];
	cr_assert_eq(run(postfix_ehlo, 0, r, 4), 1);
	cr_expect_eq(r[0].code, 250);
	cr_expect_eq(r[0].lines, 11);
	cr_expect_eq(r[0].ext, BENCH_EXT_PIPELINING | BENCH_EXT_SIZE | BENCH_EXT_STARTTLS |
	             BENCH_EXT_ENHANCEDSTATUSCODES | BENCH_EXT_8BITMIME | BENCH_EXT_SMTPUTF8 |
	             BENCH_EXT_CHUNKING, "got ext %#x", r[0].ext);
	cr_expect_str_eq(r[0].text, "CHUNKING");
}

Test(reply, first_line_is_not_a_keyword)
{
	/* a host named PIPELINING must not turn pipelining on */
	struct bench_reply r[2];
	cr_assert_eq(run("250-PIPELINING\r\n250 SIZE\r\n", 0, r, 2), 1);
	cr_expect_eq(r[0].ext, BENCH_EXT_SIZE);
	cr_assert_eq(run("250 PIPELINING\r\n", 0, r, 2), 1);
	cr_expect_eq(r[0].ext, 0);
}

static const char pipelined[] =
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@example.net>: Recipient address rejected\r\n"
	"354 End data with <CR><LF>.<CR><LF>\r\n";

Test(reply, pipelined_batch_at_every_split)
{
	static const struct want want[] = {
		{250, 1, 0, "2.1.0 Ok"}, {250, 1, 0, "2.1.5 Ok"},
		{550, 1, 0, "5.1.1 <x@example.net>: Recipient address rejected"},
		{354, 1, 0, "End data with <CR><LF>.<CR><LF>"},
	};
	for (size_t chunk = 0; chunk <= sizeof pipelined; chunk++) {
		struct bench_reply r[8];
		int n = run(pipelined, chunk, r, 8);
		cr_assert_eq(n, 4, "chunk %zu: got %d replies", chunk, n);
		for (int i = 0; i < 4; i++) {
			cr_expect_eq(r[i].code, want[i].code, "chunk %zu reply %d", chunk, i);
			cr_expect_str_eq(r[i].text, want[i].text, "chunk %zu reply %d", chunk, i);
		}
	}
}

struct bad_case {
	const char *input;
	int want;       /* replies before the error, or -1 */
	const char *why;
};

Test(reply, malformed_and_tolerated)
{
	static const struct bad_case cases[] = {
		{"25O Ok\r\n", -1, "letter in the code"},
		{"250-a\r\n251 b\r\n", -1, "code changes inside a reply"},
		{"2500 Ok\r\n", -1, "four digits"},
		{"150 Ok\r\n", -1, "1xx is not SMTP"},
		{"650 Ok\r\n", -1, "6xx is not SMTP"},
		{"\r\n", -1, "empty line"},
		{"250\r\n", 1, "code alone is a reply (RFC 5321 4.2)"},
		{"250 Ok\n", 1, "bare LF accepted"},
		{"220 ready\r\n221 bye\r\n", 2, "two replies"},
		{"250 Ok", 0, "no line end yet"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_reply r[4];
		int n = run(cases[i].input, 0, r, 4);
		cr_expect_eq(n, cases[i].want, "%s: got %d", cases[i].why, n);
	}
}

Test(reply, too_many_lines_is_malformed)
{
	static char big[BENCH_REPLY_LINES_MAX * 8 + 16];
	size_t off = 0;
	for (int i = 0; i <= BENCH_REPLY_LINES_MAX; i++)
		off += (size_t)sprintf(big + off, "250-x\r\n");
	sprintf(big + off, "250 x\r\n");
	struct bench_reply r[2];
	cr_expect_eq(run(big, 0, r, 2), -1);
}

Test(reply, long_line_is_cut_not_fatal)
{
	static char line[4000];
	memset(line, 'a', sizeof line);
	memcpy(line, "554 ", 4);
	strcpy(line + sizeof line - 3, "\r\n");
	struct bench_reply r[2];
	cr_assert_eq(run(line, 0, r, 2), 1);
	cr_expect_eq(r[0].code, 554);
	cr_expect_lt(strlen(r[0].text), BENCH_REPLY_LINE_BYTES_MAX);
}

Test(replyparse, auth_plain_among_the_mechanisms)
{
	static const struct { const char *ehlo; int plain; int auth; } cases[] = {
		{"250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE\r\n", 1, 1},
		{"250-mx\r\n250-AUTH LOGIN plain\r\n250 SIZE\r\n", 1, 1},
		{"250-mx\r\n250-AUTH=PLAIN\r\n250 SIZE\r\n", 1, 1},
		{"250-mx\r\n250-AUTH CRAM-MD5 LOGIN\r\n250 SIZE\r\n", 0, 1},
		{"250-mx\r\n250-AUTH PLAINX\r\n250 SIZE\r\n", 0, 1},
		{"250-mx\r\n250-AUTH\r\n250 SIZE\r\n", 0, 1},
		{"250-mx\r\n250-XAUTH PLAIN\r\n250 SIZE\r\n", 0, 0},
		{"250-mx PLAIN\r\n250 SIZE\r\n", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_reply r[2];
		cr_assert_eq(run(cases[i].ehlo, 0, r, 2), 1, "%s", cases[i].ehlo);
		cr_expect_eq(!!(r[0].ext & BENCH_EXT_AUTH_PLAIN), cases[i].plain, "%s", cases[i].ehlo);
		cr_expect_eq(!!(r[0].ext & BENCH_EXT_AUTH), cases[i].auth, "%s", cases[i].ehlo);
	}
}
