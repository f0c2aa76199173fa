/*
 * test/rules/test_relay_opts.c - a relay action's session options as
 * parsed and looked up: relay URLs (host and domain tables), helo and
 * helo-src, mail-from rewriting as OpenSMTPD does it, src addresses,
 * backup [mx NAME], domain <table>; and the configurations refused, each
 * with its file:line:column.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "test/rules/helpers.h"

struct url_case {
	const char *url;
	int ok;
	enum rules_relay_tls tls;
	const char *label, *host;
	unsigned port;
	const char *why;       /* the error's start when not ok */
};

static const struct url_case url_cases[] = {
	{ "mx.example", 1, RULES_RELAY_TLS_OPPORTUNISTIC, "", "mx.example", 0, NULL },
	{ "smtp://mx.example:2525", 1, RULES_RELAY_TLS_OPPORTUNISTIC, "", "mx.example", 2525, NULL },
	{ "smtp+tls://bob@mx.example", 1, RULES_RELAY_TLS_STARTTLS, "bob", "mx.example", 0, NULL },
	{ "smtp+notls://[2001:db8::1]:26", 1, RULES_RELAY_TLS_NO, "", "2001:db8::1", 26, NULL },
	{ "smtps://mx.example/", 1, RULES_RELAY_TLS_SMTPS, "", "mx.example", 465, NULL },
	{ "smtq://mx.example", 0, 0, "", "", 0, "unknown relay scheme \"smtq\"; did you mean" },
	{ "smtp://", 0, 0, "", "", 0, "relay URL \"smtp://\" has no host" },
	{ "smtp://h:0", 0, 0, "", "", 0, "port 0 out of range" },
	{ "smtp://h:x", 0, 0, "", "", 0, "invalid port \"x\"" },
	{ "smtp://@h", 0, 0, "", "", 0, "empty label" },
	{ "smtp://[::1", 0, 0, "", "", 0, "missing \"]\"" },
	{ "lmtp://h", 0, 0, "", "", 0, "lmtp:// needs a port" },
	{ "smtp://h/x", 0, 0, "", "", 0, "invalid relay URL" },
};

Test(relay_opts, url_parse)
{
	struct rules_relay_url u;
	char why[256];
	size_t i;

	for (i = 0; i < sizeof url_cases / sizeof url_cases[0]; i++) {
		const struct url_case *tc = &url_cases[i];
		why[0] = '\0';
		int r = rules_relay_url_parse(tc->url, &u, why, sizeof why);
		cr_expect_eq(r == 0, tc->ok, "%s: got %d (%s)", tc->url, r, why);
		if (!tc->ok) {
			cr_expect(strncmp(why, tc->why, strlen(tc->why)) == 0, "%s: got \"%s\" want \"%s\"",
			          tc->url, why, tc->why);
			continue;
		}
		cr_expect_eq(u.tls, tc->tls, "%s: tls %d", tc->url, u.tls);
		cr_expect_str_eq(u.label, tc->label, "%s", tc->url);
		cr_expect_str_eq(u.host, tc->host, "%s", tc->url);
		cr_expect_eq(u.port, tc->port, "%s: port got %u want %u", tc->url, u.port, tc->port);
	}
}

/* The action "r" of text (a relay action); the config stays with *c. */
static const struct rules_action *
relay_action(const char *text, struct rules_config **c)
{
	char msg[512], full[2048];

	snprintf(full, sizeof full, "%smatch from any for any action r\n", text);
	*c = helper_load(full, msg, sizeof msg);
	cr_assert_not_null(*c, "%s: %s", text, msg);
	return rules_action_find(*c, "r");
}

struct mail_from_case {
	const char *option, *sender, *want;
};

static const struct mail_from_case mail_from_cases[] = {
	{ "bounces@relay.example", "alice@example.org", "bounces@relay.example" },
	{ "@relay.example", "alice@example.org", "alice@relay.example" },
	{ "bounces@", "alice@example.org", "bounces@example.org" },
	{ "bounces@relay.example", "", "" },   /* <> stays <> (a report) */
	{ NULL, "alice@example.org", "alice@example.org" },
};

