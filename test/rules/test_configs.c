/*
 * test/rules/test_configs.c - whole configurations: the real smtpd.conf
 * files of testdata/smtpd-conf (all load; what each uses that the daemon
 * does not run yet, first place first), the embedded default, macros with
 * -D overrides, include, file: tables and what each statement leaves in the
 * compiled config.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/rules/helpers.h"

#define TESTDATA "/work/shared/testdata/smtpd-conf/"

static char tmpdir[256];

/* Write text to tmpdir/rel, creating its folders. */
static void
put_file(const char *rel, const char *text)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
	for (slash = strchr(path + strlen(tmpdir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void
make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_rules.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_expect_eq(system(cmd), 0);
}

/* Read a testdata file with every "/etc/" moved under tmpdir. */
static char *
read_relocated(const char *path)
{
	static char text[65536];
	char raw[32768], prefix[300];
	const char *p, *hit;
	size_t n;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "cannot read %s", path);
	n = fread(raw, 1, sizeof raw - 1, f);
	raw[n] = '\0';
	fclose(f);
	snprintf(prefix, sizeof prefix, "%s/etc/", tmpdir);
	text[0] = '\0';
	for (p = raw; (hit = strstr(p, "/etc/")) != NULL; p = hit + 5) {
		strncat(text, p, (size_t)(hit - p));
		strcat(text, prefix);
	}
	strcat(text, p);
	return text;
}

struct real_case {
	const char *file;          /* under testdata/smtpd-conf/ */
	const char *first;         /* rules_runtime_check(), "" = runs as is */
	unsigned unsupported;      /* usages not supported yet */
	int needs_eth0;            /* names eth0: refused without it */
};

/* Every real configuration loads; what the daemon cannot run yet is
 * recorded, first place first. */
static const struct real_case real_cases[] = {
	{ "01-repo-default.conf",
	  "", 0, 0 },
	{ "02-debian-default.conf",
	  "", 0, 0 },
	{ "03-man-smarthost-auth.conf",
	  "", 0, 0 },
	{ "04-man-tls-auth-mda.conf",
	  "", 0, 0 },
	{ "05-man-dkimsign-filter.conf",
	  "05-man-dkimsign-filter.conf:6:18: filter is not supported yet", 1, 0 },
	{ "06-man-other-relays-reject.conf",
	  "", 0, 0 },
	{ "07-man64-dkimproxy-tag.conf",
	  "", 0, 0 },
	{ "08-makemap-primary-domains.conf",
	  "", 0, 0 },
	{ "09-makemap-virtual-domains.conf",
	  "", 0, 0 },
	{ "10-poolp-hypnocat.conf",
	  "", 0, 0 },
	{ "11-man-macro-and-tables.conf",
	  "", 0, 0 },
	{ "linux/03-man-smarthost-auth.conf",
	  "", 0, 0 },
	{ "linux/04-man-tls-auth-mda.conf",
	  "", 0, 1 },
	{ "linux/05-man-dkimsign-filter.conf",
	  "linux/05-man-dkimsign-filter.conf:6:18: filter is not supported yet", 1, 0 },
	{ "linux/06-man-other-relays-reject.conf",
	  "", 0, 1 },
	{ "linux/07-man64-dkimproxy-tag.conf",
	  "", 0, 0 },
	{ "linux/10-poolp-hypnocat.conf",
	  "", 0, 0 },
};

/* The files the real configurations name, under tmpdir/etc. */
static void
put_etc_files(void)
{
	static const char *const files[][2] = {
		{ "etc/aliases", "root: bob\n" }, { "etc/mail/aliases", "root: bob\n" },
		{ "etc/mail/secrets", "bob bob:secret\n" }, { "etc/mail/other-relays", "192.0.2.1\n" },
		{ "etc/mail/domains", "example.org\n" }, { "etc/mail/vdomains", "example.net\n" },
		{ "etc/mail/users", "bob@example.net bob\n" }, { "etc/mail/creds", "bob $2b$08$x\n" },
	};
	/* the db: tables as makemap builds them from the files above */
	static const char *const domains[] = { "example.org", NULL };
	static const char *const vdomains[] = { "example.net", NULL };
	static const char *const users[] = { "bob@example.net", "bob" };
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++)
		put_file(files[i][0], files[i][1]);
	helper_put_db(tmpdir, "etc/mail/domains.db", domains, 1);
	helper_put_db(tmpdir, "etc/mail/vdomains.db", vdomains, 1);
	helper_put_db(tmpdir, "etc/mail/users.db", users, 1);
	put_file("etc/ssl/mail.example.com.crt", cert);
	put_file("etc/ssl/mail.hypno.cat.fullchain.pem", cert);
	put_file("etc/ssl/private/mail.example.com.key", key);
	put_file("etc/ssl/private/mail.hypno.cat.key", key);
}

