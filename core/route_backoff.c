/*
 * core/route_backoff.c - the growing pause of a failing route. See
 * core/route_backoff.h.
 */
#include "core/route_backoff.h"

#include <stdio.h>

uint64_t
route_backoff_delay_ms(unsigned failures)
{
	if (failures < ROUTE_BACKOFF_AFTER)
		return 0;
	uint64_t d = ROUTE_BACKOFF_BASE_MS;
	for (unsigned i = ROUTE_BACKOFF_AFTER; i < failures && d < ROUTE_BACKOFF_MAX_MS; i++)
		d *= 2;
	return d < ROUTE_BACKOFF_MAX_MS ? d : ROUTE_BACKOFF_MAX_MS;
}

uint64_t
route_backoff_failed(struct route_backoff *b, uint64_t now_ms, const char *why)
{
	if (b->failures < 1000)
		b->failures++;
	b->last_ms = now_ms;
	snprintf(b->why, sizeof b->why, "%s", why ? why : "");
	uint64_t d = route_backoff_delay_ms(b->failures);
	b->until_ms = now_ms + d;
	return d;
}

void
route_backoff_ok(struct route_backoff *b)
{
	b->failures = 0;
	b->until_ms = 0;
}

int
route_backoff_active(const struct route_backoff *b, uint64_t now_ms)
{
	return now_ms < b->until_ms;
}
