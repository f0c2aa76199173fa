/*
 * rules/convert.c - the pre-6.4 smtpd.conf grammar into the modern one
 * (convert.h). The text is lexed by lexer.c with macros kept as written and
 * cut into statements (a newline outside { } ends one). A statement of the
 * old grammar is rewritten; any other is copied line for line, with the
 * blank and comment lines between statements. The action lines of a run of
 * consecutive rules are gathered and put before the run (before the comment
 * lines just above its first rule), so they follow every table declared
 * before the run. Strings are copied as written in the source, so their
 * escapes stay what they were.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/convert.h"
#include "rules/rules_int.h"

#define CONV_OUT_BYTES_MAX (2 * (size_t)RULES_FILE_BYTES_MAX) /* the modern text */
#define CONV_STATEMENT_TOKENS_MAX 65536u  /* tokens in one statement */
#define CONV_WHY_BYTES_MAX 160            /* reason a statement is not converted */
#define CONV_NONE SIZE_MAX

/* A growable text; a failed append (memory, size) sticks until checked. */
struct conv_buf {
	char *p;
	size_t len, cap;
	int failed;
};

struct conv_tok {
	enum rules_tok_kind kind;
	unsigned line, column;
	size_t text;               /* offset of its NUL-terminated text in the arena */
};

struct conv_decl {
	char name[RULES_NAME_BYTES_MAX];
	const char *base;          /* what it does: "local_maildir" */
	char *def;                 /* what follows the name: "maildir alias <aliases>" */
};

struct conv {
	struct rules_lexer lx;
	struct rules_error *err;
	struct rules_conversion *res;
	const char *name;
	const char *src;           /* the text as read */
	size_t srclen;
	size_t *lines;             /* where each line starts */
	unsigned nlines;
	unsigned copied;           /* lines before this (1-based) are handled */
	struct conv_buf out;
	struct conv_buf acts;      /* action lines of the current run of rules */
	size_t run_at;             /* where they go in out, CONV_NONE: no run */
	size_t comments_at;        /* start of the comment lines just written */
	struct conv_tok *toks;     /* the statement */
	unsigned ntoks, captoks;
	struct conv_buf arena;
	unsigned first, last;      /* its lines */
	struct conv_decl *decls;
	unsigned ndecls, capdecls;
	char why[CONV_WHY_BYTES_MAX]; /* set by a converter that gives up */
	unsigned why_tok;
};

/* ---- text buffers ---- */

