/*
 * rules/compile.c - the checked AST into an immutable struct rules_config:
 * listeners and actions copied out, every table (named and inline) owned by
 * the decision table, and one row per match line with its conditions, its
 * tables and its action already resolved to pointers, so rules_match() only
 * walks an array, plus the rows that test the reverse path as a bitset so
 * MAIL only reads those, and beside the rows how each was written (its
 * file, its left-out from/for) for smtpd -n -v and the rule tester. An
 * absent "from" or "for" means "local", as in OpenSMTPD. Every criterion
 * is compiled; a config with an unsupported usage
 * rules/ cannot evaluate (a table backend, ...) is marked undecidable and
 * rules_match() answers RULES_TEMPFAIL for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/srs.h"
#include "rules/rules_int.h"

/* Copy a condition; absent ones become dflt (LOCAL) or stay untested. */
static void
compile_cond(struct rules_row_cond *out, const struct rules_cond *c, enum rules_cond_kind dflt)
{
	out->kind = c->kind == RULES_COND_NONE ? dflt : c->kind;
	out->neg = c->neg;
	out->regex = c->regex;
	out->tab = c->kind == RULES_COND_TABLE ? c->ref.tab : NULL;
}

/* Move every table of the AST into t (the AST keeps none); 0 or -1. */
static int
compile_tables(struct rules_table *t, struct rules_ast *ast)
{
	unsigned i, n = ast->ntables + ast->ninline;

	if ((t->tabs = calloc(n ? n : 1, sizeof *t->tabs)) == NULL)
		return -1;
	for (i = 0; i < ast->ntables; i++)
		t->tabs[t->ntabs++] = ast->tables[i];
	for (i = 0; i < ast->ninline; i++)
		t->tabs[t->ntabs++] = ast->inline_tables[i];
	for (i = 0; i < t->ntabs; i++) {
		t->tabs[i]->pos.file = NULL; /* the lexer's names die with the load */
		t->tabs[i]->sub_addr_delim = ast->sub_addr_delim ? ast->sub_addr_delim : '+';
	}
	ast->ntables = ast->ninline = 0;
	return 0;
}

/* The kept copy of file in t->files (added when new); NULL: no memory. */
static const char *
compile_file_name(struct rules_table *t, const char *file)
{
	char **grown;

	if (file == NULL)
		file = "";
	for (unsigned i = 0; i < t->nfiles; i++)
		if (strcmp(t->files[i], file) == 0)
			return t->files[i];
	if ((grown = realloc(t->files, (t->nfiles + 1) * sizeof *grown)) == NULL)
		return NULL;
	t->files = grown;
	if ((t->files[t->nfiles] = strdup(file)) == NULL)
		return NULL;
	return t->files[t->nfiles++];
}

/* Where row i was written and which of its defaults apply; 0 or -1. */
static int
compile_row_info(struct rules_table *t, unsigned i, const struct rules_ast_match *m)
{
	struct rules_row_info *info = &t->info[i];

	if ((info->file = compile_file_name(t, m->pos.file)) == NULL)
		return -1;
	info->from_default = m->from.kind == RULES_COND_NONE;
	info->for_default = m->rcpt_for.kind == RULES_COND_NONE;
	return 0;
}

