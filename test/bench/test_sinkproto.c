/*
 * test/bench/test_sinkproto.c - tests for bench/sinkproto.c: a whole SMTP
 * transcript fed at every chunk size (commands, DATA, the Message-ID, the
 * size, dot-stuffing, the terminator split across reads), BDAT chunks
 * (RFC 3030), Message-ID variants, over-long lines, and the fault option
 * parsers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bench/sinkproto.h"

/* Log the end of a BDAT chunk; the LAST one ends the transaction. */
static size_t
log_chunk_end(const struct bench_sink_event *ev, unsigned *chunks, char *log, size_t size)
{
	if (ev->last)
		*chunks = 0;
	return (size_t)snprintf(log, size, "chunk %llu%s %s\n", (unsigned long long)ev->bytes,
	                        ev->last ? " last" : "", ev->msgid);
}

/* Feed a client transcript in chunks; after a DATA command, begin the
 * body as a sink answering 354 would, after BDAT its chunk. Writes one line
 * per event into log. */
static void
run(const char *input, size_t chunk, char *log, size_t size)
{
	struct bench_sinkproto p;
	bench_sink_init(&p);
	size_t len = strlen(input), off = 0, used = 0;
	unsigned chunks = 0;   /* BDAT chunks of the transaction, as the sink counts */
	log[0] = '\0';
	while (off < len) {
		size_t piece = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
		size_t done = 0;
		while (done < piece) {
			struct bench_sink_event ev;
			done += bench_sink_feed(&p, input + off + done, piece - done, &ev);
			if (ev.type == BENCH_SINK_EV_COMMAND) {
				used += (size_t)snprintf(log + used, size - used, "%s[%s]%s\n",
				                         bench_sink_cmd_name(ev.cmd), ev.arg,
				                         ev.too_long ? " long" : "");
				if (ev.cmd == BENCH_SINK_DATA)
					bench_sink_begin_data(&p);
				uint64_t chunk_size;
				int last;
				if (ev.cmd == BENCH_SINK_BDAT &&
				    bench_sink_parse_bdat(ev.arg, &chunk_size, &last) == 0 &&
				    bench_sink_begin_bdat(&p, chunk_size, last, chunks++ == 0, &ev))
					used += log_chunk_end(&ev, &chunks, log + used, size - used);
			} else if (ev.type == BENCH_SINK_EV_BDAT_END) {
				used += log_chunk_end(&ev, &chunks, log + used, size - used);
			} else if (ev.type == BENCH_SINK_EV_DATA_END) {
				used += (size_t)snprintf(log + used, size - used, "end %llu %s\n",
				                         (unsigned long long)ev.bytes, ev.msgid);
			}
		}
		off += piece;
	}
}

static const char transcript[] =
	"EHLO client.example\r\n"
	"MAIL FROM:<a@example.org> SIZE=100\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
	"From: a@example.org\r\nMessage-ID: <1.2.3@mtaload.invalid>\r\nSubject: x\r\n\r\n"
	"body line\r\n..leading dot\r\n.\r\n"
	"mail from:<c@example.org>\r\nrcpt to:<d@example.net>\r\ndata\r\n"
	"Subject: no id\r\n\r\nMessage-ID: <not@header>\r\n.\r\n"
	"NOOP\r\nXYZZY\r\nRSET\r\nQUIT\r\n";

static const char transcript_log[] =
	"ehlo[client.example]\n"
	"mail[FROM:<a@example.org> SIZE=100]\nrcpt[TO:<b@example.net>]\ndata[]\n"
	"end 98 <1.2.3@mtaload.invalid>\n"
	"mail[from:<c@example.org>]\nrcpt[to:<d@example.net>]\ndata[]\n"
	"end 44 \n"
	"noop[]\nother[]\nrset[]\nquit[]\n";

/* run() at every feed size from all at once to one byte at a time: the
 * events must not depend on where reads split the input. */
static void
expect_at_every_feed_size(const char *input, const char *want)
{
	char log[2048];
	for (size_t chunk = 0; chunk <= strlen(input) + 1; chunk++) {
		run(input, chunk, log, sizeof log);
		cr_assert_str_eq(log, want, "feeding %zu bytes at a time:\n%s", chunk, log);
	}
}

