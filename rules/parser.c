/*
 * rules/parser.c - smtpd.conf statements into the AST (rules_int.h), in
 * smtpd.conf(5)'s grammar: macros, include, table, listen on, action, match,
 * queue path, smtp max-message-size. Statements this version does not
 * implement are refused with "... is not supported yet" at the keyword;
 * nothing is silently ignored. The parser pulls tokens with at most two of
 * lookahead, so a macro is defined before the next line is lexed.
 * Listen addresses and file: tables are resolved here, at load time.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rules/rules_int.h"

struct parser {
	struct rules_lexer *lx;
	const struct rules_parse_ctx *ctx;
	struct rules_ast *ast;
	struct rules_error *err;
	struct rules_tok la[2];
	unsigned nla;
};

struct listen_opts {
	uint16_t port;
	int family;                    /* AF_UNSPEC, AF_INET, AF_INET6 */
	int have_port, have_tag, have_hostname;
	char tag[RULES_NAME_BYTES_MAX];
	char hostname[RULES_HOST_BYTES_MAX];
};

/* Keywords of smtpd.conf(5) that start statements not implemented yet. */
static const char *const unsupported_statements[] = {
	"pki", "filter", "ca", "mda", "mta", "bounce", "admd", "proc", "scheduler", "srs",
	NULL,
};

/* The token i ahead (0 = next), lexing as needed; NULL on a lexer error. */
static const struct rules_tok *
peek(struct parser *P, unsigned i)
{
	while (P->nla <= i) {
		if (rules_lex_next(P->lx, &P->la[P->nla]) < 0)
			return NULL;
		P->nla++;
	}
	return &P->la[i];
}

/* Drop the next token (it was peeked). */
static void
advance(struct parser *P)
{
	if (P->nla == 2)
		P->la[0] = P->la[1];
	P->nla--;
}

/* 1 if t is the bare word w. */
static int
is_word(const struct rules_tok *t, const char *w)
{
	return t->kind == RULES_TOK_WORD && strcmp(t->text, w) == 0;
}

/* 1 if t is the punctuation c. */
static int
is_punct(const struct rules_tok *t, char c)
{
	return t->kind == RULES_TOK_PUNCT && t->text[0] == c;
}

/* 1 if t is a word or a quoted string. */
static int
is_value(const struct rules_tok *t)
{
	return t->kind == RULES_TOK_WORD || t->kind == RULES_TOK_STRING;
}

/* 1 if t ends a statement. */
static int
is_end(const struct rules_tok *t)
{
	return t->kind == RULES_TOK_NEWLINE || t->kind == RULES_TOK_EOF;
}

/* Fail at t with "what, got <t>"; returns -1. */
static int
fail_got(struct parser *P, const struct rules_tok *t, const char *what)
{
	char d[64];

	rules_tok_describe(t, d, sizeof d);
	return rules_fail(P->err, &t->pos, "%s, got %s", what, d);
}

/* Consume the end of the statement; -1 if something else follows. */
static int
expect_end(struct parser *P)
{
	const struct rules_tok *t = peek(P, 0);

	if (t == NULL)
		return -1;
	if (!is_end(t))
		return fail_got(P, t, "expected end of line");
	if (t->kind == RULES_TOK_NEWLINE)
		advance(P);
	return 0;
}

/* Take a word or string into out (cap bytes); what names it in errors. */
static int
take_value(struct parser *P, char *out, size_t cap, const char *what, struct rules_pos *pos)
{
	const struct rules_tok *t = peek(P, 0);
	char msg[96];

	if (t == NULL)
		return -1;
	if (!is_value(t)) {
		snprintf(msg, sizeof msg, "expected %s", what);
		return fail_got(P, t, msg);
	}
	if (pos)
		*pos = t->pos;
	if (t->len >= cap)
		return rules_fail(P->err, &t->pos, "%s too long (at most %zu bytes)", what, cap - 1);
	memcpy(out, t->text, t->len + 1);
	advance(P);
	return 0;
}

