/*
 * test/proto/test_smtp_bdat.c - CHUNKING and BINARYMIME (RFC 3030) in
 * proto/smtp_server.c: BDAT with exact octet counts, bodies handed on
 * unmodified, pipelined chunks, DATA and BDAT not mixed, refused chunks
 * read and dropped (never run as commands), size limits, the daemon
 * refusing the first chunk, and the same outcome for every cut of the input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/smtp_server.h"
#include "test/proto/server_harness.h"

#define EHLO_C "EHLO c.example\r\n"
#define TXN EHLO_C "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
#define TXN_LOG "EHLO c.example\nMAIL <a@b.example> 0 0\nRCPT <c@d.example>\n"
#define TXN_OUT BANNER "250-" HOST " Hello c.example\r\n250-PIPELINING\r\n" \
	"250-SIZE 35882577\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n" \
	"250-BINARYMIME\r\n250 HELP\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
#define QUEUED "250 2.0.0 Ok: queued\r\n"

/* CHUNKING and BINARYMIME offered. */
static struct proto_server_params
params_chunking(void)
{
	struct proto_server_params p = params_default;

	p.ext = PROTO_SERVER_EXT_DEFAULT | PROTO_EXT_CHUNKING | PROTO_EXT_BINARYMIME;
	return p;
}

struct bdat_case {
	const char *in;     /* after TXN (length: strlen, or len when set) */
	size_t len;
	const char *out;    /* replies after TXN_OUT */
	const char *log;    /* events after TXN_LOG */
	const char *body;   /* bodies that reached BODY_END */
	size_t body_len;
};

static const struct bdat_case bdat_cases[] = {
	/* two chunks, pipelined; the octets are handed on as they are */
	{ "BDAT 5\r\nabcdeBDAT 3 LAST\r\nfgh", 0,
	  "250 2.0.0 Ok: 5 octets received\r\n" QUEUED, "DATA bdat 5\nBODY_END 8\n", "abcdefgh", 8 },
	/* no dot-unstuffing, no end of data, commands inside are data */
	{ "BDAT 20 LAST\r\n..x\r\n.\r\nQUIT\r\nRSET\r\nNOOP\r\n", 0,
	  QUEUED "250 2.0.0 Ok\r\n", "DATA bdat 20\nBODY_END 20\n", "..x\r\n.\r\nQUIT\r\nRSET\r\n", 20 },
	/* binary octets and bare line ends are fine in a chunk */
	{ "BDAT 6 last\r\n\x00\r\xff\n.\n", 6, QUEUED, "DATA bdat 6\nBODY_END 6\n", "\x00\r\xff\n.\n", 6 },
	{ "BDAT 0 LAST\r\n", 0, QUEUED, "DATA bdat 0\nBODY_END 0\n", "", 0 },
	{ "BDAT 0\r\nBDAT 2 LAST\r\nhi", 0, "250 2.0.0 Ok: 0 octets received\r\n" QUEUED,
	  "DATA bdat 0\nBODY_END 2\n", "hi", 2 },
	/* RFC 3030 2: DATA after BDAT is a 503 (the chunk state stays); RSET clears */
	{ "BDAT 2\r\nabDATA\r\nRSET\r\nDATA\r\n", 0,
	  "250 2.0.0 Ok: 2 octets received\r\n"
	  "503 5.5.1 Invalid command: DATA and BDAT cannot be mixed\r\n250 2.0.0 Reset state\r\n"
	  "503 5.5.1 Invalid command: Command not allowed at this point.\r\n",
	  "DATA bdat 2\nTXN_RESET\n", "", 0 },
	/* MAIL or RCPT between chunks: 503; the transaction goes on */
	{ "BDAT 1\r\naRCPT TO:<e@f.example>\r\nBDAT 1 LAST\r\nb", 0,
	  "250 2.0.0 Ok: 1 octets received\r\n"
	  "503 5.5.1 Invalid command: Command not allowed at this point.\r\n" QUEUED,
	  "DATA bdat 1\nBODY_END 2\n", "ab", 2 },
	/* a malformed count cannot be skipped: 501 and close */
	{ "BDAT\r\nQUIT\r\n", 0, "501 5.5.4 Invalid command arguments: Syntax: BDAT size [LAST]\r\n",
	  "CLOSE\n", "", 0 },
	{ "BDAT 5x\r\nQUIT\r\n", 0,
	  "501 5.5.4 Invalid command arguments: Syntax: BDAT size [LAST]\r\n", "CLOSE\n", "", 0 },
	{ "BDAT 5 LASTING\r\nQUIT\r\n", 0,
	  "501 5.5.4 Invalid command arguments: Syntax: BDAT size [LAST]\r\n", "CLOSE\n", "", 0 },
	{ "BDAT -1\r\nQUIT\r\n", 0,
	  "501 5.5.4 Invalid command arguments: Syntax: BDAT size [LAST]\r\n", "CLOSE\n", "", 0 },
	{ "BDAT 99999999999999999999 LAST\r\nQUIT\r\n", 0,
	  "501 5.5.4 Invalid command arguments: Syntax: BDAT size [LAST]\r\n", "CLOSE\n", "", 0 },
};

