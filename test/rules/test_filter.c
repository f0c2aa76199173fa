/*
 * test/rules/test_filter.c - builtin filters (rules/filter.h): the chain a
 * listener runs, flattened from "filter NAME" and chains; rules_filter_eval()
 * on a table of phases and facts (each check, "!", regex, every action,
 * report going on, bypass ending the chain, a DNS tempfail never passing);
 * reply codes checked at load with file:line:column.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/filter.h"
#include "rules/rules_int.h"
#include "test/rules/helpers.h"

static const char filter_conf[] =
	"table bad_nets { 192.0.2.0/24 }\n"                                        /* 1 */
	"table vips { \"@vip.example\" }\n"                                        /* 2 */
	"filter ok_src phase connect match src { 198.51.100.0/24 } bypass\n"       /* 3 */
	"filter bad_src phase connect match src <bad_nets> disconnect \"554 go away\"\n"
	"filter no_rdns phase connect match !rdns report \"no rdns\"\n"            /* 5 */
	"filter dyn phase connect match rdns regex { \"[.]dyn[.]\" } junk\n"   /* 6 */
	"filter fc phase helo match !fcrdns reject \"550 fcrdns\"\n"               /* 7 */
	"filter helo_ip phase ehlo match helo regex { \"^[0-9.]+$\" } reject \"550 5.7.1 no ip\"\n"
	"filter auth_ok phase mail-from match auth bypass\n"                       /* 9 */
	"filter spammer phase mail-from match mail-from { \"@spam.example\" } reject \"553 no\"\n"
	"filter vip phase rcpt-to match rcpt-to <vips> rewrite \"postmaster@vip.example\"\n"
	"filter bl phase data match dnsbl \"bl.example\" reject \"554 listed\"\n"  /* 12 */
	"filter rep phase commit match src { 0.0.0.0/0 } report \"committed\"\n"   /* 13 */
	"filter c chain { ok_src, bad_src, no_rdns, dyn, fc, helo_ip, auth_ok, spammer, vip, "
	"bl, rep }\n"                                                               /* 14 */
	"listen on 127.0.0.1 filter c\n"                                           /* 15 */
	"listen on 127.0.0.2 filter { spammer, ok_src }\n"                         /* 16 */
	"listen on 127.0.0.3\n"                                                    /* 17 */
	"action l maildir\n"
	"match from any for any action l\n";

Test(filter, listener_chains_flattened)
{
	static const char *const want1[] = { "ok_src", "bad_src", "no_rdns", "dyn", "fc",
	                                     "helo_ip", "auth_ok", "spammer", "vip", "bl", "rep" };
	struct rules_config *c;
	char msg[1024];

	c = helper_load(filter_conf, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nlisteners, 3);
	cr_assert_eq(c->nfilters, 11);
	cr_assert_eq(c->listeners[0].nfilters, 11);
	for (unsigned i = 0; i < 11; i++)
		cr_expect_str_eq(c->listeners[0].filters[i]->name, want1[i], "position %u", i);
	cr_assert_eq(c->listeners[1].nfilters, 2);
	cr_expect_str_eq(c->listeners[1].filters[0]->name, "spammer");
	cr_expect_str_eq(c->listeners[1].filters[1]->name, "ok_src");
	cr_expect_eq(c->listeners[2].nfilters, 0);
	cr_expect_eq(c->listeners[0].filters[1]->code, 554);
	cr_expect_str_eq(c->listeners[0].filters[1]->text, "go away");
	cr_expect_str_eq(c->listeners[0].filters[9]->zone, "bl.example");
	cr_expect_eq(rules_filter_needs_rdns(&c->listeners[0]), 2);
	cr_expect_eq(rules_filter_needs_rdns(&c->listeners[1]), 0);
	for (unsigned i = 0; i < c->nunsupported; i++)   /* the daemon's lookups */
		cr_expect(c->unsupported[i].evaluated, "builtin filters are evaluated: %s",
		          c->unsupported[i].what);
	rules_free(c);
}

