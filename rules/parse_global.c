/*
 * rules/parse_global.c - the statements of smtpd.conf(5) that set the
 * daemon up rather than route mail: pki NAME cert|key|dhe, ca NAME cert,
 * queue compression|encryption [key]|ttl DELAY|path DIR (ringmta), smtp
 * limit|ciphers|max-message-size SIZE|sub-addr-delim C|timeout DELAY
 * (ringmta), mta max-deferred|
 * limit [for domain D], mda limit|wrapper, bounce warn-interval DELAY,...,
 * srs key [backup]|ttl, admd, scheduler limit, proc NAME CMD [user|group|
 * chroot]. Limits use parse.y's keyword tables. The daemon implements
 * pki, ca, queue path, compression, encryption and ttl, smtp
 * max-message-size, sub-addr-delim, ciphers (the listeners' default),
 * limit (with ringmta's own max-auth-failures), bounce warn-interval, srs
 * key [backup] and ttl (proto/srs.c), the
 * mta limit keys of rules_mta_limit (with ringmta's own max-rate N/s|N/m);
 * the rest is recorded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/parser_int.h"

static const char *const smtp_limits[] = {
	"max-rcpt", "max-mails", "max-sessions", "max-sessions-per-source", "max-auth-failures",
	NULL,
};
static const char *const mda_limits[] = {
	"max-session", "max-session-per-user", "task-lowat", "task-hiwat", "task-release", NULL,
};
static const char *const scheduler_limits[] = {
	"max-inflight", "max-evp-batch-size", "max-msg-batch-size", "max-schedule", NULL,
};
static const char *const mta_limits[] = {
	"max-conn-per-host", "max-conn-per-route", "max-conn-per-source",
	"max-conn-per-connector", "max-conn-per-relay", "max-conn-per-domain",
	"conn-delay-host", "conn-delay-route", "conn-delay-source", "conn-delay-connector",
	"conn-delay-relay", "conn-delay-domain", "reconn-delay-route", "session-mail-max",
	"session-transaction-delay", "session-keepalive", "max-failures-per-session",
	"task-hiwat", "task-lowat", "task-release", "inet4", "inet6", NULL,
};

/* The sub-keyword after a statement, one of list; copied to kw; 0 or -1. */
static int
global_word(struct rules_parser *P, const char *stmt, const char *const *list, char *kw,
            size_t cap, struct rules_pos *pos)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char what[48];

	if (t == NULL)
		return -1;
	snprintf(what, sizeof what, "%s option", stmt);
	if (!rules_p_in_list(list, t))
		return rules_p_unknown(P, t, what, list);
	snprintf(kw, cap, "%s", t->text);
	*pos = t->pos;
	rules_p_advance(P);
	return 0;
}

/* KEY N pairs up to the end of line, keys from list; 0 or -1. */
static int
global_limits(struct rules_parser *P, const char *what, const char *const *list)
{
	const struct rules_tok *t;
	long long v;
	int family;

	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t)) {
		if (!rules_p_in_list(list, t))
			return rules_p_unknown(P, t, what, list);
		family = rules_p_is_word(t, "inet4") || rules_p_is_word(t, "inet6");
		rules_p_advance(P);
		if (!family && rules_p_number(P, 0, 0x7fffffff, "limit", &v) < 0)
			return -1;
	}
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* smtp limit KEY N ...: max-rcpt (at least 100, RFC 5321 4.5.3.1.8),
 * max-mails, max-sessions (ringmta: concurrent sessions in all),
 * max-sessions-per-source (at least 1) and max-auth-failures (ringmta:
 * failed AUTH from one address before 421, 0 none); 0 or -1. */
