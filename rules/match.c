/*
 * rules/match.c - deciding a recipient with the compiled decision table,
 * first matching row wins (OpenSMTPD ruleset_match()). Each criterion
 * answers 1, 0 or -1 (cannot answer: an rDNS name not known, a key too
 * long); "!" inverts 1 and 0 but never -1. A row answers 0 when one of its
 * criteria does, else -1 when one could not answer (the verdict is then
 * RULES_TEMPFAIL, never a later row), else 1. rules_match() evaluates a
 * row whole; the staged functions evaluate the session's criteria once
 * into a candidate set, the reverse path's once per MAIL, and per RCPT only
 * the recipient's criteria of the rows left. No I/O, no allocation, no
 * writes to the config: every shard may call these on the same config.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

/* Apply "!" to a criterion's answer, keeping -1. */
static int
match_neg(int r, int neg)
{
	if (r < 0)
		return -1;
	return neg ? !r : r;
}

/* Two answers of one row together: 0 wins over -1, -1 over 1. */
static int
match_and(int a, int b)
{
	if (a == 0 || b == 0)
		return 0;
	return a < 0 || b < 0 ? -1 : 1;
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

/* A table criterion on a string key, plain or regex; untested ones answer 1. */
static int
match_key(const struct rules_row_cond *f, enum rules_lookup kind, const char *key)
{
	int r;

	if (f->kind != RULES_COND_TABLE)
		return 1;
	r = f->regex ? rules_tab_match_regex(f->tab, key) : rules_tab_match(f->tab, kind, key);
	return match_neg(r, f->neg);
}

/* The client address as text for "from src regex": "local" for the local
 * socket, dotted IPv4 (a v4-mapped client too), else IPv6. */
static const char *
match_src_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa == NULL)
		return "local";
	if (sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, cap);
	if (sa->sa_family != AF_INET6)
		return "";
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, buf, cap);
	return inet_ntop(AF_INET6, &in6->sin6_addr, buf, cap);
}

/* [!]from rdns [[regex] T] (OpenSMTPD: with a table, a client without a
 * name never matches, "!" or not). Not looked up or failed: -1. */
static int
match_rdns(const struct rules_row_cond *f, const struct rules_query *q)
{
	int named;

	if (q->rdns_state == RULES_RDNS_UNKNOWN || q->rdns_state == RULES_RDNS_TEMPFAIL)
		return -1;
	named = q->rdns_state == RULES_RDNS_FOUND && q->rdns != NULL && q->rdns[0] != '\0';
	if (f->kind != RULES_COND_TABLE)
		return match_neg(named, f->neg);
	if (!named)
		return 0;
	return match_key(f, RULES_LOOKUP_DOMAIN, q->rdns);
}

/* [!]from any, local (loopback or socket), socket, src [regex] T, rdns. */
static int
match_from(const struct rules_row *row, const struct rules_query *q)
{
	const struct rules_row_cond *f = &row->from;
	char text[INET6_ADDRSTRLEN];
	int r;

	if (row->from_rdns)
		return match_rdns(f, q);
	switch (f->kind) {
	case RULES_COND_ANY: r = 1; break;
	case RULES_COND_LOCAL: r = q->local != 0; break;
	case RULES_COND_SOCKET: r = q->local && q->src == NULL; break;
	case RULES_COND_TABLE:
		if (f->regex)
			return match_key(f, RULES_LOOKUP_STRING,
			                 match_src_text(q->src, text, sizeof text));
		r = rules_tab_match_addr(f->tab, q->src);
		break;
	default: r = 1; break;
	}
	return match_neg(r, f->neg);
}

/* [!]auth [[regex] T]: a session without AUTH answers 0 (before "!"); a
 * user name with '@' is looked up as a mail address (OpenSMTPD). */
static int
match_auth(const struct rules_row_cond *f, const struct rules_query *q)
{
	if (f->kind == RULES_COND_NONE)
		return 1;
	if (q->auth_user == NULL)
		return match_neg(0, f->neg);
	if (f->kind != RULES_COND_TABLE)
		return match_neg(1, f->neg);
	return match_key(f, strchr(q->auth_user, '@') ? RULES_LOOKUP_MAILADDR : RULES_LOOKUP_STRING,
	                 q->auth_user);
}

/* [!]tls: the session runs under TLS (STARTTLS or smtps). */
static int
match_tls(const struct rules_row_cond *f, const struct rules_query *q)
{
	if (f->kind == RULES_COND_NONE)
		return 1;
	return match_neg(q->tls != 0, f->neg);
}

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

/* The reverse path's criterion. */
static int
row_mail(const struct rules_row *row, const char *mail_from)
{
	return match_key(&row->mail_from, RULES_LOOKUP_MAILADDR, mail_from ? mail_from : "");
}

/* A recipient, its domain prepared once for every row (dom NULL: too long). */
struct match_rcpt {
	const char *addr;
	const char *domain;
	const struct rules_key *dom;
};

/* [!]for any, local, domain [regex] T. */
static int
match_for(const struct rules_config *c, const struct rules_row_cond *f,
          const struct match_rcpt *m)
{
	int r;

	switch (f->kind) {
	case RULES_COND_ANY: r = 1; break;
	case RULES_COND_LOCAL: r = match_for_local(c, m->domain); break;
	case RULES_COND_TABLE:
		if (f->regex)
			return match_key(f, RULES_LOOKUP_DOMAIN, m->domain);
		r = m->dom ? rules_tab_match_domain_key(f->tab, m->dom) : -1;
		break;
	default: r = 1; break;
	}
	return match_neg(r, f->neg);
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

/* Fill m for rcpt; buf (RULES_KEY_BYTES_MAX) holds the lowercased domain. */
static void
match_rcpt_prepare(struct match_rcpt *m, struct rules_key *k, const char *rcpt, char *buf)
{
	m->addr = rcpt ? rcpt : "";
	m->domain = match_domain(m->addr);
	m->dom = rules_key_prepare(k, m->domain, buf, RULES_KEY_BYTES_MAX) == 0 ? k : NULL;
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