/* Join base and a relative path; "./x" and "x" become "base/x". */
int
rules_path_resolve(const char *base, const char *path, char *out, size_t cap)
{
	int n;

	if (path[0] == '/') {
		n = snprintf(out, cap, "%s", path);
	} else {
		while (path[0] == '.' && path[1] == '/')
			path += 2;
		if (strcmp(path, ".") == 0 || path[0] == '\0')
			n = snprintf(out, cap, "%s", base);
		else
			n = snprintf(out, cap, "%s%s%s", base,
			             base[0] && base[strlen(base) - 1] == '/' ? "" : "/", path);
	}
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* name = value: define a macro (-D definitions win); 0 or -1. */
static int
parse_macro(struct parser *P)
{
	char name[RULES_NAME_BYTES_MAX], value[RULES_TOK_BYTES_MAX];
	struct rules_pos pos;
	size_t i;

	if (take_value(P, name, sizeof name, "a macro name", &pos) < 0)
		return -1;
	for (i = 0; name[i]; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return rules_fail(P->err, &pos, "invalid macro name \"%s\"", name);
	advance(P); /* '=' */
	if (take_value(P, value, sizeof value, "a macro value", NULL) < 0 || expect_end(P) < 0)
		return -1;
	if (rules_lex_define(P->lx, name, value, 0) < 0)
		return rules_fail(P->err, &pos, "out of memory");
	return 0;
}

/* include "file": relative to the including file's folder; 0 or -1. */
static int
parse_include(struct parser *P)
{
	char file[RULES_PATH_BYTES_MAX], path[RULES_PATH_BYTES_MAX];
	struct rules_pos pos;

	advance(P);
	if (take_value(P, file, sizeof file, "a file name after \"include\"", &pos) < 0 ||
	    expect_end(P) < 0)
		return -1;
	if (rules_path_resolve(rules_lex_dir(P->lx), file, path, sizeof path) < 0)
		return rules_fail(P->err, &pos, "path too long");
	return rules_lex_push_file(P->lx, path, &pos);
}

/* Keep an inline table in the AST (it owns them); 0 or -1. */
static int
keep_inline(struct parser *P, struct rules_tab *t)
{
	struct rules_ast *a = P->ast;

	if (rules_grow(&a->inline_tables, &a->capinline, a->ninline, sizeof *a->inline_tables) < 0) {
		rules_tab_free(t);
		return rules_fail(P->err, &t->pos, "out of memory");
	}
	a->inline_tables[a->ninline++] = t;
	return 0;
}

/* One "key" or "key = value" of a { } table; mode: 0 unknown, 1 list, 2 map. */
static int
parse_table_entry(struct parser *P, struct rules_tab *t, int *mode)
{
	char key[RULES_KEY_BYTES_MAX], value[RULES_TOK_BYTES_MAX];
	const struct rules_tok *n;
	struct rules_pos pos;

	if (take_value(P, key, sizeof key, "a table value", &pos) < 0 || (n = peek(P, 0)) == NULL)
		return -1;
	if (!is_punct(n, '=')) {
		if (*mode == 2)
			return fail_got(P, n, "expected \"=\" in a key = value table");
		*mode = 1;
		return rules_tab_add(t, key, NULL) < 0 ? rules_fail(P->err, &pos, "out of memory") : 0;
	}
	if (*mode == 1)
		return rules_fail(P->err, &n->pos, "a table holds values or key = value pairs, not both");
	*mode = 2;
	advance(P);
	if ((n = peek(P, 0)) == NULL)
		return -1;
	if (is_punct(n, '>'))
		advance(P); /* "=>" */
	if (take_value(P, value, sizeof value, "a value after \"=\"", NULL) < 0)
		return -1;
	return rules_tab_add(t, key, value) < 0 ? rules_fail(P->err, &pos, "out of memory") : 0;
}

/* { a, b } or { k = v, ... } with the '{' next; fills t; 0 or -1. */
static int
parse_table_body(struct parser *P, struct rules_tab *t)
{
	const struct rules_tok *n = peek(P, 0);
	struct rules_pos open = n->pos;
	int mode = 0;

	advance(P);
	for (;;) {
		if ((n = peek(P, 0)) == NULL)
			return -1;
		if (n->kind == RULES_TOK_NEWLINE || is_punct(n, ',')) {
			advance(P);
			continue;
		}
		if (is_punct(n, '}')) {
			advance(P);
			return 0;
		}
		if (n->kind == RULES_TOK_EOF)
			return rules_fail(P->err, &open, "unterminated table: \"}\" expected");
		if (parse_table_entry(P, t, &mode) < 0)
			return -1;
	}
}

/* table NAME source: where source is file:/path, /path or "file:/path". */
static int
table_from_file(struct parser *P, struct rules_tab *t, const char *src, const struct rules_pos *pos)
{
	char path[RULES_PATH_BYTES_MAX];
	const char *colon = strchr(src, ':');

	if (src[0] != '/' && colon != NULL) {
		if ((size_t)(colon - src) != 4 || strncmp(src, "file", 4) != 0)
			return rules_fail(P->err, pos, "table backend \"%.*s\" is not supported yet",
			                  (int)(colon - src), src);
		src = colon + 1;
	} else if (src[0] != '/') {
		return rules_fail(P->err, pos,
		                  "invalid table \"%s\": expected { ... }, file:/path or /path", src);
	}
	if (src[0] == '\0')
		return rules_fail(P->err, pos, "table file name is empty");
	if (rules_path_resolve(rules_lex_dir(P->lx), src, path, sizeof path) < 0)
		return rules_fail(P->err, pos, "path too long");
	return rules_tab_load_file(t, path, pos, P->err);
}

/* table NAME { ... } | table NAME file:/path; 0 or -1. */
static int
parse_table(struct parser *P)
{
	char name[RULES_NAME_BYTES_MAX], src[RULES_PATH_BYTES_MAX];
	struct rules_ast *a = P->ast;
	const struct rules_tok *n;
	struct rules_tab *t;
	struct rules_pos pos, spos;
	int r;

	advance(P);
	if (take_value(P, name, sizeof name, "a table name", &pos) < 0 || (n = peek(P, 0)) == NULL)
		return -1;
	if ((t = rules_tab_new(name, &pos)) == NULL ||
	    rules_grow(&a->tables, &a->captables, a->ntables, sizeof *a->tables) < 0) {
		rules_tab_free(t);
		return rules_fail(P->err, &pos, "out of memory");
	}
	a->tables[a->ntables++] = t;
	if (is_punct(n, '{'))
		r = parse_table_body(P, t);
	else if ((r = take_value(P, src, sizeof src, "{, file:/path or /path", &spos)) == 0)
		r = table_from_file(P, t, src, &spos);
	if (r < 0 || expect_end(P) < 0)
		return -1;
	return rules_tab_finish(t) < 0 ? rules_fail(P->err, &pos, "out of memory") : 0;
}

/* A port: a number 1-65535 or a service name; 0 or -1. */
static int
parse_port(struct parser *P, uint16_t *port)
{
	static const struct { const char *name; uint16_t port; } services[] = {
		{ "smtp", 25 }, { "smtps", 465 }, { "submissions", 465 }, { "submission", 587 },
	};
	const struct rules_tok *t = peek(P, 0);
	unsigned long v;
	size_t i;

	if (t == NULL)
		return -1;
	if (!is_value(t))
		return fail_got(P, t, "expected a port");
	if (t->len > 0 && strspn(t->text, "0123456789") == t->len) {
		v = t->len > 9 ? 1000000000ul : strtoul(t->text, NULL, 10);
		if (v == 0 || v > 65535)
			return rules_fail(P->err, &t->pos, "port %.20s out of range", t->text);
		*port = (uint16_t)v;
		advance(P);
		return 0;
	}
	for (i = 0; i < sizeof services / sizeof services[0]; i++) {
		if (strcmp(t->text, services[i].name) == 0) {
			*port = services[i].port;
			advance(P);
			return 0;
		}
	}
	return rules_fail(P->err, &t->pos, "invalid port \"%.40s\"", t->text);
}

/* Listen options recorded nowhere yet: refused, never ignored. */
static const char *const unsupported_listen_options[] = {
	"smtps", "tls", "tls-require", "pki", "ca", "auth", "auth-optional", "filter",
	"mask-src", "no-dsn", "received-auth", "proxy-v2", "senders", "hostnames",
	"ciphers", "protocols", NULL,
};

/* 1 if w is in the NULL-terminated list. */
static int
in_list(const char *const *list, const char *w)
{
	for (; *list; list++)
		if (strcmp(*list, w) == 0)
			return 1;
	return 0;
}

/* One listen option at the next token; 0 or -1. */
static int
parse_listen_option(struct parser *P, struct listen_opts *o)
{
	const struct rules_tok *t = peek(P, 0);
	struct rules_pos pos = t->pos;
	char kw[32];

	if (t->kind != RULES_TOK_WORD)
		return fail_got(P, t, "expected a listen option");
	snprintf(kw, sizeof kw, "%s", t->text);
	if (in_list(unsupported_listen_options, kw))
		return rules_fail(P->err, &pos, "listen option \"%s\" is not supported yet", kw);
	if (strcmp(kw, "inet4") == 0 || strcmp(kw, "inet6") == 0) {
		if (o->family != AF_UNSPEC)
			return rules_fail(P->err, &pos, "address family already specified");
		o->family = kw[4] == '4' ? AF_INET : AF_INET6;
		advance(P);
		return 0;
	}
	if (strcmp(kw, "port") == 0 || strcmp(kw, "tag") == 0 || strcmp(kw, "hostname") == 0) {
		int *have = kw[0] == 'p' ? &o->have_port : kw[0] == 't' ? &o->have_tag :
		                                                         &o->have_hostname;
		if (*have)
			return rules_fail(P->err, &pos, "%s already specified", kw);
		*have = 1;
		advance(P);
		if (kw[0] == 'p')
			return parse_port(P, &o->port);
		if (kw[0] == 't')
			return take_value(P, o->tag, sizeof o->tag, "a tag", NULL);
		return take_value(P, o->hostname, sizeof o->hostname, "a hostname", NULL);
	}
	return rules_fail(P->err, &pos, "unknown listen option \"%.40s\"", kw);
}

/* Append one listener for sa; 0 or -1. */
static int
add_listener(struct parser *P, const struct sockaddr *sa, const char *spec,
             const struct listen_opts *o, const struct rules_pos *pos)
{
	struct rules_ast *a = P->ast;
	struct rules_listener *l;
	socklen_t len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
	                                           sizeof(struct sockaddr_in6);

	if (o->family != AF_UNSPEC && o->family != sa->sa_family)
		return 0;
	if (rules_grow(&a->listeners, &a->caplisteners, a->nlisteners, sizeof *a->listeners) < 0)
		return rules_fail(P->err, pos, "out of memory");
	l = &a->listeners[a->nlisteners++];
	memset(l, 0, sizeof *l);
	memcpy(&l->addr, sa, len);
	l->addr_len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&l->addr)->sin_port = htons(o->port);
	else
		((struct sockaddr_in6 *)&l->addr)->sin6_port = htons(o->port);
	snprintf(l->spec, sizeof l->spec, "%s", spec);
	snprintf(l->tag, sizeof l->tag, "%s", o->tag);
	snprintf(l->hostname, sizeof l->hostname, "%s", o->hostname);
	l->line = pos->line;
	return 0;
}

/* Add a listener for a numeric address; 1 added, 0 not numeric, -1 error. */
static int
listen_numeric(struct parser *P, const char *text, const char *spec,
               const struct listen_opts *o, const struct rules_pos *pos)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	unsigned before = P->ast->nlisteners;

	memset(&s4, 0, sizeof s4);
	memset(&s6, 0, sizeof s6);
	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		if (add_listener(P, (struct sockaddr *)&s4, spec, o, pos) < 0)
			return -1;
	} else if (inet_pton(AF_INET6, text, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		if (add_listener(P, (struct sockaddr *)&s6, spec, o, pos) < 0)
			return -1;
	} else {
		return 0;
	}
	if (P->ast->nlisteners == before)
		return rules_fail(P->err, pos, "address \"%s\" is not in the address family asked for",
		                  text);
	return 1;
}

