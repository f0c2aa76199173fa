/*
 * test/rules/test_criteria.c - every match criterion of smtpd.conf(5) on
 * its own (with "from any" unless it is a from criterion), as a table of
 * (criterion, session facts, verdict): from any,
 * local, socket, src [regex], rdns [[regex] T], auth [[regex] T],
 * mail-from [regex]; for any, local, domain [regex], rcpt-to [regex]; tag,
 * helo, tls, with and without "!"; tempfail for an rDNS name not known and
 * the order rule (an undecided line blocks later ones, a line that cannot
 * match does not); each case decided by rules_match() and by the staged
 * functions alike. Then regex load errors with their places.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

#define A RULES_ACCEPT
#define N RULES_NOMATCH
#define T RULES_TEMPFAIL
#define FOUND RULES_RDNS_FOUND
#define NONE RULES_RDNS_NONE
#define RFAIL RULES_RDNS_TEMPFAIL

struct crit_case {
	const char *crit;          /* between "match" and "action a" */
	const char *src;           /* NULL: 198.51.100.1; "socket": the local socket */
	int local;
	const char *tag, *helo;    /* NULL: "" and "client.example" */
	int tls;
	const char *auth;          /* NULL: not authenticated */
	enum rules_rdns rdns_state;
	const char *rdns;
	const char *from, *rcpt;   /* NULL: s@sender.example and u@mx.test */
	enum rules_verdict want;
};