Test(relay_opts, mail_from_rewrites_the_sender)
{
	struct rules_config *c;
	char text[256], out[256];
	size_t i;

	for (i = 0; i < sizeof mail_from_cases / sizeof mail_from_cases[0]; i++) {
		const struct mail_from_case *tc = &mail_from_cases[i];
		if (tc->option != NULL)
			snprintf(text, sizeof text, "action r relay mail-from \"%s\"\n", tc->option);
		else
			snprintf(text, sizeof text, "action r relay\n");
		const struct rules_action *a = relay_action(text, &c);
		cr_assert_eq(rules_relay_mail_from(a, tc->sender, out, sizeof out), 0);
		cr_expect_str_eq(out, tc->want, "%s with %s: got %s want %s", tc->sender,
		                 tc->option ? tc->option : "(none)", out, tc->want);
		rules_free(c);
	}
	relay_action("action r relay mail-from \"b@x.example\"\n", &c);
	cr_expect_eq(rules_relay_mail_from(rules_action_find(c, "r"), "a@y.example", out, 4), -1);
	rules_free(c);
}

Test(relay_opts, helo_and_helo_src)
{
	struct rules_config *c;
	const struct rules_action *a;

	a = relay_action("table hs { 127.0.0.2 = two.example, \"::1\" = six.example }\n"
	                 "action r relay helo out.example helo-src <hs>\n", &c);
	cr_expect_str_eq(rules_relay_helo(a, "127.0.0.2", "host.example"), "two.example");
	cr_expect_str_eq(rules_relay_helo(a, "::1", "host.example"), "six.example");
	cr_expect_str_eq(rules_relay_helo(a, "127.0.0.9", "host.example"), "out.example");
	cr_expect_str_eq(rules_relay_helo(a, NULL, "host.example"), "out.example");
	rules_free(c);
	a = relay_action("action r relay\n", &c);
	cr_expect_str_eq(rules_relay_helo(a, "127.0.0.2", "host.example"), "host.example");
	cr_expect_str_eq(rules_relay_helo(NULL, "127.0.0.2", "host.example"), "host.example");
	rules_free(c);
}

Test(relay_opts, src_addresses_in_order)
{
	struct rules_config *c;
	const struct rules_action *a;
	char text[64];

	a = relay_action("table s { 127.0.0.2, 127.0.0.3, \"::1\" }\naction r relay src <s>\n", &c);
	cr_assert_eq(a->nrelay_src, 3);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->relay_src[1];
	cr_expect_eq(sin->sin_family, AF_INET);
	inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
	cr_expect_str_eq(text, "127.0.0.3");
	cr_expect_eq(a->relay_src[2].ss_family, AF_INET6);
	rules_free(c);
	a = relay_action("action r relay src 192.0.2.7\n", &c);
	cr_expect_eq(a->nrelay_src, 1);
	rules_free(c);
}

Test(relay_opts, backup_and_domain)
{
	struct rules_config *c;
	const struct rules_action *a;
	struct rules_relay_url u;

	a = relay_action("action r relay backup\n", &c);
	cr_expect_eq(a->relay_backup, 1);
	cr_expect_str_eq(a->relay_backup_mx, "");
	rules_free(c);
	a = relay_action("action r relay backup mx mx2.example\n", &c);
	cr_expect_eq(a->relay_backup, 1);
	cr_expect_str_eq(a->relay_backup_mx, "mx2.example");
	rules_free(c);
	a = relay_action("table d { example.org = smtp+notls://127.0.0.5:2626, "
	                 "example.com = mx.example }\naction r relay domain <d>\n", &c);
	cr_assert_eq(rules_relay_domain_url(a, "EXAMPLE.org", &u), 0);
	cr_expect_str_eq(u.host, "127.0.0.5");
	cr_expect_eq(u.port, 2626);
	cr_expect_eq(u.tls, RULES_RELAY_TLS_NO);
	cr_assert_eq(rules_relay_domain_url(a, "example.com", &u), 0);
	cr_expect_str_eq(u.host, "mx.example");
	cr_expect_eq(rules_relay_domain_url(a, "example.net", &u), -1);
	rules_free(c);
}

