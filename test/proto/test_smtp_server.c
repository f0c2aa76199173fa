/*
 * test/proto/test_smtp_server.c - tests of proto/smtp_server.c. SMTP
 * transcripts are fed whole, byte by byte and cut at every position; the
 * replies, events and message bodies are compared with golden text. Also:
 * the state x verb table, dot-unstuffing, end of data on CRLF.CRLF only,
 * limits (SIZE, recipients, line length, errors), FLUSH, QUIT, timeouts and
 * a seeded random-input run.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_server.h"

#include "test/proto/server_harness.h"

/* ---- the happy path ---- */

static const char happy_in[] =
	"EHLO client.example\r\n"
	"MAIL FROM:<alice@example.com>\r\n"
	"RCPT TO:<bob@example.org>\r\n"
	"DATA\r\n"
	"Subject: hi\r\n\r\nHello\r\n..dot\r\n.\r\n"
	"QUIT\r\n";
static const char happy_out[] =
	BANNER EHLO_REPLY
	"250 2.1.0 Ok\r\n"
	"250 2.1.5 Ok\r\n"
	R354
	"250 2.0.0 Ok: queued\r\n"
	"221 2.0.0 Bye\r\n";
static const char happy_log[] =
	"EHLO client.example\n"
	"MAIL <alice@example.com> 0 0\n"
	"RCPT <bob@example.org>\n"
	"DATA\n"
	"BODY_END 28\n"
	"QUIT\n";

Test(smtp_server, happy_path)
{
	struct tx *t = tx_simple(&accept_all, happy_in);

	cr_expect_str_eq(t->out, happy_out);
	cr_expect_str_eq(t->log, happy_log);
	cr_expect_str_eq(t->body, "Subject: hi\r\n\r\nHello\r\n.dot\r\n");
	cr_expect_eq(t->const_bytes, 0, "fed whole, no body byte should be copied");
	cr_expect_eq(t->body_events, 2, "one run before the stuffed dot, one after");
}

Test(smtp_server, happy_path_byte_by_byte_and_every_split)
{
	size_t len = strlen(happy_in), cut;
	char what[64];

	tx_run(&tx_a, &params_default, &accept_all, happy_in, len, 0);
	tx_run(&tx_b, &params_default, &accept_all, happy_in, len, 1);
	tx_expect_same(&tx_b, &tx_a, "byte by byte");
	for (cut = 0; cut <= len; cut++) {
		snprintf(what, sizeof(what), "cut at %zu", cut);
		tx_run_cuts(&tx_b, &params_default, &accept_all, happy_in, len, &cut, 1);
		tx_expect_same(&tx_b, &tx_a, what);
	}
	cr_expect_str_eq(tx_a.out, happy_out);
}

Test(smtp_server, helo_and_lowercase_commands)
{
	struct tx *t = tx_simple(&accept_all,
	                         "helo client.example\r\nmail from:<a@b.example>\r\n"
	                         "rcpt to:<c@d.example>\r\nrset\r\nnoop\r\nquit\r\n");

	cr_expect_str_eq(t->out, BANNER
	                 "250 " HOST " Hello client.example\r\n"
	                 "250 2.1.0 Ok\r\n"
	                 "250 2.1.5 Ok\r\n"
	                 "250 2.0.0 Reset state\r\n"
	                 "250 2.0.0 Ok\r\n"
	                 "221 2.0.0 Bye\r\n");
	cr_expect_str_eq(t->log, "HELO client.example\nMAIL <a@b.example> 0 0\n"
	                 "RCPT <c@d.example>\nTXN_RESET\nQUIT\n");
}

Test(smtp_server, ehlo_size_without_limit)
{
	struct proto_server_params p = params_default;

	p.size_max = 0;
	tx_run(&tx_a, &p, &accept_all, "EHLO c.example\r\n", strlen("EHLO c.example\r\n"), 0);
	cr_expect(strstr(tx_a.out, "\r\n250-SIZE\r\n") != NULL, "got %s", tx_a.out);
}

Test(smtp_server, pipelined_transaction_in_one_feed)
{
	static const char in[] =
		"EHLO client.example\r\n"
		"MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME\r\n"
		"RCPT TO:<one@c.example>\r\n"
		"RCPT TO:<nobody@c.example>\r\n"
		"RCPT TO:<two@c.example>\r\n"
		"DATA\r\n";
	struct policy pol = { .reject_rcpt = "nobody@c.example" };

	tx_run(&tx_a, &params_default, &pol, in, strlen(in), 0);
	cr_expect_str_eq(tx_a.out, BANNER EHLO_REPLY
	                 "250 2.1.0 Ok\r\n"
	                 "250 2.1.5 Ok\r\n"
	                 "550 5.1.1 No such user\r\n"
	                 "250 2.1.5 Ok\r\n"
	                 R354);
	cr_expect_str_eq(tx_a.log, "EHLO client.example\n"
	                 "MAIL <a@b.example> 1000 1\n"
	                 "RCPT <one@c.example>\n"
	                 "RCPT <nobody@c.example>\n"
	                 "RCPT <two@c.example>\n"
	                 "DATA\n");
	cr_expect_eq(tx_a.flushes, 0);
}

Test(smtp_server, two_messages_pipelined_after_end_of_data)
{
	static const char in[] =
		"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
		"DATA\r\none\r\n.\r\n"
		"MAIL FROM:<>\r\nRCPT TO:<e@f.example>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n";

	tx_run(&tx_a, &params_default, &accept_all, in, strlen(in), 0);
	cr_expect_str_eq(tx_a.log, "EHLO client.example\n"
	                 "MAIL <a@b.example> 0 0\nRCPT <c@d.example>\nDATA\nBODY_END 5\n"
	                 "MAIL <> 0 0\nRCPT <e@f.example>\nDATA\nBODY_END 5\nQUIT\n");
	cr_expect_str_eq(tx_a.body, "one\r\ntwo\r\n");
}

