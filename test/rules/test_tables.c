/*
 * test/rules/test_tables.c - the table indexes at scale against a plain
 * scan of the same entries: 100,000 domains in a hash set (every one found,
 * near misses not), "*S" wildcard patterns probed by suffix with exactly
 * hostname_match()'s answer (one label, "*" alone, stars elsewhere),
 * nested IPv4 and IPv6 networks in the prefix trie (v4-mapped clients in
 * IPv4 networks), and mail address keys among many.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

#define TABLES_DOMAINS 100000

/* A table of the given keys, indexed. */
static struct rules_tab *
tables_make(const char *const *keys, unsigned n)
{
	struct rules_tab *t = rules_tab_new("t", NULL);

	cr_assert_not_null(t);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(rules_tab_add(t, keys[i], NULL), 0);
	cr_assert_eq(rules_tab_finish(t), 0);
	return t;
}

/* The answer of a plain scan: exact keys compared, '*' keys through
 * rules_hostname_match(), as the table did before it was indexed. */
static int
tables_scan_domain(const struct rules_tab *t, const char *host)
{
	char low[RULES_KEY_BYTES_MAX];
	size_t i;

	for (i = 0; host[i] && i + 1 < sizeof low; i++)
		low[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
	low[i] = '\0';
	for (unsigned k = 0; k < t->n; k++) {
		const char *key = t->e[k].key;
		if (strchr(key, '*') ? rules_hostname_match(low, key) : strcmp(low, key) == 0)
			return 1;
	}
	return 0;
}

Test(tables, hundred_thousand_domains)
{
	struct rules_tab *t = rules_tab_new("big", NULL);
	char key[64];

	cr_assert_not_null(t);
	for (unsigned i = 0; i < TABLES_DOMAINS; i++) {
		snprintf(key, sizeof key, "Host%u.Zone%u.example", i, i % 97);
		cr_assert_eq(rules_tab_add(t, key, NULL), 0);
	}
	cr_assert_eq(rules_tab_finish(t), 0);
	cr_expect_eq(t->exact.n, TABLES_DOMAINS);
	for (unsigned i = 0; i < TABLES_DOMAINS; i++) {
		snprintf(key, sizeof key, "host%u.zone%u.EXAMPLE", i, i % 97);
		cr_assert_eq(rules_tab_match(t, RULES_LOOKUP_DOMAIN, key), 1, "%s", key);
		snprintf(key, sizeof key, "host%u.zone%u.example", i, (i + 1) % 97);
		cr_assert_eq(rules_tab_match(t, RULES_LOOKUP_DOMAIN, key), 0, "%s", key);
	}
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_DOMAIN, ""), 0);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_STRING, "host7.zone7.example"), 1);
	rules_tab_free(t);
}

Test(tables, wildcards_as_hostname_match)
{
	static const char *const keys[] = {
		"*.example.org", "*example.net", "**.deep.example", "mail*.example.com",
		"*.a*.example", "exact.example", "*-x.example", "*",
	};
	static const char *const hosts[] = {
		"a.example.org", "a.b.example.org", ".example.org", "example.org", "EXAMPLE.net",
		"fooexample.net", "beexample.net", "x.deep.example", "mail1.example.com",
		"mail.example.com", "smtp.example.com", "q.ab.example", "exact.example",
		"a-x.example", "a-b-x.example", "", "anything",
	};
	/* without "*" the answers vary; with it every non-empty host matches */
	for (unsigned with_star = 0; with_star < 2; with_star++) {
		struct rules_tab *t = tables_make(keys, with_star ? 8 : 7);
		for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
			cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_DOMAIN, hosts[i]),
			             tables_scan_domain(t, hosts[i]), "\"%s\" (star %u)", hosts[i],
			             with_star);
		rules_tab_free(t);
	}
}

/* Many "*S" patterns with several first bytes, against random hosts. */
Test(tables, many_wildcards_against_a_scan)
{
	static const char seps[] = ".-_0xyzab";
	struct rules_tab *t = rules_tab_new("w", NULL);
	char key[64], host[64];
	uint64_t st = 88172645463325252ull;
	unsigned matched = 0;

	cr_assert_not_null(t);
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "*%c%u.example", seps[i % 9], i % 500);
		cr_assert_eq(rules_tab_add(t, key, NULL), 0);
	}
	cr_assert_eq(rules_tab_finish(t), 0);
	for (unsigned i = 0; i < 20000; i++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		snprintf(host, sizeof host, "h%c%c%u.example", seps[st % 9], seps[(st >> 8) % 9],
		         (unsigned)(st >> 16) % 600);
		int got = rules_tab_match(t, RULES_LOOKUP_DOMAIN, host);
		int want = tables_scan_domain(t, host);
		matched += want;
		cr_assert_eq(got, want, "%s: got %d want %d", host, got, want);
	}
	cr_expect_gt(matched, 1000, "the hosts hit the patterns (%u)", matched);
	rules_tab_free(t);
}

