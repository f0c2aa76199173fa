/*
 * rules/load.c - the entry points: rules_load_file() and rules_load_string()
 * run lexer, parser, checker and compiler in turn and stop at the first
 * error; rules_error_format() prints "file:line:column: message" and
 * rules_error_format_long() adds the line with a caret under the column;
 * rules_runtime_check() and rules_warning_format() report what a loaded
 * config uses that the daemon does not implement. A file that fails to
 * parse and holds statements of the grammar before OpenSMTPD 6.4 gets an
 * error at the first of them that points to "smtpd --convert". Shared
 * helpers of rules/ (rules_fail, rules_grow) live here too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/convert.h"
#include "rules/rules_int.h"

/* Fill err with a place and a message; returns -1 for "return rules_fail()". */
int
rules_fail(struct rules_error *err, const struct rules_pos *pos, const char *fmt, ...)
{
	va_list ap;

	if (pos != NULL && pos->file != NULL) {
		snprintf(err->file, sizeof err->file, "%s", pos->file);
		err->line = pos->line;
		err->column = pos->column;
	} else {
		err->line = err->column = 0;
	}
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Make room for item n in a growable array; 0 or -1 (out of memory). */
int
rules_grow(void *arr, unsigned *cap, unsigned n, size_t elem)
{
	void **p = arr, *q;
	unsigned ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap <= n || ncap > (1u << 28) || (q = realloc(*p, (size_t)ncap * elem)) == NULL)
		return -1;
	*p = q;
	*cap = ncap;
	return 0;
}

/* Hostname and absolute base folder from the params (or the machine). */
static int
load_ctx(struct rules_parse_ctx *ctx, const struct rules_load_params *p, struct rules_error *err)
{
	char cwd[RULES_PATH_BYTES_MAX];

	memset(ctx, 0, sizeof *ctx);
	ctx->params = p;
	if (p && p->hostname && p->hostname[0])
		snprintf(ctx->hostname, sizeof ctx->hostname, "%s", p->hostname);
	else if (gethostname(ctx->hostname, sizeof ctx->hostname - 1) < 0 || !ctx->hostname[0])
		snprintf(ctx->hostname, sizeof ctx->hostname, "localhost");
	if (p && p->base_dir && p->base_dir[0] == '/') {
		snprintf(ctx->base_dir, sizeof ctx->base_dir, "%s", p->base_dir);
		return 0;
	}
	if (getcwd(cwd, sizeof cwd) == NULL)
		return rules_fail(err, NULL, "cannot find the current folder: %s", strerror(errno));
	if (rules_path_resolve(cwd, p && p->base_dir ? p->base_dir : ".", ctx->base_dir,
	                       sizeof ctx->base_dir) < 0)
		return rules_fail(err, NULL, "base folder path too long");
	return 0;
}

/* After a failed parse: when the top file is in the grammar before
 * OpenSMTPD 6.4, the error is that, at its first old statement. */
static void
load_old_grammar(const struct rules_lexer *lx, struct rules_error *err)
{
	struct rules_conversion cv;
	struct rules_error cerr;
	struct rules_pos pos;

	if (lx->ntexts == 0 ||
	    rules_convert_string(lx->texts[0].file, lx->texts[0].text, lx->texts[0].len, &cv,
	                         &cerr) < 0)
		return;
	if (cv.old_line > 0) {
		pos.file = lx->texts[0].file;
		pos.line = cv.old_line;
		pos.column = cv.old_column;
		rules_fail(err, &pos, "\"%s\" is the smtpd.conf grammar before OpenSMTPD 6.4: "
		           "\"smtpd --convert %s\" prints the modern equivalent", cv.old_word, pos.file);
	}
	rules_conversion_free(&cv);
}

/* Parse, check and compile what lx holds; the config or NULL. */
static struct rules_config *
load_run(struct rules_lexer *lx, const struct rules_parse_ctx *ctx, const char *file,
         struct rules_error *err)
{
	struct rules_config *c = NULL;
	struct rules_ast ast;

	memset(&ast, 0, sizeof ast);
	if (rules_parse(lx, ctx, &ast, err) < 0)
		load_old_grammar(lx, err);
	else if (rules_check(&ast, err) == 0)
		c = rules_compile(&ast, ctx, file, err);
	if (c == NULL && err->line > 0 && !err->secret_line &&
	    rules_lex_line(lx, err->file, err->line, err->text, sizeof err->text) < 0)
		err->text[0] = '\0';
	rules_ast_free(&ast);
	rules_lex_free(lx);
	return c;
}