/* ---- every state x verb (the command table, RFC 5321 4.1.4) ---- */

enum { ST_INIT, ST_HELO, ST_MAIL, ST_RCPT, ST_COUNT };
enum { V_HELO, V_EHLO, V_MAIL, V_RCPT, V_DATA, V_RSET, V_NOOP, V_QUIT, V_HELP, V_VRFY,
       V_EXPN, V_BDAT, V_STARTTLS, V_AUTH, V_COUNT };

static const char *const state_prefix[ST_COUNT] = {
	"",
	"EHLO c.example\r\n",
	"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n",
	"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
};
static const char *const verb_line[V_COUNT] = {
	"HELO x.example\r\n", "EHLO x.example\r\n", "MAIL FROM:<m@n.example>\r\n",
	"RCPT TO:<r@s.example>\r\n", "DATA\r\n", "RSET\r\n", "NOOP\r\n", "QUIT\r\n",
	"HELP\r\n", "VRFY bob\r\n", "EXPN staff\r\n", "BDAT 0 LAST\r\n", "STARTTLS\r\n",
	"AUTH PLAIN\r\n",
};
static const char *const want_reply[ST_COUNT][V_COUNT] = {
	/*         HELO    EHLO    MAIL         RCPT         DATA         RSET
	 *         NOOP         QUIT         HELP         VRFY         EXPN
	 *         BDAT (not offered: read, then refused)   STARTTLS, AUTH (not offered) */
	[ST_INIT] = { "250 ", "250-", "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.0.0",
	              "250 2.0.0", "221 2.0.0", "214-2.0.0", "252 2.5.2", "502 5.5.1",
	              "500 5.5.1", "503 5.5.1", "503 5.5.1" },
	[ST_HELO] = { "250 ", "250-", "250 2.1.0", "503 5.5.1", "503 5.5.1", "250 2.0.0",
	              "250 2.0.0", "221 2.0.0", "214-2.0.0", "252 2.5.2", "502 5.5.1",
	              "500 5.5.1", "503 5.5.1", "503 5.5.1" },
	[ST_MAIL] = { "250 ", "250-", "503 5.5.1", "250 2.1.5", "503 5.5.1", "250 2.0.0",
	              "250 2.0.0", "221 2.0.0", "214-2.0.0", "252 2.5.2", "502 5.5.1",
	              "500 5.5.1", "503 5.5.1", "503 5.5.1" },
	[ST_RCPT] = { "250 ", "250-", "503 5.5.1", "250 2.1.5", "354 ", "250 2.0.0",
	              "250 2.0.0", "221 2.0.0", "214-2.0.0", "252 2.5.2", "502 5.5.1",
	              "500 5.5.1", "503 5.5.1", "503 5.5.1" },
};

/* Returns the first line of the reply to the command after prefix. */
static const char *
reply_after(const struct tx *t, const char *prefix_out)
{
	cr_assert(strncmp(t->out, prefix_out, strlen(prefix_out)) == 0,
	          "prefix replies changed: %s", t->out);
	return t->out + strlen(prefix_out);
}

Test(smtp_server, state_by_verb_table)
{
	char in[256], prefix_out[4096];
	int st, v;

	for (st = 0; st < ST_COUNT; st++) {
		tx_simple(&accept_all, state_prefix[st]);
		snprintf(prefix_out, sizeof(prefix_out), "%s", tx_a.out);
		for (v = 0; v < V_COUNT; v++) {
			const char *got;
			int in_txn = st == ST_MAIL || st == ST_RCPT;
			int ends_txn = v == V_HELO || v == V_EHLO || v == V_RSET;

			snprintf(in, sizeof(in), "%s%s", state_prefix[st], verb_line[v]);
			tx_simple(&accept_all, in);
			got = reply_after(&tx_a, prefix_out);
			cr_expect(strncmp(got, want_reply[st][v], strlen(want_reply[st][v])) == 0,
			          "state %d, %.4s: got %.30s, want %s", st, verb_line[v], got,
			          want_reply[st][v]);
			cr_expect_eq(strstr(tx_a.log, "TXN_RESET") != NULL, in_txn && ends_txn,
			             "state %d, %.4s: TXN_RESET in %s", st, verb_line[v], tx_a.log);
		}
	}
}

Test(smtp_server, sequence_errors_in_opensmtpd_wording)
{
	struct tx *t = tx_simple(&accept_all,
	                         "MAIL FROM:<a@b.example>\r\nEHLO c.example\r\n"
	                         "RCPT TO:<c@d.example>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\n"
	                         "DATA\r\nMAIL FROM:<a@b.example>\r\n");

	cr_expect_str_eq(t->out, BANNER
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "250-" HOST " Hello c.example\r\n250-PIPELINING\r\n"
	                 "250-SIZE 35882577\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	                 "250 HELP\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "250 2.1.0 Ok\r\n"
	                 "503 5.5.1 Invalid command: No recipient specified\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n");
}

