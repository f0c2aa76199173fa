/*
 * test/proto/test_smtp_ext.c - tests of the SMTP extensions of
 * proto/smtp_server.c: the EHLO list per params, DSN parameters (RFC 3461)
 * with xtext, SMTPUTF8 (RFC 6531), BODY=BINARYMIME, AUTH= on MAIL, STARTTLS
 * (with the CVE-2011-0411 injection), AUTH exchanges, VRFY/EXPN, and the
 * octets a command may hold. Malformed input beside valid input; exact
 * replies asserted.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "proto/smtp_server.h"
#include "test/proto/server_harness.h"

#define EXT_ALL                                                                            \
	(PROTO_EXT_PIPELINING | PROTO_EXT_SIZE | PROTO_EXT_8BITMIME | PROTO_EXT_ENHANCED |     \
	 PROTO_EXT_DSN | PROTO_EXT_SMTPUTF8 | PROTO_EXT_CHUNKING | PROTO_EXT_BINARYMIME |      \
	 PROTO_EXT_STARTTLS | PROTO_EXT_HELP)

/* Every extension on, AUTH offered in plaintext (tests only). */
static struct proto_server_params
params_all(void)
{
	struct proto_server_params p = params_default;

	p.ext = EXT_ALL;
	p.auth_mechs = "PLAIN LOGIN";
	p.auth_plaintext = 1;
	return p;
}

/* Run in with params p and the default policy; returns tx_a. */
static struct tx *
run_with(const struct proto_server_params *p, const char *in)
{
	tx_run(&tx_a, p, &accept_all, in, strlen(in), 0);
	return &tx_a;
}

/* ---- EHLO advertises what the params say ---- */

Test(smtp_ext, ehlo_lists_every_extension_asked_for)
{
	struct proto_server_params p = params_all();

	run_with(&p, "EHLO c.example\r\n");
	cr_expect_str_eq(tx_a.out, BANNER "250-" HOST " Hello c.example\r\n"
	                 "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
	                 "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n"
	                 "250-BINARYMIME\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 HELP\r\n");
}

Test(smtp_ext, ehlo_per_params_table)
{
	static const struct {
		unsigned ext;
		int tls, plaintext;
		const char *mechs, *want;
	} cases[] = {
		{ 0, 0, 0, NULL, "250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
		  "250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n" },
		{ PROTO_EXT_HELP, 0, 0, NULL, "250 HELP\r\n" },
		{ PROTO_EXT_SIZE, 0, 0, NULL, "250 SIZE 35882577\r\n" },
		/* BINARYMIME needs CHUNKING (RFC 3030 3) */
		{ PROTO_EXT_BINARYMIME | PROTO_EXT_HELP, 0, 0, NULL, "250 HELP\r\n" },
		{ PROTO_EXT_CHUNKING | PROTO_EXT_BINARYMIME, 0, 0, NULL,
		  "250-CHUNKING\r\n250 BINARYMIME\r\n" },
		/* STARTTLS only before TLS; AUTH only under TLS unless plaintext */
		{ PROTO_EXT_STARTTLS | PROTO_EXT_HELP, 1, 0, NULL, "250 HELP\r\n" },
		{ PROTO_EXT_STARTTLS | PROTO_EXT_HELP, 0, 0, "PLAIN", "250-STARTTLS\r\n250 HELP\r\n" },
		{ PROTO_EXT_STARTTLS | PROTO_EXT_HELP, 1, 0, "PLAIN", "250-AUTH PLAIN\r\n250 HELP\r\n" },
		{ PROTO_EXT_HELP, 0, 1, "LOGIN PLAIN", "250-AUTH LOGIN PLAIN\r\n250 HELP\r\n" },
		{ PROTO_EXT_HELP, 1, 0, "", "250 HELP\r\n" },
		{ PROTO_EXT_DSN | PROTO_EXT_SMTPUTF8, 0, 0, NULL, "250-DSN\r\n250 SMTPUTF8\r\n" },
	};
	struct proto_server_params p = params_default;
	char want[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p.ext = cases[i].ext;
		p.tls = cases[i].tls;
		p.auth_plaintext = cases[i].plaintext;
		p.auth_mechs = cases[i].mechs;
		run_with(&p, "EHLO c.example\r\n");
		snprintf(want, sizeof(want), BANNER "250-" HOST " Hello c.example\r\n%s", cases[i].want);
		cr_expect_str_eq(tx_a.out, want, "case %zu", i);
	}
}

