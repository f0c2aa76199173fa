/*
 * core/route_backoff.h - when a next hop that keeps failing is tried
 * again. Pure: no I/O, no clock (callers pass now in milliseconds).
 *
 * A failure to connect (refused, timeout), a 421 or other refusal of the
 * greeting, or a session that stalls before its first transaction counts
 * against the route (one address of a destination); after
 * ROUTE_BACKOFF_AFTER failures in a row the route is skipped for a delay
 * that doubles with each further failure, from ROUTE_BACKOFF_BASE_MS up to
 * ROUTE_BACKOFF_MAX_MS. A session that reaches its first transaction
 * clears it. The reason is kept for `smtpctl show routes`.
 *
 *   route_backoff_failed()   one more failure at now with why (cut to fit);
 *                            returns the delay now in force (0: none yet)
 *   route_backoff_ok()       a session worked: forget the failures
 *   route_backoff_active()   skipped at now? (1/0)
 *   route_backoff_delay_ms() the delay after n failures in a row
 */
#ifndef CORE_ROUTE_BACKOFF_H
#define CORE_ROUTE_BACKOFF_H

#include <stdint.h>

#define ROUTE_BACKOFF_AFTER 1            /* failures in a row before a pause */
#define ROUTE_BACKOFF_BASE_MS 10000u     /* the first pause */
#define ROUTE_BACKOFF_MAX_MS 3600000u    /* the longest pause */
#define ROUTE_BACKOFF_WHY_BYTES 160

struct route_backoff {
	unsigned failures;        /* in a row */
	uint64_t until_ms;        /* skipped until then */
	uint64_t last_ms;         /* the last failure */
	char why[ROUTE_BACKOFF_WHY_BYTES];   /* the last failure's reason, "" none */
};

uint64_t route_backoff_delay_ms(unsigned failures);
uint64_t route_backoff_failed(struct route_backoff *b, uint64_t now_ms, const char *why);
void route_backoff_ok(struct route_backoff *b);
int route_backoff_active(const struct route_backoff *b, uint64_t now_ms);

#endif
