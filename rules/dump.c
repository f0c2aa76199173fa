/*
 * rules/dump.c - the compiled configuration as a postmaster reads it, for
 * smtpd -n -v: the settings that differ from the defaults, the listeners,
 * the named tables (source, kind, entry count, the entries of small ones;
 * never a map's values), the actions, then the decision table's rows in
 * the order they are tried, each criterion under the stage it is
 * evaluated at (session, MAIL, RCPT), with the left-out from/for shown as
 * the "local" they mean, and what happens when no row matches. Also the
 * pieces the rule tester (explain.c) names criteria, tables and actions
 * with. Writes only to the FILE* given; the format is pinned by tests.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rules/milter.h"
#include "rules/rules_int.h"

#define DUMP_ENTRIES_MAX 10            /* a table's entries shown up to this many */
#define DUMP_LISTENER_ADDR_BYTES 64

/* An entry as smtpd.conf would take it: bare when it is one word, else in
 * double quotes with '"' escaped; control bytes as '?'. */
static void
dump_word(FILE *out, const char *w)
{
	size_t plain = strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                         "0123456789._@:/*+-");

	if (w[0] != '\0' && w[plain] == '\0') {
		fputs(w, out);
		return;
	}
	fputc('"', out);
	for (; *w; w++) {
		if (*w == '"')
			fputs("\\\"", out);
		else
			fputc((unsigned char)*w < 0x20 || *w == 0x7f ? '?' : *w, out);
	}
	fputc('"', out);
}

/* Entry i of t as written (regexes keep their case). */
static const char *
dump_entry_text(const struct rules_tab *t, unsigned i)
{
	return t->e[i].raw ? t->e[i].raw : t->e[i].key;
}

/* Up to DUMP_ENTRIES_MAX keys of t, comma-separated, then "..." if more. */
static void
dump_entries(FILE *out, const struct rules_tab *t)
{
	for (unsigned i = 0; i < t->n && i < DUMP_ENTRIES_MAX; i++) {
		if (i > 0)
			fputs(", ", out);
		dump_word(out, dump_entry_text(t, i));
	}
	if (t->n > DUMP_ENTRIES_MAX)
		fprintf(out, ", ... (%u entries)", t->n);
}

/* See rules_int.h. */
void
rules_dump_table_ref(FILE *out, const struct rules_tab *tab)
{
	if (tab->name[0] != '\0') {
		fputs("table \"", out);
		fputs(tab->name, out);
		fputc('"', out);
		return;
	}
	fputs("{ ", out);
	dump_entries(out, tab);
	fputs(" }", out);
}

/* A criterion's table: <name>, the one entry of an inline table, or { a, b }. */
static void
dump_crit_table(FILE *out, const struct rules_row_cond *f)
{
	if (f->regex)
		fputs("regex ", out);
	if (f->tab->name[0] != '\0')
		fprintf(out, "<%s>", f->tab->name);
	else if (f->tab->n == 1)
		dump_word(out, dump_entry_text(f->tab, 0));
	else
		rules_dump_table_ref(out, f->tab);
}

/* from any|local|socket|src T|rdns [T]|country T|asn T. */
static void
dump_from(FILE *out, const struct rules_row *row)
{
	const struct rules_row_cond *f = &row->from;

	if (row->from_geo != RULES_GEO_NONE) {
		fputs(row->from_geo == RULES_GEO_COUNTRY ? "from country " : "from asn ", out);
	} else if (row->from_rdns) {
		fputs("from rdns", out);
		if (f->kind == RULES_COND_TABLE)
			fputc(' ', out);
	} else {
		fputs(f->kind == RULES_COND_ANY ? "from any" : f->kind == RULES_COND_LOCAL ?
		      "from local" : f->kind == RULES_COND_SOCKET ? "from socket" : "from src ", out);
	}
	if (f->kind == RULES_COND_TABLE)
		dump_crit_table(out, f);
}

