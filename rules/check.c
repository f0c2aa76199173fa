/*
 * rules/check.c - what the parser cannot see line by line: duplicate table
 * and action names; every reference (<table>, action, pki, ca, filter,
 * proc, mda wrapper) to an object declared before it, as OpenSMTPD
 * requires; the builtin tables <localhost> <anyhost> <localnames>
 * <anydestination> <getpwnam> where they make sense; tables used where
 * their contents cannot serve (a key = value table in a match, a list as
 * aliases, names in a src table); regex tables compiled (a bad regex is an
 * error at its entry); pki certificates and keys and ca files present and
 * in PEM form; the tables an action's `alias` names are marked (newaliases
 * rebuilds those of them that are db: tables). Each error points at the
 * offending token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

#define CHECK_PEM_BYTES_MAX (1u << 20) /* a certificate or key file */

static const char *const check_builtins[] = {
	"localhost", "anyhost", "localnames", "anydestination", "getpwnam", NULL,
};

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

/* "unknown <what> \"name\"" with a hint among the n names; -1. */
static int
check_unknown(struct rules_error *err, const struct rules_pos *pos, const char *what,
              const char *name, const char **names, unsigned n)
{
	const char *hint;

	names[n] = NULL;
	if ((hint = rules_suggest(name, names)) != NULL)
		return rules_fail(err, pos, "unknown %s \"%s\"; did you mean \"%s\"?", what, name, hint);
	return rules_fail(err, pos, "unknown %s \"%s\"", what, name);
}

/* Point ref at its named table (declared before) or a builtin; 0 or -1. */
static int
check_resolve(const struct rules_ast *ast, struct rules_tabref *ref, struct rules_error *err)
{
	const char **names;
	unsigned i;
	int r;

	ref->tab = ref->inl;
	if (ref->tab != NULL)
		return 0;
	for (i = 0; i < ast->ntables; i++) {
		if (strcmp(ast->tables[i]->name, ref->name) != 0)
			continue;
		if (i >= ref->seen)
			return rules_fail(err, &ref->pos,
			                  "table \"%s\" is used before its declaration at line %u",
			                  ref->name, ast->tables[i]->pos.line);
		ref->tab = ast->tables[i];
		return 0;
	}
	for (i = 0; check_builtins[i]; i++)
		if (strcmp(check_builtins[i], ref->name) == 0) {
			ref->builtin = (enum rules_builtin)(i + 1);
			return 0;
		}
	if ((names = calloc(ast->ntables + 1, sizeof *names)) == NULL)
		return rules_fail(err, &ref->pos, "out of memory");
	for (i = 0; i < ast->ntables; i++)
		names[i] = ast->tables[i]->name;
	r = check_unknown(err, &ref->pos, "table", ref->name, names, ast->ntables);
	free(names);
	return r;
}

/* A table whose entries must be addresses or networks; 0 or -1. */
static int
check_netaddr(const struct rules_tabref *ref, struct rules_error *err)
{
	if (!ref->tab->nonnet)
		return 0;
	if (ref->inl)
		return rules_fail(err, &ref->pos, "\"%s\" is not an address or network",
		                  ref->tab->first_nonnet);
	return rules_fail(err, &ref->pos, "\"%s\" in table \"%s\" is not an address or network",
	                  ref->tab->first_nonnet, ref->tab->name);
}

/* A builtin in a match: from any/local, for any/local; 0 or -1. */
static int
check_match_builtin(struct rules_cond *c, const char *what, struct rules_error *err)
{
	enum rules_builtin b = c->ref.builtin;

	if (strcmp(what, "from") == 0 && (b == RULES_BUILTIN_LOCALHOST || b == RULES_BUILTIN_ANYHOST))
		c->kind = b == RULES_BUILTIN_LOCALHOST ? RULES_COND_LOCAL : RULES_COND_ANY;
	else if (strcmp(what, "for") == 0 && (b == RULES_BUILTIN_LOCALNAMES ||
	                                       b == RULES_BUILTIN_ANYDESTINATION))
		c->kind = b == RULES_BUILTIN_LOCALNAMES ? RULES_COND_LOCAL : RULES_COND_ANY;
	else
		return rules_fail(err, &c->ref.pos, "builtin table <%s> cannot be used for %s lookups",
		                  c->ref.name, what);
	return 0;
}