static const struct crit_case crit_cases[] = {
	/* from */
	{ .crit = "from any", .want = A },
	{ .crit = "!from any", .want = N },
	{ .crit = "from local", .src = "127.0.0.1", .local = 1, .want = A },
	{ .crit = "from local", .want = N },
	{ .crit = "!from local", .want = A },
	{ .crit = "from socket", .src = "socket", .local = 1, .want = A },
	{ .crit = "from socket", .src = "127.0.0.1", .local = 1, .want = N },
	{ .crit = "!from socket", .src = "127.0.0.1", .local = 1, .want = A },
	{ .crit = "from src { 192.0.2.0/24, 10.1.0.0/16 }", .src = "192.0.2.9", .want = A },
	{ .crit = "from src { 192.0.2.0/24, 10.1.0.0/16 }", .src = "10.1.255.1", .want = A },
	{ .crit = "from src { 192.0.2.0/24, 10.1.0.0/16 }", .src = "10.2.0.1", .want = N },
	{ .crit = "!from src { 192.0.2.0/24 }", .src = "10.2.0.1", .want = A },
	{ .crit = "from src { 2001:db8::/32 }", .src = "2001:db8:1::5", .want = A },
	{ .crit = "from src { 192.0.2.0/24 }", .src = "::ffff:192.0.2.7", .want = A },
	{ .crit = "from src regex \"^192\\.0\\.2\\.\"", .src = "192.0.2.9", .want = A },
	{ .crit = "from src regex \"^192\\.0\\.2\\.\"", .src = "::ffff:192.0.2.9", .want = A },
	{ .crit = "from src regex \"^192\\.0\\.2\\.\"", .src = "192.0.3.9", .want = N },
	{ .crit = "from src regex \"^2001:db8:\"", .src = "2001:db8::1", .want = A },
	{ .crit = "from src regex \"^local$\"", .src = "socket", .local = 1, .want = A },
	{ .crit = "!from src regex \"^192\\.\"", .src = "10.0.0.1", .want = A },
	/* from rdns: not looked up or failed is a tempfail, "!" or not */
	{ .crit = "from rdns", .rdns_state = FOUND, .rdns = "mx.example", .want = A },
	{ .crit = "from rdns", .rdns_state = NONE, .want = N },
	{ .crit = "from rdns", .want = T },
	{ .crit = "from rdns", .rdns_state = RFAIL, .want = T },
	{ .crit = "!from rdns", .rdns_state = NONE, .want = A },
	{ .crit = "!from rdns", .rdns_state = FOUND, .rdns = "mx.example", .want = N },
	{ .crit = "!from rdns", .rdns_state = RFAIL, .want = T },
	{ .crit = "from rdns { \"*.example\" }", .rdns_state = FOUND, .rdns = "MX.Example",
	  .want = A },
	{ .crit = "from rdns { \"*.example\" }", .rdns_state = FOUND, .rdns = "mx.other", .want = N },
	{ .crit = "from rdns { \"*.example\" }", .rdns_state = NONE, .want = N },
	{ .crit = "!from rdns { \"*.example\" }", .rdns_state = NONE, .want = N },
	{ .crit = "!from rdns { \"*.example\" }", .rdns_state = FOUND, .rdns = "mx.other",
	  .want = A },
	{ .crit = "from rdns { \"*.example\" }", .rdns_state = RFAIL, .want = T },
	{ .crit = "from rdns regex \"\\.dyn\\.\"", .rdns_state = FOUND, .rdns = "a.dyn.example",
	  .want = A },
	{ .crit = "from rdns regex \"\\.dyn\\.\"", .rdns_state = FOUND, .rdns = "a.example",
	  .want = N },
	/* auth */
	{ .crit = "from auth", .auth = "bob", .want = A },
	{ .crit = "from auth", .want = N },
	{ .crit = "!from auth", .want = A },
	{ .crit = "!from auth", .auth = "bob", .want = N },
	{ .crit = "from auth { bob }", .auth = "bob", .want = A },
	{ .crit = "from auth { bob }", .auth = "Bob", .want = A },
	{ .crit = "from auth { bob }", .auth = "alice", .want = N },
	{ .crit = "from auth { bob }", .want = N },
	{ .crit = "!from auth { bob }", .want = A },
	{ .crit = "!from auth { bob }", .auth = "alice", .want = A },
	{ .crit = "auth { \"@x.example\" }", .auth = "bob@x.example", .want = A },
	{ .crit = "auth { \"@x.example\" }", .auth = "bob@y.example", .want = N },
	{ .crit = "from auth regex \"^b\"", .auth = "bob", .want = A },
	{ .crit = "from auth regex \"^b\"", .auth = "alice", .want = N },
	{ .crit = "auth", .auth = "bob", .want = A },
	{ .crit = "!auth", .auth = "bob", .want = N },
	/* mail-from */
	{ .crit = "from mail-from \"@sender.example\"", .want = A },
	{ .crit = "mail-from \"@sender.example\"", .from = "s+tag@Sender.Example", .want = A },
	{ .crit = "mail-from \"@sender.example\"", .from = "s@other.example", .want = N },
	{ .crit = "!mail-from \"@sender.example\"", .from = "s@other.example", .want = A },
	{ .crit = "mail-from \"@sender.example\"", .from = "", .want = N },
	{ .crit = "mail-from regex \"@sender\\.example$\"", .want = A },
	{ .crit = "mail-from regex \"@sender\\.example$\"", .from = "s@SENDER.example", .want = N },
	{ .crit = "mail-from regex \"(?i)@sender\\.example$\"", .from = "s@SENDER.example",
	  .want = A },
	{ .crit = "mail-from regex \"^$\"", .from = "", .want = A },
	{ .crit = "!mail-from regex \"^$\"", .from = "", .want = N },
	/* for */
	{ .crit = "for any", .rcpt = "u@far.example", .want = A },
	{ .crit = "!for any", .want = N },
	{ .crit = "for local", .rcpt = "u@MX.test", .want = A },
	{ .crit = "for local", .rcpt = "postmaster", .want = A },
	{ .crit = "for local", .rcpt = "u@far.example", .want = N },
	{ .crit = "!for local", .rcpt = "u@far.example", .want = A },
	{ .crit = "for domain { far.example }", .rcpt = "u@FAR.example", .want = A },
	{ .crit = "for domain { far.example }", .rcpt = "u@near.example", .want = N },
	{ .crit = "!for domain { far.example }", .rcpt = "u@near.example", .want = A },
	{ .crit = "for domain regex \"^far\\.\"", .rcpt = "u@far.example", .want = A },
	{ .crit = "for domain regex \"^far\\.\"", .rcpt = "u@afar.example", .want = N },
	{ .crit = "!for domain regex \"^far\\.\"", .rcpt = "u@afar.example", .want = A },
	{ .crit = "for rcpt-to { u@far.example }", .rcpt = "u+x@far.example", .want = A },
	{ .crit = "for rcpt-to { u@far.example }", .rcpt = "v@far.example", .want = N },
	{ .crit = "for rcpt-to regex \"^u@\"", .rcpt = "u@far.example", .want = A },
	{ .crit = "for rcpt-to regex \"^u@\"", .rcpt = "v@far.example", .want = N },
	{ .crit = "for any rcpt-to regex \"^u@\"", .rcpt = "u@far.example", .want = A },
	{ .crit = "for any !rcpt-to { u@far.example }", .rcpt = "v@far.example", .want = A },
	/* tag */
	{ .crit = "tag T", .tag = "t", .want = A },
	{ .crit = "tag T", .tag = "U", .want = N },
	{ .crit = "tag T", .want = N },
	{ .crit = "!tag T", .tag = "U", .want = A },
	{ .crit = "tag regex \"^T[0-9]$\"", .tag = "T7", .want = A },
	{ .crit = "tag regex \"^T[0-9]$\"", .tag = "T77", .want = N },
	/* helo */
	{ .crit = "helo client.example", .want = A },
	{ .crit = "helo client.example", .helo = "CLIENT.example", .want = A },
	{ .crit = "helo client.example", .helo = "other.example", .want = N },
	{ .crit = "!helo client.example", .helo = "other.example", .want = A },
	{ .crit = "helo { \"*.example\" }", .helo = "a.example", .want = A },
	{ .crit = "helo regex \"^\\[\"", .helo = "[192.0.2.1]", .want = A },
	{ .crit = "helo regex \"^\\[\"", .want = N },
	{ .crit = "!helo regex \"^\\[\"", .want = A },
	/* tls */
	{ .crit = "tls", .tls = 1, .want = A },
	{ .crit = "tls", .want = N },
	{ .crit = "!tls", .want = A },
	{ .crit = "!tls", .tls = 1, .want = N },
	/* together: every one must match */
	{ .crit = "from src { 192.0.2.0/24 } tls helo client.example mail-from \"@sender.example\" "
	          "for domain far.example", .src = "192.0.2.1", .tls = 1, .rcpt = "u@far.example",
	  .want = A },
	{ .crit = "from src { 192.0.2.0/24 } tls helo client.example mail-from \"@sender.example\" "
	          "for domain far.example", .src = "192.0.2.1", .rcpt = "u@far.example", .want = N },
	/* a line that cannot match is skipped even with an undecided criterion */
	{ .crit = "from rdns for domain far.example", .rcpt = "u@near.example", .want = N },
	{ .crit = "from rdns for domain far.example", .rcpt = "u@far.example", .want = T },
	{ .crit = "!tls from rdns", .tls = 1, .want = N },
};

