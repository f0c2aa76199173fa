/*
 * rules/parser.c - smtpd.conf statements into the AST (rules_int.h), in
 * the grammar of OpenSMTPD 7.x smtpd.conf(5). This file holds the token
 * cursor and the helpers every statement uses (parser_int.h), macros,
 * include and table; the other statements live in parse_listen.c,
 * parse_action.c, parse_match.c, parse_filter.c and parse_global.c. The
 * parser pulls tokens with at most two of lookahead, so a macro is defined
 * before the next line is lexed. Usages the daemon does not implement are
 * parsed, checked and recorded (rules_p_unsupported), never ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rules/parser_int.h"

/* The token i ahead (0 = next), lexing as needed; NULL on a lexer error. */
const struct rules_tok *
rules_p_peek(struct rules_parser *P, unsigned i)
{
	if (P->failed)
		return NULL;
	while (P->nla <= i) {
		if (rules_lex_next(P->lx, &P->la[P->nla]) < 0) {
			P->failed = 1;
			return NULL;
		}
		P->nla++;
	}
	return &P->la[i];
}

/* Drop the next token (it was peeked). */
void
rules_p_advance(struct rules_parser *P)
{
	if (P->nla == 2)
		P->la[0] = P->la[1];
	P->nla--;
}

/* 1 if t is the bare word w. */
int
rules_p_is_word(const struct rules_tok *t, const char *w)
{
	return t->kind == RULES_TOK_WORD && strcmp(t->text, w) == 0;
}

/* 1 if t is the punctuation c. */
int
rules_p_is_punct(const struct rules_tok *t, char c)
{
	return t->kind == RULES_TOK_PUNCT && t->text[0] == c;
}

/* 1 if t is a word or a quoted string. */
int
rules_p_is_value(const struct rules_tok *t)
{
	return t->kind == RULES_TOK_WORD || t->kind == RULES_TOK_STRING;
}

/* 1 if t ends a statement. */
int
rules_p_is_end(const struct rules_tok *t)
{
	return t->kind == RULES_TOK_NEWLINE || t->kind == RULES_TOK_EOF;
}

/* 1 if t is a bare word of the NULL-terminated list. */
int
rules_p_in_list(const char *const *list, const struct rules_tok *t)
{
	if (t->kind != RULES_TOK_WORD)
		return 0;
	for (; *list; list++)
		if (strcmp(*list, t->text) == 0)
			return 1;
	return 0;
}

/* Fail at t with "what, got <t>"; returns -1. */
int
rules_p_fail_got(struct rules_parser *P, const struct rules_tok *t, const char *what)
{
	char d[64];

	rules_tok_describe(t, d, sizeof d);
	return rules_fail(P->err, &t->pos, "%s, got %s", what, d);
}

/* Fail at t: unknown <what> "x", with a hint from list; returns -1. */
int
rules_p_unknown(struct rules_parser *P, const struct rules_tok *t, const char *what,
                const char *const *list)
{
	const char *hint;

	if (t->kind != RULES_TOK_WORD) {
		char msg[96];

		snprintf(msg, sizeof msg, "expected %s", what);
		return rules_p_fail_got(P, t, msg);
	}
	if ((hint = rules_suggest(t->text, list)) != NULL)
		return rules_fail(P->err, &t->pos, "unknown %s \"%.40s\"; did you mean \"%s\"?", what,
		                  t->text, hint);
	return rules_fail(P->err, &t->pos, "unknown %s \"%.40s\"", what, t->text);
}

/* Consume the end of the statement; -1 if something else follows. */
int
rules_p_expect_end(struct rules_parser *P)
{
	const struct rules_tok *t = rules_p_peek(P, 0);

	if (t == NULL)
		return -1;
	if (!rules_p_is_end(t))
		return rules_p_fail_got(P, t, "expected end of line");
	if (t->kind == RULES_TOK_NEWLINE)
		rules_p_advance(P);
	return 0;
}

