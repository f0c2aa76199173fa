/*
 * test/rules/test_listen_auth.c - a listener's auth, auth-optional,
 * senders [masquerade], mask-src and received-auth as the daemon sees them
 * after load (none of them unsupported any more), the credentials lookup
 * (rules_auth_hash()) and the senders lookup (rules_senders_allow()) with
 * every entry shape, +tags, case and <>.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "test/rules/helpers.h"

static struct rules_config *
load(const char *text)
{
	char msg[512];
	struct rules_config *c = helper_load(text, msg, sizeof msg);

	cr_assert_not_null(c, "%s", msg);
	return c;
}

Test(listen_auth, options_reach_the_listener)
{
	struct rules_config *c = load(
		"table creds { alice = \"$2b$10$abc\", Bob = \"$6$salt$hash\" }\n"
		"table users { alice = \"alice@example.org, @example.net\" }\n"
		"listen on 127.0.0.1 port 587 tls-require auth <creds> senders <users> masquerade "
		"mask-src received-auth\n"
		"listen on 127.0.0.1 port 465 smtps auth-optional\n"
		"listen on 127.0.0.1 port 25\n"
		"action a maildir\nmatch from any for any action a\n");

	cr_expect_eq(c->nunsupported, 0, "everything here runs");
	const struct rules_listener *sub = &c->listeners[0], *smtps = &c->listeners[1],
	                            *mx = &c->listeners[2];
	cr_expect_eq(sub->auth, RULES_AUTH_REQUIRE);
	cr_expect(sub->senders_masquerade && sub->mask_src && sub->received_auth);
	cr_expect_eq(smtps->auth, RULES_AUTH_OPTIONAL);
	cr_expect_null(smtps->auth_table, "plain auth-optional: the system's users");
	cr_expect_eq(mx->auth, RULES_AUTH_NONE);
	cr_expect(!mx->mask_src && !mx->received_auth && mx->senders == NULL);

	cr_expect_str_eq(rules_auth_hash(sub, "alice"), "$2b$10$abc");
	cr_expect_str_eq(rules_auth_hash(sub, "BOB"), "$6$salt$hash");
	cr_expect_null(rules_auth_hash(sub, "carol"));
	cr_expect_null(rules_auth_hash(smtps, "alice"));
	rules_free(c);
}

Test(listen_auth, match_auth_is_supported)
{
	struct rules_config *c = load(
		"action a maildir\naction b maildir\n"
		"match auth from any for any action a\n"
		"match from auth { alice } for any action b\n");

	cr_expect_eq(c->nunsupported, 0);
	rules_free(c);
}

Test(listen_auth, senders)
{
	struct rules_config *c = load(
		"table users { alice = \"alice@example.org, @example.net\", bob = \"bob\", "
		"root = \"@\" }\n"
		"listen on 127.0.0.1 port 587 tls auth senders <users>\n"
		"listen on 127.0.0.1 port 588 tls auth\n"
		"action a maildir\nmatch from any for any action a\n");
	const struct rules_listener *l = &c->listeners[0];
	static const struct { const char *user, *from; int want; } cases[] = {
		{ "alice", "alice@example.org", 1 },
		{ "alice", "ALICE@Example.ORG", 1 },
		{ "alice", "alice+lists@example.org", 1 },
		{ "alice", "alice@example.com", 0 },
		{ "alice", "bob@example.org", 0 },
		{ "alice", "anyone@example.net", 1 },
		{ "alice", "anyone@sub.example.net", 0 },
		{ "alice", "", 0 },
		{ "alice", "alice", 0 },
		{ "bob", "bob@anywhere.test", 1 },
		{ "bob", "bobby@anywhere.test", 0 },
		{ "root", "x@y.z", 1 },
		{ "carol", "carol@example.org", 0 },
	};

	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(rules_senders_allow(l, cases[i].user, cases[i].from, '+'), cases[i].want,
		             "%s as <%s>: want %d", cases[i].user, cases[i].from, cases[i].want);
	cr_expect_eq(rules_senders_allow(&c->listeners[1], "carol", "x@y.z", '+'), 1,
	             "no senders table: anything");
	rules_free(c);
}