Test(smtp_ext, vrfy_and_expn_never_expose_users)
{
	struct tx *t = tx_simple(&accept_all, "VRFY root\r\nVRFY <postmaster@mx.example.org>\r\n"
	                         "EXPN staff\r\nEXPN\r\n");

	cr_expect_str_eq(t->out, BANNER
	                 "252 2.5.2 Cannot VRFY; try RCPT to attempt delivery\r\n"
	                 "252 2.5.2 Cannot VRFY; try RCPT to attempt delivery\r\n"
	                 "502 5.5.1 Sorry, we do not allow this operation\r\n"
	                 "502 5.5.1 Sorry, we do not allow this operation\r\n");
	cr_expect_str_eq(t->log, "", "no policy lookup for VRFY/EXPN");
}

/* ---- MAIL and RCPT parameters ---- */

/* Arrays, not pointers: Criterion hands parameters to a fresh process. */
struct param_case {
	char line[700];   /* MAIL line, or RCPT line after a good MAIL */
	char reply[120];  /* the exact reply */
	char log[700];    /* for accepted ones: the event line */
};

#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define R501(why) "501 5.5.4 Invalid command arguments: " why "\r\n"
#define X100 X64 X16 X16 "xxxx"

ParameterizedTestParameters(smtp_ext, mail_rcpt_parameters)
{
	static struct param_case cases[] = {
		/* DSN (RFC 3461): decoded values in the events */
		{ "MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ+2B1+3Dx", MAIL_OK,
		  "MAIL <a@b.example> 0 0 ret=2 envid=[QQ+1=x]" },
		{ "MAIL FROM:<a@b.example> ret=full envid=a+20b", MAIL_OK,
		  "MAIL <a@b.example> 0 0 ret=1 envid=[a b]" },
		{ "MAIL FROM:<a@b.example> ENVID=" X100, MAIL_OK,
		  "MAIL <a@b.example> 0 0 envid=[" X100 "]" },
		{ "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY", RCPT_OK,
		  "RCPT <c@d.example> notify=14" },
		{ "RCPT TO:<c@d.example> notify=never ORCPT=rfc822;c+40d.example", RCPT_OK,
		  "RCPT <c@d.example> notify=1 orcpt=[rfc822;c@d.example]" },
		{ "RCPT TO:<c@d.example> ORCPT=rfc822;+22a+20b+22@d.example", RCPT_OK,
		  "RCPT <c@d.example> orcpt=[rfc822;\"a b\"@d.example]" },
		/* AUTH= (RFC 4954 5): xtext, bounded, exposed */
		{ "MAIL FROM:<a@b.example> AUTH=<>", MAIL_OK, "MAIL <a@b.example> 0 0 auth=[<>]" },
		{ "MAIL FROM:<a@b.example> AUTH=e+2Bf@b.example", MAIL_OK,
		  "MAIL <a@b.example> 0 0 auth=[e+f@b.example]" },
		/* xtext with control octets: Exim CVE-2020-28021/28026 class */
		{ "MAIL FROM:<a@b.example> ENVID=a+0Db", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+0Ab", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+00b", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+7F", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+C3+A9", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+4", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+GG", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a+", R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=x" X100, R501("ENVID: must be xtext of at most 100 characters"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=", R501("ENVID: malformed"), "" },
		{ "MAIL FROM:<a@b.example> ENVID=a=b", R501("ENVID: malformed"), "" },
		{ "MAIL FROM:<a@b.example> AUTH=a+0D+0AMAIL", R501("AUTH: must be xtext of at most 500 characters"), "" },
		{ "MAIL FROM:<a@b.example> AUTH=" X100 X100 X100 X100 X100 "x",
		  R501("AUTH: must be xtext of at most 500 characters"), "" },
		{ "MAIL FROM:<a@b.example> RET=ALL", R501("RET: must be FULL or HDRS"), "" },
		{ "MAIL FROM:<a@b.example> RET", R501("RET: must be FULL or HDRS"), "" },
		{ "RCPT TO:<c@d.example> NOTIFY=NEVER,SUCCESS",
		  R501("NOTIFY: must be NEVER or a list of SUCCESS, FAILURE, DELAY"), "" },
		{ "RCPT TO:<c@d.example> NOTIFY=SUCCESS,SUCCESS",
		  R501("NOTIFY: must be NEVER or a list of SUCCESS, FAILURE, DELAY"), "" },
		{ "RCPT TO:<c@d.example> NOTIFY=SUCCESS,,DELAY",
		  R501("NOTIFY: must be NEVER or a list of SUCCESS, FAILURE, DELAY"), "" },
		{ "RCPT TO:<c@d.example> NOTIFY=ALWAYS",
		  R501("NOTIFY: must be NEVER or a list of SUCCESS, FAILURE, DELAY"), "" },
		{ "RCPT TO:<c@d.example> ORCPT=c@d.example",
		  R501("ORCPT: must be addr-type;xtext of at most 500 characters"), "" },
		{ "RCPT TO:<c@d.example> ORCPT=;c@d.example",
		  R501("ORCPT: must be addr-type;xtext of at most 500 characters"), "" },
		{ "RCPT TO:<c@d.example> ORCPT=rfc822;c+0A@d.example",
		  R501("ORCPT: must be addr-type;xtext of at most 500 characters"), "" },
		{ "RCPT TO:<c@d.example> ORCPT=rfc822;" X100 X100 X100 X100 X100,
		  R501("ORCPT: must be addr-type;xtext of at most 500 characters"), "" },
		/* repeated parameters: 501; unknown ones or on the wrong command: 555 */
		{ "MAIL FROM:<a@b.example> RET=FULL RET=HDRS", R501("RET: given twice"), "" },
		{ "MAIL FROM:<a@b.example> SIZE=1 size=1", R501("size: given twice"), "" },
		{ "MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8", R501("SMTPUTF8: given twice"), "" },
		{ "RCPT TO:<c@d.example> NOTIFY=NEVER NOTIFY=NEVER", R501("NOTIFY: given twice"), "" },
		{ "MAIL FROM:<a@b.example> NOTIFY=NEVER",
		  "555 5.5.4 Invalid command arguments: Unsupported option NOTIFY\r\n", "" },
		{ "RCPT TO:<c@d.example> RET=FULL",
		  "555 5.5.4 Invalid command arguments: Unsupported option RET\r\n", "" },
		{ "MAIL FROM:<a@b.example> XYZ=1",
		  "555 5.5.4 Invalid command arguments: Unsupported option XYZ\r\n", "" },
		{ "MAIL FROM:<a@b.example> " X64 "=1",
		  "555 5.5.4 Invalid command arguments: Unsupported option xxxxxxxxxxxxxxxxxxxxxxx\r\n",
		  "" },
		{ "MAIL FROM:<a@b.example> -X=1", R501("-X: malformed"), "" },
		/* BODY (RFC 6152, RFC 3030) and SMTPUTF8 (RFC 6531 3.4) */
		{ "MAIL FROM:<a@b.example> BODY=BINARYMIME", MAIL_OK,
		  "MAIL <a@b.example> 0 1 binarymime" },
		{ "MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8", MAIL_OK,
		  "MAIL <a@b.example> 0 1 smtputf8=1 utf8=0" },
		{ "MAIL FROM:<a@b.example> SMTPUTF8=YES", R501("SMTPUTF8: takes no value"), "" },
		{ "MAIL FROM:<a@b.example> BODY=QUANTUM", R501("BODY: must be 7BIT or 8BITMIME"), "" },
	};

	return cr_make_param_array(struct param_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct param_case *c, smtp_ext, mail_rcpt_parameters)
{
	struct proto_server_params p = params_all();
	int rcpt = strncasecmp(c->line, "RCPT", 4) == 0;
	char in[1024], want_log[800];

	snprintf(in, sizeof(in), "EHLO c.example\r\n%s%s\r\n",
	         rcpt ? "MAIL FROM:<a@b.example>\r\n" : "", c->line);
	run_with(&p, in);
	cr_expect_str_eq(tx_last_reply(&tx_a), c->reply, "%s", c->line);
	if (c->log[0] != '\0') {
		snprintf(want_log, sizeof(want_log), "%s\n", c->log);
		cr_expect(strstr(tx_a.log, want_log) != NULL, "%s: events %s, want %s", c->line,
		          tx_a.log, want_log);
	} else {
		cr_expect(strstr(tx_a.log, rcpt ? "RCPT" : "MAIL") == NULL,
		          "%s: a refused command reached policy: %s", c->line, tx_a.log);
	}
}

Test(smtp_ext, dsn_parameters_need_dsn_offered)
{
	struct tx *t = tx_simple(&accept_all, "EHLO c.example\r\n"
	                         "MAIL FROM:<a@b.example> RET=FULL\r\n"
	                         "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
	                         "MAIL FROM:<a@b.example> SMTPUTF8\r\n"
	                         "MAIL FROM:<a@b.example> AUTH=<>\r\n");

	cr_expect(strstr(t->out, "\r\n555 5.5.4 Invalid command arguments: Unsupported option RET\r\n"
	                 R501("BODY: must be 7BIT or 8BITMIME")
	                 "555 5.5.4 Invalid command arguments: Unsupported option SMTPUTF8\r\n"
	                 "555 5.5.4 Invalid command arguments: Unsupported option AUTH\r\n") != NULL,
	          "got %s", t->out);
}

/* ---- SMTPUTF8 and 8-bit octets in commands ---- */

Test(smtp_ext, smtputf8_addresses_only_with_the_parameter)
{
	struct proto_server_params p = params_all();
	static const struct {
		const char *lines, *reply, *log;
	} cases[] = {
		{ "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc\x63her.example> SMTPUTF8\r\n", MAIL_OK,
		  "MAIL <j\xc3\xb6rg@b\xc3\xbc\x63her.example> 0 0 smtputf8=1 utf8=1\n" },
		{ "MAIL FROM:<j\xc3\xb6rg@b.example>\r\n",
		  "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n", "" },
		{ "MAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<\xe5\xb0\x8f@\xe4\xbe\x8b.example>\r\n",
		  RCPT_OK, "RCPT <\xe5\xb0\x8f@\xe4\xbe\x8b.example> utf8\n" },
		{ "MAIL FROM:<a@b.example>\r\nRCPT TO:<\xe5\xb0\x8f@b.example>\r\n",
		  "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n", "" },
		/* not UTF-8: overlong "/", lone continuation, surrogate, > U+10FFFF */
		{ "MAIL FROM:<\xc0\xaf@b.example> SMTPUTF8\r\n",
		  "500 5.5.2 Syntax error: invalid UTF-8 in command\r\n", "" },
		{ "MAIL FROM:<\x80@b.example> SMTPUTF8\r\n",
		  "500 5.5.2 Syntax error: invalid UTF-8 in command\r\n", "" },
		{ "MAIL FROM:<\xed\xa0\x80@b.example> SMTPUTF8\r\n",
		  "500 5.5.2 Syntax error: invalid UTF-8 in command\r\n", "" },
		{ "MAIL FROM:<\xf4\x90\x80\x80@b.example> SMTPUTF8\r\n",
		  "500 5.5.2 Syntax error: invalid UTF-8 in command\r\n", "" },
		/* 8-bit only in MAIL and RCPT, never in other commands */
		{ "NOOP \xc3\xa9\r\n", "500 5.5.2 Syntax error: 8-bit character in command\r\n", "" },
		{ "EHLO \xc3\xa9.example\r\n", "500 5.5.2 Syntax error: 8-bit character in command\r\n",
		  "" },
	};
	char in[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "EHLO c.example\r\n%s", cases[i].lines);
		run_with(&p, in);
		cr_expect_str_eq(tx_last_reply(&tx_a), cases[i].reply, "case %zu", i);
		if (cases[i].log[0] != '\0')
			cr_expect(strstr(tx_a.log, cases[i].log) != NULL, "case %zu: %s", i, tx_a.log);
	}
	/* without SMTPUTF8 offered, 8-bit is refused in any command */
	p.ext &= ~PROTO_EXT_SMTPUTF8;
	run_with(&p, "EHLO c.example\r\nMAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n");
	cr_expect_str_eq(tx_last_reply(&tx_a),
	                 "500 5.5.2 Syntax error: 8-bit character in command\r\n");
}

Test(smtp_ext, nul_and_bare_cr_in_commands)
{
	static const char in[] = "EHLO c.example\r\nNOOP a\rb\r\nMAIL FROM:<a@b.example>\r\r\n"
	                         "NO\0OP\r\nRSET\r\n";
	struct tx *t;

	tx_run(&tx_a, &params_default, &accept_all, in, sizeof(in) - 1, 0);
	t = &tx_a;
	cr_expect(strstr(t->out, "250 HELP\r\n"
	                 "500 5.5.2 Syntax error: bare <CR> in command\r\n"
	                 "500 5.5.2 Syntax error: bare <CR> in command\r\n"
	                 "500 5.5.2 Syntax error: NUL in command\r\n"
	                 "250 2.0.0 Reset state\r\n") != NULL, "got %s", t->out);
	cr_expect(strstr(t->log, "MAIL") == NULL);
}

/* CVE-2020-7247 class: shell metacharacters in addresses. Only what the RFC
 * 5321 grammar allows gets through, never a control octet or a bare word. */
Test(smtp_ext, shell_metacharacters_in_addresses)
{
	static const struct {
		const char *line, *reply;
	} cases[] = {
		{ "MAIL FROM:<;sleep 66;>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<;sleep 66;@b.example>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<a@b.example;id>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<$(id)@b.example>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<a@$(id).example>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<a\tb@c.example>", "553 5.1.7 Sender address syntax error\r\n" },
		{ "MAIL FROM:<root@b.example\r>", "500 5.5.2 Syntax error: bare <CR> in command\r\n" },
		{ "RCPT TO:<root;echo pwned>", "553 5.1.3 Recipient address syntax error\r\n" },
		{ "RCPT TO:<`id`@d.example>", "250 2.1.5 Ok\r\n" },  /* atext: legal, quoted later */
		{ "RCPT TO:<\"a;b c\"@d.example>", "250 2.1.5 Ok\r\n" },
		{ "RCPT TO:<a|b@d.example>", "250 2.1.5 Ok\r\n" },
	};
	char in[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "EHLO c.example\r\nMAIL FROM:<s@b.example>\r\n%s\r\n",
		         cases[i].line);
		if (cases[i].line[0] == 'M')
			snprintf(in, sizeof(in), "EHLO c.example\r\n%s\r\n", cases[i].line);
		tx_simple(&accept_all, in);
		cr_expect_str_eq(tx_last_reply(&tx_a), cases[i].reply, "%s", cases[i].line);
	}
}

/* ---- BODY=BINARYMIME needs BDAT ---- */

Test(smtp_ext, binarymime_refuses_data)
{
	static const char in[] = "EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
	                         "RCPT TO:<c@d.example>\r\nDATA\r\nBDAT 3 LAST\r\n\x00\xff\n";
	struct proto_server_params p = params_all();

	tx_run(&tx_a, &p, &accept_all, in, sizeof(in) - 1, 0);
	cr_expect(strstr(tx_a.out, "503 5.5.1 Invalid command: BINARYMIME requires BDAT\r\n"
	                 "250 2.0.0 Ok: queued\r\n") != NULL, "got %s", tx_a.out);
	cr_expect(strstr(tx_a.log, "DATA bdat 3\nBODY_END 3\n") != NULL, "got %s", tx_a.log);
}

/* ---- STARTTLS (RFC 3207) ---- */

Test(smtp_ext, starttls_discards_pipelined_commands)
{
	static const char in[] = "EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\n"
	                         "RCPT TO:<victim@y.example>\r\n";
	static const char after[] = "MAIL FROM:<a@b.example>\r\nEHLO c.example\r\nSTARTTLS\r\n";
	struct proto_server_params p = params_default;
	static struct proto_server s;
	struct proto_event ev;

	p.ext = PROTO_EXT_STARTTLS | PROTO_EXT_HELP;
	proto_server_init(&s, &p);
	proto_server_feed(&s, in, sizeof(in) - 1);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_HELO);
	cr_assert_eq(proto_server_next(&s, &ev), PROTO_EV_STARTTLS);
	cr_expect_eq(s.in_len, 0, "the pipelined MAIL and RCPT are gone before the answer");
	proto_server_answer(&s, 220, "2.0.0", "Ready to start TLS");
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_WAIT);
	/* plaintext that arrives before the handshake is done is dropped too */
	proto_server_feed(&s, "NOOP\r\n", 6);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_WAIT);
	cr_expect(strstr(s.out, "220 2.0.0 Ready to start TLS\r\n") != NULL);
	proto_server_out_sent(&s, s.out_len);
	proto_server_tls_done(&s);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_NEED_MORE);
	cr_expect_eq(s.out_len, 0, "nothing answered for the dropped commands");
	/* RFC 3207 4.2: the client must say EHLO again; STARTTLS is gone */
	proto_server_feed(&s, after, strlen(after));
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_HELO);
	cr_expect_eq(proto_server_next(&s, &ev), PROTO_EV_NEED_MORE);
	cr_expect_str_eq(s.out, "503 5.5.1 Invalid command: Command not allowed at this point.\r\n"
	                 "250-" HOST " Hello c.example\r\n250 HELP\r\n"
	                 "503 5.5.1 Invalid command: Channel already secured\r\n");
}

