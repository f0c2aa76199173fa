/*
 * core/mx_backup.c - which MX hosts a backup MX relays to. See
 * core/mx_backup.h.
 */
#include "core/mx_backup.h"

#include <string.h>
#include <strings.h>

/* a and b name the same host, a trailing dot on either ignored. */
static int
mx_backup_same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

unsigned
mx_backup_filter(struct dns_addr *addrs, unsigned n, const char *name, int *found)
{
	unsigned pref = 0, i, k = 0;

	*found = 0;
	for (i = 0; i < n; i++) {
		if (mx_backup_same(addrs[i].host, name) && (!*found || addrs[i].preference < pref)) {
			pref = addrs[i].preference;
			*found = 1;
		}
	}
	if (!*found)
		return n;
	for (i = 0; i < n; i++)
		if (addrs[i].preference < pref)
			addrs[k++] = addrs[i];
	return k;
}
