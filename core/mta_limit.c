/*
 * core/mta_limit.c - a destination's outbound limits from the `mta limit`
 * statements, and its even spacing of transactions. See core/mta_limit.h.
 */
#include "core/mta_limit.h"

#include <strings.h>

#include "rules/rules.h"

/* Apply the keys l gives to the raw values v (and the rate's period). */
static void
mta_limit_apply(const struct rules_mta_limit *l, unsigned *v, unsigned *period_s)
{
	for (unsigned k = 0; k < RULES_MTA_LIMIT_KEYS; k++)
		if (l->set & (1u << k))
			v[k] = l->v[k];
	if (l->set & (1u << RULES_MTA_MAX_RATE))
		*period_s = l->rate_period_s;
}

static unsigned
mta_min(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

static unsigned
mta_max(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

void
mta_limit_resolve(const struct rules_config *c, const char *dest, struct mta_limits *out)
{
	unsigned v[RULES_MTA_LIMIT_KEYS] = {
		[RULES_MTA_MAX_CONN_PER_HOST] = MTA_LIMIT_MAX_CONN_PER_HOST,
		[RULES_MTA_MAX_CONN_PER_ROUTE] = MTA_LIMIT_MAX_CONN_PER_ROUTE,
		[RULES_MTA_MAX_CONN_PER_DOMAIN] = MTA_LIMIT_MAX_CONN_PER_DOMAIN,
		[RULES_MTA_MAX_CONN_PER_RELAY] = MTA_LIMIT_MAX_CONN_PER_RELAY,
		[RULES_MTA_SESSION_MAIL_MAX] = MTA_LIMIT_SESSION_MAIL_MAX,
		[RULES_MTA_SESSION_KEEPALIVE] = MTA_LIMIT_SESSION_KEEPALIVE_S,
		[RULES_MTA_SESSION_SETUP_TIMEOUT] = MTA_LIMIT_SESSION_SETUP_TIMEOUT_S,
	};
	unsigned period_s = 0;
	for (unsigned pass = 0; c != NULL && pass < 2; pass++) {
		for (unsigned i = 0; i < c->nmta_limits; i++) {
			const struct rules_mta_limit *l = &c->mta_limits[i];
			int global = l->domain[0] == '\0';
			if (pass == 0 ? global : !global && strcasecmp(l->domain, dest) == 0)
				mta_limit_apply(l, v, &period_s);
		}
	}
	out->conns_per_dest = mta_min(v[RULES_MTA_MAX_CONN_PER_DOMAIN],
	                              v[RULES_MTA_MAX_CONN_PER_RELAY]);
	out->conns_per_addr = mta_min(v[RULES_MTA_MAX_CONN_PER_HOST],
	                              v[RULES_MTA_MAX_CONN_PER_ROUTE]);
	out->conn_delay_dest_ms = 1000 * mta_max(v[RULES_MTA_CONN_DELAY_DOMAIN],
	                                         v[RULES_MTA_CONN_DELAY_RELAY]);
	out->conn_delay_addr_ms = 1000 * mta_max(v[RULES_MTA_CONN_DELAY_HOST],
	                                         v[RULES_MTA_CONN_DELAY_ROUTE]);
	out->mails_per_session = v[RULES_MTA_SESSION_MAIL_MAX];
	out->keepalive_ms = 1000 * v[RULES_MTA_SESSION_KEEPALIVE];
	out->setup_timeout_ms = 1000 * v[RULES_MTA_SESSION_SETUP_TIMEOUT];
	unsigned n = v[RULES_MTA_MAX_RATE];
	out->rate_interval_ms = n > 0 && period_s > 0 ? (period_s * 1000 + n - 1) / n : 0;
}

uint64_t
mta_rate_wait(const struct mta_rate *r, const struct mta_limits *l, uint64_t now_ms)
{
	if (l->rate_interval_ms == 0 || now_ms >= r->next_ms)
		return 0;
	return r->next_ms - now_ms;
}

void
mta_rate_take(struct mta_rate *r, const struct mta_limits *l, uint64_t now_ms)
{
	r->next_ms = now_ms + l->rate_interval_ms;
}

unsigned
mta_window_allowed(const struct mta_window *w, const struct mta_limits *l)
{
	return mta_min(w->conns ? w->conns : MTA_LIMIT_INITIAL_CONNS, l->conns_per_dest);
}

void
mta_window_success(struct mta_window *w, const struct mta_limits *l, unsigned open)
{
	unsigned allowed = mta_window_allowed(w, l);
	if (open < allowed || allowed >= l->conns_per_dest)
		return;   /* not all in use, or at the limit: no reason to grow */
	if (++w->credit >= allowed) {
		w->conns = allowed + 1;
		w->credit = 0;
	}
}

void
mta_window_failure(struct mta_window *w)
{
	if (w->conns == 0)
		w->conns = MTA_LIMIT_INITIAL_CONNS;
	if (w->conns > 1)
		w->conns--;
	w->credit = 0;
}
