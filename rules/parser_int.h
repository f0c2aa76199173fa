/*
 * rules/parser_int.h - what the parser files share (parser.c and the
 * parse_*.c files, one per statement family): the token cursor with two
 * tokens of lookahead, value takers that fail with file:line:column, the
 * recording of usages the daemon does not implement yet, and the entry
 * point of each statement. Nothing outside the parser includes it.
 *
 * Every function returns 0 on success or -1 with the error filled in,
 * unless its comment says otherwise.
 */
#ifndef RULES_PARSER_INT_H
#define RULES_PARSER_INT_H

#include <stdint.h>

#include "rules/rules_int.h"

struct rules_parser {
	struct rules_lexer *lx;
	const struct rules_parse_ctx *ctx;
	struct rules_ast *ast;
	struct rules_error *err;
	struct rules_tok la[2];
	unsigned nla;
	int failed;                /* the lexer failed: peek answers NULL */
};

/* ---- parser.c: the cursor ---- */

/* The token i ahead (0 = next), lexing as needed; NULL on a lexer error,
 * and from then on (the error stays the first one). */
const struct rules_tok *rules_p_peek(struct rules_parser *P, unsigned i);
/* Drop the next token (it was peeked). */
void rules_p_advance(struct rules_parser *P);
int rules_p_is_word(const struct rules_tok *t, const char *w);
int rules_p_is_punct(const struct rules_tok *t, char c);
int rules_p_is_value(const struct rules_tok *t);
int rules_p_is_end(const struct rules_tok *t);
/* 1 if t is a bare word in the NULL-terminated list. */
int rules_p_in_list(const char *const *list, const struct rules_tok *t);
/* Fail at t with "what, got <t>". */
int rules_p_fail_got(struct rules_parser *P, const struct rules_tok *t, const char *what);
/* Fail at t with 'unknown <what> "x"', adding 'did you mean "y"?' from list. */
int rules_p_unknown(struct rules_parser *P, const struct rules_tok *t, const char *what,
                    const char *const *list);
/* Consume the end of the statement. */
int rules_p_expect_end(struct rules_parser *P);
/* Take a word or string into out (cap bytes); what names it in errors. */
int rules_p_take_value(struct rules_parser *P, char *out, size_t cap, const char *what,
                       struct rules_pos *pos);
/* Like take_value, for a name: a bare reserved word is refused. */
int rules_p_take_name(struct rules_parser *P, char *out, size_t cap, const char *what,
                      struct rules_pos *pos);
/* A positive integer within [min, max]. */
int rules_p_number(struct rules_parser *P, long long min, long long max, const char *what,
                   long long *out);
/* A size: 35M, 1G, 512K, 1.5M, or bytes (scan_scaled: 1024-based). */
int rules_p_size(struct rules_parser *P, uint64_t *out);
/* A delay: a number then s, m, h or d (4h, 30m, 2d); *out in seconds. */
int rules_p_delay(struct rules_parser *P, const char *what, unsigned *out);
/* <name>, { list }, or one value; optional "regex" before it sets *regex
 * (regex NULL: not allowed here). */
int rules_p_tables(struct rules_parser *P, struct rules_tabref *ref, int *regex);
/* Resolve a file the config reads (include, table, pki, ca) against the
 * folder of the file naming it into out; refused with confine_files unless
 * relative without "..". */
int rules_p_file_path(struct rules_parser *P, const char *raw, char *out, size_t cap,
                      const struct rules_pos *pos);
/* A `ciphers` or `protocols` value (rules/tls_opts.c), checked by the
 * loader's tls_check when it has one; errors at the value. */
int rules_p_tls_ciphers(struct rules_parser *P, char *out, size_t cap);
int rules_p_tls_protocols(struct rules_parser *P, unsigned *mask);
/* A table used outside a match line: parse it and keep it for check.c. */
int rules_p_table_use(struct rules_parser *P, enum rules_tab_use use, const char *what);
/* Record a usage the daemon does not implement; what is printf-like. */
int rules_p_unsupported(struct rules_parser *P, const struct rules_pos *pos, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
/* Record a warning at pos. */
int rules_p_warn(struct rules_parser *P, const struct rules_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record a reference to a pki, ca, filter, proc or wrapper named at the
 * next token (taken here); checked against declarations by check.c. */
int rules_p_ref(struct rules_parser *P, enum rules_decl_kind kind, const char *what,
                int in_chain);
/* "{ a, b }" of filter names (the '{' next), each recorded as a ref. */
int rules_p_filter_chain(struct rules_parser *P);
/* "{ item, item ... }" with the '{' next: item() parses each one (newlines
 * and commas between them skipped); what names the list in errors
 * ("unterminated filter chain", "empty milter list"); an empty list is an
 * error unless allow_empty. 0 or -1. */
int rules_p_brace_list(struct rules_parser *P, const char *what, int allow_empty,
                       int (*item)(struct rules_parser *P, void *arg), void *arg);
/* The declaration of kind named name, or NULL. */
struct rules_ast_decl *rules_p_decl_find(struct rules_ast *ast, enum rules_decl_kind kind,
                                         const char *name);
/* Append a declaration; NULL with the error set when out of memory. */
struct rules_ast_decl *rules_p_decl_add(struct rules_parser *P, enum rules_decl_kind kind,
                                        const char *name, const struct rules_pos *pos);
/* Check a %{...} template at pos (%{mda} only in a wrapper); an
 * unimplemented token is recorded. */
int rules_p_format(struct rules_parser *P, const char *tmpl, const struct rules_pos *pos,
                   int wrapper);

/* ---- statements, one file per family ---- */

int rules_parse_listen(struct rules_parser *P);     /* parse_listen.c */
int rules_parse_action(struct rules_parser *P);     /* parse_action.c */
int rules_parse_match(struct rules_parser *P);      /* parse_match.c */
int rules_parse_pki(struct rules_parser *P);        /* parse_global.c */
int rules_parse_ca(struct rules_parser *P);
int rules_parse_queue(struct rules_parser *P);
int rules_parse_smtp(struct rules_parser *P);
int rules_parse_mta(struct rules_parser *P);
int rules_parse_mda(struct rules_parser *P);
int rules_parse_bounce(struct rules_parser *P);
int rules_parse_metrics(struct rules_parser *P);
int rules_parse_geoip(struct rules_parser *P);      /* parse_geoip.c */
int rules_parse_srs(struct rules_parser *P);
int rules_parse_admd(struct rules_parser *P);
int rules_parse_scheduler(struct rules_parser *P);
int rules_parse_proc(struct rules_parser *P);
/* [user U] [group G] [chroot D] then the end of the statement. */
int rules_p_proc_params(struct rules_parser *P, struct rules_ast_decl *d);
int rules_parse_filter(struct rules_parser *P);     /* parse_filter.c */
int rules_parse_milter(struct rules_parser *P);     /* parse_milter.c */
/* A listener's `milter NAME` or `milter { a, b }` (the keyword taken):
 * the declared milters' indices into milters[*n]; 0 or -1. */
int rules_p_listen_milters(struct rules_parser *P, unsigned char *milters, unsigned *n);

#endif
