/*
 * test/rules/test_errors.c - every refusal names file:line:column of the
 * offending token: (config text, wanted error) pairs, including statements
 * and options that are refused as "not supported yet".
 */
#include <criterion/criterion.h>
#include <net/if.h>
#include <stdio.h>

#include "test/rules/helpers.h"

#define OK_TAIL "action a maildir\nmatch for any action a\n"

static const struct {
	const char *text, *want;
} error_cases[] = {
	/* syntax */
	{ "listen\n", "t.conf:1:7: expected \"on\" after \"listen\", got end of line" },
	{ "listen at lo\n", "t.conf:1:8: expected \"on\" after \"listen\", got \"at\"" },
	{ "frobnicate on\n", "t.conf:1:1: unknown keyword \"frobnicate\"" },
	{ "{ a }\n", "t.conf:1:1: expected a statement, got \"{\"" },
	{ "action \"x\" maildir \"unterminated\n", "t.conf:1:20: unterminated string" },
	{ "listen on 127.0.0.1 (\n", "t.conf:1:21: unexpected character '('" },
	{ "match from any\n", "t.conf:1:15: expected \"action\" or \"reject\", got end of line" },
	{ "match from any for any action a reject\n",
	  "t.conf:1:33: expected end of line, got \"reject\"" },
	{ "match ! action a\n", "t.conf:1:7: \"!\" cannot negate \"action\"" },
	{ "match from any from local action a\n",
	  "t.conf:1:16: from already specified for this rule" },
	{ "match for any for\\\n  local action a\n",
	  "t.conf:1:15: for already specified for this rule" },
	{ "match from elsewhere action a\n",
	  "t.conf:1:12: expected any, local, socket, src or mail-from after \"from\", "
	  "got \"elsewhere\"" },
	{ "match for domain <t action a\n",
	  "t.conf:1:21: expected \">\" after the table name, got \"action\"" },
	{ "match frm any action a\n", "t.conf:1:7: unknown match option \"frm\"" },
	{ "table t { a, b\n", "t.conf:1:9: unterminated table: \"}\" expected" },
	{ "table t { a, b = c }\n",
	  "t.conf:1:16: a table holds values or key = value pairs, not both" },
	{ "table t { a = b, c }\n",
	  "t.conf:1:20: expected \"=\" in a key = value table, got \"}\"" },
	{ "table t nothing\n",
	  "t.conf:1:9: invalid table \"nothing\": expected { ... }, file:/path or /path" },
	{ "lan-addr = 1\n", "t.conf:1:1: invalid macro name \"lan-addr\"" },
	/* values */
	{ "listen on 127.0.0.1 port 70000\n", "t.conf:1:26: port 70000 out of range" },
	{ "listen on 127.0.0.1 port 0\n", "t.conf:1:26: port 0 out of range" },
	{ "listen on 127.0.0.1 port smtpx\n", "t.conf:1:26: invalid port \"smtpx\"" },
	{ "listen on 127.0.0.1 port 25 port 26\n", "t.conf:1:29: port already specified" },
	{ "listen on 127.0.0.1 colour blue\n", "t.conf:1:21: unknown listen option \"colour\"" },
	{ "listen on ::1 inet4\n",
	  "t.conf:1:11: address \"::1\" is not in the address family asked for" },
	{ "listen on nosuchif0\n", "t.conf:1:11: no such interface or address \"nosuchif0\"" },
	{ "p = 70000\nlisten on 127.0.0.1 port $p\n", "t.conf:2:26: port 70000 out of range" },
	{ "listen on $nope\n", "t.conf:1:11: macro \"nope\" is not defined" },
	{ "smtp max-message-size 10X\n", "t.conf:1:23: invalid size \"10X\"" },
	{ "smtp max-message-size 99999999999999999G\n",
	  "t.conf:1:23: size \"99999999999999999G\" out of range" },
	{ "queue path \"\"\n", "t.conf:1:12: queue path is empty" },
	{ "action r relay host smtp://h:99999\n", "t.conf:1:21: port 99999 out of range" },
	{ "action r relay host smtp://:25\n", "t.conf:1:21: relay URL \"smtp://:25\" has no host" },
	{ "action r relay host smtp://[::1\n", "t.conf:1:21: missing \"]\" in relay URL" },
	{ "action r maildir \"\"\n", "t.conf:1:18: maildir path is empty" },
	{ "action r deliver\n", "t.conf:1:10: unknown action type \"deliver\"" },
	{ "action r maildir /x extra\n", "t.conf:1:21: expected end of line, got \"extra\"" },
	{ "include \"nope.conf\"\n",
	  "t.conf:1:9: cannot read \"/base/nope.conf\": No such file or directory" },
	{ "table t file:/nonexistent/x\n",
	  "t.conf:1:9: cannot open table file \"/nonexistent/x\": No such file or directory" },
	{ "table t \"/nonexistent/y\"\n",
	  "t.conf:1:9: cannot open table file \"/nonexistent/y\": No such file or directory" },
	/* references (checked after the whole file is read) */
	{ "match from any for any action foo\n", "t.conf:1:31: unknown action \"foo\"" },
	{ "table t { a }\ntable t { b }\n" OK_TAIL, "t.conf:2:7: duplicate table \"t\"" },
	{ "action a relay\n" OK_TAIL, "t.conf:2:8: duplicate action \"a\"" },
	{ OK_TAIL "match from src <nets> for any action a\n", "t.conf:3:16: unknown table \"nets\"" },
	{ OK_TAIL "match from src \"foo\" for any action a\n",
	  "t.conf:3:16: \"foo\" is not an address or network" },
	{ "table n { 10.0.0.0/8, mx.example }\n" OK_TAIL "match from src <n> action a\n",
	  "t.conf:4:16: \"mx.example\" in table \"n\" is not an address or network" },
	{ "table m { a = b }\n" OK_TAIL "match for domain <m> action a\n",
	  "t.conf:4:18: table \"m\" holds key = value pairs and cannot be used in a match" },
	{ "listen on 127.0.0.1\n", "t.conf:2:1: no match rules, nothing to do" },
	{ "", "t.conf:1:1: no match rules, nothing to do" },
	/* not supported yet: refused at the keyword, never ignored */
	{ "pki mx.test cert \"/x\"\n", "t.conf:1:1: \"pki\" is not supported yet" },
	{ OK_TAIL "filter f proc-exec \"x\"\n", "t.conf:3:1: \"filter\" is not supported yet" },
	{ "ca x cert \"/x\"\n", "t.conf:1:1: \"ca\" is not supported yet" },
	{ "listen on 127.0.0.1 tls\n", "t.conf:1:21: listen option \"tls\" is not supported yet" },
	{ "listen on 127.0.0.1 port 465 smtps\n",
	  "t.conf:1:30: listen option \"smtps\" is not supported yet" },
	{ "listen on 127.0.0.1 auth\n", "t.conf:1:21: listen option \"auth\" is not supported yet" },
	{ "listen on 127.0.0.1 mask-src\n",
	  "t.conf:1:21: listen option \"mask-src\" is not supported yet" },
	{ "listen on socket filter f\n",
	  "t.conf:1:18: listen on socket option \"filter\" is not supported yet" },
	{ "action \"a\" mbox\n", "t.conf:1:12: action type \"mbox\" is not supported yet" },
	{ "action a mda \"/bin/x\"\n", "t.conf:1:10: action type \"mda\" is not supported yet" },
	{ "action a lmtp \"/x\"\n", "t.conf:1:10: action type \"lmtp\" is not supported yet" },
	{ "action a forward-only\n",
	  "t.conf:1:10: action type \"forward-only\" is not supported yet" },
	{ "action a maildir junk\n", "t.conf:1:18: maildir option \"junk\" is not supported yet" },
	{ "action a maildir \"~/M\" alias <x>\n",
	  "t.conf:1:24: maildir option \"alias\" is not supported yet" },
	{ "action r relay helo mx\n", "t.conf:1:16: relay option \"helo\" is not supported yet" },
	{ "action r relay host smtps://h\n",
	  "t.conf:1:21: relay scheme \"smtps\" is not supported yet" },
	{ "action r relay host lmtp://h\n",
	  "t.conf:1:21: relay scheme \"lmtp\" is not supported yet" },
	{ "action r relay host smtp+tls://bob@h auth <s>\n",
	  "t.conf:1:21: relay scheme \"smtp+tls\" is not supported yet" },
	{ "action r relay host smtp://bob@h\n",
	  "t.conf:1:21: relay host with a user name (authentication) is not supported yet" },
	{ "match auth from any for any action a\n",
	  "t.conf:1:7: match option \"auth\" is not supported yet" },
	{ "match from rdns action a\n", "t.conf:1:12: \"from rdns\" is not supported yet" },
	{ "match for domain regex \"x\" action a\n", "t.conf:1:18: \"regex\" is not supported yet" },
	{ "queue compression\n", "t.conf:1:7: queue option \"compression\" is not supported yet" },
	{ "smtp limit max-rcpt 10\n", "t.conf:1:6: smtp option \"limit\" is not supported yet" },
	{ "table d db:/etc/mail/domains.db\n",
	  "t.conf:1:9: table backend \"db\" is not supported yet" },
};

Test(errors, each_error_has_its_position)
{
	struct rules_config *c;
	char got[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX];
	size_t i;

	for (i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		c = helper_load(error_cases[i].text, got, sizeof got);
		cr_expect_null(c, "case %zu loaded, want error %s", i, error_cases[i].want);
		rules_free(c);
		cr_expect_str_eq(got, error_cases[i].want, "case %zu:\n%s got  %s\n want %s", i,
		                 error_cases[i].text, got, error_cases[i].want);
	}
}

Test(errors, format_without_a_place)
{
	struct rules_error err = { .file = "/etc/smtpd.conf", .message = "cannot read" };
	char buf[128];

	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/etc/smtpd.conf: cannot read");
	err.line = 3;
	err.column = 9;
	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/etc/smtpd.conf:3:9: cannot read");
}

Test(errors, missing_config_file)
{
	struct rules_error err;
	char buf[1024];

	cr_assert_null(rules_load_file("/nonexistent/smtpd.conf", &helper_params, &err));
	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/nonexistent/smtpd.conf: cannot read \"/nonexistent/smtpd.conf\": "
	                      "No such file or directory");
}