Test(configs, real_configs_load_and_list_what_is_not_supported, .init = make_tmpdir,
     .fini = remove_tmpdir)
{
	struct rules_error err;
	struct rules_config *c;
	char path[512], got[2048];
	int have_eth0 = if_nametoindex("eth0") != 0;
	size_t i;

	put_etc_files();
	for (i = 0; i < sizeof real_cases / sizeof real_cases[0]; i++) {
		if (real_cases[i].needs_eth0 && !have_eth0)
			continue;
		snprintf(path, sizeof path, TESTDATA "%s", real_cases[i].file);
		c = rules_load_string(real_cases[i].file, read_relocated(path), &helper_params, &err);
		rules_error_format(&err, got, sizeof got);
		cr_expect_not_null(c, "%s: %s", real_cases[i].file, got);
		if (c == NULL)
			continue;
		got[0] = '\0';
		if (rules_runtime_check(c, &err) < 0)
			rules_error_format(&err, got, sizeof got);
		cr_expect_str_eq(got, real_cases[i].first, "%s:\n got  %s\n want %s",
		                 real_cases[i].file, got, real_cases[i].first);
		cr_expect_eq(c->nunsupported, real_cases[i].unsupported, "%s: %u usages, want %u",
		             real_cases[i].file, c->nunsupported, real_cases[i].unsupported);
		rules_free(c);
	}
}

Test(configs, default_config_loads)
{
	struct rules_load_params p = { .hostname = "mx.test", .base_dir = "/home/u/run" };
	const struct sockaddr_in *sin;
	const struct rules_action *act;
	struct rules_error err;
	struct rules_config *c = rules_load_string("(default)", rules_default_config, &p, &err);
	struct rules_query q = { .local = 0, .listener_tag = "", .mail_from = "a@b.example",
	                         .rcpt = "bob@mx.test" };
	unsigned line;

	cr_assert_not_null(c, "default config: %s", err.message);
	cr_expect_eq(c->nlisteners, 1);
	sin = (const struct sockaddr_in *)&c->listeners[0].addr;
	cr_expect_eq(sin->sin_family, AF_INET);
	cr_expect_eq(ntohs(sin->sin_port), 2525);
	cr_expect_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_expect_str_eq(c->queue_path, "/home/u/run/spool");
	cr_expect_str_eq(c->hostname, "mx.test");
	cr_expect_eq(c->size_max, 35u << 20);
	cr_assert_eq(c->nactions, 1);
	cr_expect_eq(c->actions[0].kind, RULES_ACTION_MAILDIR);
	cr_expect_str_eq(c->actions[0].path, "/home/u/run/mail/%{rcpt.user}");
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT);
	cr_expect_eq(act, &c->actions[0]);
	q.rcpt = "someone@elsewhere.example";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_NOMATCH, "the default relays nothing");
	q.local = 1;
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_NOMATCH, "not even for local senders");
	rules_free(c);
}

