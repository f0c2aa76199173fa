/*
 * core/geoip.h - the client's country and autonomous system from MaxMind
 * databases (libmaxminddb): `geoip [country] "path"` (GeoLite2-Country,
 * GeoIP2-Country or -City: country/iso_code, else registered_country) and
 * `geoip asn "path"` (GeoLite2-ASN: autonomous_system_number).
 *
 * geoip_open() maps the files (one or both paths, "" for none) and checks
 * their metadata; 0 with *out, or -1 with err naming the file and why
 * (missing, unreadable, not a MaxMind DB, corrupt, the wrong kind). The
 * result is read-only: geoip_lookup() may run on every shard at once.
 * geoip_close() unmaps and frees (NULL: nothing); the caller makes sure no
 * thread is still inside a lookup (core/daemon.c waits for every shard to
 * pass a turn after swapping in a new one).
 *
 * A database is mapped, not copied: replace its file by renaming a new one
 * over it (as geoipupdate does), never by writing into it.
 */
#ifndef CORE_GEOIP_H
#define CORE_GEOIP_H

#include <stddef.h>
#include <sys/socket.h>

#define GEOIP_ASN_BYTES 11             /* "4294967295" */

struct geoip;

/* One client's answer. Each field is "" when that database has no entry
 * for the address (a local socket client has none), and *_known is 0 when
 * there is no such database or it could not answer (a lookup error): the
 * rules then tempfail rather than guess. */
struct geoip_answer {
	char country[3];                   /* upper-case ISO 3166-1 alpha-2 */
	char asn[GEOIP_ASN_BYTES];         /* decimal */
	int country_known, asn_known;
};

int geoip_open(struct geoip **out, const char *country_path, const char *asn_path, char *err,
               size_t cap);
/* Look sa up (a v4-mapped IPv6 address as IPv4; NULL or another family:
 * nothing found). Never fails as a whole: see struct geoip_answer. */
void geoip_lookup(const struct geoip *g, const struct sockaddr *sa, struct geoip_answer *a);
/* Which databases g holds (for log lines and Received:). */
int geoip_has_country(const struct geoip *g);
int geoip_has_asn(const struct geoip *g);
void geoip_close(struct geoip *g);

#endif
