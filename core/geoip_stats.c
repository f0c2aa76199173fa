/*
 * core/geoip_stats.c - the per-shard table of sessions by country and its
 * top-N report (see core/geoip_stats.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/geoip_stats.h"

/* The slot of a code: two letters of either case, else the "none" slot. */
static unsigned
geoip_stats_slot(const char *c)
{
	if (c == NULL || c[0] == '\0' || c[1] == '\0' || c[2] != '\0')
		return GEOIP_STATS_CODES;
	unsigned ix[2];
	for (int k = 0; k < 2; k++) {
		char ch = c[k];
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch < 'A' || ch > 'Z')
			return GEOIP_STATS_CODES;
		ix[k] = (unsigned)(ch - 'A');
	}
	return ix[0] * 26 + ix[1];
}

void
geoip_stats_count(struct geoip_stats *s, const char *country)
{
	_Atomic uint64_t *p = &s->n[geoip_stats_slot(country)];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

void
geoip_stats_sum(const struct geoip_stats *s, uint64_t *sum)
{
	for (unsigned i = 0; i < GEOIP_STATS_SLOTS; i++)
		sum[i] += atomic_load_explicit(&((struct geoip_stats *)s)->n[i], memory_order_relaxed);
}

unsigned
geoip_stats_report(const uint64_t *sum, struct geoip_stats_row *rows)
{
	unsigned n = 0;
	uint64_t other = 0;
	/* insertion into the top list, kept sorted: at most TOP x CODES steps */
	for (unsigned i = 0; i < GEOIP_STATS_CODES; i++) {
		if (sum[i] == 0)
			continue;
		unsigned at = n;
		while (at > 0 && rows[at - 1].n < sum[i])
			at--;
		if (at == GEOIP_STATS_TOP) {
			other += sum[i];
			continue;
		}
		if (n == GEOIP_STATS_TOP)
			other += rows[--n].n;
		memmove(&rows[at + 1], &rows[at], (n - at) * sizeof rows[0]);
		snprintf(rows[at].key, sizeof rows[at].key, "%c%c", 'A' + i / 26, 'A' + i % 26);
		rows[at].n = sum[i];
		n++;
	}
	if (other > 0) {
		snprintf(rows[n].key, sizeof rows[n].key, "other");
		rows[n++].n = other;
	}
	if (sum[GEOIP_STATS_CODES] > 0) {
		snprintf(rows[n].key, sizeof rows[n].key, "none");
		rows[n++].n = sum[GEOIP_STATS_CODES];
	}
	return n;
}
