/*
 * rules/parse_match.c - "match" lines of smtpd.conf(5): [!]from any |
 * local | socket | src [regex] T | rdns [[regex] T] | auth [[regex] T] |
 * mail-from [regex] T | country [regex] T | asn [regex] T (ringmta's own:
 * the client's country code or AS number, from the `geoip` databases); [!]for any | local | domain [regex] T | rcpt-to
 * [regex] T; [!]tag, [!]helo, [!]mail-from, [!]rcpt-to [regex] T; [!]tls;
 * [!]auth [[regex] T]; then "action NAME" or "reject". Each criterion at
 * most once per rule ("from mail-from" counts as from and mail-from).
 * rules/ evaluates every criterion; "auth" and "from rdns" need facts the
 * daemon cannot supply yet (SMTP AUTH, a PTR lookup), so they are recorded
 * as not supported yet, marked evaluated (rules_match() still decides).
 */
#include <stdio.h>
#include <string.h>

#include "rules/parser_int.h"

static const char *const match_options[] = {
	"from", "for", "tag", "helo", "mail-from", "rcpt-to", "tls", "auth", "action", "reject",
	NULL,
};
static const char *const from_words[] = {
	"any", "local", "socket", "src", "rdns", "auth", "mail-from", "country", "asn", NULL,
};
static const char *const for_words[] = { "any", "local", "domain", "rcpt-to", NULL };

/* Mark c as set by the option at pos; refuses a second one; 0 or -1. */
static int
cond_set(struct rules_parser *P, struct rules_cond *c, const char *what,
         enum rules_cond_kind kind, int neg, const struct rules_pos *pos)
{
	if (c->kind != RULES_COND_NONE)
		return rules_fail(P->err, pos, "%s already specified for this rule", what);
	c->kind = kind;
	c->neg = neg;
	c->pos = *pos;
	return 0;
}

/* The table of c (optional "regex" first: check.c compiles it); 0 or -1. */
static int
cond_table(struct rules_parser *P, struct rules_cond *c)
{
	c->kind = RULES_COND_TABLE;
	return rules_p_tables(P, &c->ref, &c->regex);
}

/* 1 if a table follows an optional-table criterion (rdns, auth). */
static int
table_follows(struct rules_parser *P)
{
	const struct rules_tok *t = rules_p_peek(P, 0);

	return t != NULL && (rules_p_is_punct(t, '<') || rules_p_is_punct(t, '{') ||
	                     t->kind == RULES_TOK_STRING || rules_p_is_word(t, "regex") ||
	                     (t->kind == RULES_TOK_WORD && !rules_keyword_reserved(t->text)));
}

/* [!]auth [[regex] T] as a criterion or after "from"; 0 or -1. */
static int
cond_auth(struct rules_parser *P, struct rules_ast_match *m, int neg, const struct rules_pos *pos)
{
	if (cond_set(P, &m->auth, "auth", RULES_COND_FLAG, neg, pos) < 0)
		return -1;
	return table_follows(P) ? cond_table(P, &m->auth) : 0;
}

/* [!]from any|local|socket|src T|rdns [T]|auth [T]|mail-from T|country T|asn T. */
static int
parse_from(struct rules_parser *P, struct rules_ast_match *m, int neg, const struct rules_pos *pos)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char w[16];

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(from_words, t))
		return rules_p_unknown(P, t, "\"from\" source", from_words);
	snprintf(w, sizeof w, "%s", t->text);
	rules_p_advance(P);
	if (strcmp(w, "any") == 0 || strcmp(w, "local") == 0 || strcmp(w, "socket") == 0)
		return cond_set(P, &m->from, "from", w[0] == 'a' ? RULES_COND_ANY :
		                w[0] == 'l' ? RULES_COND_LOCAL : RULES_COND_SOCKET, neg, pos);
	if (strcmp(w, "src") == 0)
		return cond_set(P, &m->from, "from", RULES_COND_TABLE, neg, pos) < 0 ? -1 :
		       cond_table(P, &m->from);
	if (strcmp(w, "country") == 0 || strcmp(w, "asn") == 0) {
		m->from_geo = w[0] == 'c' ? RULES_GEO_COUNTRY : RULES_GEO_ASN;
		return cond_set(P, &m->from, "from", RULES_COND_TABLE, neg, pos) < 0 ? -1 :
		       cond_table(P, &m->from);
	}
	if (strcmp(w, "rdns") == 0) {
		m->from_rdns = 1;
		if (cond_set(P, &m->from, "from", RULES_COND_FLAG, neg, pos) < 0)
			return -1;
		return table_follows(P) ? cond_table(P, &m->from) : 0;
	}
	if (cond_set(P, &m->from, "from", RULES_COND_ANY, 0, pos) < 0)
		return -1;
	if (strcmp(w, "auth") == 0)
		return cond_auth(P, m, neg, pos);
	return cond_set(P, &m->mail_from, "mail-from", RULES_COND_TABLE, neg, pos) < 0 ? -1 :
	       cond_table(P, &m->mail_from);
}

