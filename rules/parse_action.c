/*
 * rules/parse_action.c - "action NAME" in smtpd.conf(5): a local method
 * (mbox, maildir [path] [junk], lmtp DEST [rcpt-to], mda COMMAND,
 * forward-only, expand-only) with alias, virtual, userbase, user, wrapper;
 * or relay with host, domain, backup [mx NAME], auth, tls [no-verify], pki,
 * ca, ciphers, protocols, helo, helo-src, src, mail-from, filter, srs; and
 * ttl for both. Each option at most once, with parse.y's exclusions. The
 * daemon runs the local methods and relay with host smtp://, smtp+tls://,
 * smtp+notls://, smtps:// (label@ for credentials, the URL parsed by
 * rules/relay_url.c), auth, tls [no-verify], pki, ca, ciphers, protocols,
 * helo, helo-src, src, mail-from, backup [mx NAME], domain, srs and ttl;
 * filter is recorded as not supported yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "rules/parser_int.h"

struct action_state {
	struct rules_action *a;
	struct rules_ast_action *act;  /* a's declaration (table uses) */
	int local;                     /* a local method, not relay */
	unsigned have;                 /* bit per option seen */
	int label;                     /* host URL with "label@" */
	int scheme_tls;                /* the URL named smtp+tls or smtps */
	int tls_no_verify;             /* tls no-verify */
	struct rules_pos host_pos, tls_pos, auth_pos;
};

static const char *const action_methods[] = {
	"mbox", "maildir", "lmtp", "mda", "forward-only", "expand-only", "relay", NULL,
};
static const char *const local_options[] = {
	"alias", "virtual", "userbase", "user", "wrapper", "ttl", NULL,
};
static const char *const relay_options[] = {
	"helo", "helo-src", "pki", "ca", "ciphers", "protocols", "src", "mail-from", "backup",
	"host", "domain", "tls", "auth", "filter", "srs", "ttl", NULL,
};
/* The relay options the daemon runs (besides host and ttl). */
static const char *const relay_supported[] = {
	"tls", "auth", "pki", "ca", "ciphers", "protocols", "helo", "helo-src", "src",
	"mail-from", "backup", "domain", "srs", NULL,
};

/* maildir ["path"] [junk]: a path template; relative ones join base_dir. */
static int
action_maildir(struct rules_parser *P, struct rules_action *a)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	const char *s;

	if (t != NULL && rules_p_is_value(t) && !rules_p_in_list(local_options, t) &&
	    !rules_p_is_word(t, "junk")) {
		s = t->text;
		if (s[0] == '\0')
			return rules_fail(P->err, &t->pos, "maildir path is empty");
		if (rules_p_format(P, s, &t->pos, 0) < 0)
			return -1;
		if (s[0] == '/' || s[0] == '~' || strncmp(s, "%{", 2) == 0) {
			if (t->len >= sizeof a->path)
				return rules_fail(P->err, &t->pos, "path too long");
			memcpy(a->path, s, t->len + 1);
		} else if (rules_path_resolve(P->ctx->base_dir, s, a->path, sizeof a->path) < 0) {
			return rules_fail(P->err, &t->pos, "path too long");
		}
		rules_p_advance(P);
		t = rules_p_peek(P, 0);
	}
	if (t != NULL && rules_p_is_word(t, "junk")) {
		a->junk = 1;
		rules_p_advance(P);
	}
	return t == NULL ? -1 : 0;
}

/* lmtp DEST: a UNIX socket path, or host:port ([v6]:port); 0 or -1. */
static int
action_lmtp_dest(struct rules_parser *P, struct rules_action *a, const char *dest,
                 const struct rules_pos *pos)
{
	const char *host = dest, *colon, *end;
	char why[RULES_ERROR_BYTES_MAX];

	if (dest[0] == '/') {
		if (strlen(dest) >= sizeof ((struct sockaddr_un *)NULL)->sun_path)
			return rules_fail(P->err, pos, "lmtp socket path too long");
		snprintf(a->path, sizeof a->path, "%s", dest);
		return 0;
	}
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL || end[1] != ':')
			return rules_fail(P->err, pos, "invalid lmtp destination \"%.60s\": expected "
			                  "[address]:port", dest);
		host++;
		colon = end + 1;
	} else if ((colon = strrchr(host, ':')) == NULL) {
		return rules_fail(P->err, pos, "invalid lmtp destination \"%.60s\": expected "
		                  "host:port or an absolute socket path", dest);
	} else {
		end = colon;
	}
	if (end == host)
		return rules_fail(P->err, pos, "lmtp destination \"%.60s\" has no host", dest);
	if ((size_t)(end - host) >= sizeof a->relay_host)
		return rules_fail(P->err, pos, "lmtp host name too long");
	memcpy(a->relay_host, host, (size_t)(end - host));
	a->relay_host[end - host] = '\0';
	if (rules_relay_port_parse(colon + 1, &a->relay_port, why, sizeof why) < 0)
		return rules_fail(P->err, pos, "%s", why);
	return 0;
}

