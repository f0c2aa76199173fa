/*
 * test/rules/test_dump.c - rules_dump() (smtpd -n -v): the whole text for
 * a small config with one of each thing a postmaster reads there (settings
 * that differ from the defaults, listeners, named tables with their keys
 * but never a map's values, actions with their resolved ttl, rules with
 * each criterion under its stage, negations, regex, inline tables and the
 * "(default)" from/for), a long table cut short, the embedded default
 * configuration's shape, and a config rules/ cannot decide.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

/* rules_dump() of text loaded as t.conf, in a string to free. */
static char *
dump_text(const char *text)
{
	struct rules_config *c;
	char msg[1024], *buf = NULL;
	size_t len = 0;
	FILE *f;

	c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	rules_dump(c, f);
	fclose(f);
	rules_free(c);
	return buf;
}

static const char dump_conf[] =
	"queue ttl 2d\n"                                                            /* 1 */
	"smtp max-message-size 10M\n"                                               /* 2 */
	"smtp limit max-rcpt 500\n"                                                 /* 3 */
	"listen on 127.0.0.1 port 25\n"                                             /* 4 */
	"listen on ::1 port 587 tag SUBMIT hostname mail.example.org no-dsn\n"      /* 5 */
	"table trusted { 192.0.2.0/24, 2001:db8::/32 }\n"                           /* 6 */
	"table users { bob, alice }\n"                                              /* 7 */
	"table spammers { \"^spam\", \"(?i)^Bulk\" }\n"                             /* 8 */
	"table secrets { bob = \"hunter2\" }\n"                                     /* 9 */
	"action \"local\" maildir\n"                                                /* 10 */
	"action \"box\" mbox\n"                                                     /* 11 */
	"action \"out\" relay host smtp://[2001:db8::25]:2525 ttl 1h\n"             /* 12 */
	"action \"mx\" relay\n"                                                     /* 13 */
	"match from src <trusted> for any action \"out\"\n"                         /* 14 */
	"match !from local tag SUBMIT !tls for any reject\n"                        /* 15 */
	"match from any helo regex { \"^\\[\", \"^localhost$\" } "
	"for domain { example.org, example.net } reject\n"                          /* 16 */
	"match from any mail-from regex <spammers> for any reject\n"                /* 17 */
	"match for rcpt-to { postmaster@mx.test } action \"box\"\n"                 /* 18 */
	"match auth <users> for any action \"mx\"\n"                                /* 19 */
	"match for local action \"local\"\n";                                       /* 20 */

static const char dump_want[] =
	"hostname mx.test\n"
	"settings that differ from the defaults:\n"
	"  queue ttl 2d\n"
	"  smtp max-message-size 10M\n"
	"  smtp limit max-rcpt 500\n"
	"listeners (2):\n"
	"  listener 1 (line 4): 127.0.0.1 port 25\n"
	"  listener 2 (line 5): ::1 port 587 tag SUBMIT hostname mail.example.org no-dsn\n"
	"tables (4):\n"
	"  <trusted> (line 6): list, 2 entries: 192.0.2.0/24, 2001:db8::/32\n"
	"  <users> (line 7): list, 2 entries: bob, alice\n"
	"  <spammers> (line 8): list, 2 entries: \"^spam\", \"(?i)^Bulk\"\n"
	"  <secrets> (line 9): map, 1 entry (keys): bob\n"
	"actions (4):\n"
	"  \"local\" (line 10): maildir ~/Maildir, ttl 2d\n"
	"  \"box\" (line 11): mbox /var/mail/USER, ttl 2d\n"
	"  \"out\" (line 12): relay host smtp://[2001:db8::25]:2525, ttl 1h\n"
	"  \"mx\" (line 13): relay via MX, ttl 2d\n"
	"rules (7), the first that matches decides:\n"
	"  rule 1 (t.conf:14) -> action \"out\"\n"
	"    session: from src <trusted>\n"
	"    RCPT:    for any\n"
	"  rule 2 (t.conf:15) -> reject\n"
	"    session: tag SUBMIT, !from local, !tls\n"
	"    RCPT:    for any\n"
	"  rule 3 (t.conf:16) -> reject\n"
	"    session: from any, helo regex { \"^\\[\", \"^localhost$\" }\n"
	"    RCPT:    for domain { example.org, example.net }\n"
	"  rule 4 (t.conf:17) -> reject\n"
	"    session: from any\n"
	"    MAIL:    mail-from regex <spammers>\n"
	"    RCPT:    for any\n"
	"  rule 5 (t.conf:18) -> action \"box\"\n"
	"    session: from local (default)\n"
	"    RCPT:    for any, rcpt-to postmaster@mx.test\n"
	"  rule 6 (t.conf:19) -> action \"mx\"\n"
	"    session: from local (default), auth <users>\n"
	"    RCPT:    for any\n"
	"  rule 7 (t.conf:20) -> action \"local\"\n"
	"    session: from local (default)\n"
	"    RCPT:    for local\n"
	"no rule matches -> refused with 550 5.1.1 Invalid recipient: <the recipient>\n";

Test(dump, whole_config)
{
	char *got = dump_text(dump_conf);

	cr_expect_str_eq(got, dump_want);
	cr_expect_null(strstr(got, "hunter2"), "a map's values are never shown");
	free(got);
}

