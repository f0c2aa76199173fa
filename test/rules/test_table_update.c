/*
 * test/rules/test_table_update.c - `smtpctl update table NAME` in the rules
 * module: a file: table read again answers lookups with its new entries
 * (domains, source networks, regex), what answered before is retired and
 * freed at the end; an unknown name, an inline table, a file that no
 * longer loads or that turned from a list into a map is refused and the
 * table keeps answering as before.
 */
#include <criterion/criterion.h>

#include "test/rules/helpers.h"

static char fixture[256];

static void
update_setup(void)
{
	helper_fixture(fixture, sizeof fixture);
}

static void
update_teardown(void)
{
	helper_fixture_remove(fixture);
}

/* The verdict for rcpt from src under c, and the line that decided. */
static enum rules_verdict
update_decide(const struct rules_config *c, const char *src, const char *rcpt, unsigned *line)
{
	struct sockaddr_storage ss;
	struct rules_query q = { .src = helper_addr(src, &ss), .listener_tag = "", .helo = "h",
	                         .mail_from = "s@sender.example", .rcpt = rcpt };

	return rules_match(c, &q, NULL, line);
}

static struct rules_config *
update_load(const char *text)
{
	char conf[2048], msg[1024];
	struct rules_config *c;

	helper_subst(text, fixture, conf, sizeof conf);
	c = helper_load(conf, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	return c;
}

Test(table_update, new_entries_answer_and_the_old_go, .init = update_setup,
     .fini = update_teardown)
{
	struct rules_table_update u;
	struct rules_error err;
	struct rules_config *c;
	unsigned line;

	helper_put(fixture, "domains", "one.example\n*.wild.example\n");
	helper_put(fixture, "nets", "192.0.2.0/24\n");
	c = update_load("table d file:%D/domains\ntable n file:%D/nets\naction a relay\n"
	                "match from src <n> for domain <d> action a\n");
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@one.example", &line), RULES_ACCEPT);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@two.example", &line), RULES_NOMATCH);

	helper_put(fixture, "domains", "two.example\n");
	cr_assert_eq(rules_table_update_begin(c, "d", &u, &err), 0, "%s", err.message);
	cr_expect_eq(u.entries, 1);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@two.example", &line), RULES_ACCEPT);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@one.example", &line), RULES_NOMATCH);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@a.wild.example", &line), RULES_NOMATCH);
	rules_table_update_end(&u);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@two.example", &line), RULES_ACCEPT);

	/* a second update retires the first update's entries */
	helper_put(fixture, "nets", "198.51.100.0/24\n");
	cr_assert_eq(rules_table_update_begin(c, "n", &u, &err), 0, "%s", err.message);
	rules_table_update_end(&u);
	helper_put(fixture, "nets", "198.51.100.7\n2001:db8::/32\n");
	cr_assert_eq(rules_table_update_begin(c, "n", &u, &err), 0, "%s", err.message);
	cr_expect_eq(u.entries, 2);
	rules_table_update_end(&u);
	cr_expect_eq(update_decide(c, "192.0.2.9", "u@two.example", &line), RULES_NOMATCH);
	cr_expect_eq(update_decide(c, "198.51.100.7", "u@two.example", &line), RULES_ACCEPT);
	cr_expect_eq(update_decide(c, "198.51.100.8", "u@two.example", &line), RULES_NOMATCH);
	cr_expect_eq(update_decide(c, "2001:db8::1", "u@two.example", &line), RULES_ACCEPT);
	rules_free(c);
}