/* The local method after the name (its keyword consumed is kw); 0 or -1. */
static int
action_local(struct rules_parser *P, struct rules_action *a, const char *kw,
             const struct rules_pos *pos)
{
	char value[RULES_TOK_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_pos vpos;

	a->kind = RULES_ACTION_MAILDIR;
	if (strcmp(kw, "maildir") == 0)
		return action_maildir(P, a);
	if (strcmp(kw, "mbox") == 0)
		return 0;
	if (strcmp(kw, "mda") == 0) {
		if (rules_p_take_value(P, value, sizeof value, "a command after \"mda\"", &vpos) < 0 ||
		    rules_p_format(P, value, &vpos, 0) < 0)
			return -1;
		if (strlen(value) >= sizeof a->path)
			return rules_fail(P->err, &vpos, "mda command too long");
		snprintf(a->path, sizeof a->path, "%s", value);
		return 0;
	}
	if (strcmp(kw, "lmtp") == 0) {
		if (rules_p_take_value(P, value, sizeof value,
		                       "a destination (host:port or socket path) after \"lmtp\"",
		                       &vpos) < 0 || action_lmtp_dest(P, a, value, &vpos) < 0 ||
		    (t = rules_p_peek(P, 0)) == NULL)
			return -1;
		a->kind = RULES_ACTION_LMTP;
		if (rules_p_is_word(t, "rcpt-to")) {
			a->lmtp_rcpt_to = 1;
			rules_p_advance(P);
		}
		return 0;
	}
	return 0;   /* forward-only, expand-only: delivery comes from expansion */
}

/* A relay URL into st's action: its TLS mode from the scheme (lmtp://
 * recorded as not supported), label, host and port; 0 or -1. */
static int
relay_url(struct rules_parser *P, struct action_state *st, const char *url,
          const struct rules_pos *pos)
{
	struct rules_action *a = st->a;
	struct rules_relay_url u;
	char why[RULES_ERROR_BYTES_MAX];

	if (rules_relay_url_parse(url, &u, why, sizeof why) < 0)
		return rules_fail(P->err, pos, "%s", why);
	a->relay_tls = u.tls;
	st->scheme_tls = u.tls == RULES_RELAY_TLS_STARTTLS || u.tls == RULES_RELAY_TLS_SMTPS;
	if (u.scheme_ix == 3 && rules_p_unsupported(P, pos, "relay host lmtp://") < 0)
		return -1;
	if (u.label[0] != '\0') {
		snprintf(a->relay_label, sizeof a->relay_label, "%s", u.label);
		st->label = 1;
	}
	snprintf(a->relay_host, sizeof a->relay_host, "%s", u.host);
	if (u.port != 0)
		a->relay_port = u.port;
	return 0;
}

/* host URL | host <table>; 0 or -1. */
static int
relay_host(struct rules_parser *P, struct action_state *st, const struct rules_pos *kwpos)
{
	char url[RULES_HOST_BYTES_MAX + 64];
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos pos;

	if (t == NULL)
		return -1;
	st->host_pos = *kwpos;
	if (rules_p_is_punct(t, '<') || rules_p_is_punct(t, '{')) {
		if (rules_p_unsupported(P, &t->pos, "relay host table") < 0)
			return -1;
		return rules_p_table_use(P, RULES_USE_LIST, "host");
	}
	if (rules_p_take_value(P, url, sizeof url, "a relay URL after \"host\"", &pos) < 0)
		return -1;
	return relay_url(P, st, url, &pos);
}

/* Exclusions of parse.y between relay options; 0 or -1. */
static int
relay_exclusive(struct rules_parser *P, const struct action_state *st, const char *kw,
                const struct rules_pos *pos)
{
	static const char *const pairs[][2] = {
		{ "backup", "host" }, { "backup", "domain" }, { "host", "domain" },
	};
	size_t i;
	int k, o;

	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		for (k = 0; k < 2; k++) {
			o = (int)(strcmp(pairs[i][!k], "backup") == 0 ? 8 :
			          strcmp(pairs[i][!k], "host") == 0 ? 9 : 10);
			if (strcmp(pairs[i][k], kw) == 0 && (st->have & (1u << o)))
				return rules_fail(P->err, pos, "\"%s\" and \"%s\" are mutually exclusive",
				                  pairs[i][!k], kw);
		}
	}
	return 0;
}