Test(smtp_ext, starttls_in_a_transcript)
{
	struct proto_server_params p = params_default;
	struct policy pol = { 0 };

	p.ext = PROTO_EXT_STARTTLS | PROTO_EXT_HELP;
	tx_run(&tx_a, &p, &pol, "EHLO c.example\r\nSTARTTLS\r\nQUIT\r\n", 32, 0);
	cr_expect_str_eq(tx_a.out, BANNER "250-" HOST " Hello c.example\r\n250-STARTTLS\r\n"
	                 "250 HELP\r\n220 2.0.0 Ready to start TLS\r\n");
	cr_expect_str_eq(tx_a.log, "EHLO c.example\nSTARTTLS\nTLS\n", "QUIT was pipelined: gone");
	/* refused by the daemon (no certificate): 454, no TLS, the session goes on */
	pol.starttls_code = 454;
	tx_run(&tx_a, &p, &pol, "EHLO c.example\r\nSTARTTLS\r\n", 26, 0);
	tx_run(&tx_b, &p, &pol, "EHLO c.example\r\nSTARTTLS\r\nNOOP\r\n", 32, 26);
	cr_expect_str_eq(tx_b.out, BANNER "250-" HOST " Hello c.example\r\n250-STARTTLS\r\n"
	                 "250 HELP\r\n454 4.7.0 TLS not available\r\n250 2.0.0 Ok\r\n");
	cr_expect_eq(tx_b.tls, 0);
}