Test(smtp_server, helo_again_resets_the_transaction)
{
	struct tx *t = tx_simple(&accept_all,
	                         "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n"
	                         "HELO c.example\r\nRCPT TO:<x@y.example>\r\n");

	cr_expect_str_eq(t->log, "EHLO a.example\nMAIL <a@b.example> 0 0\nTXN_RESET\n"
	                 "HELO c.example\n");
	cr_expect_str_eq(tx_last_reply(t),
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n");
}

Test(smtp_server, refused_answers_keep_the_state)
{
	struct policy pol = { .reject_mail = "spam@x.example" };
	struct tx *t;

	/* RFC 2920 3.1: a pipelined RCPT after a refused MAIL is a sequence error */
	t = tx_simple(&pol, "EHLO c.example\r\nMAIL FROM:<spam@x.example>\r\n"
	              "RCPT TO:<c@d.example>\r\nDATA\r\n");
	cr_expect(strstr(t->out, "550 5.7.1 Sender rejected\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n")
	          != NULL, "got %s", t->out);

	pol.reject_mail = NULL;
	pol.data_code = 554;
	t = tx_simple(&pol, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
	              "RCPT TO:<c@d.example>\r\nDATA\r\nRSET\r\n");
	cr_expect(strstr(t->out, "554 5.5.1 No thanks\r\n250 2.0.0 Reset state\r\n") != NULL,
	          "got %s", t->out);
	cr_expect_str_eq(t->log, "EHLO c.example\nMAIL <a@b.example> 0 0\n"
	                 "RCPT <c@d.example>\nDATA\nTXN_RESET\n");
}

Test(smtp_server, vrfy_help_noop_with_arguments)
{
	struct tx *t = tx_simple(&accept_all, "VRFY root\r\nHELP DATA\r\nNOOP hello\r\n"
	                         "RSET now\r\nEHLO c.example\r\nDATA now\r\n");

	cr_expect(strstr(t->out, BANNER "252 2.5.2 Cannot VRFY; try RCPT to attempt delivery\r\n"
	                 "214-2.0.0 This is ringmta\r\n"
	                 "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
	                 "214 2.0.0 End of HELP info\r\n"
	                 "250 2.0.0 Ok\r\n"
	                 "501 5.5.4 Invalid command arguments: command does not accept arguments."
	                 "\r\n") != NULL, "got %s", t->out);
	cr_expect_str_eq(tx_last_reply(t),
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n");
}

/* ---- the body: dot-unstuffing and end of data ---- */

struct body_case {
	const char *data;  /* after DATA's 354, up to and including the end */
	const char *want;  /* the body the daemon must see */
};

static const struct body_case body_cases[] = {
	{ ".\r\n", "" },                                  /* empty message, 4.1.1.4 */
	{ "a\r\n.\r\n", "a\r\n" },
	{ "\r\n.\r\n", "\r\n" },
	{ "..\r\n.\r\n", ".\r\n" },                       /* 4.5.2 transparency */
	{ "..a\r\n...b\r\n.\r\n", ".a\r\n..b\r\n" },
	{ "a.b\r\n.c\r\n.\r\n", "a.b\r\nc\r\n" },
	{ "...\r\n.\r\n", "..\r\n" },
	{ "x.\r\n.\r\n", "x.\r\n" },
	{ "\r\n\r\n.\r\n", "\r\n\r\n" },
	/* bare LF and bare CR are in test_smtp_smuggling.c */
};

#define BODY_PREFIX "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"

Test(smtp_server, body_unstuffing_and_end_of_data)
{
	char in[512], log[512];
	size_t i, cut, len;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];

		len = (size_t)snprintf(in, sizeof(in), "%s%sQUIT\r\n", BODY_PREFIX, c->data);
		snprintf(log, sizeof(log), "EHLO c.example\nMAIL <a@b.example> 0 0\n"
		         "RCPT <c@d.example>\nDATA\nBODY_END %zu\nQUIT\n", strlen(c->want));
		tx_run(&tx_a, &params_default, &accept_all, in, len, 0);
		cr_expect_str_eq(tx_a.body, c->want, "case %zu", i);
		cr_expect_str_eq(tx_a.log, log, "case %zu: one end of data, then QUIT", i);
		cr_expect_eq(tx_a.const_bytes, 0, "case %zu: fed whole, nothing copied", i);
		for (cut = 0; cut <= len; cut++) {
			char what[64];

			snprintf(what, sizeof(what), "case %zu cut at %zu", i, cut);
			tx_run_cuts(&tx_b, &params_default, &accept_all, in, len, &cut, 1);
			tx_expect_same(&tx_b, &tx_a, what);
		}
		tx_run(&tx_b, &params_default, &accept_all, in, len, 1);
		tx_expect_same(&tx_b, &tx_a, "byte by byte");
	}
}

/* A transcript with every tricky body sequence, fed in many random cuts
 * (bare LF and CR normalised, so the session goes on past them). */
Test(smtp_server, tricky_transcript_in_random_pieces)
{
	struct proto_server_params p = params_default;
	static const char in[] =
		"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
		"..\r\n.\r.\n.\n\r\n.x\r\n\r\r\n..\r\n.\rq\r\n.\nz\r\n.\r\n"
		"NOOP\nMAIL FROM:<>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n.\r\nQUIT\r\n";
	size_t len = sizeof(in) - 1, cuts[6], i, j;
	uint32_t seed = 12345;

	p.bare_newline = PROTO_BARE_NORMALIZE;
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_expect_str_eq(tx_a.body, ".\r\n\r\n.\r\n.\r\n\r\nx\r\n\r\n\r\n.\r\n\r\nq\r\n\r\nz\r\n");
	cr_expect(strstr(tx_a.log, "BODY_END") != NULL && strstr(tx_a.log, "QUIT") != NULL,
	          "got %s", tx_a.log);
	for (i = 0; i < 3000; i++) {
		for (j = 0; j < 6; j++) {
			seed = seed * 1103515245u + 12345u;
			cuts[j] = (seed >> 8) % (len + 1);
		}
		for (j = 1; j < 6; j++) {  /* cuts must be ascending */
			size_t k = j, v = cuts[j];

			while (k > 0 && cuts[k - 1] > v) {
				cuts[k] = cuts[k - 1];
				k--;
			}
			cuts[k] = v;
		}
		tx_run_cuts(&tx_b, &p, &accept_all, in, len, cuts, 6);
		tx_expect_same(&tx_b, &tx_a, "random cuts");
	}
}

