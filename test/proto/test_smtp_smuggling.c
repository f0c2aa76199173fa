/*
 * test/proto/test_smtp_smuggling.c - SMTP smuggling and the limits of
 * proto/smtp_server.c. Only CRLF.CRLF ends DATA; a bare LF or bare CR in
 * the body is refused with 521 and the session closed (the default), or
 * normalised to CRLF; either way the outcome is the same for every cut of
 * the input into reads, byte by byte included. Every limit is hit on
 * purpose with the exact reply asserted.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/smtp_server.h"
#include "test/proto/server_harness.h"

#define PREFIX "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
#define PREFIX_OUT BANNER "250-" HOST " Hello c.example\r\n250-PIPELINING\r\n" \
	"250-SIZE 35882577\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n" \
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" R354
#define PREFIX_LOG "EHLO c.example\nMAIL <a@b.example> 0 0\nRCPT <c@d.example>\nDATA\n"
#define R521(what) "521 5.5.2 " HOST " Error: bare <" what "> received\r\n"

struct bare_case {
	const char *data;     /* after the 354 */
	const char *reject;   /* the reply in reject mode */
	const char *normal;   /* the body in normalise mode */
};

/* Each ends with CRLF.CRLF and QUIT; the smuggled "end of data" and the
 * commands after it never run. */
static const struct bare_case bare_cases[] = {
	{ "a\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n", R521("LF"),
	  "a\r\n.\r\nMAIL FROM:<evil@x.example>\r\n" },
	{ "a\r\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n", R521("LF"),
	  "a\r\n\r\nMAIL FROM:<evil@x.example>\r\n" },
	{ "a\n.\r\nMAIL FROM:<evil@x.example>\r\n.\r\n", R521("LF"),
	  "a\r\n.\r\nMAIL FROM:<evil@x.example>\r\n" },
	{ "a\r.\r\nMAIL FROM:<evil@x.example>\r\n.\r\n", R521("CR"),
	  "a\r\n.\r\nMAIL FROM:<evil@x.example>\r\n" },
	{ "a\r\n.\rMAIL FROM:<evil@x.example>\r\n.\r\n", R521("CR"),
	  "a\r\n\r\nMAIL FROM:<evil@x.example>\r\n" },
	{ "a\r.\rMAIL\r\n.\r\n", R521("CR"), "a\r\n.\r\nMAIL\r\n" },
	{ "\n.\r\n.\r\n", R521("LF"), "\r\n.\r\n" },
	{ "x\r\r\n.\r\n", R521("CR"), "x\r\n\r\n" },
	{ "x\n\r\n.\r\n", R521("LF"), "x\r\n\r\n" },
	/* "\n.\r\n" and "\r.\r\n" are not the end even when normalised */
	{ ".\n.\r\nx\r\n.\r\n", R521("LF"), "\r\n.\r\nx\r\n" },
	{ ".\r.\r\nx\r\n.\r\n", R521("CR"), "\r\n.\r\nx\r\n" },
	{ "..\n.\r\n.\r\n", R521("LF"), ".\r\n.\r\n" },
};

Test(smtp_smuggling, bare_lf_or_cr_rejected_at_every_split)
{
	char in[512], want_out[1024];
	size_t i, len;

	for (i = 0; i < sizeof(bare_cases) / sizeof(bare_cases[0]); i++) {
		len = (size_t)snprintf(in, sizeof(in), PREFIX "%sQUIT\r\n", bare_cases[i].data);
		tx_expect_split_invariant(&params_default, &accept_all, in, len);
		snprintf(want_out, sizeof(want_out), PREFIX_OUT "%s", bare_cases[i].reject);
		cr_expect_str_eq(tx_a.out, want_out, "case %zu", i);
		cr_expect_str_eq(tx_a.log, PREFIX_LOG "CLOSE\n", "case %zu: no end of data", i);
		cr_expect_eq(tx_a.body_len, 0, "case %zu: %zu [%s]", i, tx_a.body_len, tx_a.body);
	}
}