/* Add a listener per address of interface name; count added, or -1. */
static int
listen_interface(struct parser *P, const char *name, const char *spec,
                 const struct listen_opts *o, const struct rules_pos *pos)
{
	struct ifaddrs *ifa, *p;
	unsigned before = P->ast->nlisteners;

	if (getifaddrs(&ifa) < 0)
		return rules_fail(P->err, pos, "cannot list interfaces: %s", strerror(errno));
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL || strcmp(p->ifa_name, name) != 0)
			continue;
		if (p->ifa_addr->sa_family != AF_INET && p->ifa_addr->sa_family != AF_INET6)
			continue;
		if (add_listener(P, p->ifa_addr, spec, o, pos) < 0) {
			freeifaddrs(ifa);
			return -1;
		}
	}
	freeifaddrs(ifa);
	return (int)(P->ast->nlisteners - before);
}

/* Turn ADDR (address, localhost, any, interface) into listeners; 0 or -1. */
static int
listen_resolve(struct parser *P, const char *spec, const struct listen_opts *o,
               const struct rules_pos *pos)
{
	int r;

	if (strcmp(spec, "localhost") == 0) {
		if (listen_numeric(P, "127.0.0.1", spec, o, pos) < 0 ||
		    (o->family != AF_INET && listen_numeric(P, "::1", spec, o, pos) < 0))
			return -1;
		return 0;
	}
	if (strcmp(spec, "any") == 0 || strcmp(spec, "all") == 0)
		return listen_numeric(P, o->family == AF_INET6 ? "::" : "0.0.0.0", spec, o, pos) < 0 ?
		       -1 : 0;
	if ((r = listen_numeric(P, spec, spec, o, pos)) != 0)
		return r < 0 ? -1 : 0;
	if ((r = listen_interface(P, spec, spec, o, pos)) == 0 && strcmp(spec, "lo0") == 0)
		r = listen_interface(P, "lo", spec, o, pos); /* OpenBSD's name */
	if (r < 0)
		return -1;
	if (r == 0)
		return rules_fail(P->err, pos, "no such interface or address \"%s\"", spec);
	return 0;
}

