/*
 * test/rules/test_geoip.c - the GeoIP parts of smtpd.conf, ringmta's own:
 * the `geoip [country|asn] "path"` statement and its errors; `from country
 * T` and `from asn T` as a table of (criterion, the client's country and
 * AS number as the daemon looked them up, verdict), decided by
 * rules_match() and the staged functions alike ("" is a client the
 * database does not know, NULL one not looked up: tempfail); the entry
 * checks with their places (inline and file: tables); `smtpd -n -v` and
 * the rule tester's country= and asn=.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test/rules/helpers.h"

#define DBS "geoip \"/db/country.mmdb\"\ngeoip asn \"/db/asn.mmdb\"\n"

#define A RULES_ACCEPT
#define N RULES_NOMATCH
#define T RULES_TEMPFAIL

static const char *const verdicts[] = { "ACCEPT", "REJECT", "NOMATCH", "TEMPFAIL" };

static const struct geo_case {
	const char *crit;          /* between "match" and "for any action a" */
	const char *country, *asn; /* as the session looked them up */
	enum rules_verdict want;
} geo_cases[] = {
	{ "from country { GB SE }", "GB", "", A },
	{ "from country { GB, SE }", "SE", "", A },
	{ "from country { gb }", "GB", "", A },
	{ "from country { GB SE }", "US", "", N },
	{ "from country { GB SE }", "", "", N },
	{ "from country { GB SE }", NULL, NULL, T },
	{ "!from country { GB SE }", "US", "", A },
	{ "!from country { GB SE }", "GB", "", N },
	{ "!from country { GB SE }", "", "", A },      /* unknown is not an allowed one */
	{ "!from country { GB SE }", NULL, NULL, T },
	{ "from country GB", "GB", "", A },
	{ "from country regex \"^(GB|SE)$\"", "SE", "", A },
	{ "from country regex \"^(GB|SE)$\"", "JP", "", N },
	{ "from asn { 64496 64511 }", "", "64511", A },
	{ "from asn { 64496 }", "GB", "64497", N },
	{ "from asn { 64496 }", "GB", "", N },
	{ "!from asn { 64496 }", "GB", "1", A },
	{ "from asn { 64496 }", NULL, NULL, T },
	{ "from asn 4294967295", "", "4294967295", A },
	/* the country does not answer an asn criterion, nor the reverse */
	{ "from asn { 64496 }", "GB", NULL, T },
	{ "from country { GB }", NULL, "64496", T },
};

/* The verdict of the staged functions for q. */
static enum rules_verdict
geo_staged(const struct rules_config *c, const struct rules_query *q, unsigned *line)
{
	uint64_t set[64];

	cr_assert(rules_candidates_words(c) <= 64);
	rules_session_candidates(c, q, set);
	rules_mail_candidates(c, set, q->mail_from, set);
	return rules_match_rcpt(c, set, q->rcpt, NULL, line);
}

Test(geoip, criteria)
{
	struct sockaddr_storage ss;
	char text[1024], msg[1024];
	unsigned line, sline;

	for (size_t i = 0; i < sizeof geo_cases / sizeof geo_cases[0]; i++) {
		const struct geo_case *k = &geo_cases[i];
		struct rules_query q = {
			.src = helper_addr("81.2.69.160", &ss), .listener_tag = "", .helo = "h",
			.country = k->country, .asn = k->asn, .mail_from = "s@example.org",
			.rcpt = "u@example.com",
		};
		snprintf(text, sizeof text, DBS "action a relay\nmatch %s for any action a\n", k->crit);
		struct rules_config *c = helper_load(text, msg, sizeof msg);
		cr_assert_not_null(c, "case %zu (%s): %s", i, k->crit, msg);
		enum rules_verdict v = rules_match(c, &q, NULL, &line);
		enum rules_verdict sv = geo_staged(c, &q, &sline);
		cr_expect_eq(v, k->want, "case %zu \"%s\" country %s asn %s: got %s, want %s", i,
		             k->crit, k->country ? k->country : "NULL", k->asn ? k->asn : "NULL",
		             verdicts[v], verdicts[k->want]);
		cr_expect_eq(sv, v, "case %zu \"%s\": staged %s, whole %s", i, k->crit, verdicts[sv],
		             verdicts[v]);
		rules_free(c);
	}
}