/* The answer of a scan over every network, as before the trie. */
static int
tables_scan_addr(const struct rules_tab *t, const struct sockaddr *sa)
{
	for (unsigned i = 0; i < t->nnets; i++)
		if (rules_net_contains(&t->nets[i], sa))
			return 1;
	return 0;
}

Test(tables, nested_networks)
{
	static const char *const keys[] = {
		"10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16", "192.0.2.128/25", "198.51.100.7",
		"0.0.0.0/1", "2001:db8::/32", "2001:db8:1::/48", "fe80::1", "::ffff:203.0.113.0/120",
	};
	static const struct { const char *a; int want; } cases[] = {
		{ "10.200.1.1", 1 }, { "10.1.2.3", 1 }, { "11.0.0.1", 1 }, { "127.0.0.1", 1 },
		{ "128.0.0.1", 0 }, { "192.0.2.127", 0 }, { "192.0.2.128", 1 }, { "198.51.100.7", 1 },
		{ "198.51.100.8", 0 }, { "2001:db8:ffff::1", 1 }, { "2001:db9::1", 0 },
		{ "fe80::1", 1 }, { "fe80::2", 0 }, { "::ffff:192.0.2.200", 1 },
		{ "::ffff:192.0.2.1", 0 }, { "::ffff:10.9.9.9", 1 },
		/* a v6 network written as v4-mapped matches v4-mapped clients only */
		{ "::ffff:203.0.113.5", 1 }, { "203.0.113.5", 0 },
	};
	struct rules_tab *t = tables_make(keys, sizeof keys / sizeof keys[0]);
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sockaddr *sa = helper_addr(cases[i].a, &ss);
		cr_expect_eq(rules_tab_match_addr(t, sa), cases[i].want, "%s", cases[i].a);
		cr_expect_eq(tables_scan_addr(t, sa), cases[i].want, "%s (scan)", cases[i].a);
	}
	rules_tab_free(t);
}

/* Many random networks of every width against random addresses. */
Test(tables, many_networks_against_a_scan)
{
	struct rules_tab *t = rules_tab_new("n", NULL);
	struct sockaddr_storage ss;
	char key[64], a[64];
	uint64_t st = 0x1234567887654321ull;
	unsigned hits = 0;

	cr_assert_not_null(t);
	for (unsigned i = 0; i < 2000; i++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		snprintf(key, sizeof key, "%u.%u.0.0/%u", (unsigned)(st % 4) + 10,
		         (unsigned)(st >> 8) % 256, 8 + (unsigned)(st >> 20) % 25);
		cr_assert_eq(rules_tab_add(t, key, NULL), 0);
	}
	cr_assert_eq(rules_tab_finish(t), 0);
	for (unsigned i = 0; i < 20000; i++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		snprintf(a, sizeof a, "%s%u.%u.%u.%u", i % 2 ? "::ffff:" : "", (unsigned)(st % 6) + 9,
		         (unsigned)(st >> 8) % 256, (unsigned)(st >> 16) % 256, (unsigned)(st >> 24) % 256);
		const struct sockaddr *sa = helper_addr(a, &ss);
		int want = tables_scan_addr(t, sa);
		hits += want;
		cr_assert_eq(rules_tab_match_addr(t, sa), want, "%s", a);
	}
	cr_expect_gt(hits, 1000, "the addresses hit the networks (%u)", hits);
	rules_tab_free(t);
}

Test(tables, mail_addresses_among_many)
{
	struct rules_tab *t = rules_tab_new("m", NULL);
	char key[64];

	cr_assert_not_null(t);
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "user%u@d%u.example", i, i % 50);
		cr_assert_eq(rules_tab_add(t, key, NULL), 0);
	}
	cr_assert_eq(rules_tab_add(t, "@whole.example", NULL), 0);
	cr_assert_eq(rules_tab_add(t, "postmaster", NULL), 0);
	cr_assert_eq(rules_tab_add(t, "tagged+list@d1.example", NULL), 0);
	cr_assert_eq(rules_tab_add(t, "@*.wild.example", NULL), 0);
	cr_assert_eq(rules_tab_finish(t), 0);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "User77@D27.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "user77+x@d27.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "user77@d28.example"), 0);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "anyone@whole.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "postmaster@x.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "tagged+list@d1.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "tagged@d1.example"), 0);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "x@a.wild.example"), 1);
	cr_expect_eq(rules_tab_match(t, RULES_LOOKUP_MAILADDR, "x@wild.example"), 0);
	rules_tab_free(t);
}