Test(smtp_bdat, chunks_at_every_split)
{
	struct proto_server_params p = params_chunking();
	char in[512], want[2048];
	size_t i, len;

	for (i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		size_t n = c->len != 0 ? c->len + strlen(c->in) : strlen(c->in);

		len = strlen(TXN);
		memcpy(in, TXN, len);
		memcpy(in + len, c->in, n + 1);
		len += n;
		tx_expect_split_invariant(&p, &accept_all, in, len);
		snprintf(want, sizeof(want), TXN_OUT "%s", c->out);
		cr_expect_str_eq(tx_a.out, want, "case %zu", i);
		snprintf(want, sizeof(want), TXN_LOG "%s", c->log);
		cr_expect_str_eq(tx_a.log, want, "case %zu", i);
		cr_expect_eq(tx_a.body_len, c->body_len, "case %zu", i);
		cr_expect(memcmp(tx_a.body, c->body, c->body_len) == 0, "case %zu: body", i);
	}
}

/* A refused BDAT still has its octets read: they never run as commands. */
Test(smtp_bdat, refused_chunks_are_read_and_dropped)
{
	struct proto_server_params p = params_chunking();
	static const struct {
		const char *in, *out, *log;
	} cases[] = {
		/* before HELO, before MAIL, before RCPT */
		{ "BDAT 6\r\nQUIT\r\nNOOP\r\n",
		  "503 5.5.1 Invalid command: Command not allowed at this point.\r\n250 2.0.0 Ok\r\n", "" },
		{ EHLO_C "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n",
		  "503 5.5.1 Invalid command: Command not allowed at this point.\r\n250 2.0.0 Ok\r\n",
		  "EHLO c.example\n" },
		{ EHLO_C "MAIL FROM:<a@b.example>\r\nBDAT 6\r\nQUIT\r\nNOOP\r\n",
		  "503 5.5.1 Invalid command: No recipient specified\r\n250 2.0.0 Ok\r\n",
		  "EHLO c.example\nMAIL <a@b.example> 0 0\n" },
	};
	char want[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tx_expect_split_invariant(&p, &accept_all, cases[i].in, strlen(cases[i].in));
		cr_expect(strlen(tx_a.out) > strlen(cases[i].out) &&
		          strcmp(tx_a.out + strlen(tx_a.out) - strlen(cases[i].out), cases[i].out) == 0,
		          "case %zu: got %s", i, tx_a.out);
		snprintf(want, sizeof(want), "%s", cases[i].log);
		cr_expect_str_eq(tx_a.log, want, "case %zu: QUIT in the chunk ran", i);
	}
	/* CHUNKING not offered: unrecognized, and still read */
	tx_expect_split_invariant(&params_default, &accept_all, TXN "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n",
	                          strlen(TXN "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"));
	cr_expect(strstr(tx_a.out, "\r\n500 5.5.1 Invalid command: Command unrecognized\r\n"
	                 "250 2.0.0 Ok\r\n") != NULL, "got %s", tx_a.out);
	cr_expect_str_eq(tx_a.log, TXN_LOG);
}