/* [!]for any|local|domain T|rcpt-to T. */
static int
parse_for(struct rules_parser *P, struct rules_ast_match *m, int neg, const struct rules_pos *pos)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char w[16];

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(for_words, t))
		return rules_p_unknown(P, t, "\"for\" destination", for_words);
	snprintf(w, sizeof w, "%s", t->text);
	rules_p_advance(P);
	if (strcmp(w, "any") == 0 || strcmp(w, "local") == 0)
		return cond_set(P, &m->rcpt_for, "for", w[0] == 'a' ? RULES_COND_ANY :
		                RULES_COND_LOCAL, neg, pos);
	if (strcmp(w, "domain") == 0)
		return cond_set(P, &m->rcpt_for, "for", RULES_COND_TABLE, neg, pos) < 0 ? -1 :
		       cond_table(P, &m->rcpt_for);
	if (cond_set(P, &m->rcpt_for, "for", RULES_COND_ANY, 0, pos) < 0 ||
	    cond_set(P, &m->rcpt_to, "rcpt-to", RULES_COND_TABLE, neg, pos) < 0)
		return -1;
	return cond_table(P, &m->rcpt_to);
}

/* tag, helo, mail-from, rcpt-to, tls, auth after an optional "!". */
static int
parse_criterion(struct rules_parser *P, struct rules_ast_match *m, const char *kw, int neg,
                const struct rules_pos *pos)
{
	struct rules_cond *c;

	if (strcmp(kw, "from") == 0)
		return parse_from(P, m, neg, pos);
	if (strcmp(kw, "for") == 0)
		return parse_for(P, m, neg, pos);
	if (strcmp(kw, "auth") == 0)
		return cond_auth(P, m, neg, pos);
	if (strcmp(kw, "tls") == 0)
		return cond_set(P, &m->tls, "tls", RULES_COND_FLAG, neg, pos);
	c = kw[0] == 'm' ? &m->mail_from : kw[0] == 'r' ? &m->rcpt_to : kw[0] == 't' ? &m->tag :
	    &m->helo;
	if (cond_set(P, c, kw, RULES_COND_TABLE, neg, pos) < 0)
		return -1;
	return cond_table(P, c);
}

/* One [!]option of a match line; 1 after action/reject, 0 next, -1. */
static int
parse_match_option(struct rules_parser *P, struct rules_ast_match *m)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos pos, bang;
	char kw[32];
	int neg = 0;

	if (t != NULL && rules_p_is_punct(t, '!')) {
		neg = 1;
		bang = t->pos;
		rules_p_advance(P);
		t = rules_p_peek(P, 0);
	}
	if (t == NULL)
		return -1;
	if (t->kind != RULES_TOK_WORD)
		return rules_p_fail_got(P, t, neg ? "expected a match option after \"!\"" :
		                                    "expected \"action\" or \"reject\"");
	if (!rules_p_in_list(match_options, t))
		return rules_p_unknown(P, t, "match option", match_options);
	pos = t->pos;
	snprintf(kw, sizeof kw, "%s", t->text);
	if (neg && (strcmp(kw, "action") == 0 || strcmp(kw, "reject") == 0))
		return rules_fail(P->err, &bang, "\"!\" cannot negate \"%s\"", kw);
	rules_p_advance(P);
	if (strcmp(kw, "reject") == 0) {
		m->reject = 1;
		return 1;
	}
	if (strcmp(kw, "action") == 0) {
		m->actions_seen = P->ast->nactions;
		return rules_p_take_name(P, m->action, sizeof m->action, "an action name",
		                         &m->action_pos) < 0 ? -1 : 1;
	}
	return parse_criterion(P, m, kw, neg, &pos);
}

/* match [options] action NAME | reject; 0 or -1. */
int
rules_parse_match(struct rules_parser *P)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_match m;
	int r;

	memset(&m, 0, sizeof m);
	m.pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	while ((r = parse_match_option(P, &m)) == 0)
		;
	if (r < 0 || rules_p_expect_end(P) < 0)
		return -1;
	if (rules_grow(&a->matches, &a->capmatches, a->nmatches, sizeof *a->matches) < 0)
		return rules_fail(P->err, &m.pos, "out of memory");
	a->matches[a->nmatches++] = m;
	return 0;
}
