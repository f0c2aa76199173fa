/*
 * rules/dump_filter.c - the builtin filters for smtpd -n -v, one a line in
 * smtpd.conf's words: "  NAME (line N): phase PHASE match [!]CHECK [regex]
 * TABLE ACTION ["CODE TEXT"]". Listeners name their chain in dump.c.
 */
#include <stdio.h>

#include "rules/rules_int.h"

/* s in double quotes, '"' escaped, control bytes as '?'. */
static void
dump_filter_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
	}
	fputc('"', out);
}

/* One filter's check and action. */
static void
dump_filter(FILE *out, const struct rules_filter *f)
{
	char msg[RULES_FILTER_TEXT_BYTES_MAX + 8];

	fprintf(out, "  %s (line %u): phase %s match %s%s", f->name, f->line,
	        rules_filter_phase_name(f->phase), f->neg ? "!" : "",
	        rules_filter_check_name(f->check));
	if (f->check == RULES_FCHECK_DNSBL)
		fprintf(out, " %s", f->zone);
	if (f->tab != NULL) {
		fputs(f->regex ? " regex " : " ", out);
		rules_dump_table_ref(out, f->tab);
	}
	fprintf(out, " %s", rules_filter_action_name(f->action));
	if (f->action == RULES_FACTION_REJECT || f->action == RULES_FACTION_DISCONNECT) {
		snprintf(msg, sizeof msg, "%u%s%s", f->code % 1000, f->text[0] ? " " : "", f->text);
		fputc(' ', out);
		dump_filter_quoted(out, msg);
	} else if (f->action == RULES_FACTION_REWRITE || f->action == RULES_FACTION_REPORT) {
		fputc(' ', out);
		dump_filter_quoted(out, f->text);
	}
	fputc('\n', out);
}

/* See rules_int.h. */
void
rules_dump_filters(FILE *out, const struct rules_config *c)
{
	if (c->nfilters == 0)
		return;
	fprintf(out, "filters (%u):\n", c->nfilters);
	for (unsigned i = 0; i < c->nfilters; i++)
		dump_filter(out, &c->filters[i]);
}