Test(smtp_bdat, size_limit_over_chunks)
{
	struct proto_server_params p = params_chunking();
	static const char in[] = TXN "BDAT 6\r\n123456BDAT 6\r\n789012BDAT 1 LAST\r\nxNOOP\r\n";

	p.size_max = 10;
	tx_expect_split_invariant(&p, &accept_all, in, sizeof(in) - 1);
	cr_expect(strstr(tx_a.out, "250 2.1.5 Ok\r\n250 2.0.0 Ok: 6 octets received\r\n"
	                 "552 5.3.4 Message too big for system\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "250 2.0.0 Ok\r\n") != NULL, "got %s", tx_a.out);
	cr_expect_str_eq(tx_a.log, TXN_LOG "DATA bdat 6\nTXN_RESET\n");
	cr_expect_eq(tx_a.body_len, 0);
	/* exactly the limit is fine */
	tx_run(&tx_a, &p, &accept_all, TXN "BDAT 10 LAST\r\n1234567890", strlen(TXN) + 24, 3);
	cr_expect_str_eq(tx_a.log, TXN_LOG "DATA bdat 10\nBODY_END 10\n");
	/* a first chunk over the limit never reaches the daemon */
	tx_run(&tx_a, &p, &accept_all, TXN "BDAT 11 LAST\r\n12345678901NOOP\r\n",
	       strlen(TXN) + 31, 0);
	cr_expect_str_eq(tx_a.log, TXN_LOG "TXN_RESET\n");
	cr_expect(strstr(tx_a.out, "\r\n552 5.3.4 Message too big for system\r\n250 2.0.0 Ok\r\n")
	          != NULL, "got %s", tx_a.out);
}

Test(smtp_bdat, daemon_refuses_the_first_chunk)
{
	struct proto_server_params p = params_chunking();
	struct policy pol = { .data_code = 451 };
	static const char in[] = TXN "BDAT 3\r\nabcBDAT 2 LAST\r\nde" "NOOP\r\n";

	tx_expect_split_invariant(&p, &pol, in, sizeof(in) - 1);
	/* the refusal is said after the chunk; the pipelined next chunk is dropped too */
	cr_expect_str_eq(tx_a.out, TXN_OUT "451 5.5.1 No thanks\r\n"
	                 "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "250 2.0.0 Ok\r\n");
	cr_expect_str_eq(tx_a.log, TXN_LOG "DATA bdat 3\nTXN_RESET\n");
}

Test(smtp_bdat, answer_421_closes_at_once)
{
	struct proto_server_params p = params_chunking();
	static const char in[] = TXN "BDAT 3 LAST\r\nabc";
	static struct proto_server s;
	struct proto_event ev;

	proto_server_init(&s, &p);
	proto_server_feed(&s, in, sizeof(in) - 1);
	while (proto_server_next(&s, &ev) != PROTO_EV_DATA)
		if (ev.kind == PROTO_EV_MAIL || ev.kind == PROTO_EV_RCPT)
			proto_server_answer(&s, 250, "2.0.0", "Ok");
	cr_expect_eq(ev.bdat, 1);
	cr_expect_eq(ev.size, 3);
	proto_server_answer(&s, 421, "4.3.0", "Queue unavailable");
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_CLOSE);
	cr_expect(strstr(s.out, "421 4.3.0 Queue unavailable\r\n") != NULL);
}

Test(smtp_bdat, two_messages_pipelined_and_data_after_bdat_message)
{
	struct proto_server_params p = params_chunking();
	static const char in[] = TXN "BDAT 2 LAST\r\nab"
		"MAIL FROM:<x@b.example> BODY=BINARYMIME\r\nRCPT TO:<y@d.example>\r\n"
		"BDAT 3 LAST\r\n\x01\x02\x03"
		"MAIL FROM:<z@b.example>\r\nRCPT TO:<y@d.example>\r\nDATA\r\n..q\r\n.\r\nQUIT\r\n";

	tx_expect_split_invariant(&p, &accept_all, in, sizeof(in) - 1);
	cr_expect_str_eq(tx_a.log, TXN_LOG "DATA bdat 2\nBODY_END 2\n"
	                 "MAIL <x@b.example> 0 1 binarymime\nRCPT <y@d.example>\nDATA bdat 3\n"
	                 "BODY_END 3\nMAIL <z@b.example> 0 0\nRCPT <y@d.example>\nDATA\n"
	                 "BODY_END 4\nQUIT\n");
	cr_expect_eq(tx_a.body_len, 9);
	cr_expect(memcmp(tx_a.body, "ab\x01\x02\x03.q\r\n", 9) == 0);
}