/* listen on ADDR|socket [options]; 0 or -1. */
static int
parse_listen(struct parser *P)
{
	char spec[RULES_HOST_BYTES_MAX];
	const struct rules_tok *t;
	struct listen_opts o;
	struct rules_pos pos;

	advance(P);
	if ((t = peek(P, 0)) == NULL)
		return -1;
	if (!is_word(t, "on"))
		return fail_got(P, t, "expected \"on\" after \"listen\"");
	advance(P);
	if (take_value(P, spec, sizeof spec, "an address or interface after \"listen on\"", &pos) < 0)
		return -1;
	memset(&o, 0, sizeof o);
	o.port = 25;
	o.family = AF_UNSPEC;
	if (strcmp(spec, "socket") == 0) {
		if ((t = peek(P, 0)) == NULL)
			return -1;
		if (t->kind == RULES_TOK_WORD)
			return rules_fail(P->err, &t->pos,
			                  "listen on socket option \"%.40s\" is not supported yet", t->text);
		return expect_end(P);
	}
	while ((t = peek(P, 0)) != NULL && !is_end(t))
		if (parse_listen_option(P, &o) < 0)
			return -1;
	if (t == NULL || listen_resolve(P, spec, &o, &pos) < 0)
		return -1;
	return expect_end(P);
}

/* Statements recognised by their first word. */
static int parse_action(struct parser *P);
static int parse_match(struct parser *P);
static int parse_queue(struct parser *P);
static int parse_smtp(struct parser *P);