static int
smtp_limit(struct rules_parser *P)
{
	const struct rules_tok *t;
	long long v;

	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t)) {
		if (!rules_p_in_list(smtp_limits, t))
			return rules_p_unknown(P, t, "smtp limit", smtp_limits);
		int rcpt = rules_p_is_word(t, "max-rcpt"), mails = rules_p_is_word(t, "max-mails");
		int sessions = rules_p_is_word(t, "max-sessions");
		int auth = rules_p_is_word(t, "max-auth-failures");
		rules_p_advance(P);
		if (rules_p_number(P, rcpt ? 100 : auth ? 0 : 1, 0x7fffffff, "limit", &v) < 0)
			return -1;
		if (auth) {
			P->ast->auth_failures_max = (unsigned)v;
			P->ast->auth_failures_set = 1;
		}
		else if (rcpt)
			P->ast->rcpt_max = (unsigned)v;
		else if (mails)
			P->ast->mails_max = (unsigned)v;
		else if (sessions)
			P->ast->sessions_max = (unsigned)v;
		else
			P->ast->sessions_per_source = (unsigned)v;
	}
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* A pki or ca name: a host name or "*", lowercased into out; 0 or -1. */
static int
global_domain(struct rules_parser *P, const char *what, char *out, size_t cap,
              struct rules_pos *pos)
{
	size_t i;

	if (rules_p_take_name(P, out, cap, what, pos) < 0)
		return -1;
	for (i = 0; out[i]; i++) {
		if (!isalnum((unsigned char)out[i]) && !strchr("-._", out[i]) &&
		    strcmp(out, "*") != 0)
			return rules_fail(P->err, pos, "not a valid domain name: %s", out);
		out[i] = (char)tolower((unsigned char)out[i]);
	}
	return out[0] ? 0 : rules_fail(P->err, pos, "not a valid domain name: \"\"");
}

/* A file path after cert/key into out, relative to the including file. */
static int
global_path(struct rules_parser *P, const char *what, char *out, size_t cap,
            struct rules_pos *pos)
{
	char raw[RULES_PATH_BYTES_MAX];

	if (rules_p_take_value(P, raw, sizeof raw, what, pos) < 0)
		return -1;
	if (raw[0] == '\0')
		return rules_fail(P->err, pos, "%s is empty", what);
	return rules_p_file_path(P, raw, out, cap, pos);
}

/* pki NAME (cert FILE | key FILE | dhe none|auto|legacy)...; 0 or -1. */
int
rules_parse_pki(struct rules_parser *P)
{
	static const char *const words[] = { "cert", "key", "dhe", NULL };
	char name[RULES_HOST_BYTES_MAX], kw[8], dhe[16];
	struct rules_ast_decl *d;
	struct rules_pos kpos, vpos;
	const struct rules_tok *t;

	rules_p_advance(P);
	if (global_domain(P, "a pki name", name, sizeof name, &kpos) < 0)
		return -1;
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_PKI, name)) == NULL &&
	    (d = rules_p_decl_add(P, RULES_DECL_PKI, name, &kpos)) == NULL)
		return -1;
	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t)) {
		if (global_word(P, "pki", words, kw, sizeof kw, &kpos) < 0)
			return -1;
		if (kw[0] == 'c' && global_path(P, "a certificate file", d->cert, sizeof d->cert,
		                                &d->cert_pos) < 0)
			return -1;
		if (kw[0] == 'k' && global_path(P, "a key file", d->key, sizeof d->key,
		                                &d->key_pos) < 0)
			return -1;
		if (kw[0] == 'd') {
			if (rules_p_take_value(P, dhe, sizeof dhe, "none, auto or legacy", &vpos) < 0)
				return -1;
			if (strcmp(dhe, "none") && strcmp(dhe, "auto") && strcmp(dhe, "legacy"))
				return rules_fail(P->err, &vpos, "invalid DHE keyword: %s", dhe);
		}
	}
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* ca NAME cert FILE; 0 or -1. */
int
rules_parse_ca(struct rules_parser *P)
{
	static const char *const words[] = { "cert", NULL };
	char name[RULES_HOST_BYTES_MAX], kw[8];
	struct rules_ast_decl *d;
	struct rules_pos npos;

	rules_p_advance(P);
	if (global_domain(P, "a ca name", name, sizeof name, &npos) < 0)
		return -1;
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_CA, name)) == NULL &&
	    (d = rules_p_decl_add(P, RULES_DECL_CA, name, &npos)) == NULL)
		return -1;
	if (global_word(P, "ca", words, kw, sizeof kw, &npos) < 0 ||
	    global_path(P, "a certificate file", d->cert, sizeof d->cert, &d->cert_pos) < 0)
		return -1;
	return rules_p_expect_end(P);
}