/* Append n bytes of s to b; failures stick in b->failed. */
static void
buf_put(struct conv_buf *b, const char *s, size_t n)
{
	size_t ncap;
	char *q;

	if (b->failed)
		return;
	if (n > CONV_OUT_BYTES_MAX - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((q = realloc(b->p, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_puts(struct conv_buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void
buf_printf(struct conv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a formatted text (short: names and keywords) to b. */
static void
buf_printf(struct conv_buf *b, const char *fmt, ...)
{
	char tmp[RULES_NAME_BYTES_MAX * 2 + RULES_TOK_BYTES_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		b->failed = 1;
	else
		buf_put(b, tmp, (size_t)n);
}

/* Insert n bytes of s at offset at of b. */
static void
buf_insert(struct conv_buf *b, size_t at, const char *s, size_t n)
{
	size_t old = b->len;

	buf_put(b, s, n);
	if (b->failed)
		return;
	memmove(b->p + at + n, b->p + at, old - at);
	memcpy(b->p + at, s, n);
}

static void
buf_free(struct conv_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- the source text ---- */

/* Index where each line of the source starts; 0 or -1. */
static int
conv_index_lines(struct conv *C)
{
	size_t i, n = 1;

	for (i = 0; i < C->srclen; i++)
		if (C->src[i] == '\n' && i + 1 < C->srclen)
			n++;
	if (n > UINT32_MAX / 2 || (C->lines = calloc(n, sizeof *C->lines)) == NULL)
		return rules_fail(C->err, NULL, "out of memory");
	if (C->srclen == 0)
		return 0;  /* no line at all */
	C->nlines = 1;
	for (i = 0; i < C->srclen; i++)
		if (C->src[i] == '\n' && i + 1 < C->srclen)
			C->lines[C->nlines++] = i + 1;
	return 0;
}

/* Start and end (after its newline) of line (1-based). */
static void
line_span(const struct conv *C, unsigned line, size_t *start, size_t *end)
{
	*start = C->lines[line - 1];
	*end = line < C->nlines ? C->lines[line] : C->srclen;
}

/* Offset of line:column in the source, or CONV_NONE. */
static size_t
src_offset(const struct conv *C, unsigned line, unsigned column)
{
	size_t start, end;

	if (line == 0 || line > C->nlines || column == 0)
		return CONV_NONE;
	line_span(C, line, &start, &end);
	return column - 1 < end - start ? start + column - 1 : CONV_NONE;
}

/* Append line (1-based) to out as written, ending in a newline. */
static void
copy_line(struct conv *C, unsigned line, const char *prefix)
{
	size_t start, end;

	line_span(C, line, &start, &end);
	buf_puts(&C->out, prefix);
	buf_put(&C->out, C->src + start, end - start);
	if (end == start || C->src[end - 1] != '\n')
		buf_puts(&C->out, "\n");
}

/* 1 if line holds only blanks (a comment line is not blank). */
static int
line_blank(const struct conv *C, unsigned line)
{
	size_t start, end;

	line_span(C, line, &start, &end);
	for (; start < end; start++)
		if (!isspace((unsigned char)C->src[start]))
			return 0;
	return 1;
}

/* Copy the blank and comment lines before line; a run of comment lines is
 * remembered so the actions of a rule go above the comments on it. */
static void
copy_lines_before(struct conv *C, unsigned line)
{
	for (; C->copied < line && C->copied <= C->nlines; C->copied++) {
		if (line_blank(C, C->copied))
			C->comments_at = CONV_NONE;
		else if (C->comments_at == CONV_NONE)
			C->comments_at = C->out.len;
		copy_line(C, C->copied, "");
	}
}

/* Offset of a '#' comment in the statement's lines (outside quotes), or
 * CONV_NONE; a comment can only end a statement. */
static size_t
statement_comment(const struct conv *C)
{
	size_t i, start, end, s2;
	char q = 0;

	line_span(C, C->first, &start, &s2);
	line_span(C, C->last, &s2, &end);
	for (i = start; i < end; i++) {
		char c = C->src[i];

		if (q != 0) {
			if (c == '\\' && i + 1 < end &&
			    (C->src[i + 1] == q || memchr(" \t\n", C->src[i + 1], 3) != NULL))
				i++;
			else if (c == q)
				q = 0;
		} else if (c == '"' || c == '\'') {
			q = c;
		} else if (c == '#') {
			return i;
		}
	}
	return CONV_NONE;
}

/* Append " # comment" of the statement, if any, to b. */
static void
append_comment(struct conv *C, struct conv_buf *b)
{
	size_t at = statement_comment(C), end;

	if (at == CONV_NONE)
		return;
	end = at + strcspn(C->src + at, "\r\n");
	if (end > C->srclen)
		end = C->srclen;
	buf_puts(b, " ");
	buf_put(b, C->src + at, end - at);
}

/* ---- tokens of the statement ---- */

static const char *
tok_text(const struct conv *C, unsigned i)
{
	return C->arena.p + C->toks[i].text;
}

/* 1 if token i exists and is the bare word w. */
static int
tok_is(const struct conv *C, unsigned i, const char *w)
{
	return i < C->ntoks && C->toks[i].kind == RULES_TOK_WORD && strcmp(tok_text(C, i), w) == 0;
}

static int
tok_punct(const struct conv *C, unsigned i, char c)
{
	return i < C->ntoks && C->toks[i].kind == RULES_TOK_PUNCT && tok_text(C, i)[0] == c;
}

static int
tok_value(const struct conv *C, unsigned i)
{
	return i < C->ntoks &&
	       (C->toks[i].kind == RULES_TOK_WORD || C->toks[i].kind == RULES_TOK_STRING);
}

/* Give up on the statement at token i; returns -1. */
static int
conv_why(struct conv *C, unsigned i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
conv_why(struct conv *C, unsigned i, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(C->why, sizeof C->why, fmt, ap);
	va_end(ap);
	C->why_tok = i < C->ntoks ? i : C->ntoks - 1;
	return -1;
}

/* Length of the quoted string starting at off, as lexer.c reads it. */
static size_t
raw_string_len(const struct conv *C, size_t off)
{
	char q = C->src[off];
	size_t i;

	for (i = off + 1; i < C->srclen; i++) {
		if (C->src[i] == '\\' && i + 1 < C->srclen &&
		    (C->src[i + 1] == q || memchr(" \t\n", C->src[i + 1], 3) != NULL))
			i++;
		else if (C->src[i] == q)
			return i + 1 - off;
	}
	return C->srclen - off;
}

/* Append token i as it reads in the modern grammar: a string as written. */
static void
emit_tok(struct conv *C, struct conv_buf *b, unsigned i)
{
	const struct conv_tok *t = &C->toks[i];
	size_t off;

	if (t->kind != RULES_TOK_STRING) {
		buf_puts(b, tok_text(C, i));
		return;
	}
	off = src_offset(C, t->line, t->column);
	if (off == CONV_NONE || (C->src[off] != '"' && C->src[off] != '\''))
		b->failed = 1;  /* a string always starts at its place */
	else
		buf_put(b, C->src + off, raw_string_len(C, off));
}

/* 1 if s can be written as a bare word (lexer.c's word characters). */
static int word_safe(const char *s);

/* Append token i, a name: a quoted one bare when it needs no quotes. */
static void
emit_name(struct conv *C, struct conv_buf *b, unsigned i)
{
	const char *s = tok_text(C, i);

	if (C->toks[i].kind == RULES_TOK_STRING && word_safe(s) && !rules_keyword_reserved(s))
		buf_puts(b, s);
	else
		emit_tok(C, b, i);
}

/* 1 if s can be written as a bare word (lexer.c's word characters). */
static int
word_safe(const char *s)
{
	if (*s == '\0' || *s == '$')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) &&
		    (!ispunct((unsigned char)*s) || strchr("(){}<>!=#,\"'\\", *s) != NULL))
			return 0;
	return 1;
}

/* Append a value made here (prefix + s): bare when it can be, else quoted;
 * -1 when it holds a backslash or a quote, which quoting would change. */
static int
emit_made(struct conv_buf *b, const char *prefix, const char *s)
{
	char v[RULES_TOK_BYTES_MAX + 16];

	if ((size_t)snprintf(v, sizeof v, "%s%s", prefix, s) >= sizeof v ||
	    strpbrk(v, "\\\"") != NULL)
		return -1;
	buf_printf(b, word_safe(v) ? "%s" : "\"%s\"", v);
	return 0;
}

/* A table at *i: <name>, { a, b } or one value; appended to b. */
static int
emit_table(struct conv *C, struct conv_buf *b, unsigned *i)
{
	unsigned j = *i;

	if (tok_punct(C, j, '<')) {
		if (!tok_value(C, j + 1) || !tok_punct(C, j + 2, '>'))
			return conv_why(C, j, "expected <name>");
		buf_puts(b, "<");
		emit_name(C, b, j + 1);
		buf_puts(b, ">");
		*i = j + 3;
		return 0;
	}
	if (tok_punct(C, j, '{')) {
		buf_puts(b, "{");
		for (j++; j < C->ntoks && !tok_punct(C, j, '}'); j++) {
			if (!tok_punct(C, j, ','))
				buf_puts(b, " ");
			emit_tok(C, b, j);
		}
		if (j == C->ntoks)
			return conv_why(C, *i, "unterminated { list }");
		buf_puts(b, " }");
		*i = j + 1;
		return 0;
	}
	if (!tok_value(C, j))
		return conv_why(C, j, "expected a table, a { list } or a value");
	emit_tok(C, b, j);
	*i = j + 1;
	return 0;
}

/* A table named after alias, virtual, userbase or auth: a bare name (as
 * in the oldest grammar) becomes <name>. */
static int
emit_named_table(struct conv *C, struct conv_buf *b, unsigned *i)
{
	if (tok_punct(C, *i, '<') || tok_punct(C, *i, '{'))
		return emit_table(C, b, i);
	if (!tok_value(C, *i))
		return conv_why(C, *i, "expected a table name");
	buf_puts(b, "<");
	emit_name(C, b, *i);
	buf_puts(b, ">");
	(*i)++;
	return 0;
}

/* ---- accept and reject rules ---- */

enum conv_slot {
	SLOT_METHOD, SLOT_HOST, SLOT_BACKUP, SLOT_ALIAS, SLOT_VIRTUAL, SLOT_USERBASE, SLOT_AUTH,
	SLOT_MAIL_FROM, SLOT_SRC, SLOT_HELO, SLOT_HELO_SRC, SLOT_PKI, SLOT_TLS, SLOT_TTL,
	SLOT_COUNT,
};

struct conv_rule {
	struct conv *C;
	unsigned i;                /* the next token */
	int neg;                   /* "!" before the next criterion */
	unsigned crit_seen;        /* bit per criterion keyword */
	struct conv_buf crit;      /* " from any for domain <d>" */
	struct conv_buf slot[SLOT_COUNT]; /* the action, option by option */
	char method[16];           /* mbox, maildir, mda, lmtp, forward-only, relay */
	int tls, verify;
};

/* Start the action option s of r; -1 if the rule gave it already. */
static int
slot_open(struct conv_rule *r, enum conv_slot s, const char *what, unsigned at)
{
	if (r->slot[s].len > 0 || (s == SLOT_METHOD && r->method[0]))
		return conv_why(r->C, at, "%s given twice", what);
	return 0;
}

/* [!]criterion: the "!" before the keyword or just after it. */
static void
crit_open(struct conv_rule *r, const char *modern)
{
	if (tok_punct(r->C, r->i, '!')) {
		r->neg = !r->neg;
		r->i++;
	}
	buf_printf(&r->crit, " %s%s", r->neg ? "! " : "", modern);
	r->neg = 0;
}

/* Each old criterion at most once; bit is its own. */
static int
crit_once(struct conv_rule *r, unsigned bit, const char *word)
{
	if (r->crit_seen & bit)
		return conv_why(r->C, r->i - 1, "\"%s\" given twice", word);
	r->crit_seen |= bit;
	return 0;
}

/* from any | all | local | source T | T */
static int
rule_from(struct conv_rule *r)
{
	struct conv *C = r->C;

	if (crit_once(r, 1u << 0, "from") < 0)
		return -1;
	crit_open(r, "from");
	if (tok_is(C, r->i, "any") || tok_is(C, r->i, "all")) {
		buf_puts(&r->crit, " any");
		r->i++;
		return 0;
	}
	if (tok_is(C, r->i, "local")) {
		buf_puts(&r->crit, " local");
		r->i++;
		return 0;
	}
	if (tok_is(C, r->i, "source"))
		r->i++;
	buf_puts(&r->crit, " src ");
	return emit_table(C, &r->crit, &r->i);
}

/* for any | all | local | domain T */
static int
rule_for(struct conv_rule *r)
{
	struct conv *C = r->C;

	if (crit_once(r, 1u << 1, "for") < 0)
		return -1;
	crit_open(r, "for");
	if (tok_is(C, r->i, "any") || tok_is(C, r->i, "all") || tok_is(C, r->i, "local")) {
		buf_puts(&r->crit, tok_is(C, r->i, "local") ? " local" : " any");
		r->i++;
		return 0;
	}
	if (!tok_is(C, r->i, "domain"))
		return conv_why(C, r->i, "expected any, local or domain after \"for\"");
	r->i++;
	buf_puts(&r->crit, " domain ");
	return emit_table(C, &r->crit, &r->i);
}

/* sender T, recipient T, tagged T: one modern criterion with a table. */
static int
rule_table_crit(struct conv_rule *r, const char *old, const char *modern, unsigned bit)
{
	if (crit_once(r, bit, old) < 0)
		return -1;
	crit_open(r, modern);
	buf_puts(&r->crit, " ");
	return emit_table(r->C, &r->crit, &r->i);
}

static int
rule_sender(struct conv_rule *r)
{
	return rule_table_crit(r, "sender", "mail-from", 1u << 2);
}

static int
rule_recipient(struct conv_rule *r)
{
	return rule_table_crit(r, "recipient", "rcpt-to", 1u << 3);
}

static int
rule_tagged(struct conv_rule *r)
{
	return rule_table_crit(r, "tagged", "tag", 1u << 4);
}

/* alias, virtual, userbase T: options of the (local) action. */
static int
rule_table_option(struct conv_rule *r, enum conv_slot s, const char *word)
{
	if (slot_open(r, s, word, r->i - 1) < 0)
		return -1;
	buf_printf(&r->slot[s], "%s ", word);
	return emit_named_table(r->C, &r->slot[s], &r->i);
}

static int
rule_alias(struct conv_rule *r)
{
	return rule_table_option(r, SLOT_ALIAS, "alias");
}

static int
rule_virtual(struct conv_rule *r)
{
	return rule_table_option(r, SLOT_VIRTUAL, "virtual");
}

static int
rule_userbase(struct conv_rule *r)
{
	return rule_table_option(r, SLOT_USERBASE, "userbase");
}

/* expire DELAY: the action's ttl. */
static int
rule_expire(struct conv_rule *r)
{
	if (slot_open(r, SLOT_TTL, "expire", r->i - 1) < 0)
		return -1;
	if (!tok_value(r->C, r->i))
		return conv_why(r->C, r->i, "expected a delay after \"expire\"");
	buf_puts(&r->slot[SLOT_TTL], "ttl ");
	emit_tok(r->C, &r->slot[SLOT_TTL], r->i++);
	return 0;
}

/* 1 if token i is a word an old rule uses as a keyword. */
static int rule_keyword(const struct conv *C, unsigned i);

/* deliver to mbox | maildir [path] | mda "cmd" | lmtp "dest" [rcpt-to] */
static int
rule_deliver(struct conv_rule *r)
{
	struct conv *C = r->C;
	struct conv_buf *m = &r->slot[SLOT_METHOD];
	const char *w;

	if (slot_open(r, SLOT_METHOD, "the delivery", r->i - 1) < 0)
		return -1;
	if (!tok_is(C, r->i, "to"))
		return conv_why(C, r->i, "expected \"to\" after \"deliver\"");
	w = ++r->i < C->ntoks ? tok_text(C, r->i) : "";
	if (!tok_is(C, r->i, "mbox") && !tok_is(C, r->i, "maildir") && !tok_is(C, r->i, "mda") &&
	    !tok_is(C, r->i, "lmtp"))
		return conv_why(C, r->i, "expected mbox, maildir, mda or lmtp after \"deliver to\"");
	snprintf(r->method, sizeof r->method, "%s", w);
	buf_puts(m, w);
	r->i++;
	if (strcmp(w, "mbox") == 0 ||
	    (strcmp(w, "maildir") == 0 && (!tok_value(C, r->i) || rule_keyword(C, r->i))))
		return 0;
	if (!tok_value(C, r->i))
		return conv_why(C, r->i, "expected a %s after \"%s\"",
		                strcmp(w, "mda") == 0 ? "command" : strcmp(w, "lmtp") == 0 ?
		                "destination" : "path", w);
	buf_puts(m, " ");
	emit_tok(C, m, r->i++);
	if (strcmp(w, "lmtp") == 0 && tok_is(C, r->i, "rcpt-to")) {
		buf_puts(m, " rcpt-to");
		r->i++;
	}
	return 0;
}

/* forward-only: aliases, virtual or .forward decide; nothing else. */
static int
rule_forward_only(struct conv_rule *r)
{
	if (slot_open(r, SLOT_METHOD, "the delivery", r->i - 1) < 0)
		return -1;
	snprintf(r->method, sizeof r->method, "forward-only");
	buf_puts(&r->slot[SLOT_METHOD], "forward-only");
	return 0;
}

/* Old relay URL schemes and the modern ones; NULL: no equivalent. */
static const struct {
	const char *old, *modern;
} conv_schemes[] = {
	{ "smtp", "smtp" }, { "smtp+auth", "smtp" }, { "tls", "smtp+tls" },
	{ "tls+auth", "smtp+tls" }, { "smtps", "smtps" }, { "smtps+auth", "smtps" },
	{ "lmtp", "lmtp" }, { "smtp+tls", "smtp+tls" }, { "smtp+notls", "smtp+notls" },
	{ "ssl", NULL }, { "ssl+auth", NULL },
};

/* via URL: the smart host, its scheme in the modern spelling. */
static int
relay_via(struct conv_rule *r)
{
	struct conv *C = r->C;
	const char *url, *sep;
	size_t n, k;

	if (slot_open(r, SLOT_HOST, "via", r->i - 1) < 0)
		return -1;
	if (!tok_value(C, r->i))
		return conv_why(C, r->i, "expected a host after \"via\"");
	url = tok_text(C, r->i);
	buf_puts(&r->slot[SLOT_HOST], "host ");
	if ((sep = strstr(url, "://")) == NULL) {
		emit_tok(C, &r->slot[SLOT_HOST], r->i++);
		return 0;
	}
	n = (size_t)(sep - url);
	for (k = 0; k < sizeof conv_schemes / sizeof conv_schemes[0]; k++)
		if (strlen(conv_schemes[k].old) == n && strncmp(conv_schemes[k].old, url, n) == 0)
			break;
	if (k == sizeof conv_schemes / sizeof conv_schemes[0])
		return conv_why(C, r->i, "unknown relay scheme \"%.*s://\"", (int)(n > 20 ? 20 : n),
		                url);
	if (conv_schemes[k].modern == NULL)
		return conv_why(C, r->i, "%s:// (SMTPS or STARTTLS) has no modern equivalent: "
		                "choose smtps:// or smtp+tls://", conv_schemes[k].old);
	if (emit_made(&r->slot[SLOT_HOST], conv_schemes[k].modern, sep) < 0)
		return conv_why(C, r->i, "a relay URL with a backslash or a quote");
	r->i++;
	return 0;
}

/* backup [MX]: this host is a backup MX (below MX). */
static int
relay_backup(struct conv_rule *r)
{
	struct conv *C = r->C;

	if (slot_open(r, SLOT_BACKUP, "backup", r->i - 1) < 0)
		return -1;
	buf_puts(&r->slot[SLOT_BACKUP], "backup");
	if (tok_value(C, r->i) && !rule_keyword(C, r->i)) {
		buf_puts(&r->slot[SLOT_BACKUP], " mx ");
		emit_tok(C, &r->slot[SLOT_BACKUP], r->i++);
	}
	return 0;
}

/* A relay option with one value or table: as, source, hostname, ... */
static int
relay_value(struct conv_rule *r, enum conv_slot s, const char *old, const char *modern,
            int named_table)
{
	if (slot_open(r, s, old, r->i - 1) < 0)
		return -1;
	buf_printf(&r->slot[s], "%s ", modern);
	if (named_table)
		return emit_named_table(r->C, &r->slot[s], &r->i);
	if (!tok_value(r->C, r->i))
		return conv_why(r->C, r->i, "expected a value after \"%s\"", old);
	emit_tok(r->C, &r->slot[s], r->i++);
	return 0;
}

/* relay [via URL] [backup [mx]] [auth T] [as A] [source T] [hostname H]
 * [hostnames T] [pki P] [tls [verify]] [verify], in any order. */
static int
rule_relay(struct conv_rule *r)
{
	struct conv *C = r->C;
	int rc = 0;

	if (slot_open(r, SLOT_METHOD, "the delivery", r->i - 1) < 0)
		return -1;
	snprintf(r->method, sizeof r->method, "relay");
	buf_puts(&r->slot[SLOT_METHOD], "relay");
	while (rc == 0 && r->i < C->ntoks) {
		const char *w = C->toks[r->i].kind == RULES_TOK_WORD ? tok_text(C, r->i) : "";

		r->i++;
		if (strcmp(w, "via") == 0)
			rc = relay_via(r);
		else if (strcmp(w, "backup") == 0)
			rc = relay_backup(r);
		else if (strcmp(w, "auth") == 0)
			rc = relay_value(r, SLOT_AUTH, "auth", "auth", 1);
		else if (strcmp(w, "as") == 0)
			rc = relay_value(r, SLOT_MAIL_FROM, "as", "mail-from", 0);
		else if (strcmp(w, "source") == 0)
			rc = relay_value(r, SLOT_SRC, "source", "src", 1);
		else if (strcmp(w, "hostname") == 0)
			rc = relay_value(r, SLOT_HELO, "hostname", "helo", 0);
		else if (strcmp(w, "hostnames") == 0)
			rc = relay_value(r, SLOT_HELO_SRC, "hostnames", "helo-src", 1);
		else if (strcmp(w, "pki") == 0)
			rc = relay_value(r, SLOT_PKI, "pki", "pki", 0);
		else if (strcmp(w, "tls") == 0)
			r->tls = 1;
		else if (strcmp(w, "verify") == 0)
			r->verify = 1;
		else {
			r->i--;
			break;
		}
	}
	return rc;
}

static const struct {
	const char *word;
	int (*convert)(struct conv_rule *);
	int criterion;             /* may follow "!" */
} rule_words[] = {
	{ "from", rule_from, 1 }, { "for", rule_for, 1 }, { "sender", rule_sender, 1 },
	{ "recipient", rule_recipient, 1 }, { "tagged", rule_tagged, 1 },
	{ "alias", rule_alias, 0 }, { "virtual", rule_virtual, 0 },
	{ "userbase", rule_userbase, 0 }, { "expire", rule_expire, 0 },
	{ "deliver", rule_deliver, 0 }, { "relay", rule_relay, 0 },
	{ "forward-only", rule_forward_only, 0 },
};

static int
rule_keyword(const struct conv *C, unsigned i)
{
	size_t k;

	for (k = 0; k < sizeof rule_words / sizeof rule_words[0]; k++)
		if (tok_is(C, i, rule_words[k].word))
			return 1;
	return 0;
}

/* tls / tls verify / verify into the modern tls option of a relay. */
static void
rule_tls(struct conv_rule *r)
{
	if (!r->tls && !r->verify)
		return;
	if (r->tls && !r->verify && r->slot[SLOT_HOST].len == 0)
		buf_puts(&r->slot[SLOT_TLS], "tls no-verify");
	else
		buf_puts(&r->slot[SLOT_TLS], "tls");
}

/* The name an action gets for what it does. */
static const char *
action_base_name(const struct conv_rule *r)
{
	if (strcmp(r->method, "relay") == 0)
		return r->slot[SLOT_HOST].len ? "relay_via_smarthost" :
		       r->slot[SLOT_BACKUP].len ? "relay_backup" : "relay";
	if (strcmp(r->method, "forward-only") == 0)
		return "forward_only";
	if (strcmp(r->method, "mbox") == 0)
		return "local_mbox";
	if (strcmp(r->method, "maildir") == 0)
		return "local_maildir";
	return strcmp(r->method, "mda") == 0 ? "local_mda" : "local_lmtp";
}

/* The action for def: an existing one with the same definition, or a new
 * one named base, base_2, ... written to the run's action lines. */
static const char *
action_for(struct conv *C, const char *base, const char *def)
{
	struct conv_decl *d;
	unsigned i, same = 0;

	for (i = 0; i < C->ndecls; i++) {
		if (strcmp(C->decls[i].def, def) == 0)
			return C->decls[i].name;
		same += strcmp(C->decls[i].base, base) == 0;
	}
	if (rules_grow(&C->decls, &C->capdecls, C->ndecls, sizeof *C->decls) < 0)
		return NULL;
	d = &C->decls[C->ndecls];
	d->base = base;
	if (same == 0)
		snprintf(d->name, sizeof d->name, "%s", base);
	else
		snprintf(d->name, sizeof d->name, "%s_%u", base, same + 1);
	if ((d->def = strdup(def)) == NULL)
		return NULL;
	C->ndecls++;
	buf_printf(&C->acts, "action \"%s\" ", d->name);
	buf_puts(&C->acts, def);
	buf_puts(&C->acts, "\n");
	return d->name;
}

/* What an accept rule must hold besides its criteria; -1 with a reason. */
static int
rule_check_action(struct conv_rule *r, int reject)
{
	struct conv *C = r->C;
	int local = r->method[0] && strcmp(r->method, "relay") != 0;
	unsigned s;

	if (reject) {
		for (s = 0; s < SLOT_COUNT; s++)
			if (r->slot[s].len > 0)
				return conv_why(C, 0, "a reject rule with delivery options");
		return r->method[0] || r->tls || r->verify ?
		       conv_why(C, 0, "a reject rule with delivery options") : 0;
	}
	if (r->method[0] == '\0')
		return conv_why(C, 0, "no delivery: expected deliver to, relay or forward-only");
	if (!local && (r->slot[SLOT_ALIAS].len || r->slot[SLOT_VIRTUAL].len ||
	               r->slot[SLOT_USERBASE].len))
		return conv_why(C, 0, "alias, virtual or userbase with relay");
	if (r->slot[SLOT_ALIAS].len && r->slot[SLOT_VIRTUAL].len)
		return conv_why(C, 0, "alias and virtual in one rule");
	return 0;
}

/* The match line of a parsed rule, its action declared as needed. */
static int
rule_emit(struct conv_rule *r, int reject, struct conv_buf *line)
{
	struct conv *C = r->C;
	struct conv_buf def = { 0 };
	const char *name = NULL;
	unsigned s;

	if (rule_check_action(r, reject) < 0)
		return -1;
	if (!reject) {
		rule_tls(r);
		for (s = 0; s < SLOT_COUNT; s++) {
			if (r->slot[s].len == 0)
				continue;
			if (def.len > 0)
				buf_puts(&def, " ");
			buf_put(&def, r->slot[s].p, r->slot[s].len);
		}
		if (!def.failed)
			name = action_for(C, action_base_name(r), def.p);
		buf_free(&def);
		if (name == NULL) {
			C->out.failed = 1;
			return 0;
		}
	}
	buf_puts(line, "match");
	buf_put(line, r->crit.p ? r->crit.p : "", r->crit.len);
	if (reject)
		buf_puts(line, " reject");
	else
		buf_printf(line, " action \"%s\"", name);
	return 0;
}

/* An accept or reject rule into line; -1 with C->why set. */
static int
convert_rule(struct conv *C, struct conv_buf *line)
{
	struct conv_rule r;
	int reject = tok_is(C, 0, "reject"), rc = 0;
	size_t k;
	unsigned s;

	memset(&r, 0, sizeof r);
	r.C = C;
	r.i = 1;
	while (rc == 0 && r.i < C->ntoks) {
		if (tok_punct(C, r.i, '!')) {
			r.neg = !r.neg;
			r.i++;
			continue;
		}
		for (k = 0; k < sizeof rule_words / sizeof rule_words[0]; k++)
			if (tok_is(C, r.i, rule_words[k].word))
				break;
		if (k == sizeof rule_words / sizeof rule_words[0]) {
			rc = conv_why(C, r.i, "unknown word \"%.40s\" in an %s rule", tok_text(C, r.i),
			              reject ? "reject" : "accept");
			break;
		}
		if (r.neg && !rule_words[k].criterion) {
			rc = conv_why(C, r.i, "\"!\" before \"%s\"", rule_words[k].word);
			break;
		}
		r.i++;
		rc = rule_words[k].convert(&r);
	}
	if (rc == 0 && r.neg)
		rc = conv_why(C, C->ntoks - 1, "\"!\" before nothing");
	if (rc == 0)
		rc = rule_emit(&r, reject, line);
	buf_free(&r.crit);
	for (s = 0; s < SLOT_COUNT; s++) {
		if (r.slot[s].failed)
			C->out.failed = 1;
		buf_free(&r.slot[s]);
	}
	return rc;
}

/* ---- other statements of the old grammar ---- */

/* map NAME { source plain|file|db "path" } (braces optional) -> table. */
static int
convert_map(struct conv *C, struct conv_buf *line)
{
	unsigned i = 2, close;
	const char *type;

	if (!tok_value(C, 1))
		return conv_why(C, 1, "expected a name after \"map\"");
	close = tok_punct(C, i, '{') ? (i++, 1) : 0;
	if (!tok_is(C, i, "source") || !tok_value(C, i + 1) || !tok_value(C, i + 2))
		return conv_why(C, i, "expected source plain|db \"path\"");
	type = tok_text(C, i + 1);
	if (strcmp(type, "plain") != 0 && strcmp(type, "file") != 0 && strcmp(type, "db") != 0)
		return conv_why(C, i + 1, "map source \"%.40s\" has no modern equivalent", type);
	i += 3;
	if ((close && !tok_punct(C, i++, '}')) || i != C->ntoks)
		return conv_why(C, i < C->ntoks ? i : C->ntoks - 1,
		                "expected only source plain|db \"path\" in a map");
	buf_puts(line, "table ");
	emit_name(C, line, 1);
	buf_puts(line, " ");
	if (emit_made(line, strcmp(type, "db") == 0 ? "db:" : "file:", tok_text(C, i - 1 - close)) < 0)
		return conv_why(C, i - 1 - close, "a map path with a backslash or a quote");
	return 0;
}

/* keyword VALUE into "modern VALUE" (expire, max-message-size). */
static int
convert_one_value(struct conv *C, struct conv_buf *line, const char *modern)
{
	if (C->ntoks != 2 || !tok_value(C, 1))
		return conv_why(C, 1, "expected one value after \"%s\"", tok_text(C, 0));
	buf_printf(line, "%s ", modern);
	emit_tok(C, line, 1);
	return 0;
}

static int
convert_expire(struct conv *C, struct conv_buf *line)
{
	return convert_one_value(C, line, "queue ttl");
}

static int
convert_max_size(struct conv *C, struct conv_buf *line)
{
	return convert_one_value(C, line, "smtp max-message-size");
}

/* bounce-warn DELAY | bounce-warn { D, D } -> bounce warn-interval D, D */
static int
convert_bounce_warn(struct conv *C, struct conv_buf *line)
{
	unsigned i = tok_punct(C, 1, '{') ? 2 : 1, n = 0;

	buf_puts(line, "bounce warn-interval");
	for (; i < C->ntoks && !tok_punct(C, i, '}'); i++) {
		if (tok_punct(C, i, ','))
			continue;
		if (!tok_value(C, i))
			return conv_why(C, i, "expected a delay");
		buf_puts(line, n++ ? ", " : " ");
		emit_tok(C, line, i);
	}
	if (n == 0)
		return conv_why(C, 1, "expected a delay after \"bounce-warn\"");
	if (tok_punct(C, 1, '{') != (i < C->ntoks) || (i < C->ntoks && i + 1 != C->ntoks))
		return conv_why(C, i < C->ntoks ? i : 1, "expected { delay, ... }");
	return 0;
}

/* limit mta|smtp|mda|scheduler ... -> mta|smtp|mda|scheduler limit ... */
static int
convert_limit(struct conv *C, struct conv_buf *line)
{
	static const char *const kinds[] = { "mta", "smtp", "mda", "scheduler", NULL };
	const char *const *k;
	unsigned i;

	for (k = kinds; *k; k++)
		if (tok_is(C, 1, *k))
			break;
	if (*k == NULL || C->ntoks < 3)
		return conv_why(C, 1, "expected mta, smtp, mda or scheduler and a limit after \"limit\"");
	buf_printf(line, "%s limit", *k);
	for (i = 2; i < C->ntoks; i++) {
		buf_puts(line, tok_punct(C, i, ',') ? "" : " ");
		emit_tok(C, line, i);
	}
	return 0;
}

static const struct {
	const char *word;
	int (*convert)(struct conv *, struct conv_buf *);
} old_statements[] = {
	{ "accept", convert_rule }, { "reject", convert_rule }, { "map", convert_map },
	{ "expire", convert_expire }, { "max-message-size", convert_max_size },
	{ "bounce-warn", convert_bounce_warn }, { "limit", convert_limit },
};

/* ---- statements written as they are, with renamed words ---- */

static const struct {
	const char *statement, *old, *modern;
} conv_renames[] = {
	{ "pki", "certificate", "cert" },
	{ "ca", "certificate", "cert" },
	{ "listen", "certificate", "pki" },
	{ "listen", "mask-source", "mask-src" },
};

/* The modern word for token i of the statement, or NULL. */
static const char *
renamed(const struct conv *C, unsigned i)
{
	size_t k;

	if (i == 0 || C->toks[i].kind != RULES_TOK_WORD)
		return NULL;
	for (k = 0; k < sizeof conv_renames / sizeof conv_renames[0]; k++)
		if (tok_is(C, 0, conv_renames[k].statement) && tok_is(C, i, conv_renames[k].old))
			return conv_renames[k].modern;
	return NULL;
}

/* Copy the statement's lines as written, renamed words replaced. */
static void
copy_statement(struct conv *C)
{
	size_t at, end, off, n, s2;
	const char *m;
	unsigned i;

	line_span(C, C->first, &at, &s2);
	line_span(C, C->last, &s2, &end);
	for (i = 1; i < C->ntoks; i++) {
		if ((m = renamed(C, i)) == NULL)
			continue;
		off = src_offset(C, C->toks[i].line, C->toks[i].column);
		n = strlen(tok_text(C, i));
		if (off == CONV_NONE || off < at || off + n > end ||
		    memcmp(C->src + off, tok_text(C, i), n) != 0)
			continue;  /* written with a backslash in it: left as is */
		buf_put(&C->out, C->src + at, off - at);
		buf_puts(&C->out, m);
		at = off + n;
	}
	buf_put(&C->out, C->src + at, end - at);
	if (end == at || C->src[end - 1] != '\n')
		buf_puts(&C->out, "\n");
}

/* ---- statements ---- */

/* Record a statement not converted and write it commented out. */
static int
skip_statement(struct conv *C)
{
	struct rules_conversion *res = C->res;
	struct rules_warning *w;
	const struct conv_tok *t = &C->toks[C->why_tok];
	unsigned line;

	if (rules_grow(&res->notes, &res->capnotes, res->nnotes, sizeof *res->notes) < 0)
		return rules_fail(C->err, NULL, "out of memory");
	w = &res->notes[res->nnotes++];
	memset(w, 0, sizeof *w);
	snprintf(w->file, sizeof w->file, "%s", C->name);
	w->line = t->line;
	w->column = t->column;
	snprintf(w->message, sizeof w->message, "not converted: %s", C->why);
	buf_printf(&C->out, "# not converted: %s\n", C->why);
	for (line = C->first; line <= C->last; line++)
		copy_line(C, line, "# ");
	return 0;
}

/* Put the action lines of the run of rules before it. */
static void
end_run(struct conv *C)
{
	if (C->run_at == CONV_NONE)
		return;
	if (C->acts.len > 0) {
		buf_puts(&C->acts, "\n");
		buf_insert(&C->out, C->run_at, C->acts.p, C->acts.len);
		if (C->acts.failed)
			C->out.failed = 1;
	}
	C->acts.len = 0;
	C->run_at = CONV_NONE;
}

/* Write the statement the tokens hold, converted or as it is; 0 or -1. */
static int
convert_statement(struct conv *C)
{
	struct conv_buf line = { 0 };
	int rule = tok_is(C, 0, "accept") || tok_is(C, 0, "reject"), rc = -1;
	size_t k;

	copy_lines_before(C, C->first);
	if (!rule)
		end_run(C);
	else if (C->run_at == CONV_NONE)
		C->run_at = C->comments_at != CONV_NONE ? C->comments_at : C->out.len;
	C->comments_at = CONV_NONE;
	C->copied = C->last + 1;
	for (k = 0; k < sizeof old_statements / sizeof old_statements[0]; k++)
		if (tok_is(C, 0, old_statements[k].word))
			break;
	if (k == sizeof old_statements / sizeof old_statements[0]) {
		copy_statement(C);
		return 0;
	}
	if (C->res->old_line == 0) {
		C->res->old_line = C->toks[0].line;
		C->res->old_column = C->toks[0].column;
		snprintf(C->res->old_word, sizeof C->res->old_word, "%s", old_statements[k].word);
	}
	if (old_statements[k].convert(C, &line) < 0) {
		rc = skip_statement(C);
	} else {
		append_comment(C, &line);
		buf_put(&C->out, line.p, line.len);
		buf_puts(&C->out, "\n");
		rc = line.failed ? rules_fail(C->err, NULL, "out of memory") : 0;
	}
	buf_free(&line);
	return rc;
}

/* Keep token tok in the statement; 0 or -1. */
static int
keep_token(struct conv *C, const struct rules_tok *tok)
{
	struct conv_tok *t;

	if (C->ntoks == CONV_STATEMENT_TOKENS_MAX)
		return rules_fail(C->err, &tok->pos, "statement too long (more than %u tokens)",
		                  CONV_STATEMENT_TOKENS_MAX);
	if (rules_grow(&C->toks, &C->captoks, C->ntoks, sizeof *C->toks) < 0)
		return rules_fail(C->err, &tok->pos, "out of memory");
	if (C->ntoks == 0)
		C->first = tok->pos.line;
	/* where the token ends: a string (or a word's backslash-newline) may go
	 * on over lines; past the last newline is still the last line */
	C->last = C->lx.depth > 0 ? C->lx.src[C->lx.depth - 1].line : tok->pos.line;
	if (C->last > C->nlines)
		C->last = C->nlines;
	t = &C->toks[C->ntoks++];
	t->kind = tok->kind;
	t->line = tok->pos.line;
	t->column = tok->pos.column;
	t->text = C->arena.len;
	buf_put(&C->arena, tok->text, tok->len + 1);
	return C->arena.failed ? rules_fail(C->err, &tok->pos, "out of memory") : 0;
}

/* Lex the whole text statement by statement, converting each; 0 or -1. */
static int
conv_run(struct conv *C)
{
	struct rules_tok *tok = malloc(sizeof *tok);
	unsigned depth = 0;
	int rc = 0;

	if (tok == NULL)
		return rules_fail(C->err, NULL, "out of memory");
	while (rc == 0 && (rc = rules_lex_next(&C->lx, tok)) == 0 && tok->kind != RULES_TOK_EOF) {
		if (tok->kind == RULES_TOK_NEWLINE && (depth == 0 || C->ntoks == 0)) {
			if (C->ntoks > 0) {
				C->last = tok->pos.line > C->last && tok->pos.line <= C->nlines ?
				          tok->pos.line : C->last;
				rc = convert_statement(C);
			}
			C->ntoks = 0;
			C->arena.len = 0;
			depth = 0;
			continue;
		}
		if (tok->kind == RULES_TOK_NEWLINE)
			continue;
		if (tok->kind == RULES_TOK_PUNCT && tok->text[0] == '{')
			depth++;
		else if (tok->kind == RULES_TOK_PUNCT && tok->text[0] == '}' && depth > 0)
			depth--;
		rc = keep_token(C, tok);
	}
	free(tok);
	if (rc == 0 && C->ntoks > 0)
		rc = convert_statement(C);
	if (rc == 0) {
		end_run(C);
		copy_lines_before(C, C->nlines + 1);
	}
	if (rc == 0 && C->out.failed)
		rc = rules_fail(C->err, NULL, "the converted configuration is too large");
	return rc;
}

/* Fail at the first NUL byte of text: the loader reads text as a string. */
static int
conv_refuse_nul(struct conv *C)
{
	const char *nul = memchr(C->src, '\0', C->srclen), *p, *line_start = C->src;
	struct rules_pos pos = { C->name, 1, 1 };

	if (nul == NULL)
		return 0;
	for (p = C->src; p < nul; p++)
		if (*p == '\n') {
			pos.line++;
			line_start = p + 1;
		}
	pos.column = (unsigned)(nul - line_start) + 1;
	return rules_fail(C->err, &pos, "NUL byte in the configuration");
}

/* Convert what the lexer holds (one text, just pushed); 0 or -1. */
static int
conv_text(struct conv *C, struct rules_conversion *out)
{
	int rc;

	C->res = out;
	C->src = C->lx.texts[0].text;
	C->srclen = C->lx.texts[0].len;
	C->copied = 1;
	C->run_at = CONV_NONE;
	C->comments_at = CONV_NONE;
	C->lx.raw_macros = 1;
	rc = conv_refuse_nul(C);
	if (rc == 0)
		rc = conv_index_lines(C);
	if (rc == 0)
		rc = conv_run(C);
	if (rc < 0 && C->err->line > 0 &&
	    rules_lex_line(&C->lx, C->err->file, C->err->line, C->err->text,
	                   sizeof C->err->text) < 0)
		C->err->text[0] = '\0';
	if (rc == 0) {
		out->text = C->out.p != NULL ? C->out.p : strdup("");
		out->len = C->out.len;
		C->out.p = NULL;
		if (out->text == NULL)
			rc = rules_fail(C->err, NULL, "out of memory");
	}
	return rc;
}

/* Free what the conversion state holds. */
static void
conv_free(struct conv *C)
{
	unsigned i;

	for (i = 0; i < C->ndecls; i++)
		free(C->decls[i].def);
	free(C->decls);
	free(C->toks);
	free(C->lines);
	buf_free(&C->out);
	buf_free(&C->acts);
	buf_free(&C->arena);
	rules_lex_free(&C->lx);
	free(C);
}

/* Set up the state; NULL (err filled) when out of memory. */
static struct conv *
conv_new(const char *name, struct rules_conversion *out, struct rules_error *err)
{
	struct conv *C = calloc(1, sizeof *C);

	memset(out, 0, sizeof *out);
	memset(err, 0, sizeof *err);
	snprintf(err->file, sizeof err->file, "%s", name);
	if (C == NULL) {
		rules_fail(err, NULL, "out of memory");
		return NULL;
	}
	C->err = err;
	C->name = name;
	rules_lex_init(&C->lx, err);
	return C;
}

/* After pushing the text (rc from the push): convert, free C, and leave
 * out empty on failure; 0 or -1. */
static int
conv_finish(struct conv *C, int rc, struct rules_conversion *out)
{
	if (rc == 0)
		rc = conv_text(C, out);
	conv_free(C);
	if (rc < 0)
		rules_conversion_free(out);
	return rc;
}

/* Convert the config in text; 0 or -1 (convert.h). */
int
rules_convert_string(const char *name, const char *text, size_t len,
                     struct rules_conversion *out, struct rules_error *err)
{
	struct conv *C = conv_new(name, out, err);

	if (C == NULL)
		return -1;
	return conv_finish(C, rules_lex_push_text(&C->lx, name, text, len, ".", NULL), out);
}

/* Convert the config file at path; 0 or -1 (convert.h). */
int
rules_convert_file(const char *path, struct rules_conversion *out, struct rules_error *err)
{
	struct conv *C = conv_new(path, out, err);
	int rc;

	if (C == NULL)
		return -1;
	rc = rules_lex_push_file(&C->lx, path, NULL);
	if (rc < 0)
		snprintf(err->file, sizeof err->file, "%s", path);
	return conv_finish(C, rc, out);
}

void
rules_conversion_free(struct rules_conversion *out)
{
	free(out->text);
	free(out->notes);
	memset(out, 0, sizeof *out);
}
