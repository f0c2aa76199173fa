/*
 * test/rules/test_lexer.c - smtpd.conf tokens with their line:column:
 * words, quoted strings and their escapes, punctuation, comments,
 * backslash-newline, macro expansion stamped with the '$' position, and
 * lexical errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

/* Tokens of text as "W:word@1:1 S:str@1:6 P:{@.. NL@..", or the error. */
static void
lex_all(const char *text, const char *macro_name, const char *macro_value, char *out, size_t cap)
{
	static const char kinds[][3] = { "EOF", "NL", "W", "S", "P" };
	struct rules_error err;
	struct rules_lexer lx;
	struct rules_tok tok;
	size_t n = 0;

	memset(&err, 0, sizeof err);
	out[0] = '\0';
	rules_lex_init(&lx, &err);
	if (macro_name)
		rules_lex_define(&lx, macro_name, macro_value, 0);
	rules_lex_push_text(&lx, "l.conf", text, strlen(text), "/d", NULL);
	for (;;) {
		if (rules_lex_next(&lx, &tok) < 0) {
			snprintf(out + n, cap - n, "%sERR %u:%u %s", n ? " " : "", err.line, err.column,
			         err.message);
			break;
		}
		if (tok.kind == RULES_TOK_EOF)
			break;
		if (tok.kind == RULES_TOK_NEWLINE)
			n += (size_t)snprintf(out + n, cap - n, "%sNL@%u:%u", n ? " " : "", tok.pos.line,
			                      tok.pos.column);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%s:%s@%u:%u", n ? " " : "",
			                      kinds[tok.kind], tok.text, tok.pos.line, tok.pos.column);
	}
	rules_lex_free(&lx);
}

static const struct {
	const char *text, *macro, *value, *want;
} lex_cases[] = {
	{ "listen on lo port 25\n", NULL, NULL,
	  "W:listen@1:1 W:on@1:8 W:lo@1:11 W:port@1:14 W:25@1:19 NL@1:21 NL@2:1" },
	{ "action \"local mail\" maildir 'x'", NULL, NULL,
	  "W:action@1:1 S:local mail@1:8 W:maildir@1:21 S:x@1:29 NL@1:32" },
	{ "a # comment \"not a string\n\tb", NULL, NULL, "W:a@1:1 NL@1:26 W:b@2:2 NL@2:3" },
	{ "a \\\n  b", NULL, NULL, "W:a@1:1 W:b@2:3 NL@2:4" },
	{ "{a,b}<t>!x=y", NULL, NULL,
	  "P:{@1:1 W:a@1:2 P:,@1:3 W:b@1:4 P:}@1:5 P:<@1:6 W:t@1:7 P:>@1:8 P:!@1:9 W:x@1:10 "
	  "P:=@1:11 W:y@1:12 NL@1:13" },
	{ "'it\\'s' \"a\\ b\" '.*\\.dyn\\..*'", NULL, NULL,
	  "S:it's@1:1 S:a b@1:9 S:.*\\.dyn\\..*@1:16 NL@1:29" },
	{ "\"split \\\nline\" \"raw\nnewline\" x", NULL, NULL,
	  "S:split line@1:1 S:rawnewline@2:7 W:x@3:10 NL@3:11" },
	{ "::1 smtp+notls://h:25 *.example.com @example.com /etc/x forward-only", NULL, NULL,
	  "W:::1@1:1 W:smtp+notls://h:25@1:5 W:*.example.com@1:23 W:@example.com@1:37 "
	  "W:/etc/x@1:50 W:forward-only@1:57 NL@1:69" },
	{ "listen on $lan port 2525", "lan", "10.0.0.1",
	  "W:listen@1:1 W:on@1:8 W:10.0.0.1@1:11 W:port@1:16 W:2525@1:21 NL@1:25" },
	{ "x $m y", "m", "one \"two three\" {", "W:x@1:1 W:one@1:3 S:two three@1:3 P:{@1:3 W:y@1:6 NL@1:7" },
	{ "x $m", "m", "$m", "W:x@1:1 W:$m@1:3 NL@1:5" },
	{ "a foo$bar", NULL, NULL, "W:a@1:1 W:foo$bar@1:3 NL@1:10" },
	{ "for\\\n  any a\\b \\", NULL, NULL, "W:for@1:1 W:any@2:3 W:ab@2:7 NL@2:12" },
	{ "", NULL, NULL, "NL@1:1" },
	{ "listen on $nope", NULL, NULL, "W:listen@1:1 W:on@1:8 ERR 1:11 macro \"nope\" is not defined" },
	{ "a\n  \"open", NULL, NULL, "W:a@1:1 NL@1:2 ERR 2:3 unterminated string" },
	{ "a (b)", NULL, NULL, "W:a@1:1 ERR 1:3 unexpected character '('" },
	{ "a \x01", NULL, NULL, "W:a@1:1 ERR 1:3 unexpected byte 0x01" },
	{ "a $", NULL, NULL, "W:a@1:1 ERR 1:3 expected a macro name after \"$\"" },
};

Test(lexer, tokens_with_positions)
{
	char got[2048];
	size_t i;

	for (i = 0; i < sizeof lex_cases / sizeof lex_cases[0]; i++) {
		lex_all(lex_cases[i].text, lex_cases[i].macro, lex_cases[i].value, got, sizeof got);
		cr_expect_str_eq(got, lex_cases[i].want, "case %zu %s:\n got  %s\n want %s", i,
		                 lex_cases[i].text, got, lex_cases[i].want);
	}
}

Test(lexer, token_too_long_is_an_error)
{
	static char text[RULES_TOK_BYTES_MAX + 16];
	char got[2048];

	memset(text, 'a', RULES_TOK_BYTES_MAX + 4);
	lex_all(text, NULL, NULL, got, sizeof got);
	cr_expect_str_eq(got, "ERR 1:1 token too long (more than 4095 bytes)", "got %s", got);
}

Test(lexer, include_depth_is_bounded)
{
	struct rules_error err;
	struct rules_lexer lx;
	unsigned i;
	int r = 0;

	memset(&err, 0, sizeof err);
	rules_lex_init(&lx, &err);
	for (i = 0; i <= RULES_INCLUDE_DEPTH_MAX && r == 0; i++)
		r = rules_lex_push_text(&lx, "x.conf", "a", 1, "/", NULL);
	cr_expect_eq(r, -1);
	cr_expect_eq(i, RULES_INCLUDE_DEPTH_MAX + 1);
	cr_expect_str_eq(err.message, "include nested too deeply");
	rules_lex_free(&lx);
}
