/*
 * core/session_dnsbl.c - the DNSBL answers a session's builtin filters
 * ask about (`filter NAME phase P match [!]dnsbl "zone" ACTION`): at
 * connect, before the connect phase, each dnsbl filter of the listener's
 * chain gets the answer for the client's address under its zone (RFC 5782:
 * an A record in 127.0.0.0/8 is listed), from the shard's cache
 * (core/dnsbl_cache.c) or a query on the shard's resolver
 * (core/dns_client.c), into s->dnsbl[position]. The queries run at once;
 * the greeting waits for the last (session_lookup_done()). A server
 * failure, a timeout or no resolver leaves RULES_DNSBL_TEMPFAIL, which the
 * filter answers 451 (or 421 at connect): a DNS failure never passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns.h"
#include "core/dnsbl_cache.h"
#include "core/log.h"
#include "core/session_int.h"
#include "core/shard_dns.h"

/* One query in flight: which session and chain position it answers. */
struct session_dnsbl_query {
	struct session *s;
	unsigned pos;
};

/* The client's address, for the cache and the query. */
static const struct sockaddr *
session_dnsbl_addr(const struct session *s)
{
	return (const struct sockaddr *)&s->peer;
}

static void
session_dnsbl_done(void *arg, int listed, unsigned ttl_s)
{
	struct session_dnsbl_query *q = arg;
	struct session *s = q->s;
	const struct rules_filter *f = s->config->listeners[s->listener].filters[q->pos];

	if (listed >= 0 && s->shard->dnsbl_cache != NULL)
		dnsbl_cache_put(s->shard->dnsbl_cache, f->zone, session_dnsbl_addr(s), listed, ttl_s,
		                s->shard->now_ms);
	s->dnsbl[q->pos] = listed > 0 ? RULES_DNSBL_LISTED : listed == 0 ? RULES_DNSBL_CLEAN :
	                   RULES_DNSBL_TEMPFAIL;
	log_info("%016llx smtp dnsbl zone=%s result=%s", (unsigned long long)s->id, f->zone,
	         listed > 0 ? "listed" : listed == 0 ? "clean" : "tempfail");
	free(q);
	session_lookup_done(s);
}

/* See session_int.h. */
void
session_dnsbl_start(struct session *s)
{
	const struct rules_config *c = s->config;
	const struct rules_listener *l;
	struct shard *sh = s->shard;
	struct dns *d = NULL;
	int asked = 0;

	if (s->listener >= c->nlisteners)
		return;
	l = &c->listeners[s->listener];
	for (unsigned i = 0; i < l->nfilters && i < RULES_FILTER_CHAIN_MAX; i++) {
		const struct rules_filter *f = l->filters[i];
		struct session_dnsbl_query *q;
		enum dnsbl_cache_answer cached;

		if (f->check != RULES_FCHECK_DNSBL)
			continue;
		if (sh->dnsbl_cache == NULL)
			sh->dnsbl_cache = dnsbl_cache_new();   /* without memory: no cache */
		cached = sh->dnsbl_cache != NULL ?
		         dnsbl_cache_get(sh->dnsbl_cache, f->zone, session_dnsbl_addr(s), sh->now_ms) :
		         DNSBL_CACHE_MISS;
		if (cached != DNSBL_CACHE_MISS) {
			s->dnsbl[i] = cached == DNSBL_CACHE_LISTED ? RULES_DNSBL_LISTED :
			              RULES_DNSBL_CLEAN;
			continue;
		}
		if (!asked++)
			d = shard_dns(sh);   /* the resolver, made on first use */
		if (d == NULL || (q = malloc(sizeof *q)) == NULL) {
			s->dnsbl[i] = RULES_DNSBL_TEMPFAIL;
			continue;
		}
		q->s = s;
		q->pos = i;
		s->lookups++;
		s->inflight++;
		dns_client_dnsbl(d, session_dnsbl_addr(s), f->zone, session_dnsbl_done, q);
	}
}