/* pki NAME (our client certificate) or ca NAME (the CA file that checks
 * the server's) after a relay option; 0 or -1. A name not declared before
 * is reported by rules_check() with the other references. */
static int
relay_pki_ca(struct rules_parser *P, struct action_state *st, int pki)
{
	const struct rules_ast_decl *d;
	const char *name;
	unsigned i;

	if (rules_p_ref(P, pki ? RULES_DECL_PKI : RULES_DECL_CA, pki ? "a pki name" : "a ca name",
	                0) < 0)
		return -1;
	name = P->ast->refs[P->ast->nrefs - 1].name;
	if (pki) {
		snprintf(st->a->relay_pki, sizeof st->a->relay_pki, "%s", name);
		return 0;
	}
	for (i = 0; i < P->ast->ndecls; i++) {
		d = &P->ast->decls[i];
		if (d->kind == RULES_DECL_CA && strcasecmp(d->name, name) == 0)
			snprintf(st->a->relay_ca, sizeof st->a->relay_ca, "%s", d->cert);
	}
	return 0;
}

/* mail-from ADDR: user@domain, or @domain (the sender's user kept) or
 * user@ (its domain kept), as OpenSMTPD's mta.c takes it; printable, no
 * brackets, quotes or spaces; 0 or -1. */
static int
relay_mail_from(struct rules_parser *P, struct rules_action *a)
{
	char value[RULES_HOST_BYTES_MAX];
	struct rules_pos vpos;
	const char *at, *p;

	if (rules_p_take_value(P, value, sizeof value, "an address after \"mail-from\"",
	                       &vpos) < 0)
		return -1;
	at = strrchr(value, '@');
	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr("<>\\\"", *p))
			break;
	if (*p != '\0' || at == NULL || strlen(value) < 2 || strchr(value, '@') != at)
		return rules_fail(P->err, &vpos, "invalid mail-from address \"%.60s\": expected "
		                  "user@domain, @domain or user@", value);
	snprintf(a->relay_mail_from, sizeof a->relay_mail_from, "%s", value);
	return 0;
}

/* helo NAME: a host name (letters, digits, '-', '.') or an address
 * literal in brackets; 0 or -1. */
static int
relay_helo(struct rules_parser *P, struct rules_action *a)
{
	char value[RULES_HOST_BYTES_MAX];
	struct rules_pos vpos;

	if (rules_p_take_value(P, value, sizeof value, "a name after \"helo\"", &vpos) < 0)
		return -1;
	if (value[0] == '\0' || (value[0] != '[' &&
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
	    != strlen(value)) || (value[0] == '[' && (strchr(value, ']') == NULL ||
	    strchr(value, ' ') != NULL)))
		return rules_fail(P->err, &vpos, "invalid helo name \"%.60s\"", value);
	snprintf(a->relay_helo, sizeof a->relay_helo, "%s", value);
	return 0;
}

/* backup [mx NAME]; 0 or -1. */
static int
relay_backup(struct rules_parser *P, struct rules_action *a)
{
	const struct rules_tok *t = rules_p_peek(P, 0);

	if (t == NULL)
		return -1;
	a->relay_backup = 1;
	if (!rules_p_is_word(t, "mx"))
		return 0;
	rules_p_advance(P);
	return rules_p_take_value(P, a->relay_backup_mx, sizeof a->relay_backup_mx,
	                          "a name after \"mx\"", NULL);
}

/* A table option's use: its index + 1 kept in *use; 0 or -1. */
static int
relay_table(struct rules_parser *P, enum rules_tab_use kind, const char *kw, unsigned *use)
{
	if (rules_p_table_use(P, kind, kw) < 0)
		return -1;
	*use = P->ast->nuses;
	return 0;
}