/* A first line the client's country rejects, then the accepting one. */
Test(geoip, reject_by_country_then_accept)
{
	struct sockaddr_storage ss;
	char msg[512];
	unsigned line;
	struct rules_config *c = helper_load(
		DBS "table allowed { GB, SE }\naction a relay\n"
		"match !from country <allowed> for any reject\nmatch from any for any action a\n",
		msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	struct rules_query q = { .src = helper_addr("89.160.20.112", &ss), .listener_tag = "",
	                         .helo = "h", .country = "SE", .asn = "", .mail_from = "",
	                         .rcpt = "u@example.com" };
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_ACCEPT);
	cr_expect_eq(line, 6);
	q.country = "US";
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_REJECT);
	cr_expect_eq(line, 5);
	rules_free(c);
}

Test(geoip, statement_sets_the_paths)
{
	char msg[512];
	struct rules_config *c = helper_load("geoip \"db/c.mmdb\"\ngeoip asn \"/db/a.mmdb\"\n"
	                                     "action a relay\nmatch for any action a\n",
	                                     msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_str_eq(c->geoip_country, "/base/db/c.mmdb");
	cr_expect_str_eq(c->geoip_asn, "/db/a.mmdb");
	rules_free(c);
	c = helper_load("geoip country \"/c\"\naction a relay\nmatch for any action a\n", msg,
	                sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_str_eq(c->geoip_country, "/c");
	cr_expect_str_eq(c->geoip_asn, "");
	rules_free(c);
}

static const struct {
	const char *text, *want;
} geo_errors[] = {
	{ "geoip\n", "t.conf:1:6: geoip needs a database file "
	  "(geoip country \"/path/to/database.mmdb\")" },
	{ "geoip asn\n", "t.conf:1:10: geoip needs a database file "
	  "(geoip asn \"/path/to/database.mmdb\")" },
	{ "geoip city \"/c\"\n", "t.conf:1:7: unknown geoip database kind \"city\"" },
	{ "geoip cuntry \"/c\"\n",
	  "t.conf:1:7: unknown geoip database kind \"cuntry\"; did you mean \"country\"?" },
	{ "geoip \"/a\"\ngeoip country \"/b\"\n",
	  "t.conf:2:1: geoip country database already declared at line 1" },
	{ "geoip \"/a\" \"/b\"\n", "t.conf:1:12: expected end of line, got \"/b\"" },
	{ "action a relay\nmatch from country { GB } for any action a\n",
	  "t.conf:2:7: from country needs a geoip country database: declare "
	  "`geoip country \"/path/to/GeoLite2-Country.mmdb\"`" },
	{ "geoip \"/c\"\naction a relay\nmatch from asn { 64496 } for any action a\n",
	  "t.conf:3:7: from asn needs a geoip asn database: declare "
	  "`geoip asn \"/path/to/GeoLite2-ASN.mmdb\"`" },
	{ DBS "action a relay\nmatch from country { GB, GBR } for any action a\n",
	  "t.conf:4:26: \"GBR\" is not a country code (two letters, as GB or SE)" },
	{ DBS "action a relay\nmatch from country { G1 } for any action a\n",
	  "t.conf:4:22: \"G1\" is not a country code (two letters, as GB or SE)" },
	{ DBS "action a relay\nmatch from asn { AS64496 } for any action a\n",
	  "t.conf:4:18: \"AS64496\" is not an AS number (digits, as 64496)" },
	{ DBS "action a relay\nmatch from asn { 4294967296 } for any action a\n",
	  "t.conf:4:18: \"4294967296\" is not an AS number (digits, as 64496)" },
	{ DBS "action a relay\nmatch from asn { 064496 } for any action a\n",
	  "t.conf:4:18: \"064496\" is not an AS number (digits, as 64496)" },
	{ DBS "action a relay\nmatch from country <anyhost> for any action a\n",
	  "t.conf:4:20: builtin table <anyhost> cannot be used for country lookups" },
	{ DBS "table m { GB = x }\naction a relay\nmatch from country <m> for any action a\n",
	  "t.conf:5:20: table \"m\" holds key = value pairs and cannot be used in a match" },
	{ DBS "action a relay\nmatch from country { GB } from any for any action a\n",
	  "t.conf:4:27: from already specified for this rule" },
	{ DBS "action a relay\nmatch from countries { GB } for any action a\n",
	  "t.conf:4:12: unknown \"from\" source \"countries\"; did you mean \"country\"?" },
};

Test(geoip, errors_have_their_place)
{
	char msg[1024];

	for (size_t i = 0; i < sizeof geo_errors / sizeof geo_errors[0]; i++) {
		struct rules_config *c = helper_load(geo_errors[i].text, msg, sizeof msg);
		cr_expect_null(c, "case %zu loaded", i);
		rules_free(c);
		cr_expect_str_eq(msg, geo_errors[i].want, "case %zu: got \"%s\", want \"%s\"", i, msg,
		                 geo_errors[i].want);
	}
}

/* A file: table's entries are checked as read, the file's line named. */
Test(geoip, file_table_entries_checked)
{
	char dir[64], text[512], msg[1024];

	helper_fixture(dir, sizeof dir);
	helper_put(dir, "countries", "GB\nSE\nSWE\n");
	snprintf(text, sizeof text, DBS "table c file:%s/countries\naction a relay\n"
	         "match from country <c> for any action a\n", dir);
	struct rules_config *c = helper_load(text, msg, sizeof msg);
	cr_expect_null(c);
	cr_expect_str_eq(msg, "t.conf:5:20: \"SWE\" in table \"c\" (line 3) is not a country code "
	                 "(two letters, as GB or SE)");
	helper_put(dir, "countries", "GB\nse\n");
	c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	struct rules_query q = { .listener_tag = "", .helo = "h", .country = "SE", .asn = "",
	                         .mail_from = "", .rcpt = "u@example.com" };
	unsigned line;
	cr_expect_eq(rules_match(c, &q, NULL, &line), RULES_ACCEPT);
	rules_free(c);
	helper_fixture_remove(dir);
}

/* Print f's output into buf through a memory stream. */
static void
geo_capture(char *buf, size_t cap, const struct rules_config *c, const char *tx)
{
	FILE *f = fmemopen(buf, cap, "w");
	cr_assert_not_null(f);
	if (tx == NULL) {
		rules_dump(c, f);
	} else {
		struct rules_transaction t;
		char err[256];
		cr_assert_eq(rules_transaction_parse(tx, &t, err, sizeof err), 0, "%s", err);
		cr_assert_eq(rules_explain(c, &t, f, err, sizeof err), 0, "%s", err);
	}
	fclose(f);
}

Test(geoip, dump_and_tester)
{
	char msg[512], out[8192];
	struct rules_config *c = helper_load(
		DBS "table allowed { GB, SE }\naction a relay\n"
		"match !from country <allowed> for any reject\n"
		"match from asn { 64496 } for any action a\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	geo_capture(out, sizeof out, c, NULL);
	cr_expect(strstr(out, "  geoip country \"/db/country.mmdb\"\n") != NULL, "%s", out);
	cr_expect(strstr(out, "  geoip asn \"/db/asn.mmdb\"\n") != NULL, "%s", out);
	cr_expect(strstr(out, "session: !from country <allowed>\n") != NULL, "%s", out);
	cr_expect(strstr(out, "session: from asn 64496\n") != NULL, "%s", out);
	geo_capture(out, sizeof out, c, "from=81.2.69.160 country=gb asn=64496 mail-from=<> "
	            "rcpt-to=u@example.com");
	cr_expect(strstr(out, "country GB, asn 64496") != NULL, "%s", out);
	cr_expect(strstr(out, "no match: !from country <allowed>: the country GB is in "
	                      "table \"allowed\"") != NULL, "%s", out);
	cr_expect(strstr(out, "rule 2 (t.conf:6) matches -> action \"a\"") != NULL, "%s", out);
	geo_capture(out, sizeof out, c, "from=216.160.83.56 country=US mail-from=<> "
	            "rcpt-to=u@example.com");
	cr_expect(strstr(out, "rule 1 (t.conf:5) matches -> reject") != NULL, "%s", out);
	geo_capture(out, sizeof out, c, "from=127.0.0.1 mail-from=<> rcpt-to=u@example.com");
	cr_expect(strstr(out, "(from country: no country= given, treated as none)") != NULL,
	          "%s", out);
	rules_free(c);
}

Test(geoip, tester_refuses_bad_values)
{
	struct rules_transaction t;
	char err[256];

	cr_expect_eq(rules_transaction_parse("from=1.2.3.4 mail-from=<> rcpt-to=a@b country=GBR",
	                                     &t, err, sizeof err), -1);
	cr_expect_str_eq(err, "bad country=GBR: expected two letters (GB) or none");
	cr_expect_eq(rules_transaction_parse("from=1.2.3.4 mail-from=<> rcpt-to=a@b asn=AS1",
	                                     &t, err, sizeof err), -1);
	cr_expect_str_eq(err, "bad asn=AS1: expected an AS number (64496) or none");
	cr_expect_eq(rules_transaction_parse("from=1.2.3.4 mail-from=<> rcpt-to=a@b country=none "
	                                     "asn=none", &t, err, sizeof err), 0);
	cr_expect(t.country_given && t.asn_given && t.country[0] == '\0' && t.asn[0] == '\0');
}