/* One row per match line, actions resolved in c->actions; 0 or -1. */
static int
compile_rows(struct rules_config *c, struct rules_table *t, const struct rules_ast *ast)
{
	unsigned i, n = ast->nmatches ? ast->nmatches : 1;

	t->words = ast->nmatches / 64 + 1;
	if ((t->rows = calloc(n, sizeof *t->rows)) == NULL ||
	    (t->info = calloc(n, sizeof *t->info)) == NULL ||
	    (t->mail_rows = calloc(t->words, sizeof *t->mail_rows)) == NULL)
		return -1;
	for (i = 0; i < ast->nmatches; i++) {
		const struct rules_ast_match *m = &ast->matches[i];
		struct rules_row *r = &t->rows[t->nrows++];

		if (compile_row_info(t, i, m) < 0)
			return -1;
		r->line = m->pos.line;
		r->reject = m->reject;
		r->action = m->reject ? NULL : rules_action_find(c, m->action);
		r->from_rdns = m->from_rdns;
		r->from_geo = m->from_geo;
		compile_cond(&r->tag, &m->tag, RULES_COND_NONE);
		compile_cond(&r->from, &m->from, RULES_COND_LOCAL);
		compile_cond(&r->helo, &m->helo, RULES_COND_NONE);
		compile_cond(&r->auth, &m->auth, RULES_COND_NONE);
		compile_cond(&r->tls, &m->tls, RULES_COND_NONE);
		compile_cond(&r->mail_from, &m->mail_from, RULES_COND_NONE);
		compile_cond(&r->rcpt_for, &m->rcpt_for, RULES_COND_LOCAL);
		compile_cond(&r->rcpt_to, &m->rcpt_to, RULES_COND_NONE);
		if (r->mail_from.kind != RULES_COND_NONE)
			t->mail_rows[i / 64] |= 1ull << (i % 64);
	}
	for (i = 0; i < c->nunsupported; i++)
		t->undecidable |= !c->unsupported[i].evaluated;
	return 0;
}

/* The delay warning intervals, ascending (insertion sort of at most 4), or
 * the default single one. */
static void
compile_bounce_warn(struct rules_config *c, const struct rules_ast *ast)
{
	if (ast->nbounce_warn == 0) {
		c->bounce_warn_s[0] = RULES_DEFAULT_BOUNCE_WARN_S;
		c->nbounce_warn = 1;
		return;
	}
	for (unsigned i = 0; i < ast->nbounce_warn; i++) {
		unsigned j = i, v = ast->bounce_warn_s[i];
		for (; j > 0 && c->bounce_warn_s[j - 1] > v; j--)
			c->bounce_warn_s[j] = c->bounce_warn_s[j - 1];
		c->bounce_warn_s[j] = v;
	}
	c->nbounce_warn = ast->nbounce_warn;
}

/* queue compression, encryption and ttl; each action's ttl made the one
 * its envelopes take (its own, else the queue's). */
static void
compile_queue(struct rules_config *c, const struct rules_ast *ast)
{
	c->queue_ttl_s = ast->queue_ttl_s ? ast->queue_ttl_s : RULES_DEFAULT_QUEUE_TTL_S;
	c->queue_compression = ast->queue_compression;
	c->queue_encryption = ast->queue_encryption;
	c->queue_key_stdin = ast->queue_key_stdin;
	memcpy(c->queue_key, ast->queue_key, sizeof c->queue_key);
	for (unsigned i = 0; i < c->nactions; i++)
		if (c->actions[i].ttl_s == 0)
			c->actions[i].ttl_s = c->queue_ttl_s;
}

/* Call after rules_check(); returns the config, or NULL (out of memory). */
struct rules_config *
rules_compile(struct rules_ast *ast, const struct rules_parse_ctx *ctx, const char *file,
              struct rules_error *err)
{
	struct rules_config *c = calloc(1, sizeof *c);
	unsigned i;