/* Take a word or string into out (cap bytes); what names it in errors. */
int
rules_p_take_value(struct rules_parser *P, char *out, size_t cap, const char *what,
                   struct rules_pos *pos)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char msg[96];

	if (t == NULL)
		return -1;
	if (!rules_p_is_value(t)) {
		snprintf(msg, sizeof msg, "expected %s", what);
		return rules_p_fail_got(P, t, msg);
	}
	if (pos)
		*pos = t->pos;
	if (t->len >= cap)
		return rules_fail(P->err, &t->pos, "%s too long (at most %zu bytes)", what, cap - 1);
	memcpy(out, t->text, t->len + 1);
	rules_p_advance(P);
	return 0;
}

/* A `ciphers` value; 0 or -1. */
int
rules_p_tls_ciphers(struct rules_parser *P, char *out, size_t cap)
{
	char raw[RULES_CIPHERS_BYTES_MAX], why[160];
	struct rules_pos pos;
	const struct rules_load_params *lp = P->ctx->params;

	if (rules_p_take_value(P, raw, sizeof raw, "a cipher list", &pos) < 0)
		return -1;
	if (rules_tls_ciphers_parse(raw, out, cap, why, sizeof why) < 0)
		return rules_fail(P->err, &pos, "ciphers: %s", why);
	if (out[0] != '\0' && lp != NULL && lp->tls_check != NULL &&
	    lp->tls_check(out, 0, why, sizeof why) < 0)
		return rules_fail(P->err, &pos, "ciphers \"%s\": %s", raw, why);
	return 0;
}

/* A `protocols` value; 0 or -1. */
int
rules_p_tls_protocols(struct rules_parser *P, unsigned *mask)
{
	char raw[RULES_HOST_BYTES_MAX], why[200];
	struct rules_pos pos;
	const struct rules_load_params *lp = P->ctx->params;

	if (rules_p_take_value(P, raw, sizeof raw, "a protocol list", &pos) < 0)
		return -1;
	if (rules_tls_protocols_parse(raw, mask, why, sizeof why) < 0)
		return rules_fail(P->err, &pos, "protocols \"%s\": %s", raw, why);
	if (lp != NULL && lp->tls_check != NULL && lp->tls_check(NULL, *mask, why, sizeof why) < 0)
		return rules_fail(P->err, &pos, "protocols \"%s\": %s", raw, why);
	return 0;
}

/* Take a name: parse.y reads a bare keyword as the keyword, not a name. */
int
rules_p_take_name(struct rules_parser *P, char *out, size_t cap, const char *what,
                  struct rules_pos *pos)
{
	const struct rules_tok *t = rules_p_peek(P, 0);

	if (t == NULL)
		return -1;
	if (t->kind == RULES_TOK_WORD && rules_keyword_reserved(t->text))
		return rules_fail(P->err, &t->pos,
		                  "\"%s\" is a reserved word: quote it to use it as %s", t->text, what);
	return rules_p_take_value(P, out, cap, what, pos);
}

/* A whole number within [min, max]; what names it in errors. */
int
rules_p_number(struct rules_parser *P, long long min, long long max, const char *what,
               long long *out)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char msg[96];
	long long v;

	if (t == NULL)
		return -1;
	if (!rules_p_is_value(t)) {
		snprintf(msg, sizeof msg, "expected %s", what);
		return rules_p_fail_got(P, t, msg);
	}
	if (t->len == 0 || strspn(t->text, "0123456789") != t->len)
		return rules_fail(P->err, &t->pos, "invalid %s \"%.40s\": expected a number", what,
		                  t->text);
	v = t->len > 15 ? max + 1 : strtoll(t->text, NULL, 10);
	if (v < min || v > max)
		return rules_fail(P->err, &t->pos, "%s %.20s out of range (%lld to %lld)", what,
		                  t->text, min, max);
	*out = v;
	rules_p_advance(P);
	return 0;
}

/* A size as OpenSMTPD's scan_scaled(): digits, an optional fraction and a
 * B, K, M, G or T suffix (1024-based); 0 or -1. */
