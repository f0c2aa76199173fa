/*
 * rules/parse_milter.c - the `milter` statement and a listener's `milter`
 * option (rules/milter.h): the socket in Postfix's notation resolved here,
 * numerically (no DNS at load), the options, and the names a listener
 * gives checked against the milters declared before it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "rules/milter.h"
#include "rules/parser_int.h"

const char *
rules_milter_default_name(enum rules_milter_default d)
{
	return d == RULES_MILTER_DEFAULT_ACCEPT ? "accept" :
	       d == RULES_MILTER_DEFAULT_REJECT ? "reject" : "tempfail";
}

/* inet:HOST:PORT ([v6]:PORT, localhost) into m; NULL or why not. */
static const char *
milter_inet(const char *s, struct rules_milter *m)
{
	char host[64];
	const char *colon;
	size_t hl;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return "an IPv6 address in brackets then :PORT";
		hl = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return "HOST:PORT";
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof host)
		return "a host before :PORT";
	memcpy(host, s, hl);
	host[hl] = '\0';
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port == 0 || port > 65535)
		return "a port from 1 to 65535";
	struct sockaddr_in *a4 = (struct sockaddr_in *)&m->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&m->addr;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		m->addr_len = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		m->addr_len = sizeof *a6;
	} else {
		return "a numeric address (or localhost): no DNS lookup at load";
	}
	return NULL;
}

/* The socket spec into m; 0 or -1 at pos. */
static int
milter_socket(struct rules_parser *P, const struct rules_pos *pos, struct rules_milter *m)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&m->addr;
	const char *s = m->spec, *why;

	if (strncmp(s, "inet:", 5) == 0) {
		if ((why = milter_inet(s + 5, m)) != NULL)
			return rules_fail(P->err, pos, "milter socket \"%s\": inet: needs %s", s, why);
		return 0;
	}
	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		const char *path = strchr(s, ':') + 1;
		if (path[0] != '/' || strlen(path) >= sizeof un->sun_path)
			return rules_fail(P->err, pos, "milter socket \"%s\": unix: needs an absolute "
			                  "path under %zu bytes", s, sizeof un->sun_path);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		m->addr_len = sizeof *un;
		return 0;
	}
	return rules_fail(P->err, pos, "milter socket \"%s\": expected \"inet:HOST:PORT\" or "
	                  "\"unix:/path\"", s);
}

/* [timeout D] [default accept|tempfail|reject], each once; 0 or -1. */
static int
milter_options(struct rules_parser *P, struct rules_milter *m)
{
	static const char *const opts[] = { "timeout", "default", NULL };
	static const char *const dflts[] = { "tempfail", "accept", "reject", NULL };
	const struct rules_tok *t;
	int seen_timeout = 0, seen_default = 0;

	for (;;) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (rules_p_is_end(t))
			return rules_p_expect_end(P);
		if (!rules_p_in_list(opts, t))
			return rules_p_unknown(P, t, "milter option", opts);
		struct rules_pos pos = t->pos;
		if (strcmp(t->text, "timeout") == 0) {
			if (seen_timeout++)
				return rules_fail(P->err, &pos, "timeout already specified");
			rules_p_advance(P);
			if (rules_p_delay(P, "a timeout", &m->timeout_s) < 0)
				return -1;
			if (m->timeout_s == 0 || m->timeout_s > RULES_MILTER_TIMEOUT_S_MAX)
				return rules_fail(P->err, &pos, "milter timeout from 1s to %ds",
				                  RULES_MILTER_TIMEOUT_S_MAX);
			continue;
		}
		if (seen_default++)
			return rules_fail(P->err, &pos, "default already specified");
		rules_p_advance(P);
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_in_list(dflts, t))
			return rules_p_unknown(P, t, "milter default action", dflts);
		for (unsigned i = 0; dflts[i]; i++)
			if (strcmp(t->text, dflts[i]) == 0)
				m->dflt = (enum rules_milter_default)i;
		rules_p_advance(P);
	}
}

/* The milter declared as name, or -1. */
static int
milter_find(const struct rules_ast *a, const char *name)
{
	for (unsigned i = 0; i < a->nmilters; i++)
		if (strcmp(a->milters[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
rules_parse_milter(struct rules_parser *P)
{
	struct rules_ast *a = P->ast;
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos stmt = t->pos, npos, spos;
	struct rules_milter m;

	memset(&m, 0, sizeof m);
	rules_p_advance(P);
	if (rules_p_take_name(P, m.name, sizeof m.name, "a milter name", &npos) < 0)
		return -1;
	if (milter_find(a, m.name) >= 0)
		return rules_fail(P->err, &npos, "milter \"%s\" already declared at line %u", m.name,
		                  a->milters[milter_find(a, m.name)].line);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (rules_p_is_end(t))
		return rules_fail(P->err, &t->pos, "milter %s needs a socket "
		                  "(\"inet:127.0.0.1:8891\" or \"unix:/path\")", m.name);
	if (rules_p_take_value(P, m.spec, sizeof m.spec, "a milter socket", &spos) < 0 ||
	    milter_socket(P, &spos, &m) < 0)
		return -1;
	m.timeout_s = RULES_MILTER_TIMEOUT_S_DEFAULT;
	m.line = stmt.line;
	if (milter_options(P, &m) < 0)
		return -1;
	if (a->nmilters >= RULES_MILTERS_MAX)
		return rules_fail(P->err, &stmt, "more than %d milters", RULES_MILTERS_MAX);
	if (a->milters == NULL && (a->milters = calloc(RULES_MILTERS_MAX, sizeof *a->milters)) == NULL)
		return rules_fail(P->err, &stmt, "out of memory");
	a->milters[a->nmilters++] = m;
	return 0;
}

/* One milter name of a listener into milters[*n]; 0 or -1. */
static int
milter_ref(struct rules_parser *P, unsigned char *milters, unsigned *n)
{
	char name[RULES_NAME_BYTES_MAX];
	struct rules_pos pos;
	int i;

	if (rules_p_take_name(P, name, sizeof name, "a milter name", &pos) < 0)
		return -1;
	if ((i = milter_find(P->ast, name)) < 0)
		return rules_fail(P->err, &pos, "unknown milter \"%s\" (declare it before this line: "
		                  "milter %s \"inet:HOST:PORT\")", name, name);
	for (unsigned k = 0; k < *n; k++)
		if (milters[k] == i)
			return rules_fail(P->err, &pos, "milter \"%s\" is twice in this list", name);
	if (*n >= RULES_LISTENER_MILTERS_MAX)
		return rules_fail(P->err, &pos, "more than %d milters on one listener",
		                  RULES_LISTENER_MILTERS_MAX);
	milters[(*n)++] = (unsigned char)i;
	return 0;
}

/* A listener's milter list as rules_p_brace_list() reads it. */
struct milter_list {
	unsigned char *milters;
	unsigned *n;
};

static int
milter_list_entry(struct rules_parser *P, void *arg)
{
	struct milter_list *l = arg;
	return milter_ref(P, l->milters, l->n);
}

int
rules_p_listen_milters(struct rules_parser *P, unsigned char *milters, unsigned *n)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct milter_list l = { .milters = milters, .n = n };

	if (t == NULL)
		return -1;
	if (!rules_p_is_punct(t, '{'))
		return milter_ref(P, milters, n);
	return rules_p_brace_list(P, "milter list", 0, milter_list_entry, &l);
}
