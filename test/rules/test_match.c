/*
 * test/rules/test_match.c - rules_match() on a table of queries: from
 * local/any/socket/src CIDR (IPv4, IPv6, v4-mapped), for local/any/domain
 * tables with wildcards/rcpt-to, mail-from, tag, negation, reject,
 * first-match-wins, no match, and tempfail on an oversized key.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

static const char match_conf[] =
	"table nets { 192.0.2.0/24, 2001:db8::/32, 198.51.100.7 }\n"      /* 1 */
	"table doms { example.org, \"*.example.net\" }\n"                 /* 2 */
	"table vips { vip@example.com, \"@partner.example\", postmaster }\n" /* 3 */
	"action \"local\" maildir\n"                                      /* 4 */
	"action out relay\n"                                              /* 5 */
	"action \"tagged\" relay host smtp://127.0.0.1:10027\n"           /* 6 */
	"action vip maildir \"/vip\"\n"                                   /* 7 */
	"match tag DKIM for any action \"tagged\"\n"                      /* 8 */
	"match from any for rcpt-to <vips> action vip\n"                  /* 9 */
	"match from src <nets> !mail-from \"@example.com\" for any reject\n" /* 10 */
	"match from any for domain <doms> action \"local\"\n"             /* 11 */
	"match for local action \"local\"\n"                              /* 12 */
	"match from socket for domain socket.example action \"local\"\n"  /* 13 */
	"match from local for any action out\n"                           /* 14 */
	"match from src { 203.0.113.0/24 } !for domain example.org action out\n"; /* 15 */

struct match_case {
	const char *src;           /* NULL: local socket */
	int local;
	const char *tag, *from, *rcpt;
	enum rules_verdict want;
	const char *action;        /* NULL: none */
	unsigned line;
};

static const struct match_case match_cases[] = {
	/* for local: localhost or the hostname, any case; from local by default */
	{ "127.0.0.1", 1, "", "a@b.example", "bob@localhost", RULES_ACCEPT, "local", 12 },
	{ "127.0.0.1", 1, "", "a@b.example", "bob@MX.Test", RULES_ACCEPT, "local", 12 },
	{ "127.0.0.1", 1, "", "a@b.example", "postmaster", RULES_ACCEPT, "vip", 9 },
	{ "8.8.8.8", 0, "", "a@b.example", "bob@mx.test", RULES_NOMATCH, NULL, 0 },
	/* from local for any: relayed for local senders only */
	{ "::1", 1, "", "a@b.example", "x@far.example", RULES_ACCEPT, "out", 14 },
	{ NULL, 1, "", "", "x@far.example", RULES_ACCEPT, "out", 14 },
	{ "8.8.8.8", 0, "", "a@b.example", "x@far.example", RULES_NOMATCH, NULL, 0 },
	/* domain table, case-insensitive, wildcards as OpenSMTPD hostname_match */
	{ "8.8.8.8", 0, "", "a@b.example", "u@Example.ORG", RULES_ACCEPT, "local", 11 },
	{ "8.8.8.8", 0, "", "a@b.example", "u@mx.example.net", RULES_ACCEPT, "local", 11 },
	{ "8.8.8.8", 0, "", "a@b.example", "u@example.net", RULES_NOMATCH, NULL, 0 },
	{ "8.8.8.8", 0, "", "a@b.example", "u@a.b.example.net", RULES_NOMATCH, NULL, 0 },
	{ "8.8.8.8", 0, "", "a@b.example", "u@sub.example.org", RULES_NOMATCH, NULL, 0 },
	/* rcpt-to table: full address (tag ignored), @domain, bare user */
	{ "8.8.8.8", 0, "", "", "VIP@example.com", RULES_ACCEPT, "vip", 9 },
	{ "8.8.8.8", 0, "", "", "vip+news@example.com", RULES_ACCEPT, "vip", 9 },
	{ "8.8.8.8", 0, "", "", "anyone@partner.example", RULES_ACCEPT, "vip", 9 },
	{ "8.8.8.8", 0, "", "", "other@example.com", RULES_NOMATCH, NULL, 0 },
	/* first match wins: tag before everything */
	{ "127.0.0.1", 1, "DKIM", "a@b.example", "bob@localhost", RULES_ACCEPT, "tagged", 8 },
	{ "127.0.0.1", 1, "dkim", "a@b.example", "bob@localhost", RULES_ACCEPT, "tagged", 8 },
	{ "127.0.0.1", 1, "OTHER", "a@b.example", "bob@localhost", RULES_ACCEPT, "local", 12 },
	/* src CIDR with !mail-from: reject unless the sender is @example.com */
	{ "192.0.2.55", 0, "", "spam@bad.example", "u@example.org", RULES_REJECT, NULL, 10 },
	{ "192.0.2.55", 0, "", "", "u@example.org", RULES_REJECT, NULL, 10 },
	{ "192.0.2.55", 0, "", "me@example.com", "u@example.org", RULES_ACCEPT, "local", 11 },
	{ "192.0.2.55", 0, "", "me+x@sub.example.com", "u@example.org", RULES_REJECT, NULL, 10 },
	{ "2001:db8::25", 0, "", "spam@bad.example", "u@far.example", RULES_REJECT, NULL, 10 },
	{ "2001:db9::25", 0, "", "spam@bad.example", "u@far.example", RULES_NOMATCH, NULL, 0 },
	{ "::ffff:192.0.2.9", 0, "", "x@y.example", "u@far.example", RULES_REJECT, NULL, 10 },
	{ "198.51.100.7", 0, "", "x@y.example", "u@far.example", RULES_REJECT, NULL, 10 },
	{ "198.51.100.8", 0, "", "x@y.example", "u@far.example", RULES_NOMATCH, NULL, 0 },
	/* inline src table and negated for */
	{ "203.0.113.9", 0, "", "x@y.example", "u@far.example", RULES_ACCEPT, "out", 15 },
	{ "203.0.113.9", 0, "", "x@y.example", "u@example.org", RULES_ACCEPT, "local", 11 },
	/* from socket: only the local socket, not loopback TCP */
	{ NULL, 1, "", "", "u@socket.example", RULES_ACCEPT, "local", 13 },
	{ "127.0.0.1", 1, "", "", "u@socket.example", RULES_ACCEPT, "out", 14 },
	{ "8.8.4.4", 0, "", "", "u@socket.example", RULES_NOMATCH, NULL, 0 },
};

