/*
 * rules/parse_metrics.c - `metrics listen on ADDRESS port N`, ringmta's own
 * statement (OpenSMTPD has none): where the OpenMetrics endpoint listens.
 * ADDRESS is an IPv4 or IPv6 literal or "localhost" (127.0.0.1); off when
 * absent. One per configuration.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rules/parser_int.h"

/* The address word into l; 0 or -1. */
static int
metrics_address(struct rules_parser *P, const char *text, struct rules_listener *l,
                const struct rules_pos *pos)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->addr;
	const char *a = strcmp(text, "localhost") == 0 ? "127.0.0.1" : text;
	memset(&l->addr, 0, sizeof l->addr);
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		l->addr_len = sizeof *s4;
	} else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		l->addr_len = sizeof *s6;
	} else {
		return rules_fail(P->err, pos, "metrics listen on needs an IPv4 or IPv6 address "
		                  "or localhost, not \"%.60s\"", text);
	}
	snprintf(l->spec, sizeof l->spec, "%s", text);
	return 0;
}

int
rules_parse_metrics(struct rules_parser *P)
{
	struct rules_listener *l = &P->ast->metrics;
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos stmt = t->pos, pos;
	char addr[RULES_HOST_BYTES_MAX];
	long long port;

	if (l->addr_len != 0)
		return rules_fail(P->err, &stmt, "metrics already declared at line %u", l->line);
	rules_p_advance(P);
	static const char *const listen_word[] = { "listen", NULL };
	static const char *const on_word[] = { "on", NULL };
	static const char *const port_word[] = { "port", NULL };
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "listen"))
		return rules_p_unknown(P, t, "metrics keyword", listen_word);
	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "on"))
		return rules_p_unknown(P, t, "word", on_word);
	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	pos = t->pos;
	if (rules_p_take_value(P, addr, sizeof addr, "an address", &pos) < 0 ||
	    metrics_address(P, addr, l, &pos) < 0)
		return -1;
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "port")) {
		if (rules_p_is_end(t))
			return rules_fail(P->err, &t->pos, "metrics listen on needs a port "
			                  "(metrics listen on %s port N)", addr);
		return rules_p_unknown(P, t, "word", port_word);
	}
	rules_p_advance(P);
	if (rules_p_number(P, 1, 65535, "port", &port) < 0)
		return -1;
	if (l->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&l->addr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&l->addr)->sin6_port = htons((uint16_t)port);
	l->line = stmt.line;
	return rules_p_expect_end(P);
}
