/*
 * core/geoip_stats.h - sessions by the client's country since start, for
 * `smtpctl show stats` (smtp.session.country.XX). Each shard counts its
 * own sessions in a fixed table with a slot for every two-letter code
 * (26 x 26) and one for clients no database placed, written only by that
 * shard (relaxed atomics, as core/metrics.h), read by the main thread.
 * Bounded whatever the clients: no allocation, no growth. The report
 * names the GEOIP_STATS_TOP countries with the most sessions and sums the
 * rest as "other".
 */
#ifndef CORE_GEOIP_STATS_H
#define CORE_GEOIP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define GEOIP_STATS_CODES (26 * 26)
#define GEOIP_STATS_SLOTS (GEOIP_STATS_CODES + 1)   /* the last: no country */
#define GEOIP_STATS_TOP 10
#define GEOIP_STATS_ROWS_MAX (GEOIP_STATS_TOP + 2)   /* + "other" and "none" */

struct geoip_stats {
	_Atomic uint64_t n[GEOIP_STATS_SLOTS];
};

/* One row of the report: key "GB", "other" or "none". */
struct geoip_stats_row {
	char key[8];
	uint64_t n;
};

/* On the owning shard's thread: one session from country ("" or NULL:
 * none; anything but two letters counts as none). */
void geoip_stats_count(struct geoip_stats *s, const char *country);
/* Add s's counts into sum (GEOIP_STATS_SLOTS of them); any thread. */
void geoip_stats_sum(const struct geoip_stats *s, uint64_t *sum);
/* The report of sum into rows (GEOIP_STATS_ROWS_MAX): the most counted
 * countries first (ties by code), then "other" and "none" when not zero.
 * Returns the number of rows; 0 when nothing was counted. */
unsigned geoip_stats_report(const uint64_t *sum, struct geoip_stats_row *rows);

#endif