Test(smtp_smuggling, bare_lf_or_cr_normalised_at_every_split)
{
	struct proto_server_params p = params_default;
	char in[512], want_log[512];
	size_t i, len;

	p.bare_newline = PROTO_BARE_NORMALIZE;
	for (i = 0; i < sizeof(bare_cases) / sizeof(bare_cases[0]); i++) {
		len = (size_t)snprintf(in, sizeof(in), PREFIX "%sQUIT\r\n", bare_cases[i].data);
		tx_expect_split_invariant(&p, &accept_all, in, len);
		cr_expect_str_eq(tx_a.body, bare_cases[i].normal, "case %zu", i);
		snprintf(want_log, sizeof(want_log), PREFIX_LOG "BODY_END %zu\nQUIT\n",
		         strlen(bare_cases[i].normal));
		cr_expect_str_eq(tx_a.log, want_log, "case %zu: one message, nothing smuggled", i);
		cr_expect_str_eq(tx_last_reply(&tx_a), "221 2.0.0 Bye\r\n");
	}
}

Test(smtp_smuggling, only_crlf_dot_crlf_ends_data)
{
	static const char in[] = PREFIX "one\r\n.\r\nMAIL FROM:<b@b.example>\r\n"
	                         "RCPT TO:<d@d.example>\r\nDATA\r\ntwo\r\n..\r\n.\r\n";

	tx_expect_split_invariant(&params_default, &accept_all, in, sizeof(in) - 1);
	cr_expect_str_eq(tx_a.log, PREFIX_LOG "BODY_END 5\nMAIL <b@b.example> 0 0\n"
	                 "RCPT <d@d.example>\nDATA\nBODY_END 8\n");
	cr_expect_str_eq(tx_a.body, "one\r\ntwo\r\n.\r\n");
}

/* A long message with bare line ends everywhere, fed at random cuts. */
Test(smtp_smuggling, random_cuts_of_a_mixed_body)
{
	static char in[20000];
	struct proto_server_params p = params_default;
	static const char *const parts[] = { "x", "\r\n", "\n", "\r", ".", "..", "\r\n.", "y\r\n" };
	uint32_t x = 7;
	size_t len, cuts[40], i, j;

	p.bare_newline = PROTO_BARE_NORMALIZE;
	len = (size_t)snprintf(in, sizeof(in), PREFIX);
	for (i = 0; i < 3000; i++) {
		x = x * 1103515245u + 12345u;
		len += (size_t)snprintf(in + len, sizeof(in) - len, "%s", parts[(x >> 16) % 8]);
	}
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n.\r\nQUIT\r\n");
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_assert(strstr(tx_a.log, "BODY_END") != NULL, "got %s", tx_a.log);
	for (i = 0; i < 200; i++) {
		for (j = 0; j < 40; j++) {
			x = x * 1103515245u + 12345u;
			cuts[j] = (j == 0 ? 0 : cuts[j - 1]) + (x >> 16) % (len / 40 + 1);
		}
		tx_run_cuts(&tx_b, &p, &accept_all, in, len, cuts, 40);
		tx_expect_same(&tx_b, &tx_a, "random cuts");
	}
	p.bare_newline = PROTO_BARE_REJECT;
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	tx_run(&tx_b, &p, &accept_all, in, len, 1);
	tx_expect_same(&tx_b, &tx_a, "reject, byte by byte");
	cr_expect(strstr(tx_a.log, "CLOSE") != NULL);
}

/* ---- limits ---- */

Test(smtp_smuggling, text_line_limit)
{
	struct proto_server_params p = params_default;
	static char in[70000];
	size_t len;

	p.text_line_bytes_max = 10;
	len = (size_t)snprintf(in, sizeof(in), PREFIX "0123456789\r\n.\r\n"
	                       "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
	                       "01234567890\r\nmore\r\n.\r\nNOOP\r\n");
	tx_expect_split_invariant(&p, &accept_all, in, len);
	cr_expect_str_eq(tx_a.log, PREFIX_LOG "BODY_END 12\nMAIL <a@b.example> 0 0\n"
	                 "RCPT <c@d.example>\nDATA\nTXN_RESET\n");
	cr_expect(strstr(tx_a.out, R354 "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n") != NULL,
	          "got %s", tx_a.out);
	/* the default: 65535 octets and its CRLF pass, 65536 do not */
	len = (size_t)snprintf(in, sizeof(in), PREFIX);
	memset(in + len, 'z', 65535);
	len += 65535;
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n.\r\n");
	tx_run(&tx_a, &params_default, &accept_all, in, len, 4096);
	cr_expect(strstr(tx_a.log, "BODY_END 65537\n") != NULL, "got %s", tx_a.log);
	memcpy(in + len - 5, "z\r\n.\r\n", 6);
	tx_run(&tx_a, &params_default, &accept_all, in, len + 1, 4096);
	cr_expect_str_eq(tx_last_reply(&tx_a), "500 5.5.2 Line too long\r\n");
}