Test(smtp_server, held_cr_is_served_from_constant_storage)
{
	static const char in[] = BODY_PREFIX "x\r\n.\ry\r\n.\r\n";
	size_t cut = strlen(BODY_PREFIX "x\r\n.\r");
	struct proto_server_params p = params_default;

	p.bare_newline = PROTO_BARE_NORMALIZE;
	tx_run_cuts(&tx_a, &p, &accept_all, in, sizeof(in) - 1, &cut, 1);
	cr_expect_str_eq(tx_a.body, "x\r\n\r\ny\r\n");
	cr_expect_eq(tx_a.const_bytes, 2, "the CR from the previous feed and its LF");
}

/* ---- limits ---- */

Test(smtp_server, size_parameter_and_limit)
{
	struct proto_server_params p = params_default;
	static const struct { const char *params; const char *want; } cases[] = {
		{ "SIZE=100", "250 2.1.0" },
		{ "SIZE=101", "552 5.3.4 Message too big" },
		{ "size=0 body=7bit", "250 2.1.0" },
		{ "BODY=8BITMIME", "250 2.1.0" },
		{ "SIZE=", "501 5.5.4" },
		{ "SIZE", "501 5.5.4" },
		{ "SIZE=-1", "501 5.5.4" },
		{ "SIZE=1e3", "501 5.5.4" },
		{ "SIZE=18446744073709551616", "501 5.5.4" },
		{ "SIZE=18446744073709551615", "552 5.3.4" },
		{ "BODY=BINARYMIME", "501 5.5.4" },
		{ "BODY", "501 5.5.4" },
		{ "SMTPUTF8", "555 5.5.4" },
		{ "AUTH=<>", "555 5.5.4" },
		{ "SIZE=10\x01", "501 5.5.4" },
	};
	char in[256];
	size_t i;

	p.size_max = 100;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "EHLO c.example\r\nMAIL FROM:<a@b.example> %s\r\n",
		         cases[i].params);
		tx_run(&tx_a, &p, &accept_all, in, strlen(in), 0);
		cr_expect(strncmp(tx_last_reply(&tx_a), cases[i].want, strlen(cases[i].want)) == 0,
		          "%s: got %s, want %s", cases[i].params, tx_last_reply(&tx_a),
		          cases[i].want);
	}
	snprintf(in, sizeof(in), "EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=99 "
	         "BODY=8BITMIME\r\n");
	tx_run(&tx_a, &p, &accept_all, in, strlen(in), 0);
	cr_expect(strstr(tx_a.log, "MAIL <a@b.example> 99 1\n") != NULL, "got %s", tx_a.log);
}

Test(smtp_server, body_over_size_max_is_drained_then_refused)
{
	struct proto_server_params p = params_default;
	char in[2048], body[512];
	size_t len, i, chunk;

	p.size_max = 100;
	memset(body, 'y', 160);  /* 4 lines of 40 octets: 160 > 100 */
	for (i = 1; i <= 4; i++)
		memcpy(body + 40 * i - 2, "\r\n", 2);
	body[160] = '\0';
	len = (size_t)snprintf(in, sizeof(in), "%s%s.\r\n"
	                       "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
	                       "small\r\n.\r\nQUIT\r\n", BODY_PREFIX, body);
	for (chunk = 0; chunk <= 7; chunk++) {
		tx_run(&tx_a, &p, &accept_all, in, len, chunk);
		cr_expect_str_eq(tx_a.log, "EHLO c.example\nMAIL <a@b.example> 0 0\n"
		                 "RCPT <c@d.example>\nDATA\nTXN_RESET\n"
		                 "MAIL <a@b.example> 0 0\nRCPT <c@d.example>\nDATA\n"
		                 "BODY_END 7\nQUIT\n", "chunk %zu", chunk);
		cr_expect(strstr(tx_a.out, R354 "552 5.3.4 Message too big for system\r\n"
		                 "250 2.1.0 Ok\r\n")
		          != NULL, "chunk %zu: got %s", chunk, tx_a.out);
		cr_expect_str_eq(tx_a.body, "small\r\n", "chunk %zu: only the second body", chunk);
	}
}

Test(smtp_server, body_of_exactly_size_max_is_accepted)
{
	struct proto_server_params p = params_default;
	char in[512];
	size_t len;

	p.size_max = 10;
	len = (size_t)snprintf(in, sizeof(in), "%s0123\r\n4567\r\n.\r\n", BODY_PREFIX);
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_expect(strstr(tx_a.log, "BODY_END 12\n") == NULL);  /* 12 > 10: refused */
	cr_expect_str_eq(tx_last_reply(&tx_a), "552 5.3.4 Message too big for system\r\n");
	len = (size_t)snprintf(in, sizeof(in), "%s01234567\r\n.\r\n", BODY_PREFIX);
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_expect(strstr(tx_a.log, "BODY_END 10\n") != NULL, "got %s", tx_a.log);
	cr_expect_str_eq(tx_a.body, "01234567\r\n");
}

