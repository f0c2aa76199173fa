/*
 * rules/compile_filter.c - the builtin filters of the AST into the config
 * (rules/filter.h): c->filters holds every builtin filter with its table
 * resolved, and each listener's "filter NAME" or "filter { a, b }" becomes
 * l->filters, the builtin filters it runs in order, a chain's members in
 * its order in place of the chain. c->procs holds every filter process
 * (each `proc`, and each `filter NAME proc-exec`, in declaration order),
 * and l->procs the ones the listener's chain reaches, each once, in chain
 * order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

/* The AST filter called name, or NULL. */
static const struct rules_ast_filter *
compile_filter_find(const struct rules_ast *ast, const char *name)
{
	for (unsigned i = 0; i < ast->nfilters; i++)
		if (strcmp(ast->filters[i].f.name, name) == 0)
			return &ast->filters[i];
	return NULL;
}

/* Add the process af runs to l's, once; 0 or -1. */
static int
compile_proc_append(struct rules_config *c, struct rules_listener *l,
                    const struct rules_ast_filter *af, struct rules_error *err)
{
	unsigned i;

	for (i = 0; i < c->nprocs && strcmp(c->procs[i].name, af->proc) != 0; i++)
		;
	if (i == c->nprocs)
		return 0;
	for (unsigned k = 0; k < l->nprocs; k++)
		if (l->procs[k] == &c->procs[i])
			return 0;
	if (l->nprocs >= RULES_FILTER_CHAIN_MAX)
		return rules_fail(err, NULL, "listener on line %u: more than %d filter processes",
		                  l->line, RULES_FILTER_CHAIN_MAX);
	l->procs[l->nprocs++] = &c->procs[i];
	return 0;
}

/* Append the compiled filter of af (a builtin) to l's chain, or its
 * process to l's processes; 0 or -1. */
static int
compile_filter_append(struct rules_config *c, struct rules_listener *l,
                      const struct rules_ast_filter *af, struct rules_error *err)
{
	unsigned i;

	if (af != NULL && af->kind == RULES_AST_FILTER_PROC)
		return compile_proc_append(c, l, af, err);
	if (af == NULL || af->kind != RULES_AST_FILTER_BUILTIN)
		return 0;
	for (i = 0; i < c->nfilters && strcmp(c->filters[i].name, af->f.name) != 0; i++)
		;
	if (i == c->nfilters)
		return 0;
	if (l->nfilters >= RULES_FILTER_CHAIN_MAX)
		return rules_fail(err, NULL, "listener on line %u: more than %d filters", l->line,
		                  RULES_FILTER_CHAIN_MAX);
	l->filters[l->nfilters++] = &c->filters[i];
	return 0;
}

/* l's references flattened into l->filters; 0 or -1. */
static int
compile_listener_chain(struct rules_config *c, const struct rules_ast *ast,
                       struct rules_listener *l, struct rules_error *err)
{
	const struct rules_ast_filter *af;

	if (l->filter_nrefs == 0)
		return 0;
	if ((l->filters = calloc(RULES_FILTER_CHAIN_MAX, sizeof *l->filters)) == NULL ||
	    (l->procs = calloc(RULES_FILTER_CHAIN_MAX, sizeof *l->procs)) == NULL)
		return rules_fail(err, NULL, "out of memory");
	for (unsigned i = 0; i < l->filter_nrefs; i++) {
		af = compile_filter_find(ast, ast->refs[l->filter_ref + i].name);
		if (af != NULL && af->kind == RULES_AST_FILTER_CHAIN) {
			for (unsigned j = 0; j < af->nrefs; j++)
				if (compile_filter_append(c, l, compile_filter_find(
				                          ast, ast->refs[af->ref + j].name), err) < 0)
					return -1;
			continue;
		}
		if (compile_filter_append(c, l, af, err) < 0)
			return -1;
	}
	return 0;
}

/* c->procs from the proc declarations and proc-exec filters; 0 or -1. */
static int
compile_procs(struct rules_config *c, const struct rules_ast *ast, struct rules_error *err)
{
	const struct rules_ast_decl *d;
	struct rules_proc *p;
	int exec;

	if ((c->procs = calloc(ast->ndecls ? ast->ndecls : 1, sizeof *c->procs)) == NULL)
		return rules_fail(err, NULL, "out of memory");
	for (unsigned i = 0; i < ast->ndecls; i++) {
		d = &ast->decls[i];
		exec = d->kind == RULES_DECL_FILTER && d->command[0] != '\0';
		if (d->kind != RULES_DECL_PROC && !exec)
			continue;
		p = &c->procs[c->nprocs++];
		snprintf(p->name, sizeof p->name, "%s", d->name);
		p->line = d->pos.line;
		memcpy(p->command, d->command, sizeof p->command);
		memcpy(p->user, d->user, sizeof p->user);
		memcpy(p->group, d->group, sizeof p->group);
		memcpy(p->chroot, d->chroot, sizeof p->chroot);
	}
	return 0;
}

/* See rules_int.h: c->filters holds the builtins in declaration order. */
int
rules_compile_filters(struct rules_config *c, const struct rules_ast *ast,
                      struct rules_error *err)
{
	unsigned i;

	if (ast->nfilters == 0)
		return 0;
	if (compile_procs(c, ast, err) < 0)
		return -1;
	if ((c->filters = calloc(ast->nfilters, sizeof *c->filters)) == NULL)
		return rules_fail(err, NULL, "out of memory");
	for (i = 0; i < ast->nfilters; i++) {
		const struct rules_ast_filter *af = &ast->filters[i];
		struct rules_filter *f = &c->filters[c->nfilters];
		if (af->kind != RULES_AST_FILTER_BUILTIN)
			continue;
		*f = af->f;
		f->neg = af->cond.neg;
		f->regex = af->cond.regex;
		f->tab = af->cond.kind == RULES_COND_TABLE ? af->cond.ref.tab : NULL;
		c->nfilters++;
	}
	for (i = 0; i < c->nlisteners; i++)
		if (compile_listener_chain(c, ast, &c->listeners[i], err) < 0)
			return -1;
	return 0;
}

/* Free what rules_compile_filters() allocated. */
void
rules_free_filters(struct rules_config *c)
{
	for (unsigned i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].filters);
		free(c->listeners[i].procs);
	}
	free(c->filters);
	free(c->procs);
}