Test(sinkproto, transcript_at_every_chunk_size)
{
	expect_at_every_feed_size(transcript, transcript_log);
}

struct id_case {
	const char *body;
	const char *want;
};

Test(sinkproto, message_id_variants)
{
	static const struct id_case cases[] = {
		{"Message-ID: <a@b>\r\n\r\nx\r\n.\r\n", "<a@b>"},
		{"message-id:<a@b>\r\n\r\n.\r\n", "<a@b>"},
		{"MESSAGE-ID:   <a@b>   \r\n\r\n.\r\n", "<a@b>"},
		{"Message-ID:\r\n <folded@x>\r\n\r\n.\r\n", "<folded@x>"},
		{"Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n.\r\n", "<first@x>"},
		{"Message-ID: bare-id\r\n\r\n.\r\n", "bare-id"},
		{"X-Message-ID: <no@x>\r\n\r\n.\r\n", ""},
		{"Subject: a\r\n\r\n.\r\n", ""},
		{"Message-ID: <lf@x>\n\n.\n", "<lf@x>"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char input[512], log[512], want[256];
		snprintf(input, sizeof input, "DATA\r\n%s", cases[i].body);
		for (size_t chunk = 0; chunk < 8; chunk++) {
			run(input, chunk, log, sizeof log);
			const char *end = strstr(log, "end ");
			cr_assert_not_null(end, "case %zu: no end of data in %s", i, log);
			const char *sp = strchr(end + 4, ' ');
			snprintf(want, sizeof want, " %s\n", cases[i].want);
			cr_expect_str_eq(sp, want, "case %zu chunk %zu: got '%s'", i, chunk, sp);
		}
	}
}

Test(sinkproto, terminator_needs_line_start)
{
	char log[512];
	/* ".\r\n" inside a line is data; "\r\n.\r\n" ends it */
	run("DATA\r\nabc.\r\nx.\r\n..\r\n.\r\nNOOP\r\n", 1, log, sizeof log);
	cr_expect_str_eq(log, "data[]\nend 14 \nnoop[]\n");
}

Test(sinkproto, long_command_line)
{
	static char input[BENCH_SINK_LINE_BYTES_MAX * 2 + 32];
	memset(input, 'A', sizeof input);
	memcpy(input, "MAIL ", 5);
	strcpy(input + sizeof input - 20, "\r\nNOOP\r\n");
	char log[8192];
	run(input, 100, log, sizeof log);
	cr_expect(strncmp(log, "other[]", 7) == 0 || strstr(log, " long\n") != NULL,
	          "got %.60s", log);
	cr_expect_not_null(strstr(log, " long\nnoop[]\n"), "the next command still parses");
}

Test(sinkproto, verbs_need_a_word_boundary)
{
	char log[256];
	run("MAILX FROM:<a>\r\nQUITE\r\nHELO x\r\nHELO\r\n", 0, log, sizeof log);
	cr_expect_str_eq(log, "other[]\nother[]\nhelo[x]\nhelo[]\n");
}

struct cmds_case {
	const char *text;
	int ok;
	unsigned mask;
};

Test(sinkproto, command_lists)
{
	static const struct cmds_case cases[] = {
		{"mail", 1, 1u << BENCH_SINK_MAIL},
		{"rcpt,.", 1, (1u << BENCH_SINK_RCPT) | (1u << BENCH_SINK_DOT)},
		{"DOT,connect", 1, (1u << BENCH_SINK_DOT) | (1u << BENCH_SINK_CONNECT)},
		{"", 0, 0}, {"mail,", 0, 0}, {"mial", 0, 0}, {",rcpt", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned mask = 0;
		int r = bench_sink_parse_cmds(cases[i].text, &mask);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': status %d", cases[i].text, r);
		if (cases[i].ok)
			cr_expect_eq(mask, cases[i].mask, "'%s': mask %#x", cases[i].text, mask);
		else
			cr_expect_eq(mask, 0, "'%s': mask touched on error", cases[i].text);
	}
}

Test(sinkproto, delay_lists)
{
	uint32_t d[BENCH_SINK_CMD_COUNT] = {0};
	cr_assert_eq(bench_sink_parse_delays("rcpt:100,.:20", d), 0);
	cr_expect_eq(d[BENCH_SINK_RCPT], 100);
	cr_expect_eq(d[BENCH_SINK_DOT], 20);
	cr_expect_eq(d[BENCH_SINK_MAIL], 0);
	static const char *const bad[] = {"rcpt", "rcpt:", "rcpt:x", "rcpt:600001", "foo:1",
	                                  "rcpt:1,", "rcpt:1,mail:99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint32_t e[BENCH_SINK_CMD_COUNT] = {0};
		cr_expect_eq(bench_sink_parse_delays(bad[i], e), -1, "'%s' accepted", bad[i]);
		for (int k = 0; k < BENCH_SINK_CMD_COUNT; k++)
			cr_expect_eq(e[k], 0, "'%s' touched delays on error", bad[i]);
	}
}

Test(sinkproto, starttls_and_auth_verbs)
{
	char log[512];
	run("STARTTLS\r\nstarttls\r\nSTARTTLSX\r\nAUTH PLAIN AGEAYg==\r\nauth login\r\nAUTHX\r\n", 3,
	    log, sizeof log);
	cr_expect_str_eq(log, "starttls[]\nstarttls[]\nother[]\nauth[PLAIN AGEAYg==]\n"
	                 "auth[login]\nother[]\n");
	unsigned mask = 0;
	cr_expect_eq(bench_sink_parse_cmds("starttls,auth", &mask), 0);
	cr_expect_eq(mask, (1u << BENCH_SINK_STARTTLS) | (1u << BENCH_SINK_AUTH));
}

/* RFC 3030: chunks are read by count, not by lines: a "." line, CRLF and
 * "QUIT" inside a chunk are body bytes; the Message-ID is found across
 * chunks; an empty chunk ends at once (its reply is not held for more
 * input); a command follows the last chunk at once; a new transaction
 * starts its count and Message-ID afresh. */
static const char bdat_transcript[] =
	"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
	"BDAT 21\r\nMessage-ID: <c.1@x>\r\n"
	"BDAT 0\r\n"
	"BDAT 15 LAST\r\n\r\n.\r\nQUIT\r\nxx\r\n"
	"MAIL FROM:<>\r\nRCPT TO:<b@example.net>\r\nBDAT 0 LAST\r\n"
	"NOOP\r\n";

static const char bdat_log[] =
	"mail[FROM:<a@example.org>]\nrcpt[TO:<b@example.net>]\n"
	"bdat[21]\nchunk 21 <c.1@x>\n"
	"bdat[0]\nchunk 21 <c.1@x>\n"
	"bdat[15 LAST]\nchunk 36 last <c.1@x>\n"
	"mail[FROM:<>]\nrcpt[TO:<b@example.net>]\nbdat[0 LAST]\nchunk 0 last \n"
	"noop[]\n";

Test(sinkproto, bdat_chunks_at_every_chunk_size)
{
	expect_at_every_feed_size(bdat_transcript, bdat_log);
}

Test(sinkproto, bdat_arguments)
{
	uint64_t size = 99;
	int last = 9;
	cr_assert_eq(bench_sink_parse_bdat("0", &size, &last), 0);
	cr_assert_eq(size, 0);
	cr_assert_eq(last, 0);
	cr_assert_eq(bench_sink_parse_bdat("102533 last", &size, &last), 0);
	cr_assert_eq(size, 102533);
	cr_assert_eq(last, 1);
	cr_assert_eq(bench_sink_parse_bdat("", &size, &last), -1);
	cr_assert_eq(bench_sink_parse_bdat("-1", &size, &last), -1);
	cr_assert_eq(bench_sink_parse_bdat("12 LASTING", &size, &last), -1);
	cr_assert_eq(bench_sink_parse_bdat("12  LAST", &size, &last), -1);
	cr_assert_eq(bench_sink_parse_bdat("99999999999999999999", &size, &last), -1,
	             "a size past 2^64 must be refused, not wrap");
}
