/*
 * test/core/test_dnsbl_cache.c - core/dnsbl_cache.c: answers kept for
 * their TTL (clean ones for DNSBL_CACHE_CLEAN_S, all capped), keyed by
 * zone (without case), family and address, a TTL of 0 not kept, a
 * colliding key replacing the slot, v4-mapped addresses as IPv4.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <string.h>

#include "core/dnsbl_cache.h"

static struct sockaddr_storage
v4(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	in->sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	in6->sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

Test(dnsbl_cache, listed_for_its_ttl)
{
	struct dnsbl_cache *c = dnsbl_cache_new();
	struct sockaddr_storage a = v4("192.0.2.7"), b = v4("192.0.2.8");

	cr_assert_not_null(c);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), 1000), DNSBL_CACHE_MISS);
	dnsbl_cache_put(c, "bl.test", SA(a), 1, 60, 1000);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), 1000), DNSBL_CACHE_LISTED);
	cr_assert_eq(dnsbl_cache_get(c, "BL.Test", SA(a), 60999), DNSBL_CACHE_LISTED,
	             "zones compare without case");
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), 61000), DNSBL_CACHE_MISS, "expired");
	cr_assert_eq(dnsbl_cache_get(c, "other.test", SA(a), 2000), DNSBL_CACHE_MISS);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(b), 2000), DNSBL_CACHE_MISS);
	dnsbl_cache_free(c);
}

Test(dnsbl_cache, clean_kept_for_its_own_time_and_ttl_capped)
{
	struct dnsbl_cache *c = dnsbl_cache_new();
	struct sockaddr_storage a = v4("198.51.100.1"), b = v4("198.51.100.2");
	struct sockaddr_storage z = v4("198.51.100.3");

	dnsbl_cache_put(c, "bl.test", SA(a), 0, 0, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), DNSBL_CACHE_CLEAN_S * 1000 - 1),
	             DNSBL_CACHE_CLEAN);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), DNSBL_CACHE_CLEAN_S * 1000),
	             DNSBL_CACHE_MISS);
	dnsbl_cache_put(c, "bl.test", SA(b), 1, 86400 * 7, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(b), DNSBL_CACHE_TTL_S_MAX * 1000),
	             DNSBL_CACHE_MISS, "a week's TTL kept an hour");
	dnsbl_cache_put(c, "bl.test", SA(z), 1, 0, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(z), 0), DNSBL_CACHE_MISS,
	             "a TTL of 0 is not kept");
	dnsbl_cache_free(c);
}

Test(dnsbl_cache, families_mapped_and_bounded)
{
	struct dnsbl_cache *c = dnsbl_cache_new();
	struct sockaddr_storage a = v4("203.0.113.9"), m = v6("::ffff:203.0.113.9");
	struct sockaddr_storage s6 = v6("2001:db8::1"), unix_sa;
	char zone[DNSBL_CACHE_ZONE_BYTES + 8];

	dnsbl_cache_put(c, "bl.test", SA(m), 1, 30, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(a), 0), DNSBL_CACHE_LISTED,
	             "a v4-mapped address is its IPv4 address");
	dnsbl_cache_put(c, "bl.test", SA(s6), 0, 0, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(s6), 0), DNSBL_CACHE_CLEAN);
	memset(&unix_sa, 0, sizeof unix_sa);
	unix_sa.ss_family = AF_UNIX;
	dnsbl_cache_put(c, "bl.test", SA(unix_sa), 1, 30, 0);
	cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(unix_sa), 0), DNSBL_CACHE_MISS);
	memset(zone, 'z', sizeof zone - 1);
	zone[sizeof zone - 1] = '\0';
	dnsbl_cache_put(c, zone, SA(a), 1, 30, 0);
	cr_assert_eq(dnsbl_cache_get(c, zone, SA(a), 0), DNSBL_CACHE_MISS, "zone too long");
	/* more keys than slots: the table stays its size, recent keys answer */
	for (unsigned i = 0; i < 3 * DNSBL_CACHE_SLOTS; i++) {
		struct sockaddr_storage x = v4("10.0.0.0");
		((struct sockaddr_in *)&x)->sin_addr.s_addr = htonl(0x0a000000u + i);
		dnsbl_cache_put(c, "bl.test", SA(x), 1, 30, 0);
		cr_assert_eq(dnsbl_cache_get(c, "bl.test", SA(x), 0), DNSBL_CACHE_LISTED);
	}
	dnsbl_cache_free(c);
}
