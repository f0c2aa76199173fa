/*
 * ctl/makemap_build.c - makemap's build (see makemap.h): the text file read
 * line by line with the file: table syntax and checked for its type, keys
 * given twice refused, then the cdb written to a temporary file beside the
 * target, synced and renamed over it, the folder synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl_client.h"
#include "ctl/makemap.h"
#include "rules/cdb.h"
#include "rules/rules.h"

#define MM_WHY_BYTES 160
#define MM_PATH_BYTES_MAX 4096

struct mm_entry {
	char *key, *val;           /* val "" in a set */
	unsigned line;
};

struct mm_list {
	struct mm_entry *e;
	size_t n, cap;
};

/* Print "prog: message" on stderr; returns status. */
static int __attribute__((format(printf, 3, 4)))
mm_fail(const char *prog, int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void
mm_list_free(struct mm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->e[i].key);
		free(l->e[i].val);
	}
	free(l->e);
}

/* Append a copy of key and val written on line; 0 or -1 (no memory). */
static int
mm_list_add(struct mm_list *l, const char *key, const char *val, unsigned line)
{
	struct mm_entry *grown;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		if ((grown = realloc(l->e, cap * sizeof *grown)) == NULL)
			return -1;
		l->e = grown;
		l->cap = cap;
	}
	l->e[l->n].key = strdup(key);
	l->e[l->n].val = strdup(val);
	l->e[l->n].line = line;
	if (l->e[l->n].key == NULL || l->e[l->n].val == NULL) {
		free(l->e[l->n].key);
		free(l->e[l->n].val);
		return -1;
	}
	l->n++;
	return 0;
}

/* An aliases value: addresses separated by commas, none empty. */
static int
mm_alias_list_ok(const char *val)
{
	const char *p = val;
	size_t n;

	for (;;) {
		p += strspn(p, " \t");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			return 0;
		p += strcspn(p, ",");
		if (*p == '\0')
			return 1;
		p++;
	}
}

/* What is wrong with a split line for type (NULL: nothing); an alias name
 * is lowercased in place. */
static const char *
mm_check_entry(enum makemap_type type, char *key, const char *val, int colon, char *why,
               size_t cap)
{
	if (strlen(key) >= RULES_KEY_BYTES_MAX) {
		snprintf(why, cap, "key too long (%zu bytes, at most %d)", strlen(key),
		         RULES_KEY_BYTES_MAX - 1);
		return why;
	}
	switch (type) {
	case MAKEMAP_TYPE_MAP:
		if (val != NULL)
			return NULL;
		snprintf(why, cap, "\"%.60s\" has no value (a list of keys is built with -t set)",
		         key);
		return why;
	case MAKEMAP_TYPE_SET:
		if (val == NULL)
			return NULL;
		snprintf(why, cap, "\"%.60s\" is followed by \"%.40s\": a set holds keys only", key,
		         val);
		return why;
	case MAKEMAP_TYPE_ALIASES:
		if (!colon || val == NULL)
			return "expected \"name: value[, value...]\"";
		if (!mm_alias_list_ok(val)) {
			snprintf(why, cap, "an empty address in the list of \"%.60s\"", key);
			return why;
		}
		for (char *p = key; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p);
		return NULL;
	}
	return "unknown type";
}

/* Read the lines of f (source) into l; an exit status. */
static int
mm_read_lines(const char *prog, const char *source, FILE *f, enum makemap_type type,
              struct mm_list *l)
{
	char *line = NULL, *key, *val, why[MM_WHY_BYTES];
	const char *problem;
	size_t cap = 0, total = 0;
	unsigned lineno = 0;
	ssize_t len;
	int colon, st = 0;

	while (st == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((total += (size_t)len) > RULES_FILE_BYTES_MAX)
			st = mm_fail(prog, CTL_EX_DATAERR, "%s: grew past %u MiB while read", source,
			             RULES_FILE_BYTES_MAX >> 20);
		else if (memchr(line, '\0', (size_t)len) != NULL)
			st = mm_fail(prog, CTL_EX_DATAERR, "%s:%u: NUL byte", source, lineno);
		else if (rules_tab_split_line(line, &key, &val, &colon) == 0)
			continue;
		else if ((problem = mm_check_entry(type, key, val, colon, why, sizeof why)) != NULL)
			st = mm_fail(prog, CTL_EX_DATAERR, "%s:%u: %s", source, lineno, problem);
		else if (mm_list_add(l, key, val ? val : "", lineno) < 0)
			st = mm_fail(prog, CTL_EX_OSERR, "out of memory");
	}
	if (st == 0 && ferror(f))
		st = mm_fail(prog, CTL_EX_IOERR, "%s: %s", source, strerror(errno));
	free(line);
	return st;
}

/* Open and read source into l, its permission bits into *mode; an exit
 * status. */
static int
mm_read(const char *prog, const char *source, enum makemap_type type, struct mm_list *l,
        mode_t *mode)
{
	struct stat st;
	size_t size;
	FILE *f;
	int fd, r;

	if ((fd = rules_open_regular(source, RULES_FILE_BYTES_MAX, &size)) < 0)
		return mm_fail(prog, errno == EFBIG ? CTL_EX_DATAERR : CTL_EX_NOINPUT, "%s: %s",
		               source, errno == EFBIG ? "larger than 64 MiB" : rules_open_error(errno));
	if (fstat(fd, &st) < 0 || (f = fdopen(fd, "r")) == NULL) {
		r = mm_fail(prog, CTL_EX_OSERR, "%s: %s", source, strerror(errno));
		close(fd);
		return r;
	}
	*mode = st.st_mode & 0777;
	r = mm_read_lines(prog, source, f, type, l);
	fclose(f);
	return r;
}

