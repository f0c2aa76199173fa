/*
 * core/relay_owner.c - the key of a next hop and the shard that owns it.
 * See core/relay_owner.h.
 */
#include "core/relay_owner.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

void
relay_owner_key(const struct rules_action *a, const char *rcpt, char *key, size_t cap)
{
	const char *at = strrchr(rcpt, '@');
	struct rules_relay_url u;
	if (cap == 0)
		return;
	if (a->kind == RULES_ACTION_RELAY && a->relay_domain != NULL &&
	    rules_relay_domain_url(a, at ? at + 1 : "", &u) == 0)
		snprintf(key, cap, "host:%s:%u", u.host, (unsigned)(u.port ? u.port : 25));
	else if (a->kind == RULES_ACTION_LMTP && a->path[0] != '\0')
		snprintf(key, cap, "lmtp:%s", a->path);
	else if (a->kind == RULES_ACTION_LMTP)
		snprintf(key, cap, "lmtp:%s:%u", a->relay_host, (unsigned)a->relay_port);
	else if (a->relay_host[0] == '\0')
		snprintf(key, cap, "mx:%s", at ? at + 1 : "");
	else
		snprintf(key, cap, "host:%s:%u", a->relay_host,
		         (unsigned)(a->relay_port ? a->relay_port : 25));
	if (a->kind == RULES_ACTION_LMTP && a->path[0] != '\0')
		return;   /* a socket path keeps its case */
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

unsigned
relay_owner_shard(const char *key, unsigned nshards)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return nshards > 1 ? h % nshards : 0;
}
