/*
 * rules/explain.c - the rule tester behind smtpd -n -T: the transaction
 * description ("from=192.0.2.1 helo=mx.example.org mail-from=a@example.org
 * rcpt-to=b@example.com [auth=USER] [rdns=NAME|none] [tls]
 * [listener=PORT|TAG] [country=XX|none] [asn=N|none]") parsed and checked into a struct
 * rules_transaction, then for each recipient the daemon's verdict (from
 * rules_session_candidates(), rules_mail_candidates() and
 * rules_match_rcpt(), as core/session.c calls them), why each earlier rule
 * does not match (the first failing criterion by match_row.c, with its
 * subject and table), and the reply the daemon gives: rules_refusal() is
 * where core/session.c takes its refusal texts from. Facts a description
 * leaves out are taken as the daemon would see a session without them
 * (no AUTH, no PTR name, no TLS, no country or AS number) and said so where they decide. A
 * bounce to an SRS address is decoded as core/srs.c does (the clock is the
 * transaction's now_s) and the original tried as from a local client.
 * Writes only to the FILE* given.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/srs.h"
#include "rules/rules_int.h"

#define TX_WORD_BYTES_MAX 1024         /* one key=value of a description */
#define TX_SUBJECT_BYTES_MAX (RULES_TX_ADDR_BYTES_MAX + 64)

static const char *const tx_keys[] = {
	"from", "helo", "mail-from", "rcpt-to", "auth", "rdns", "listener", "tls", "country", "asn",
	NULL,
};

/* See rules.h. */
void
rules_refusal(enum rules_verdict v, const char *rcpt, struct rules_reply *r)
{
	if (v == RULES_TEMPFAIL) {
		r->code = 451;
		r->status = "4.3.0";
		snprintf(r->text, sizeof r->text, "Temporary failure, try again later");
	} else if (v == RULES_REJECT) {
		r->code = 550;
		r->status = "5.7.1";
		snprintf(r->text, sizeof r->text, "Delivery not authorized, message rejected");
	} else {
		r->code = 550;
		r->status = "5.1.1";
		snprintf(r->text, sizeof r->text, "Invalid recipient: <%.256s>", rcpt ? rcpt : "");
	}
}

/* ---- the description ---- */

/* Fill err; returns -1. */
static int
tx_fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
tx_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* 1 when v has no space, control byte or DEL (UTF-8 is allowed). */
static int
tx_printable(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || *v == 0x7f)
			return 0;
	return 1;
}

/* Copy key's value v into out (cap bytes); -1 when too long or empty. */
static int
tx_copy(char *out, size_t cap, const char *key, const char *v, char *err, size_t ecap)
{
	if (v[0] == '\0')
		return tx_fail(err, ecap, "%s= needs a value", key);
	if (strlen(v) >= cap)
		return tx_fail(err, ecap, "%s= is too long (at most %zu bytes)", key, cap - 1);
	snprintf(out, cap, "%s", v);
	return 0;
}

/* from=ADDRESS|socket into tx->src. */
static int
tx_from(struct rules_transaction *tx, const char *v, char *err, size_t cap)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&tx->src;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&tx->src;

	memset(&tx->src, 0, sizeof tx->src);
	if (strcmp(v, "socket") == 0)
		return tx_copy(tx->from, sizeof tx->from, "from", v, err, cap);
	if (inet_pton(AF_INET, v, &in4->sin_addr) == 1)
		in4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, v, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		return tx_fail(err, cap, "bad from=%.64s: expected an IPv4 or IPv6 address, or socket",
		               v);
	return tx_copy(tx->from, sizeof tx->from, "from", v, err, cap);
}

/* An address of mail-from= or rcpt-to=, <> around it optional: user@domain
 * (both parts non-empty), "" when null is allowed, postmaster when bare is. */