Test(smtp_server, too_many_recipients)
{
	struct proto_server_params p = params_default;
	struct policy pol = { .reject_rcpt = "bad@x.example" };
	static const char in[] = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
		"RCPT TO:<one@x.example>\r\nRCPT TO:<bad@x.example>\r\n"
		"RCPT TO:<two@x.example>\r\nRCPT TO:<three@x.example>\r\nDATA\r\n";

	p.rcpt_count_max = 2;
	tx_run(&tx_a, &p, &pol, in, sizeof(in) - 1, 0);
	cr_expect(strstr(tx_a.out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n"
	                 "250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n" R354) != NULL,
	          "got %s", tx_a.out);
	cr_expect(strstr(tx_a.log, "three") == NULL, "the 3rd accepted rcpt reached policy");
}

Test(smtp_server, line_length_limit)
{
	static char in[12000];
	size_t len;

	/* RFC 5321 4.5.3.1.4: PROTO_LINE_BYTES_MAX octets with the CRLF are fine */
	memset(in, 'x', sizeof(in));
	memcpy(in, "NOOP ", 5);
	memcpy(in + PROTO_LINE_BYTES_MAX - 2, "\r\nNOOP ", 7);
	memcpy(in + 2 * PROTO_LINE_BYTES_MAX - 1, "\r\nNOOP ", 7);  /* one octet more */
	memcpy(in + 3 * PROTO_LINE_BYTES_MAX, "\nNOOP ", 6);        /* bare LF: 2048 */
	memcpy(in + 10000, "\r\nNOOP\r\n", 8);                      /* way too long */
	len = 10008;
	tx_run(&tx_a, &params_default, &accept_all, in, len, 0);
	cr_expect_str_eq(tx_a.out, BANNER "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n"
	                 "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n");
	tx_run(&tx_b, &params_default, &accept_all, in, len, 7);
	tx_expect_same(&tx_b, &tx_a, "7-byte pieces");
	tx_run(&tx_b, &params_default, &accept_all, in, len, 1);
	tx_expect_same(&tx_b, &tx_a, "byte by byte");
}

Test(smtp_server, errors_max_closes_with_421)
{
	struct proto_server_params p = params_default;
	static const char in[] = "FOO\r\nMAIL FROM:<a@b.example>\r\n\r\nNOOP\r\n";
	static struct proto_server s;
	struct proto_event ev;

	p.errors_max = 3;
	tx_run(&tx_a, &p, &accept_all, in, sizeof(in) - 1, 0);
	cr_expect_str_eq(tx_a.out, BANNER "500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "421 4.7.0 " HOST " Too many errors\r\n");
	cr_expect_str_eq(tx_a.log, "CLOSE\n");

	proto_server_init(&s, &p);
	proto_server_feed(&s, in, sizeof(in) - 1);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE, "CLOSE again");
	cr_expect_eq(s.in_len, 6, "NOOP left unread");
}

/* RFC 2920 3.1: a pipelined RCPT and DATA after a refused MAIL get 503 by
 * design; repeating that is not abuse, so no 421 however often. */
Test(smtp_server, pipelined_503_after_refused_mail_is_not_counted)
{
	struct proto_server_params p = params_default;
	struct policy refuse = accept_all;
	static char in[4096];
	size_t n = (size_t)snprintf(in, sizeof in, "EHLO client.example\r\n");

	refuse.reject_mail = "bad@example.org";
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(in + n, sizeof in - n,
		                      "MAIL FROM:<bad@example.org>\r\nRCPT TO:<x@example.net>\r\n"
		                      "DATA\r\n");
	n += (size_t)snprintf(in + n, sizeof in - n, "NOOP\r\n");
	p.errors_max = 3;
	tx_run(&tx_a, &p, &refuse, in, n, 0);
	cr_expect(strstr(tx_a.out, "Too many errors") == NULL, "%s", tx_a.out);
	cr_expect(strstr(tx_a.out, "250 2.0.0 Ok\r\n") != NULL || strstr(tx_a.out, "NOOP") == NULL,
	          "%s", tx_a.out);
	const char *last = tx_a.out + strlen(tx_a.out);
	while (last > tx_a.out && last[-1] == '\n')
		last--;
	while (last > tx_a.out && last[-1] != '\n')
		last--;
	cr_expect(strncmp(last, "250 ", 4) == 0, "the NOOP at the end is answered: %s", last);
}

Test(smtp_server, unknown_commands_are_never_echoed)
{
	static const char in[] =
		"XYZZY\r\n\x1b[31mRED\r\n" X64 "\r\nNO\0OP\r\nGET / HTTP/1.0\r\n";
	struct proto_server_params p = params_default;

	p.errors_max = 0;
	tx_run(&tx_a, &p, &accept_all, in, sizeof(in) - 1, 0);
	cr_expect_str_eq(tx_a.out, BANNER "500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "500 5.5.2 Syntax error: NUL in command\r\n"
	                 "500 5.5.1 Invalid command: Command unrecognized\r\n");
}