/* 1 if crit has a "from" criterion ("mail-from" is another one). */
static int
crit_has_from(const char *crit)
{
	for (const char *p = crit; (p = strstr(p, "from ")) != NULL; p++)
		if (p == crit || p[-1] != '-')
			return 1;
	return 0;
}

/* The verdict of the staged functions for q. */
static enum rules_verdict
crit_staged(const struct rules_config *c, const struct rules_query *q, unsigned *line)
{
	uint64_t set[64];

	cr_assert(rules_candidates_words(c) <= 64);
	rules_session_candidates(c, q, set);
	rules_mail_candidates(c, set, q->mail_from, set);
	return rules_match_rcpt(c, set, q->rcpt, NULL, line);
}

Test(criteria, each_alone)
{
	static const char *const verdicts[] = { "ACCEPT", "REJECT", "NOMATCH", "TEMPFAIL" };
	struct sockaddr_storage ss;
	char text[1024], msg[1024];
	unsigned line, sline;

	for (size_t i = 0; i < sizeof crit_cases / sizeof crit_cases[0]; i++) {
		const struct crit_case *k = &crit_cases[i];
		struct rules_query q = {
			.local = k->local, .src = helper_addr(k->src ? k->src : "198.51.100.1", &ss),
			.listener_tag = k->tag ? k->tag : "", .helo = k->helo ? k->helo : "client.example",
			.tls = k->tls, .auth_user = k->auth, .rdns_state = k->rdns_state,
			.rdns = k->rdns, .mail_from = k->from ? k->from : "s@sender.example",
			.rcpt = k->rcpt ? k->rcpt : "u@mx.test",
		};
		struct rules_config *c;
		enum rules_verdict v, sv;

		/* without "from" a line is "from local": test the criterion alone */
		snprintf(text, sizeof text, "action a relay\nmatch %s%s action a\n",
		         crit_has_from(k->crit) ? "" : "from any ", k->crit);
		c = helper_load(text, msg, sizeof msg);
		cr_assert_not_null(c, "case %zu (%s): %s", i, k->crit, msg);
		v = rules_match(c, &q, NULL, &line);
		sv = crit_staged(c, &q, &sline);
		cr_expect_eq(v, k->want, "case %zu \"%s\": got %s, want %s", i, k->crit, verdicts[v],
		             verdicts[k->want]);
		cr_expect_eq(sv, v, "case %zu \"%s\": staged %s, whole %s", i, k->crit, verdicts[sv],
		             verdicts[v]);
		cr_expect_eq(sline, line, "case %zu: staged line %u, whole %u", i, sline, line);
		rules_free(c);
	}
}