static int
tx_addr(char *out, const char *key, const char *v, int null_ok, int bare_ok, char *err,
        size_t cap)
{
	char a[RULES_TX_ADDR_BYTES_MAX];
	size_t len = strlen(v), skip = 0;
	const char *at;

	if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		skip = 1;
		len -= 2;
	}
	if (len >= sizeof a)
		return tx_fail(err, cap, "%s= is too long (at most %zu bytes)", key, sizeof a - 1);
	memcpy(a, v + skip, len);
	a[len] = '\0';
	at = strrchr(a, '@');
	if ((len == 0 && null_ok) || (bare_ok && strcasecmp(a, "postmaster") == 0) ||
	    (at != NULL && at != a && at[1] != '\0' && strchr(a, '<') == NULL &&
	     strchr(a, '>') == NULL)) {
		memcpy(out, a, len + 1);
		return 0;
	}
	return tx_fail(err, cap, "bad %s=%.64s: expected user@domain%s", key, v,
	               null_ok ? ", or <> for the null sender" : bare_ok ? " or postmaster" : "");
}

/* country=XX (two letters, kept upper case) or asn=N (1..4294967295),
 * or none for a client the database does not know. */
static int
tx_geo(struct rules_transaction *tx, const char *key, const char *v, char *err, size_t cap)
{
	int country = key[0] == 'c';
	size_t digits = strspn(v, "0123456789");

	*(country ? &tx->country_given : &tx->asn_given) = 1;
	if (strcmp(v, "none") == 0)
		return 0;
	if (country) {
		if (strlen(v) != 2 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1]))
			return tx_fail(err, cap, "bad country=%.64s: expected two letters (GB) or none", v);
		tx->country[0] = (char)toupper((unsigned char)v[0]);
		tx->country[1] = (char)toupper((unsigned char)v[1]);
		return 0;
	}
	if (digits == 0 || v[digits] != '\0' || v[0] == '0' || digits > 10 ||
	    strtoull(v, NULL, 10) > 4294967295ull)
		return tx_fail(err, cap, "bad asn=%.64s: expected an AS number (64496) or none", v);
	return tx_copy(tx->asn, sizeof tx->asn, key, v, err, cap);
}

/* listener=PORT (1..65535) or listener=TAG. */
static int
tx_listener(struct rules_transaction *tx, const char *v, char *err, size_t cap)
{
	size_t digits = strspn(v, "0123456789");

	if (v[0] != '\0' && v[digits] == '\0' && (digits > 5 || atoi(v) < 1 || atoi(v) > 65535))
		return tx_fail(err, cap, "bad listener=%s: a port is 1 to 65535", v);
	tx->listener_given = 1;
	return tx_copy(tx->listener, sizeof tx->listener, "listener", v, err, cap);
}

/* The key=value of one word; seen[] counts each key. */
static int
tx_pair(struct rules_transaction *tx, const char *key, const char *v, char *err, size_t cap)
{
	if (strcmp(key, "from") == 0)
		return tx_from(tx, v, err, cap);
	if (strcmp(key, "helo") == 0)
		return tx_copy(tx->helo, sizeof tx->helo, key, v, err, cap);
	if (strcmp(key, "mail-from") == 0)
		return tx_addr(tx->mail_from, key, v, 1, 0, err, cap);
	if (strcmp(key, "rcpt-to") == 0) {
		if (tx->nrcpts == RULES_TX_RCPTS_MAX)
			return tx_fail(err, cap, "more than %d rcpt-to=", RULES_TX_RCPTS_MAX);
		if (tx_addr(tx->rcpts[tx->nrcpts], key, v, 0, 1, err, cap) < 0)
			return -1;
		tx->nrcpts++;
		return 0;
	}
	if (strcmp(key, "auth") == 0) {
		tx->auth_given = 1;
		return tx_copy(tx->auth, sizeof tx->auth, key, v, err, cap);
	}
	if (strcmp(key, "rdns") == 0) {
		tx->rdns_given = 1;
		return strcmp(v, "none") == 0 ? 0 : tx_copy(tx->rdns, sizeof tx->rdns, key, v, err, cap);
	}
	if (strcmp(key, "country") == 0 || strcmp(key, "asn") == 0)
		return tx_geo(tx, key, v, err, cap);
	return tx_listener(tx, v, err, cap);
}

/* "unknown word "x"", with the closest key when one is close. */
static int
tx_unknown(const char *key, char *err, size_t cap)
{
	const char *near = rules_suggest(key, tx_keys);

	if (near != NULL)
		return tx_fail(err, cap, "unknown key \"%.64s\"; did you mean \"%s\"?", key, near);
	return tx_fail(err, cap, "unknown key \"%.64s\"; expected from=, helo=, mail-from=, "
	               "rcpt-to=, auth=, rdns=, listener=, country=, asn= or tls", key);
}