/* The word after "queue encryption": stdin or - (the key comes from
 * standard input), or the key itself, 32 octets; 0 or -1. */
static int
queue_key_word(struct rules_parser *P, const struct rules_tok *t)
{
	struct rules_ast *a = P->ast;

	if (strcasecmp(t->text, "stdin") == 0 || strcmp(t->text, "-") == 0)
		return 0;
	if (t->len != RULES_QUEUE_KEY_BYTES)
		return rules_fail(P->err, &t->pos,
		                  "queue encryption key must be %d octets, not %zu "
		                  "(\"openssl rand -hex 16\" prints one)", RULES_QUEUE_KEY_BYTES, t->len);
	memcpy(a->queue_key, t->text, RULES_QUEUE_KEY_BYTES);
	a->queue_key_stdin = 0;
	return 0;
}

/* queue encryption [KEY | stdin | -], as OpenSMTPD's parse.y and
 * crypto_setup(): KEY is 32 octets taken as written (what `openssl rand
 * -hex 16` prints), never decoded; without it, or with stdin or -, smtpd
 * reads the key from standard input at start. The last statement wins. No
 * error shows the key: neither the message nor the line (secret_line). */
static int
queue_encryption(struct rules_parser *P)
{
	struct rules_ast *a = P->ast;
	const struct rules_tok *t = rules_p_peek(P, 0);

	if (t == NULL)
		return -1;
	a->queue_encryption = 1;
	a->queue_key_stdin = 1;
	explicit_bzero(a->queue_key, sizeof a->queue_key);
	P->err->secret_line = 1;
	if (!rules_p_is_end(t)) {
		if (!rules_p_is_value(t))
			return rules_p_fail_got(P, t, "expected a key, \"stdin\" or \"-\"");
		if (queue_key_word(P, t) < 0)
			return -1;
		rules_p_advance(P);
	}
	if (rules_p_expect_end(P) < 0)
		return -1;
	P->err->secret_line = 0;
	return 0;
}

/* queue compression | encryption [KEY] | ttl DELAY | path DIR; 0 or -1. */
int
rules_parse_queue(struct rules_parser *P)
{
	static const char *const words[] = { "compression", "encryption", "ttl", "path", NULL };
	char kw[16], dir[RULES_PATH_BYTES_MAX];
	struct rules_pos pos;

	rules_p_advance(P);
	if (global_word(P, "queue", words, kw, sizeof kw, &pos) < 0)
		return -1;
	if (strcmp(kw, "compression") == 0) {
		P->ast->queue_compression = 1;
		return rules_p_expect_end(P);
	}
	if (strcmp(kw, "ttl") == 0)
		return rules_p_delay(P, "ttl", &P->ast->queue_ttl_s) < 0 ? -1 :
		       rules_p_expect_end(P);
	if (strcmp(kw, "encryption") == 0)
		return queue_encryption(P);
	if (rules_p_take_value(P, dir, sizeof dir, "a folder after \"queue path\"", &pos) < 0)
		return -1;
	if (dir[0] == '\0')
		return rules_fail(P->err, &pos, "queue path is empty");
	if (rules_path_resolve(P->ctx->base_dir, dir, P->ast->queue_path,
	                       sizeof P->ast->queue_path) < 0)
		return rules_fail(P->err, &pos, "path too long");
	return rules_p_expect_end(P);
}

/* smtp sub-addr-delim C: one printable character, not a space or '@'. */
static int
smtp_delim(struct rules_parser *P)
{
	char c[8];
	struct rules_pos pos;

	if (rules_p_take_value(P, c, sizeof c, "a character", &pos) < 0)
		return -1;
	if (strlen(c) != 1)
		return rules_fail(P->err, &pos, "subaddressing-delimiter must be one character");
	if (isspace((unsigned char)c[0]) || !isprint((unsigned char)c[0]) || c[0] == '@')
		return rules_fail(P->err, &pos, "sub-addr-delim uses invalid character");
	P->ast->sub_addr_delim = c[0];
	return rules_p_expect_end(P);
}

