/*
 * test/rules/test_db.c - db: tables (rules/table_db.c): the same keys as a
 * file: table and as a db: table answer every lookup kind alike and decide
 * the same recipients through the staged decision table, with nothing left
 * "not supported"; values make a map (refused in a match, as a file: map);
 * a file that is not a cdb, or a record that cannot be an entry, is an
 * error at the table's source token; newaliases' load leaves db: tables
 * unread and lists them with their alias use.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

static char fixture[128];

static const char *const db_keys[] = {
	"example.org", "*.example.net", "Mixed.Example", "192.0.2.0/24", "2001:db8::/32",
	"bob@example.com", "@example.edu", "carol", "10.1.2.3",
};
#define DB_NKEYS (sizeof db_keys / sizeof db_keys[0])

static void
setup(void)
{
	const char *kv[2 * DB_NKEYS];
	char text[1024] = "";

	helper_fixture(fixture, sizeof fixture);
	for (unsigned i = 0; i < DB_NKEYS; i++) {
		kv[2 * i] = db_keys[i];
		kv[2 * i + 1] = NULL;
		strcat(text, db_keys[i]);
		strcat(text, "\n");
	}
	helper_put(fixture, "keys", text);
	helper_put_db(fixture, "keys.db", kv, DB_NKEYS);
}

static void
teardown(void)
{
	helper_fixture_remove(fixture);
}

TestSuite(db, .init = setup, .fini = teardown);

/* Load text with %D as the fixture; the config or NULL with msg. */
static struct rules_config *
load_fx(const char *text, char *msg, size_t cap)
{
	char body[2048];

	helper_subst(text, fixture, body, sizeof body);
	return helper_load(body, msg, cap);
}

/* The compiled table named name. */
static const struct rules_tab *
tab_named(const struct rules_config *c, const char *name)
{
	for (unsigned i = 0; i < c->table->ntabs; i++)
		if (strcmp(c->table->tabs[i]->name, name) == 0)
			return c->table->tabs[i];
	cr_assert_fail("no table %s", name);
	return NULL;
}

Test(db, answers_every_lookup_like_the_file_table)
{
	static const struct {
		enum rules_lookup kind;
		const char *key;
		int want;
	} q[] = {
		{ RULES_LOOKUP_DOMAIN, "example.org", 1 }, { RULES_LOOKUP_DOMAIN, "EXAMPLE.ORG", 1 },
		{ RULES_LOOKUP_DOMAIN, "mx.example.net", 1 }, { RULES_LOOKUP_DOMAIN, "example.net", 0 },
		{ RULES_LOOKUP_DOMAIN, "mixed.example", 1 }, { RULES_LOOKUP_DOMAIN, "other.org", 0 },
		{ RULES_LOOKUP_STRING, "carol", 1 }, { RULES_LOOKUP_STRING, "dave", 0 },
		{ RULES_LOOKUP_MAILADDR, "bob@example.com", 1 },
		{ RULES_LOOKUP_MAILADDR, "bob+tag@example.com", 1 },
		{ RULES_LOOKUP_MAILADDR, "eve@example.com", 0 },
		{ RULES_LOOKUP_MAILADDR, "anyone@example.edu", 1 },
		{ RULES_LOOKUP_MAILADDR, "carol@anywhere.example", 1 },
		{ RULES_LOOKUP_NETADDR, "10.1.2.3", 1 },
	};
	char msg[1024];
	struct rules_config *c = load_fx("table f file:%D/keys\ntable d db:%D/keys.db\n"
	                                 "action a maildir\nmatch for domain <f> action a\n"
	                                 "match for domain <d> action a\n", msg, sizeof msg);
	struct sockaddr_storage ss;

	cr_assert_not_null(c, "%s", msg);
	const struct rules_tab *f = tab_named(c, "f"), *d = tab_named(c, "d");
	cr_expect_eq(d->n, (unsigned)DB_NKEYS);
	cr_expect_eq(d->is_map, 0, "keys only: a list");
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		cr_expect_eq(rules_tab_match(d, q[i].kind, q[i].key), q[i].want, "db %s", q[i].key);
		cr_expect_eq(rules_tab_match(f, q[i].kind, q[i].key), q[i].want, "file %s", q[i].key);
	}
	static const char *const addrs[] = { "192.0.2.77", "198.51.100.1", "2001:db8::5", "::1",
	                                     "10.1.2.3" };
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
		cr_expect_eq(rules_tab_match_addr(d, helper_addr(addrs[i], &ss)),
		             rules_tab_match_addr(f, helper_addr(addrs[i], &ss)), "%s", addrs[i]);
	rules_free(c);
}

Test(db, decides_recipients_through_the_staged_table)
{
	static const char text[] =
		"table d db:%D/keys.db\n"
		"table n db:%D/nets.db\n"
		"action \"local\" maildir\n"
		"match from any for domain <d> action \"local\"\n"
		"match from src <n> for any action \"local\"\n";
	static const char *const nets[] = { "192.0.2.0/24", NULL, "2001:db8::/32", NULL };
	struct rules_query q = { .listener_tag = "", .mail_from = "a@elsewhere.example" };
	const struct rules_action *act;
	struct sockaddr_storage ss;
	struct rules_error err;
	char msg[1024];
	unsigned line = 0;
	struct rules_config *c;

	helper_put_db(fixture, "nets.db", nets, 2);
	c = load_fx(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_runtime_check(c, &err), 0, "nothing left unsupported: %s", err.message);
	cr_expect_eq(c->nunsupported, 0u);
	q.src = helper_addr("198.51.100.1", &ss);
	q.rcpt = "x@a.example.net";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT);
	cr_expect_eq(line, 4u);
	q.rcpt = "x@example.com";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_NOMATCH);
	q.src = helper_addr("192.0.2.9", &ss);
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT, "from a network of the db");
	cr_expect_eq(line, 5u);
	rules_free(c);
}