/* Index of key in tx_keys, or -1. */
static int
tx_key_index(const char *key)
{
	for (int i = 0; tx_keys[i] != NULL; i++)
		if (strcmp(tx_keys[i], key) == 0)
			return i;
	return -1;
}

/* One word of the description; seen[] counts each key. */
static int
tx_word(struct rules_transaction *tx, char *w, unsigned *seen, char *err, size_t cap)
{
	char *eq = strchr(w, '=');
	int i;

	if (eq != NULL)
		*eq = '\0';
	if ((i = tx_key_index(w)) < 0)
		return tx_unknown(w, err, cap);
	if (strcmp(w, "tls") == 0 && eq != NULL)
		return tx_fail(err, cap, "tls takes no value: write tls, or leave it out");
	if (strcmp(w, "tls") != 0 && eq == NULL)
		return tx_fail(err, cap, "%s needs a value: %s=...", w, w);
	if (seen[i]++ > 0 && strcmp(w, "rcpt-to") != 0)
		return tx_fail(err, cap, "%s= given twice", w);
	if (eq == NULL) {
		tx->tls = 1;
		return 0;
	}
	if (!tx_printable(eq + 1))
		return tx_fail(err, cap, "%s= holds a control byte", w);
	return tx_pair(tx, w, eq + 1, err, cap);
}

/* See rules.h. */
int
rules_transaction_parse(const char *text, struct rules_transaction *tx, char *err, size_t cap)
{
	unsigned seen[sizeof tx_keys / sizeof tx_keys[0]] = { 0 };
	char w[TX_WORD_BYTES_MAX];
	size_t len;

	memset(tx, 0, sizeof *tx);
	for (;;) {
		text += strspn(text, " \t\r\n");
		if ((len = strcspn(text, " \t\r\n")) == 0)
			break;
		if (len >= sizeof w)
			return tx_fail(err, cap, "\"%.32s...\" is too long (at most %zu bytes)", text,
			               sizeof w - 1);
		memcpy(w, text, len);
		w[len] = '\0';
		text += len;
		if (tx_word(tx, w, seen, err, cap) < 0)
			return -1;
	}
	if (!seen[tx_key_index("from")])
		return tx_fail(err, cap, "missing from= (an IPv4 or IPv6 address, or socket)");
	if (!seen[tx_key_index("mail-from")])
		return tx_fail(err, cap, "missing mail-from= (user@domain, or <>)");
	if (tx->nrcpts == 0)
		return tx_fail(err, cap, "missing rcpt-to= (user@domain; several allowed)");
	return 0;
}

/* ---- the explanation ---- */

struct explain {
	const struct rules_config *c;
	const struct rules_transaction *tx;
	FILE *out;
	struct rules_query q;
	int listener;              /* index in c->listeners, -1 for none */
	int tls_implied;           /* listener= names an smtps or tls-require one */
};

/* A loopback source, as core/session.c counts it local. */
static int
explain_loopback(const struct sockaddr_storage *ss)
{
	return (ss->ss_family == AF_INET &&
	        (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127) ||
	       (ss->ss_family == AF_INET6 &&
	        IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr));
}