/* First match wins with tempfail: an undecided earlier line blocks the
 * later ones; with its facts known, the later line decides. */
Test(criteria, tempfail_keeps_the_order)
{
	struct rules_query q = { .src = NULL, .local = 1, .listener_tag = "", .helo = "h",
	                         .mail_from = "", .rcpt = "u@far.example" };
	struct rules_config *c;
	char msg[512];
	unsigned line;

	c = helper_load("action a relay\nmatch from rdns for any action a\n"
	                "match from any for any reject\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_TEMPFAIL);
	cr_expect_eq(line, 2);
	q.rdns_state = RULES_RDNS_NONE;
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_REJECT);
	cr_expect_eq(line, 3);
	q.rdns_state = RULES_RDNS_FOUND;
	q.rdns = "mx.example";
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_ACCEPT);
	cr_expect_eq(line, 2);
	rules_free(c);
}

/* A bad regex is refused at load with its place: the entry of an inline
 * table, or the table and its file's line. */
Test(criteria, bad_regex_is_a_load_error)
{
	char dir[64], text[1024], want[1024], msg[1024];

	cr_assert_null(helper_load("action a relay\nmatch for domain regex \"a(\" action a\n", msg,
	                           sizeof msg));
	cr_expect_str_eq(msg, "t.conf:2:24: invalid regex \"a(\": Unmatched ( or \\(");
	cr_assert_null(helper_load("table r { \"^ok$\",\n  \"[z-a]\" }\naction a relay\n"
	                           "match helo regex <r> action a\n", msg, sizeof msg));
	cr_expect_str_eq(msg, "t.conf:2:3: invalid regex \"[z-a]\": Invalid range end");
	/* the same table used plainly is fine: only regex use compiles it */
	struct rules_config *plain = helper_load("table r { \"[z-a]\" }\naction a relay\n"
	                                         "match helo <r> action a\n", msg, sizeof msg);
	cr_expect_not_null(plain, "%s", msg);
	rules_free(plain);
	helper_fixture(dir, sizeof dir);
	helper_put(dir, "re", "# regexes\n^ok$\n\nbad(\n");
	helper_subst("table r file:%D/re\naction a relay\nmatch for rcpt-to regex <r> action a\n",
	             dir, text, sizeof text);
	cr_assert_null(helper_load(text, msg, sizeof msg));
	snprintf(want, sizeof want,
	         "t.conf:1:7: table file \"%s/re\" line 4: invalid regex \"bad(\": Unmatched ( or \\(",
	         dir);
	cr_expect_str_eq(msg, want);
	helper_fixture_remove(dir);
}

/* Regex keys keep their case; "(?i)" ignores it. */
Test(criteria, regex_case)
{
	struct rules_query q = { .local = 1, .listener_tag = "", .mail_from = "",
	                         .rcpt = "Bob@far.example" };
	struct rules_config *c;
	char msg[512];

	c = helper_load("action a relay\nmatch for rcpt-to regex \"^Bob@\" action a\n", msg,
	                sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, NULL, NULL), RULES_ACCEPT);
	q.rcpt = "bob@far.example";
	cr_expect_eq(rules_match(c, &q, NULL, NULL), RULES_NOMATCH);
	rules_free(c);
}
