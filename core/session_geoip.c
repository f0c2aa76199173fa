/*
 * core/session_geoip.c - a session's country and AS number: looked up in
 * the daemon's current GeoIP databases (core/geoip.c) once the client's
 * address is known (at accept, or after a PROXY header), counted in the
 * shard's sessions by country (core/geoip_stats.h), and given to the
 * rules, the connect log line and Received:. The databases are read under
 * the daemon's pointer; the main thread frees a replaced one only after
 * every shard passed a turn, so a lookup never outlives its database.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "core/daemon.h"
#include "core/session_int.h"

void
session_geoip_lookup(struct session *s)
{
	struct daemon *d = s->shard->daemon;
	const struct geoip *g = atomic_load_explicit(&d->geoip, memory_order_acquire);
	if (g == NULL)
		return;   /* no geoip statement: s->geo stays unknown */
	int socket = s->peer.ss_family != AF_INET && s->peer.ss_family != AF_INET6;
	geoip_lookup(g, socket ? NULL : (const struct sockaddr *)&s->peer, &s->geo);
	if (geoip_has_country(g))
		geoip_stats_count(&s->shard->geo_stats, s->geo.country_known ? s->geo.country : NULL);
}

/* v as a log value: the code, "none" when the database has none, "error"
 * when the lookup failed. */
static const char *
session_geoip_value(const char *v, int known)
{
	return !known ? "error" : v[0] ? v : "none";
}

const char *
session_geoip_log(const struct session *s, char *buf, size_t cap)
{
	const struct geoip *g = atomic_load_explicit(&s->shard->daemon->geoip,
	                                             memory_order_acquire);
	size_t n = 0;
	buf[0] = '\0';
	if (geoip_has_country(g))
		n += (size_t)snprintf(buf, cap, " country=%s",
		                      session_geoip_value(s->geo.country, s->geo.country_known));
	if (geoip_has_asn(g) && n < cap)
		snprintf(buf + n, cap - n, " asn=%s", session_geoip_value(s->geo.asn, s->geo.asn_known));
	return buf;
}

const char *
session_geoip_received(const struct session *s, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = '\0';
	if (s->geo.country[0])
		n += (size_t)snprintf(buf, cap, " country=%s", s->geo.country);
	if (s->geo.asn[0] && n < cap)
		snprintf(buf + n, cap - n, " asn=%s", s->geo.asn);
	return buf;
}

void
session_geoip_query(const struct session *s, const char **country, const char **asn)
{
	*country = s->geo.country_known ? s->geo.country : NULL;
	*asn = s->geo.asn_known ? s->geo.asn : NULL;
}