/* Resolve and check one match condition's table; 0 or -1. */
static int
check_cond(const struct rules_ast *ast, struct rules_cond *c, const char *what, int is_src,
           struct rules_error *err)
{
	if (c->kind != RULES_COND_TABLE)
		return 0;
	if (check_resolve(ast, &c->ref, err) < 0)
		return -1;
	if (c->ref.builtin != RULES_BUILTIN_NONE)
		return check_match_builtin(c, what, err);
	if (c->ref.tab->is_map)
		return rules_fail(err, &c->ref.pos,
		                  "table \"%s\" holds key = value pairs and cannot be used in a match",
		                  c->ref.tab->name);
	if (c->regex)
		return rules_tab_regex_compile(c->ref.tab, err);
	return is_src ? check_netaddr(&c->ref, err) : 0;
}

/* Check one match line's tables and its action (declared before). */
static int
check_match(const struct rules_ast *ast, struct rules_ast_match *m, struct rules_error *err)
{
	const char **names;
	unsigned i;
	int r;

	if (check_cond(ast, &m->tag, "tag", 0, err) < 0 ||
	    check_cond(ast, &m->from, "from", !m->from_rdns && !m->from_geo, err) < 0 ||
	    check_cond(ast, &m->rcpt_for, "for", 0, err) < 0 ||
	    check_cond(ast, &m->mail_from, "mail-from", 0, err) < 0 ||
	    check_cond(ast, &m->rcpt_to, "rcpt-to", 0, err) < 0 ||
	    check_cond(ast, &m->helo, "helo", 0, err) < 0 ||
	    check_cond(ast, &m->auth, "auth", 0, err) < 0 || rules_check_geo(ast, m, err) < 0)
		return -1;
	if (m->reject)
		return 0;
	for (i = 0; i < ast->nactions; i++) {
		if (strcmp(ast->actions[i].a.name, m->action) != 0)
			continue;
		if (i >= m->actions_seen)
			return rules_fail(err, &m->action_pos,
			                  "action \"%s\" is used before its declaration at line %u",
			                  m->action, ast->actions[i].name_pos.line);
		return 0;
	}
	if ((names = calloc(ast->nactions + 1, sizeof *names)) == NULL)
		return rules_fail(err, &m->action_pos, "out of memory");
	for (i = 0; i < ast->nactions; i++)
		names[i] = ast->actions[i].a.name;
	r = check_unknown(err, &m->action_pos, "action", m->action, names, ast->nactions);
	free(names);
	return r;
}

/* Every entry of a userbase table is uid:gid:/home; 0 or -1. */
static int
check_userbase(const struct rules_tabref *ref, struct rules_error *err)
{
	struct rules_userinfo ui;
	char line[32] = "";

	for (unsigned i = 0; i < ref->tab->n; i++) {
		const struct rules_tab_entry *e = &ref->tab->e[i];
		if (e->value != NULL && rules_userinfo_parse(e->value, &ui) == 0)
			continue;
		if (e->line)
			snprintf(line, sizeof line, " (line %u)", e->line);
		return rules_fail(err, &ref->pos, "userbase table %s%s%s: the entry for \"%.64s\"%s "
		                  "is not uid:gid:/home (numeric ids, not 0)",
		                  ref->inl ? "" : "\"", ref->inl ? "{ ... }" : ref->tab->name,
		                  ref->inl ? "" : "\"", e->key, line);
	}
	return 0;
}

/* A table used by a listen, action or filter option; 0 or -1. */
static int
check_use(const struct rules_ast *ast, struct rules_ast_tabuse *u, struct rules_error *err)
{
	struct rules_tabref *ref = &u->ref;

	if (check_resolve(ast, ref, err) < 0)
		return -1;
	if (ref->builtin != RULES_BUILTIN_NONE) {
		if (ref->builtin == RULES_BUILTIN_GETPWNAM && strcmp(u->what, "userbase") == 0)
			return 0;
		return rules_fail(err, &ref->pos, "builtin table <%s> cannot be used for %s lookups",
		                  ref->name, u->what);
	}
	if (strcmp(u->what, "alias") == 0)
		ref->tab->alias_use = 1;
	if (u->use == RULES_USE_MAP && ref->tab->n > 0 && !ref->tab->is_map)
		return rules_fail(err, &ref->pos, "table %s%s%s holds a list and cannot be used for %s "
		                  "lookups (key = value pairs needed)", ref->inl ? "" : "\"",
		                  ref->inl ? "{ ... }" : ref->tab->name, ref->inl ? "" : "\"", u->what);
	if (u->use != RULES_USE_MAP && ref->tab->is_map)
		return rules_fail(err, &ref->pos, "table \"%s\" holds key = value pairs and cannot be "
		                  "used for %s lookups", ref->tab->name, u->what);
	if (strcmp(u->what, "userbase") == 0)
		return check_userbase(ref, err);
	if (u->use == RULES_USE_NETADDR && check_netaddr(ref, err) < 0)
		return -1;
	return rules_check_relay_use(u, err);
}

