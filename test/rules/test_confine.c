/*
 * test/rules/test_confine.c - rules_load_params.confine_files: include,
 * file: and db: tables, pki and ca read only files below base_dir (a
 * relative path without ".."); absolute paths, ".." and other backends are
 * refused at the place they are written, before any file is opened.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test/rules/helpers.h"

static char fixture[128];

static void
setup(void)
{
	helper_fixture(fixture, sizeof fixture);
	helper_put(fixture, "inc.conf", "table included { one.example }\n");
}

static void
teardown(void)
{
	helper_fixture_remove(fixture);
}

/* Load text confined to the fixture; the error, or "" when it loaded. */
static void
load_confined(const char *text, char *msg, size_t cap)
{
	struct rules_load_params p = { .hostname = "mx.test", .base_dir = fixture,
	                               .confine_files = 1 };
	struct rules_error err;
	struct rules_config *c = rules_load_string("t.conf", text, &p, &err);

	msg[0] = '\0';
	if (c == NULL)
		rules_error_format(&err, msg, cap);
	rules_free(c);
}

TestSuite(confine, .init = setup, .fini = teardown);

Test(confine, files_below_the_base_folder_are_read)
{
	char msg[RULES_ERROR_BYTES_MAX * 2];

	load_confined("include \"inc.conf\"\n"
	              "table users file:list\n"
	              "table creds file:./map\n"
	              "table dbusers db:list.db\n"
	              "pki mx.test cert \"cert.pem\"\n"
	              "pki mx.test key \"key.pem\"\n"
	              "action \"local\" maildir alias <creds>\n"
	              "match for domain <users> action \"local\"\n"
	              "match for domain <included> action \"local\"\n"
	              "match for domain <dbusers> action \"local\"\n", msg, sizeof msg);
	cr_expect_str_eq(msg, "");
}

Test(confine, paths_leaving_the_base_folder_are_refused)
{
	static const struct {
		const char *config, *error;
	} cases[] = {
		{ "include \"/etc/passwd\"\n",
		  "t.conf:1:9: \"/etc/passwd\" is not read here: only a relative path without \"..\"" },
		{ "include \"sub/../../inc.conf\"\n",
		  "t.conf:1:9: \"sub/../../inc.conf\" is not read here: only a relative path "
		  "without \"..\"" },
		{ "table t file:/etc/hosts\n",
		  "t.conf:1:9: \"/etc/hosts\" is not read here: only a relative path without \"..\"" },
		{ "table t /etc/hosts\n",
		  "t.conf:1:9: \"/etc/hosts\" is not read here: only a relative path without \"..\"" },
		{ "table t file:..\n",
		  "t.conf:1:9: \"..\" is not read here: only a relative path without \"..\"" },
		{ "table t db:/etc/aliases.db\n",
		  "t.conf:1:9: \"/etc/aliases.db\" is not read here: only a relative path without "
		  "\"..\"" },
		{ "table t sqlite:/etc/mail/users.sqlite\n",
		  "t.conf:1:9: table backend \"sqlite:\" is not read here" },
		{ "pki mx.test cert \"/etc/ssl/cert.pem\"\n",
		  "t.conf:1:18: \"/etc/ssl/cert.pem\" is not read here: only a relative path without "
		  "\"..\"" },
	};
	char msg[RULES_ERROR_BYTES_MAX * 2];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_confined(cases[i].config, msg, sizeof msg);
		cr_expect_str_eq(msg, cases[i].error, "case %zu", i);
	}
}

/* Without the option an absolute include is read as before. */
Test(confine, unconfined_loads_read_absolute_paths)
{
	char text[512], msg[RULES_ERROR_BYTES_MAX * 2];
	struct rules_config *c;

	snprintf(text, sizeof text, "include \"%s/inc.conf\"\n"
	         "action \"local\" maildir\nmatch for domain <included> action \"local\"\n",
	         fixture);
	c = helper_load(text, msg, sizeof msg);
	cr_expect_not_null(c, "%s", msg);
	rules_free(c);
}
