/*
 * test/proto/test_smtp_command.c - tests of proto/smtp_command.c: verb
 * splitting, the MAIL/RCPT path grammar with what it hands back (address,
 * parameters), mailbox validity and the MAIL parameters, as tables of
 * got/want with malformed input beside valid input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/smtp_command.h"

Test(smtp_command, split)
{
	static const struct {
		const char *line, *verb, *args;
	} cases[] = {
		{ "NOOP", "NOOP", "" },
		{ "MAIL FROM:<a@b.example> SIZE=1", "MAIL", "FROM:<a@b.example> SIZE=1" },
		{ "  \tRCPT \t TO:<x@y.example>", "RCPT", "TO:<x@y.example>" },
		{ "", "", "" },
		{ "   ", "", "" },
	};
	char line[128], *verb, *args;
	size_t i, verb_len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "%s", cases[i].line);
		args = proto_cmd_split(line, &verb, &verb_len);
		cr_expect_eq(verb_len, strlen(cases[i].verb), "%s: verb length %zu", cases[i].line,
		             verb_len);
		cr_expect(strncmp(verb, cases[i].verb, verb_len) == 0, "%s: verb", cases[i].line);
		cr_expect_str_eq(args, cases[i].args, "%s", cases[i].line);
	}
}

Test(smtp_command, path_results)
{
	static const struct {
		const char *args, *keyword;
		unsigned flags;
		enum proto_cmd_result want;
		const char *addr, *params;
	} cases[] = {
		{ "FROM:<a@b.example>", "FROM:", PROTO_PATH_NULL_OK, PROTO_CMD_OK, "a@b.example", "" },
		{ "from:<a@b.example>  SIZE=5 BODY=7BIT", "FROM:", 0, PROTO_CMD_OK, "a@b.example",
		  "SIZE=5 BODY=7BIT" },
		{ "FROM:   <>", "FROM:", PROTO_PATH_NULL_OK, PROTO_CMD_OK, "", "" },
		{ "FROM:<>", "FROM:", 0, PROTO_CMD_BAD_PATH, NULL, NULL },
		{ "TO:<@a.example,@b.example:c@d.example>", "TO:", 0, PROTO_CMD_OK, "c@d.example",
		  "" },
		{ "TO:<@a.example;@b.example:c@d.example>", "TO:", 0, PROTO_CMD_BAD_PATH, NULL, NULL },
		{ "TO:<@a.example,b.example:c@d.example>", "TO:", 0, PROTO_CMD_BAD_PATH, NULL, NULL },
		{ "TO:<postmaster>", "TO:", PROTO_PATH_POSTMASTER_OK, PROTO_CMD_OK, "postmaster", "" },
		{ "TO:<postmaster>", "TO:", 0, PROTO_CMD_BAD_PATH, NULL, NULL },
		{ "TO:<postmaster@>", "TO:", PROTO_PATH_POSTMASTER_OK, PROTO_CMD_BAD_PATH, NULL, NULL },
		{ "TO:<\"x>y\"@d.example> A=B", "TO:", 0, PROTO_CMD_OK, "\"x>y\"@d.example", "A=B" },
		{ "TO:<a@b.example>\tX", "TO:", 0, PROTO_CMD_OK, "a@b.example", "X" },
		{ "TO:<a@b.example>X", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
		{ "TO:a@b.example", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
		{ "TO:\t<a@b.example>", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
		{ "TO<a@b.example>", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
		{ "TO:<a@b.example", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
		{ "", "TO:", 0, PROTO_CMD_SYNTAX, NULL, NULL },
	};
	char line[256], *addr, *params;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum proto_cmd_result r;

		snprintf(line, sizeof(line), "%s", cases[i].args);
		r = proto_cmd_path(line, cases[i].keyword, cases[i].flags, &addr, &params);
		cr_expect_eq(r, cases[i].want, "%s: got %d, want %d", cases[i].args, r,
		             cases[i].want);
		if (r != PROTO_CMD_OK || cases[i].want != PROTO_CMD_OK)
			continue;
		cr_expect_str_eq(addr, cases[i].addr, "%s", cases[i].args);
		cr_expect_str_eq(params, cases[i].params, "%s", cases[i].args);
	}
}

Test(smtp_command, mailbox_valid)
{
	static const struct {
		const char *addr;
		int want;
	} cases[] = {
		{ "a@b", 1 },
		{ "a.b.c@d-e.f9", 1 },
		{ "\"\"@b.example", 1 },
		{ "\"a\\ b\"@b.example", 1 },
		{ "\"a\\\x01\"@b.example", 0 },
		{ "\"a\\\"@b.example", 0 },
		{ "a@[127.0.0.1]", 1 },
		{ "a@[IPV6:::1]", 1 },
		{ "a@[IPv6:::ffff:192.0.2.1]", 1 },
		{ "a@[IPv6:1:2:3:4:5:6:7:8:9]", 0 },
		{ "a@[127.0.0.1", 0 },
		{ "a@[01.2.3.4]", 0 },
		{ "a@1.2.3.4", 1 },   /* digits are Let-dig: a legal, if odd, domain */
		{ "a@b-", 0 },
		{ "a@b.-c", 0 },
		{ "a@", 0 },
		{ "@b", 0 },
		{ "", 0 },
		{ "a(b)@c", 0 },
		{ "a,b@c", 0 },
		{ "a[b@c", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(proto_cmd_mailbox_valid(cases[i].addr, 0), cases[i].want,
		             "%s: want %d", cases[i].addr, cases[i].want);
	cr_expect_eq(proto_cmd_mailbox_valid("POSTMASTER", PROTO_PATH_POSTMASTER_OK), 1);
	cr_expect_eq(proto_cmd_mailbox_valid("postmasters", PROTO_PATH_POSTMASTER_OK), 0);
}