/* qsort_r order: keys without case, then by line. */
static int
mm_cmp(const void *a, const void *b, void *arg)
{
	const struct mm_entry *e = arg;
	const struct mm_entry *x = &e[*(const size_t *)a], *y = &e[*(const size_t *)b];
	int c = strcasecmp(x->key, y->key);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* Refuse a key given twice (the first such line in the file); an exit
 * status. */
static int
mm_check_duplicates(const char *prog, const char *source, const struct mm_list *l)
{
	const struct mm_entry *again = NULL, *first = NULL;
	size_t *idx, i;

	if (l->n < 2)
		return 0;
	if ((idx = malloc(l->n * sizeof *idx)) == NULL)
		return mm_fail(prog, CTL_EX_OSERR, "out of memory");
	for (i = 0; i < l->n; i++)
		idx[i] = i;
	qsort_r(idx, l->n, sizeof *idx, mm_cmp, l->e);
	for (i = 1; i < l->n; i++) {
		const struct mm_entry *x = &l->e[idx[i]], *prev = &l->e[idx[i - 1]];
		if (strcasecmp(x->key, prev->key) == 0 && (again == NULL || x->line < again->line)) {
			again = x;
			first = prev;
		}
	}
	free(idx);
	if (again == NULL)
		return 0;
	return mm_fail(prog, CTL_EX_DATAERR, "%s:%u: duplicate key \"%.60s\" (first on line %u)",
	               source, again->line, again->key, first->line);
}

/* Write every entry of l as a cdb on fd; an exit status. */
static int
mm_write_records(const char *prog, const char *dbfile, const char *tmp, int fd,
                 const struct mm_list *l)
{
	struct rules_cdb_writer w;
	int r;
	size_t i;

	r = rules_cdb_writer_init(&w, fd, RULES_DB_BYTES_MAX);
	for (i = 0; r == 0 && i < l->n; i++)
		r = rules_cdb_writer_add(&w, l->e[i].key, (uint32_t)strlen(l->e[i].key), l->e[i].val,
		                         (uint32_t)strlen(l->e[i].val));
	if (r == 0)
		r = rules_cdb_writer_finish(&w);
	rules_cdb_writer_free(&w);
	if (r == 0)
		return 0;
	if (errno == EFBIG)
		return mm_fail(prog, CTL_EX_DATAERR, "%s: the db would pass %u MiB, the most smtpd "
		               "reads", dbfile, RULES_DB_BYTES_MAX >> 20);
	return mm_fail(prog, CTL_EX_IOERR, "cannot write %s: %s", tmp, strerror(errno));
}

/* fsync the folder dir (a rename in it is durable after); 0 or -1. */
static int
mm_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* Split dbfile into its folder (dir, "." when it has none) and name. */
static void
mm_split_path(const char *dbfile, char *dir, size_t cap, const char **name)
{
	const char *slash = strrchr(dbfile, '/');

	*name = slash ? slash + 1 : dbfile;
	if (slash == NULL)
		snprintf(dir, cap, ".");
	else if (slash == dbfile)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - dbfile), dbfile);
}

/* Write l to dbfile through a temporary file in its folder with mode; an
 * exit status. */
static int
mm_write_db(const char *prog, const char *dbfile, mode_t mode, const struct mm_list *l)
{
	char dir[MM_PATH_BYTES_MAX], tmp[MM_PATH_BYTES_MAX];
	const char *name;
	int fd, st;

	mm_split_path(dbfile, dir, sizeof dir, &name);
	if (snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name) >= (int)sizeof tmp)
		return mm_fail(prog, CTL_EX_USAGE, "%s: path too long", dbfile);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return mm_fail(prog, CTL_EX_CANTCREAT, "cannot create a file in %s: %s", dir,
		               strerror(errno));
	if (fchmod(fd, mode) < 0)
		st = mm_fail(prog, CTL_EX_IOERR, "cannot set the mode of %s: %s", tmp, strerror(errno));
	else
		st = mm_write_records(prog, dbfile, tmp, fd, l);
	if (st == 0 && fsync(fd) < 0)
		st = mm_fail(prog, CTL_EX_IOERR, "cannot sync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0 && st == 0)
		st = mm_fail(prog, CTL_EX_IOERR, "cannot write %s: %s", tmp, strerror(errno));
	if (st == 0 && rename(tmp, dbfile) < 0)
		st = mm_fail(prog, CTL_EX_CANTCREAT, "cannot rename %s to %s: %s", tmp, dbfile,
		             strerror(errno));
	if (st != 0) {
		unlink(tmp);
		return st;
	}
	if (mm_sync_dir(dir) < 0)
		return mm_fail(prog, CTL_EX_IOERR, "cannot sync the folder %s: %s", dir,
		               strerror(errno));
	return 0;
}

/* Call from makemap and newaliases: source into dbfile; an exit status. */
int
makemap_build(const char *prog, const char *source, const char *dbfile,
              enum makemap_type type, uint32_t *records)
{
	struct mm_list l = { 0 };
	mode_t mode = 0644;
	int st;

	st = mm_read(prog, source, type, &l, &mode);
	if (st == 0)
		st = mm_check_duplicates(prog, source, &l);
	if (st == 0)
		st = mm_write_db(prog, dbfile, mode, &l);
	if (st == 0)
		*records = (uint32_t)l.n;
	mm_list_free(&l);
	return st;
}