	if (c == NULL || (c->table = calloc(1, sizeof *c->table)) == NULL ||
	    (c->actions = calloc(ast->nactions ? ast->nactions : 1, sizeof *c->actions)) == NULL)
		goto fail;
	atomic_init(&c->holders, 1);
	snprintf(c->file, sizeof c->file, "%s", file);
	snprintf(c->hostname, sizeof c->hostname, "%s", ctx->hostname);
	snprintf(c->queue_path, sizeof c->queue_path, "%s",
	         ast->queue_path[0] ? ast->queue_path : RULES_DEFAULT_QUEUE_PATH);
	c->size_max = ast->size_max ? ast->size_max : RULES_DEFAULT_SIZE_MAX;
	c->rcpt_max = ast->rcpt_max ? ast->rcpt_max : RULES_DEFAULT_RCPT_MAX;
	c->mails_max = ast->mails_max ? ast->mails_max : RULES_DEFAULT_MAILS_MAX;
	c->sessions_per_source = ast->sessions_per_source ? ast->sessions_per_source
	                                                  : RULES_DEFAULT_SESSIONS_PER_SOURCE;
	c->sessions_max = ast->sessions_max;
	c->auth_failures_max = ast->auth_failures_set ? ast->auth_failures_max
	                                              : RULES_DEFAULT_AUTH_FAILURES_MAX;
	c->idle_timeout_s = ast->idle_timeout_s ? ast->idle_timeout_s
	                                        : RULES_DEFAULT_IDLE_TIMEOUT_S;
	c->bare_newline_normalize = ast->bare_newline_normalize;
	compile_bounce_warn(c, ast);
	c->sub_addr_delim = ast->sub_addr_delim ? ast->sub_addr_delim : '+';
	c->metrics = ast->metrics;
	memcpy(c->geoip_country, ast->geoip_country, sizeof c->geoip_country);
	memcpy(c->geoip_asn, ast->geoip_asn, sizeof c->geoip_asn);
	memcpy(c->srs_key, ast->srs_key_text, sizeof c->srs_key);
	memcpy(c->srs_key_backup, ast->srs_key_backup, sizeof c->srs_key_backup);
	c->srs_ttl_days = ast->srs_ttl_days ? ast->srs_ttl_days : RULES_DEFAULT_SRS_TTL_DAYS;
	for (i = 0; i < ast->nactions; i++) {
		const struct rules_ast_action *aa = &ast->actions[i];
		struct rules_action *a = &c->actions[c->nactions++];
		*a = aa->a;
		if (aa->alias_use)
			a->alias = ast->uses[aa->alias_use - 1].ref.tab;
		if (aa->virtual_use)
			a->virtual_map = ast->uses[aa->virtual_use - 1].ref.tab;
		if (aa->userbase_use)   /* <getpwnam> has no table: the system's users */
			a->userbase = ast->uses[aa->userbase_use - 1].ref.tab;
		if (aa->auth_use)
			a->relay_auth = ast->uses[aa->auth_use - 1].ref.tab;
		if (aa->helo_src_use)
			a->relay_helo_src = ast->uses[aa->helo_src_use - 1].ref.tab;
		if (aa->domain_use)
			a->relay_domain = ast->uses[aa->domain_use - 1].ref.tab;
		if (aa->src_use)
			rules_relay_src_fill(ast->uses[aa->src_use - 1].ref.tab, a);
	}
	compile_queue(c, ast);
	for (i = 0; i < ast->ndecls; i++) {
		const struct rules_ast_decl *d = &ast->decls[i];
		struct rules_pki *np;
		if (d->kind != RULES_DECL_PKI)
			continue;
		if ((np = realloc(c->pkis, (c->npkis + 1) * sizeof *np)) == NULL)
			goto fail;
		c->pkis = np;
		np = &c->pkis[c->npkis++];
		snprintf(np->name, sizeof np->name, "%s", d->name);
		snprintf(np->cert, sizeof np->cert, "%s", d->cert);
		snprintf(np->key, sizeof np->key, "%s", d->key);
	}
	c->listeners = ast->listeners;
	c->nlisteners = ast->nlisteners;
	for (i = 0; i < c->nlisteners; i++) {
		struct rules_listener *l = &c->listeners[i];
		if (!l->tls_ciphers_set && ast->smtp_ciphers_set)
			snprintf(l->tls_ciphers, sizeof l->tls_ciphers, "%s", ast->smtp_ciphers);
		if (l->auth_use)
			l->auth_table = ast->uses[l->auth_use - 1].ref.tab;
		if (l->senders_use)
			l->senders = ast->uses[l->senders_use - 1].ref.tab;
	}
	ast->listeners = NULL;
	ast->nlisteners = 0;
	c->milters = ast->milters;
	c->nmilters = ast->nmilters;
	ast->milters = NULL;
	ast->nmilters = 0;
	c->mta_limits = ast->mta_limits;
	c->nmta_limits = ast->nmta_limits;
	ast->mta_limits = NULL;
	ast->nmta_limits = 0;
	c->unsupported = ast->unsupported;
	c->nunsupported = ast->nunsupported;
	ast->unsupported = NULL;
	ast->nunsupported = 0;
	c->warnings = ast->warnings;
	c->nwarnings = ast->nwarnings;
	ast->warnings = NULL;
	ast->nwarnings = 0;
	if (compile_tables(c->table, ast) < 0 || compile_rows(c, c->table, ast) < 0)
		goto fail;
	if (rules_compile_filters(c, ast, err) < 0) {
		rules_free(c);
		return NULL;
	}
	return c;
fail:
	rules_free(c);
	rules_fail(err, NULL, "out of memory");
	return NULL;
}