/* for any|local|domain T. */
static void
dump_for(FILE *out, const struct rules_row_cond *f)
{
	fputs(f->kind == RULES_COND_ANY ? "for any" : f->kind == RULES_COND_LOCAL ? "for local" :
	      "for domain ", out);
	if (f->kind == RULES_COND_TABLE)
		dump_crit_table(out, f);
}

/* The keyword a table criterion other than from/for is written with. */
static const char *
dump_crit_keyword(enum rules_crit k)
{
	switch (k) {
	case RULES_CRIT_TAG: return "tag";
	case RULES_CRIT_HELO: return "helo";
	case RULES_CRIT_AUTH: return "auth";
	case RULES_CRIT_TLS: return "tls";
	case RULES_CRIT_MAIL_FROM: return "mail-from";
	default: return "rcpt-to";
	}
}

/* See rules_int.h. */
void
rules_dump_crit(FILE *out, const struct rules_table *t, unsigned i, enum rules_crit k)
{
	const struct rules_row *row = &t->rows[i];
	const struct rules_row_cond *f = rules_row_cond_of(row, k);

	if (f->kind == RULES_COND_NONE)
		return;
	if (f->neg)
		fputc('!', out);
	if (k == RULES_CRIT_FROM) {
		dump_from(out, row);
		if (t->info[i].from_default)
			fputs(" (default)", out);
		return;
	}
	if (k == RULES_CRIT_FOR) {
		dump_for(out, f);
		if (t->info[i].for_default)
			fputs(" (default)", out);
		return;
	}
	fputs(dump_crit_keyword(k), out);
	if (f->kind == RULES_COND_TABLE) {
		fputc(' ', out);
		dump_crit_table(out, f);
	}
}

/* A delay in its largest whole unit: 4d, 90m, 45s. */
static void
dump_delay(FILE *out, unsigned s)
{
	if (s != 0 && s % 86400 == 0)
		fprintf(out, "%ud", s / 86400);
	else if (s != 0 && s % 3600 == 0)
		fprintf(out, "%uh", s / 3600);
	else if (s != 0 && s % 60 == 0)
		fprintf(out, "%um", s / 60);
	else
		fprintf(out, "%us", s);
}

/* A size in its largest whole unit: 35M, 512K, 1000. */
static void
dump_size(FILE *out, uint64_t n)
{
	static const char units[] = "GMK";

	for (unsigned u = 0; u < 3; u++) {
		uint64_t m = 1ull << (10 * (3 - u));
		if (n != 0 && n % m == 0) {
			fprintf(out, "%llu%c", (unsigned long long)(n / m), units[u]);
			return;
		}
	}
	fprintf(out, "%llu", (unsigned long long)n);
}

/* See rules_int.h. */
void
rules_dump_action(FILE *out, const struct rules_action *a)
{
	if (a->kind == RULES_ACTION_RELAY) {
		if (a->relay_host[0] == '\0') {
			fputs("relay via MX", out);
			return;
		}
		fprintf(out, strchr(a->relay_host, ':') ? "relay host smtp://[%s]:%u" :
		                                          "relay host smtp://%s:%u",
		        a->relay_host, a->relay_port ? a->relay_port : 25);
		return;
	}
	fputs(a->method, out);
	if (strcmp(a->method, "maildir") == 0 && a->path[0] == '\0')
		fputs(" ~/Maildir", out);
	else if (strcmp(a->method, "mbox") == 0 && a->path[0] == '\0')
		fputs(" /var/mail/USER", out);
	else if (a->path[0] != '\0') {
		fputc(' ', out);
		dump_word(out, a->path);
	}
	if (a->junk)
		fputs(" junk", out);
	if (a->alias != NULL) {
		fputs(" alias ", out);
		rules_dump_table_ref(out, a->alias);
	}
	if (a->virtual_map != NULL) {
		fputs(" virtual ", out);
		rules_dump_table_ref(out, a->virtual_map);
	}
	if (a->userbase != NULL) {
		fputs(" userbase ", out);
		rules_dump_table_ref(out, a->userbase);
	}
	if (a->user[0] != '\0')
		fprintf(out, " user %s", a->user);
	if (a->wrapper[0] != '\0') {
		fprintf(out, " wrapper %s ", a->wrapper_name);
		dump_word(out, a->wrapper);
	}
}