Test(match, decision_table)
{
	static const char *const verdicts[] = { "ACCEPT", "REJECT", "NOMATCH", "TEMPFAIL" };
	struct sockaddr_storage ss;
	const struct rules_action *act;
	struct rules_config *c;
	char msg[1024];
	unsigned line;
	size_t i;

	c = helper_load(match_conf, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	for (i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
		const struct match_case *m = &match_cases[i];
		struct rules_query q = { .local = m->local, .src = helper_addr(m->src, &ss),
		                         .listener_tag = m->tag, .mail_from = m->from, .rcpt = m->rcpt };
		enum rules_verdict v = rules_match(c, &q, &act, &line);

		cr_expect_eq(v, m->want, "case %zu (%s from %s): got %s, want %s", i, m->rcpt,
		             m->src ? m->src : "socket", verdicts[v], verdicts[m->want]);
		cr_expect_eq(line, m->line, "case %zu (%s): line %u, want %u", i, m->rcpt, line,
		             m->line);
		if (m->action == NULL)
			cr_expect_null(act, "case %zu: an action with verdict %s", i, verdicts[v]);
		else
			cr_expect(act != NULL && strcmp(act->name, m->action) == 0,
			          "case %zu (%s): action %s, want %s", i, m->rcpt, act ? act->name : "-",
			          m->action);
	}
	rules_free(c);
}

Test(match, oversized_key_is_a_tempfail)
{
	static char rcpt[2100];
	struct rules_query q = { .local = 0, .listener_tag = "", .mail_from = "" };
	const struct rules_action *act;
	struct rules_config *c;
	char msg[1024];
	unsigned line;

	c = helper_load("action a maildir\nmatch from any for domain d.example action a\n", msg,
	                sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	memset(rcpt, 'x', sizeof rcpt - 1);
	rcpt[10] = '@';
	q.rcpt = rcpt;
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_TEMPFAIL);
	cr_expect_eq(line, 2);
	cr_expect_null(act);
	rules_free(c);
}

Test(match, negated_from_any_and_from_mail_from)
{
	struct rules_query q = { .local = 1, .listener_tag = "", .mail_from = "a@list.example",
	                         .rcpt = "u@far.example" };
	const struct rules_action *act;
	struct rules_config *c;
	char msg[1024];
	unsigned line;

	c = helper_load("action a relay\n"
	                "match !from any for any action a\n"
	                "match from mail-from \"@list.example\" for any reject\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_REJECT);
	cr_expect_eq(line, 3);
	q.mail_from = "a@other.example";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_NOMATCH);
	rules_free(c);
}

Test(match, net_parse_table)
{
	static const struct { const char *s; int ok, family; unsigned bits; } nets[] = {
		{ "10.0.0.0/8", 1, AF_INET, 8 }, { "1.2.3.4", 1, AF_INET, 32 },
		{ "::/0", 1, AF_INET6, 0 }, { "[2001:db8::1]", 1, AF_INET6, 128 },
		{ "10.0.0.0/33", 0, 0, 0 }, { "10.0.0.0/", 0, 0, 0 }, { "10.0.0/8", 0, 0, 0 },
		{ "example.org", 0, 0, 0 }, { "::1/129", 0, 0, 0 }, { "1.2.3.4/-1", 0, 0, 0 },
	};
	struct rules_net n;
	size_t i;

	for (i = 0; i < sizeof nets / sizeof nets[0]; i++) {
		int ok = rules_net_parse(nets[i].s, &n);

		cr_expect_eq(ok, nets[i].ok, "%s: got %d want %d", nets[i].s, ok, nets[i].ok);
		if (ok && nets[i].ok) {
			cr_expect_eq(n.family, nets[i].family, "%s family", nets[i].s);
			cr_expect_eq(n.bits, nets[i].bits, "%s bits", nets[i].s);
		}
	}
}

/* smtp sub-addr-delim: a tag after that character is ignored by rcpt-to
 * tables (declared before or after the statement), '+' is then an
 * ordinary character. */
Test(match, rcpt_to_tables_use_the_configured_sub_address_delimiter)
{
	static const struct { const char *rcpt; enum rules_verdict want; } cases[] = {
		{ "vip-news@example.com", RULES_ACCEPT },
		{ "vip-news@other.example", RULES_ACCEPT },   /* the bare user entry */
		{ "vip+news@example.com", RULES_NOMATCH },
		{ "vip@example.com", RULES_ACCEPT },
		{ "vipnews@example.com", RULES_NOMATCH },
	};
	const struct rules_action *act;
	char msg[1024];
	unsigned line;
	struct rules_config *c = helper_load("table vips { vip@example.com, vip }\n"
	                                     "action a maildir\n"
	                                     "match for rcpt-to <vips> action a\n"
	                                     "smtp sub-addr-delim -\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rules_query q = { .local = 1, .listener_tag = "", .mail_from = "",
		                         .rcpt = cases[i].rcpt };
		cr_expect_eq(rules_match(c, &q, &act, &line), cases[i].want, "%s", cases[i].rcpt);
	}
	rules_free(c);
}
