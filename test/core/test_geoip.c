/*
 * test/core/test_geoip.c - core/geoip.c against MaxMind's test databases
 * (shared/testdata/geoip, whose README lists the known answers): country
 * codes for IPv4, IPv6 and v4-mapped clients, none for addresses the
 * database lacks, AS numbers, either database alone; and the files it
 * refuses with a message naming them: missing, corrupt (a bad node
 * count), not a MaxMind DB, the wrong kind of database. Then the
 * sessions-by-country table and its bounded top-N report.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "core/geoip.h"
#include "core/geoip_stats.h"

#define TESTDATA "/work/shared/testdata/geoip/"
#define COUNTRY TESTDATA "GeoIP2-Country-Test.mmdb"
#define ASN TESTDATA "GeoLite2-ASN-Test.mmdb"
#define CORRUPT TESTDATA "GeoIP2-City-Test-Invalid-Node-Count.mmdb"

/* text as a client address in ss. */
static const struct sockaddr *
addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", text);
	return (const struct sockaddr *)ss;
}

static const struct {
	const char *addr, *country, *asn;
} known[] = {
	{ "81.2.69.160", "GB", "" },
	{ "2.125.160.216", "GB", "" },
	{ "89.160.20.112", "SE", "29518" },
	{ "216.160.83.56", "US", "209" },
	{ "214.78.120.1", "US", "721" },
	{ "67.43.156.0", "BT", "35908" },
	{ "202.196.224.0", "PH", "" },
	{ "175.16.199.0", "CN", "" },
	{ "2001:218::1", "JP", "" },
	{ "::ffff:89.160.20.112", "SE", "29518" },
	{ "1.1.1.1", "", "" },
	{ "127.0.0.1", "", "" },
	{ "1.128.0.0", "", "1221" },
	{ "12.81.92.0", "", "7018" },
	{ "2600:6000::1", "", "237" },
};

Test(geoip, known_answers)
{
	struct geoip *g;
	struct sockaddr_storage ss;
	char err[512];

	cr_assert_eq(geoip_open(&g, COUNTRY, ASN, err, sizeof err), 0, "%s", err);
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		struct geoip_answer a;
		geoip_lookup(g, addr(known[i].addr, &ss), &a);
		cr_expect(a.country_known && a.asn_known, "%s: not known", known[i].addr);
		cr_expect_str_eq(a.country, known[i].country, "%s: country got \"%s\", want \"%s\"",
		                 known[i].addr, a.country, known[i].country);
		cr_expect_str_eq(a.asn, known[i].asn, "%s: asn got \"%s\", want \"%s\"",
		                 known[i].addr, a.asn, known[i].asn);
	}
	struct geoip_answer a;
	geoip_lookup(g, NULL, &a);   /* the local socket */
	cr_expect(a.country_known && a.country[0] == '\0' && a.asn[0] == '\0');
	geoip_close(g);
}

/* One database alone: the other answers "not known", so rules tempfail. */
Test(geoip, one_database_alone)
{
	struct geoip *g;
	struct sockaddr_storage ss;
	struct geoip_answer a;
	char err[512];

	cr_assert_eq(geoip_open(&g, COUNTRY, "", err, sizeof err), 0, "%s", err);
	cr_expect(geoip_has_country(g) && !geoip_has_asn(g));
	geoip_lookup(g, addr("81.2.69.160", &ss), &a);
	cr_expect_str_eq(a.country, "GB");
	cr_expect(a.country_known && !a.asn_known);
	geoip_close(g);
	cr_assert_eq(geoip_open(&g, "", ASN, err, sizeof err), 0, "%s", err);
	geoip_lookup(g, addr("1.128.0.0", &ss), &a);
	cr_expect_str_eq(a.asn, "1221");
	cr_expect(!a.country_known && a.asn_known);
	geoip_close(g);
	geoip_lookup(NULL, addr("1.128.0.0", &ss), &a);
	cr_expect(!a.country_known && !a.asn_known);
}

static const struct {
	const char *country, *asn, *want;
} refused[] = {
	{ TESTDATA "missing.mmdb", "", "geoip country database " TESTDATA "missing.mmdb: "
	  "No such file or directory" },
	{ CORRUPT, "", "geoip country database " CORRUPT ": not a usable MaxMind DB file "
	  "(The MaxMind DB file contains invalid metadata)" },
	{ TESTDATA "README.md", "", "geoip country database " TESTDATA "README.md: not a usable "
	  "MaxMind DB file (The MaxMind DB file contains invalid metadata)" },
	{ ASN, "", "geoip country database " ASN ": it is a GeoLite2-ASN database; a country one "
	  "is needed (GeoLite2-Country)" },
	{ COUNTRY, COUNTRY, "geoip asn database " COUNTRY ": it is a GeoIP2-Country database; an "
	  "ASN one is needed (GeoLite2-ASN)" },
	{ COUNTRY, CORRUPT, "geoip asn database " CORRUPT ": not a usable MaxMind DB file "
	  "(The MaxMind DB file contains invalid metadata)" },
};

Test(geoip, bad_files_refused_with_their_name)
{
	char err[512];

	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct geoip *g = (struct geoip *)1;
		cr_expect_eq(geoip_open(&g, refused[i].country, refused[i].asn, err, sizeof err), -1,
		             "case %zu opened", i);
		cr_expect_null(g);
		cr_expect_str_eq(err, refused[i].want, "case %zu: got \"%s\"", i, err);
	}
}

/* Sessions by country: the most counted first, the rest as "other",
 * clients without a country as "none"; bounded by GEOIP_STATS_TOP. */
Test(geoip_stats, top_other_and_none)
{
	static struct geoip_stats a, b;   /* two shards */
	uint64_t sum[GEOIP_STATS_SLOTS] = { 0 };
	struct geoip_stats_row rows[GEOIP_STATS_ROWS_MAX];

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	cr_expect_eq(geoip_stats_report(sum, rows), 0);
	for (int i = 0; i < 5; i++)
		geoip_stats_count(&a, "GB");
	for (int i = 0; i < 3; i++)
		geoip_stats_count(&b, "se");
	geoip_stats_count(&a, "");
	geoip_stats_count(&b, NULL);
	geoip_stats_count(&b, "X1");   /* not a code: none */
	/* twelve more countries once each: two of them fall into "other" */
	static const char *const more[] = { "AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH",
	                                    "AI", "AJ", "AK", "AL" };
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
		geoip_stats_count(&a, more[i]);
	geoip_stats_sum(&a, sum);
	geoip_stats_sum(&b, sum);
	unsigned n = geoip_stats_report(sum, rows);
	cr_assert_eq(n, GEOIP_STATS_TOP + 2);
	cr_expect_str_eq(rows[0].key, "GB");
	cr_expect_eq(rows[0].n, 5);
	cr_expect_str_eq(rows[1].key, "SE");
	cr_expect_eq(rows[1].n, 3);
	cr_expect_str_eq(rows[2].key, "AA");   /* ties by code */
	cr_expect_str_eq(rows[GEOIP_STATS_TOP - 1].key, "AH");
	cr_expect_str_eq(rows[GEOIP_STATS_TOP].key, "other");
	cr_expect_eq(rows[GEOIP_STATS_TOP].n, 4);   /* AI AJ AK AL */
	cr_expect_str_eq(rows[GEOIP_STATS_TOP + 1].key, "none");
	cr_expect_eq(rows[GEOIP_STATS_TOP + 1].n, 3);
}