/* smtp timeout DELAY (ringmta; Postfix's smtpd_timeout): 1 s to 1 h. */
static int
smtp_timeout(struct rules_parser *P, const struct rules_pos *kpos)
{
	unsigned s;

	if (rules_p_delay(P, "smtp timeout", &s) < 0)
		return -1;
	if (s < 1 || s > 3600)
		return rules_fail(P->err, kpos, "smtp timeout must be between 1s and 1h");
	P->ast->idle_timeout_s = s;
	return rules_p_expect_end(P);
}

/* smtp bare-newline reject|normalize (ringmta; Postfix's
 * smtpd_forbid_bare_newline): what a bare LF or bare CR in DATA does. */
static int
smtp_bare_newline(struct rules_parser *P)
{
	static const char *const words[] = { "reject", "normalize", NULL };
	char kw[16];
	struct rules_pos pos;

	if (global_word(P, "smtp bare-newline", words, kw, sizeof kw, &pos) < 0)
		return -1;
	P->ast->bare_newline_normalize = strcmp(kw, "normalize") == 0;
	return rules_p_expect_end(P);
}

/* smtp limit ... | ciphers S | max-message-size SIZE | sub-addr-delim C |
 * timeout DELAY | bare-newline reject|normalize. */
int
rules_parse_smtp(struct rules_parser *P)
{
	static const char *const words[] = {
		"limit", "ciphers", "max-message-size", "sub-addr-delim", "timeout", "bare-newline",
		NULL,
	};
	char kw[20];
	struct rules_pos pos;

	rules_p_advance(P);
	if (global_word(P, "smtp", words, kw, sizeof kw, &pos) < 0)
		return -1;
	if (strcmp(kw, "limit") == 0)
		return smtp_limit(P);
	if (strcmp(kw, "ciphers") == 0) {
		P->ast->smtp_ciphers_set = 1;
		return rules_p_tls_ciphers(P, P->ast->smtp_ciphers, sizeof P->ast->smtp_ciphers) < 0 ?
		       -1 : rules_p_expect_end(P);
	}
	if (strcmp(kw, "sub-addr-delim") == 0)
		return smtp_delim(P);
	if (strcmp(kw, "timeout") == 0)
		return smtp_timeout(P, &pos);
	if (strcmp(kw, "bare-newline") == 0)
		return smtp_bare_newline(P);
	if (rules_p_size(P, &P->ast->size_max) < 0)
		return -1;
	return rules_p_expect_end(P);
}

/* The mta limit keys the daemon applies, in enum rules_mta_limit_key order. */
static const char *const mta_limit_keys[RULES_MTA_LIMIT_KEYS] = {
	"max-conn-per-host", "max-conn-per-route", "max-conn-per-domain", "max-conn-per-relay",
	"conn-delay-host", "conn-delay-route", "conn-delay-domain", "conn-delay-relay",
	"session-mail-max", "session-keepalive", "max-rate", "session-setup-timeout",
};

/* max-rate N/s | N/m (ringmta): messages per second or per minute to one
 * destination, N in 1..100000; 0 or -1. */
static int
mta_limit_rate(struct rules_parser *P, struct rules_mta_limit *l)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	char text[32], unit = 0, *slash, *end;
	struct rules_pos pos;

	if (t == NULL || rules_p_take_value(P, text, sizeof text, "a rate such as 10/s or 600/m",
	                                    &pos) < 0)
		return -1;
	slash = strchr(text, '/');
	unsigned long n = strtoul(text, &end, 10);
	if (slash != NULL && slash[1] != '\0' && slash[2] == '\0')
		unit = slash[1];
	if (slash == NULL || end != slash || end == text || n < 1 || n > 100000 ||
	    (unit != 's' && unit != 'm'))
		return rules_fail(P->err, &pos, "max-rate takes N/s or N/m, N from 1 to 100000");
	l->v[RULES_MTA_MAX_RATE] = (unsigned)n;
	l->rate_period_s = unit == 's' ? 1 : 60;
	return 0;
}

/* KEY N pairs of mta limit into l: the keys of rules_mta_limit are
 * applied, the other OpenSMTPD keys recorded as not implemented; 0 or -1. */
