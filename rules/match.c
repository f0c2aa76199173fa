/*
 * rules/match.c - deciding a recipient with the compiled decision table,
 * first matching row wins (OpenSMTPD ruleset_match()). Each criterion
 * answers 1, 0 or -1 (cannot answer: an rDNS name not known, a key too
 * long); "!" inverts 1 and 0 but never -1. A row answers 0 when one of its
 * criteria does, else -1 when one could not answer (the verdict is then
 * RULES_TEMPFAIL, never a later row), else 1. rules_match() evaluates a
 * row whole; the staged functions evaluate the session's criteria once
 * into a candidate set, the reverse path's once per MAIL, and per RCPT only
 * the recipient's criteria of the rows left. The criteria themselves are
 * in match_crit.h, shared with match_row.c (the rule tester's reasons).
 * No I/O, no allocation, no writes to the config: every shard may call
 * these on the same config.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "rules/match_crit.h"
#include "rules/rules_int.h"

/* The criteria known once per session: tag, from, helo, auth, tls. */
static int
row_session(const struct rules_row *row, const struct rules_query *q)
{
	int r;

	if ((r = match_key(&row->tag, RULES_LOOKUP_STRING,
	                   q->listener_tag ? q->listener_tag : "")) == 0 ||
	    (r = match_and(r, match_from(row, q))) == 0 ||
	    (r = match_and(r, match_key(&row->helo, RULES_LOOKUP_DOMAIN,
	                                q->helo ? q->helo : ""))) == 0 ||
	    (r = match_and(r, match_auth(&row->auth, q))) == 0)
		return 0;
	return match_and(r, match_tls(&row->tls, q));
}

/* The recipient's criteria: for, rcpt-to. */
static int
row_rcpt(const struct rules_config *c, const struct rules_row *row, const struct match_rcpt *m)
{
	int r = match_for(c, &row->rcpt_for, m);

	if (r == 0)
		return 0;
	return match_and(r, match_key(&row->rcpt_to, RULES_LOOKUP_MAILADDR, m->addr));
}

/* The verdict of the first row that did not answer 0. */
static enum rules_verdict
match_decide(const struct rules_row *row, int r, const struct rules_action **action,
             unsigned *line)
{
	if (line)
		*line = row->line;
	if (r < 0)
		return RULES_TEMPFAIL;
	if (row->reject)
		return RULES_REJECT;
	if (action)
		*action = row->action;
	return RULES_ACCEPT;
}

/* Clear the outputs; 1 when the config cannot be decided at all. */
static int
match_begin(const struct rules_config *c, const struct rules_action **action, unsigned *line)
{
	if (action)
		*action = NULL;
	if (line)
		*line = 0;
	return c->table->undecidable;
}

/* Call at RCPT TO: the verdict, the action (ACCEPT) and the deciding line. */
enum rules_verdict
rules_match(const struct rules_config *c, const struct rules_query *q,
            const struct rules_action **action, unsigned *line)
{
	const struct rules_table *t = c->table;
	char dombuf[RULES_KEY_BYTES_MAX];
	struct rules_key k;
	struct match_rcpt m;
	int r;

	if (match_begin(c, action, line))
		return RULES_TEMPFAIL; /* never decide without what the config asks */
	match_rcpt_prepare(&m, &k, q->rcpt, dombuf);
	for (unsigned i = 0; i < t->nrows; i++) {
		const struct rules_row *row = &t->rows[i];
		if ((r = row_session(row, q)) == 0 ||
		    (r = match_and(r, row_mail(row, q->mail_from))) == 0 ||
		    (r = match_and(r, row_rcpt(c, row, &m))) == 0)
			continue;
		return match_decide(row, r, action, line);
	}
	return RULES_NOMATCH;
}

/* Words of one candidate set: the may-match half, then the tempfail half. */
size_t
rules_candidates_words(const struct rules_config *c)
{
	return 2 * (size_t)c->table->words;
}

/* Call at session start and after HELO/EHLO, STARTTLS, AUTH (rules.h). */
void
rules_session_candidates(const struct rules_config *c, const struct rules_query *q,
                         uint64_t *set)
{
	const struct rules_table *t = c->table;
	uint64_t *temp = set + t->words;
	int r;

	memset(set, 0, rules_candidates_words(c) * sizeof *set);
	for (unsigned i = 0; i < t->nrows; i++) {
		if ((r = row_session(&t->rows[i], q)) == 0)
			continue;
		set[i / 64] |= 1ull << (i % 64);
		if (r < 0)
			temp[i / 64] |= 1ull << (i % 64);
	}
}

/* Call at MAIL FROM: only the rows with a mail-from criterion are read. */
void
rules_mail_candidates(const struct rules_config *c, const uint64_t *in, const char *mail_from,
                      uint64_t *out)
{
	const struct rules_table *t = c->table;
	uint64_t *temp = out + t->words;
	int r;

	if (out != in)
		memcpy(out, in, rules_candidates_words(c) * sizeof *out);
	for (unsigned w = 0; w < t->words; w++) {
		for (uint64_t bits = out[w] & t->mail_rows[w]; bits != 0; bits &= bits - 1) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			if ((r = row_mail(&t->rows[w * 64 + b], mail_from)) == 0)
				out[w] &= ~(1ull << b);
			else if (r < 0)
				temp[w] |= 1ull << b;
		}
	}
}

/* Call at RCPT TO with the set of rules_mail_candidates(): as rules_match(). */
enum rules_verdict
rules_match_rcpt(const struct rules_config *c, const uint64_t *set, const char *rcpt,
                 const struct rules_action **action, unsigned *line)
{
	const struct rules_table *t = c->table;
	const uint64_t *temp = set + t->words;
	char dombuf[RULES_KEY_BYTES_MAX];
	struct rules_key k;
	struct match_rcpt m;
	int r;

	if (match_begin(c, action, line))
		return RULES_TEMPFAIL;
	match_rcpt_prepare(&m, &k, rcpt, dombuf);
	for (unsigned w = 0; w < t->words; w++) {
		for (uint64_t bits = set[w]; bits != 0; bits &= bits - 1) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			const struct rules_row *row = &t->rows[w * 64 + b];
			if ((r = row_rcpt(c, row, &m)) == 0)
				continue;
			if (temp[w] & (1ull << b))
				r = -1;
			return match_decide(row, r, action, line);
		}
	}
	return RULES_NOMATCH;
}

int
rules_needs_rdns(const struct rules_config *c)
{
	for (unsigned i = 0; c->table != NULL && i < c->table->nrows; i++)
		if (c->table->rows[i].from_rdns)
			return 1;
	return 0;
}
