/*
 * rules/match_crit.h - the criteria of a decision table row, each answering
 * 1 (match), 0 (no match) or -1 (cannot answer), and how two answers of a
 * row combine. Static functions, included by match.c (the matching loops
 * the daemon runs) and match_row.c (one row criterion by criterion, for
 * the rule tester), so both evaluate with the same code and the loops are
 * compiled as if these were their own. Include after rules/rules_int.h;
 * nothing else includes it.
 */
#ifndef RULES_MATCH_CRIT_H
#define RULES_MATCH_CRIT_H

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

/* [!]from country T | asn T: the client's code or number as the daemon
 * looked it up; none found ("") is no match before "!", so "!from
 * country <allowed>" matches it; not looked up (NULL) answers -1. */
static int
match_geo(const struct rules_row *row, const struct rules_query *q)
{
	const char *v = row->from_geo == RULES_GEO_COUNTRY ? q->country : q->asn;

	if (v == NULL)
		return -1;
	if (v[0] == '\0')
		return match_neg(0, row->from.neg);
	return match_key(&row->from, RULES_LOOKUP_STRING, v);
}

/* [!]from any, local (loopback or socket), socket, src [regex] T, rdns,
 * country T, asn T. */
static int
match_from(const struct rules_row *row, const struct rules_query *q)
{
	const struct rules_row_cond *f = &row->from;
	char text[INET6_ADDRSTRLEN];
	int r;

	if (row->from_rdns)
		return match_rdns(f, q);
	if (row->from_geo != RULES_GEO_NONE)
		return match_geo(row, q);
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

/* Fill m for rcpt; buf (RULES_KEY_BYTES_MAX) holds the lowercased domain. */
static void
match_rcpt_prepare(struct match_rcpt *m, struct rules_key *k, const char *rcpt, char *buf)
{
	m->addr = rcpt ? rcpt : "";
	m->domain = match_domain(m->addr);
	m->dom = rules_key_prepare(k, m->domain, buf, RULES_KEY_BYTES_MAX) == 0 ? k : NULL;
}

#endif
