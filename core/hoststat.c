/*
 * core/hoststat.c - a shard's table of the last relay outcome per domain.
 * See core/hoststat.h.
 */
#include "core/hoststat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_proto.h"

void
hoststat_update(struct hoststat_table **tp, const char *domain, uint64_t tm, const char *error)
{
	char key[HOSTSTAT_DOMAIN_BYTES];
	size_t n = 0;
	for (; domain[n] != '\0' && n + 1 < sizeof key; n++)
		key[n] = (char)tolower((unsigned char)domain[n]);
	key[n] = '\0';
	if (n == 0)
		return;
	if (*tp == NULL && (*tp = calloc(1, sizeof **tp)) == NULL)
		return;   /* no memory: the outcome is not shown */
	struct hoststat_table *t = *tp;
	struct hoststat *slot = &t->v[0];
	for (unsigned i = 0; i < HOSTSTAT_DOMAINS_MAX; i++) {
		struct hoststat *h = &t->v[i];
		if (h->tm != 0 && strcmp(h->domain, key) == 0) {
			slot = h;
			break;
		}
		if (h->tm < slot->tm)
			slot = h;   /* a free one, else the oldest */
	}
	slot->tm = tm ? tm : 1;
	memcpy(slot->domain, key, n + 1);
	size_t k = 0;
	for (; error[k] != '\0' && k + 1 < sizeof slot->error; k++)
		slot->error[k] = error[k] == '\n' || error[k] == '\r' || error[k] == '|' ? ' ' : error[k];
	slot->error[k] = '\0';
}

void
hoststat_records(const struct hoststat_table *t, struct ctl_buf *out)
{
	char tm[24];
	for (unsigned i = 0; t != NULL && i < HOSTSTAT_DOMAINS_MAX; i++) {
		const struct hoststat *h = &t->v[i];
		if (h->tm == 0)
			continue;
		snprintf(tm, sizeof tm, "%llu", (unsigned long long)h->tm);
		const char *kv[] = { "domain", h->domain, "time", tm, "error", h->error };
		ctl_encode(out, CTL_RECORD, 0, 0, kv, 6, NULL, 0);
	}
}

void
hoststat_free(struct hoststat_table *t)
{
	free(t);
}
