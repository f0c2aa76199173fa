/*
 * rules/relay_url.c - the relay URL of smtpd.conf(5)'s `relay host` and of
 * a `relay domain` table's values: [scheme://][label@]host[:port], host a
 * name, an address or [IPv6]. Pure: no I/O. See rules/rules.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static const char *const relay_url_schemes[] = {
	"smtp", "smtp+tls", "smtp+notls", "lmtp", "smtps", NULL,
};

int
rules_relay_port_parse(const char *s, uint16_t *port, char *why, size_t cap)
{
	unsigned long v;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) {
		snprintf(why, cap, "invalid port \"%.20s\" in relay URL", s);
		return -1;
	}
	v = strlen(s) > 9 ? 1000000000ul : strtoul(s, NULL, 10);
	if (v == 0 || v > 65535) {
		snprintf(why, cap, "port %.20s out of range", s);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* The scheme of len bytes at url into u; 0 or -1 with why. */
static int
relay_url_scheme(const char *url, size_t len, struct rules_relay_url *u, char *why, size_t cap)
{
	static const enum rules_relay_tls modes[] = {
		RULES_RELAY_TLS_OPPORTUNISTIC, RULES_RELAY_TLS_STARTTLS, RULES_RELAY_TLS_NO,
		RULES_RELAY_TLS_OPPORTUNISTIC, RULES_RELAY_TLS_SMTPS,
	};
	const char *const *s, *hint;
	char scheme[16];
	int n = len > 40 ? 40 : (int)len;

	for (s = relay_url_schemes; *s; s++) {
		if (strlen(*s) != len || strncmp(*s, url, len) != 0)
			continue;
		u->scheme_ix = (int)(s - relay_url_schemes);
		u->tls = modes[u->scheme_ix];
		return 0;
	}
	snprintf(scheme, sizeof scheme, "%.*s", n, url);
	if (len < sizeof scheme && (hint = rules_suggest(scheme, relay_url_schemes)) != NULL)
		snprintf(why, cap, "unknown relay scheme \"%.*s\"; did you mean \"%s\"?", n, url, hint);
	else
		snprintf(why, cap, "unknown relay scheme \"%.*s\"", n, url);
	return -1;
}

/* label@ before the host into u; the host's start, or NULL with why. */
static const char *
relay_url_label(const char *host, struct rules_relay_url *u, char *why, size_t cap)
{
	const char *at = strchr(host, '@');

	if (at == NULL)
		return host;
	if (at == host) {
		snprintf(why, cap, "empty label before \"@\" in relay URL");
		return NULL;
	}
	if ((size_t)(at - host) >= sizeof u->label) {
		snprintf(why, cap, "relay URL label too long");
		return NULL;
	}
	memcpy(u->label, host, (size_t)(at - host));
	u->label[at - host] = '\0';
	return at + 1;
}

int
rules_relay_url_parse(const char *url, struct rules_relay_url *u, char *why, size_t cap)
{
	const char *sep = strstr(url, "://"), *host = sep ? sep + 3 : url, *end, *rest;
	size_t hlen;

	memset(u, 0, sizeof *u);
	if (sep != NULL && relay_url_scheme(url, (size_t)(sep - url), u, why, cap) < 0)
		return -1;
	if ((host = relay_url_label(host, u, why, cap)) == NULL)
		return -1;
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL) {
			snprintf(why, cap, "missing \"]\" in relay URL");
			return -1;
		}
		host++;
		rest = end + 1;
	} else {
		end = host + strcspn(host, ":/");
		rest = end;
	}
	if ((hlen = (size_t)(end - host)) == 0) {
		snprintf(why, cap, "relay URL \"%.60s\" has no host", url);
		return -1;
	}
	if (hlen >= sizeof u->host) {
		snprintf(why, cap, "relay host name too long");
		return -1;
	}
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (strcmp(rest, "/") == 0 || *rest == '\0') {
		if (u->scheme_ix == 3) {
			snprintf(why, cap, "lmtp:// needs a port");
			return -1;
		}
		u->port = u->tls == RULES_RELAY_TLS_SMTPS ? 465 : 0;
		return 0;
	}
	if (*rest != ':') {
		snprintf(why, cap, "invalid relay URL \"%.60s\"", url);
		return -1;
	}
	return rules_relay_port_parse(rest + 1, &u->port, why, cap);
}