static int
mta_limit_pairs(struct rules_parser *P, struct rules_mta_limit *l)
{
	const struct rules_tok *t;
	long long v;

	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t)) {
		unsigned k;
		struct rules_pos pos = t->pos;
		if (!rules_p_in_list(mta_limits, t) && !rules_p_is_word(t, "max-rate") &&
		    !rules_p_is_word(t, "session-setup-timeout"))
			return rules_p_unknown(P, t, "mta limit", mta_limits);
		for (k = 0; k < RULES_MTA_LIMIT_KEYS; k++)
			if (rules_p_is_word(t, mta_limit_keys[k]))
				break;
		int family = rules_p_is_word(t, "inet4") || rules_p_is_word(t, "inet6");
		if (k == RULES_MTA_LIMIT_KEYS &&
		    rules_p_unsupported(P, &pos, "mta limit %s", t->text) < 0)
			return -1;
		rules_p_advance(P);
		if (k == RULES_MTA_MAX_RATE) {
			if (mta_limit_rate(P, l) < 0)
				return -1;
		} else if (!family) {
			int conn = k <= RULES_MTA_MAX_CONN_PER_RELAY || k == RULES_MTA_SESSION_MAIL_MAX ||
			           k == RULES_MTA_SESSION_SETUP_TIMEOUT;
			if (rules_p_number(P, conn ? 1 : 0, k < RULES_MTA_LIMIT_KEYS ? 100000 : 0x7fffffff,
			                   "limit", &v) < 0)
				return -1;
			if (k < RULES_MTA_LIMIT_KEYS)
				l->v[k] = (unsigned)v;
		}
		if (k < RULES_MTA_LIMIT_KEYS)
			l->set |= 1u << k;
	}
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* mta limit [for domain D] KEY N ...: one more rules_mta_limit; 0 or -1. */
static int
mta_limit(struct rules_parser *P, const struct rules_pos *pos)
{
	struct rules_ast *a = P->ast;
	const struct rules_tok *t;
	struct rules_mta_limit l;

	memset(&l, 0, sizeof l);
	if ((t = rules_p_peek(P, 0)) != NULL && rules_p_is_word(t, "for")) {
		rules_p_advance(P);
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_is_word(t, "domain"))
			return rules_p_fail_got(P, t, "expected \"domain\" after \"mta limit for\"");
		rules_p_advance(P);
		if (rules_p_take_value(P, l.domain, sizeof l.domain, "a domain", NULL) < 0)
			return -1;
		for (char *p = l.domain; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (t == NULL || mta_limit_pairs(P, &l) < 0)
		return -1;
	if (a->nmta_limits >= RULES_MTA_LIMITS_MAX)
		return rules_fail(P->err, pos, "too many mta limit statements (at most %d)",
		                  RULES_MTA_LIMITS_MAX);
	if (rules_grow(&a->mta_limits, &a->capmta_limits, a->nmta_limits, sizeof l) < 0)
		return rules_fail(P->err, pos, "out of memory");
	a->mta_limits[a->nmta_limits++] = l;
	return 0;
}

/* mta max-deferred N | mta limit [for domain D] ...; 0 or -1. */
int
rules_parse_mta(struct rules_parser *P)
{
	static const char *const words[] = { "max-deferred", "limit", NULL };
	char kw[16];
	struct rules_pos pos, stmt;
	long long v;

	stmt = pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	if (global_word(P, "mta", words, kw, sizeof kw, &pos) < 0)
		return -1;
	if (kw[0] == 'm')
		return rules_p_unsupported(P, &stmt, "mta max-deferred") < 0 ||
		       rules_p_number(P, 0, 0x7fffffff, "max-deferred", &v) < 0 ? -1 :
		       rules_p_expect_end(P);
	return mta_limit(P, &stmt);
}

/* mda limit ... | mda wrapper NAME "command"; 0 or -1. */
int
rules_parse_mda(struct rules_parser *P)
{
	static const char *const words[] = { "limit", "wrapper", NULL };
	char kw[8], name[RULES_NAME_BYTES_MAX], cmd[RULES_TOK_BYTES_MAX];
	struct rules_ast_decl *d;
	struct rules_pos pos, npos, cpos;

	rules_p_advance(P);
	if (global_word(P, "mda", words, kw, sizeof kw, &pos) < 0)
		return -1;
	if (kw[0] == 'l')
		return rules_p_unsupported(P, &pos, "mda limit") < 0 ? -1 :
		       global_limits(P, "mda limit", mda_limits);
	if (rules_p_take_name(P, name, sizeof name, "a wrapper name", &npos) < 0 ||
	    rules_p_take_value(P, cmd, sizeof cmd, "a command", &cpos) < 0 ||
	    rules_p_format(P, cmd, &cpos, 1) < 0)
		return -1;
	if (strlen(cmd) >= sizeof d->command)
		return rules_fail(P->err, &cpos, "wrapper command too long (at most %zu bytes)",
		                  sizeof d->command - 1);
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_WRAPPER, name)) != NULL)
		return rules_fail(P->err, &npos, "mda wrapper \"%s\" already declared at line %u",
		                  name, d->pos.line);
	if ((d = rules_p_decl_add(P, RULES_DECL_WRAPPER, name, &npos)) == NULL)
		return -1;
	snprintf(d->command, sizeof d->command, "%s", cmd);
	return rules_p_expect_end(P);
}