Test(smtp_command, mail_params)
{
	static const struct {
		const char *params;
		enum proto_cmd_result want;
		unsigned long long size;
		int body8;
	} cases[] = {
		{ "", PROTO_CMD_OK, 0, 0 },
		{ "SIZE=12345", PROTO_CMD_OK, 12345, 0 },
		{ "size=1 BODY=8bitmime", PROTO_CMD_OK, 1, 1 },
		{ "BODY=8BITMIME  \tBODY=7BIT", PROTO_CMD_DUP_PARAM, 0, 0 },
		{ "SIZE=1 size=2", PROTO_CMD_DUP_PARAM, 0, 0 },
		{ "SIZE=18446744073709551615", PROTO_CMD_OK, 18446744073709551615ull, 0 },
		{ "SIZE=18446744073709551616", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "SIZE=99999999999999999999", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "SIZE=+1", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "SIZE= 1", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "SIZE=1x", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "BODY=", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "BODY=8BIT", PROTO_CMD_BAD_PARAM, 0, 0 },
		{ "RET=HDRS", PROTO_CMD_UNKNOWN_PARAM, 0, 0 },
		{ "SIZE=1 ENVID=x", PROTO_CMD_UNKNOWN_PARAM, 0, 0 },
		{ "SIZE=1\x7f", PROTO_CMD_BAD_PARAM, 0, 0 },
	};
	char line[128];
	uint64_t size;
	int body8;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum proto_cmd_result r;

		snprintf(line, sizeof(line), "%s", cases[i].params);
		r = proto_cmd_mail_params(line, &size, &body8);
		cr_expect_eq(r, cases[i].want, "%s: got %d, want %d", cases[i].params, r,
		             cases[i].want);
		if (r != PROTO_CMD_OK)
			continue;
		cr_expect_eq(size, cases[i].size, "%s: size %llu", cases[i].params,
		             (unsigned long long)size);
		cr_expect_eq(body8, cases[i].body8, "%s: body8", cases[i].params);
	}
}
