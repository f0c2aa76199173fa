/*
 * rules/listen_auth.c - the lookups behind a listener's `auth <table>` and
 * `senders <table> [masquerade]` (smtpd.conf(5), table(5)): the crypt(3)
 * hash a credentials table holds for a user, and whether an authenticated
 * user may give a MAIL FROM address. Pure: tables are in memory, no I/O,
 * safe from every shard at once.
 */
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

/* See rules.h. */
const char *
rules_auth_hash(const struct rules_listener *l, const char *user)
{
	if (l->auth_table == NULL)
		return NULL;
	return rules_tab_value(rules_tab_current(l->auth_table), user);
}

/* 1 when the table entry e[0..n) ("user@domain", "@domain", "@" or
 * "user") allows the sender local@domain (local without its +tag in
 * bare). */
static int
senders_entry_match(const char *e, size_t n, const char *local, size_t llen, size_t blen,
                    const char *domain)
{
	const char *at = memchr(e, '@', n);
	size_t eu = at != NULL ? (size_t)(at - e) : n;

	if (eu > 0 && !((eu == llen && strncasecmp(e, local, llen) == 0) ||
	                (eu == blen && strncasecmp(e, local, blen) == 0)))
		return 0;
	if (at == NULL)                     /* "user": any domain */
		return 1;
	size_t ed = n - eu - 1;
	return ed == 0 || (ed == strlen(domain) && strncasecmp(at + 1, domain, ed) == 0);
}

/* See rules.h. */
int
rules_senders_allow(const struct rules_listener *l, const char *user, const char *mail_from,
                    char sub_delim)
{
	const char *v, *at, *p;
	size_t llen, blen;

	if (l->senders == NULL)
		return 1;
	if (mail_from[0] == '\0' || (at = strrchr(mail_from, '@')) == NULL)
		return 0;       /* <> or an address without a domain: not a user's */
	llen = (size_t)(at - mail_from);
	p = sub_delim ? memchr(mail_from, sub_delim, llen) : NULL;
	blen = p != NULL ? (size_t)(p - mail_from) : llen;
	if ((v = rules_tab_value(rules_tab_current(l->senders), user)) == NULL)
		return 0;
	/* the value is a list: addresses separated by commas or blanks */
	while (*v != '\0') {
		size_t n = strcspn(v, ", \t");
		if (n > 0 && senders_entry_match(v, n, mail_from, llen, blen, at + 1))
			return 1;
		v += n;
		v += strspn(v, ", \t");
	}
	return 0;
}