static const struct {
	const char *keyword;
	int (*parse)(struct parser *);
} statements[] = {
	{ "include", parse_include },
	{ "table", parse_table },
	{ "listen", parse_listen },
	{ "action", parse_action },
	{ "match", parse_match },
	{ "queue", parse_queue },
	{ "smtp", parse_smtp },
};

/* One statement; 1 at the end of input, 0 after a statement, -1 on error. */
static int
parse_statement(struct parser *P)
{
	const struct rules_tok *t = peek(P, 0), *n;
	size_t i;

	if (t == NULL)
		return -1;
	if (t->kind == RULES_TOK_EOF)
		return 1;
	if (t->kind == RULES_TOK_NEWLINE) {
		advance(P);
		return 0;
	}
	if (t->kind == RULES_TOK_WORD) {
		for (i = 0; i < sizeof statements / sizeof statements[0]; i++)
			if (strcmp(t->text, statements[i].keyword) == 0)
				return statements[i].parse(P);
		if (in_list(unsupported_statements, t->text))
			return rules_fail(P->err, &t->pos, "\"%s\" is not supported yet", t->text);
	}
	if (is_value(t)) {
		if ((n = peek(P, 1)) == NULL)
			return -1;
		t = &P->la[0];
		if (is_punct(n, '='))
			return parse_macro(P);
	}
	if (t->kind == RULES_TOK_WORD)
		return rules_fail(P->err, &t->pos, "unknown keyword \"%.40s\"", t->text);
	return fail_got(P, t, "expected a statement");
}

/* Parse the whole input into ast; 0 or -1 with err filled. */
int
rules_parse(struct rules_lexer *lx, const struct rules_parse_ctx *ctx, struct rules_ast *ast,
            struct rules_error *err)
{
	struct parser *P = calloc(1, sizeof *P);
	int r;

	if (P == NULL)
		return rules_fail(err, NULL, "out of memory");
	P->lx = lx;
	P->ctx = ctx;
	P->ast = ast;
	P->err = err;
	while ((r = parse_statement(P)) == 0)
		;
	if (r > 0)
		ast->end = P->la[0].pos;
	free(P);
	return r > 0 ? 0 : -1;
}

/* Free what the AST owns (after a failed load, or what compile left). */
void
rules_ast_free(struct rules_ast *ast)
{
	unsigned i;

	for (i = 0; i < ast->ntables; i++)
		rules_tab_free(ast->tables[i]);
	for (i = 0; i < ast->ninline; i++)
		rules_tab_free(ast->inline_tables[i]);
	free(ast->tables);
	free(ast->inline_tables);
	free(ast->listeners);
	free(ast->actions);
	free(ast->matches);
	memset(ast, 0, sizeof *ast);
}

/* Options of actions that this version refuses, by action type. */
static const char *const unsupported_action_types[] = {
	"mbox", "mda", "lmtp", "forward-only", "expand-only", NULL,
};
static const char *const maildir_options[] = {
	"junk", "alias", "virtual", "userbase", "user", "wrapper", NULL,
};
static const char *const relay_options[] = {
	"backup", "helo", "helo-src", "domain", "tls", "auth", "mail-from", "srs", "pki",
	"ca", NULL,
};

/* maildir ["path"]: a path template; relative ones join base_dir; 0 or -1. */
static int
parse_maildir(struct parser *P, struct rules_action *a)
{
	const struct rules_tok *t = peek(P, 0);
	const char *s;

	a->kind = RULES_ACTION_MAILDIR;
	if (t == NULL)
		return -1;
	if (is_value(t) && !(t->kind == RULES_TOK_WORD && in_list(maildir_options, t->text))) {
		s = t->text;
		if (s[0] == '\0')
			return rules_fail(P->err, &t->pos, "maildir path is empty");
		if (s[0] == '/' || s[0] == '~' || strncmp(s, "%{", 2) == 0) {
			if (t->len >= sizeof a->path)
				return rules_fail(P->err, &t->pos, "path too long");
			memcpy(a->path, s, t->len + 1);
		} else if (rules_path_resolve(P->ctx->base_dir, s, a->path, sizeof a->path) < 0) {
			return rules_fail(P->err, &t->pos, "path too long");
		}
		advance(P);
		if ((t = peek(P, 0)) == NULL)
			return -1;
	}
	if (t->kind == RULES_TOK_WORD && in_list(maildir_options, t->text))
		return rules_fail(P->err, &t->pos, "maildir option \"%s\" is not supported yet",
		                  t->text);
	return 0;
}

/* The port after ':' in a relay URL; 0 or -1. */
static int
relay_url_port(struct parser *P, const char *s, const struct rules_pos *pos, uint16_t *port)
{
	unsigned long v;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return rules_fail(P->err, pos, "invalid port \"%.20s\" in relay URL", s);
	v = strlen(s) > 9 ? 1000000000ul : strtoul(s, NULL, 10);
	if (v == 0 || v > 65535)
		return rules_fail(P->err, pos, "port %.20s out of range", s);
	*port = (uint16_t)v;
	return 0;
}

