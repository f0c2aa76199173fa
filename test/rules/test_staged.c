/*
 * test/rules/test_staged.c - the staged decision table against
 * rules_match(): for randomized configs (match lines drawing every
 * criterion, "!" and regex from small pools, so lines overlap) and
 * randomized sessions (source, tag, helo, tls, auth, rdns states including
 * not looked up and failed), each with several MAILs and RCPTs, the staged
 * verdict and deciding line equal rules_match()'s, and so does the rule
 * tester's walk (rules_row_explain() row by row, criterion by criterion).
 * Seeds are fixed, so a failure names a reproducible case.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

#define STAGED_CONF_BYTES 65536
#define STAGED_ROWS_MANY 150          /* more than two 64-bit words */
#define STAGED_ROWS_FEW 6             /* so that no line matches, at times */
#define STAGED_SESSIONS 200

static const char *const staged_domains[] = { "a.example", "b.example", "c.example", "mx.test" };
static const char *const staged_users[] = { "u", "v", "postmaster" };
static const char *const staged_srcs[] = { "192.0.2.1", "192.0.2.200", "10.0.0.1", "::1",
                                           "2001:db8::7", "::ffff:192.0.2.9", "socket" };
static const char *const staged_tags[] = { "", "T", "U" };
static const char *const staged_helos[] = { "a.example", "x.b.example", "[192.0.2.1]" };
static const char *const staged_auths[] = { "bob", "alice", "bob@a.example" };
static const char *const staged_rdns[] = { "mx.a.example", "dyn.b.example" };

static const char *const staged_crits[] = {
	"from any", "from local", "from socket", "from src { 192.0.2.0/25, 2001:db8::/32 }",
	"from src regex \"^192\\.\"", "from rdns", "from rdns { \"*.a.example\" }",
	"from rdns regex \"^dyn\"", "from auth", "from auth { bob }", "from auth regex \"^a\"",
	"from mail-from { \"@a.example\" }",
};
static const char *const staged_fors[] = {
	"for any", "for local", "for domain { a.example, \"*.example\" }", "for domain b.example",
	"for domain regex \"^c\\.\"", "for rcpt-to { u@a.example, \"@b.example\" }",
	"for rcpt-to regex \"^v@\"", "",
};
static const char *const staged_extras[] = {
	"tag T", "tag regex \"^U$\"", "helo a.example", "helo { \"*.b.example\" }",
	"helo regex \"^\\[\"", "tls", "mail-from { \"@b.example\", postmaster }",
	"mail-from regex \"^u@\"", "rcpt-to { v@c.example }", "rcpt-to regex \"@a\\.\"", "auth",
};