/* The value, table or name after a relay option kw; 0 or -1. */
static int
relay_value(struct rules_parser *P, struct action_state *st, const char *kw,
            const struct rules_pos *pos)
{
	const struct rules_tok *t;

	if (strcmp(kw, "host") == 0)
		return relay_host(P, st, pos);
	if (strcmp(kw, "helo-src") == 0)
		return relay_table(P, RULES_USE_MAP, kw, &st->act->helo_src_use);
	if (strcmp(kw, "domain") == 0)
		return relay_table(P, RULES_USE_MAP, kw, &st->act->domain_use);
	if (strcmp(kw, "src") == 0)
		return relay_table(P, RULES_USE_NETADDR, kw, &st->act->src_use);
	if (strcmp(kw, "auth") == 0) {
		if (!(st->have & (1u << 9)))
			return rules_fail(P->err, pos, "auth may not be specified without host");
		st->auth_pos = *pos;
		return relay_table(P, RULES_USE_MAP, "auth", &st->act->auth_use);
	}
	if (strcmp(kw, "pki") == 0 || strcmp(kw, "ca") == 0)
		return relay_pki_ca(P, st, kw[0] == 'p');
	if (strcmp(kw, "ciphers") == 0)
		return rules_p_tls_ciphers(P, st->a->relay_ciphers, sizeof st->a->relay_ciphers);
	if (strcmp(kw, "protocols") == 0)
		return rules_p_tls_protocols(P, &st->a->relay_protocols);
	if (strcmp(kw, "filter") == 0) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		return rules_p_is_punct(t, '{') ? rules_p_filter_chain(P) :
		       rules_p_ref(P, RULES_DECL_FILTER, "a filter name", 0);
	}
	if (strcmp(kw, "backup") == 0)
		return relay_backup(P, st->a);
	if (strcmp(kw, "tls") == 0) {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		st->tls_pos = *pos;
		st->tls_no_verify = rules_p_is_word(t, "no-verify");
		if (st->tls_no_verify)
			rules_p_advance(P);
		return 0;
	}
	if (strcmp(kw, "srs") == 0) {
		st->a->relay_srs = 1;
		return P->ast->srs_key ? 0 :
		       rules_fail(P->err, pos, "srs needs an \"srs key\" declared before this action");
	}
	if (strcmp(kw, "mail-from") == 0)
		return relay_mail_from(P, st->a);
	return relay_helo(P, st->a);
}

/* The value after a local option kw (alias, virtual, userbase, user,
 * wrapper) with parse.y's restrictions; 0 or -1. */
static int
action_local_option(struct rules_parser *P, struct action_state *st, const char *kw,
                    const struct rules_pos *pos)
{
	char value[RULES_NAME_BYTES_MAX];
	const char *m = st->a->method;

	if (strcmp(kw, "user") == 0) {
		if (strcmp(m, "mbox") == 0 || strcmp(m, "forward-only") == 0 ||
		    strcmp(m, "expand-only") == 0 || strcmp(m, "lmtp") == 0)
			return rules_fail(P->err, pos, "user may not be specified for %s", m);
		if (rules_p_take_value(P, value, sizeof value, "a user name", NULL) < 0)
			return -1;
		snprintf(st->a->user, sizeof st->a->user, "%s", value);
		return 0;
	}
	if (strcmp(kw, "wrapper") == 0) {
		const struct rules_ast_decl *d;
		if (rules_p_ref(P, RULES_DECL_WRAPPER, "an mda wrapper name", 0) < 0)
			return -1;
		/* one not declared before is reported with the other references */
		snprintf(st->a->wrapper_name, sizeof st->a->wrapper_name, "%s",
		         P->ast->refs[P->ast->nrefs - 1].name);
		if ((d = rules_p_decl_find(P->ast, RULES_DECL_WRAPPER, st->a->wrapper_name)))
			snprintf(st->a->wrapper, sizeof st->a->wrapper, "%s", d->command);
		return 0;
	}
	if ((strcmp(kw, "alias") == 0 && (st->have & (1u << 1))) ||
	    (strcmp(kw, "virtual") == 0 && (st->have & (1u << 0))))
		return rules_fail(P->err, pos, "\"alias\" and \"virtual\" are mutually exclusive");
	if (rules_p_table_use(P, RULES_USE_MAP, kw) < 0)
		return -1;
	if (strcmp(kw, "alias") == 0)
		st->act->alias_use = P->ast->nuses;
	if (strcmp(kw, "virtual") == 0)
		st->act->virtual_use = P->ast->nuses;
	if (strcmp(kw, "userbase") == 0)
		st->act->userbase_use = P->ast->nuses;
	return 0;
}

