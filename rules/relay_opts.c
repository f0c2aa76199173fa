/*
 * rules/relay_opts.c - a relay action's options that are looked up when
 * mail goes out: the relay URL of a recipient domain (`domain <table>`)
 * the EHLO name for a source address (`helo-src <table>`, `helo`) and
 * the sender on the wire (`mail-from`).
 * See rules/rules.h.
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

int
rules_relay_domain_url(const struct rules_action *a, const char *domain,
                       struct rules_relay_url *u)
{
	const char *v;
	char why[RULES_ERROR_BYTES_MAX];

	if (a->relay_domain == NULL || (v = rules_tab_value(a->relay_domain, domain)) == NULL)
		return -1;
	return rules_relay_url_parse(v, u, why, sizeof why) < 0 || u->scheme_ix == 3 ? -2 : 0;
}

int
rules_relay_domain_apply(const struct rules_action *a, const char *domain,
                         struct rules_action *out)
{
	struct rules_relay_url u;
	int r = rules_relay_domain_url(a, domain, &u), tls_opt;

	if (r < 0)
		return r;
	*out = *a;
	snprintf(out->relay_host, sizeof out->relay_host, "%s", u.host);
	out->relay_port = u.port ? u.port : 25;
	/* without a host the action's relay_tls is OPPORTUNISTIC unless it
	 * says `tls [no-verify]`: then TLS stays required, checked as it says;
	 * otherwise the URL decides, smtp+tls:// and smtps:// verifying */
	tls_opt = a->relay_tls != RULES_RELAY_TLS_OPPORTUNISTIC;
	out->relay_tls = !tls_opt || u.tls == RULES_RELAY_TLS_SMTPS ? u.tls :
	                 RULES_RELAY_TLS_STARTTLS;
	out->relay_tls_verify = tls_opt ? a->relay_tls_verify :
	                        u.tls == RULES_RELAY_TLS_STARTTLS || u.tls == RULES_RELAY_TLS_SMTPS;
	return 0;
}

int
rules_relay_session_opts(const struct rules_action *a)
{
	return a->relay_helo[0] != '\0' || a->relay_helo_src != NULL ||
	       a->relay_mail_from[0] != '\0' || a->nrelay_src > 0 || a->relay_backup ||
	       a->relay_srs;
}

const char *
rules_relay_helo(const struct rules_action *a, const char *src, const char *fallback)
{
	const char *v;

	if (a != NULL && a->relay_helo_src != NULL && src != NULL &&
	    (v = rules_tab_value(a->relay_helo_src, src)) != NULL && v[0] != '\0')
		return v;
	if (a != NULL && a->relay_helo[0] != '\0')
		return a->relay_helo;
	return fallback;
}

int
rules_relay_mail_from(const struct rules_action *a, const char *sender, char *out, size_t cap)
{
	const char *at, *sat;
	int user_len, n;

	if (a == NULL || a->relay_mail_from[0] == '\0' || sender[0] == '\0' ||
	    (sat = strrchr(sender, '@')) == NULL || sat == sender) {
		n = snprintf(out, cap, "%s", sender);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	at = strrchr(a->relay_mail_from, '@');
	user_len = (int)(at - a->relay_mail_from);
	n = snprintf(out, cap, "%.*s@%s",
	             user_len ? user_len : (int)(sat - sender),
	             user_len ? a->relay_mail_from : sender,
	             at[1] ? at + 1 : sat + 1);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}
