/*
 * test/rules/test_tls_opts.c - `protocols` and `ciphers` as smtpd.conf(5)
 * writes them (libtls's forms): the pure parsers of rules/tls_opts.c as
 * tables of good and bad values, then what a loaded configuration hands
 * the daemon (listener ca, ciphers with smtp ciphers as their default,
 * protocols, verify; relay ciphers and protocols) and the errors with
 * their file:line:column, including a value the TLS library refuses.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test/rules/helpers.h"

#define V10 RULES_TLS_V1_0
#define V11 RULES_TLS_V1_1
#define V12 RULES_TLS_V1_2
#define V13 RULES_TLS_V1_3

Test(tls_opts, protocols_table)
{
	static const struct {
		const char *in;
		int ok;
		unsigned mask;
	} cases[] = {
		{ "tlsv1.2", 1, V12 },
		{ "tlsv1.3", 1, V13 },
		{ "TLSv1.2,TLSv1.3", 1, V12 | V13 },
		{ "tlsv1.2:tlsv1.3", 1, V12 | V13 },
		{ " tlsv1.2 , tlsv1.3 ", 1, V12 | V13 },
		{ "secure", 1, V12 | V13 },
		{ "default", 1, V12 | V13 },
		{ "all", 1, V10 | V11 | V12 | V13 },
		{ "legacy", 1, V10 | V11 | V12 | V13 },
		{ "tlsv1", 1, V10 | V11 | V12 },
		{ "tlsv1.1,tlsv1.2", 1, V11 | V12 },
		{ "!tlsv1.3", 1, V10 | V11 | V12 },
		{ "all,!tlsv1.0,!tlsv1.1", 1, V12 | V13 },
		{ "tlsv1.2,,tlsv1.3", 1, V12 | V13 },
		{ "", 0, 0 },
		{ "tlsv1.4", 0, 0 },
		{ "sslv3", 0, 0 },
		{ "tlsv1.3,bogus", 0, 0 },
		{ "!", 0, 0 },
		{ "all,!all", 0, 0 },
		{ "tlsv1.0,tlsv1.2", 0, 0 },                   /* a gap */
		{ "tlsv1.1,tlsv1.3", 0, 0 },
		{ "tlsv1.2tlsv1.3", 0, 0 },
		{ "tlsv1.2-and-a-very-long-word-that-goes-on", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned mask = 0;
		char why[200] = "";
		int r = rules_tls_protocols_parse(cases[i].in, &mask, why, sizeof why);
		cr_expect_eq(r == 0, cases[i].ok, "\"%s\": got %d (%s), want %s", cases[i].in, r, why,
		             cases[i].ok ? "ok" : "an error");
		if (r == 0 && cases[i].ok)
			cr_expect_eq(mask, cases[i].mask, "\"%s\": got %#x want %#x", cases[i].in, mask,
			             cases[i].mask);
		if (r < 0)
			cr_expect(why[0] != '\0', "\"%s\": an error says why", cases[i].in);
	}
}

