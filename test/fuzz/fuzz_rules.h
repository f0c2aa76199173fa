/*
 * test/fuzz/fuzz_rules.h - what fuzz_config.c and fuzz_convert.c share: the
 * confined load parameters with their scratch folder, and the checks every
 * struct rules_error must pass.
 *
 * Files: a fuzzed config must not read the machine's files (nor block on a
 * FIFO or read /dev/zero forever). rules_load_params.confine_files makes
 * the loader refuse an absolute path, a path with "..", and db: or other
 * backends, for include, table file: and pki/ca alike, so every file it
 * reads is below base_dir: a scratch folder made once at start-up that
 * holds only "inc.conf", "list", "map", "cert.pem" and "key.pem", so the
 * include and file-table code runs on known, small files.
 */
#ifndef TEST_FUZZ_FUZZ_RULES_H
#define TEST_FUZZ_FUZZ_RULES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/rules.h"

static char fuzz_dir[64];

static struct rules_load_params fuzz_params = {
	.hostname = "mx.fuzz.test",
	.confine_files = 1,
};

/* Write text to fuzz_dir/name, or stop the run. */
static void
fuzz_put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

/* Remove the scratch folder (at exit). */
static void
fuzz_remove_dir(void)
{
	static const char *const names[] = { "inc.conf", "list", "map", "cert.pem", "key.pem" };
	char path[128];
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
		unlink(path);
	}
	rmdir(fuzz_dir);
}

/* Make the scratch folder the loader may read, once. */
static void
fuzz_make_dir(void)
{
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz_rules.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	fuzz_put("inc.conf", "table inc { one.example, two.example }\ninclude \"inc.conf\"\n");
	fuzz_put("list", "one.example\n*.two.example\n192.0.2.0/24\n");
	fuzz_put("map", "bob bob:secret\nroot postmaster\n");
	fuzz_put("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	fuzz_put("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
	fuzz_params.base_dir = fuzz_dir;
	atexit(fuzz_remove_dir);
}

/* 1 if s (cap bytes) holds a NUL. */
static int
fuzz_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Format err into every small buffer size and a large one: always
 * terminated inside the buffer; ASan sees any read past err's fields. */
static void
fuzz_check_format(const struct rules_error *err)
{
	static char shortf[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 64];
	static char longf[sizeof shortf + RULES_LINE_BYTES_MAX * 2 + 16];
	char buf[96];
	size_t cap;

	for (cap = 1; cap <= sizeof buf; cap += 7) {
		memset(buf, 'x', sizeof buf);
		rules_error_format(err, buf, cap);
		if (!fuzz_terminated(buf, cap))
			abort();
		memset(buf, 'x', sizeof buf);
		rules_error_format_long(err, buf, cap);
		if (!fuzz_terminated(buf, cap))
			abort();
	}
	rules_error_format(err, shortf, sizeof shortf);
	rules_error_format_long(err, longf, sizeof longf);
	if (strncmp(shortf, longf, strlen(shortf)) != 0)
		abort();  /* the long form starts with the short one */
}

/* What every error must hold: terminated fields, a message, a place that
 * is whole or absent. */
static void
fuzz_check_error(const struct rules_error *err)
{
	if (!fuzz_terminated(err->file, sizeof err->file) ||
	    !fuzz_terminated(err->message, sizeof err->message) ||
	    !fuzz_terminated(err->text, sizeof err->text))
		abort();
	if (err->message[0] == '\0' || (err->line == 0) != (err->column == 0))
		abort();
	fuzz_check_format(err);
}

#endif