Test(smtp_ext, starttls_refusals)
{
	struct proto_server_params p = params_default;
	static const struct {
		const char *lines, *reply;
	} cases[] = {
		{ "STARTTLS\r\n", "503 5.5.1 Invalid command: Command not allowed at this point.\r\n" },
		{ "EHLO c.example\r\nSTARTTLS now\r\n",
		  "501 5.5.4 Invalid command arguments: No parameters allowed\r\n" },
		{ "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n",
		  "503 5.5.1 Invalid command: Command not allowed at this point.\r\n" },
	};
	size_t i;

	p.ext = PROTO_EXT_STARTTLS | PROTO_EXT_HELP;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_with(&p, cases[i].lines);
		cr_expect_str_eq(tx_last_reply(&tx_a), cases[i].reply, "case %zu", i);
		cr_expect_eq(tx_a.tls, 0);
	}
	run_with(&params_default, "EHLO c.example\r\nSTARTTLS\r\n");
	cr_expect_str_eq(tx_last_reply(&tx_a), "503 5.5.1 Invalid command: Command not supported\r\n");
	p.tls = 1;  /* smtps: already secure */
	run_with(&p, "EHLO c.example\r\nSTARTTLS\r\n");
	cr_expect_str_eq(tx_last_reply(&tx_a), "503 5.5.1 Invalid command: Channel already secured\r\n");
}

