/*
 * rules/table_db.c - db: tables: the cdb file makemap writes (rules/cdb.h),
 * read once at load time into the same in-memory table as a file: table,
 * so every lookup kind, the staged decision table and `smtpd -n` treat
 * both alike. Each record becomes an entry: its key (lowercased, as every
 * table key), its value, or no value when the value is empty (makemap -t
 * set writes keys only): a table of keys only is a list, one with values a
 * map. The file is read whole with rules_read_regular() within
 * RULES_DB_BYTES_MAX; a file that is not a valid cdb, or a
 * record that cannot be a table entry (a NUL byte, an empty key, a key of
 * RULES_KEY_BYTES_MAX or more), is an error at the table's source token.
 *
 * rules_db_table() lists the db: tables of a loaded config (newaliases
 * rebuilds those an action's `alias` names).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/cdb.h"
#include "rules/rules_int.h"

#define TABLE_DB_INVALID "\"%s\" is not a valid db table (%s)"

/* Call to mark t as a db: table of path (read or not); 0 or -1 (memory). */
int
rules_tab_db_path_set(struct rules_tab *t, const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL)
		return -1;
	free(t->db_path);
	t->db_path = copy;
	return 0;
}

/* Why record rec cannot be a table entry, or NULL when it can be. */
static const char *
db_record_problem(const struct rules_cdb_rec *rec)
{
	if (rec->klen == 0)
		return "an empty key";
	if (rec->klen >= RULES_KEY_BYTES_MAX)
		return "a key too long";
	if (memchr(rec->key, '\0', rec->klen) != NULL || memchr(rec->val, '\0', rec->vlen) != NULL)
		return "a NUL byte";
	return NULL;
}

/* Add every record of db to t; 0, or -1 with err at pos. */
static int
db_add_records(struct rules_tab *t, const struct rules_cdb *db, const char *path,
               const struct rules_pos *pos, struct rules_error *err)
{
	char key[RULES_KEY_BYTES_MAX], why[RULES_CDB_WHY_BYTES], *val;
	struct rules_cdb_rec rec;
	const char *problem;
	uint32_t cursor = 0, index = 0;
	int r;

	while (rules_cdb_next(db, &cursor, &rec)) {
		index++;
		if ((problem = db_record_problem(&rec)) != NULL) {
			snprintf(why, sizeof why, "record %u holds %s", index, problem);
			return rules_fail(err, pos, TABLE_DB_INVALID, path, why);
		}
		memcpy(key, rec.key, rec.klen);
		key[rec.klen] = '\0';
		val = NULL;
		if (rec.vlen > 0 && (val = strndup((const char *)rec.val, rec.vlen)) == NULL)
			return rules_fail(err, pos, "out of memory");
		r = rules_tab_add(t, key, val);
		free(val);
		if (r < 0)
			return rules_fail(err, pos, "out of memory");
	}
	return 0;
}

/* Call at load time for `table NAME db:path`: fill t from the cdb at path;
 * errors point at pos (the source token); 0 or -1. */
int
rules_tab_load_db(struct rules_tab *t, const char *path, const struct rules_pos *pos,
                  struct rules_error *err)
{
	char why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	uint8_t *buf;
	size_t size;
	int r;

	if (rules_tab_db_path_set(t, path) < 0)
		return rules_fail(err, pos, "out of memory");
	if (rules_read_regular(path, RULES_DB_BYTES_MAX, &buf, &size) < 0)
		return rules_fail(err, pos, "cannot open table file \"%s\": %s", path,
		                  rules_open_error(errno));
	if (rules_cdb_open(&db, buf, size, why, sizeof why) < 0)
		r = rules_fail(err, pos, TABLE_DB_INVALID, path, why);
	else
		r = db_add_records(t, &db, path, pos, err);
	free(buf);
	return r;
}

/* Call after a load: the i-th db: table of c, in declaration order. */
int
rules_db_table(const struct rules_config *c, unsigned i, const char **name, const char **path,
               int *alias)
{
	unsigned k;

	for (k = 0; c->table != NULL && k < c->table->ntabs; k++) {
		const struct rules_tab *t = c->table->tabs[k];

		if (t->db_path == NULL || i-- > 0)
			continue;
		*name = t->name;
		*path = t->db_path;
		*alias = t->alias_use;
		return 1;
	}
	return 0;
}
