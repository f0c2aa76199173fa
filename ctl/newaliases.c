/*
 * ctl/newaliases.c - the newaliases persona (and sendmail -bi): rebuild
 * the db: tables an action's `alias` option names, each from its path
 * without ".db", with makemap -t aliases; without such a table,
 * /etc/mail/aliases into /etc/mail/aliases.db when it exists. Prints a
 * line per db built. The configuration is loaded with its tables
 * unread, so a missing or stale db never stops the rebuild. When smtpd
 * is running, each table rebuilt is read again there (`smtpctl update
 * table NAME`), so new aliases apply without a reload.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl_client.h"
#include "ctl/makemap.h"
#include "rules/rules.h"

#define NEWALIASES_PATH_BYTES_MAX 4096

static int
newaliases_usage(void)
{
	fprintf(stderr, "usage: newaliases [-f config]\n");
	return CTL_EX_USAGE;
}

/* Build dbfile from source as aliases and say so; an exit status. */
static int
newaliases_build(const char *source, const char *dbfile)
{
	uint32_t n = 0;
	int st = makemap_build("newaliases", source, dbfile, MAKEMAP_TYPE_ALIASES, &n);

	if (st == CTL_EX_OK)
		printf("newaliases: %s: %u alias%s from %s\n", dbfile, n, n == 1 ? "" : "es", source);
	return st;
}

/* The source of db path (path without ".db") into out; 0, or -1 when the
 * path has no such suffix. */
static int
newaliases_source(const char *path, char *out, size_t cap)
{
	size_t len = strlen(path), slen = strlen(MAKEMAP_DB_SUFFIX);

	if (len <= slen || strcmp(path + len - slen, MAKEMAP_DB_SUFFIX) != 0 || len - slen >= cap)
		return -1;
	snprintf(out, cap, "%.*s", (int)(len - slen), path);
	return 0;
}

/* Ask a running smtpd to read table name again; quiet when it is not
 * running (it reads the db when it starts). */
static void
newaliases_tell_smtpd(const struct rules_config *cf, const char *name)
{
	struct ctl_client c;
	char text[RULES_ERROR_BYTES_MAX];
	int r = ctl_client_connect(&c, cf->queue_path);

	if (r < 0)
		return;
	r = ctl_client_call(&c, CTL_UPDATE_TABLE, 0, 0, &name, 1, NULL, text, sizeof text);
	ctl_client_close(&c);
	if (r == 0)
		printf("newaliases: smtpd reads table %s again\n", name);
	else if (r > 0)
		fprintf(stderr, "newaliases: smtpd did not take table %s: %s\n", name, text);
	else
		fprintf(stderr, "newaliases: cannot tell smtpd about table %s: %s\n", name,
		        strerror(-r));
}

/* Rebuild table name's db at path; *st keeps the first failure. */
static void
newaliases_table(const struct rules_config *cf, const char *name, const char *path, int *st)
{
	char source[NEWALIASES_PATH_BYTES_MAX];
	int r;

	if (newaliases_source(path, source, sizeof source) < 0) {
		fprintf(stderr, "newaliases: table %s: %s does not end in " MAKEMAP_DB_SUFFIX
		        ", so it has no text file to be built from\n", name, path);
		return;
	}
	if (access(source, F_OK) < 0) {
		fprintf(stderr, "newaliases: table %s: no %s, %s left as it is\n", name, source, path);
		return;
	}
	if ((r = newaliases_build(source, path)) != CTL_EX_OK) {
		if (*st == CTL_EX_OK)
			*st = r;
		return;
	}
	newaliases_tell_smtpd(cf, name);
}

/* newaliases [-f config]. */
int
newaliases_main(int argc, char **argv)
{
	const char *file = NULL, *name, *path;
	char err[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX];
	struct rules_config *cf;
	unsigned i, found = 0;
	int ch, alias, st = CTL_EX_OK;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+f:")) != -1) {
		if (ch != 'f')
			return newaliases_usage();
		file = optarg;
	}
	if (optind != argc)
		return newaliases_usage();
	if ((cf = ctl_config_load(file, err, sizeof err)) == NULL) {
		fprintf(stderr, "newaliases: %s\n", err);
		return CTL_EX_CONFIG;
	}
	for (i = 0; rules_db_table(cf, i, &name, &path, &alias); i++) {
		if (alias) {
			found++;
			newaliases_table(cf, name, path, &st);
		}
	}
	if (found == 0 && access(MAKEMAP_ALIASES_PATH, F_OK) == 0)
		st = newaliases_build(MAKEMAP_ALIASES_PATH, MAKEMAP_ALIASES_PATH MAKEMAP_DB_SUFFIX);
	else if (found == 0)
		printf("newaliases: no db: table in %s is used as aliases and there is no "
		       MAKEMAP_ALIASES_PATH ": nothing to build\n", cf->file);
	rules_free(cf);
	return st;
}