Test(smtp_server, flush_when_out_fills)
{
	static char in[6 * 3000];
	static struct proto_server s;
	struct proto_event ev;
	size_t i, len = 0, before;

	for (i = 0; i < 3000; i++, len += 6)
		memcpy(in + len, "NOOP\r\n", 6);
	tx_run(&tx_a, &params_default, &accept_all, in, len, 0);
	cr_expect_gt(tx_a.flushes, 0);
	cr_expect_eq(tx_a.out_len, strlen(BANNER) + 3000 * strlen("250 2.0.0 Ok\r\n"),
	             "every NOOP answered once");
	cr_expect_leq(tx_a.out_len_max, PROTO_OUT_BYTES_MAX);

	/* FLUSH consumes nothing until out_sent() */
	proto_server_init(&s, &params_default);
	proto_server_feed(&s, in, len);
	while (proto_server_next(&s, &ev) != PROTO_EV_FLUSH)
		;
	before = s.in_len;
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_FLUSH);
	cr_expect_eq(s.in_len, before);
	proto_server_out_sent(&s, 100);  /* a short send is not enough room */
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_FLUSH);
	proto_server_out_sent(&s, s.out_len);
	proto_server_next(&s, &ev);  /* runs again until out is full once more */
	cr_expect_lt(s.in_len, before);
}

Test(smtp_server, pipelined_ehlo_with_long_names_never_overflows)
{
	static char in[200 * 300];
	size_t i, len = 0;
	struct proto_server_params p = params_default;
	char name[256];
	const char *help = tx_a.out;

	memset(name, 'h', 250);
	name[250] = '\0';
	p.hostname = name;
	for (i = 0; i < 200; i++)
		len += (size_t)sprintf(in + len, "EHLO %.250s\r\n", X64 X64 X64 X64);
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_expect_gt(tx_a.flushes, 0);
	cr_expect_leq(tx_a.out_len_max, PROTO_OUT_BYTES_MAX);
	for (i = 0; (help = strstr(help, "250 HELP\r\n")) != NULL; help++)
		i++;
	cr_expect_eq(i, 200, "every EHLO answered in full");
	for (i = 0; i + 1 < tx_a.out_len; i++)  /* no reply line over 512 */
		if (tx_a.out[i] == '\n') {
			const char *nl = strchr(tx_a.out + i + 1, '\n');

			cr_assert(nl == NULL || nl - (tx_a.out + i) <= PROTO_REPLY_BYTES_MAX);
		}
}

Test(smtp_server, quit_then_nothing_more)
{
	static const char in[] = "EHLO c.example\r\nQUIT\r\nNOOP\r\n";
	static struct proto_server s;
	struct proto_event ev;

	proto_server_init(&s, &params_default);
	proto_server_feed(&s, in, sizeof(in) - 1);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_HELO);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_QUIT);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_QUIT);
	cr_expect_eq(s.in_len, 6);
	proto_server_timeout(&s);  /* too late: no 421 after 221 */
	cr_expect(strstr(s.out, "421") == NULL);
	cr_expect_str_eq(tx_last_reply(tx_simple(&accept_all, in)), "221 2.0.0 Bye\r\n");
}

/* Returns 1 if s->out ends with tail. */
static int
ends_with(const struct proto_server *s, const char *tail)
{
	size_t n = strlen(tail);

	return s->out_len >= n && memcmp(s->out + s->out_len - n, tail, n) == 0;
}

Test(smtp_server, timeout_and_shutdown)
{
	static struct proto_server s;
	struct proto_event ev;
	static const char noops[] = "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n";
	int i;

	proto_server_init(&s, &params_default);
	proto_server_timeout(&s);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	cr_expect_str_eq(s.out, "421 4.4.2 " HOST " Timeout, closing\r\n");

	proto_server_init(&s, &params_default);
	proto_server_feed(&s, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n",
	                  strlen("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"));
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_HELO);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_MAIL);
	proto_server_shutdown(&s);  /* with a question pending */
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	proto_server_answer(&s, 250, "2.1.0", "Ok");  /* policy answered late: dropped */
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	cr_expect(ends_with(&s, "421 4.3.2 " HOST " Server shutting down\r\n"));

	/* after a FLUSH the 421 still fits whole */
	proto_server_init(&s, &params_default);
	for (i = 0; i < 2000; i++) {
		proto_server_feed(&s, noops, sizeof(noops) - 1);
		if (proto_server_next(&s, &ev) == PROTO_EV_FLUSH)
			break;
	}
	cr_assert_eq(ev.kind, PROTO_EV_FLUSH);
	proto_server_timeout(&s);
	cr_expect_leq(s.out_len, PROTO_OUT_BYTES_MAX);
	cr_expect(ends_with(&s, "\r\n421 4.4.2 " HOST " Timeout, closing\r\n"));
}

Test(smtp_server, wait_until_answered_and_421_answer_closes)
{
	static struct proto_server s;
	struct proto_event ev;
	static const char in[] = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\n";

	proto_server_init(&s, &params_default);
	proto_server_feed(&s, in, sizeof(in) - 1);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_HELO);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_MAIL);
	cr_expect_str_eq(ev.addr, "a@b.example");
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_WAIT);
	cr_expect_eq(s.in_len, 6, "WAIT consumed input");
	proto_server_answer(&s, 250, "2.1.0", "Ok");
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_NEED_MORE);
	cr_expect_eq(s.state, PROTO_S_MAIL);

	proto_server_init(&s, &params_default);
	proto_server_feed(&s, in, sizeof(in) - 1);
	proto_server_next(&s, &ev);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_MAIL);
	proto_server_answer(&s, 421, "4.3.0", "Try later");
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	cr_expect(strstr(s.out, "421 4.3.0 Try later\r\n") != NULL);
}

Test(smtp_server, bare_lf_ends_commands)
{
	struct tx *t = tx_simple(&accept_all, "EHLO c.example\nMAIL FROM:<a@b.example>  \n"
	                         "RCPT TO:<c@d.example>\r\nDATA\n.\r\n");

	cr_expect_str_eq(t->log, "EHLO c.example\nMAIL <a@b.example> 0 0\n"
	                 "RCPT <c@d.example>\nDATA\nBODY_END 0\n");
}

