/*
 * test/core/test_mx_backup.c - `relay backup [mx NAME]`: only the MX hosts
 * preferred over the named one (or our hostname) are kept, in order; a
 * name not among the MX hosts keeps them all; the most preferred MX has
 * nothing left to relay to.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/mx_backup.h"

static unsigned
mx_set(struct dns_addr *a)
{
	static const struct { const char *host; unsigned pref; } mx[] = {
		{ "mx1.example.net", 10 }, { "mx1.example.net", 10 }, { "mx2.example.net", 20 },
		{ "backup.example.net", 30 }, { "last.example.net", 40 },
	};
	memset(a, 0, sizeof *a * 5);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(a[i].host, sizeof a[i].host, "%s", mx[i].host);
		a[i].preference = mx[i].pref;
	}
	return 5;
}

Test(mx_backup, keeps_only_the_preferred_hosts)
{
	struct dns_addr a[5];
	int found;
	unsigned n = mx_backup_filter(a, mx_set(a), "BACKUP.example.net.", &found);
	cr_assert_eq(found, 1);
	cr_assert_eq(n, 3, "got %u", n);
	cr_expect_str_eq(a[0].host, "mx1.example.net");
	cr_expect_str_eq(a[2].host, "mx2.example.net");
}

Test(mx_backup, the_primary_has_none_left)
{
	struct dns_addr a[5];
	int found;
	cr_assert_eq(mx_backup_filter(a, mx_set(a), "mx1.example.net", &found), 0);
	cr_assert_eq(found, 1);
}

Test(mx_backup, a_name_not_listed_keeps_all)
{
	struct dns_addr a[5];
	int found;
	cr_assert_eq(mx_backup_filter(a, mx_set(a), "other.example.net", &found), 5);
	cr_assert_eq(found, 0);
}
