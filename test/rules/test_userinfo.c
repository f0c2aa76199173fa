/*
 * test/rules/test_userinfo.c - userbase tables: "uid:gid:/home" values
 * parsed and refused as rules_userinfo_parse() says, and users looked up
 * in an action's userbase (and none without one).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "test/rules/helpers.h"

Test(userinfo, values_are_uid_gid_home)
{
	struct rules_userinfo ui;

	cr_assert_eq(rules_userinfo_parse("2000:100:/var/vmail/bob", &ui), 0);
	cr_expect_eq(ui.uid, 2000);
	cr_expect_eq(ui.gid, 100);
	cr_expect_str_eq(ui.home, "/var/vmail/bob");
	cr_assert_eq(rules_userinfo_parse("  1:2:/h  ", &ui), 0);
	cr_expect_str_eq(ui.home, "/h");
	cr_expect_eq(ui.uid, 1);
}

Test(userinfo, root_bad_numbers_and_relative_homes_are_refused)
{
	static const char *const bad[] = {
		"0:100:/home/x", "100:0:/home/x", "x:100:/home/x", "100:100:home/x", "100:100:",
		"100:/home/x", "", "-1:100:/h", "4294967296:1:/h", "2147483648:1:/h",
		"1:1:/h\001", "1:1:/h\nnext", "12345678901:1:/h",
	};
	struct rules_userinfo ui;

	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(rules_userinfo_parse(bad[i], &ui), -1, "\"%s\" accepted", bad[i]);
}

Test(userinfo, lookups_go_to_the_actions_userbase)
{
	char msg[512];
	struct rules_config *c = helper_load(
		"table ub { vbob = \"2000:2000:/var/vmail/bob\", VAnn = \"2001:2000:/var/vmail/ann\" }\n"
		"action v maildir userbase <ub>\n"
		"action s maildir userbase <getpwnam>\n"
		"match for domain v.test action v\n"
		"match for any action s\n", msg, sizeof msg);
	struct rules_userinfo ui;

	cr_assert_not_null(c, "%s", msg);
	const struct rules_action *v = rules_action_find(c, "v"), *s = rules_action_find(c, "s");
	cr_assert(v && s);
	cr_expect_eq(rules_userinfo_lookup(v, "vbob", &ui), 1);
	cr_expect_eq(ui.uid, 2000);
	cr_expect_str_eq(ui.home, "/var/vmail/bob");
	cr_expect_eq(rules_userinfo_lookup(v, "vann", &ui), 1, "keys are lower-cased");
	cr_expect_eq(rules_userinfo_lookup(v, "nobody", &ui), 0);
	cr_expect_eq(rules_userinfo_lookup(s, "vbob", &ui), 0, "<getpwnam>: the system's users");
	cr_expect_null(s->userbase);
	cr_expect(rules_action_expands(v, 0), "a userbase is asked at RCPT, also unprivileged");
	rules_free(c);
}