/* A small deterministic generator (xorshift64*). */
static unsigned
staged_rand(uint64_t *st, unsigned n)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (unsigned)((*st * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

#define PICK(st, arr) (arr[staged_rand(st, sizeof arr / sizeof arr[0])])

/* Append one match line to buf. */
static void
staged_line(uint64_t *st, char *buf, size_t cap)
{
	size_t len = strlen(buf);
	const char *from = PICK(st, staged_crits), *rfor = PICK(st, staged_fors);
	int use_extra = staged_rand(st, 3) != 0;
	const char *extra = use_extra ? PICK(st, staged_extras) : "";

	/* "from mail-from" and a mail-from extra would name mail-from twice */
	if (strstr(from, "mail-from") && strstr(extra, "mail-from"))
		extra = "";
	if (strstr(from, "auth") && strcmp(extra, "auth") == 0)
		extra = "";
	if (strstr(rfor, "rcpt-to") && strstr(extra, "rcpt-to"))
		extra = "";
	snprintf(buf + len, cap - len, "match %s%s %s %s%s %s\n",
	         staged_rand(st, 5) == 0 ? "!" : "", from, rfor,
	         extra[0] != '\0' && staged_rand(st, 4) == 0 ? "!" : "", extra,
	         staged_rand(st, 4) == 0 ? "reject" : "action a");
}

/* A random session's facts into q (strings from the pools). */
static void
staged_session(uint64_t *st, struct rules_query *q, struct sockaddr_storage *ss)
{
	const char *src = PICK(st, staged_srcs);

	memset(q, 0, sizeof *q);
	q->src = helper_addr(src, ss);
	q->local = q->src == NULL || strcmp(src, "::1") == 0;
	q->listener_tag = PICK(st, staged_tags);
	q->helo = PICK(st, staged_helos);
	q->tls = (int)staged_rand(st, 2);
	q->auth_user = staged_rand(st, 2) ? PICK(st, staged_auths) : NULL;
	q->rdns_state = (enum rules_rdns)staged_rand(st, 4);
	q->rdns = q->rdns_state == RULES_RDNS_FOUND ? PICK(st, staged_rdns) : NULL;
}

/* A random address user@domain (or a bare user, or <>) into buf. */
static const char *
staged_address(uint64_t *st, char *buf, size_t cap, int may_be_empty)
{
	if (may_be_empty && staged_rand(st, 6) == 0)
		return "";
	if (staged_rand(st, 8) == 0)
		return PICK(st, staged_users);
	snprintf(buf, cap, "%s%s@%s", PICK(st, staged_users), staged_rand(st, 4) ? "" : "+x",
	         PICK(st, staged_domains));
	return buf;
}

/* The verdict as the rule tester finds it: the first row not answering 0,
 * criterion by criterion. */
static enum rules_verdict
staged_walk(const struct rules_config *c, const struct rules_query *q,
            const struct rules_action **action, unsigned *line)
{
	const struct rules_table *t = c->table;
	enum rules_crit k;
	int r;

	*action = NULL;
	*line = 0;
	for (unsigned i = 0; i < t->nrows; i++) {
		if ((r = rules_row_explain(c, &t->rows[i], q, &k)) == 0) {
			cr_assert_lt(k, RULES_CRITS);
			cr_assert_eq(rules_row_crit_eval(c, &t->rows[i], k, q), 0);
			continue;
		}
		*line = t->rows[i].line;
		if (r < 0)
			return RULES_TEMPFAIL;
		if (t->rows[i].reject)
			return RULES_REJECT;
		*action = t->rows[i].action;
		return RULES_ACCEPT;
	}
	return RULES_NOMATCH;
}

/* One config from seed: every session, MAIL and RCPT, three ways; counts
 * the verdicts seen in seen[]. */
static void
staged_run(uint64_t seed, unsigned rows, unsigned seen[4])
{
	static char conf[STAGED_CONF_BYTES];
	uint64_t st = seed, *set, *mset;
	struct sockaddr_storage ss;
	struct rules_config *c;
	char msg[1024], from[128], rcpt[128];
	size_t words;

	snprintf(conf, sizeof conf, "action a relay\n");
	for (unsigned i = 0; i < rows; i++)
		staged_line(&st, conf, sizeof conf);
	c = helper_load(conf, msg, sizeof msg);
	cr_assert_not_null(c, "seed %llu: %s", (unsigned long long)seed, msg);
	words = rules_candidates_words(c);
	set = calloc(words, sizeof *set);
	mset = calloc(words, sizeof *mset);
	cr_assert(set != NULL && mset != NULL);
	for (unsigned s = 0; s < STAGED_SESSIONS; s++) {
		struct rules_query q;
		staged_session(&st, &q, &ss);
		rules_session_candidates(c, &q, set);
		for (unsigned m = 0; m < 3; m++) {
			q.mail_from = staged_address(&st, from, sizeof from, 1);
			rules_mail_candidates(c, set, q.mail_from, mset);
			for (unsigned r = 0; r < 4; r++) {
				const struct rules_action *a1, *a2, *a3;
				unsigned l1, l2, l3;
				q.rcpt = staged_address(&st, rcpt, sizeof rcpt, 0);
				enum rules_verdict v1 = rules_match(c, &q, &a1, &l1);
				enum rules_verdict v2 = rules_match_rcpt(c, mset, q.rcpt, &a2, &l2);
				enum rules_verdict v3 = staged_walk(c, &q, &a3, &l3);
				cr_assert(v1 == v2 && l1 == l2 && a1 == a2,
				          "seed %llu session %u: %s -> %s: whole %d line %u, staged %d "
				          "line %u", (unsigned long long)seed, s, q.mail_from, q.rcpt, v1, l1,
				          v2, l2);
				cr_assert(v1 == v3 && l1 == l3 && a1 == a3,
				          "seed %llu session %u: %s -> %s: whole %d line %u, row by row %d "
				          "line %u", (unsigned long long)seed, s, q.mail_from, q.rcpt, v1, l1,
				          v3, l3);
				seen[v1]++;
			}
		}
	}
	free(set);
	free(mset);
	rules_free(c);
}

Test(staged, same_verdicts_as_rules_match)
{
	unsigned seen[4] = { 0 };

	for (uint64_t seed = 1; seed <= 12; seed++)
		staged_run(seed * 0x9E3779B97F4A7C15ull, seed % 2 ? STAGED_ROWS_MANY : STAGED_ROWS_FEW,
		           seen);
	/* the pools are made so that every verdict comes up */
	for (unsigned v = 0; v < 4; v++)
		cr_expect_gt(seen[v], 100, "verdict %u seen %u times", v, seen[v]);
}

/* mail and out may be the same set; a config of one line has one word. */
Test(staged, in_place_and_small)
{
	struct rules_query q = { .local = 1, .listener_tag = "", .mail_from = "x@b.example",
	                         .rcpt = "u@mx.test" };
	struct rules_config *c;
	uint64_t set[2];
	char msg[512];

	c = helper_load("action a relay\nmatch mail-from \"@a.example\" action a\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(rules_candidates_words(c), 2);
	rules_session_candidates(c, &q, set);
	rules_mail_candidates(c, set, "x@b.example", set);
	cr_expect_eq(rules_match_rcpt(c, set, "u@mx.test", NULL, NULL), RULES_NOMATCH);
	rules_session_candidates(c, &q, set);
	rules_mail_candidates(c, set, "x@a.example", set);
	cr_expect_eq(rules_match_rcpt(c, set, "u@mx.test", NULL, NULL), RULES_ACCEPT);
	rules_free(c);
}
