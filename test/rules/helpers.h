/*
 * test/rules/helpers.h - shared by the rules tests: load a config text with
 * fixed params (hostname mx.test, base folder /base) and return either the
 * config or the formatted error; a fixture folder holding PEM files and
 * table files that configs name as %D (list.db: the list as a db: table);
 * a cdb written from key/value pairs; the list of unsupported usages of a
 * config as "what,what"; a client address from its text.
 */
#ifndef TEST_RULES_HELPERS_H
#define TEST_RULES_HELPERS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/cdb.h"
#include "rules/rules.h"

static const struct rules_load_params helper_params = {
	.hostname = "mx.test",
	.base_dir = "/base",
};

/* Load text as "t.conf"; on failure *msg holds "t.conf:L:C: message". */
static inline struct rules_config *
helper_load(const char *text, char *msg, size_t cap)
{
	struct rules_error err;
	struct rules_config *c = rules_load_string("t.conf", text, &helper_params, &err);

	msg[0] = '\0';
	if (c == NULL)
		rules_error_format(&err, msg, cap);
	return c;
}

/* The client address s ("192.0.2.1", "2001:db8::1") in ss; NULL for NULL
 * or "socket" (a local socket client). A test's typo fails the test. */
static inline const struct sockaddr *
helper_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (s == NULL || strcmp(s, "socket") == 0)
		return NULL;
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", s);
	return (const struct sockaddr *)ss;
}

/* Replace every %D of in by dir into out (cap bytes). */
static inline void
helper_subst(const char *in, const char *dir, char *out, size_t cap)
{
	size_t n = 0, dl = strlen(dir);

	for (; *in && n + dl + 1 < cap; in++) {
		if (in[0] == '%' && in[1] == 'D') {
			memcpy(out + n, dir, dl);
			n += dl;
			in++;
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
}

/* Write text to dir/name. */
static inline void
helper_put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* Write dir/name as a cdb of n pairs kv[2i] -> kv[2i + 1] (NULL: an empty
 * value, as makemap -t set writes). */
static inline void
helper_put_db(const char *dir, const char *name, const char *const *kv, unsigned n)
{
	struct rules_cdb_writer w;
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "cannot write %s", path);
	cr_assert_eq(rules_cdb_writer_init(&w, fd, RULES_CDB_BYTES_MAX), 0);
	for (unsigned i = 0; i < n; i++) {
		const char *v = kv[2 * i + 1] ? kv[2 * i + 1] : "";
		cr_assert_eq(rules_cdb_writer_add(&w, kv[2 * i], (uint32_t)strlen(kv[2 * i]), v,
		                                  (uint32_t)strlen(v)), 0);
	}
	cr_assert_eq(rules_cdb_writer_finish(&w), 0);
	rules_cdb_writer_free(&w);
	close(fd);
}

/* A fresh folder with cert.pem, key.pem (PEM-looking), list and map table
 * files; *dir (cap bytes) receives its path. */
static inline void
helper_fixture(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/test_rules_fx.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return;
	helper_put(dir, "cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	helper_put(dir, "key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
	helper_put(dir, "list", "one.example\ntwo.example\n");
	helper_put(dir, "map", "bob bob:secret\n");
	static const char *const list[] = { "one.example", NULL, "two.example", NULL };
	helper_put_db(dir, "list.db", list, 2);
}

/* Remove the fixture folder. */
static inline void
helper_fixture_remove(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* The unsupported usages of c as "what,what" into out. */
static inline void
helper_unsupported(const struct rules_config *c, char *out, size_t cap)
{
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < c->nunsupported; i++) {
		if (i > 0)
			strncat(out, ",", cap - strlen(out) - 1);
		strncat(out, c->unsupported[i].what, cap - strlen(out) - 1);
	}
}

#endif
