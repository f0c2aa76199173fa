/*
 * rules/match_row.c - one row of the decision table criterion by
 * criterion, for the rule tester (explain.c): each criterion's answer, the
 * row's answer combined as rules_match() combines it, and the criterion
 * that decided a row that did not match. The criteria are match_crit.h's,
 * the code match.c's loops run; the loops themselves are not touched. No
 * I/O, no allocation.
 */
#include "rules/match_crit.h"
#include "rules/rules_int.h"

/* The client address as "from src regex" sees it (rules_int.h). */
const char *
rules_src_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	return match_src_text(sa, buf, cap);
}

/* When criterion k's fact is known (rules_int.h). */
enum rules_stage
rules_crit_stage(enum rules_crit k)
{
	if (k == RULES_CRIT_MAIL_FROM)
		return RULES_STAGE_MAIL;
	return k >= RULES_CRIT_FOR ? RULES_STAGE_RCPT : RULES_STAGE_SESSION;
}

/* Criterion k of row (rules_int.h). */
const struct rules_row_cond *
rules_row_cond_of(const struct rules_row *row, enum rules_crit k)
{
	switch (k) {
	case RULES_CRIT_TAG: return &row->tag;
	case RULES_CRIT_FROM: return &row->from;
	case RULES_CRIT_HELO: return &row->helo;
	case RULES_CRIT_AUTH: return &row->auth;
	case RULES_CRIT_TLS: return &row->tls;
	case RULES_CRIT_MAIL_FROM: return &row->mail_from;
	case RULES_CRIT_FOR: return &row->rcpt_for;
	default: return &row->rcpt_to;
	}
}

/* The session's criteria as match.c's row_session() calls them. */
static int
row_crit_session(const struct rules_row *row, enum rules_crit k, const struct rules_query *q)
{
	switch (k) {
	case RULES_CRIT_TAG:
		return match_key(&row->tag, RULES_LOOKUP_STRING, q->listener_tag ? q->listener_tag : "");
	case RULES_CRIT_FROM: return match_from(row, q);
	case RULES_CRIT_HELO:
		return match_key(&row->helo, RULES_LOOKUP_DOMAIN, q->helo ? q->helo : "");
	case RULES_CRIT_AUTH: return match_auth(&row->auth, q);
	default: return match_tls(&row->tls, q);
	}
}

/* One criterion of one row (rules_int.h). */
int
rules_row_crit_eval(const struct rules_config *c, const struct rules_row *row, enum rules_crit k,
                    const struct rules_query *q)
{
	char dombuf[RULES_KEY_BYTES_MAX];
	struct rules_key key;
	struct match_rcpt m;

	if (rules_crit_stage(k) == RULES_STAGE_SESSION)
		return row_crit_session(row, k, q);
	if (k == RULES_CRIT_MAIL_FROM)
		return row_mail(row, q->mail_from);
	match_rcpt_prepare(&m, &key, q->rcpt, dombuf);
	if (k == RULES_CRIT_FOR)
		return match_for(c, &row->rcpt_for, &m);
	return match_key(&row->rcpt_to, RULES_LOOKUP_MAILADDR, m.addr);
}

/* Every criterion of row, combined by match_and() (rules_int.h). */
int
rules_row_explain(const struct rules_config *c, const struct rules_row *row,
                  const struct rules_query *q, enum rules_crit *k)
{
	enum rules_crit undecided = RULES_CRITS;
	int r = 1, one;

	for (unsigned i = 0; i < RULES_CRITS; i++) {
		one = rules_row_crit_eval(c, row, (enum rules_crit)i, q);
		if ((r = match_and(r, one)) == 0) {
			*k = (enum rules_crit)i;
			return 0;
		}
		if (one < 0 && undecided == RULES_CRITS)
			undecided = (enum rules_crit)i;
	}
	*k = undecided;
	return r;
}