Test(db, values_make_a_map)
{
	static const char *const kv[] = { "root", "bob", "postmaster", "root, carol" };
	char msg[1024];
	struct rules_config *c;

	helper_put_db(fixture, "aliases.db", kv, 2);
	c = load_fx("table a db:%D/aliases.db\naction \"local\" maildir alias <a>\n"
	            "match for local action \"local\"\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	const struct rules_tab *a = tab_named(c, "a");
	cr_expect_eq(a->is_map, 1);
	cr_expect_str_eq(a->e[1].value, "root, carol");
	rules_free(c);
	c = load_fx("table a db:%D/aliases.db\naction \"local\" maildir\n"
	            "match for domain <a> action \"local\"\n", msg, sizeof msg);
	cr_expect_null(c);
	cr_expect_str_eq(msg, "t.conf:3:18: table \"a\" holds key = value pairs and cannot be "
	                 "used in a match");
	rules_free(c);
}

/* A db whose one key holds a NUL byte (no makemap writes that). */
static void
put_nul_key_db(const char *name)
{
	struct rules_cdb_writer w;
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", fixture, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(rules_cdb_writer_init(&w, fd, RULES_CDB_BYTES_MAX), 0);
	cr_assert_eq(rules_cdb_writer_add(&w, "a\0b", 3, "v", 1), 0);
	cr_assert_eq(rules_cdb_writer_finish(&w), 0);
	rules_cdb_writer_free(&w);
	close(fd);
}

Test(db, files_that_are_not_a_db_are_errors_at_the_source)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ "table d db:%D/keys\n", "t.conf:1:9: \"%D/keys\" is not a valid db table (111 bytes, "
		  "shorter than the 2048-byte header)" },
		{ "table d db:%D/none.db\n", "t.conf:1:9: cannot open table file \"%D/none.db\": No "
		  "such file or directory" },
		{ "table d db:%D\n", "t.conf:1:9: cannot open table file \"%D\": Is a directory" },
		{ "table d db:\n", "t.conf:1:9: table file name is empty" },
		{ "table d db:%D/empty-key.db\n", "t.conf:1:9: \"%D/empty-key.db\" is not a valid db "
		  "table (record 1 holds an empty key)" },
		{ "table d db:%D/nul.db\n", "t.conf:1:9: \"%D/nul.db\" is not a valid db table "
		  "(record 1 holds a NUL byte)" },
	};
	char text[512], want[512], msg[1024];
	struct rules_config *c;

	static const char *const empty[] = { "", "v" };
	helper_put_db(fixture, "empty-key.db", empty, 1);
	put_nul_key_db("nul.db");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		helper_subst(cases[i].text, fixture, text, sizeof text);
		helper_subst(cases[i].error, fixture, want, sizeof want);
		c = helper_load(text, msg, sizeof msg);
		cr_expect_str_eq(msg, want, "case %zu:\n got  %s\n want %s", i, msg, want);
		rules_free(c);
	}
	c = load_fx("table s sqlite:%D/keys\naction a maildir\nmatch for domain <s> action a\n",
	            msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	helper_unsupported(c, msg, sizeof msg);
	cr_expect_str_eq(msg, "table backend sqlite", "other backends are still not supported");
	rules_free(c);
}

Test(db, newaliases_load_lists_db_tables_unread)
{
	static const char text[] =
		"table domains db:%D/absent-domains.db\n"
		"table aliases db:%D/absent-aliases.db\n"
		"table f file:%D/keys\n"
		"action \"local\" maildir alias <aliases>\n"
		"match for domain <domains> action \"local\"\n";
	struct rules_load_params p = helper_params;
	const char *name, *path;
	char body[1024], want[256];
	struct rules_error err;
	struct rules_config *c;
	int alias;

	helper_subst(text, fixture, body, sizeof body);
	p.skip_data_files = 1;
	c = rules_load_string("t.conf", body, &p, &err);
	cr_assert_not_null(c, "%s", err.message);
	cr_assert_eq(rules_db_table(c, 0, &name, &path, &alias), 1);
	snprintf(want, sizeof want, "%s/absent-domains.db", fixture);
	cr_expect_str_eq(name, "domains");
	cr_expect_str_eq(path, want);
	cr_expect_eq(alias, 0);
	cr_assert_eq(rules_db_table(c, 1, &name, &path, &alias), 1);
	snprintf(want, sizeof want, "%s/absent-aliases.db", fixture);
	cr_expect_str_eq(name, "aliases");
	cr_expect_str_eq(path, want);
	cr_expect_eq(alias, 1);
	cr_expect_eq(rules_db_table(c, 2, &name, &path, &alias), 0, "file: tables are not listed");
	rules_free(c);
	c = rules_load_string("t.conf", body, &helper_params, &err);
	cr_expect_null(c, "a normal load reads them");
}