/* One option of the action (local or relay) at the next token; 0 or -1. */
static int
action_option(struct rules_parser *P, struct action_state *st)
{
	const char *const *list = st->local ? local_options : relay_options;
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos pos = t->pos;
	char kw[32];
	unsigned bit;
	int supported;

	if (!rules_p_in_list(list, t))
		return rules_p_unknown(P, t, st->local ? "local action option" : "relay option", list);
	supported = rules_p_in_list(relay_supported, t);
	snprintf(kw, sizeof kw, "%s", t->text);
	for (bit = 0; strcmp(list[bit], kw) != 0; bit++)
		; /* relay: backup 8, host 9, domain 10, auth 12 (relay_options) */
	if (st->have & (1u << bit))
		return rules_fail(P->err, &pos, "%s already specified for this action", kw);
	if (!st->local && relay_exclusive(P, st, kw, &pos) < 0)
		return -1;
	st->have |= 1u << bit;
	rules_p_advance(P);
	if (strcmp(kw, "ttl") == 0)
		return rules_p_delay(P, "ttl", &st->a->ttl_s);
	if (!st->local && strcmp(kw, "host") != 0 && !supported &&
	    rules_p_unsupported(P, &pos, "relay %s", kw) < 0)
		return -1;
	if (!st->local)
		return relay_value(P, st, kw, &pos);
	if (strcmp(kw, "wrapper") == 0 && strcmp(st->a->method, "lmtp") == 0 &&
	    rules_p_unsupported(P, &pos, "wrapper on an lmtp action") < 0)
		return -1;
	return action_local_option(P, st, kw, &pos);
}

/* After a relay action's options: its TLS mode from the scheme and `tls`,
 * whether the certificate is checked, and the rules on credentials (only
 * ever over TLS, so never with smtp+notls://); 0 or -1. */
static int
relay_tls_settle(struct rules_parser *P, struct action_state *st)
{
	struct rules_action *a = st->a;
	int tls_opt = (st->have & (1u << 11)) != 0;   /* relay_options: tls 11 */

	if (st->label && !(st->have & (1u << 12)))
		return rules_fail(P->err, &st->host_pos,
		                  "a relay host with a label (label@host) needs \"auth <table>\"");
	if ((st->have & (1u << 12)) && !st->label)
		return rules_fail(P->err, &st->auth_pos, "auth needs a label in the relay URL "
		                  "(smtp+tls://label@host): the key of its credentials");
	if (tls_opt && a->relay_tls == RULES_RELAY_TLS_NO)
		return rules_fail(P->err, &st->tls_pos, "tls may not be used with smtp+notls://");
	if ((st->have & (1u << 12)) && a->relay_tls == RULES_RELAY_TLS_NO)
		return rules_fail(P->err, &st->auth_pos, "auth with smtp+notls:// would send the "
		                  "credentials in plain text: use smtp+tls:// or smtps://");
	if (tls_opt && a->relay_tls == RULES_RELAY_TLS_OPPORTUNISTIC)
		a->relay_tls = RULES_RELAY_TLS_STARTTLS;
	a->relay_tls_verify = (tls_opt || st->scheme_tls) && !st->tls_no_verify;
	if (a->relay_protocols == 0)
		a->relay_protocols = RULES_TLS_PROTOCOLS_DEFAULT;
	return 0;
}

/* action NAME method [options]; 0 or -1. */
int
rules_parse_action(struct rules_parser *P)
{
	struct rules_ast *a = P->ast;
	struct rules_ast_action act;
	struct action_state st;
	const struct rules_tok *t;
	struct rules_pos pos;

	memset(&act, 0, sizeof act);
	memset(&st, 0, sizeof st);
	st.a = &act.a;
	st.act = &act;
	rules_p_advance(P);
	if (rules_p_take_name(P, act.a.name, sizeof act.a.name, "an action name",
	                      &act.name_pos) < 0 || (t = rules_p_peek(P, 0)) == NULL)
		return -1;
	act.a.line = act.name_pos.line;
	if (!rules_p_in_list(action_methods, t))
		return rules_p_unknown(P, t, "action type", action_methods);
	pos = t->pos;
	snprintf(act.a.method, sizeof act.a.method, "%s", t->text);
	st.local = strcmp(act.a.method, "relay") != 0;
	rules_p_advance(P);
	if (st.local && action_local(P, &act.a, act.a.method, &pos) < 0)
		return -1;
	if (!st.local) {
		act.a.kind = RULES_ACTION_RELAY;
		act.a.relay_port = 25;
	}
	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t))
		if (action_option(P, &st) < 0)
			return -1;
	if (t == NULL)
		return -1;
	if (!st.local && relay_tls_settle(P, &st) < 0)
		return -1;
	if (rules_p_expect_end(P) < 0)
		return -1;
	if (rules_grow(&a->actions, &a->capactions, a->nactions, sizeof *a->actions) < 0)
		return rules_fail(P->err, &act.name_pos, "out of memory");
	a->actions[a->nactions++] = act;
	return 0;
}