Test(configs, statements_fill_the_config)
{
	static const char text[] =
		"# every statement understood today\n"
		"port_no = 2526\n"
		"listen on localhost port $port_no tag IN hostname mx.example.org\n"
		"listen on ::1 port submission\n"
		"listen on any inet6\n"
		"listen on lo0 port 2527\n"
		"listen on socket\n"
		"queue path spool\n"
		"smtp max-message-size 10M\n"
		"action \"md\" maildir \"~/Maildir\"\n"
		"action md2 maildir\n"
		"action rel relay\n"
		"action smart relay host smtp+notls://[2001:db8::1]:2525\n"
		"action smart2 relay host mail.example.net\n"
		"match from any for domain { example.org, \"*.example.org\" } action md\n"
		"match for local action md2\n";
	struct rules_config *c;
	char msg[1024];
	int have_lo = if_nametoindex("lo") != 0;

	c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_geq(c->nlisteners, 4u + (have_lo ? 1 : 0));
	cr_expect_str_eq(c->listeners[0].spec, "localhost");
	cr_expect_str_eq(c->listeners[0].tag, "IN");
	cr_expect_str_eq(c->listeners[0].hostname, "mx.example.org");
	cr_expect_eq(ntohs(((struct sockaddr_in *)&c->listeners[0].addr)->sin_port), 2526);
	cr_expect_eq(c->listeners[1].addr.ss_family, AF_INET6, "localhost is also ::1");
	cr_expect_eq(c->listeners[2].addr.ss_family, AF_INET6);
	cr_expect_eq(ntohs(((struct sockaddr_in6 *)&c->listeners[2].addr)->sin6_port), 587);
	cr_expect_eq(c->listeners[3].addr.ss_family, AF_INET6, "any inet6 is ::");
	cr_expect_eq(c->listeners[3].line, 5);
	cr_expect_str_eq(c->listeners[c->nlisteners - 1].spec, "lo0");
	for (unsigned i = 0; i < c->nlisteners; i++)
		cr_expect_str_neq(c->listeners[i].spec, "socket", "listen on socket is not TCP");
	cr_expect_str_eq(c->queue_path, "/base/spool");
	cr_expect_eq(c->size_max, 10u << 20);
	cr_assert_eq(c->nactions, 5);
	cr_expect_str_eq(rules_action_find(c, "md")->path, "~/Maildir");
	cr_expect_str_eq(rules_action_find(c, "md2")->path, "");
	cr_expect_eq(rules_action_find(c, "rel")->kind, RULES_ACTION_RELAY);
	cr_expect_str_eq(rules_action_find(c, "rel")->relay_host, "");
	cr_expect_str_eq(rules_action_find(c, "smart")->relay_host, "2001:db8::1");
	cr_expect_eq(rules_action_find(c, "smart")->relay_port, 2525);
	cr_expect_str_eq(rules_action_find(c, "smart2")->relay_host, "mail.example.net");
	cr_expect_eq(rules_action_find(c, "smart2")->relay_port, 25);
	cr_expect_eq(rules_action_find(c, "smart2")->line, 14);
	cr_expect_null(rules_action_find(c, "nope"));
	rules_free(c);
}

Test(configs, defines_override_macros)
{
	static const struct rules_define defs[] = { { "p", "2600" } };
	struct rules_load_params p = { .hostname = "h", .base_dir = "/", .defines = defs,
	                               .ndefines = 1 };
	struct rules_error err;
	struct rules_config *c = rules_load_string("d.conf",
		"p = 2500\nlisten on 127.0.0.1 port $p\nq = \"$p\"\naction a relay\n"
		"match for any action a\n", &p, &err);

	cr_assert_not_null(c, "%s", err.message);
	cr_expect_eq(ntohs(((struct sockaddr_in *)&c->listeners[0].addr)->sin_port), 2600);
	rules_free(c);
}

Test(configs, include_and_file_tables, .init = make_tmpdir, .fini = remove_tmpdir)
{
	struct rules_load_params p = { .hostname = "mx.test", .base_dir = "/" };
	struct rules_query q = { .local = 0, .listener_tag = "", .mail_from = "" };
	const struct rules_action *act;
	struct rules_error err;
	struct rules_config *c;
	char path[512], msg[1024];
	unsigned line;

	put_file("conf/smtpd.conf",
	         "include \"sub/actions.conf\"\n"
	         "table doms file:" "%TMP%/conf/domains\n"
	         "table users \"file:%TMP%/conf/users\"\n"
	         "match from any for domain <doms> action \"local\"\n"
	         "match from any for rcpt-to <users> action \"local\"\n");
	put_file("conf/sub/actions.conf", "action \"local\" maildir \"/var/mail/%{rcpt.user}\"\n");
	put_file("conf/domains", "# domains\n\nExample.ORG\n  *.example.net  \n");
	put_file("conf/users", "bob@other.example\n");
	/* replace %TMP% by the real folder */
	snprintf(path, sizeof path, "sed -i 's|%%TMP%%|%s|g' '%s/conf/smtpd.conf'", tmpdir, tmpdir);
	cr_assert_eq(system(path), 0);
	snprintf(path, sizeof path, "%s/conf/smtpd.conf", tmpdir);
	c = rules_load_file(path, &p, &err);
	rules_error_format(&err, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_str_eq(c->file, path);
	q.rcpt = "a@example.org";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT);
	cr_expect_eq(line, 4);
	q.rcpt = "a@mx.EXAMPLE.net";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT);
	q.rcpt = "Bob@other.example";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT);
	cr_expect_eq(line, 5);
	q.rcpt = "alice@other.example";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_NOMATCH);
	rules_free(c);

	/* an error inside an included file names that file */
	put_file("conf/sub/actions.conf", "action \"local\" mdir \"/x\"\n");
	cr_assert_null(rules_load_file(path, &p, &err));
	rules_error_format(&err, msg, sizeof msg);
	snprintf(path, sizeof path, "%s/conf/sub/actions.conf:1:16: unknown action type \"mdir\"",
	         tmpdir);
	cr_expect_str_eq(msg, path);
}
