/*
 * rules/lexer.c - smtpd.conf tokens with their line:column, in the lexical
 * rules of OpenSMTPD's parse.y: '#' comments, backslash-newline joins lines,
 * "double" and 'single' quoted strings (\" \' \<space> \<tab> escapes, a
 * raw newline inside quotes is dropped), bare words (a backslash in them is
 * dropped, as parse.y's lgetc() does), the punctuation
 * { } < > ! = , and newlines as statement ends. $name expands a macro: its
 * value is lexed again, without further expansion, and its tokens carry the
 * position of the '$' (with raw_macros set, $name is a word as written).
 * include pushes a file; the end of every file yields one newline token.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

/* Call once before anything else; the lexer then owns nothing yet. */
void
rules_lex_init(struct rules_lexer *lx, struct rules_error *err)
{
	memset(lx, 0, sizeof *lx);
	lx->err = err;
}

/* Call when the load is over; frees sources, macros and kept names. */
void
rules_lex_free(struct rules_lexer *lx)
{
	unsigned i;

	for (i = 0; i < lx->depth; i++)
		if (lx->src[i].expansion)
			free(lx->src[i].text);
	for (i = 0; i < lx->ntexts; i++)
		free(lx->texts[i].text);
	free(lx->texts);
	for (i = 0; i < lx->nmacros; i++) {
		free(lx->macros[i].name);
		free(lx->macros[i].value);
	}
	for (i = 0; i < lx->nnames; i++)
		free(lx->names[i]);
	free(lx->macros);
	free(lx->names);
	memset(lx, 0, sizeof *lx);
}

/* Call to keep a string alive for the whole load; returns the copy or NULL. */
const char *
rules_lex_keep(struct rules_lexer *lx, const char *s)
{
	char *copy;

	if (rules_grow(&lx->names, &lx->capnames, lx->nnames, sizeof *lx->names) < 0)
		return NULL;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	lx->names[lx->nnames++] = copy;
	return copy;
}

/* Call to push a source; returns 0 or -1 when the stack is full. */
static int
lex_push(struct rules_lexer *lx, char *text, size_t len, const struct rules_pos *at)
{
	struct rules_src *s;

	if (lx->depth == RULES_LEX_SOURCES_MAX)
		return rules_fail(lx->err, at, "include nested too deeply");
	s = &lx->src[lx->depth++];
	memset(s, 0, sizeof *s);
	s->text = text;
	s->len = len;
	s->line = 1;
	s->column = 1;
	return 0;
}

/* Call with a config text; copies it; 0 or -1. */
int
rules_lex_push_text(struct rules_lexer *lx, const char *name, const char *text, size_t len,
                    const char *dir, const struct rules_pos *at)
{
	struct rules_src *s;
	const char *kname, *kdir;
	char *copy;

	if (lx->files >= RULES_INCLUDE_DEPTH_MAX)
		return rules_fail(lx->err, at, "include nested too deeply");
	kname = rules_lex_keep(lx, name);
	kdir = rules_lex_keep(lx, dir);
	if (kname == NULL || kdir == NULL ||
	    rules_grow(&lx->texts, &lx->captexts, lx->ntexts, sizeof *lx->texts) < 0 ||
	    (copy = malloc(len + 1)) == NULL)
		return rules_fail(lx->err, at, "out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (lex_push(lx, copy, len, at) < 0) {
		free(copy);
		return -1;
	}
	/* the text outlives its source: error messages quote its lines */
	lx->texts[lx->ntexts].file = kname;
	lx->texts[lx->ntexts].text = copy;
	lx->texts[lx->ntexts++].len = len;
	s = &lx->src[lx->depth - 1];
	s->file = kname;
	s->dir = (char *)kdir;
	lx->files++;
	return 0;
}

/* Read path and push it as a source; errors point at at; 0 or -1. */
int
rules_lex_push_file(struct rules_lexer *lx, const char *path, const struct rules_pos *at)
{
	char dir[RULES_PATH_BYTES_MAX], *slash;
	uint8_t *text = NULL;
	size_t len = 0;
	int r;

	if (rules_read_regular(path, RULES_FILE_BYTES_MAX, &text, &len) < 0)
		return rules_fail(lx->err, at, "cannot read \"%s\": %s", path,
		                  rules_open_error(errno));
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	r = rules_lex_push_text(lx, path, (const char *)text, len, dir, at);
	free(text);
	return r;
}

/* Folder of the innermost file being read. */
const char *
rules_lex_dir(const struct rules_lexer *lx)
{
	unsigned i;

	for (i = lx->depth; i > 0; i--)
		if (!lx->src[i - 1].expansion)
			return lx->src[i - 1].dir;
	return ".";
}