/* Defaults everywhere; the left-out "for" is "for local (default)". */
Test(dump, defaults_made_explicit)
{
	char *got = dump_text("action a maildir \"/m/%{rcpt.user}\" user bob\n"
	                      "match from any action a\n");

	cr_expect_str_eq(got,
	                 "hostname mx.test\n"
	                 "settings: all defaults\n"
	                 "listeners: none\n"
	                 "tables: none\n"
	                 "actions (1):\n"
	                 "  \"a\" (line 1): maildir \"/m/%{rcpt.user}\" user bob, ttl 4d\n"
	                 "rules (1), the first that matches decides:\n"
	                 "  rule 1 (t.conf:2) -> action \"a\"\n"
	                 "    session: from any\n"
	                 "    RCPT:    for local (default)\n"
	                 "no rule matches -> refused with 550 5.1.1 Invalid recipient: "
	                 "<the recipient>\n");
	free(got);
}

/* Past ten entries a table shows its count only; an inline one in a rule
 * shows ten and the count. */
Test(dump, long_tables_cut_short)
{
	char *got = dump_text("table many { a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 }\n"
	                      "action a relay\n"
	                      "match from any for domain { d1, d2, d3, d4, d5, d6, d7, d8, d9, "
	                      "d10, d11, d12 } action a\n");

	cr_expect_not_null(strstr(got, "  <many> (line 1): list, 11 entries\n"), "%s", got);
	cr_expect_not_null(strstr(got, "    RCPT:    for domain { d1, d2, d3, d4, d5, d6, d7, d8, "
	                               "d9, d10, ... (12 entries) }\n"), "%s", got);
	free(got);
}

/* An action's alias and virtual tables and a delimiter other than +. */
Test(dump, expansion_tables_and_delimiter)
{
	char *got = dump_text("smtp sub-addr-delim -\n"
	                      "table al { root = bob }\n"
	                      "action a maildir alias <al>\n"
	                      "action v mbox virtual { \"@example.org\" = bob }\n"
	                      "match for local action a\n"
	                      "match for domain example.org action v\n");

	cr_expect_not_null(strstr(got, "  smtp sub-addr-delim -\n"), "%s", got);
	cr_expect_not_null(strstr(got, "maildir ~/Maildir alias table \"al\", ttl"), "%s", got);
	cr_expect_not_null(strstr(got, "mbox /var/mail/USER virtual { @example.org }, ttl"),
	                   "%s", got);
	free(got);
}

/* An mda action's wrapper: its name and the command it runs inside. */
Test(dump, mda_wrapper)
{
	char *got = dump_text("mda wrapper spam \"/usr/bin/spamc -e %{mda}\"\n"
	                      "action m mda \"/usr/bin/procmail -f %{sender}\" wrapper spam\n"
	                      "match for local action m\n");

	cr_expect_not_null(strstr(got, "mda \"/usr/bin/procmail -f %{sender}\" wrapper spam "
	                               "\"/usr/bin/spamc -e %{mda}\""), "%s", got);
	free(got);
}

/* A table backend rules/ does not read: shown as such, every answer 451. */
Test(dump, undecidable_config)
{
	char *got = dump_text("table kw { a }\naction a relay\nmatch from any for any action a\n"
	                      "admd \"example.org\"\n");

	cr_expect_not_null(strstr(got, "every recipient -> deferred with 451 4.3.0 Temporary "
	                               "failure, try again later (admd at t.conf:4 is not "
	                               "evaluated yet)\n"), "%s", got);
	free(got);
}

/* Builtin filters: one a line as smtpd.conf says them, and each
 * listener's chain flattened in order. */
Test(dump, builtin_filters)
{
	char *got = dump_text("table bad { 192.0.2.0/24 }\n"
	                      "filter a phase connect match src <bad> disconnect \"550 go away\"\n"
	                      "filter b phase helo match !helo regex { \"^[a-z]\" } "
	                      "reject \"550 5.7.1 bad helo\"\n"
	                      "filter c phase mail-from match !rdns report \"no rdns\"\n"
	                      "filter d phase rcpt-to match dnsbl \"bl.example.\" junk\n"
	                      "filter e phase rcpt-to match rcpt-to { x@y } rewrite \"z@y\"\n"
	                      "filter ch chain { a, b, c }\n"
	                      "listen on 127.0.0.1 filter ch\n"
	                      "listen on 127.0.0.2 filter { e, d }\n"
	                      "action l maildir\nmatch from any for any action l\n");

	cr_expect_not_null(strstr(got, "127.0.0.1 port 25 filter a, b, c\n"), "%s", got);
	cr_expect_not_null(strstr(got, "127.0.0.2 port 25 filter e, d\n"), "%s", got);
	cr_expect_not_null(strstr(got, "filters (5):\n"
	                               "  a (line 2): phase connect match src table \"bad\" "
	                               "disconnect \"550 go away\"\n"
	                               "  b (line 3): phase helo match !helo regex { \"^[a-z]\" } "
	                               "reject \"550 5.7.1 bad helo\"\n"
	                               "  c (line 4): phase mail-from match !rdns report "
	                               "\"no rdns\"\n"
	                               "  d (line 5): phase rcpt-to match dnsbl bl.example junk\n"
	                               "  e (line 6): phase rcpt-to match rcpt-to { x@y } "
	                               "rewrite \"z@y\"\n"), "%s", got);
	free(got);
}
