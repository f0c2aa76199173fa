/*
 * core/mta_limit.h - the outbound limits of one destination, its rate and
 * its slow start.
 * Pure: no I/O, no clock (callers pass now in milliseconds).
 *
 * mta_limit_resolve() gives a destination (a domain routed by MX, or a
 * smart host's name) its limits: ringmta's defaults (OpenSMTPD's, except
 * that connections start without delay and an address takes 20 at once),
 * then every global `mta limit` statement in file order, then every
 * `mta limit for domain D` whose D is the destination (compared without
 * case), so a domain's own keys win.
 *
 * What the keys mean here (core/relay.c applies them): the destination is
 * OpenSMTPD's domain and relay, so its connections are capped by the lower
 * of max-conn-per-domain and max-conn-per-relay, spaced by the larger of
 * conn-delay-domain and conn-delay-relay; one address of its route is
 * OpenSMTPD's host and (one source address) route, capped by the lower of
 * max-conn-per-host and max-conn-per-route, spaced by the larger delay.
 * Those two default to 20, Postfix's default_destination_concurrency_limit
 * (OpenSMTPD has 10 and 5).
 *
 * Slow start, as Postfix's: a destination opens at most
 * MTA_LIMIT_INITIAL_CONNS connections at first (Postfix's
 * initial_destination_concurrency), one more each time as many
 * transactions as it may have open succeeded while all of them were in
 * use, never above its limits; a failing route (connect, greeting, a
 * session ended before its first transaction) takes one away, down to one.
 * struct mta_window holds it; core/relay.c starts it again when the
 * destination has neither a connection nor a message left.
 *
 * The rate (`max-rate N/s|N/m`, ringmta's own) spaces the destination's
 * transactions evenly, one every period/N (rounded up to the millisecond),
 * never a burst: mta_rate_wait() says how long until the next may start,
 * mta_rate_take() records one starting.
 */
#ifndef CORE_MTA_LIMIT_H
#define CORE_MTA_LIMIT_H

#include <stdint.h>

struct rules_config;

struct mta_limits {
	unsigned conns_per_dest;       /* connections at once to the destination */
	unsigned conns_per_addr;       /* ... to one of its addresses */
	unsigned conn_delay_dest_ms;   /* between two connections opened */
	unsigned conn_delay_addr_ms;
	unsigned mails_per_session;    /* transactions on one connection */
	unsigned keepalive_ms;         /* an idle connection says QUIT after it */
	unsigned rate_interval_ms;     /* 0: no rate limit */
	unsigned setup_timeout_ms;     /* connected to the first transaction */
};

#define MTA_LIMIT_MAX_CONN_PER_HOST 20
#define MTA_LIMIT_MAX_CONN_PER_ROUTE 20
#define MTA_LIMIT_INITIAL_CONNS 5
#define MTA_LIMIT_MAX_CONN_PER_DOMAIN 100
#define MTA_LIMIT_MAX_CONN_PER_RELAY 100
#define MTA_LIMIT_SESSION_MAIL_MAX 100
#define MTA_LIMIT_SESSION_KEEPALIVE_S 10
#define MTA_LIMIT_SESSION_SETUP_TIMEOUT_S 300   /* RFC 5321 4.5.3.2.1: the
                                                 * greeting's 5 minutes */

/* The limits of destination dest (a domain or host name; c may be NULL:
 * the defaults). */
void mta_limit_resolve(const struct rules_config *c, const char *dest, struct mta_limits *out);

struct mta_rate {
	uint64_t next_ms;    /* the next transaction may start at this time */
};

/* Milliseconds until a transaction may start (0: now). */
uint64_t mta_rate_wait(const struct mta_rate *r, const struct mta_limits *l, uint64_t now_ms);
/* A transaction starts at now_ms. */
void mta_rate_take(struct mta_rate *r, const struct mta_limits *l, uint64_t now_ms);

struct mta_window {
	unsigned conns;     /* connections the destination may have open now;
	                     * 0: not started (MTA_LIMIT_INITIAL_CONNS) */
	unsigned credit;    /* transactions done at full use since it grew */
};

/* Connections the destination may have open now: the window, never above
 * l's connections per destination. */
unsigned mta_window_allowed(const struct mta_window *w, const struct mta_limits *l);
/* A transaction succeeded while the destination had `open` connections. */
void mta_window_success(struct mta_window *w, const struct mta_limits *l, unsigned open);
/* A route of the destination failed. */
void mta_window_failure(struct mta_window *w);

#endif