/* srs key, srs key backup and srs ttl land in the config (the last of
 * each), the action's srs with them; the dump never shows a key. */
Test(relay_opts, srs_keys_and_ttl)
{
	struct rules_config *c;
	const struct rules_action *a;

	a = relay_action("srs key \"first\"\nsrs key \"s3cret\"\nsrs key backup old-one\n"
	                 "srs ttl 36h\naction r relay srs\n", &c);
	cr_expect_eq(a->relay_srs, 1);
	cr_expect_str_eq(c->srs_key, "s3cret");
	cr_expect_str_eq(c->srs_key_backup, "old-one");
	cr_expect_eq(c->srs_ttl_days, 1);   /* whole days, as OpenSMTPD */
	cr_expect_eq(c->nunsupported, 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	rules_dump(c, f);
	fclose(f);
	cr_expect_not_null(strstr(text, "srs key (in the file)\n"), "%s", text);
	cr_expect_not_null(strstr(text, "srs key backup (in the file)\n"), "%s", text);
	cr_expect_not_null(strstr(text, "srs ttl 1d\n"), "%s", text);
	cr_expect_null(strstr(text, "s3cret"), "%s", text);
	cr_expect_null(strstr(text, "old-one"), "%s", text);
	free(text);
	rules_free(c);
	a = relay_action("action r relay\n", &c);
	cr_expect_str_eq(c->srs_key, "");
	cr_expect_eq(c->srs_ttl_days, 4);   /* OpenSMTPD's default */
	rules_free(c);
}

struct refused_case {
	const char *text, *want;
};

static const struct refused_case refused_cases[] = {
	{ "action r relay mail-from \"<a@b>\"\n",
	  "t.conf:1:26: invalid mail-from address \"<a@b>\": expected user@domain, @domain or user@" },
	{ "action r relay mail-from nobody\n",
	  "t.conf:1:26: invalid mail-from address \"nobody\": expected user@domain, @domain or "
	  "user@" },
	{ "action r relay helo \"a b\"\n", "t.conf:1:21: invalid helo name \"a b\"" },
	{ "action r relay src { 192.0.2.0/24 }\n",
	  "t.conf:1:20: src table { ... } holds a network (/24): source addresses must be single "
	  "addresses" },
	{ "action r relay src mx.example\n",
	  "t.conf:1:20: \"mx.example\" is not an address or network" },
	{ "table d { example.org = smtq://h }\naction r relay domain <d>\n",
	  "t.conf:1:11: relay domain table \"d\": the entry for \"example.org\": unknown relay "
	  "scheme \"smtq\"; did you mean \"smtp\"?" },
	{ "table d { example.org = lmtp://h:24 }\naction r relay domain <d>\n",
	  "t.conf:1:11: relay domain table \"d\": the entry for \"example.org\": lmtp:// is not a "
	  "relay host" },
	{ "table d { example.org = smtp://bob@h }\naction r relay domain <d>\n",
	  "t.conf:1:11: relay domain table \"d\": the entry for \"example.org\": a label "
	  "(credentials) is not taken here" },
	{ "action r relay domain { a.example }\n",
	  "t.conf:1:23: table { ... } holds a list and cannot be used for domain lookups (key = "
	  "value pairs needed)" },
	{ "action r relay backup host smtp://h\n",
	  "t.conf:1:23: \"backup\" and \"host\" are mutually exclusive" },
};

Test(relay_opts, refused_with_the_place)
{
	char text[1024], msg[512];
	struct rules_config *c;
	size_t i;

	for (i = 0; i < sizeof refused_cases / sizeof refused_cases[0]; i++) {
		snprintf(text, sizeof text, "%smatch from any for any action r\n",
		         refused_cases[i].text);
		c = helper_load(text, msg, sizeof msg);
		cr_expect_null(c, "%s: loaded", refused_cases[i].text);
		if (c != NULL) {
			rules_free(c);
			continue;
		}
		cr_expect_str_eq(msg, refused_cases[i].want, "%s\n got  %s\n want %s",
		                 refused_cases[i].text, msg, refused_cases[i].want);
	}
}