/* smtp://host[:port] or smtp+notls://...; [v6] hosts; 0 or -1. */
static int
parse_relay_url(struct parser *P, struct rules_action *a, const char *url,
                const struct rules_pos *pos)
{
	const char *sep = strstr(url, "://"), *host = sep ? sep + 3 : url, *end, *rest;
	size_t hlen;

	if (sep != NULL && !((sep - url == 4 && strncmp(url, "smtp", 4) == 0) ||
	                     (sep - url == 10 && strncmp(url, "smtp+notls", 10) == 0)))
		return rules_fail(P->err, pos, "relay scheme \"%.*s\" is not supported yet",
		                  (int)(sep - url) > 40 ? 40 : (int)(sep - url), url);
	if (strchr(host, '@') != NULL)
		return rules_fail(P->err, pos,
		                  "relay host with a user name (authentication) is not supported yet");
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return rules_fail(P->err, pos, "missing \"]\" in relay URL");
		host++;
		rest = end + 1;
	} else {
		end = host + strcspn(host, ":/");
		rest = end;
	}
	hlen = (size_t)(end - host);
	if (hlen == 0)
		return rules_fail(P->err, pos, "relay URL \"%.60s\" has no host", url);
	if (hlen >= sizeof a->relay_host)
		return rules_fail(P->err, pos, "relay host name too long");
	memcpy(a->relay_host, host, hlen);
	a->relay_host[hlen] = '\0';
	if (strcmp(rest, "/") == 0 || *rest == '\0')
		return 0;
	if (*rest != ':')
		return rules_fail(P->err, pos, "invalid relay URL \"%.60s\"", url);
	return relay_url_port(P, rest + 1, pos, &a->relay_port);
}

/* relay [host URL]: MX lookup, or one smarthost; 0 or -1. */
static int
parse_relay(struct parser *P, struct rules_action *a)
{
	char url[RULES_HOST_BYTES_MAX + 64];
	const struct rules_tok *t;
	struct rules_pos pos;
	int have_host = 0;

	a->kind = RULES_ACTION_RELAY;
	a->relay_port = 25;
	while ((t = peek(P, 0)) != NULL && !is_end(t)) {
		if (is_word(t, "host")) {
			if (have_host++)
				return rules_fail(P->err, &t->pos, "host already specified");
			advance(P);
			if (take_value(P, url, sizeof url, "a relay URL after \"host\"", &pos) < 0 ||
			    parse_relay_url(P, a, url, &pos) < 0)
				return -1;
		} else if (t->kind == RULES_TOK_WORD && in_list(relay_options, t->text)) {
			return rules_fail(P->err, &t->pos, "relay option \"%s\" is not supported yet",
			                  t->text);
		} else {
			return fail_got(P, t, "expected a relay option");
		}
	}
	return t == NULL ? -1 : 0;
}

/* action NAME maildir ... | relay ...; 0 or -1. */
static int
parse_action(struct parser *P)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_action act;
	const struct rules_tok *t;
	int r;

	memset(&act, 0, sizeof act);
	advance(P);
	if (take_value(P, act.a.name, sizeof act.a.name, "an action name", &act.name_pos) < 0 ||
	    (t = peek(P, 0)) == NULL)
		return -1;
	act.a.line = act.name_pos.line;
	if (is_word(t, "maildir") || is_word(t, "relay")) {
		int maildir = t->text[0] == 'm';

		advance(P);
		r = maildir ? parse_maildir(P, &act.a) : parse_relay(P, &act.a);
	} else if (t->kind == RULES_TOK_WORD && in_list(unsupported_action_types, t->text)) {
		r = rules_fail(P->err, &t->pos, "action type \"%s\" is not supported yet", t->text);
	} else if (t->kind == RULES_TOK_WORD) {
		r = rules_fail(P->err, &t->pos, "unknown action type \"%.40s\"", t->text);
	} else {
		r = fail_got(P, t, "expected an action type (maildir or relay)");
	}
	if (r < 0 || expect_end(P) < 0)
		return -1;
	if (rules_grow(&a->actions, &a->capactions, a->nactions, sizeof *a->actions) < 0)
		return rules_fail(P->err, &act.name_pos, "out of memory");
	a->actions[a->nactions++] = act;
	return 0;
}