/* Call to define a macro; a -D (persist) one is never replaced; 0 or -1. */
int
rules_lex_define(struct rules_lexer *lx, const char *name, const char *value, int persist)
{
	struct rules_macro *m;
	char *v;
	unsigned i;

	for (i = 0; i < lx->nmacros; i++) {
		m = &lx->macros[i];
		if (strcmp(m->name, name) != 0)
			continue;
		if (m->persist && !persist)
			return 0;
		if ((v = strdup(value)) == NULL)
			return -1;
		free(m->value);
		m->value = v;
		m->persist = persist;
		return 0;
	}
	if (rules_grow(&lx->macros, &lx->capmacros, lx->nmacros, sizeof *lx->macros) < 0)
		return -1;
	m = &lx->macros[lx->nmacros];
	m->name = strdup(name);
	m->value = strdup(value);
	m->persist = persist;
	if (m->name == NULL || m->value == NULL) {
		free(m->name);
		free(m->value);
		return -1;
	}
	lx->nmacros++;
	return 0;
}

/* The byte at the cursor of s, or -1 at its end. */
static int
src_peek(const struct rules_src *s, size_t ahead)
{
	if (s->off + ahead >= s->len)
		return -1;
	return (unsigned char)s->text[s->off + ahead];
}

/* Consume one byte, keeping line and column. */
static void
src_advance(struct rules_src *s)
{
	if (s->text[s->off] == '\n') {
		s->line++;
		s->column = 1;
	} else {
		s->column++;
	}
	s->off++;
}

/* The position of the cursor, or the stamp inside a macro expansion. */
static struct rules_pos
src_pos(const struct rules_src *s)
{
	struct rules_pos p;

	if (s->expansion)
		return s->stamp;
	p.file = s->file;
	p.line = s->line;
	p.column = s->column;
	return p;
}

/* OpenSMTPD's allowed_in_string(): what may continue a bare word. */
static int
lex_word_char(int c)
{
	if (c < 0 || c >= 0x80)
		return 0;
	if (isalnum(c))
		return 1;
	return ispunct(c) && strchr("(){}<>!=#,\"'", c) == NULL;
}

/* Append c to tok; -1 if the token is too long. */
static int
tok_put(struct rules_lexer *lx, struct rules_tok *tok, int c)
{
	if (tok->len + 1 >= sizeof tok->text)
		return rules_fail(lx->err, &tok->pos, "token too long (more than %u bytes)",
		                  (unsigned)sizeof tok->text - 1);
	tok->text[tok->len++] = (char)c;
	tok->text[tok->len] = '\0';
	return 0;
}

/* Lex a quoted string whose quote is at the cursor; 0 or -1. */
static int
lex_string(struct rules_lexer *lx, struct rules_src *s, struct rules_tok *tok)
{
	int q = src_peek(s, 0), c, next;

	tok->kind = RULES_TOK_STRING;
	src_advance(s);
	for (;;) {
		if ((c = src_peek(s, 0)) < 0)
			return rules_fail(lx->err, &tok->pos, "unterminated string");
		src_advance(s);
		if (c == q)
			return 0;
		if (c == '\n')
			continue;
		if (c == 0)
			return rules_fail(lx->err, &tok->pos, "NUL byte in string");
		if (c == '\\') {
			next = src_peek(s, 0);
			if (next == q || next == ' ' || next == '\t') {
				c = next;
				src_advance(s);
			} else if (next == '\n') {
				src_advance(s);
				continue;
			}
		}
		if (tok_put(lx, tok, c) < 0)
			return -1;
	}
}

/* Skip blanks, comments and backslash-newlines at the cursor. */
static void
lex_skip(struct rules_src *s)
{
	int c;

	for (;;) {
		c = src_peek(s, 0);
		if (c == ' ' || c == '\t' || c == '\r') {
			src_advance(s);
		} else if (c == '\\' && src_peek(s, 1) == '\n') {
			src_advance(s);
			src_advance(s);
		} else if (c == '#') {
			while ((c = src_peek(s, 0)) >= 0 && c != '\n')
				src_advance(s);
		} else {
			return;
		}
	}
}

/* Expand $name at the cursor by pushing the macro's value; 0 or -1. */
static int
lex_macro(struct rules_lexer *lx, struct rules_src *s)
{
	struct rules_pos at = src_pos(s);
	char name[RULES_NAME_BYTES_MAX];
	size_t n = 0;
	unsigned i;
	int c;

	src_advance(s);
	while ((c = src_peek(s, 0)) >= 0 && c < 0x80 && (isalnum(c) || c == '_')) {
		if (n + 1 >= sizeof name)
			return rules_fail(lx->err, &at, "macro name too long");
		name[n++] = (char)c;
		src_advance(s);
	}
	name[n] = '\0';
	if (n == 0)
		return rules_fail(lx->err, &at, "expected a macro name after \"$\"");
	for (i = 0; i < lx->nmacros; i++)
		if (strcmp(lx->macros[i].name, name) == 0)
			break;
	if (i == lx->nmacros)
		return rules_fail(lx->err, &at, "macro \"%s\" is not defined", name);
	if (lex_push(lx, strdup(lx->macros[i].value), strlen(lx->macros[i].value), &at) < 0)
		return -1;
	if (lx->src[lx->depth - 1].text == NULL)
		return rules_fail(lx->err, &at, "out of memory");
	lx->src[lx->depth - 1].expansion = 1;
	lx->src[lx->depth - 1].stamp = at;
	lx->src[lx->depth - 1].file = at.file;
	return 0;
}