/* Set up the lexer with the -D macros; 0 or -1. */
static int
load_begin(struct rules_lexer *lx, const struct rules_load_params *p, struct rules_error *err)
{
	unsigned i;

	rules_lex_init(lx, err);
	for (i = 0; p && i < p->ndefines; i++) {
		if (p->defines[i].name == NULL || p->defines[i].value == NULL)
			continue;
		if (rules_lex_define(lx, p->defines[i].name, p->defines[i].value, 1) < 0) {
			rules_lex_free(lx);
			return rules_fail(err, NULL, "out of memory");
		}
	}
	return 0;
}

/* Load a configuration file; NULL with err filled on any error. */
struct rules_config *
rules_load_file(const char *path, const struct rules_load_params *p, struct rules_error *err)
{
	struct rules_parse_ctx ctx;
	struct rules_lexer lx;

	memset(err, 0, sizeof *err);
	snprintf(err->file, sizeof err->file, "%s", path);
	if (load_ctx(&ctx, p, err) < 0 || load_begin(&lx, p, err) < 0)
		return NULL;
	if (rules_lex_push_file(&lx, path, NULL) < 0) {
		rules_lex_free(&lx);
		snprintf(err->file, sizeof err->file, "%s", path);
		return NULL;
	}
	return load_run(&lx, &ctx, path, err);
}

/* Load a configuration held in memory; name stands for the file. */
struct rules_config *
rules_load_string(const char *name, const char *text, const struct rules_load_params *p,
                  struct rules_error *err)
{
	struct rules_parse_ctx ctx;
	struct rules_lexer lx;

	memset(err, 0, sizeof *err);
	snprintf(err->file, sizeof err->file, "%s", name);
	if (load_ctx(&ctx, p, err) < 0 || load_begin(&lx, p, err) < 0)
		return NULL;
	if (rules_lex_push_text(&lx, name, text, strlen(text), ctx.base_dir, NULL) < 0) {
		rules_lex_free(&lx);
		return NULL;
	}
	return load_run(&lx, &ctx, name, err);
}

/* Print err as "file:line:column: message" (or "file: message"). */
void
rules_error_format(const struct rules_error *err, char *buf, size_t cap)
{
	if (err->line > 0)
		snprintf(buf, cap, "%s:%u:%u: %s", err->file, err->line, err->column, err->message);
	else
		snprintf(buf, cap, "%s: %s", err->file, err->message);
}

/* Print err with its line and a caret under the column (see rules.h). */
void
rules_error_format_long(const struct rules_error *err, char *buf, size_t cap)
{
	size_t len, i;
	int n;

	rules_error_format(err, buf, cap);
	len = strlen(buf);
	if (err->line == 0 || err->column == 0 || err->text[0] == '\0' ||
	    err->column > strlen(err->text) + 1)
		return;
	n = snprintf(buf + len, cap - len, "\n  %s\n  ", err->text);
	if (n < 0 || (size_t)n >= cap - len)
		return;
	len += (size_t)n;
	/* keep tabs so the caret lines up under tabs of the text */
	for (i = 0; i + 1 < err->column && len + 2 < cap; i++)
		buf[len++] = err->text[i] == '\t' ? '\t' : ' ';
	if (len + 2 <= cap) {
		buf[len++] = '^';
		buf[len] = '\0';
	}
}

/* Refuse a config with usages the daemon does not implement (rules.h). */
int
rules_runtime_check(const struct rules_config *c, struct rules_error *err)
{
	const struct rules_unsupported *u;

	memset(err, 0, sizeof *err);
	if (c->nunsupported == 0)
		return 0;
	u = &c->unsupported[0];
	snprintf(err->file, sizeof err->file, "%s", u->file);
	err->line = u->line;
	err->column = u->column;
	snprintf(err->message, sizeof err->message, "%s is not supported yet", u->what);
	return -1;
}

/* The i-th warning line for smtpd -n; 1, or 0 past the end (rules.h). */
int
rules_warning_format(const struct rules_config *c, unsigned i, char *buf, size_t cap)
{
	const struct rules_unsupported *u;
	const struct rules_warning *w;

	if (i < c->nwarnings) {
		w = &c->warnings[i];
		snprintf(buf, cap, "%s:%u:%u: warning: %s", w->file, w->line, w->column, w->message);
		return 1;
	}
	if (i - c->nwarnings >= c->nunsupported)
		return 0;
	u = &c->unsupported[i - c->nwarnings];
	snprintf(buf, cap, "%s:%u:%u: warning: %s is not supported yet, smtpd will refuse to start "
	         "with this configuration", u->file, u->line, u->column, u->what);
	return 1;
}