/* <name>, { a, b }, or one value (an inline table of one); 0 or -1. */
static int
parse_tables(struct parser *P, struct rules_tabref *ref)
{
	const struct rules_tok *t = peek(P, 0);
	struct rules_tab *tab;

	if (t == NULL)
		return -1;
	ref->pos = t->pos;
	if (is_punct(t, '<')) {
		advance(P);
		if (take_value(P, ref->name, sizeof ref->name, "a table name after \"<\"", NULL) < 0 ||
		    (t = peek(P, 0)) == NULL)
			return -1;
		if (!is_punct(t, '>'))
			return fail_got(P, t, "expected \">\" after the table name");
		advance(P);
		return 0;
	}
	if (is_word(t, "regex"))
		return rules_fail(P->err, &t->pos, "\"regex\" is not supported yet");
	if (!is_value(t) && !is_punct(t, '{'))
		return fail_got(P, t, "expected <table>, { ... } or a value");
	if ((tab = rules_tab_new(NULL, &t->pos)) == NULL || keep_inline(P, tab) < 0)
		return rules_fail(P->err, &ref->pos, "out of memory");
	ref->inl = tab;
	if (is_punct(t, '{')) {
		if (parse_table_body(P, tab) < 0)
			return -1;
	} else {
		if (rules_tab_add(tab, t->text, NULL) < 0)
			return rules_fail(P->err, &t->pos, "out of memory");
		advance(P);
	}
	return rules_tab_finish(tab) < 0 ? rules_fail(P->err, &ref->pos, "out of memory") : 0;
}

/* Mark c as set by the option at pos; refuses a second one; 0 or -1. */
static int
cond_set(struct parser *P, struct rules_cond *c, const char *what, enum rules_cond_kind kind,
         int neg, const struct rules_pos *pos)
{
	if (c->kind != RULES_COND_NONE)
		return rules_fail(P->err, pos, "%s already specified for this rule", what);
	c->kind = kind;
	c->neg = neg;
	c->pos = *pos;
	return 0;
}

/* [!]from any|local|socket|src T|mail-from T, the "from" consumed. */
static int
parse_from(struct parser *P, struct rules_ast_match *m, int neg, const struct rules_pos *pos)
{
	const struct rules_tok *t = peek(P, 0);
	enum rules_cond_kind k;

	if (t == NULL)
		return -1;
	if (is_word(t, "any") || is_word(t, "local") || is_word(t, "socket")) {
		k = t->text[0] == 'a' ? RULES_COND_ANY :
		    t->text[0] == 'l' ? RULES_COND_LOCAL : RULES_COND_SOCKET;
		advance(P);
		return cond_set(P, &m->from, "from", k, neg, pos);
	}
	if (is_word(t, "src")) {
		advance(P);
		if (cond_set(P, &m->from, "from", RULES_COND_TABLE, neg, pos) < 0)
			return -1;
		return parse_tables(P, &m->from.ref);
	}
	if (is_word(t, "mail-from")) {
		advance(P);
		if (cond_set(P, &m->from, "from", RULES_COND_ANY, 0, pos) < 0 ||
		    cond_set(P, &m->mail_from, "mail-from", RULES_COND_TABLE, neg, pos) < 0)
			return -1;
		return parse_tables(P, &m->mail_from.ref);
	}
	if (is_word(t, "rdns") || is_word(t, "auth"))
		return rules_fail(P->err, &t->pos, "\"from %s\" is not supported yet", t->text);
	return fail_got(P, t, "expected any, local, socket, src or mail-from after \"from\"");
}

/* [!]for any|local|domain T|rcpt-to T, the "for" consumed. */
static int
parse_for(struct parser *P, struct rules_ast_match *m, int neg, const struct rules_pos *pos)
{
	const struct rules_tok *t = peek(P, 0);

	if (t == NULL)
		return -1;
	if (is_word(t, "any") || is_word(t, "local")) {
		enum rules_cond_kind k = t->text[0] == 'a' ? RULES_COND_ANY : RULES_COND_LOCAL;

		advance(P);
		return cond_set(P, &m->rcpt_for, "for", k, neg, pos);
	}
	if (is_word(t, "domain")) {
		advance(P);
		if (cond_set(P, &m->rcpt_for, "for", RULES_COND_TABLE, neg, pos) < 0)
			return -1;
		return parse_tables(P, &m->rcpt_for.ref);
	}
	if (is_word(t, "rcpt-to")) {
		advance(P);
		if (cond_set(P, &m->rcpt_for, "for", RULES_COND_ANY, 0, pos) < 0 ||
		    cond_set(P, &m->rcpt_to, "rcpt-to", RULES_COND_TABLE, neg, pos) < 0)
			return -1;
		return parse_tables(P, &m->rcpt_to.ref);
	}
	return fail_got(P, t, "expected any, local, domain or rcpt-to after \"for\"");
}

/* Match options this version refuses. */
static const char *const unsupported_match_options[] = {
	"auth", "helo", "tls", "rdns", "fcrdns", NULL,
};