struct filter_case {
	enum rules_filter_phase phase;
	const char *src, *rdns, *helo, *auth, *from, *rcpt;
	enum rules_rdns rdns_state;
	enum rules_fcrdns fcrdns;
	uint8_t dnsbl;
	enum rules_filter_result want;
	const char *by;            /* the deciding filter, NULL none */
	uint64_t reports;
};

#define F RULES_RDNS_FOUND
#define N RULES_RDNS_NONE
#define T RULES_RDNS_TEMPFAIL

static const struct filter_case filter_cases[] = {
	/* connect: bypass ends the chain before the disconnect */
	{ RULES_PHASE_CONNECT, "198.51.100.1", "a.example", 0, 0, 0, 0, F, 0, 0,
	  RULES_FILTER_PROCEED, "ok_src", 0 },
	{ RULES_PHASE_CONNECT, "192.0.2.9", "a.example", 0, 0, 0, 0, F, 0, 0,
	  RULES_FILTER_DISCONNECT, "bad_src", 0 },
	/* report goes on: no rdns reported, then the regex finds nothing */
	{ RULES_PHASE_CONNECT, "203.0.113.1", NULL, 0, 0, 0, 0, N, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 1u << 2 },
	{ RULES_PHASE_CONNECT, "203.0.113.1", "h1.dyn.example", 0, 0, 0, 0, F, 0, 0,
	  RULES_FILTER_JUNK, "dyn", 0 },
	{ RULES_PHASE_CONNECT, "203.0.113.1", "mx.example", 0, 0, 0, 0, F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
	/* a lookup that failed for now never passes */
	{ RULES_PHASE_CONNECT, "203.0.113.1", NULL, 0, 0, 0, 0, T, 0, 0,
	  RULES_FILTER_TEMPFAIL, "no_rdns", 0 },
	/* helo and ehlo are phases of their own */
	{ RULES_PHASE_HELO, "203.0.113.1", 0, "x", 0, 0, 0, F, RULES_FCRDNS_FAIL, 0,
	  RULES_FILTER_REJECT, "fc", 0 },
	{ RULES_PHASE_HELO, "203.0.113.1", 0, "x", 0, 0, 0, F, RULES_FCRDNS_PASS, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
	{ RULES_PHASE_HELO, "203.0.113.1", 0, "x", 0, 0, 0, F, RULES_FCRDNS_TEMPFAIL, 0,
	  RULES_FILTER_TEMPFAIL, "fc", 0 },
	{ RULES_PHASE_EHLO, "203.0.113.1", 0, "10.1.2.3", 0, 0, 0, F, RULES_FCRDNS_FAIL, 0,
	  RULES_FILTER_REJECT, "helo_ip", 0 },
	{ RULES_PHASE_EHLO, "203.0.113.1", 0, "mx.example", 0, 0, 0, F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
	/* mail-from: an authenticated sender bypasses the sender check */
	{ RULES_PHASE_MAIL_FROM, "203.0.113.1", 0, "x", "bob", "a@spam.example", 0, F, 0, 0,
	  RULES_FILTER_PROCEED, "auth_ok", 0 },
	{ RULES_PHASE_MAIL_FROM, "203.0.113.1", 0, "x", NULL, "a@spam.example", 0, F, 0, 0,
	  RULES_FILTER_REJECT, "spammer", 0 },
	{ RULES_PHASE_MAIL_FROM, "203.0.113.1", 0, "x", NULL, "a@ham.example", 0, F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
	/* rcpt-to: rewrite */
	{ RULES_PHASE_RCPT_TO, "203.0.113.1", 0, "x", NULL, "", "ceo@vip.example", F, 0, 0,
	  RULES_FILTER_REWRITE, "vip", 0 },
	{ RULES_PHASE_RCPT_TO, "203.0.113.1", 0, "x", NULL, "", "ceo@other.example", F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
	/* data: the DNSBL's answer */
	{ RULES_PHASE_DATA, "203.0.113.1", 0, "x", NULL, "", 0, F, 0, RULES_DNSBL_LISTED,
	  RULES_FILTER_REJECT, "bl", 0 },
	{ RULES_PHASE_DATA, "203.0.113.1", 0, "x", NULL, "", 0, F, 0, RULES_DNSBL_CLEAN,
	  RULES_FILTER_PROCEED, NULL, 0 },
	{ RULES_PHASE_DATA, "203.0.113.1", 0, "x", NULL, "", 0, F, 0, RULES_DNSBL_TEMPFAIL,
	  RULES_FILTER_TEMPFAIL, "bl", 0 },
	/* commit: report only */
	{ RULES_PHASE_COMMIT, "203.0.113.1", 0, "x", NULL, "", 0, F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 1u << 10 },
	/* auth: no filter in that phase */
	{ RULES_PHASE_AUTH, "192.0.2.9", 0, "x", "bob", "", 0, F, 0, 0,
	  RULES_FILTER_PROCEED, NULL, 0 },
};

Test(filter, eval_table)
{
	static const char *const results[] = { "PROCEED", "JUNK", "REJECT", "DISCONNECT",
	                                       "REWRITE", "TEMPFAIL" };
	struct sockaddr_storage ss;
	struct rules_filter_verdict v;
	struct rules_config *c;
	uint8_t dnsbl[RULES_FILTER_CHAIN_MAX];
	char msg[1024];

	c = helper_load(filter_conf, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	for (size_t i = 0; i < sizeof filter_cases / sizeof filter_cases[0]; i++) {
		const struct filter_case *k = &filter_cases[i];
		struct rules_filter_facts facts = {
			.q = { .src = helper_addr(k->src, &ss), .rdns = k->rdns,
			       .rdns_state = k->rdns_state, .helo = k->helo, .auth_user = k->auth,
			       .mail_from = k->from, .rcpt = k->rcpt, .listener_tag = "" },
			.fcrdns = k->fcrdns,
			.dnsbl = dnsbl,
		};
		memset(dnsbl, 0, sizeof dnsbl);
		dnsbl[9] = k->dnsbl;
		rules_filter_eval(&c->listeners[0], k->phase, &facts, &v);
		cr_expect_eq(v.result, k->want, "case %zu (%s): got %s, want %s", i,
		             rules_filter_phase_name(k->phase), results[v.result], results[k->want]);
		cr_expect_str_eq(v.filter ? v.filter->name : "-", k->by ? k->by : "-",
		                 "case %zu: decided by", i);
		cr_expect_eq(v.reports, k->reports, "case %zu: reports %llx, want %llx", i,
		             (unsigned long long)v.reports, (unsigned long long)k->reports);
	}
	rules_free(c);
}

Test(filter, negation_and_inline_chain_order)
{
	struct sockaddr_storage ss;
	struct rules_filter_verdict v;
	struct rules_config *c;
	char msg[1024];
	struct rules_filter_facts facts = { .q = { .listener_tag = "", .mail_from = "x@spam.example" } };

	c = helper_load(filter_conf, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	/* listener 2 runs spammer first: the sender is rejected before ok_src */
	facts.q.src = helper_addr("198.51.100.1", &ss);
	rules_filter_eval(&c->listeners[1], RULES_PHASE_MAIL_FROM, &facts, &v);
	cr_expect_eq(v.result, RULES_FILTER_REJECT);
	cr_expect_eq(v.filter->code, 553);
	/* a listener without filters proceeds */
	rules_filter_eval(&c->listeners[2], RULES_PHASE_MAIL_FROM, &facts, &v);
	cr_expect_eq(v.result, RULES_FILTER_PROCEED);
	cr_expect_null(v.filter);
	rules_free(c);
}

static const struct {
	const char *conf, *err;
} filter_errors[] = {
	{ "filter f phase connect match src { 192.0.2.1 } reject \"250 fine\"\n",
	  "t.conf:1:55: \"250 fine\" is not an SMTP reply: a 4xx or 5xx code, then a space and "
	  "the text" },
	{ "filter f phase helo match helo x disconnect \"55 short\"\n",
	  "t.conf:1:45: \"55 short\" is not an SMTP reply: a 4xx or 5xx code, then a space and "
	  "the text" },
	{ "filter f phase helo match helo x reject \"550-more\"\n",
	  "t.conf:1:41: \"550-more\" is not an SMTP reply: a 4xx or 5xx code, then a space and "
	  "the text" },
	{ "filter f phase connect match dnsbl \"bad zone\" junk\n",
	  "t.conf:1:36: \"bad zone\" is not a DNSBL zone (a domain name)" },
	{ "filter f phase connect match src <localhost> junk\n",
	  "t.conf:1:34: builtin table <localhost> cannot be used for filter lookups" },
};

Test(filter, load_errors)
{
	char msg[1024];

	for (size_t i = 0; i < sizeof filter_errors / sizeof filter_errors[0]; i++) {
		char conf[1024];
		struct rules_config *c;
		snprintf(conf, sizeof conf, "%saction l maildir\nmatch from any for any action l\n",
		         filter_errors[i].conf);
		c = helper_load(conf, msg, sizeof msg);
		cr_expect_null(c, "case %zu loaded", i);
		cr_expect_str_eq(msg, filter_errors[i].err, "case %zu", i);
		rules_free(c);
	}
}

/* country and asn: the session's GeoIP answers, as match lines read them
 * (none found: no match before "!"; no database: cannot answer). */
Test(filter, geoip_checks)
{
	static const struct {
		enum rules_filter_phase phase;
		const char *country, *asn;
		enum rules_filter_result want;
		const char *by;
	} t[] = {
		{ RULES_PHASE_CONNECT, "KP", "64496", RULES_FILTER_DISCONNECT, "far" },
		{ RULES_PHASE_CONNECT, "kp", "64496", RULES_FILTER_DISCONNECT, "far" },
		{ RULES_PHASE_CONNECT, "GB", "64496", RULES_FILTER_PROCEED, NULL },
		{ RULES_PHASE_CONNECT, "", "", RULES_FILTER_PROCEED, NULL },
		{ RULES_PHASE_CONNECT, NULL, "64496", RULES_FILTER_TEMPFAIL, "far" },
		{ RULES_PHASE_MAIL_FROM, "GB", "64511", RULES_FILTER_JUNK, "net" },
		{ RULES_PHASE_MAIL_FROM, "GB", "64496", RULES_FILTER_PROCEED, NULL },
		{ RULES_PHASE_MAIL_FROM, "GB", NULL, RULES_FILTER_TEMPFAIL, "net" },
		{ RULES_PHASE_RCPT_TO, "SE", "1", RULES_FILTER_PROCEED, NULL },
		{ RULES_PHASE_RCPT_TO, "", "1", RULES_FILTER_REJECT, "home" },
		{ RULES_PHASE_RCPT_TO, "US", "1", RULES_FILTER_REJECT, "home" },
	};
	struct rules_filter_verdict v;
	struct rules_config *c;
	char msg[1024];

	c = helper_load("geoip \"/db/c.mmdb\"\ngeoip asn \"/db/a.mmdb\"\n"
	                "filter far phase connect match country { KP IR } disconnect \"554 no\"\n"
	                "filter net phase mail-from match asn { 64511 } junk\n"
	                "filter home phase rcpt-to match !country { SE NO } reject \"550 home\"\n"
	                "listen on 127.0.0.1 filter { far, net, home }\n"
	                "action l maildir\nmatch from any for any action l\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct rules_filter_facts facts = {
			.q = { .listener_tag = "", .country = t[i].country, .asn = t[i].asn,
			       .mail_from = "", .rcpt = "a@b.example" },
		};
		rules_filter_eval(&c->listeners[0], t[i].phase, &facts, &v);
		cr_expect_eq(v.result, t[i].want, "case %zu: got %d, want %d", i, (int)v.result,
		             (int)t[i].want);
		cr_expect_str_eq(v.filter ? v.filter->name : "-", t[i].by ? t[i].by : "-",
		                 "case %zu: decided by", i);
	}
	cr_expect_str_eq(rules_filter_check_name(RULES_FCHECK_ASN), "asn");
	rules_free(c);
}

static const struct {
	const char *conf, *err;
} filter_geo_errors[] = {
	{ "filter f phase connect match country { GB } junk\n",
	  "t.conf:1:30: filter match country needs a geoip country database: declare "
	  "`geoip country \"/path/to/GeoLite2-Country.mmdb\"`" },
	{ "geoip \"/c\"\nfilter f phase connect match asn { 1 } junk\n",
	  "t.conf:2:30: filter match asn needs a geoip asn database: declare "
	  "`geoip asn \"/path/to/GeoLite2-ASN.mmdb\"`" },
	{ "geoip \"/c\"\nfilter f phase connect match country { GBR } junk\n",
	  "t.conf:2:40: \"GBR\" is not a country code (two letters, as GB or SE)" },
	{ "geoip asn \"/a\"\nfilter f phase helo match asn { AS1 } junk\n",
	  "t.conf:2:33: \"AS1\" is not an AS number (digits, as 64496)" },
	{ "geoip \"/c\"\nfilter f phase connect match country junk\n",
	  NULL },
};

Test(filter, geoip_load_errors)
{
	char msg[1024], conf[1024];

	for (size_t i = 0; i < sizeof filter_geo_errors / sizeof filter_geo_errors[0]; i++) {
		struct rules_config *c;
		snprintf(conf, sizeof conf, "%saction l maildir\nmatch from any for any action l\n",
		         filter_geo_errors[i].conf);
		c = helper_load(conf, msg, sizeof msg);
		cr_expect_null(c, "case %zu loaded", i);
		if (filter_geo_errors[i].err != NULL)
			cr_expect_str_eq(msg, filter_geo_errors[i].err, "case %zu", i);
		rules_free(c);
	}
}

Test(filter, processes_compiled)
{
	struct rules_error err;
	struct rules_config *c;
	char msg[1024];

	c = helper_load("proc shared \"/usr/bin/f -v\" user nobody group nogroup\n"
	                "filter p proc-exec \"/bin/true\" chroot /var/empty\n"
	                "filter b phase connect match rdns junk\nfilter s proc shared\n"
	                "filter c chain { b, p, s }\nlisten on 127.0.0.1 filter c\n"
	                "listen on 127.0.0.2 filter s\n"
	                "action l maildir\nmatch from any for any action l\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_runtime_check(c, &err), 0, "filter processes run");
	cr_assert_eq(c->nprocs, 2);
	cr_expect_str_eq(c->procs[0].name, "shared");
	cr_expect_str_eq(c->procs[0].command, "/usr/bin/f -v");
	cr_expect_str_eq(c->procs[0].user, "nobody");
	cr_expect_str_eq(c->procs[0].group, "nogroup");
	cr_expect_str_eq(c->procs[1].name, "p");
	cr_expect_str_eq(c->procs[1].command, "/bin/true");
	cr_expect_str_eq(c->procs[1].chroot, "/var/empty");
	cr_expect_eq(c->listeners[0].nfilters, 1, "the builtin member is compiled");
	cr_assert_eq(c->listeners[0].nprocs, 2, "each process once, in chain order");
	cr_expect_eq(c->listeners[0].procs[0], &c->procs[1]);
	cr_expect_eq(c->listeners[0].procs[1], &c->procs[0]);
	cr_assert_eq(c->listeners[1].nprocs, 1);
	cr_expect_eq(c->listeners[1].procs[0], &c->procs[0]);
	rules_free(c);
}
