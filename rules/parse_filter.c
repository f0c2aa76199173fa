/*
 * rules/parse_filter.c - "filter" in smtpd.conf(5): a builtin filter
 * (filter NAME phase PHASE match CHECK ACTION), a process (filter NAME
 * proc P | proc-exec "command" [user|group|chroot]) or a chain (filter
 * NAME chain { a, b }). Each phase takes the checks parse.y allows there
 * (fcrdns, rdns, src, helo, auth, mail-from, rcpt-to; "!" and regex) and
 * one action (junk, bypass, reject, disconnect, rewrite, report; commit
 * takes neither junk nor bypass). Filters are recorded as not supported
 * yet; names are checked (declared before use, no chain in a chain).
 */
#include <stdio.h>
#include <string.h>

#include "rules/parser_int.h"

static const char *const filter_kinds[] = { "phase", "proc", "proc-exec", "chain", NULL };
static const char *const filter_phases[] = {
	"connect", "helo", "ehlo", "auth", "mail-from", "rcpt-to", "data", "commit", NULL,
};
static const char *const filter_actions[] = {
	"junk", "bypass", "reject", "disconnect", "rewrite", "report", NULL,
};

/* The checks each phase allows, after the global ones (parse.y). */
static const struct {
	const char *phase;
	const char *checks[8];
} filter_phase_checks[] = {
	{ "connect", { "fcrdns", "rdns", "src", NULL } },
	{ "helo", { "fcrdns", "rdns", "src", "helo", NULL } },
	{ "ehlo", { "fcrdns", "rdns", "src", "helo", NULL } },
	{ "auth", { "fcrdns", "rdns", "src", "helo", "auth", NULL } },
	{ "mail-from", { "fcrdns", "rdns", "src", "helo", "auth", "mail-from", NULL } },
	{ "rcpt-to", { "fcrdns", "rdns", "src", "helo", "auth", "mail-from", "rcpt-to", NULL } },
	{ "data", { "fcrdns", "rdns", "src", "helo", "auth", "mail-from", NULL } },
	{ "commit", { "fcrdns", "rdns", "src", "helo", "auth", "mail-from", NULL } },
};

/* 1 if a table follows a check that may stand alone (rdns, auth). */
static int
filter_table_follows(struct rules_parser *P)
{
	const struct rules_tok *t = rules_p_peek(P, 0);

	return t != NULL && (rules_p_is_punct(t, '<') || rules_p_is_punct(t, '{') ||
	                     t->kind == RULES_TOK_STRING || rules_p_is_word(t, "regex") ||
	                     (t->kind == RULES_TOK_WORD && !rules_keyword_reserved(t->text)));
}

/* [!]CHECK [[regex] T] allowed in phase; 0 or -1. */
static int
filter_check(struct rules_parser *P, const char *phase)
{
	const char *const *checks = filter_phase_checks[0].checks;
	const char *const *all = filter_phase_checks[5].checks;
	const struct rules_tok *t = rules_p_peek(P, 0);
	char kw[16];
	size_t i;

	for (i = 0; i < sizeof filter_phase_checks / sizeof filter_phase_checks[0]; i++)
		if (strcmp(filter_phase_checks[i].phase, phase) == 0)
			checks = filter_phase_checks[i].checks;
	if (t != NULL && rules_p_is_punct(t, '!')) {
		rules_p_advance(P);
		t = rules_p_peek(P, 0);
	}
	if (t == NULL)
		return -1;
	if (!rules_p_in_list(checks, t) && rules_p_in_list(all, t))
		return rules_fail(P->err, &t->pos, "\"%s\" cannot be checked in phase %s", t->text,
		                  phase);
	if (!rules_p_in_list(checks, t))
		return rules_p_unknown(P, t, "filter check", checks);
	snprintf(kw, sizeof kw, "%s", t->text);
	rules_p_advance(P);
	if (strcmp(kw, "fcrdns") == 0 ||
	    ((strcmp(kw, "rdns") == 0 || strcmp(kw, "auth") == 0) && !filter_table_follows(P)))
		return 0;
	if ((t = rules_p_peek(P, 0)) != NULL && rules_p_is_word(t, "regex"))
		rules_p_advance(P);
	return t == NULL ? -1 : rules_p_table_use(P, strcmp(kw, "src") == 0 ? RULES_USE_NETADDR :
	                                          RULES_USE_LIST, "filter");
}

/* The action of a builtin filter; commit takes no junk or bypass. */
static int
filter_action(struct rules_parser *P, const char *phase)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char msg[RULES_TOK_BYTES_MAX], kw[16];

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(filter_actions, t))
		return rules_p_unknown(P, t, "filter action", filter_actions);
	snprintf(kw, sizeof kw, "%s", t->text);
	if (strcmp(phase, "commit") == 0 && (strcmp(kw, "junk") == 0 || strcmp(kw, "bypass") == 0))
		return rules_fail(P->err, &t->pos, "\"%s\" is not allowed in phase commit", kw);
	rules_p_advance(P);
	if (strcmp(kw, "junk") == 0 || strcmp(kw, "bypass") == 0)
		return 0;
	return rules_p_take_value(P, msg, sizeof msg, "a message", NULL);
}

/* phase PHASE match CHECK ACTION, "phase" consumed; 0 or -1. */
static int
filter_phase(struct rules_parser *P)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char phase[16];

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(filter_phases, t))
		return rules_p_unknown(P, t, "filter phase", filter_phases);
	snprintf(phase, sizeof phase, "%s", t->text);
	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "match"))
		return rules_p_fail_got(P, t, "expected \"match\" after the phase");
	rules_p_advance(P);
	if (filter_check(P, phase) < 0 || filter_action(P, phase) < 0)
		return -1;
	return rules_p_expect_end(P);
}

/* filter NAME phase ... | proc P | proc-exec CMD ... | chain { ... }. */
int
rules_parse_filter(struct rules_parser *P)
{
	char name[RULES_NAME_BYTES_MAX], kw[16], cmd[RULES_TOK_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_ast_decl *d;
	struct rules_pos pos, npos;

	pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	if (rules_p_unsupported(P, &pos, "filter") < 0 ||
	    rules_p_take_name(P, name, sizeof name, "a filter name", &npos) < 0 ||
	    (t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_FILTER, name)) != NULL)
		return rules_fail(P->err, &npos, "filter \"%s\" already declared at line %u", name,
		                  d->pos.line);
	if (!rules_p_in_list(filter_kinds, t))
		return rules_p_unknown(P, t, "filter kind", filter_kinds);
	snprintf(kw, sizeof kw, "%s", t->text);
	rules_p_advance(P);
	if (strcmp(kw, "phase") == 0 && filter_phase(P) < 0)
		return -1;
	if (strcmp(kw, "proc") == 0 &&
	    (rules_p_ref(P, RULES_DECL_PROC, "a processor name", 0) < 0 ||
	     rules_p_expect_end(P) < 0))
		return -1;
	if (strcmp(kw, "proc-exec") == 0 &&
	    (rules_p_take_value(P, cmd, sizeof cmd, "a command", NULL) < 0 ||
	     rules_p_proc_params(P) < 0))
		return -1;
	if (strcmp(kw, "chain") == 0) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_is_punct(t, '{'))
			return rules_p_fail_got(P, t, "expected \"{\" after \"chain\"");
		if (rules_p_filter_chain(P) < 0 || rules_p_expect_end(P) < 0)
			return -1;
	}
	if ((d = rules_p_decl_add(P, RULES_DECL_FILTER, name, &npos)) == NULL)
		return -1;
	d->chain = strcmp(kw, "chain") == 0;
	return 0;
}
