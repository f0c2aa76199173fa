/*
 * rules/parse_filter.c - "filter" in smtpd.conf(5): a builtin filter
 * (filter NAME phase PHASE match CHECK ACTION), a process (filter NAME
 * proc P | proc-exec "command" [user|group|chroot]) or a chain (filter
 * NAME chain { a, b }). Each phase takes the checks parse.y allows there
 * (fcrdns, rdns, src, helo, auth, mail-from, rcpt-to; "!" and regex) and
 * one action (junk, bypass, reject, disconnect, rewrite, report; commit
 * takes neither junk nor bypass), plus ringmta's "dnsbl ZONE", "country
 * T" and "asn T" (GeoIP) checks in every phase. Each statement becomes a
 * struct rules_ast_filter (the builtin's phase, check, action and reply
 * already in its struct
 * rules_filter; a reject or disconnect reply must start with a 4xx or 5xx
 * code). A process filter records the process it runs (proc P, or its
 * own declaration for proc-exec, with the command, user, group and
 * chroot); names are checked (declared before use, no chain in a chain).
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

/* The checks each phase allows, after the global ones (parse.y), and
 * ringmta's dnsbl, country and asn everywhere. */
static const struct {
	const char *phase;
	const char *checks[12];
} filter_phase_checks[] = {
	{ "connect", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", NULL } },
	{ "helo", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", NULL } },
	{ "ehlo", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", NULL } },
	{ "auth", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", "auth", NULL } },
	{ "mail-from", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", "auth",
	                 "mail-from", NULL } },
	{ "rcpt-to", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", "auth",
	               "mail-from", "rcpt-to", NULL } },
	{ "data", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", "auth",
	            "mail-from", NULL } },
	{ "commit", { "fcrdns", "rdns", "src", "dnsbl", "country", "asn", "helo", "auth",
	              "mail-from", NULL } },
};

/* The check keywords in enum rules_filter_check order. */
static const char *const filter_check_names[] = {
	"fcrdns", "rdns", "src", "helo", "auth", "mail-from", "rcpt-to", "dnsbl", "country",
	"asn", NULL,
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

/* dnsbl ZONE: a domain name (letters, digits, '-', '.'), kept without a
 * trailing dot; 0 or -1. */
static int
filter_dnsbl_zone(struct rules_parser *P, struct rules_filter *f)
{
	struct rules_pos pos;
	size_t n;

	if (rules_p_take_value(P, f->zone, sizeof f->zone, "a DNSBL zone", &pos) < 0)
		return -1;
	n = strlen(f->zone);
	if (n > 0 && f->zone[n - 1] == '.')
		f->zone[--n] = '\0';
	if (n == 0 || n > 240 || f->zone[0] == '.' || strstr(f->zone, "..") != NULL ||
	    strspn(f->zone, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != n)
		return rules_fail(P->err, &pos, "\"%s\" is not a DNSBL zone (a domain name)",
		                  f->zone);
	return 0;
}

/* [!]CHECK [[regex] T] allowed in phase into af; 0 or -1. */
static int
filter_check(struct rules_parser *P, const char *phase, struct rules_ast_filter *af)
{
	const char *const *checks = filter_phase_checks[0].checks;
	const char *const *all = filter_phase_checks[5].checks;
	const struct rules_tok *t = rules_p_peek(P, 0);
	size_t i;

	for (i = 0; i < sizeof filter_phase_checks / sizeof filter_phase_checks[0]; i++)
		if (strcmp(filter_phase_checks[i].phase, phase) == 0)
			checks = filter_phase_checks[i].checks;
	af->cond.kind = RULES_COND_FLAG;
	if (t != NULL && rules_p_is_punct(t, '!')) {
		af->cond.neg = 1;
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
	for (i = 0; strcmp(filter_check_names[i], t->text) != 0; i++)
		;
	af->f.check = (enum rules_filter_check)i;
	af->cond.pos = t->pos;
	rules_p_advance(P);
	if (af->f.check == RULES_FCHECK_DNSBL)
		return filter_dnsbl_zone(P, &af->f);
	if (af->f.check == RULES_FCHECK_FCRDNS ||
	    ((af->f.check == RULES_FCHECK_RDNS || af->f.check == RULES_FCHECK_AUTH) &&
	     !filter_table_follows(P)))
		return 0;
	af->cond.kind = RULES_COND_TABLE;
	return rules_p_tables(P, &af->cond.ref, &af->cond.regex);
}

/* "CODE text" of reject and disconnect: a 4xx or 5xx code (RFC 5321
 * 4.2), then a space and the text, or nothing; 0 or -1. */
static int
filter_reply(struct rules_parser *P, struct rules_filter *f, const char *msg,
             const struct rules_pos *pos)
{
	if (strlen(msg) < 3 || (msg[0] != '4' && msg[0] != '5') || msg[1] < '0' || msg[1] > '9' ||
	    msg[2] < '0' || msg[2] > '9' || (msg[3] != '\0' && msg[3] != ' '))
		return rules_fail(P->err, pos, "\"%s\" is not an SMTP reply: a 4xx or 5xx code, "
		                  "then a space and the text", msg);
	f->code = (unsigned)((msg[0] - '0') * 100 + (msg[1] - '0') * 10 + (msg[2] - '0'));
	snprintf(f->text, sizeof f->text, "%s", msg[3] ? msg + 4 : "");
	return 0;
}

/* The action of a builtin filter; commit takes no junk or bypass. */
static int
filter_action(struct rules_parser *P, const char *phase, struct rules_filter *f)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char msg[RULES_TOK_BYTES_MAX];
	struct rules_pos pos;
	unsigned i;

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(filter_actions, t))
		return rules_p_unknown(P, t, "filter action", filter_actions);
	for (i = 0; strcmp(filter_actions[i], t->text) != 0; i++)
		;
	f->action = (enum rules_filter_action)i;
	if (strcmp(phase, "commit") == 0 &&
	    (f->action == RULES_FACTION_JUNK || f->action == RULES_FACTION_BYPASS))
		return rules_fail(P->err, &t->pos, "\"%s\" is not allowed in phase commit", t->text);
	rules_p_advance(P);
	if (f->action == RULES_FACTION_JUNK || f->action == RULES_FACTION_BYPASS)
		return 0;
	if (rules_p_take_value(P, msg, sizeof msg, "a message", &pos) < 0)
		return -1;
	if (strlen(msg) >= sizeof f->text)
		return rules_fail(P->err, &pos, "message too long (at most %zu bytes)",
		                  sizeof f->text - 1);
	if (f->action == RULES_FACTION_REJECT || f->action == RULES_FACTION_DISCONNECT)
		return filter_reply(P, f, msg, &pos);
	if (strpbrk(msg, "\r\n") != NULL)
		return rules_fail(P->err, &pos, "a line break in the message");
	snprintf(f->text, sizeof f->text, "%s", msg);
	return 0;
}

/* phase PHASE match CHECK ACTION, "phase" consumed, into af; 0 or -1. */
static int
filter_phase(struct rules_parser *P, struct rules_ast_filter *af)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char phase[16];
	unsigned i;

	if (t == NULL)
		return -1;
	if (!rules_p_in_list(filter_phases, t))
		return rules_p_unknown(P, t, "filter phase", filter_phases);
	snprintf(phase, sizeof phase, "%s", t->text);
	for (i = 0; strcmp(filter_phases[i], phase) != 0; i++)
		;
	af->f.phase = (enum rules_filter_phase)i;
	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "match"))
		return rules_p_fail_got(P, t, "expected \"match\" after the phase");
	rules_p_advance(P);
	if (filter_check(P, phase, af) < 0 || filter_action(P, phase, &af->f) < 0)
		return -1;
	return rules_p_expect_end(P);
}

