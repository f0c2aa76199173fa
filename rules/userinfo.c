/*
 * rules/userinfo.c - `userbase <table>`: the users an action delivers to
 * when they are not the system's, each entry "name uid:gid:home" as
 * table(5) defines userinfo tables. Values are parsed and checked here
 * (numeric ids, not root, an absolute home without control bytes); the
 * daemon looks users up through rules_userinfo_lookup() and hands the ids
 * to the delivery helper. No I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

/* A decimal id in [1, 2^31 - 1] from s up to ':' ; the end in *end; 0 or -1. */
static int
userinfo_id(const char *s, uint32_t *id, const char **end)
{
	unsigned long v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && p - s < 10)
		v = v * 10 + (unsigned long)(*p++ - '0');
	if (p == s || *p != ':' || v == 0 || v > 0x7fffffffUL)
		return -1;
	*id = (uint32_t)v;
	*end = p + 1;
	return 0;
}

/* See rules.h. */
int
rules_userinfo_parse(const char *value, struct rules_userinfo *out)
{
	const char *p = value, *home;

	memset(out, 0, sizeof *out);
	while (*p == ' ' || *p == '\t')
		p++;
	if (userinfo_id(p, &out->uid, &p) < 0 || userinfo_id(p, &out->gid, &home) < 0)
		return -1;
	size_t n = strlen(home);
	while (n > 1 && (home[n - 1] == ' ' || home[n - 1] == '\t'))
		n--;
	if (home[0] != '/' || n >= sizeof out->home)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)home[i] < 0x20 || home[i] == 0x7f)
			return -1;
	memcpy(out->home, home, n);
	out->home[n] = '\0';
	return 0;
}

/* See rules.h. */
int
rules_userinfo_lookup(const struct rules_action *a, const char *user, struct rules_userinfo *out)
{
	const char *v;

	if (a->userbase == NULL)
		return 0;
	if ((v = rules_tab_value(a->userbase, user)) == NULL)
		return 0;
	return rules_userinfo_parse(v, out) < 0 ? -1 : 1;
}