/* Find an action by name; NULL if there is none. */
const struct rules_action *
rules_action_find(const struct rules_config *c, const char *name)
{
	unsigned i;

	for (i = 0; i < c->nactions; i++)
		if (strcmp(c->actions[i].name, name) == 0)
			return &c->actions[i];
	return NULL;
}

/* The pki called name (pki names are lowercased), or NULL. */
const struct rules_pki *
rules_pki_find(const struct rules_config *c, const char *name)
{
	for (unsigned i = 0; i < c->npkis; i++)
		if (strcasecmp(c->pkis[i].name, name) == 0)
			return &c->pkis[i];
	return NULL;
}

/* See rules.h. */
void
rules_queue_key_wipe(struct rules_config *c)
{
	explicit_bzero(c->queue_key, sizeof c->queue_key);
}

/* See rules.h. */
int
rules_srs_keys(const struct rules_config *c, struct proto_srs_keys *k)
{
	if (c->srs_key[0] == '\0')
		return -1;
	k->key = c->srs_key;
	k->backup = c->srs_key_backup[0] != '\0' ? c->srs_key_backup : NULL;
	k->ttl_days = c->srs_ttl_days;
	return 0;
}

/* The srs keys, wiped when the config is freed. */
static void
rules_srs_keys_wipe(struct rules_config *c)
{
	explicit_bzero(c->srs_key, sizeof c->srs_key);
	explicit_bzero(c->srs_key_backup, sizeof c->srs_key_backup);
}

/* See rules.h: the count lives in the config, which is otherwise never
 * written after compile, so holding needs no lock. */
const struct rules_config *
rules_hold(const struct rules_config *c)
{
	atomic_fetch_add_explicit(&((struct rules_config *)c)->holders, 1, memory_order_relaxed);
	return c;
}

void
rules_release(const struct rules_config *c)
{
	struct rules_config *w = (struct rules_config *)c;

	if (c != NULL && atomic_fetch_sub_explicit(&w->holders, 1, memory_order_acq_rel) == 1)
		rules_free(w);
}

/* Call when no shard uses c any more; frees everything it owns. */
void
rules_free(struct rules_config *c)
{
	unsigned i;

	if (c == NULL)
		return;
	rules_queue_key_wipe(c);
	rules_srs_keys_wipe(c);
	if (c->table != NULL) {
		for (i = 0; i < c->table->ntabs; i++)
			rules_tab_free(c->table->tabs[i]);
		free(c->table->tabs);
		free(c->table->rows);
		free(c->table->info);
		for (i = 0; i < c->table->nfiles; i++)
			free(c->table->files[i]);
		free(c->table->files);
		free(c->table->mail_rows);
		free(c->table);
	}
	rules_free_filters(c);
	free(c->listeners);
	free(c->milters);
	free(c->actions);
	free(c->pkis);
	free(c->unsupported);
	free(c->mta_limits);
	free(c->warnings);
	free(c);
}