int
rules_p_size(struct rules_parser *P, uint64_t *out)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	size_t digits, frac = 0;
	uint64_t v, mul = 1, f = 0, fdiv = 1;
	const char *s;

	if (t == NULL)
		return -1;
	if (!rules_p_is_value(t))
		return rules_p_fail_got(P, t, "expected a size");
	digits = strspn(t->text, "0123456789");
	s = t->text + digits;
	if (*s == '.' && (frac = strspn(s + 1, "0123456789")) > 0 && frac <= 6) {
		for (size_t i = 0; i < frac; i++) {
			f = f * 10 + (uint64_t)(s[1 + i] - '0');
			fdiv *= 10;
		}
		s += 1 + frac;
	}
	switch (tolower((unsigned char)*s)) {
	case 't': mul <<= 10; /* fall through */
	case 'g': mul <<= 10; /* fall through */
	case 'm': mul <<= 10; /* fall through */
	case 'k': mul <<= 10; s++; break;
	default: break;
	}
	if (tolower((unsigned char)*s) == 'b')
		s++;
	if (digits == 0 || *s != '\0')
		return rules_fail(P->err, &t->pos, "invalid size \"%.40s\"", t->text);
	if (digits > 15 || (v = strtoull(t->text, NULL, 10)) > UINT64_MAX / mul ||
	    (v == 0 && f == 0))
		return rules_fail(P->err, &t->pos, "size \"%.40s\" out of range", t->text);
	*out = v * mul + f * mul / fdiv;
	rules_p_advance(P);
	return 0;
}

/* A delay as OpenSMTPD's delaytonum(): N followed by s, m, h or d. */
int
rules_p_delay(struct rules_parser *P, const char *what, unsigned *out)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	unsigned long long v, factor;
	char msg[96];
	size_t n;

	if (t == NULL)
		return -1;
	if (!rules_p_is_value(t)) {
		snprintf(msg, sizeof msg, "expected a delay after \"%s\" (30m, 4h, 2d)", what);
		return rules_p_fail_got(P, t, msg);
	}
	n = strspn(t->text, "0123456789");
	factor = t->len != n + 1 ? 0 : t->text[n] == 's' ? 1 : t->text[n] == 'm' ? 60 :
	         t->text[n] == 'h' ? 3600 : t->text[n] == 'd' ? 86400 : 0;
	if (n == 0 || factor == 0)
		return rules_fail(P->err, &t->pos,
		                  "invalid %s delay \"%.40s\": expected a number then s, m, h or d "
		                  "(30m, 4h, 2d)", what, t->text);
	v = n > 10 ? ~0ull : strtoull(t->text, NULL, 10);
	if (v == 0 || v > 0x7fffffffull / factor)
		return rules_fail(P->err, &t->pos, "%s delay \"%.40s\" out of range", what, t->text);
	*out = (unsigned)(v * factor);
	rules_p_advance(P);
	return 0;
}

/* Record a usage the daemon does not implement yet; 0 or -1. */
int
rules_p_unsupported(struct rules_parser *P, const struct rules_pos *pos, const char *fmt, ...)
{
	struct rules_ast *a = P->ast;
	struct rules_unsupported *u;
	va_list ap;

	if (rules_grow(&a->unsupported, &a->capunsupported, a->nunsupported,
	               sizeof *a->unsupported) < 0)
		return rules_fail(P->err, pos, "out of memory");
	u = &a->unsupported[a->nunsupported++];
	memset(u, 0, sizeof *u);
	va_start(ap, fmt);
	vsnprintf(u->what, sizeof u->what, fmt, ap);
	va_end(ap);
	snprintf(u->file, sizeof u->file, "%s", pos->file ? pos->file : "");
	u->line = pos->line;
	u->column = pos->column;
	return 0;
}