Test(tls_opts, ciphers_table)
{
	static const struct {
		const char *in;
		const char *out;           /* NULL: refused */
	} cases[] = {
		{ "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384" },
		{ "HIGH:!aNULL:!MD5", "HIGH:!aNULL:!MD5" },
		{ "TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
		  "TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ "secure", "" },
		{ "DEFAULT", "" },
		{ "compat", "HIGH:!aNULL" },
		{ "legacy", "HIGH:MEDIUM:!aNULL" },
		{ "insecure", "ALL:!aNULL:!eNULL" },
		{ "all", "ALL:!aNULL:!eNULL" },
		{ "", NULL },
		{ "HIGH !aNULL", NULL },
		{ "HIGH;rm", NULL },
		{ "HIGH\n", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[RULES_CIPHERS_BYTES_MAX] = "x", why[160] = "";
		int r = rules_tls_ciphers_parse(cases[i].in, out, sizeof out, why, sizeof why);
		if (cases[i].out == NULL) {
			cr_expect_eq(r, -1, "\"%s\": accepted as \"%s\"", cases[i].in, out);
			cr_expect(why[0] != '\0');
		} else {
			cr_expect_eq(r, 0, "\"%s\": %s", cases[i].in, why);
			cr_expect_str_eq(out, cases[i].out, "\"%s\": got \"%s\" want \"%s\"", cases[i].in,
			                 out, cases[i].out);
		}
	}
	char small[8], why[160];
	cr_expect_eq(rules_tls_ciphers_parse("ECDHE-RSA-AES256-GCM-SHA384", small, sizeof small, why,
	                                     sizeof why), -1, "a list longer than its room");
}

static char fixture[256];

static void
setup(void)
{
	helper_fixture(fixture, sizeof fixture);
}

static void
teardown(void)
{
	helper_fixture_remove(fixture);
}

#define PKI "pki p cert \"%D/cert.pem\" key \"%D/key.pem\"\nca c cert \"%D/cert.pem\"\n"
#define RULE "action a maildir\nmatch for any action a\n"

static struct rules_config *
load(const char *body, const struct rules_load_params *p, char *msg, size_t cap)
{
	char text[4096];
	struct rules_error err;
	helper_subst(body, fixture, text, sizeof text);
	struct rules_config *c = rules_load_string("t.conf", text, p, &err);
	msg[0] = '\0';
	if (c == NULL)
		rules_error_format(&err, msg, cap);
	return c;
}

Test(tls_opts, listener_and_relay_settings, .init = setup, .fini = teardown)
{
	char msg[1024];
	struct rules_config *c = load(PKI "smtp ciphers \"HIGH:!aNULL\"\n"
	                              "listen on 127.0.0.1 port 2525 tls pki p\n"
	                              "listen on 127.0.0.1 port 2465 smtps verify pki p ca C "
	                              "ciphers ECDHE-ECDSA-AES128-GCM-SHA256 protocols tlsv1.2\n"
	                              "listen on 127.0.0.1 port 2587 tls-require pki p "
	                              "protocols \"tlsv1.3\"\n"
	                              "action r relay host smtp+tls://mx.example ciphers compat "
	                              "protocols \"tlsv1.1:tlsv1.2\"\n"
	                              "action s relay\n" RULE,
	                              &helper_params, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nunsupported, 0, "ca, ciphers, protocols and verify all run");
	const struct rules_listener *l = c->listeners;
	cr_expect_eq(l[0].tls_verify, 0);
	cr_expect_str_eq(l[0].tls_ca, "");
	cr_expect_str_eq(l[0].tls_ciphers, "HIGH:!aNULL", "smtp ciphers is the default");
	cr_expect_eq(l[0].tls_protocols, V12 | V13);
	cr_expect_eq(l[1].tls_verify, 1);
	cr_expect(strstr(l[1].tls_ca, "/cert.pem") != NULL, "ca c's file: %s", l[1].tls_ca);
	cr_expect_str_eq(l[1].tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
	cr_expect_eq(l[1].tls_protocols, V12);
	cr_expect_eq(l[2].tls_protocols, V13);
	const struct rules_action *r = rules_action_find(c, "r"), *s = rules_action_find(c, "s");
	cr_assert(r != NULL && s != NULL);
	cr_expect_str_eq(r->relay_ciphers, "HIGH:!aNULL");
	cr_expect_eq(r->relay_protocols, V11 | V12);
	cr_expect_str_eq(s->relay_ciphers, "", "smtp ciphers is for listeners only");
	cr_expect_eq(s->relay_protocols, V12 | V13);
	rules_free(c);
}

/* The daemon's loader asks the TLS library; this one knows no "NOPE" and
 * no TLS 1.0, as the library smtpd links does not. */
static int
fake_library(const char *ciphers, unsigned protocols, char *why, size_t cap)
{
	if ((ciphers && strstr(ciphers, "NOPE")) || (protocols & RULES_TLS_V1_0)) {
		snprintf(why, cap, "not known to the library");
		return -1;
	}
	return 0;
}

Test(tls_opts, bad_values_name_their_place, .init = setup, .fini = teardown)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ PKI "listen on 127.0.0.1 tls pki p protocols tlsv1.4\n" RULE,
		  "t.conf:3:41: protocols \"tlsv1.4\": unknown protocol \"tlsv1.4\"" },
		{ PKI "listen on 127.0.0.1 tls pki p protocols \"tlsv1.0,tlsv1.3\"\n" RULE,
		  "t.conf:3:41: protocols \"tlsv1.0,tlsv1.3\": protocols must be consecutive" },
		{ PKI "listen on 127.0.0.1 tls pki p ciphers \"HIGH !MD5\"\n" RULE,
		  "t.conf:3:39: ciphers: invalid character ' ' in a cipher list" },
		{ PKI "listen on 127.0.0.1 tls pki p ciphers NOPE-CIPHER\n" RULE,
		  "t.conf:3:39: ciphers \"NOPE-CIPHER\": not known to the library" },
		{ PKI "listen on 127.0.0.1 tls pki p protocols all\n" RULE,
		  "t.conf:3:41: protocols \"all\": not known to the library" },
		{ "smtp ciphers \"\"\n" RULE, "t.conf:1:14: ciphers: empty cipher list" },
		{ "action r relay protocols tlsv9\nmatch for any action r\n",
		  "t.conf:1:26: protocols \"tlsv9\": unknown protocol" },
		{ "listen on 127.0.0.1 ciphers x protocols tlsv1.3 ciphers y\n" RULE,
		  "t.conf:1:49: ciphers already specified" },
	};
	struct rules_load_params p = helper_params;
	p.tls_check = fake_library;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char msg[1024];
		struct rules_config *c = load(cases[i].text, &p, msg, sizeof msg);
		cr_expect_null(c, "case %zu accepted", i);
		rules_free(c);
		cr_expect(strncmp(msg, cases[i].error, strlen(cases[i].error)) == 0,
		          "case %zu: got \"%s\" want \"%s...\"", i, msg, cases[i].error);
	}
}
