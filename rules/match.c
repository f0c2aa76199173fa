/*
 * rules/match.c - rules_match(): walk the compiled decision table for one
 * recipient, first matching row wins (OpenSMTPD ruleset_match()). Each
 * condition answers 1, 0 or -1 (a table could not answer); "!" inverts 1 and
 * 0 but never -1, which becomes RULES_TEMPFAIL. No I/O, no allocation, no
 * writes: every shard may call it on the same config at once.
 */
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

/* Apply "!" to a condition result, keeping -1. */
static int
match_neg(int r, int neg)
{
	if (r < 0)
		return -1;
	return neg ? !r : r;
}

/* The domain of a recipient; "" when it has none (postmaster). */
static const char *
match_domain(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	return at ? at + 1 : "";
}

/* "for local": localhost or this machine's name (a bare user is local). */
static int
match_for_local(const struct rules_config *c, const char *domain)
{
	return domain[0] == '\0' || strcasecmp(domain, "localhost") == 0 ||
	       (c->hostname[0] != '\0' && strcasecmp(domain, c->hostname) == 0);
}

/* [!]from: any, local (loopback or socket), socket, src <table>. */
static int
match_from(const struct rules_row_cond *f, const struct rules_query *q)
{
	int r;

	switch (f->kind) {
	case RULES_COND_ANY: r = 1; break;
	case RULES_COND_LOCAL: r = q->local != 0; break;
	case RULES_COND_SOCKET: r = q->local && q->src == NULL; break;
	case RULES_COND_TABLE: r = rules_tab_match_addr(f->tab, q->src); break;
	default: r = 1; break;
	}
	return match_neg(r, f->neg);
}

/* [!]for: any, local, domain <table>. */
static int
match_for(const struct rules_config *c, const struct rules_row_cond *f, const char *domain)
{
	int r;

	switch (f->kind) {
	case RULES_COND_ANY: r = 1; break;
	case RULES_COND_LOCAL: r = match_for_local(c, domain); break;
	case RULES_COND_TABLE: r = rules_tab_match(f->tab, RULES_LOOKUP_DOMAIN, domain); break;
	default: r = 1; break;
	}
	return match_neg(r, f->neg);
}

/* A table condition on a string key; untested ones answer 1. */
static int
match_key(const struct rules_row_cond *f, enum rules_lookup kind, const char *key)
{
	if (f->kind != RULES_COND_TABLE)
		return 1;
	return match_neg(rules_tab_match(f->tab, kind, key), f->neg);
}

/* One row against q: 1 match, 0 no, -1 a table could not answer. */
static int
match_row(const struct rules_config *c, const struct rules_row *row, const struct rules_query *q)
{
	const char *tag = q->listener_tag ? q->listener_tag : "";
	const char *from = q->mail_from ? q->mail_from : "";
	const char *rcpt = q->rcpt ? q->rcpt : "";
	int r;

	if ((r = match_key(&row->tag, RULES_LOOKUP_STRING, tag)) != 1 ||
	    (r = match_from(&row->from, q)) != 1 ||
	    (r = match_for(c, &row->rcpt_for, match_domain(rcpt))) != 1 ||
	    (r = match_key(&row->mail_from, RULES_LOOKUP_MAILADDR, from)) != 1 ||
	    (r = match_key(&row->rcpt_to, RULES_LOOKUP_MAILADDR, rcpt)) != 1)
		return r;
	return 1;
}

/* Call at RCPT TO: the verdict, the action (ACCEPT) and the deciding line. */
enum rules_verdict
rules_match(const struct rules_config *c, const struct rules_query *q,
            const struct rules_action **action, unsigned *line)
{
	const struct rules_table *t = c->table;
	unsigned i;
	int r;

	if (action)
		*action = NULL;
	if (line)
		*line = 0;
	if (c->nunsupported > 0)
		return RULES_TEMPFAIL; /* never decide without what the config asks */
	for (i = 0; i < t->nrows; i++) {
		if ((r = match_row(c, &t->rows[i], q)) == 0)
			continue;
		if (line)
			*line = t->rows[i].line;
		if (r < 0)
			return RULES_TEMPFAIL;
		if (t->rows[i].reject)
			return RULES_REJECT;
		if (action)
			*action = t->rows[i].action;
		return RULES_ACCEPT;
	}
	return RULES_NOMATCH;
}