/* One settings line, the header printed before the first. */
static void
dump_setting(FILE *out, int *n, const char *text)
{
	if ((*n)++ == 0)
		fputs("settings that differ from the defaults:\n", out);
	fprintf(out, "  %s", text);
}

/* A settings line "name N". */
static void
dump_setting_count(FILE *out, int *n, const char *name, unsigned value)
{
	dump_setting(out, n, name);
	fprintf(out, " %u\n", value);
}

/* The bounce warn-interval delays when they are not the single default. */
static void
dump_bounce_warn(FILE *out, const struct rules_config *c, int *n)
{
	if (c->nbounce_warn == 1 && c->bounce_warn_s[0] == RULES_DEFAULT_BOUNCE_WARN_S)
		return;
	dump_setting(out, n, "bounce warn-interval");
	for (unsigned i = 0; i < c->nbounce_warn; i++) {
		fputs(i ? ", " : " ", out);
		dump_delay(out, c->bounce_warn_s[i]);
	}
	fputc('\n', out);
}

/* queue path, compression, encryption (never the key), ttl. */
static void
dump_queue_settings(FILE *out, const struct rules_config *c, int *n)
{
	if (strcmp(c->queue_path, RULES_DEFAULT_QUEUE_PATH) != 0) {
		dump_setting(out, n, "queue path ");
		dump_word(out, c->queue_path);
		fputc('\n', out);
	}
	if (c->queue_compression)
		dump_setting(out, n, "queue compression\n");
	if (c->queue_encryption)
		dump_setting(out, n, c->queue_key_stdin ? "queue encryption (key from standard input)\n" :
		                                          "queue encryption (key in the file)\n");
	if (c->queue_ttl_s != RULES_DEFAULT_QUEUE_TTL_S) {
		dump_setting(out, n, "queue ttl ");
		dump_delay(out, c->queue_ttl_s);
		fputc('\n', out);
	}
}

/* smtp max-message-size, limits, timeout, bare-newline. */
static void
dump_smtp_settings(FILE *out, const struct rules_config *c, int *n)
{
	if (c->size_max != RULES_DEFAULT_SIZE_MAX) {
		dump_setting(out, n, "smtp max-message-size ");
		dump_size(out, c->size_max);
		fputc('\n', out);
	}
	if (c->rcpt_max != RULES_DEFAULT_RCPT_MAX)
		dump_setting_count(out, n, "smtp limit max-rcpt", c->rcpt_max);
	if (c->mails_max != RULES_DEFAULT_MAILS_MAX)
		dump_setting_count(out, n, "smtp limit max-mails", c->mails_max);
	if (c->sessions_per_source != RULES_DEFAULT_SESSIONS_PER_SOURCE)
		dump_setting_count(out, n, "smtp limit max-sessions-per-source",
		                   c->sessions_per_source);
	if (c->sessions_max != 0)
		dump_setting_count(out, n, "smtp limit max-sessions", c->sessions_max);
	if (c->auth_failures_max != RULES_DEFAULT_AUTH_FAILURES_MAX)
		dump_setting_count(out, n, "smtp limit max-auth-failures", c->auth_failures_max);
	if (c->idle_timeout_s != RULES_DEFAULT_IDLE_TIMEOUT_S) {
		dump_setting(out, n, "smtp timeout ");
		dump_delay(out, c->idle_timeout_s);
		fputc('\n', out);
	}
	if (c->bare_newline_normalize)
		dump_setting(out, n, "smtp bare-newline normalize\n");
	if (c->sub_addr_delim != '+') {
		char line[40];
		snprintf(line, sizeof line, "smtp sub-addr-delim %c\n", c->sub_addr_delim);
		dump_setting(out, n, line);
	}
}

