/*
 * rules/parse_geoip.c - `geoip [country|asn] "path"`, ringmta's own
 * statement (OpenSMTPD has none): the MaxMind databases (GeoLite2-Country
 * or GeoIP2-Country, GeoLite2-ASN) the daemon looks each client up in,
 * for `match from country T` and `match from asn T`. A bare `geoip
 * "path"` is the country database. Each at most once. The files are not
 * read here: core/geoip.c opens them when smtpd starts or reloads.
 */
#include <stdio.h>
#include <string.h>

#include "rules/parser_int.h"

int
rules_parse_geoip(struct rules_parser *P)
{
	static const char *const kinds[] = { "country", "asn", NULL };
	struct rules_ast *a = P->ast;
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos stmt = t->pos, pos;
	char raw[RULES_PATH_BYTES_MAX], *path = a->geoip_country;
	struct rules_pos *where = &a->geoip_country_pos;
	const char *kind = "country";

	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (t->kind == RULES_TOK_WORD && rules_p_in_list(kinds, t)) {
		if (strcmp(t->text, "asn") == 0) {
			path = a->geoip_asn;
			where = &a->geoip_asn_pos;
			kind = "asn";
		}
		rules_p_advance(P);
	} else if (t->kind == RULES_TOK_WORD && !rules_p_is_end(t)) {
		return rules_p_unknown(P, t, "geoip database kind", kinds);
	}
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (rules_p_is_end(t))
		return rules_fail(P->err, &t->pos, "geoip needs a database file "
		                  "(geoip %s \"/path/to/database.mmdb\")", kind);
	if (path[0] != '\0')
		return rules_fail(P->err, &stmt, "geoip %s database already declared at line %u",
		                  kind, where->line);
	if (rules_p_take_value(P, raw, sizeof raw, "a database file", &pos) < 0 ||
	    rules_p_expect_end(P) < 0 ||
	    rules_p_file_path(P, raw, path, RULES_PATH_BYTES_MAX, &pos) < 0)
		return -1;
	*where = stmt;
	return 0;
}