/* One [!]option of a match line; 1 after action/reject, 0 next, -1. */
static int
parse_match_option(struct parser *P, struct rules_ast_match *m)
{
	const struct rules_tok *t = peek(P, 0);
	struct rules_pos pos, bang;
	char kw[32];
	int neg = 0;

	if (t != NULL && is_punct(t, '!')) {
		neg = 1;
		bang = t->pos;
		advance(P);
		t = peek(P, 0);
	}
	if (t == NULL)
		return -1;
	if (t->kind != RULES_TOK_WORD)
		return fail_got(P, t, neg ? "expected a match option after \"!\"" :
		                            "expected \"action\" or \"reject\"");
	pos = t->pos;
	snprintf(kw, sizeof kw, "%s", t->text);
	if (neg && (strcmp(kw, "action") == 0 || strcmp(kw, "reject") == 0))
		return rules_fail(P->err, &bang, "\"!\" cannot negate \"%s\"", kw);
	advance(P);
	if (strcmp(kw, "from") == 0)
		return parse_from(P, m, neg, &pos);
	if (strcmp(kw, "for") == 0)
		return parse_for(P, m, neg, &pos);
	if (strcmp(kw, "mail-from") == 0 || strcmp(kw, "rcpt-to") == 0 || strcmp(kw, "tag") == 0) {
		struct rules_cond *c = kw[0] == 'm' ? &m->mail_from : kw[0] == 'r' ? &m->rcpt_to :
		                                                                   &m->tag;
		if (cond_set(P, c, kw, RULES_COND_TABLE, neg, &pos) < 0)
			return -1;
		return parse_tables(P, &c->ref);
	}
	if (strcmp(kw, "reject") == 0) {
		m->reject = 1;
		return 1;
	}
	if (strcmp(kw, "action") == 0)
		return take_value(P, m->action, sizeof m->action, "an action name", &m->action_pos) < 0 ?
		       -1 : 1;
	if (in_list(unsupported_match_options, kw))
		return rules_fail(P->err, &pos, "match option \"%s\" is not supported yet", kw);
	return rules_fail(P->err, &pos, "unknown match option \"%.40s\"", kw);
}

/* match [options] action NAME | reject; 0 or -1. */
static int
parse_match(struct parser *P)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_match m;
	int r;

	memset(&m, 0, sizeof m);
	m.pos = peek(P, 0)->pos;
	advance(P);
	while ((r = parse_match_option(P, &m)) == 0)
		;
	if (r < 0 || expect_end(P) < 0)
		return -1;
	if (rules_grow(&a->matches, &a->capmatches, a->nmatches, sizeof *a->matches) < 0)
		return rules_fail(P->err, &m.pos, "out of memory");
	a->matches[a->nmatches++] = m;
	return 0;
}

/* queue path "DIR" (ringmta); other queue options are refused; 0 or -1. */
static int
parse_queue(struct parser *P)
{
	char dir[RULES_PATH_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_pos pos;

	advance(P);
	if ((t = peek(P, 0)) == NULL)
		return -1;
	if (is_word(t, "compression") || is_word(t, "encryption") || is_word(t, "ttl"))
		return rules_fail(P->err, &t->pos, "queue option \"%s\" is not supported yet", t->text);
	if (!is_word(t, "path"))
		return fail_got(P, t, "expected \"path\" after \"queue\"");
	advance(P);
	if (take_value(P, dir, sizeof dir, "a folder after \"queue path\"", &pos) < 0)
		return -1;
	if (dir[0] == '\0')
		return rules_fail(P->err, &pos, "queue path is empty");
	if (rules_path_resolve(P->ctx->base_dir, dir, P->ast->queue_path,
	                       sizeof P->ast->queue_path) < 0)
		return rules_fail(P->err, &pos, "path too long");
	return expect_end(P);
}

/* A size: digits with an optional K, M, G or T (1024-based) suffix. */
static int
parse_size(struct parser *P, uint64_t *out)
{
	const struct rules_tok *t = peek(P, 0);
	size_t digits;
	uint64_t v = 0, mul = 1;
	const char *suffix;

	if (t == NULL)
		return -1;
	if (!is_value(t))
		return fail_got(P, t, "expected a size");
	digits = strspn(t->text, "0123456789");
	suffix = t->text + digits;
	switch (tolower((unsigned char)*suffix)) {
	case 't': mul <<= 10; /* fall through */
	case 'g': mul <<= 10; /* fall through */
	case 'm': mul <<= 10; /* fall through */
	case 'k': mul <<= 10; suffix++; break;
	default: break;
	}
	if (tolower((unsigned char)*suffix) == 'b')
		suffix++;
	if (digits == 0 || *suffix != '\0')
		return rules_fail(P->err, &t->pos, "invalid size \"%.40s\"", t->text);
	if (digits > 15 || (v = strtoull(t->text, NULL, 10)) > UINT64_MAX / mul || v == 0)
		return rules_fail(P->err, &t->pos, "size \"%.40s\" out of range", t->text);
	*out = v * mul;
	advance(P);
	return 0;
}

/* smtp max-message-size N; other smtp options are refused; 0 or -1. */
static int
parse_smtp(struct parser *P)
{
	const struct rules_tok *t;

	advance(P);
	if ((t = peek(P, 0)) == NULL)
		return -1;
	if (is_word(t, "limit") || is_word(t, "ciphers") || is_word(t, "sub-addr-delim"))
		return rules_fail(P->err, &t->pos, "smtp option \"%s\" is not supported yet", t->text);
	if (!is_word(t, "max-message-size"))
		return fail_got(P, t, "expected \"max-message-size\" after \"smtp\"");
	advance(P);
	if (parse_size(P, &P->ast->size_max) < 0)
		return -1;
	return expect_end(P);
}
