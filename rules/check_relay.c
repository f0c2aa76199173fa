/*
 * rules/check_relay.c - the tables of a relay action's options, checked
 * when the configuration loads: every `src` entry one address (at most
 * RULES_RELAY_SRC_MAX of them), every `domain` value a relay URL the
 * daemon can use; and the source addresses copied into the compiled
 * action. See rules/rules_int.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

/* "table "x"" or "{ ... }" for messages. */
static void
check_relay_name(const struct rules_tabref *ref, char *buf, size_t cap)
{
	if (ref->inl)
		snprintf(buf, cap, "{ ... }");
	else
		snprintf(buf, cap, "\"%s\"", ref->tab->name);
}

/* src: single addresses, not networks; 0 or -1. */
static int
check_relay_src(const struct rules_tabref *ref, struct rules_error *err)
{
	const struct rules_tab *t = ref->tab;
	char name[RULES_NAME_BYTES_MAX + 8];
	unsigned i;

	check_relay_name(ref, name, sizeof name);
	if (t->nnets > RULES_RELAY_SRC_MAX)
		return rules_fail(err, &ref->pos, "src table %s holds %u addresses (at most %d)",
		                  name, t->nnets, RULES_RELAY_SRC_MAX);
	for (i = 0; i < t->nnets; i++)
		if (t->nets[i].bits != (t->nets[i].family == AF_INET ? 32u : 128u))
			return rules_fail(err, &ref->pos, "src table %s holds a network (/%u): source "
			                  "addresses must be single addresses", name, t->nets[i].bits);
	return 0;
}

/* domain: each value a relay URL, not lmtp://, without a label; 0 or -1. */
static int
check_relay_domain(const struct rules_tabref *ref, struct rules_error *err)
{
	const struct rules_tab *t = ref->tab;
	char name[RULES_NAME_BYTES_MAX + 8], why[RULES_ERROR_BYTES_MAX], line[32] = "";
	struct rules_relay_url u;
	unsigned i;

	check_relay_name(ref, name, sizeof name);
	for (i = 0; i < t->n; i++) {
		const struct rules_tab_entry *e = &t->e[i];
		why[0] = '\0';
		if (e->value == NULL)
			snprintf(why, sizeof why, "no relay URL");
		else if (rules_relay_url_parse(e->value, &u, why, sizeof why) == 0 &&
		         u.scheme_ix == 3)
			snprintf(why, sizeof why, "lmtp:// is not a relay host");
		else if (why[0] == '\0' && u.label[0] != '\0')
			snprintf(why, sizeof why, "a label (credentials) is not taken here");
		else if (why[0] == '\0')
			continue;
		if (e->line && e->column) {   /* written in the config: point at it */
			struct rules_pos at = ref->pos;
			at.line = e->line;
			at.column = e->column;
			return rules_fail(err, &at, "relay domain table %s: the entry for \"%.64s\": %s",
			                  name, e->key, why);
		}
		if (e->line)
			snprintf(line, sizeof line, " (line %u)", e->line);
		return rules_fail(err, &ref->pos, "relay domain table %s: the entry for \"%.64s\"%s: %s",
		                  name, e->key, line, why);
	}
	return 0;
}

int
rules_check_relay_use(const struct rules_ast_tabuse *u, struct rules_error *err)
{
	if (strcmp(u->what, "src") == 0)
		return check_relay_src(&u->ref, err);
	if (strcmp(u->what, "domain") == 0)
		return check_relay_domain(&u->ref, err);
	return 0;
}

void
rules_relay_src_fill(const struct rules_tab *t, struct rules_action *a)
{
	unsigned i;

	a->nrelay_src = 0;
	for (i = 0; i < t->nnets && a->nrelay_src < RULES_RELAY_SRC_MAX; i++) {
		const struct rules_net *n = &t->nets[i];
		struct sockaddr_storage *ss = &a->relay_src[a->nrelay_src++];
		memset(ss, 0, sizeof *ss);
		if (n->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, n->addr, 4);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, n->addr, 16);
		}
	}
}