/* geoip country "path", geoip asn "path" (none by default). */
static void
dump_geoip_settings(FILE *out, const struct rules_config *c, int *n)
{
	char line[RULES_PATH_BYTES_MAX + 32];

	if (c->geoip_country[0] != '\0') {
		snprintf(line, sizeof line, "geoip country \"%s\"\n", c->geoip_country);
		dump_setting(out, n, line);
	}
	if (c->geoip_asn[0] != '\0') {
		snprintf(line, sizeof line, "geoip asn \"%s\"\n", c->geoip_asn);
		dump_setting(out, n, line);
	}
}

/* srs key and backup (never the keys themselves), srs ttl. */
static void
dump_srs_settings(FILE *out, const struct rules_config *c, int *n)
{
	char line[64];

	if (c->srs_key[0] != '\0')
		dump_setting(out, n, "srs key (in the file)\n");
	if (c->srs_key_backup[0] != '\0')
		dump_setting(out, n, "srs key backup (in the file)\n");
	if (c->srs_ttl_days != RULES_DEFAULT_SRS_TTL_DAYS) {
		snprintf(line, sizeof line, "srs ttl %ud\n", c->srs_ttl_days);
		dump_setting(out, n, line);
	}
}

/* The hostname, then every global setting that is not its default. */
static void
dump_settings(FILE *out, const struct rules_config *c)
{
	int n = 0;

	fprintf(out, "hostname %s\n", c->hostname);
	dump_queue_settings(out, c, &n);
	dump_smtp_settings(out, c, &n);
	dump_bounce_warn(out, c, &n);
	dump_srs_settings(out, c, &n);
	if (c->metrics.addr_len != 0) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&c->metrics.addr;
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&c->metrics.addr;
		char addr[INET6_ADDRSTRLEN] = "?", line[128];
		int v4 = c->metrics.addr.ss_family == AF_INET;
		inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&in4->sin_addr
		                                      : (const void *)&in6->sin6_addr, addr, sizeof addr);
		snprintf(line, sizeof line, "metrics listen on %s port %u\n", addr,
		         ntohs(v4 ? in4->sin_port : in6->sin6_port));
		dump_setting(out, &n, line);
	}
	dump_geoip_settings(out, c, &n);
	if (n == 0)
		fputs("settings: all defaults\n", out);
}

/* The address a listener binds, as text ("?" for none). */
static const char *
dump_listener_addr(const struct rules_listener *l, char *buf, size_t cap, unsigned *port)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;

	*port = 0;
	if (l->addr.ss_family == AF_INET) {
		*port = ntohs(in4->sin_port);
		return inet_ntop(AF_INET, &in4->sin_addr, buf, (socklen_t)cap);
	}
	if (l->addr.ss_family == AF_INET6) {
		*port = ntohs(in6->sin6_port);
		return inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)cap);
	}
	return "?";
}