/* bounce warn-interval DELAY [, DELAY ...] (at most 4): a delay warning
 * after each; the last statement wins, as in OpenSMTPD; 0 or -1. */
int
rules_parse_bounce(struct rules_parser *P)
{
	static const char *const words[] = { "warn-interval", NULL };
	const struct rules_tok *t;
	struct rules_pos pos;
	unsigned n = 0, d[RULES_BOUNCE_WARN_MAX];
	char kw[16];

	rules_p_advance(P);
	if (global_word(P, "bounce", words, kw, sizeof kw, &pos) < 0)
		return -1;
	do {
		if ((t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (n == RULES_BOUNCE_WARN_MAX)
			return rules_fail(P->err, &t->pos, "too many bounce delays (at most %d)",
			                  RULES_BOUNCE_WARN_MAX);
		if (rules_p_delay(P, "bounce", &d[n++]) < 0 || (t = rules_p_peek(P, 0)) == NULL)
			return -1;
		if (!rules_p_is_punct(t, ','))
			break;
		rules_p_advance(P);
	} while (1);
	memcpy(P->ast->bounce_warn_s, d, sizeof d);
	P->ast->nbounce_warn = n;
	return rules_p_expect_end(P);
}

/* srs key [backup] SECRET | srs ttl DELAY (whole days, a day at least,
 * at most RULES_SRS_TTL_DAYS_MAX); the last of each wins; 0 or -1. */
int
rules_parse_srs(struct rules_parser *P)
{
	static const char *const words[] = { "key", "ttl", NULL };
	char kw[8], secret[RULES_TOK_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_pos pos, dpos, vpos;
	unsigned ttl;
	int backup = 0;

	pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	if (global_word(P, "srs", words, kw, sizeof kw, &pos) < 0)
		return -1;
	if (kw[0] == 't') {
		if ((t = rules_p_peek(P, 0)) == NULL)   /* the lexer's error is in err */
			return -1;
		dpos = t->pos;
		if (rules_p_delay(P, "srs ttl", &ttl) < 0)
			return -1;
		if (ttl < 86400)
			return rules_fail(P->err, &dpos, "srs ttl delay is too short (a day at least)");
		if (ttl / 86400 > RULES_SRS_TTL_DAYS_MAX)
			return rules_fail(P->err, &dpos, "srs ttl delay is too long (at most %u days: "
			                  "the timestamp wraps at 1024)", RULES_SRS_TTL_DAYS_MAX);
		P->ast->srs_ttl_days = ttl / 86400;   /* as OpenSMTPD: whole days */
		return rules_p_expect_end(P);
	}
	if ((t = rules_p_peek(P, 0)) != NULL && rules_p_is_word(t, "backup")) {
		rules_p_advance(P);
		backup = 1;
	}
	if (rules_p_take_value(P, secret, sizeof secret, "an srs key", &vpos) < 0)
		return -1;
	size_t len = strlen(secret);
	if (len == 0 || len >= RULES_SRS_KEY_BYTES_MAX) {
		explicit_bzero(secret, sizeof secret);
		return rules_fail(P->err, &vpos, len ? "srs key is too long (at most %u octets)" :
		                  "srs key is empty", RULES_SRS_KEY_BYTES_MAX - 1);
	}
	char *dst = backup ? P->ast->srs_key_backup : P->ast->srs_key_text;
	memcpy(dst, secret, len + 1);
	explicit_bzero(secret, sizeof secret);
	P->ast->srs_key |= !backup;
	return rules_p_expect_end(P);
}

/* admd "authserv-id": printable only; 0 or -1. */
int
rules_parse_admd(struct rules_parser *P)
{
	char id[RULES_HOST_BYTES_MAX];
	struct rules_pos pos, vpos;
	size_t i;

	pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	if (rules_p_unsupported(P, &pos, "admd") < 0 ||
	    rules_p_take_value(P, id, sizeof id, "an authserv-id after \"admd\"", &vpos) < 0)
		return -1;
	for (i = 0; id[i]; i++)
		if (!isprint((unsigned char)id[i]))
			return rules_fail(P->err, &vpos, "not a valid admd");
	return rules_p_expect_end(P);
}

/* scheduler limit KEY N ...; 0 or -1. */
int
rules_parse_scheduler(struct rules_parser *P)
{
	static const char *const words[] = { "limit", NULL };
	struct rules_pos pos;
	char kw[8];

	pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	if (rules_p_unsupported(P, &pos, "scheduler") < 0 ||
	    global_word(P, "scheduler", words, kw, sizeof kw, &pos) < 0)
		return -1;
	return global_limits(P, "scheduler limit", scheduler_limits);
}

/* [user U] [group G] [chroot D] after a proc or proc-exec, into d; 0 or -1. */
int
rules_p_proc_params(struct rules_parser *P, struct rules_ast_decl *d)
{
	static const char *const words[] = { "user", "group", "chroot", NULL };
	char kw[8], value[RULES_PATH_BYTES_MAX];
	const struct rules_tok *t;
	struct rules_pos pos;
	unsigned have = 0, bit;

	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t)) {
		if (global_word(P, "proc", words, kw, sizeof kw, &pos) < 0)
			return -1;
		bit = kw[0] == 'u' ? 1 : kw[0] == 'g' ? 2 : 4;
		if (have & bit)
			return rules_fail(P->err, &pos, "%s already specified for this processor", kw);
		have |= bit;
		if (rules_p_take_value(P, value, sizeof value, kw, &pos) < 0)
			return -1;
		if (bit != 4 && strlen(value) >= sizeof d->user)
			return rules_fail(P->err, &pos, "%s name too long", kw);
		if (bit == 4 && value[0] != '/')
			return rules_fail(P->err, &pos, "chroot wants an absolute path");
		snprintf(bit == 1 ? d->user : bit == 2 ? d->group : d->chroot,
		         bit == 4 ? sizeof d->chroot : sizeof d->user, "%s", value);
	}
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* proc NAME "command" [user U] [group G] [chroot D]; 0 or -1. */
int
rules_parse_proc(struct rules_parser *P)
{
	char name[RULES_NAME_BYTES_MAX], cmd[RULES_TOK_BYTES_MAX];
	struct rules_ast_decl *d;
	struct rules_pos pos, npos;

	pos = rules_p_peek(P, 0)->pos;
	rules_p_advance(P);
	(void)pos;
	if (rules_p_take_name(P, name, sizeof name, "a processor name", &npos) < 0 ||
	    rules_p_take_value(P, cmd, sizeof cmd, "a command", NULL) < 0)
		return -1;
	if ((d = rules_p_decl_find(P->ast, RULES_DECL_PROC, name)) != NULL)
		return rules_fail(P->err, &npos, "processor \"%s\" already declared at line %u", name,
		                  d->pos.line);
	if ((d = rules_p_decl_add(P, RULES_DECL_PROC, name, &npos)) == NULL)
		return -1;
	if (strlen(cmd) >= sizeof d->command)
		return rules_fail(P->err, &npos, "command too long");
	snprintf(d->command, sizeof d->command, "%s", cmd);
	return rules_p_proc_params(P, d);
}