/* The port a listener binds. */
static unsigned
explain_listener_port(const struct rules_listener *l)
{
	if (l->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	if (l->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
	return 0;
}

/* The first listener on the port or with the tag listener= names; -1. */
static int
explain_find_listener(const struct rules_config *c, const char *want)
{
	int port = want[strspn(want, "0123456789")] == '\0' ? atoi(want) : -1;

	for (unsigned i = 0; i < c->nlisteners; i++) {
		const struct rules_listener *l = &c->listeners[i];
		if (port >= 0 ? explain_listener_port(l) == (unsigned)port :
		                strcasecmp(l->tag, want) == 0)
			return (int)i;
	}
	return -1;
}

/* The session's facts from the description, as the daemon would see them. */
static int
explain_query(struct explain *x, char *err, size_t cap)
{
	const struct rules_transaction *tx = x->tx;
	const struct rules_listener *l;
	int socket = tx->src.ss_family == 0;

	x->listener = -1;
	if (tx->listener_given && (x->listener = explain_find_listener(x->c, tx->listener)) < 0)
		return tx_fail(err, cap, "listener=%s: no listener %s %s", tx->listener,
		               isdigit((unsigned char)tx->listener[0]) ? "on port" : "has the tag",
		               tx->listener);
	l = x->listener >= 0 ? &x->c->listeners[x->listener] : NULL;
	x->tls_implied = l != NULL && (l->tls == RULES_TLS_SMTPS || l->tls == RULES_TLS_REQUIRE);
	memset(&x->q, 0, sizeof x->q);
	x->q.local = socket || explain_loopback(&tx->src);
	x->q.src = socket ? NULL : (const struct sockaddr *)&tx->src;
	x->q.listener_tag = l != NULL ? l->tag : "";
	x->q.helo = tx->helo;
	x->q.tls = tx->tls || x->tls_implied;
	x->q.auth_user = tx->auth_given ? tx->auth : NULL;
	x->q.rdns_state = tx->rdns[0] != '\0' ? RULES_RDNS_FOUND : RULES_RDNS_NONE;
	x->q.rdns = tx->rdns;
	x->q.country = tx->country;
	x->q.asn = tx->asn;
	x->q.mail_from = tx->mail_from;
	return 0;
}

/* "session: from ..., helo ..., tls ..., auth ..., rdns ..., tag ..." and
 * "mail-from: <...>": the facts every rule is tried against. */
static void
explain_header(const struct explain *x)
{
	const struct rules_transaction *tx = x->tx;
	FILE *out = x->out;

	fprintf(out, "session: from %s%s, helo %s, tls %s", tx->from, x->q.local ? " (local)" : "",
	        tx->helo[0] ? tx->helo : "none", x->q.tls ? "yes" : "no");
	if (x->tls_implied)
		fprintf(out, " (listener %s is %s)", tx->listener,
		        x->c->listeners[x->listener].tls == RULES_TLS_SMTPS ? "smtps" : "tls-require");
	fprintf(out, ", auth %s%s", tx->auth_given ? tx->auth : "none",
	        tx->auth_given ? "" : " (no auth= given)");
	fprintf(out, ", rdns %s%s", tx->rdns[0] ? tx->rdns : "none",
	        tx->rdns_given ? "" : " (no rdns= given)");
	if (tx->country_given || tx->asn_given || x->c->geoip_country[0] || x->c->geoip_asn[0])
		fprintf(out, ", country %s%s, asn %s%s", tx->country[0] ? tx->country : "none",
		        tx->country_given ? "" : " (no country= given)", tx->asn[0] ? tx->asn : "none",
		        tx->asn_given ? "" : " (no asn= given)");
	if (x->listener < 0)
		fputs(", tag none\n", out);
	else
		fprintf(out, ", tag %s (listener %d)\n", x->q.listener_tag[0] ? x->q.listener_tag :
		        "none", x->listener + 1);
	fprintf(out, "mail-from: <%s>\n", tx->mail_from);
}

/* "S is not in table "t"" / "S is in { a }"; regex: "S matches no / a
 * pattern of ..."; an answer of -1: the lookup could not answer. */
static void
explain_lookup(FILE *out, const struct rules_row_cond *f, int r, const char *subject)
{
	if (r < 0)
		fprintf(out, "%s cannot be looked up in ", subject);
	else if (f->regex)
		fprintf(out, "%s %s ", subject, f->neg ? "matches a pattern of" : "matches no pattern of");
	else
		fprintf(out, "%s %s ", subject, f->neg ? "is in" : "is not in");
	rules_dump_table_ref(out, f->tab);
	if (r < 0)
		fputs(" (too long)", out);
}

/* The client as the reasons name it. */
static const char *
explain_client(const struct explain *x, char *buf, size_t cap)
{
	if (x->q.src == NULL)
		return "the local socket";
	return rules_src_text(x->q.src, buf, cap);
}

/* Why from country T or from asn T did not match. */
static void
explain_geo(const struct explain *x, const struct rules_row *row, int r)
{
	int country = row->from_geo == RULES_GEO_COUNTRY;
	const char *v = country ? x->q.country : x->q.asn;
	int given = country ? x->tx->country_given : x->tx->asn_given;
	char buf[32];

	if (v[0] == '\0') {
		fprintf(x->out, "the client has no %s%s", country ? "country" : "AS number",
		        given ? "" : country ? " (no country= given, treated as none)" :
		        " (no asn= given, treated as none)");
		return;
	}
	snprintf(buf, sizeof buf, "%s %s", country ? "the country" : "AS", v);
	explain_lookup(x->out, &row->from, r, buf);
}

/* Why from any|local|socket|src|rdns did not match. */
static void
explain_from(const struct explain *x, const struct rules_row *row, int r)
{
	const struct rules_row_cond *f = &row->from;
	char buf[TX_SUBJECT_BYTES_MAX], who[INET6_ADDRSTRLEN + 32];
	FILE *out = x->out;
	int named = x->q.rdns_state == RULES_RDNS_FOUND;

	snprintf(who, sizeof who, "%s", explain_client(x, buf, sizeof buf));
	if (row->from_geo != RULES_GEO_NONE) {
		explain_geo(x, row, r);
		return;
	}
	if (row->from_rdns && (!named || f->kind != RULES_COND_TABLE)) {
		if (named)
			fprintf(out, "the client's PTR name is %s", x->q.rdns);
		else
			fprintf(out, "the client has no PTR name%s",
			        x->tx->rdns_given ? "" : " (no rdns= given, treated as no PTR)");
	} else if (row->from_rdns) {
		snprintf(buf, sizeof buf, "the PTR name %s", x->q.rdns);
		explain_lookup(out, f, r, buf);
	} else if (f->kind == RULES_COND_TABLE) {
		explain_lookup(out, f, r, who);
	} else if (f->kind == RULES_COND_ANY) {
		fputs("it never matches", out);
	} else if (f->kind == RULES_COND_LOCAL) {
		fprintf(out, f->neg ? "%s is local" : "%s is not local (loopback or the local socket)",
		        who);
	} else {
		fprintf(out, f->neg ? "%s is the local socket" : "%s is not the local socket", who);
	}
}

/* Why auth [T] did not match. */
static void
explain_auth(const struct explain *x, const struct rules_row_cond *f, int r)
{
	char buf[TX_SUBJECT_BYTES_MAX];

	if (x->q.auth_user == NULL) {
		fprintf(x->out, "the session is not authenticated%s",
		        x->tx->auth_given ? "" : " (no auth= given)");
	} else if (f->kind != RULES_COND_TABLE) {
		fprintf(x->out, "the session is authenticated as %s", x->q.auth_user);
	} else {
		snprintf(buf, sizeof buf, "the user %s", x->q.auth_user);
		explain_lookup(x->out, f, r, buf);
	}
}

/* Why for any|local|domain T did not match for rcpt. */
static void
explain_for(const struct explain *x, const struct rules_row_cond *f, int r, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@'), *domain = at ? at + 1 : "";
	const char *host = x->c->hostname;
	FILE *out = x->out;

	if (f->kind == RULES_COND_ANY)
		fputs("it never matches", out);
	else if (f->kind == RULES_COND_TABLE && domain[0] != '\0')
		explain_lookup(out, f, r, domain);
	else if (f->kind == RULES_COND_TABLE)
		fprintf(out, "%s has no domain", rcpt);
	else if (f->neg)
		fprintf(out, domain[0] ? "%s is local" : "%s has no domain, which is local",
		        domain[0] ? domain : rcpt);
	else
		fprintf(out, "%s is neither localhost nor %s", domain, host[0] ? host : "this host");
}

/* Why criterion k of row, answering r (0 or -1), did not match. */
static void
explain_reason(const struct explain *x, const struct rules_row *row, enum rules_crit k, int r,
               const char *rcpt)
{
	const struct rules_row_cond *f = rules_row_cond_of(row, k);
	char buf[TX_SUBJECT_BYTES_MAX];
	FILE *out = x->out;

	switch (k) {
	case RULES_CRIT_FROM: explain_from(x, row, r); return;
	case RULES_CRIT_AUTH: explain_auth(x, f, r); return;
	case RULES_CRIT_FOR: explain_for(x, f, r, rcpt); return;
	case RULES_CRIT_TLS:
		fputs(f->neg ? "the session is under TLS" : "the session is not under TLS", out);
		return;
	case RULES_CRIT_TAG:
		if (x->q.listener_tag[0] == '\0' && !f->neg) {
			fputs("the session has no tag", out);
			return;
		}
		snprintf(buf, sizeof buf, "the tag %s", x->q.listener_tag);
		break;
	case RULES_CRIT_HELO:
		if (x->q.helo[0] == '\0' && !f->neg) {
			fputs("no HELO/EHLO name was given", out);
			return;
		}
		snprintf(buf, sizeof buf, "%s", x->q.helo);
		break;
	case RULES_CRIT_MAIL_FROM: snprintf(buf, sizeof buf, "<%s>", x->q.mail_from); break;
	default: snprintf(buf, sizeof buf, "%s", rcpt); break;
	}
	explain_lookup(out, f, r, buf);
}

/* "(auth: ...)" notes for a matching row that decided on a fact the
 * description left out. */
static void
explain_assumed(const struct explain *x, const struct rules_row *row)
{
	if (row->auth.kind != RULES_COND_NONE && !x->tx->auth_given)
		fputs("    (auth: no auth= given, treated as not authenticated)\n", x->out);
	if (row->from_rdns && !x->tx->rdns_given)
		fputs("    (from rdns: no rdns= given, treated as no PTR)\n", x->out);
	if (row->from_geo == RULES_GEO_COUNTRY && !x->tx->country_given)
		fputs("    (from country: no country= given, treated as none)\n", x->out);
	if (row->from_geo == RULES_GEO_ASN && !x->tx->asn_given)
		fputs("    (from asn: no asn= given, treated as none)\n", x->out);
}

/* The line of row i that decided, with the daemon's answer. */
static void
explain_verdict(const struct explain *x, unsigned i, int r, enum rules_crit k, const char *rcpt)
{
	const struct rules_table *t = x->c->table;
	const struct rules_row *row = &t->rows[i];
	struct rules_reply reply;
	FILE *out = x->out;

	fprintf(out, "  rule %u (%s:%u) ", i + 1, t->info[i].file, row->line);
	if (r < 0) {
		fputs("cannot decide: ", out);
		rules_dump_crit(out, t, i, k);
		fputs(": ", out);
		explain_reason(x, row, k, r, rcpt);
		rules_refusal(RULES_TEMPFAIL, rcpt, &reply);
		fprintf(out, " -> deferred with %u %s %s\n", reply.code, reply.status, reply.text);
	} else if (row->reject) {
		rules_refusal(RULES_REJECT, rcpt, &reply);
		fprintf(out, "matches -> reject: refused with %u %s %s\n", reply.code, reply.status,
		        reply.text);
	} else {
		fprintf(out, "matches -> action \"%s\" (", row->action->name);
		rules_dump_action(out, row->action);
		fputs(")\n", out);
	}
	explain_assumed(x, row);
}

/* 1 when the walk's decision (row i answering r, or none: i == nrows) is
 * the daemon's (v, action, line). */
static int
explain_agrees(const struct rules_table *t, unsigned i, int r, enum rules_verdict v,
               const struct rules_action *action, unsigned line)
{
	const struct rules_row *row = &t->rows[i < t->nrows ? i : 0];

	if (i == t->nrows)
		return v == RULES_NOMATCH;
	if (row->line != line)
		return 0;
	if (r < 0)
		return v == RULES_TEMPFAIL;
	return row->reject ? v == RULES_REJECT : v == RULES_ACCEPT && action == row->action;
}

/* The first usage rules/ cannot evaluate (the whole config answers 451). */
static const struct rules_unsupported *
explain_undecidable(const struct rules_config *c)
{
	for (unsigned i = 0; i < c->nunsupported; i++)
		if (!c->unsupported[i].evaluated)
			return &c->unsupported[i];
	return NULL;
}

/* Every row tried for rcpt, in order, until the one that decides. */
static int
explain_walk(struct explain *x, const uint64_t *set, const char *rcpt, char *err, size_t cap)
{
	const struct rules_table *t = x->c->table;
	const struct rules_action *action;
	const struct rules_unsupported *u = explain_undecidable(x->c);
	struct rules_reply reply;
	enum rules_crit k = RULES_CRITS;
	enum rules_verdict v;
	unsigned i, line;
	int r = 0;

	v = rules_match_rcpt(x->c, set, rcpt, &action, &line);
	if (t->undecidable && u != NULL) {
		rules_refusal(RULES_TEMPFAIL, rcpt, &reply);
		fprintf(x->out, "  no rule is tried: %s at %s:%u is not evaluated yet -> deferred with "
		        "%u %s %s\n", u->what, u->file, u->line, reply.code, reply.status, reply.text);
		return 0;
	}
	x->q.rcpt = rcpt;
	for (i = 0; i < t->nrows; i++) {
		if ((r = rules_row_explain(x->c, &t->rows[i], &x->q, &k)) != 0)
			break;
		fprintf(x->out, "  rule %u (%s:%u) no match: ", i + 1, t->info[i].file, t->rows[i].line);
		rules_dump_crit(x->out, t, i, k);
		fputs(": ", x->out);
		explain_reason(x, &t->rows[i], k, r, rcpt);
		fputc('\n', x->out);
	}
	if (!explain_agrees(t, i, r, v, action, line))
		return tx_fail(err, cap, "internal error: the explanation of %s disagrees with the "
		               "decision table (line %u)", rcpt, line);
	if (i < t->nrows) {
		explain_verdict(x, i, r, k, rcpt);
		return 0;
	}
	rules_refusal(RULES_NOMATCH, rcpt, &reply);
	fprintf(x->out, "  no rule matches -> refused with %u %s %s\n", reply.code, reply.status,
	        reply.text);
	return 0;
}

/* A bounce to an SRS address, as core/srs.c decodes it at RCPT: 1 with
 * the original address in dec, 0 to try rcpt as given; a line says which. */
static int
explain_srs(const struct explain *x, const char *rcpt, char *dec, size_t cap)
{
	struct proto_srs_keys k;

	if (x->tx->mail_from[0] != '\0' || !proto_srs_is_srs(rcpt) || rules_srs_keys(x->c, &k) < 0)
		return 0;
	enum proto_srs_result r = proto_srs_decode(&k, x->tx->now_s, rcpt, dec, cap);
	if (r != PROTO_SRS_OK) {
		fprintf(x->out, "  srs: not decoded (%s): tried as given\n", proto_srs_strerror(r));
		return 0;
	}
	fprintf(x->out, "  srs: decoded to %s, tried as from a local client\n", dec);
	return 1;
}

/* rcpt, or the address its SRS form decodes to with the facts of a local
 * client (OpenSMTPD's internal envelopes), through every row. */
static int
explain_rcpt(struct explain *x, const uint64_t *set, const char *rcpt, char *err, size_t cap)
{
	char dec[RULES_TX_ADDR_BYTES_MAX];
	size_t words = rules_candidates_words(x->c);

	fprintf(x->out, "rcpt-to %s:\n", rcpt[0] ? rcpt : "<>");
	if (!explain_srs(x, rcpt, dec, sizeof dec))
		return explain_walk(x, set, rcpt, err, cap);
	struct rules_query given = x->q;
	uint64_t *sets = calloc(2 * words, sizeof *sets);
	if (sets == NULL)
		return tx_fail(err, cap, "out of memory");
	x->q.local = 1;
	x->q.src = NULL;
	x->q.country = x->q.asn = "";
	rules_session_candidates(x->c, &x->q, sets);
	rules_mail_candidates(x->c, sets, x->tx->mail_from, sets + words);
	int rc = explain_walk(x, sets + words, dec, err, cap);
	x->q = given;
	free(sets);
	return rc;
}

/* See rules.h. */
int
rules_explain(const struct rules_config *c, const struct rules_transaction *tx, FILE *out,
              char *err, size_t cap)
{
	struct explain x = { .c = c, .tx = tx, .out = out };
	size_t words = rules_candidates_words(c);
	uint64_t *sets;
	int rc = 0;

	if (explain_query(&x, err, cap) < 0)
		return -1;
	if ((sets = calloc(2 * words, sizeof *sets)) == NULL)
		return tx_fail(err, cap, "out of memory");
	rules_session_candidates(c, &x.q, sets);
	rules_mail_candidates(c, sets, tx->mail_from, sets + words);
	explain_header(&x);
	for (unsigned i = 0; i < tx->nrcpts && rc == 0; i++)
		rc = explain_rcpt(&x, sets + words, tx->rcpts[i], err, cap);
	free(sets);
	return rc;
}