/* Append af to the AST's filters; 0 or -1. */
static int
filter_add(struct rules_parser *P, const struct rules_ast_filter *af)
{
	struct rules_ast *a = P->ast;

	if (rules_grow(&a->filters, &a->capfilters, a->nfilters, sizeof *a->filters) < 0)
		return rules_fail(P->err, &af->pos, "out of memory");
	a->filters[a->nfilters++] = *af;
	return 0;
}

/* filter NAME phase ... | proc P | proc-exec CMD ... | chain { ... }. */
int
rules_parse_filter(struct rules_parser *P)
{
	char name[RULES_NAME_BYTES_MAX], kw[16], cmd[RULES_TOK_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_ast_decl *d, proc;
	struct rules_ast_filter af;
	struct rules_pos pos, npos;

	memset(&af, 0, sizeof af);
	memset(&proc, 0, sizeof proc);
	pos = rules_p_peek(P, 0)->pos;
	(void)pos;
	rules_p_advance(P);
	if (rules_p_take_name(P, name, sizeof name, "a filter name", &npos) < 0 ||
	    (t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_FILTER, name)) != NULL)
		return rules_fail(P->err, &npos, "filter \"%s\" already declared at line %u", name,
		                  d->pos.line);
	if (!rules_p_in_list(filter_kinds, t))
		return rules_p_unknown(P, t, "filter kind", filter_kinds);
	snprintf(kw, sizeof kw, "%s", t->text);
	snprintf(af.f.name, sizeof af.f.name, "%s", name);
	af.pos = npos;
	af.f.line = npos.line;
	af.kind = strcmp(kw, "phase") == 0 ? RULES_AST_FILTER_BUILTIN :
	          strcmp(kw, "chain") == 0 ? RULES_AST_FILTER_CHAIN : RULES_AST_FILTER_PROC;
	rules_p_advance(P);
	if (strcmp(kw, "phase") == 0 && filter_phase(P, &af) < 0)
		return -1;
	if (strcmp(kw, "proc") == 0) {
		if ((t = rules_p_peek(P, 0)) != NULL)
			snprintf(af.proc, sizeof af.proc, "%s", t->text);
		if (rules_p_ref(P, RULES_DECL_PROC, "a processor name", 0) < 0 ||
		    rules_p_expect_end(P) < 0)
			return -1;
	}
	if (strcmp(kw, "proc-exec") == 0) {
		if (rules_p_take_value(P, cmd, sizeof cmd, "a command", &pos) < 0)
			return -1;
		if (strlen(cmd) >= sizeof proc.command)
			return rules_fail(P->err, &pos, "command too long");
		snprintf(proc.command, sizeof proc.command, "%s", cmd);
		if (rules_p_proc_params(P, &proc) < 0)
			return -1;
		snprintf(af.proc, sizeof af.proc, "%s", name);
		af.exec = 1;
	}
	if (strcmp(kw, "chain") == 0) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_is_punct(t, '{'))
			return rules_p_fail_got(P, t, "expected \"{\" after \"chain\"");
		af.ref = P->ast->nrefs;
		if (rules_p_filter_chain(P) < 0 || rules_p_expect_end(P) < 0)
			return -1;
		af.nrefs = P->ast->nrefs - af.ref;
	}
	if ((d = rules_p_decl_add(P, RULES_DECL_FILTER, name, &npos)) == NULL)
		return -1;
	d->chain = strcmp(kw, "chain") == 0;
	memcpy(d->command, proc.command, sizeof d->command);
	memcpy(d->user, proc.user, sizeof d->user);
	memcpy(d->group, proc.group, sizeof d->group);
	memcpy(d->chroot, proc.chroot, sizeof d->chroot);
	return filter_add(P, &af);
}
