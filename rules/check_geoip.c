/*
 * rules/check_geoip.c - what `match from country T` and `match from asn T`
 * (and the builtin filters' `match country T`, `match asn T`)
 * need beyond their table (check.c resolves it): the `geoip` database of
 * that kind declared somewhere in the configuration, no builtin table, and
 * entries the lookup can meet: ISO 3166-1 alpha-2 codes (two letters, any
 * case) for country, AS numbers (decimal, 1 to 4294967295) for asn. A
 * regex table is left alone (check.c compiled it); a file: table's entries
 * are checked as read (none with skip_data_files).
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

#define GEO_ASN_DIGITS_MAX 10   /* 4294967295 */

/* 1 if key is two ASCII letters. */
static int
geo_country_ok(const char *key)
{
	return ((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z')) &&
	       ((key[1] >= 'a' && key[1] <= 'z') || (key[1] >= 'A' && key[1] <= 'Z')) &&
	       key[2] == '\0';
}

/* 1 if key is an AS number: 1 to 4294967295 without leading zeros. */
static int
geo_asn_ok(const char *key)
{
	size_t n = strspn(key, "0123456789");
	if (n == 0 || key[n] != '\0' || key[0] == '0' || n > GEO_ASN_DIGITS_MAX)
		return 0;
	return n < GEO_ASN_DIGITS_MAX || strcmp(key, "4294967295") <= 0;
}

/* The place to blame for entry e of ref's table: the entry itself when
 * written inline, else the table reference (a file's line in the text). */
static int
geo_bad_entry(const struct rules_tabref *ref, const struct rules_tab_entry *e,
              const char *what, struct rules_error *err)
{
	struct rules_pos at = ref->pos;
	char line[32] = "";

	if (ref->inl != NULL && e->line != 0) {
		at.line = e->line;
		at.column = e->column;
		return rules_fail(err, &at, "\"%.64s\" is not %s", e->raw ? e->raw : e->key, what);
	}
	if (e->line != 0)
		snprintf(line, sizeof line, " (line %u)", e->line);
	return rules_fail(err, &at, "\"%.64s\" in table \"%s\"%s is not %s", e->raw ? e->raw : e->key,
	                  ref->tab->name, line, what);
}

/* A country or asn criterion's cond ("from country", "filter ... match
 * country" as how): its database and its table's entries; 0 or -1. */
static int
geo_check_cond(const struct rules_ast *ast, enum rules_geo geo, const struct rules_cond *cond,
               const char *how, struct rules_error *err)
{
	int country = geo == RULES_GEO_COUNTRY;
	const char *kind = country ? "country" : "asn";

	if ((country ? ast->geoip_country : ast->geoip_asn)[0] == '\0')
		return rules_fail(err, &cond->pos, "%s%s needs a geoip %s database: declare "
		                  "`geoip %s \"/path/to/%s.mmdb\"`", how, kind, kind, kind,
		                  country ? "GeoLite2-Country" : "GeoLite2-ASN");
	if (cond->ref.builtin != RULES_BUILTIN_NONE)
		return rules_fail(err, &cond->ref.pos, "builtin table <%s> cannot be used for %s "
		                  "lookups", cond->ref.name, kind);
	if (cond->regex || cond->ref.tab == NULL)
		return 0;
	for (unsigned i = 0; i < cond->ref.tab->n; i++) {
		const struct rules_tab_entry *e = &cond->ref.tab->e[i];
		if (e->value != NULL)
			return geo_bad_entry(&cond->ref, e, "a list entry", err);
		if (country ? !geo_country_ok(e->key) : !geo_asn_ok(e->key))
			return geo_bad_entry(&cond->ref, e, country ?
			                     "a country code (two letters, as GB or SE)" :
			                     "an AS number (digits, as 64496)", err);
	}
	return 0;
}

int
rules_check_geo(const struct rules_ast *ast, const struct rules_ast_match *m,
                struct rules_error *err)
{
	if (m->from_geo == RULES_GEO_NONE)
		return 0;
	return geo_check_cond(ast, m->from_geo, &m->from, "from ", err);
}

int
rules_check_filter_geo(const struct rules_ast *ast, const struct rules_ast_filter *f,
                       struct rules_error *err)
{
	if (f->kind != RULES_AST_FILTER_BUILTIN ||
	    (f->f.check != RULES_FCHECK_COUNTRY && f->f.check != RULES_FCHECK_ASN))
		return 0;
	return geo_check_cond(ast, f->f.check == RULES_FCHECK_COUNTRY ? RULES_GEO_COUNTRY :
	                      RULES_GEO_ASN, &f->cond, "filter match ", err);
}
