/*
 * test/rules/test_relay_tls.c - relay actions' TLS and credentials as
 * parsed from smtpd.conf(5): the host URL's scheme and `tls [no-verify]`
 * give the mode and whether the certificate is checked, `ca` and `pki` their
 * files and names, label@ with `auth <table>` the credentials; and the
 * configurations refused because credentials could go in plain text.
 */
#include "test/rules/helpers.h"

struct tls_case {
	const char *text;      /* one action "r"; %D is the fixture folder */
	enum rules_relay_tls mode;
	int verify;
	const char *label, *pki;
	int ca;                /* relay_ca names the fixture's cert.pem */
};

#define PKI "pki p cert \"%D/cert.pem\" key \"%D/key.pem\"\n"
#define CA "ca c cert \"%D/cert.pem\"\n"
#define SECRETS "table s { bob = \"bob:secret\" }\n"

static const struct tls_case tls_cases[] = {
	{ "action r relay\n", RULES_RELAY_TLS_OPPORTUNISTIC, 0, "", "", 0 },
	{ "action r relay host smtp://mx.example\n", RULES_RELAY_TLS_OPPORTUNISTIC, 0, "", "", 0 },
	{ "action r relay host smtp+notls://mx.example\n", RULES_RELAY_TLS_NO, 0, "", "", 0 },
	{ "action r relay host smtp+tls://mx.example\n", RULES_RELAY_TLS_STARTTLS, 1, "", "", 0 },
	{ "action r relay host smtps://mx.example\n", RULES_RELAY_TLS_SMTPS, 1, "", "", 0 },
	{ "action r relay host smtps://mx.example tls no-verify\n", RULES_RELAY_TLS_SMTPS, 0,
	  "", "", 0 },
	{ "action r relay tls\n", RULES_RELAY_TLS_STARTTLS, 1, "", "", 0 },
	{ "action r relay tls no-verify\n", RULES_RELAY_TLS_STARTTLS, 0, "", "", 0 },
	{ "action r relay host smtp://mx.example tls\n", RULES_RELAY_TLS_STARTTLS, 1, "", "", 0 },
	{ PKI CA "action r relay host smtp+tls://mx.example pki p ca c\n",
	  RULES_RELAY_TLS_STARTTLS, 1, "", "p", 1 },
	{ SECRETS "action r relay host smtp+tls://bob@mx.example:587 auth <s>\n",
	  RULES_RELAY_TLS_STARTTLS, 1, "bob", "", 0 },
	{ SECRETS "action r relay host smtp://bob@mx.example auth <s>\n",
	  RULES_RELAY_TLS_OPPORTUNISTIC, 0, "bob", "", 0 },
};

static void
modes_one(const struct tls_case *tc)
{
	char dir[64], text[2048], msg[512], ca[128];
	const struct rules_action *a;
	struct rules_config *c;

	helper_fixture(dir, sizeof dir);
	helper_subst(tc->text, dir, text, sizeof text);
	strncat(text, "match from any for any action r\n", sizeof text - strlen(text) - 1);
	c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s: %s", tc->text, msg);
	a = rules_action_find(c, "r");
	cr_assert_not_null(a);
	cr_expect_eq(a->relay_tls, tc->mode, "%s: mode got %d want %d", tc->text, a->relay_tls,
	             tc->mode);
	cr_expect_eq(a->relay_tls_verify, tc->verify, "%s: verify got %d want %d", tc->text,
	             a->relay_tls_verify, tc->verify);
	cr_expect_str_eq(a->relay_label, tc->label, "%s", tc->text);
	cr_expect_str_eq(a->relay_pki, tc->pki, "%s", tc->text);
	snprintf(ca, sizeof ca, "%s/cert.pem", dir);
	cr_expect_str_eq(a->relay_ca, tc->ca ? ca : "", "%s", tc->text);
	cr_expect_eq(a->relay_auth != NULL, tc->label[0] != '\0', "%s", tc->text);
	cr_expect_eq(c->nunsupported, 0, "%s: %u unsupported usages", tc->text, c->nunsupported);
	rules_free(c);
	helper_fixture_remove(dir);
}

struct refused_case {
	const char *text;
	const char *error;
};

static const struct refused_case refused_cases[] = {
	{ SECRETS "action r relay host smtp+notls://bob@mx.example auth <s>\n",
	  "t.conf:2:49: auth with smtp+notls:// would send the credentials in plain text: use "
	  "smtp+tls:// or smtps://" },
	{ "action r relay host smtp+notls://mx.example tls\n",
	  "t.conf:1:45: tls may not be used with smtp+notls://" },
	{ SECRETS "action r relay host smtp+tls://mx.example auth <s>\n",
	  "t.conf:2:43: auth needs a label in the relay URL (smtp+tls://label@host): the key of "
	  "its credentials" },
	{ "action r relay host smtp+tls://bob@mx.example\n",
	  "t.conf:1:16: a relay host with a label (label@host) needs \"auth <table>\"" },
	{ "action r relay host smtp+ssl://mx.example\n",
	  "t.conf:1:21: unknown relay scheme \"smtp+ssl\"; did you mean \"smtp+tls\"?" },
};

static void
refused_one(const struct refused_case *rc)
{
	char msg[512];
	struct rules_config *c = helper_load(rc->text, msg, sizeof msg);

	cr_expect_null(c, "%s loaded", rc->text);
	cr_expect_str_eq(msg, rc->error, "\n got  %s\n want %s", msg, rc->error);
	rules_free(c);
}

struct cred_case {
	const char *value;     /* bob's entry in the auth table */
	int ret;
	const char *user, *pass;
};

static const struct cred_case cred_cases[] = {
	{ "bob:secret", 0, "bob", "secret" },
	{ "bob@example.org:pa:ss word", 0, "bob@example.org", "pa:ss word" },
	{ "bob:", 0, "bob", "" },
	{ ":secret", -2, "", "" },
	{ "no-colon", -2, "", "" },
};

static void
credentials_one(const struct cred_case *cc)
{
	char text[512], msg[512], user[64] = "", pass[64] = "";
	struct rules_config *c;
	const struct rules_action *a;
	int r;

	snprintf(text, sizeof text, "table s { bob = \"%s\", other = \"x:y\" }\n"
	         "action r relay host smtps://bob@mx.example auth <s>\n"
	         "action n relay host smtps://nobody@mx.example auth <s>\n"
	         "match from any for any action r\n", cc->value);
	c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	a = rules_action_find(c, "r");
	r = rules_relay_credentials(a, user, sizeof user, pass, sizeof pass);
	cr_expect_eq(r, cc->ret, "%s: got %d want %d", cc->value, r, cc->ret);
	if (r == 0) {
		cr_expect_str_eq(user, cc->user);
		cr_expect_str_eq(pass, cc->pass);
	}
	cr_expect_eq(rules_relay_credentials(rules_action_find(c, "n"), user, sizeof user, pass,
	                                     sizeof pass), -1, "a label not in the table");
	rules_free(c);
}

Test(relay_tls, modes)
{
	for (size_t i = 0; i < sizeof tls_cases / sizeof tls_cases[0]; i++)
		modes_one(&tls_cases[i]);
}

Test(relay_tls, refused)
{
	for (size_t i = 0; i < sizeof refused_cases / sizeof refused_cases[0]; i++)
		refused_one(&refused_cases[i]);
}

Test(relay_tls, credentials)
{
	for (size_t i = 0; i < sizeof cred_cases / sizeof cred_cases[0]; i++)
		credentials_one(&cred_cases[i]);
}