/* One listener: what was written (and its address), port and options. */
static void
dump_listener(FILE *out, const struct rules_config *c, unsigned i, const struct rules_listener *l)
{
	static const char *const tls[] = { "", " tls", " tls-require", " smtps" };
	char addr[DUMP_LISTENER_ADDR_BYTES];
	unsigned port;
	const char *a = dump_listener_addr(l, addr, sizeof addr, &port);

	fprintf(out, "  listener %u (line %u): %s", i + 1, l->line, l->spec);
	if (a != NULL && strcmp(a, l->spec) != 0)
		fprintf(out, " (%s)", a);
	fprintf(out, " port %u", port);
	if (l->tag[0] != '\0')
		fprintf(out, " tag %s", l->tag);
	if (l->hostname[0] != '\0')
		fprintf(out, " hostname %s", l->hostname);
	fputs(tls[l->tls <= RULES_TLS_SMTPS ? l->tls : 0], out);
	if (l->tls_verify)
		fputs(" verify", out);
	for (unsigned p = 0; p < l->npki; p++)
		fprintf(out, " pki %s", l->pki[p]);
	if (l->tls_ca[0] != '\0')
		fprintf(out, " ca %s", l->tls_ca);
	if (l->tls_ciphers[0] != '\0')
		fprintf(out, " ciphers \"%s\"", l->tls_ciphers);
	if (l->tls_protocols != RULES_TLS_PROTOCOLS_DEFAULT && l->tls_protocols != 0) {
		fputs(" protocols \"", out);
		for (unsigned v = 0, n = 0; v < 4; v++)
			if (l->tls_protocols & (1u << v))
				fprintf(out, "%stlsv1.%u", n++ ? "," : "", v);
		fputc('"', out);
	}
	if (l->no_dsn)
		fputs(" no-dsn", out);
	if (l->proxy_v2)
		fputs(" proxy-v2", out);
	for (unsigned f = 0; f < l->nfilters; f++)
		fprintf(out, "%s%s", f == 0 ? " filter " : ", ", l->filters[f]->name);
	for (unsigned m = 0; m < l->nmilters; m++)   /* in the order they are asked */
		fprintf(out, "%s%s", m == 0 ? " milter " : ", ", c->milters[l->milters[m]].name);
	fputc('\n', out);
}

/* The milters (rules/milter.h) and, on the listener lines, who uses them. */
static void
dump_milters(FILE *out, const struct rules_config *c)
{
	if (c->nmilters == 0)
		return;
	fprintf(out, "milters (%u):\n", c->nmilters);
	for (unsigned i = 0; i < c->nmilters; i++) {
		const struct rules_milter *m = &c->milters[i];
		fprintf(out, "  milter %s (line %u): \"%s\" timeout %us default %s", m->name, m->line,
		        m->spec, m->timeout_s, rules_milter_default_name(m->dflt));
		for (unsigned k = 0, n = 0; k < c->nlisteners; k++)
			for (unsigned j = 0; j < c->listeners[k].nmilters; j++)
				if (c->listeners[k].milters[j] == i)
					fprintf(out, "%s%u", n++ ? ", " : ", on listener ", k + 1);
		fputc('\n', out);
	}
}

static void
dump_listeners(FILE *out, const struct rules_config *c)
{
	if (c->nlisteners == 0) {
		fputs("listeners: none\n", out);
		return;
	}
	fprintf(out, "listeners (%u):\n", c->nlisteners);
	for (unsigned i = 0; i < c->nlisteners; i++)
		dump_listener(out, c, i, &c->listeners[i]);
}

/* One named table: source, kind, count, the keys of a small one. */
static void
dump_table(FILE *out, const struct rules_tab *t)
{
	fprintf(out, "  <%s> (line %u): ", t->name, t->pos.line);
	if (t->backend != NULL)
		fprintf(out, "%s, not read by this version\n", t->backend);
	else {
		if (t->file_path != NULL)
			fprintf(out, "file %s, ", t->file_path);
		else if (t->db_path != NULL)
			fprintf(out, "db %s, ", t->db_path);
		fprintf(out, "%s, %u %s", t->is_map ? "map" : "list", t->n,
		        t->n == 1 ? "entry" : "entries");
		if (t->n > 0 && t->n <= DUMP_ENTRIES_MAX) {
			fputs(t->is_map ? " (keys): " : ": ", out);
			dump_entries(out, t);
		}
		fputc('\n', out);
	}
}

static void
dump_tables(FILE *out, const struct rules_config *c)
{
	const struct rules_table *t = c->table;
	unsigned named = 0;

	for (unsigned i = 0; i < t->ntabs; i++)
		named += t->tabs[i]->name[0] != '\0';
	if (named == 0) {
		fputs("tables: none\n", out);
		return;
	}
	fprintf(out, "tables (%u):\n", named);
	for (unsigned i = 0; i < t->ntabs; i++)
		if (t->tabs[i]->name[0] != '\0')
			dump_table(out, t->tabs[i]);
}

