/*
 * rules/table_update.c - `smtpctl update table NAME`: a file: or db: table
 * of the running config read again, in place, without a reload. The new entries
 * are built aside, indexed (and their regexes compiled when a match uses
 * the table with regex), then published with one atomic store into the
 * table's live pointer, which every lookup follows (rules_tab_current()).
 * What answered before is retired, not freed: the caller frees it with
 * rules_table_update_end() once every thread that may be inside a lookup
 * has passed a point where it is not (core/daemon.c waits for a turn of
 * every shard). A file that does not load, or holds a map where the
 * config saw a list (or the reverse), is refused and the table stays.
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

/* The named table of c, or NULL. */
static struct rules_tab *
update_find(const struct rules_config *c, const char *name)
{
	const struct rules_table *t = c->table;

	for (unsigned i = 0; t != NULL && i < t->ntabs; i++)
		if (t->tabs[i]->name[0] != '\0' && strcmp(t->tabs[i]->name, name) == 0)
			return t->tabs[i];
	return NULL;
}

/* Read t's file into a new table shaped like the one answering now;
 * NULL with err filled on failure. */
static struct rules_tab *
update_read(const struct rules_tab *t, struct rules_error *err)
{
	const struct rules_tab *cur = rules_tab_current(t);
	struct rules_pos pos = { .file = NULL, .line = t->pos.line, .column = t->pos.column };
	struct rules_tab *fresh = rules_tab_new(t->name, &pos);

	if (fresh == NULL) {
		rules_fail(err, NULL, "out of memory");
		return NULL;
	}
	fresh->sub_addr_delim = t->sub_addr_delim;
	if ((t->db_path != NULL ? rules_tab_load_db(fresh, t->db_path, NULL, err)
	                        : rules_tab_load_file(fresh, t->file_path, NULL, err)) < 0)
		goto fail;
	if (rules_tab_finish(fresh) < 0) {
		rules_fail(err, NULL, "out of memory");
		goto fail;
	}
	if (fresh->n > 0 && cur->n > 0 && fresh->is_map != cur->is_map) {
		rules_fail(err, NULL, "table \"%s\": \"%s\" now holds a %s where it held a %s",
		           t->name, t->db_path != NULL ? t->db_path : t->file_path,
		           fresh->is_map ? "map" : "list",
		           cur->is_map ? "map" : "list");
		goto fail;
	}
	if (cur->re != NULL && rules_tab_regex_compile(fresh, err) < 0)
		goto fail;
	return fresh;
fail:
	rules_tab_free(fresh);
	return NULL;
}

/* See rules.h. */
int
rules_table_update_begin(const struct rules_config *c, const char *name,
                         struct rules_table_update *u, struct rules_error *err)
{
	struct rules_tab *t = update_find(c, name), *fresh, *before;

	memset(u, 0, sizeof *u);
	memset(err, 0, sizeof *err);
	if (t == NULL)
		return rules_fail(err, NULL, "no table \"%s\" in %s", name, c->file);
	if (t->file_path == NULL && t->db_path == NULL)
		return rules_fail(err, NULL, "table \"%s\" is not read from a file (declared "
		                  "at line %u)", name, t->pos.line);
	if ((fresh = update_read(t, err)) == NULL)
		return -1;
	before = atomic_exchange_explicit(&t->live, fresh, memory_order_acq_rel);
	u->tab = t;
	u->retired = before != NULL ? before : t;
	u->entries = fresh->n;
	return 0;
}

/* See rules.h. */
void
rules_table_update_end(struct rules_table_update *u)
{
	if (u->retired == u->tab)
		rules_tab_clear(u->tab);   /* its own entries: never read again */
	else
		rules_tab_free(u->retired);
	memset(u, 0, sizeof *u);
}