static const char *const check_decl_names[RULES_DECL_KINDS] = {
	"pki", "ca", "filter", "processor", "mda wrapper",
};

/* A reference to a pki, ca, filter, proc or wrapper; 0 or -1. */
static int
check_ref(const struct rules_ast *ast, const struct rules_ast_ref *r, struct rules_error *err)
{
	const char *names[64];
	const struct rules_ast_decl *d;
	unsigned i, n = 0;
	int nocase = r->kind == RULES_DECL_PKI || r->kind == RULES_DECL_CA;

	for (i = 0; i < ast->ndecls; i++) {
		d = &ast->decls[i];
		if (d->kind != r->kind)
			continue;
		if (n < 63)
			names[n++] = d->name;
		if ((nocase ? strcasecmp(d->name, r->name) : strcmp(d->name, r->name)) != 0)
			continue;
		if (i >= r->seen)
			return rules_fail(err, &r->pos, "%s \"%s\" is used before its declaration at "
			                  "line %u", check_decl_names[r->kind], r->name, d->pos.line);
		if (r->in_chain && d->chain)
			return rules_fail(err, &r->pos, "filter chain \"%s\" cannot be part of a chain",
			                  r->name);
		return 0;
	}
	return check_unknown(err, &r->pos, check_decl_names[r->kind], r->name, names, n);
}

/* path must be readable and hold "-----BEGIN <label>"; 0 or -1. */
static int
check_pem(const char *path, const char *label, const char *what, const struct rules_pos *pos,
          struct rules_error *err)
{
	uint8_t *buf;
	size_t size;
	int r = 0;

	if (rules_read_regular(path, CHECK_PEM_BYTES_MAX, &buf, &size) < 0)
		return rules_fail(err, pos, "cannot read %s \"%s\": %s", what, path,
		                  rules_open_error(errno));
	if (memmem(buf, size, "-----BEGIN ", 11) == NULL || memmem(buf, size, label,
	                                                            strlen(label)) == NULL)
		r = rules_fail(err, pos, "\"%s\" is not a PEM %s", path, what);
	free(buf);
	return r;
}

/* Every pki has a certificate and a key, every ca a certificate. */
static int
check_files(const struct rules_ast *ast, struct rules_error *err)
{
	const struct rules_ast_decl *d;
	unsigned i;

	for (i = 0; i < ast->ndecls; i++) {
		d = &ast->decls[i];
		if (d->kind != RULES_DECL_PKI && d->kind != RULES_DECL_CA)
			continue;
		if (d->cert[0] == '\0')
			return rules_fail(err, &d->pos, "%s \"%s\" has no certificate (cert \"file\")",
			                  check_decl_names[d->kind], d->name);
		if (check_pem(d->cert, "CERTIFICATE", "certificate", &d->cert_pos, err) < 0)
			return -1;
		if (d->kind == RULES_DECL_CA)
			continue;
		if (d->key[0] == '\0')
			return rules_fail(err, &d->pos, "pki \"%s\" has no key (key \"file\")", d->name);
		if (check_pem(d->key, "PRIVATE KEY", "private key", &d->key_pos, err) < 0)
			return -1;
	}
	return 0;
}

/* Call after rules_parse(): resolves and checks every reference; 0 or -1. */
int
rules_check(struct rules_ast *ast, struct rules_error *err)
{
	unsigned i;

	if (check_duplicates(ast, err) < 0)
		return -1;
	for (i = 0; i < ast->nrefs; i++)
		if (check_ref(ast, &ast->refs[i], err) < 0)
			return -1;
	for (i = 0; i < ast->nuses; i++)
		if (check_use(ast, &ast->uses[i], err) < 0)
			return -1;
	for (i = 0; i < ast->nmatches; i++)
		if (check_match(ast, &ast->matches[i], err) < 0)
			return -1;
	for (i = 0; i < ast->nfilters; i++)   /* a builtin filter's table */
		if (ast->filters[i].kind == RULES_AST_FILTER_BUILTIN &&
		    (check_cond(ast, &ast->filters[i].cond, "filter",
		                ast->filters[i].f.check == RULES_FCHECK_SRC, err) < 0 ||
		     rules_check_filter_geo(ast, &ast->filters[i], err) < 0))
			return -1;
	if (!ast->data_files_unread && check_files(ast, err) < 0)
		return -1;
	if (ast->nmatches == 0)
		return rules_fail(err, &ast->end, "no match rules, nothing to do");
	return 0;
}
