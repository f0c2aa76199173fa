/*
 * rules/filter_eval.c - rules_filter_eval(): one phase of a listener's
 * builtin filter chain over what the session knows (rules/filter.h). Each
 * check answers 1 (match), 0 or -1 (cannot answer) with the criteria code
 * of the match lines (match_crit.h), so "filter ... match helo <t>" and
 * "match helo <t>" look tables up the same way. Pure: no I/O.
 */
#include <stddef.h>

#include "rules/rules_int.h"

/* the matching loops' criteria; this file uses some of them */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "rules/match_crit.h"
#pragma GCC diagnostic pop

static const char *const filter_phase_names[RULES_PHASES] = {
	"connect", "helo", "ehlo", "auth", "mail-from", "rcpt-to", "data", "commit",
};
static const char *const filter_check_names[] = {
	"fcrdns", "rdns", "src", "helo", "auth", "mail-from", "rcpt-to", "dnsbl", "country", "asn",
};
static const char *const filter_action_names[] = {
	"junk", "bypass", "reject", "disconnect", "rewrite", "report",
};

const char *
rules_filter_phase_name(enum rules_filter_phase p)
{
	return (unsigned)p < RULES_PHASES ? filter_phase_names[p] : "?";
}

const char *
rules_filter_check_name(enum rules_filter_check k)
{
	return (unsigned)k <= RULES_FCHECK_ASN ? filter_check_names[k] : "?";
}

const char *
rules_filter_action_name(enum rules_filter_action a)
{
	return (unsigned)a <= RULES_FACTION_REPORT ? filter_action_names[a] : "?";
}

/* f's check as a match line's criterion. */
static struct rules_row_cond
filter_cond(const struct rules_filter *f)
{
	struct rules_row_cond c = {
		.kind = f->tab != NULL ? RULES_COND_TABLE : RULES_COND_FLAG,
		.neg = f->neg,
		.regex = f->regex,
		.tab = f->tab,
	};
	return c;
}

/* [!]fcrdns: pass matches; not looked up or failed for now: -1. */
static int
filter_fcrdns(const struct rules_filter *f, enum rules_fcrdns v)
{
	if (v == RULES_FCRDNS_UNKNOWN || v == RULES_FCRDNS_TEMPFAIL)
		return -1;
	return match_neg(v == RULES_FCRDNS_PASS, f->neg);
}

/* [!]dnsbl ZONE: listed matches; not looked up or failed for now: -1. */
static int
filter_dnsbl(const struct rules_filter *f, const struct rules_filter_facts *facts, unsigned i)
{
	uint8_t v = facts->dnsbl != NULL ? facts->dnsbl[i] : RULES_DNSBL_UNKNOWN;

	if (v != RULES_DNSBL_LISTED && v != RULES_DNSBL_CLEAN)
		return -1;
	return match_neg(v == RULES_DNSBL_LISTED, f->neg);
}

/* [!]country T, [!]asn T: the session's GeoIP answer v, as match_geo()
 * reads it for match lines. */
static int
filter_geo(const struct rules_row_cond *c, const char *v)
{
	if (v == NULL)
		return -1;
	if (v[0] == '\0')
		return match_neg(0, c->neg);
	return match_key(c, RULES_LOOKUP_STRING, v);
}

/* [!]src [regex] T: the client's address (a regex sees it as text). */
static int
filter_src(const struct rules_row_cond *c, const struct rules_query *q)
{
	char text[INET6_ADDRSTRLEN];

	if (c->regex)
		return match_key(c, RULES_LOOKUP_STRING, match_src_text(q->src, text, sizeof text));
	return match_neg(rules_tab_match_addr(c->tab, q->src), c->neg);
}

/* The answer of the i-th filter f's check: 1, 0 or -1. */
static int
filter_check(const struct rules_filter *f, unsigned i, const struct rules_filter_facts *facts)
{
	const struct rules_query *q = &facts->q;
	struct rules_row_cond c = filter_cond(f);

	switch (f->check) {
	case RULES_FCHECK_FCRDNS: return filter_fcrdns(f, facts->fcrdns);
	case RULES_FCHECK_RDNS: return match_rdns(&c, q);
	case RULES_FCHECK_SRC: return filter_src(&c, q);
	case RULES_FCHECK_HELO:
		return match_key(&c, RULES_LOOKUP_DOMAIN, q->helo != NULL ? q->helo : "");
	case RULES_FCHECK_AUTH: return match_auth(&c, q);
	case RULES_FCHECK_MAIL_FROM:
		return match_key(&c, RULES_LOOKUP_MAILADDR, q->mail_from != NULL ? q->mail_from : "");
	case RULES_FCHECK_RCPT_TO:
		return match_key(&c, RULES_LOOKUP_MAILADDR, q->rcpt != NULL ? q->rcpt : "");
	case RULES_FCHECK_DNSBL: return filter_dnsbl(f, facts, i);
	case RULES_FCHECK_COUNTRY: return filter_geo(&c, q->country);
	case RULES_FCHECK_ASN: return filter_geo(&c, q->asn);
	}
	return -1;
}

/* See rules/filter.h. OpenSMTPD's order: a filter whose check matches
 * fires its action; report goes on to the next filter, the others end
 * the chain (bypass with proceed). */
void
rules_filter_eval(const struct rules_listener *l, enum rules_filter_phase phase,
                  const struct rules_filter_facts *facts, struct rules_filter_verdict *v)
{
	const struct rules_filter *f;
	static const enum rules_filter_result results[] = {
		[RULES_FACTION_JUNK] = RULES_FILTER_JUNK,
		[RULES_FACTION_BYPASS] = RULES_FILTER_PROCEED,
		[RULES_FACTION_REJECT] = RULES_FILTER_REJECT,
		[RULES_FACTION_DISCONNECT] = RULES_FILTER_DISCONNECT,
		[RULES_FACTION_REWRITE] = RULES_FILTER_REWRITE,
		[RULES_FACTION_REPORT] = RULES_FILTER_PROCEED,
	};
	int r;

	v->result = RULES_FILTER_PROCEED;
	v->filter = NULL;
	v->reports = 0;
	for (unsigned i = 0; i < l->nfilters && i < RULES_FILTER_CHAIN_MAX; i++) {
		f = l->filters[i];
		if (f->phase != phase)
			continue;
		if ((r = filter_check(f, i, facts)) == 0)
			continue;
		v->filter = f;
		if (r < 0) {
			v->result = RULES_FILTER_TEMPFAIL;
			return;
		}
		if (f->action == RULES_FACTION_REPORT) {
			v->reports |= 1ull << i;
			v->filter = NULL;
			continue;
		}
		v->result = results[f->action];
		return;
	}
}

/* See rules/filter.h. */
int
rules_filter_needs_rdns(const struct rules_listener *l)
{
	int need = 0;

	for (unsigned i = 0; i < l->nfilters; i++) {
		if (l->filters[i]->check == RULES_FCHECK_FCRDNS)
			return 2;
		if (l->filters[i]->check == RULES_FCHECK_RDNS)
			need = 1;
	}
	return need;
}
