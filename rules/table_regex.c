/*
 * rules/table_regex.c - a table used after "regex" in a match line: every
 * key is a POSIX extended regular expression (regcomp(3), REG_EXTENDED |
 * REG_NOSUB; a leading "(?i)" ignores case, as OpenSMTPD's
 * table_regex_match()), compiled once when the config is checked, so a bad
 * one is a load error pointing at the entry. A lookup tries the entries in
 * order against the string as the client sent it; the first match answers.
 * regexec(3) only reads a compiled regex_t, so shards may share them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

#define REGEX_ICASE_PREFIX "(?i)"

/* The place of entry e for an error: its line and column in an inline
 * table, else the table's declaration. */
static struct rules_pos
regex_entry_pos(const struct rules_tab *t, const struct rules_tab_entry *e)
{
	struct rules_pos pos = t->pos;

	if (t->file_path == NULL && e->line > 0) {
		pos.line = e->line;
		pos.column = e->column;
	}
	return pos;
}

/* "invalid regex" for entry e with regcomp's reason; -1. */
static int
regex_fail(const struct rules_tab *t, const struct rules_tab_entry *e, const regex_t *re,
           int code, struct rules_error *err)
{
	struct rules_pos pos = regex_entry_pos(t, e);
	const char *pattern = e->raw ? e->raw : e->key;
	char why[128];

	regerror(code, re, why, sizeof why);
	if (t->file_path != NULL)
		return rules_fail(err, &pos, "table file \"%s\" line %u: invalid regex \"%.200s\": %s",
		                  t->file_path, e->line, pattern, why);
	return rules_fail(err, &pos, "invalid regex \"%.200s\": %s", pattern, why);
}

/* Call at load time for a table a match uses with "regex"; 0 or -1. */
int
rules_tab_regex_compile(struct rules_tab *t, struct rules_error *err)
{
	size_t plen = strlen(REGEX_ICASE_PREFIX);

	if (t->re != NULL)
		return 0; /* another match line compiled it already */
	if ((t->re = calloc(t->n ? t->n : 1, sizeof *t->re)) == NULL)
		return rules_fail(err, &t->pos, "out of memory");
	for (unsigned i = 0; i < t->n; i++) {
		const struct rules_tab_entry *e = &t->e[i];
		const char *pattern = e->raw ? e->raw : e->key;
		int flags = REG_EXTENDED | REG_NOSUB, code;

		if (strncmp(pattern, REGEX_ICASE_PREFIX, plen) == 0) {
			flags |= REG_ICASE;
			pattern += plen;
		}
		if ((code = regcomp(&t->re[i], pattern, flags)) != 0)
			return regex_fail(t, e, &t->re[i], code, err);
		t->nre++;
	}
	return 0;
}

/* Call at match time: 1 if an entry matches subject, 0 if none, -1 when
 * the subject is longer than any lookup key may be. */
int
rules_tab_match_regex(const struct rules_tab *t, const char *subject)
{
	if (strnlen(subject, RULES_KEY_BYTES_MAX) >= RULES_KEY_BYTES_MAX)
		return -1;
	t = rules_tab_current(t);
	for (unsigned i = 0; i < t->nre; i++)
		if (regexec(&t->re[i], subject, 0, NULL, 0) == 0)
			return 1;
	return 0;
}

/* Call when the table goes. */
void
rules_tab_regex_free(struct rules_tab *t)
{
	for (unsigned i = 0; i < t->nre; i++)
		regfree(&t->re[i]);
	free(t->re);
	t->re = NULL;
	t->nre = 0;
}
