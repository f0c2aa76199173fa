/*
 * core/geoip.c - MaxMind database lookups for the client's country and AS
 * number (see core/geoip.h). Owns the mapped databases; no thread, no
 * state besides them.
 */
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/geoip.h"

struct geoip {
	MMDB_s country, asn;
	int has_country, has_asn;
};

/* Map path into db and check that it is the kind wanted; 0 or -1. */
static int
geoip_open_one(MMDB_s *db, const char *path, int want_asn, char *err, size_t cap)
{
	errno = 0;
	int r = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (r != MMDB_SUCCESS) {
		int e = errno;
		if (r == MMDB_FILE_OPEN_ERROR || r == MMDB_IO_ERROR)
			snprintf(err, cap, "geoip %s database %s: %s", want_asn ? "asn" : "country", path,
			         e ? strerror(e) : MMDB_strerror(r));
		else
			snprintf(err, cap, "geoip %s database %s: not a usable MaxMind DB file (%s)",
			         want_asn ? "asn" : "country", path, MMDB_strerror(r));
		return -1;
	}
	const char *type = db->metadata.database_type ? db->metadata.database_type : "";
	int is_asn = strstr(type, "ASN") != NULL;
	if (is_asn != want_asn) {
		snprintf(err, cap, "geoip %s database %s: it is a %.64s database; %s", want_asn ?
		         "asn" : "country", path, type[0] ? type : "(untyped)", want_asn ?
		         "an ASN one is needed (GeoLite2-ASN)" :
		         "a country one is needed (GeoLite2-Country)");
		MMDB_close(db);
		return -1;
	}
	return 0;
}

int
geoip_open(struct geoip **out, const char *country_path, const char *asn_path, char *err,
           size_t cap)
{
	struct geoip *g = calloc(1, sizeof *g);
	*out = NULL;
	if (g == NULL) {
		snprintf(err, cap, "geoip: out of memory");
		return -1;
	}
	if (country_path[0] != '\0') {
		if (geoip_open_one(&g->country, country_path, 0, err, cap) < 0) {
			free(g);
			return -1;
		}
		g->has_country = 1;
	}
	if (asn_path[0] != '\0') {
		if (geoip_open_one(&g->asn, asn_path, 1, err, cap) < 0) {
			geoip_close(g);
			return -1;
		}
		g->has_asn = 1;
	}
	*out = g;
	return 0;
}

/* The entry of sa in db: 1 found, 0 none, -1 the database failed. */
static int
geoip_find(const MMDB_s *db, const struct sockaddr *sa, MMDB_lookup_result_s *res)
{
	int mmdb_err = MMDB_SUCCESS;
	*res = MMDB_lookup_sockaddr(db, sa, &mmdb_err);
	if (mmdb_err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return 0;
	if (mmdb_err != MMDB_SUCCESS)
		return -1;
	return res->found_entry ? 1 : 0;
}

/* country/iso_code, else registered_country/iso_code; 0 or -1. */
static int
geoip_country_of(const MMDB_s *db, const struct sockaddr *sa, char out[3])
{
	static const char *const places[] = { "country", "registered_country" };
	MMDB_lookup_result_s res;
	MMDB_entry_data_s d;
	int r = geoip_find(db, sa, &res);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
		int s = MMDB_get_value(&res.entry, &d, places[i], "iso_code", NULL);
		if (s != MMDB_SUCCESS && s != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
			return -1;
		if (s != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING ||
		    d.data_size != 2)
			continue;
		for (int k = 0; k < 2; k++) {
			char c = d.utf8_string[k];
			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c < 'A' || c > 'Z')
				return 0;   /* not a country code: none */
			out[k] = c;
		}
		out[2] = '\0';
		return 0;
	}
	return 0;
}

/* autonomous_system_number in decimal; 0 or -1. */
static int
geoip_asn_of(const MMDB_s *db, const struct sockaddr *sa, char out[GEOIP_ASN_BYTES])
{
	MMDB_lookup_result_s res;
	MMDB_entry_data_s d;
	int r = geoip_find(db, sa, &res);
	if (r <= 0)
		return r;
	int s = MMDB_get_value(&res.entry, &d, "autonomous_system_number", NULL);
	if (s == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return 0;
	if (s != MMDB_SUCCESS)
		return -1;
	if (d.has_data && d.type == MMDB_DATA_TYPE_UINT32 && d.uint32 != 0)
		snprintf(out, GEOIP_ASN_BYTES, "%u", (unsigned)d.uint32);
	return 0;
}

void
geoip_lookup(const struct geoip *g, const struct sockaddr *sa, struct geoip_answer *a)
{
	struct sockaddr_in v4;
	memset(a, 0, sizeof *a);
	a->country_known = geoip_has_country(g);
	a->asn_known = geoip_has_asn(g);
	if (g == NULL || sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memset(&v4, 0, sizeof v4);
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, in6->sin6_addr.s6_addr + 12, 4);
		sa = (const struct sockaddr *)&v4;
	}
	if (g->has_country && geoip_country_of(&g->country, sa, a->country) < 0) {
		a->country[0] = '\0';
		a->country_known = 0;
	}
	if (g->has_asn && geoip_asn_of(&g->asn, sa, a->asn) < 0) {
		a->asn[0] = '\0';
		a->asn_known = 0;
	}
}

int
geoip_has_country(const struct geoip *g)
{
	return g != NULL && g->has_country;
}

int
geoip_has_asn(const struct geoip *g)
{
	return g != NULL && g->has_asn;
}

void
geoip_close(struct geoip *g)
{
	if (g == NULL)
		return;
	if (g->has_country)
		MMDB_close(&g->country);
	if (g->has_asn)
		MMDB_close(&g->asn);
	free(g);
}