/* ---- paths (RFC 5321 4.1.2, 4.5.3.1) ---- */

/* Arrays, not pointers: Criterion hands parameters to a fresh process. */
struct path_case {
	char line[300];     /* MAIL line, or RCPT line after a good MAIL */
	char want[16];      /* start of the reply */
	char addr[300];     /* for accepted ones: the address the daemon sees */
};

#define L63 "lllllllllllllll" X16 X16 X16
#define D63 "ddddddddddddddd" X16 X16 X16
#define D191 D63 "." D63 "." D63

ParameterizedTestParameters(smtp_server, paths)
{
	static struct path_case cases[] = {
		{ "MAIL FROM:<a@b.example>", "250 2.1.0", "a@b.example" },
		{ "MAIL FROM: <a@b.example>", "250 2.1.0", "a@b.example" },
		{ "MAIL FROM:<>", "250 2.1.0", "" },
		{ "MAIL FROM:<@r1.example,@r2.example:a@b.example>", "250 2.1.0", "a@b.example" },
		{ "MAIL FROM:<\"john doe\"@b.example>", "250 2.1.0", "\"john doe\"@b.example" },
		{ "MAIL FROM:<\"a\\\"b>\"@b.example>", "250 2.1.0", "\"a\\\"b>\"@b.example" },
		{ "MAIL FROM:<a@[192.0.2.1]>", "250 2.1.0", "a@[192.0.2.1]" },
		{ "MAIL FROM:<a@[IPv6:2001:db8::1]>", "250 2.1.0", "a@[IPv6:2001:db8::1]" },
		{ "MAIL FROM:<a!#$%&'*+-/=?^_`{|}~@b.example>", "250 2.1.0",
		  "a!#$%&'*+-/=?^_`{|}~@b.example" },
		{ "MAIL FROM:<First.Last@Sub-1.Example.COM>", "250 2.1.0",
		  "First.Last@Sub-1.Example.COM" },
		{ "MAIL FROM:<u@localhost>", "250 2.1.0", "u@localhost" },
		{ "MAIL FROM:<l" L63 "@b.example>", "250 2.1.0", "l" L63 "@b.example" }, /* 64 */
		{ "MAIL FROM:<ll" L63 "@b.example>", "553 5.1.7", "" },  /* local part 65 */
		{ "MAIL FROM:<l@" D63 ".example>", "250 2.1.0", "l@" D63 ".example" },
		{ "MAIL FROM:<l@" D63 "d.example>", "553 5.1.7", "" },  /* label 64 */
		{ "MAIL FROM:<" L63 "@" D191 ">", "250 2.1.0", L63 "@" D191 },  /* path 255 */
		{ "MAIL FROM:<l" L63 "@" D191 ">", "250 2.1.0", "l" L63 "@" D191 }, /* 256 */
		{ "MAIL FROM:<" L63 "@x." D191 ">", "553 5.1.7", "" },  /* path 257 */
		{ "MAIL FROM:a@b.example", "501 5.5.4", "" },
		{ "MAIL FROM:<a@b.example", "501 5.5.4", "" },
		{ "MAIL FROM <a@b.example>", "501 5.5.4", "" },
		{ "MAIL FROM:", "501 5.5.4", "" },
		{ "MAIL", "501 5.5.4", "" },
		{ "MAIL TO:<a@b.example>", "501 5.5.4", "" },
		{ "MAIL FROM:<a@b.example>junk", "501 5.5.4", "" },
		{ "MAIL FROM:<<a@b.example>>", "501 5.5.4", "" },
		{ "MAIL FROM:<a b@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b .example>", "553 5.1.7", "" },
		{ "MAIL FROM:< a@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b..example>", "553 5.1.7", "" },
		{ "MAIL FROM:<.a@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a.@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a..b@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b.example.>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@.b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@-b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b-.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b_c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@b@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@>", "553 5.1.7", "" },
		{ "MAIL FROM:<@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<@b.example:>", "553 5.1.7", "" },
		{ "MAIL FROM:<@b..example:a@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a>", "553 5.1.7", "" },
		{ "MAIL FROM:<postmaster>", "553 5.1.7", "" },
		{ "MAIL FROM:<a\x01" "b@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a\tb@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a\rb@c.example>", "500 5.5.2", "" },  /* bare CR in a command */
		{ "MAIL FROM:<\"a\x7f\"@c.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<\xc3\xa9@c.example>", "500 5.5.2", "" },  /* no SMTPUTF8 offered */
		{ "MAIL FROM:<a@\xc3\xa9.example>", "500 5.5.2", "" },
		{ "MAIL FROM:<\"a@b.example>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[192.0.2.256]>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[192.0.2]>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[IPv6:zz::1]>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[2001:db8::1]>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[x-tag:foo]>", "553 5.1.7", "" },
		{ "MAIL FROM:<a@[]>", "553 5.1.7", "" },
		{ "RCPT TO:<b@c.example>", "250 2.1.5", "b@c.example" },
		{ "RCPT TO: <b@c.example>", "250 2.1.5", "b@c.example" },
		{ "RCPT TO:<postmaster>", "250 2.1.5", "postmaster" },
		{ "RCPT TO:<PostMaster>", "250 2.1.5", "PostMaster" },
		{ "rcpt to:<@x.example:b@c.example>", "250 2.1.5", "b@c.example" },
		{ "RCPT TO:<bob>", "553 5.1.3", "" },
		{ "RCPT TO:<>", "553 5.1.3", "" },
		{ "RCPT TO:<b c@d.example>", "553 5.1.3", "" },
		{ "RCPT TO:b@c.example", "501 5.5.4", "" },
		{ "RCPT FROM:<b@c.example>", "501 5.5.4", "" },
		{ "RCPT TO:<b@c.example", "501 5.5.4", "" },
		{ "RCPT TO:<b@c.example> NOTIFY=NEVER", "555 5.5.4", "" },
	};

	return cr_make_param_array(struct path_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct path_case *c, smtp_server, paths)
{
	char in[1024], want_log[600];
	int rcpt = strncasecmp(c->line, "RCPT", 4) == 0;

	snprintf(in, sizeof(in), "EHLO c.example\r\n%s%s\r\n",
	         rcpt ? "MAIL FROM:<a@b.example>\r\n" : "", c->line);
	tx_run(&tx_a, &params_default, &accept_all, in, strlen(in), 0);
	cr_expect(strncmp(tx_last_reply(&tx_a), c->want, strlen(c->want)) == 0,
	          "%s: got %s, want %s", c->line, tx_last_reply(&tx_a), c->want);
	if (c->addr[0] != '\0' || strcmp(c->line, "MAIL FROM:<>") == 0) {
		snprintf(want_log, sizeof(want_log), "%s <%s>%s\n", rcpt ? "RCPT" : "MAIL",
		         c->addr, rcpt ? "" : " 0 0");
		cr_expect(strstr(tx_a.log, want_log) != NULL, "%s: events %s, want %s", c->line,
		          tx_a.log, want_log);
	} else {
		cr_expect_eq(strstr(tx_a.log, rcpt ? "RCPT" : "MAIL") == NULL, 1,
		             "%s: a bad path reached policy: %s", c->line, tx_a.log);
	}
}

/* ---- random input ---- */

/* xorshift32: a fixed, portable sequence. */
static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

Test(smtp_server, random_input_is_bounded_and_split_invariant)
{
	static const char *const tokens[] = {
		"EHLO c.example\r\n", "HELO c\r\n", "MAIL FROM:<a@b.example>\r\n",
		"MAIL FROM:<> SIZE=10\r\n", "RCPT TO:<c@d.example>\r\n", "RCPT TO:<bad@x.example>\r\n",
		"DATA\r\n", "RSET\r\n", "NOOP\r\n", "QUIT\r\n", ".\r\n", "\r\n", "\n", "\r", ".",
		"..", "x", "\0", "\x80", "<", ">", "@", ":", " ", "MAIL", "\r\n.\r\n", "\r\n.\n",
	};
	static char in[4096];
	struct proto_server_params p = params_default;
	struct policy pol = { .reject_rcpt = "bad@x.example" };
	uint32_t x = 2463534242u;
	size_t cuts[16];
	int round, j;

	p.size_max = 300;
	p.rcpt_count_max = 3;
	p.errors_max = 50;
	for (round = 0; round < 600; round++) {
		size_t len = 0;

		while (len < sizeof(in) - 64) {
			uint32_t r = rnd(&x);

			if (r % 5 == 0) {  /* raw byte */
				in[len++] = (char)(r >> 8);
			} else {
				const char *t = tokens[(r >> 8) % (sizeof(tokens) / sizeof(tokens[0]))];
				size_t n = t[0] == '\0' ? 1 : strlen(t);

				memcpy(in + len, t, n);
				len += n;
			}
			if (r % 97 == 0)
				break;
		}
		tx_run(&tx_a, &p, &pol, in, len, 0);
		cr_assert_leq(tx_a.out_len_max, PROTO_OUT_BYTES_MAX);
		for (j = 0; j < 16; j++)
			cuts[j] = (j == 0 ? 0 : cuts[j - 1]) + rnd(&x) % (len / 16 + 2);
		for (j = 0; j < 16; j++)
			if (cuts[j] > len)
				cuts[j] = len;
		tx_run_cuts(&tx_b, &p, &pol, in, len, cuts, 16);
		tx_expect_same(&tx_b, &tx_a, "random input in pieces");
	}
}

Test(smtp_server, random_bytes_never_overflow)
{
	static char in[1 << 16];
	static struct proto_server s;
	struct proto_event ev;
	struct proto_server_params p = params_default;
	uint32_t x = 88172645u;
	size_t i;
	int round, steps;

	p.errors_max = 0;
	for (round = 0; round < 40; round++) {
		for (i = 0; i < sizeof(in); i++)
			in[i] = (char)(rnd(&x) >> (round % 24));
		proto_server_init(&s, &p);
		proto_server_feed(&s, in, sizeof(in));
		for (steps = 0; steps < 100000; steps++) {
			enum proto_event_kind k = proto_server_next(&s, &ev);

			cr_assert_leq(s.out_len, PROTO_OUT_BYTES_MAX);
			if (k == PROTO_EV_NEED_MORE || k == PROTO_EV_QUIT || k == PROTO_EV_CLOSE)
				break;
			if (k == PROTO_EV_FLUSH)
				proto_server_out_sent(&s, s.out_len);
			else if (k == PROTO_EV_MAIL || k == PROTO_EV_RCPT || k == PROTO_EV_BODY_END)
				proto_server_answer(&s, 250, "2.0.0", "Ok");
			else if (k == PROTO_EV_DATA)
				proto_server_answer(&s, 354, NULL, "Go ahead");
			cr_assert_neq(k, PROTO_EV_WAIT);
		}
		cr_assert_lt(steps, 100000, "no progress");
	}
}