/* Record a warning at pos; 0 or -1. */
int
rules_p_warn(struct rules_parser *P, const struct rules_pos *pos, const char *fmt, ...)
{
	struct rules_ast *a = P->ast;
	struct rules_warning *w;
	va_list ap;

	if (rules_grow(&a->warnings, &a->capwarnings, a->nwarnings, sizeof *a->warnings) < 0)
		return rules_fail(P->err, pos, "out of memory");
	w = &a->warnings[a->nwarnings++];
	memset(w, 0, sizeof *w);
	va_start(ap, fmt);
	vsnprintf(w->message, sizeof w->message, fmt, ap);
	va_end(ap);
	snprintf(w->file, sizeof w->file, "%s", pos->file ? pos->file : "");
	w->line = pos->line;
	w->column = pos->column;
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

/* 1 if path stays below the folder it is resolved in: relative, no "..". */
static int
path_confined(const char *path)
{
	const char *p = path;
	size_t n;

	if (path[0] == '/')
		return 0;
	for (;;) {
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		if (p[n] == '\0')
			return 1;
		p += n + 1;
	}
}

/* Resolve a file the config reads (include, table, pki, ca) against the
 * folder of the file naming it; with confine_files only a path below it. */
int
rules_p_file_path(struct rules_parser *P, const char *raw, char *out, size_t cap,
                  const struct rules_pos *pos)
{
	const struct rules_load_params *p = P->ctx->params;

	if (p != NULL && p->confine_files && !path_confined(raw))
		return rules_fail(P->err, pos, "\"%.60s\" is not read here: only a relative path "
		                  "without \"..\"", raw);
	if (rules_path_resolve(rules_lex_dir(P->lx), raw, out, cap) < 0)
		return rules_fail(P->err, pos, "path too long");
	return 0;
}

/* name = value: define a macro (-D definitions win); 0 or -1. */
static int
parse_macro(struct rules_parser *P)
{
	char name[RULES_NAME_BYTES_MAX], value[RULES_TOK_BYTES_MAX];
	struct rules_pos pos;
	size_t i;

	if (rules_p_take_value(P, name, sizeof name, "a macro name", &pos) < 0)
		return -1;
	for (i = 0; name[i]; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return rules_fail(P->err, &pos, "invalid macro name \"%s\"", name);
	rules_p_advance(P); /* '=' */
	if (rules_p_take_value(P, value, sizeof value, "a macro value", NULL) < 0 ||
	    rules_p_expect_end(P) < 0)
		return -1;
	if (rules_lex_define(P->lx, name, value, 0) < 0)
		return rules_fail(P->err, &pos, "out of memory");
	return 0;
}

/* include "file": relative to the including file's folder; 0 or -1. */
static int
parse_include(struct rules_parser *P)
{
	char file[RULES_PATH_BYTES_MAX], path[RULES_PATH_BYTES_MAX];
	struct rules_pos pos;

	rules_p_advance(P);
	if (rules_p_take_value(P, file, sizeof file, "a file name after \"include\"", &pos) < 0 ||
	    rules_p_expect_end(P) < 0 || rules_p_file_path(P, file, path, sizeof path, &pos) < 0)
		return -1;
	return rules_lex_push_file(P->lx, path, &pos);
}

/* Keep an inline table in the AST (it owns them); 0 or -1. */
static int
keep_inline(struct rules_parser *P, struct rules_tab *t)
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
parse_table_entry(struct rules_parser *P, struct rules_tab *t, int *mode)
{
	char key[RULES_KEY_BYTES_MAX], value[RULES_TOK_BYTES_MAX];
	const struct rules_tok *n;
	struct rules_pos pos;

	if (rules_p_take_value(P, key, sizeof key, "a table value", &pos) < 0 ||
	    (n = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_punct(n, '=')) {
		if (*mode == 2)
			return rules_p_fail_got(P, n, "expected \"=\" in a key = value table");
		*mode = 1;
		return rules_tab_add_at(t, key, NULL, &pos) < 0 ? rules_fail(P->err, &pos, "out of memory")
		                                                : 0;
	}
	if (*mode == 1)
		return rules_fail(P->err, &n->pos, "a table holds values or key = value pairs, not both");
	*mode = 2;
	rules_p_advance(P);
	if ((n = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (rules_p_is_punct(n, '>'))
		rules_p_advance(P); /* "=>" */
	if (rules_p_take_value(P, value, sizeof value, "a value after \"=\"", NULL) < 0)
		return -1;
	return rules_tab_add_at(t, key, value, &pos) < 0 ? rules_fail(P->err, &pos, "out of memory")
	                                                 : 0;
}

int
rules_p_brace_list(struct rules_parser *P, const char *what, int allow_empty,
                   int (*item)(struct rules_parser *P, void *arg), void *arg)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos open = t->pos;
	unsigned count = 0;

	rules_p_advance(P);
	for (;;) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (t->kind == RULES_TOK_NEWLINE || rules_p_is_punct(t, ',')) {
			rules_p_advance(P);
			continue;
		}
		if (rules_p_is_punct(t, '}')) {
			rules_p_advance(P);
			return count == 0 && !allow_empty ? rules_fail(P->err, &open, "empty %s", what)
			                                  : 0;
		}
		if (t->kind == RULES_TOK_EOF)
			return rules_fail(P->err, &open, "unterminated %s: \"}\" expected", what);
		if (item(P, arg) < 0)
			return -1;
		count++;
	}
}

struct table_body {
	struct rules_tab *t;
	int mode;
};

static int
table_body_entry(struct rules_parser *P, void *arg)
{
	struct table_body *b = arg;
	return parse_table_entry(P, b->t, &b->mode);
}

/* { a, b } or { k = v, ... } with the '{' next; fills t; 0 or -1. */
static int
parse_table_body(struct rules_parser *P, struct rules_tab *t)
{
	struct table_body b = { .t = t, .mode = 0 };
	return rules_p_brace_list(P, "table", 1, table_body_entry, &b);
}

/* A backend other than file: and db: (sqlite:, ldap:, ...): its file must
 * exist; t keeps the source for smtpd -n -v. */
static int
table_backend(struct rules_parser *P, struct rules_tab *t, const char *src, size_t blen,
              const struct rules_pos *pos)
{
	const char *config = src + blen + 1;

	if (P->ctx->params != NULL && P->ctx->params->confine_files)
		return rules_fail(P->err, pos, "table backend \"%.*s:\" is not read here", (int)blen,
		                  src);
	if (config[0] != '/')
		return rules_fail(P->err, pos,
		                  "invalid table \"%.60s\": the path after \"%.*s:\" must be absolute",
		                  src, (int)blen, src);
	if (!P->ast->data_files_unread && access(config, R_OK) < 0)
		return rules_fail(P->err, pos, "cannot open table file \"%s\": %s", config,
		                  strerror(errno));
	if ((t->backend = strdup(src)) == NULL)
		return rules_fail(P->err, pos, "out of memory");
	return rules_p_unsupported(P, pos, "table backend %.*s", (int)blen, src);
}

/* table NAME db:path: the cdb makemap built, resolved like a file: path;
 * left unread when the caller builds it (newaliases); 0 or -1. */
static int
table_db(struct rules_parser *P, struct rules_tab *t, const char *src,
         const struct rules_pos *pos)
{
	char path[RULES_PATH_BYTES_MAX];

	if (src[0] == '\0')
		return rules_fail(P->err, pos, "table file name is empty");
	if (rules_p_file_path(P, src, path, sizeof path, pos) < 0)
		return -1;
	if (P->ast->data_files_unread)
		return rules_tab_db_path_set(t, path) < 0 ? rules_fail(P->err, pos, "out of memory")
		                                          : 0;
	return rules_tab_load_db(t, path, pos, P->err);
}

/* table NAME source: /path, file:/path, db:/path or another backend. */
static int
table_from_source(struct rules_parser *P, struct rules_tab *t, const char *src,
                  const struct rules_pos *pos)
{
	char path[RULES_PATH_BYTES_MAX];
	const char *colon = strchr(src, ':');

	if (src[0] != '/' && colon != NULL) {
		if ((size_t)(colon - src) == 2 && strncmp(src, "db", 2) == 0)
			return table_db(P, t, colon + 1, pos);
		if ((size_t)(colon - src) != 4 || strncmp(src, "file", 4) != 0)
			return table_backend(P, t, src, (size_t)(colon - src), pos);
		src = colon + 1;
	} else if (src[0] != '/') {
		return rules_fail(P->err, pos,
		                  "invalid table \"%s\": expected { ... }, file:/path or /path", src);
	}
	if (src[0] == '\0')
		return rules_fail(P->err, pos, "table file name is empty");
	if (rules_p_file_path(P, src, path, sizeof path, pos) < 0)
		return -1;
	if (P->ast->data_files_unread)
		return 0;
	return rules_tab_load_file(t, path, pos, P->err);
}

/* table NAME { ... } | table NAME backend:/path; 0 or -1. */
static int
parse_table(struct rules_parser *P)
{
	char name[RULES_NAME_BYTES_MAX], src[RULES_PATH_BYTES_MAX];
	struct rules_ast *a = P->ast;
	const struct rules_tok *n;
	struct rules_tab *t;
	struct rules_pos pos, spos;
	int r;

	rules_p_advance(P);
	if (rules_p_take_name(P, name, sizeof name, "a table name", &pos) < 0 ||
	    (n = rules_p_peek(P, 0)) == NULL)
		return -1;
	if ((t = rules_tab_new(name, &pos)) == NULL ||
	    rules_grow(&a->tables, &a->captables, a->ntables, sizeof *a->tables) < 0) {
		rules_tab_free(t);
		return rules_fail(P->err, &pos, "out of memory");
	}
	a->tables[a->ntables++] = t;
	if (rules_p_is_punct(n, '{'))
		r = parse_table_body(P, t);
	else if ((r = rules_p_take_value(P, src, sizeof src, "{, file:/path or /path", &spos)) == 0)
		r = table_from_source(P, t, src, &spos);
	if (r < 0 || rules_p_expect_end(P) < 0)
		return -1;
	return rules_tab_finish(t) < 0 ? rules_fail(P->err, &pos, "out of memory") : 0;
}

/* <name>, { a, b }, or one value (an inline table of one); 0 or -1. */
int
rules_p_tables(struct rules_parser *P, struct rules_tabref *ref, int *regex)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_tab *tab;

	if (t != NULL && rules_p_is_word(t, "regex")) {
		if (regex == NULL)
			return rules_fail(P->err, &t->pos, "\"regex\" is not allowed here");
		*regex = 1;
		rules_p_advance(P);
		t = rules_p_peek(P, 0);
	}
	if (t == NULL)
		return -1;
	ref->pos = t->pos;
	ref->seen = P->ast->ntables;
	if (rules_p_is_punct(t, '<')) {
		rules_p_advance(P);
		if (rules_p_take_name(P, ref->name, sizeof ref->name, "a table name after \"<\"",
		                      NULL) < 0 || (t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_is_punct(t, '>'))
			return rules_p_fail_got(P, t, "expected \">\" after the table name");
		rules_p_advance(P);
		return 0;
	}
	if (!rules_p_is_value(t) && !rules_p_is_punct(t, '{'))
		return rules_p_fail_got(P, t, "expected <table>, { ... } or a value");
	if ((tab = rules_tab_new(NULL, &t->pos)) == NULL || keep_inline(P, tab) < 0)
		return rules_fail(P->err, &ref->pos, "out of memory");
	ref->inl = tab;
	if (rules_p_is_punct(t, '{')) {
		if (parse_table_body(P, tab) < 0)
			return -1;
	} else {
		if (rules_tab_add_at(tab, t->text, NULL, &t->pos) < 0)
			return rules_fail(P->err, &t->pos, "out of memory");
		rules_p_advance(P);
	}
	return rules_tab_finish(tab) < 0 ? rules_fail(P->err, &ref->pos, "out of memory") : 0;
}

/* A table used by listen or action options; kept for check.c; 0 or -1. */
int
rules_p_table_use(struct rules_parser *P, enum rules_tab_use use, const char *what)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_tabuse u;

	memset(&u, 0, sizeof u);
	u.use = use;
	snprintf(u.what, sizeof u.what, "%s", what);
	if (rules_p_tables(P, &u.ref, NULL) < 0)
		return -1;
	if (rules_grow(&a->uses, &a->capuses, a->nuses, sizeof *a->uses) < 0)
		return rules_fail(P->err, &u.ref.pos, "out of memory");
	a->uses[a->nuses++] = u;
	return 0;
}

/* The declaration of kind named name, or NULL. */
struct rules_ast_decl *
rules_p_decl_find(struct rules_ast *ast, enum rules_decl_kind kind, const char *name)
{
	unsigned i;

	for (i = 0; i < ast->ndecls; i++)
		if (ast->decls[i].kind == kind && strcmp(ast->decls[i].name, name) == 0)
			return &ast->decls[i];
	return NULL;
}

/* Append a declaration; NULL (error set) when out of memory. */
struct rules_ast_decl *
rules_p_decl_add(struct rules_parser *P, enum rules_decl_kind kind, const char *name,
                 const struct rules_pos *pos)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_decl *d;

	if (rules_grow(&a->decls, &a->capdecls, a->ndecls, sizeof *a->decls) < 0) {
		rules_fail(P->err, pos, "out of memory");
		return NULL;
	}
	d = &a->decls[a->ndecls++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	snprintf(d->name, sizeof d->name, "%s", name);
	d->pos = *pos;
	return d;
}

/* Record a reference to a named object at the next token; 0 or -1. */
int
rules_p_ref(struct rules_parser *P, enum rules_decl_kind kind, const char *what, int in_chain)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_ref r;

	memset(&r, 0, sizeof r);
	r.kind = kind;
	r.seen = a->ndecls;
	r.in_chain = in_chain;
	if (rules_p_take_name(P, r.name, sizeof r.name, what, &r.pos) < 0)
		return -1;
	if (rules_grow(&a->refs, &a->caprefs, a->nrefs, sizeof *a->refs) < 0)
		return rules_fail(P->err, &r.pos, "out of memory");
	a->refs[a->nrefs++] = r;
	return 0;
}

/* One filter name of a chain, not twice in it (first: the chain's first
 * reference); 0 or -1. */
static int
filter_chain_entry(struct rules_parser *P, void *arg)
{
	unsigned first = *(unsigned *)arg;

	if (rules_p_ref(P, RULES_DECL_FILTER, "a filter name", 1) < 0)
		return -1;
	for (unsigned i = first; i + 1 < P->ast->nrefs; i++)
		if (strcmp(P->ast->refs[i].name, P->ast->refs[P->ast->nrefs - 1].name) == 0)
			return rules_fail(P->err, &P->ast->refs[P->ast->nrefs - 1].pos,
			                  "filter \"%s\" is twice in this chain", P->ast->refs[i].name);
	return 0;
}

/* "{ a, b }" of filter names, the '{' next; 0 or -1. */
int
rules_p_filter_chain(struct rules_parser *P)
{
	unsigned first = P->ast->nrefs;
	return rules_p_brace_list(P, "filter chain", 0, filter_chain_entry, &first);
}

/* Check a %{...} template written at pos; %{mda} only in a wrapper; 0 or -1. */
int
rules_p_format(struct rules_parser *P, const char *tmpl, const struct rules_pos *pos,
               int wrapper)
{
	char msg[RULES_ERROR_BYTES_MAX / 2];
	const char *bad, *p;
	int r = rules_expand_check(tmpl, &bad, msg, sizeof msg);

	if (r < 0)
		return rules_fail(P->err, pos, "%s", msg);
	for (p = tmpl; !wrapper && (p = strchr(p, '%')) != NULL; p += p[1] == '%' ? 2 : 1)
		if (p[1] == '{' && strncasecmp(p + 2, "mda", 3) == 0 && p[5] && strchr("}[:", p[5]))
			return rules_fail(P->err, pos, "%%{mda} stands for the command an mda wrapper "
			                  "wraps: only in \"mda wrapper\" commands");
	if (r > 0)
		return rules_p_unsupported(P, pos, "format \"%.*s\"", (int)(strchr(bad, '}') - bad + 1),
		                           bad);
	return 0;
}

/* Statements recognised by their first word. */
static const struct {
	const char *keyword;
	int (*parse)(struct rules_parser *);
} statements[] = {
	{ "include", parse_include },
	{ "table", parse_table },
	{ "listen", rules_parse_listen },
	{ "action", rules_parse_action },
	{ "match", rules_parse_match },
	{ "queue", rules_parse_queue },
	{ "smtp", rules_parse_smtp },
	{ "pki", rules_parse_pki },
	{ "ca", rules_parse_ca },
	{ "mta", rules_parse_mta },
	{ "mda", rules_parse_mda },
	{ "bounce", rules_parse_bounce },
	{ "srs", rules_parse_srs },
	{ "admd", rules_parse_admd },
	{ "scheduler", rules_parse_scheduler },
	{ "proc", rules_parse_proc },
	{ "filter", rules_parse_filter },
	{ "metrics", rules_parse_metrics },
	{ "geoip", rules_parse_geoip },
	{ "milter", rules_parse_milter },
};

static const char *const statement_words[] = {
	"include", "table", "listen", "action", "match", "queue", "smtp", "pki", "ca", "mta",
	"mda", "bounce", "srs", "admd", "scheduler", "proc", "filter", "metrics", "geoip",
	"milter", NULL,
};

/* One statement; 1 at the end of input, 0 after a statement, -1 on error. */
static int
parse_statement(struct rules_parser *P)
{
	const struct rules_tok *t = rules_p_peek(P, 0), *n;
	size_t i;

	if (t == NULL)
		return -1;
	if (t->kind == RULES_TOK_EOF)
		return 1;
	if (t->kind == RULES_TOK_NEWLINE) {
		rules_p_advance(P);
		return 0;
	}
	if (t->kind == RULES_TOK_WORD)
		for (i = 0; i < sizeof statements / sizeof statements[0]; i++)
			if (strcmp(t->text, statements[i].keyword) == 0)
				return statements[i].parse(P);
	if (rules_p_is_value(t)) {
		if ((n = rules_p_peek(P, 1)) == NULL)
			return -1;
		t = &P->la[0];
		if (rules_p_is_punct(n, '='))
			return parse_macro(P);
	}
	if (t->kind == RULES_TOK_WORD)
		return rules_p_unknown(P, t, "keyword", statement_words);
	return rules_p_fail_got(P, t, "expected a statement");
}

/* Parse the whole input into ast; 0 or -1 with err filled. */
int
rules_parse(struct rules_lexer *lx, const struct rules_parse_ctx *ctx, struct rules_ast *ast,
            struct rules_error *err)
{
	struct rules_parser *P = calloc(1, sizeof *P);
	int r;

	if (P == NULL)
		return rules_fail(err, NULL, "out of memory");
	P->lx = lx;
	P->ctx = ctx;
	P->ast = ast;
	P->err = err;
	ast->data_files_unread = ctx->params != NULL && ctx->params->skip_data_files;
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
	free(ast->uses);
	free(ast->decls);
	free(ast->refs);
	free(ast->filters);
	free(ast->milters);
	free(ast->unsupported);
	free(ast->mta_limits);
	free(ast->warnings);
	explicit_bzero(ast->queue_key, sizeof ast->queue_key);
	explicit_bzero(ast->srs_key_text, sizeof ast->srs_key_text);
	explicit_bzero(ast->srs_key_backup, sizeof ast->srs_key_backup);
	memset(ast, 0, sizeof *ast);
}