Test(table_update, regex_tables_are_compiled_again, .init = update_setup,
     .fini = update_teardown)
{
	struct rules_table_update u;
	struct rules_error err;
	struct rules_config *c;
	unsigned line;

	helper_put(fixture, "re", "^alice@\n");
	c = update_load("table r file:%D/re\naction a relay\n"
	                "match from any for any rcpt-to regex <r> action a\n");
	cr_expect_eq(update_decide(c, "192.0.2.1", "alice@x.example", &line), RULES_ACCEPT);
	helper_put(fixture, "re", "(?i)^BOB@\n");
	cr_assert_eq(rules_table_update_begin(c, "r", &u, &err), 0, "%s", err.message);
	rules_table_update_end(&u);
	cr_expect_eq(update_decide(c, "192.0.2.1", "alice@x.example", &line), RULES_NOMATCH);
	cr_expect_eq(update_decide(c, "192.0.2.1", "bob@x.example", &line), RULES_ACCEPT);
	/* a bad regex is refused with its line; the table keeps answering */
	helper_put(fixture, "re", "^carol@\n(unclosed\n");
	cr_expect_eq(rules_table_update_begin(c, "r", &u, &err), -1);
	cr_expect(strstr(err.message, "line 2: invalid regex \"(unclosed\"") != NULL, "%s",
	          err.message);
	cr_expect_eq(update_decide(c, "192.0.2.1", "bob@x.example", &line), RULES_ACCEPT);
	rules_free(c);
}

Test(table_update, refusals_keep_the_table, .init = update_setup, .fini = update_teardown)
{
	struct rules_table_update u;
	struct rules_error err;
	struct rules_config *c;
	char want[512];
	unsigned line;

	helper_put(fixture, "domains", "one.example\n");
	c = update_load("table d file:%D/domains\ntable i { one.example }\naction a relay\n"
	                "match from any for domain <d> action a\n");
	cr_expect_eq(rules_table_update_begin(c, "nope", &u, &err), -1);
	cr_expect_str_eq(err.message, "no table \"nope\" in t.conf");
	cr_expect_eq(rules_table_update_begin(c, "i", &u, &err), -1);
	cr_expect_str_eq(err.message, "table \"i\" is not read from a file (declared at line 2)");

	helper_put(fixture, "domains", "one.example relay\n");
	cr_expect_eq(rules_table_update_begin(c, "d", &u, &err), -1);
	snprintf(want, sizeof want, "table \"d\": \"%s/domains\" now holds a map where it held "
	         "a list", fixture);
	cr_expect_str_eq(err.message, want);

	char path[512];
	snprintf(path, sizeof path, "%s/domains", fixture);
	cr_assert_eq(unlink(path), 0);
	cr_expect_eq(rules_table_update_begin(c, "d", &u, &err), -1);
	snprintf(want, sizeof want, "cannot open table file \"%s/domains\": No such file or "
	         "directory", fixture);
	cr_expect_str_eq(err.message, want);
	cr_expect_eq(update_decide(c, "192.0.2.1", "u@one.example", &line), RULES_ACCEPT);
	rules_free(c);
}

/* smtpctl and sendmail load the config for its queue path only: missing
 * or unreadable table, pki and ca files do not stop them. */
Test(table_update, skip_data_files_reads_no_table_or_key)
{
	const struct rules_load_params p = { .hostname = "mx.test", .base_dir = "/base",
	                                     .skip_data_files = 1 };
	struct rules_error err;
	struct rules_config *c = rules_load_string(
		"t.conf", "queue path \"/q\"\ntable d file:/nonexistent/domains\n"
		"table x db:/nonexistent/x.db\n"
		"pki p1 cert \"/nonexistent/c.pem\" key \"/nonexistent/k.pem\"\n"
		"listen on 127.0.0.1 tls pki p1\naction a relay\n"
		"match from any for domain <d> action a\n", &p, &err);

	cr_assert_not_null(c, "%s", err.message);
	cr_expect_str_eq(c->queue_path, "/q");
	rules_free(c);
	c = rules_load_string("t.conf", "table d file:/nonexistent/domains\naction a relay\n"
	                      "match from any for domain <d> action a\n", &helper_params, &err);
	cr_expect_null(c);
	rules_free(c);
}