/* At the end of the innermost source: newline once for a file, then pop.
 * Returns 1 when tok was filled, 0 to go on reading. */
static int
lex_end_of_source(struct rules_lexer *lx, struct rules_tok *tok)
{
	struct rules_src *s = &lx->src[lx->depth - 1];

	if (!s->expansion && !s->newline_sent) {
		s->newline_sent = 1;
		tok->kind = RULES_TOK_NEWLINE;
		tok->pos = src_pos(s);
		return 1;
	}
	if (!s->expansion) {
		lx->files--;
		lx->eof_pos = src_pos(s);
	} else {
		free(s->text);
	}
	lx->depth--;
	return 0;
}

/* Lex one token at the cursor of s (blanks skipped); 1 filled, 0 again, -1. */
static int
lex_one(struct rules_lexer *lx, struct rules_src *s, struct rules_tok *tok)
{
	int c = src_peek(s, 0);

	tok->pos = src_pos(s);
	if (c == '\n') {
		src_advance(s);
		tok->kind = RULES_TOK_NEWLINE;
		return 1;
	}
	if (c == '"' || c == '\'')
		return lex_string(lx, s, tok) < 0 ? -1 : 1;
	if (c == '$' && !s->expansion && !lx->raw_macros)
		return lex_macro(lx, s) < 0 ? -1 : 0;
	if (c >= 0 && strchr("{}<>!=,", c) != NULL && c != 0) {
		src_advance(s);
		tok->kind = RULES_TOK_PUNCT;
		tok->text[0] = (char)c;
		tok->text[1] = '\0';
		tok->len = 1;
		return 1;
	}
	if (!lex_word_char(c)) {
		if (c >= 0x20 && c < 0x7f)
			return rules_fail(lx->err, &tok->pos, "unexpected character '%c'", c);
		return rules_fail(lx->err, &tok->pos, "unexpected byte 0x%02x", (unsigned)c);
	}
	tok->kind = RULES_TOK_WORD;
	while (lex_word_char(c = src_peek(s, 0))) {
		if (c == '\\') {
			/* parse.y lgetc(): a backslash is dropped, with a newline after it */
			src_advance(s);
			if (src_peek(s, 0) == '\n')
				src_advance(s);
			continue;
		}
		if (tok_put(lx, tok, c) < 0)
			return -1;
		src_advance(s);
	}
	return tok->len > 0;
}

/* Call for each token in turn; 0 with tok filled (EOF at the end), or -1. */
int
rules_lex_next(struct rules_lexer *lx, struct rules_tok *tok)
{
	struct rules_src *s;
	int r;

	for (;;) {
		tok->len = 0;
		tok->text[0] = '\0';
		if (lx->depth == 0) {
			tok->kind = RULES_TOK_EOF;
			tok->pos = lx->eof_pos;
			return 0;
		}
		s = &lx->src[lx->depth - 1];
		lex_skip(s);
		if (src_peek(s, 0) < 0) {
			if (lex_end_of_source(lx, tok))
				return 0;
			continue;
		}
		if ((r = lex_one(lx, s, tok)) != 0)
			return r < 0 ? -1 : 0;
	}
}

/* Copy line (1-based) of the file named file into out; 0 or -1. */
int
rules_lex_line(const struct rules_lexer *lx, const char *file, unsigned line, char *out,
               size_t cap)
{
	const char *p, *end, *nl;
	unsigned i, n;

	for (i = 0; i < lx->ntexts; i++) {
		if (strcmp(lx->texts[i].file, file) != 0)
			continue;
		p = lx->texts[i].text;
		end = p + lx->texts[i].len;
		for (n = 1; n < line && p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
		     n++)
			p = nl + 1;
		if (n != line || p > end)
			return -1;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (unsigned)((nl ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		snprintf(out, cap, "%.*s", (int)n, p);
		return 0;
	}
	return -1;
}

/* Write how tok reads in a message into buf. */
void
rules_tok_describe(const struct rules_tok *tok, char *buf, size_t cap)
{
	switch (tok->kind) {
	case RULES_TOK_EOF:
		snprintf(buf, cap, "end of file");
		break;
	case RULES_TOK_NEWLINE:
		snprintf(buf, cap, "end of line");
		break;
	default:
		if (tok->len > 40)
			snprintf(buf, cap, "\"%.40s...\"", tok->text);
		else
			snprintf(buf, cap, "\"%s\"", tok->text);
		break;
	}
}