/* ---- AUTH (RFC 4954) ---- */

Test(smtp_ext, auth_exchanges)
{
	struct proto_server_params p = params_all();
	static const struct {
		const char *lines, *out, *log;
	} cases[] = {
		{ "AUTH PLAIN " AUTH_GOOD "\r\n", "235 2.0.0 Authentication succeeded\r\n",
		  "AUTH PLAIN " AUTH_GOOD "\n" },
		{ "AUTH PLAIN\r\n" AUTH_GOOD "\r\n", "334 \r\n235 2.0.0 Authentication succeeded\r\n",
		  "AUTH PLAIN -\nAUTH_DATA [" AUTH_GOOD "]\n" },
		/* the line after 334 is never a command */
		{ "AUTH PLAIN\r\nQUIT\r\nNOOP\r\n",
		  "334 \r\n535 5.7.8 Authentication failed\r\n250 2.0.0 Ok\r\n",
		  "AUTH PLAIN -\nAUTH_DATA [QUIT]\n" },
		{ "AUTH PLAIN\r\n*\r\n", "334 \r\n501 5.7.0 Authentication cancelled\r\n",
		  "AUTH PLAIN -\nAUTH_DATA [*]\n" },
		{ "AUTH CRAM-MD5\r\n", "504 5.7.4 Security features not supported\r\n",
		  "AUTH CRAM-MD5 -\n" },
		{ "AUTH\r\n", "501 5.5.4 Invalid command arguments: No parameters given\r\n", "" },
		{ "AUTH PLAIN " AUTH_GOOD "\r\nAUTH PLAIN " AUTH_GOOD "\r\n",
		  "235 2.0.0 Authentication succeeded\r\n"
		  "503 5.5.1 Invalid command: Already authenticated\r\n",
		  "AUTH PLAIN " AUTH_GOOD "\n" },
		{ "MAIL FROM:<a@b.example>\r\nAUTH PLAIN\r\n",
		  "250 2.1.0 Ok\r\n503 5.5.1 Invalid command: Command not allowed at this point.\r\n",
		  "MAIL <a@b.example> 0 0\n" },
	};
	char in[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "EHLO c.example\r\n%s", cases[i].lines);
		snprintf(want, sizeof(want), "250 HELP\r\n%s", cases[i].out);
		tx_expect_split_invariant(&p, &accept_all, in, strlen(in));
		cr_expect(strstr(tx_a.out, want) != NULL, "case %zu: got %s", i, tx_a.out);
		snprintf(want, sizeof(want), "EHLO c.example\n%s", cases[i].log);
		cr_expect_str_eq(tx_a.log, want, "case %zu", i);
	}
	/* not under TLS and not allowed in plaintext: not offered */
	p.auth_plaintext = 0;
	run_with(&p, "EHLO c.example\r\nAUTH PLAIN " AUTH_GOOD "\r\n");
	cr_expect_str_eq(tx_last_reply(&tx_a), "503 5.5.1 Invalid command: Command not supported\r\n");
}