Test(smtp_smuggling, message_size_counts_raw_octets)
{
	struct proto_server_params p = params_default;
	static const char in[] = PREFIX "..ab\r\n.\r\n";  /* 6 raw octets, 5 after unstuffing */

	p.size_max = 5;
	tx_expect_split_invariant(&p, &accept_all, in, sizeof(in) - 1);
	cr_expect_str_eq(tx_last_reply(&tx_a), "552 5.3.4 Message too big for system\r\n");
	cr_expect_str_eq(tx_a.log, PREFIX_LOG "TXN_RESET\n");
	p.size_max = 6;
	tx_expect_split_invariant(&p, &accept_all, in, sizeof(in) - 1);
	cr_expect_str_eq(tx_a.log, PREFIX_LOG "BODY_END 5\n");
}

Test(smtp_smuggling, command_line_limit_param)
{
	struct proto_server_params p = params_default;
	static char in[2000];
	size_t len;

	p.line_bytes_max = 512;  /* RFC 5321 4.5.3.1.4 */
	memset(in, 'x', sizeof(in));
	memcpy(in, "NOOP ", 5);
	memcpy(in + 510, "\r\nNOOP ", 7);   /* 512 with CRLF: fine */
	memcpy(in + 1023, "\r\nQUIT\r\n", 8); /* 513: too long */
	len = 1031;
	tx_expect_split_invariant(&p, &accept_all, in, len);
	cr_expect_str_eq(tx_a.out, BANNER "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n"
	                 "221 2.0.0 Bye\r\n");
	cr_expect(strstr(tx_a.out, "xxxx") == NULL, "input is never echoed");
}

Test(smtp_smuggling, mails_per_session_limit)
{
	struct proto_server_params p = params_default;
	struct policy pol = { .body_end_code = 451 };
	static const char msg[] = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
	                          "x\r\n.\r\n";
	char in[1024];

	p.mails_max = 2;
	snprintf(in, sizeof(in), "EHLO c.example\r\n%s%s%s", msg, msg, msg);
	tx_run(&tx_a, &p, &accept_all, in, strlen(in), 0);
	cr_expect(strstr(tx_a.out, "\r\n250 2.0.0 Ok: queued\r\n452 4.5.3 Too many messages sent\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n")
	          != NULL, "got %s", tx_a.out);
	cr_expect(strstr(tx_a.log, "BODY_END 3\nMAIL") != NULL &&
	          strstr(strstr(tx_a.log, "BODY_END 3\nMAIL") + 1, "BODY_END 3\nMAIL") == NULL,
	          "two messages, then no third MAIL: %s", tx_a.log);
	/* refused messages do not count */
	tx_run(&tx_a, &p, &pol, in, strlen(in), 0);
	cr_expect_str_eq(tx_last_reply(&tx_a), "451 4.3.0 Try again later\r\n");
	/* the default is 100 */
	cr_expect_eq(PROTO_MAILS_DEFAULT, 100);
}

Test(smtp_smuggling, recipients_limit_default_core_value)
{
	struct proto_server_params p = params_default;
	static char in[1 << 16];
	size_t len, i;

	p.rcpt_count_max = 1000;
	len = (size_t)snprintf(in, sizeof(in), "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n");
	for (i = 0; i < 1001; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "RCPT TO:<r%zu@d.example>\r\n", i);
	tx_run(&tx_a, &p, &accept_all, in, len, 0);
	cr_expect_str_eq(tx_last_reply(&tx_a), "452 4.5.3 Too many recipients\r\n");
	cr_expect(strstr(tx_a.log, "RCPT <r999@d.example>\n") != NULL);
	cr_expect(strstr(tx_a.log, "r1000@") == NULL);
	cr_expect_gt(tx_a.flushes, 0, "a pipelined flood waits for the replies to go out");
}
