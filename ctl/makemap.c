/*
 * ctl/makemap.c - the makemap persona's command line (see makemap.h) and
 * -U, which prints a db back as text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_client.h"
#include "ctl/makemap.h"
#include "rules/cdb.h"
#include "rules/rules.h"

#define MAKEMAP_PATH_BYTES_MAX 4096

struct makemap_args {
	int dump;                  /* -U */
	enum makemap_type type;    /* -t */
	const char *out;           /* -o, NULL: FILE.db */
	const char *file;
};

static int
makemap_usage(void)
{
	fprintf(stderr, "usage: makemap [-U] [-d cdb] [-o dbfile] [-t aliases|set] file\n");
	return CTL_EX_USAGE;
}

/* -d: the one format, under its name or OpenSMTPD's; 0 or -1. */
static int
makemap_dbtype(const char *v)
{
	if (strcmp(v, "cdb") == 0 || strcmp(v, "hash") == 0 || strcmp(v, "btree") == 0)
		return 0;
	fprintf(stderr, "makemap: unsupported db type \"%s\": the db is a cdb (-d cdb; hash and "
	        "btree are taken as cdb)\n", v);
	return -1;
}

/* -t: aliases or set; 0 or -1. */
static int
makemap_type_arg(const char *v, enum makemap_type *type)
{
	if (strcmp(v, "aliases") == 0)
		*type = MAKEMAP_TYPE_ALIASES;
	else if (strcmp(v, "set") == 0)
		*type = MAKEMAP_TYPE_SET;
	else {
		fprintf(stderr, "makemap: unsupported type \"%s\": aliases or set\n", v);
		return -1;
	}
	return 0;
}

/* Parse the command line into a; 0 or -1 (a usage error, said). */
static int
makemap_parse(int argc, char **argv, struct makemap_args *a)
{
	int ch;

	memset(a, 0, sizeof *a);
	a->type = MAKEMAP_TYPE_MAP;
	opterr = 0;
	while ((ch = getopt(argc, argv, "+Ud:o:t:")) != -1) {
		switch (ch) {
		case 'U':
			a->dump = 1;
			break;
		case 'd':
			if (makemap_dbtype(optarg) < 0)
				return -1;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 't':
			if (makemap_type_arg(optarg, &a->type) < 0)
				return -1;
			break;
		default:
			fprintf(stderr, "makemap: unknown option -%c\n", optopt);
			return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	a->file = argv[optind];
	return 0;
}

/* Print one record as "key<TAB>value" ("key" for an empty value). */
static void
makemap_print_record(const struct rules_cdb_rec *rec)
{
	fwrite(rec->key, 1, rec->klen, stdout);
	if (rec->vlen > 0) {
		putchar('\t');
		fwrite(rec->val, 1, rec->vlen, stdout);
	}
	putchar('\n');
}

/* makemap -U: the records of the db at path, in file order; a status. */
static int
makemap_dump(const char *path)
{
	char why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	uint32_t cursor = 0;
	uint8_t *buf;
	size_t size;
	int st = CTL_EX_OK;

	if (rules_read_regular(path, RULES_DB_BYTES_MAX, &buf, &size) < 0) {
		int e = errno;
		fprintf(stderr, "makemap: %s: %s\n", path, rules_open_error(e));
		return e == EFBIG ? CTL_EX_DATAERR : CTL_EX_NOINPUT;
	}
	if (rules_cdb_open(&db, buf, size, why, sizeof why) < 0) {
		fprintf(stderr, "makemap: %s is not a valid db (%s)\n", path, why);
		st = CTL_EX_DATAERR;
	}
	while (st == CTL_EX_OK && rules_cdb_next(&db, &cursor, &rec))
		makemap_print_record(&rec);
	free(buf);
	if (st == CTL_EX_OK && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "makemap: cannot write the output: %s\n", strerror(errno));
		return CTL_EX_IOERR;
	}
	return st;
}

/* makemap [-U] [-d cdb] [-o dbfile] [-t aliases|set] file. */
int
makemap_main(int argc, char **argv)
{
	char out[MAKEMAP_PATH_BYTES_MAX];
	struct makemap_args a;
	uint32_t records;

	if (makemap_parse(argc, argv, &a) < 0)
		return makemap_usage();
	if (a.dump)
		return makemap_dump(a.file);
	if (a.out == NULL) {
		if (snprintf(out, sizeof out, "%s" MAKEMAP_DB_SUFFIX, a.file) >= (int)sizeof out) {
			fprintf(stderr, "makemap: %s: path too long\n", a.file);
			return CTL_EX_USAGE;
		}
		a.out = out;
	}
	return makemap_build("makemap", a.file, a.out, a.type, &records);
}