static void
dump_actions(FILE *out, const struct rules_config *c)
{
	if (c->nactions == 0) {
		fputs("actions: none\n", out);
		return;
	}
	fprintf(out, "actions (%u):\n", c->nactions);
	for (unsigned i = 0; i < c->nactions; i++) {
		const struct rules_action *a = &c->actions[i];
		fprintf(out, "  \"%s\" (line %u): ", a->name, a->line);
		rules_dump_action(out, a);
		fputs(", ttl ", out);
		dump_delay(out, a->ttl_s);
		fputc('\n', out);
	}
}

/* The criteria of row i evaluated at stage st, on one line under label. */
static void
dump_stage(FILE *out, const struct rules_table *t, unsigned i, enum rules_stage st,
           const char *label)
{
	int n = 0;

	for (unsigned k = 0; k < RULES_CRITS; k++) {
		if (rules_crit_stage((enum rules_crit)k) != st ||
		    rules_row_cond_of(&t->rows[i], (enum rules_crit)k)->kind == RULES_COND_NONE)
			continue;
		fputs(n++ ? ", " : label, out);
		rules_dump_crit(out, t, i, (enum rules_crit)k);
	}
	if (n > 0)
		fputc('\n', out);
}

/* Row i: where it was written, what it decides, its criteria by stage. */
static void
dump_row(FILE *out, const struct rules_table *t, unsigned i)
{
	const struct rules_row *row = &t->rows[i];

	fprintf(out, "  rule %u (%s:%u) -> ", i + 1, t->info[i].file, row->line);
	if (row->reject)
		fputs("reject\n", out);
	else
		fprintf(out, "action \"%s\"\n", row->action ? row->action->name : "?");
	dump_stage(out, t, i, RULES_STAGE_SESSION, "    session: ");
	dump_stage(out, t, i, RULES_STAGE_MAIL, "    MAIL:    ");
	dump_stage(out, t, i, RULES_STAGE_RCPT, "    RCPT:    ");
}

/* The first usage rules/ cannot evaluate, which makes every answer 451. */
static const struct rules_unsupported *
dump_first_undecidable(const struct rules_config *c)
{
	for (unsigned i = 0; i < c->nunsupported; i++)
		if (!c->unsupported[i].evaluated)
			return &c->unsupported[i];
	return NULL;
}

/* The rows in order, then what a recipient no row matches gets. */
static void
dump_rules(FILE *out, const struct rules_config *c)
{
	const struct rules_table *t = c->table;
	const struct rules_unsupported *u = dump_first_undecidable(c);
	struct rules_reply r;

	if (t->nrows == 0)
		fputs("rules: none\n", out);
	else
		fprintf(out, "rules (%u), the first that matches decides:\n", t->nrows);
	for (unsigned i = 0; i < t->nrows; i++)
		dump_row(out, t, i);
	if (t->undecidable && u != NULL) {
		rules_refusal(RULES_TEMPFAIL, "", &r);
		fprintf(out, "every recipient -> deferred with %u %s %s (%s at %s:%u is not evaluated "
		        "yet)\n", r.code, r.status, r.text, u->what, u->file, u->line);
		return;
	}
	rules_refusal(RULES_NOMATCH, "the recipient", &r);
	fprintf(out, "no rule matches -> refused with %u %s %s\n", r.code, r.status, r.text);
}

/* See rules.h. */
void
rules_dump(const struct rules_config *c, FILE *out)
{
	dump_settings(out, c);
	dump_listeners(out, c);
	dump_tables(out, c);
	dump_actions(out, c);
	rules_dump_filters(out, c);
	dump_milters(out, c);
	dump_rules(out, c);
}
