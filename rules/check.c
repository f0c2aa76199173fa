/*
 * rules/check.c - what the parser cannot see line by line: duplicate table
 * and action names, references to tables (<name>) and actions that do not
 * exist, tables used where their contents cannot match (a key = value table
 * in a match, a src table with entries that are not addresses). Each error
 * points at the offending name or reference.
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

/* Refuse a second table or action with the same name; 0 or -1. */
static int
check_duplicates(const struct rules_ast *ast, struct rules_error *err)
{
	unsigned i, j;

	for (i = 0; i < ast->ntables; i++)
		for (j = 0; j < i; j++)
			if (strcmp(ast->tables[i]->name, ast->tables[j]->name) == 0)
				return rules_fail(err, &ast->tables[i]->pos, "duplicate table \"%s\"",
				                  ast->tables[i]->name);
	for (i = 0; i < ast->nactions; i++)
		for (j = 0; j < i; j++)
			if (strcmp(ast->actions[i].a.name, ast->actions[j].a.name) == 0)
				return rules_fail(err, &ast->actions[i].name_pos,
				                  "duplicate action \"%s\"", ast->actions[i].a.name);
	return 0;
}

/* Point ref at its table; refuse unknown names and unusable tables. */
static int
check_ref(const struct rules_ast *ast, const struct rules_cond *c, struct rules_tabref *ref,
          int is_src, struct rules_error *err)
{
	unsigned i;

	if (c->kind != RULES_COND_TABLE)
		return 0;
	ref->tab = ref->inl;
	for (i = 0; ref->tab == NULL && i < ast->ntables; i++)
		if (strcmp(ast->tables[i]->name, ref->name) == 0)
			ref->tab = ast->tables[i];
	if (ref->tab == NULL)
		return rules_fail(err, &ref->pos, "unknown table \"%s\"", ref->name);
	if (ref->tab->is_map)
		return rules_fail(err, &ref->pos,
		                  "table \"%s\" holds key = value pairs and cannot be used in a match",
		                  ref->tab->name);
	if (is_src && ref->tab->nonnet) {
		if (ref->inl)
			return rules_fail(err, &ref->pos, "\"%s\" is not an address or network",
			                  ref->tab->first_nonnet);
		return rules_fail(err, &ref->pos, "\"%s\" in table \"%s\" is not an address or network",
		                  ref->tab->first_nonnet, ref->tab->name);
	}
	return 0;
}

/* Check one match line's tables and action; 0 or -1. */
static int
check_match(const struct rules_ast *ast, struct rules_ast_match *m, struct rules_error *err)
{
	unsigned i;

	if (check_ref(ast, &m->tag, &m->tag.ref, 0, err) < 0 ||
	    check_ref(ast, &m->from, &m->from.ref, 1, err) < 0 ||
	    check_ref(ast, &m->rcpt_for, &m->rcpt_for.ref, 0, err) < 0 ||
	    check_ref(ast, &m->mail_from, &m->mail_from.ref, 0, err) < 0 ||
	    check_ref(ast, &m->rcpt_to, &m->rcpt_to.ref, 0, err) < 0)
		return -1;
	if (m->reject)
		return 0;
	for (i = 0; i < ast->nactions; i++)
		if (strcmp(ast->actions[i].a.name, m->action) == 0)
			return 0;
	return rules_fail(err, &m->action_pos, "unknown action \"%s\"", m->action);
}

/* Call after rules_parse(): resolves and checks every reference; 0 or -1. */
int
rules_check(struct rules_ast *ast, struct rules_error *err)
{
	unsigned i;

	if (check_duplicates(ast, err) < 0)
		return -1;
	for (i = 0; i < ast->nmatches; i++)
		if (check_match(ast, &ast->matches[i], err) < 0)
			return -1;
	if (ast->nmatches == 0)
		return rules_fail(err, &ast->end, "no match rules, nothing to do");
	return 0;
}
