/*
 * rules/parse_listen.c - "listen on" in smtpd.conf(5): an address, an
 * interface (or OpenBSD's lo0, egress and all), a host name, "any",
 * "localhost" or "socket", then options: inet4|inet6, port, tls,
 * tls-require [verify], smtps [verify], pki (repeatable, for SNI), ca,
 * ciphers, protocols, auth [<t>], auth-optional [<t>], filter name|{chain},
 * hostname, hostnames <t>, mask-src, received-auth, no-dsn, proxy-v2,
 * senders <t> [masquerade], tag, milter name|{list} (rules/milter.h). Each at most once; pki needs tls, tls-require
 * or smtps, and so does auth except on a loopback address (AUTH in plain
 * text there, ringmta's own); one TLS mode. ca, ciphers and protocols without TLS are taken
 * and unused, as OpenSMTPD does. Addresses are resolved here, at load time.
 */
#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "rules/parser_int.h"

#define LISTEN_PKI_MAX 32              /* parse.y PKI_MAX */
#define LISTEN_TAG_BYTES_MAX 32        /* parse.y SMTPD_TAG_SIZE */
#define LISTEN_EGRESS_MAX 8            /* interfaces with a default route */

struct listen_opts {
	uint16_t port;
	int family;                    /* AF_UNSPEC, AF_INET, AF_INET6 */
	unsigned have;                 /* bit per option group already seen */
	char tag[RULES_NAME_BYTES_MAX];
	char hostname[RULES_HOST_BYTES_MAX];
	const char *tls;               /* "tls", "tls-require", "smtps" or NULL */
	struct rules_pos auth_pos, pki_pos;
	unsigned npki;
	char pki[LISTEN_PKI_MAX][RULES_HOST_BYTES_MAX];
	int tls_verify;
	char ca[RULES_PATH_BYTES_MAX];  /* the ca's file */
	char ciphers[RULES_CIPHERS_BYTES_MAX];
	int ciphers_set;
	unsigned protocols;            /* 0: the default */
	int auth;                      /* 1 auth, 2 auth-optional */
	unsigned auth_use;             /* 1 + its table's index in uses, 0 none */
	unsigned senders_use;
	int masquerade;
	int mask_src, received_auth;
	int no_dsn;
	int proxy_v2;
	unsigned filter_ref, filter_nrefs; /* filter NAME | { a, b }: its refs */
	unsigned char milters[RULES_LISTENER_MILTERS_MAX]; /* milter NAME | { a, b } */
	unsigned nmilters;
};

static const char *const listen_options[] = {
	"inet4", "inet6", "port", "tls", "tls-require", "smtps", "pki", "ca", "ciphers",
	"protocols", "auth", "auth-optional", "filter", "hostname", "hostnames", "mask-src",
	"received-auth", "no-dsn", "proxy-v2", "senders", "tag", "milter", NULL,
};

/* Options that the daemon implements; the others are recorded. */
static const char *const listen_supported[] = {
	"inet4", "inet6", "port", "hostname", "no-dsn", "tag", "smtps", "tls", "tls-require", "pki",
	"proxy-v2", "auth", "auth-optional", "senders", "mask-src", "received-auth", "ca",
	"ciphers", "protocols", "filter", "milter", NULL,
};

/* Options allowed on "listen on socket" (parse.y opt_sock_listen). */
static const char *const listen_socket_options[] = { "filter", "mask-src", "tag", NULL };

/* A port: a number 1-65535 or a service name; 0 or -1. */
static int
listen_port(struct rules_parser *P, uint16_t *port)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct servent *se;
	unsigned long v;

	if (t == NULL)
		return -1;
	if (!rules_p_is_value(t))
		return rules_p_fail_got(P, t, "expected a port");
	if (t->len > 0 && strspn(t->text, "0123456789") == t->len) {
		v = t->len > 9 ? 1000000000ul : strtoul(t->text, NULL, 10);
		if (v == 0 || v > 65535)
			return rules_fail(P->err, &t->pos, "port %.20s out of range", t->text);
		*port = (uint16_t)v;
	} else if (strcmp(t->text, "smtp") == 0) {
		*port = 25;
	} else if (strcmp(t->text, "smtps") == 0 || strcmp(t->text, "submissions") == 0) {
		*port = 465;
	} else if (strcmp(t->text, "submission") == 0) {
		*port = 587;
	} else if ((se = getservbyname(t->text, "tcp")) != NULL) {
		*port = ntohs((uint16_t)se->s_port);
	} else {
		return rules_fail(P->err, &t->pos, "invalid port \"%.40s\"", t->text);
	}
	rules_p_advance(P);
	return 0;
}

/* Mark the option group bit; refuses a second one with msg; 0 or -1. */
static int
listen_once(struct rules_parser *P, struct listen_opts *o, unsigned bit, const char *msg,
            const struct rules_pos *pos)
{
	if (o->have & bit)
		return rules_fail(P->err, pos, "%s", msg);
	o->have |= bit;
	return 0;
}

/* tls, tls-require [verify], smtps [verify]: one TLS mode; 0 or -1. */
static int
listen_tls(struct rules_parser *P, struct listen_opts *o, const char *kw,
           const struct rules_pos *pos)
{
	const struct rules_tok *t;

	if (o->tls != NULL && (strcmp(o->tls, "smtps") == 0) != (strcmp(kw, "smtps") == 0))
		return rules_fail(P->err, pos, "\"%s\" and \"%s\" are mutually exclusive", o->tls, kw);
	if (o->tls != NULL)
		return rules_fail(P->err, pos, "TLS mode already specified");
	o->tls = strcmp(kw, "tls") == 0 ? "tls" : strcmp(kw, "smtps") == 0 ? "smtps" : "tls-require";
	if (strcmp(kw, "tls") != 0 && (t = rules_p_peek(P, 0)) != NULL && rules_p_is_word(t, "verify")) {
		o->tls_verify = 1;   /* a client certificate is required */
		rules_p_advance(P);
	}
	return 0;
}

/* auth|auth-optional [tables]: a table follows unless an option does. */
static int
listen_auth(struct rules_parser *P, struct listen_opts *o, const char *kw,
            const struct rules_pos *pos)
{
	const struct rules_tok *t;

	if (listen_once(P, o, 1u << 1, "auth already specified", pos) < 0)
		return -1;
	o->auth = strcmp(kw, "auth") == 0 ? 1 : 2;
	o->auth_pos = *pos;
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (rules_p_is_punct(t, '<') || rules_p_is_punct(t, '{') || t->kind == RULES_TOK_STRING ||
	    (t->kind == RULES_TOK_WORD && !rules_keyword_reserved(t->text))) {
		if (rules_p_table_use(P, RULES_USE_MAP, "auth") < 0)
			return -1;
		o->auth_use = P->ast->nuses;
	}
	return 0;
}

/* filter NAME | filter { a, b }; 0 or -1. */
static int
listen_filter(struct rules_parser *P, struct listen_opts *o, const struct rules_pos *pos)
{
	const struct rules_tok *t;
	int r;

	if (listen_once(P, o, 1u << 2, "filter already specified", pos) < 0 ||
	    (t = rules_p_peek(P, 0)) == NULL)
		return -1;
	o->filter_ref = P->ast->nrefs;
	r = rules_p_is_punct(t, '{') ? rules_p_filter_chain(P) :
	    rules_p_ref(P, RULES_DECL_FILTER, "a filter name", 0);
	o->filter_nrefs = P->ast->nrefs - o->filter_ref;
	return r;
}

/* ca NAME: the CA file client certificates are checked against. A name
 * not declared before is reported by rules_check() with the other
 * references; 0 or -1. */
static int
listen_ca(struct rules_parser *P, struct listen_opts *o)
{
	const char *name;

	if (rules_p_ref(P, RULES_DECL_CA, "a ca name", 0) < 0)
		return -1;
	name = P->ast->refs[P->ast->nrefs - 1].name;
	for (unsigned i = 0; i < P->ast->ndecls; i++) {
		const struct rules_ast_decl *d = &P->ast->decls[i];
		if (d->kind == RULES_DECL_CA && strcasecmp(d->name, name) == 0)
			snprintf(o->ca, sizeof o->ca, "%s", d->cert);
	}
	return 0;
}

/* Options with a value or nothing, once each: bit, message; 0 or -1. */
static int
listen_simple(struct rules_parser *P, struct listen_opts *o, const char *kw,
              const struct rules_pos *pos)
{
	static const char *const once[] = {
		"ca", "ciphers", "protocols", "hostnames", "mask-src", "received-auth", "no-dsn",
		"proxy-v2", "senders", NULL,
	};
	char msg[64];
	const struct rules_tok *t;
	unsigned i;

	for (i = 0; once[i] && strcmp(once[i], kw) != 0; i++)
		;
	snprintf(msg, sizeof msg, "%s already specified", kw);
	if (listen_once(P, o, 1u << (8 + i), msg, pos) < 0)
		return -1;
	if (strcmp(kw, "no-dsn") == 0)
		o->no_dsn = 1;
	if (strcmp(kw, "mask-src") == 0)
		o->mask_src = 1;
	if (strcmp(kw, "received-auth") == 0)
		o->received_auth = 1;
	if (strcmp(kw, "ca") == 0)
		return listen_ca(P, o);
	if (strcmp(kw, "ciphers") == 0) {
		o->ciphers_set = 1;
		return rules_p_tls_ciphers(P, o->ciphers, sizeof o->ciphers);
	}
	if (strcmp(kw, "protocols") == 0)
		return rules_p_tls_protocols(P, &o->protocols);
	if (strcmp(kw, "hostnames") == 0)
		return rules_p_table_use(P, RULES_USE_MAP, "hostnames");
	if (strcmp(kw, "proxy-v2") == 0)
		o->proxy_v2 = 1;
	if (strcmp(kw, "senders") == 0) {
		if (rules_p_table_use(P, RULES_USE_MAP, "senders") < 0 ||
		    (t = rules_p_peek(P, 0)) == NULL)
			return -1;
		o->senders_use = P->ast->nuses;
		if (rules_p_is_word(t, "masquerade")) {
			o->masquerade = 1;
			rules_p_advance(P);
		}
	}
	return 0;
}

/* inet4|inet6, port, tag, hostname; 0 or -1. */
static int
listen_basic(struct rules_parser *P, struct listen_opts *o, const char *kw,
             const struct rules_pos *pos)
{
	if (strcmp(kw, "inet4") == 0 || strcmp(kw, "inet6") == 0) {
		if (listen_once(P, o, 1u << 3, "address family already specified", pos) < 0)
			return -1;
		o->family = kw[4] == '4' ? AF_INET : AF_INET6;
		return 0;
	}
	if (strcmp(kw, "port") == 0)
		return listen_once(P, o, 1u << 4, "port already specified", pos) < 0 ? -1 :
		       listen_port(P, &o->port);
	if (strcmp(kw, "hostname") == 0)
		return listen_once(P, o, 1u << 5, "hostname already specified", pos) < 0 ? -1 :
		       rules_p_take_value(P, o->hostname, sizeof o->hostname, "a hostname", NULL);
	if (listen_once(P, o, 1u << 6, "tag already specified", pos) < 0 ||
	    rules_p_take_value(P, o->tag, sizeof o->tag, "a tag", NULL) < 0)
		return -1;
	if (strlen(o->tag) >= LISTEN_TAG_BYTES_MAX)
		return rules_fail(P->err, pos, "tag name too long (at most %d bytes)",
		                  LISTEN_TAG_BYTES_MAX - 1);
	return 0;
}

/* One listen option at the next token; 0 or -1. */
static int
listen_option(struct rules_parser *P, struct listen_opts *o, int sock)
{
	const struct rules_tok *t = rules_p_peek(P, 0);
	struct rules_pos pos = t->pos;
	char kw[32];

	if (!rules_p_in_list(listen_options, t))
		return rules_p_unknown(P, t, "listen option", listen_options);
	snprintf(kw, sizeof kw, "%s", t->text);
	if (sock && !rules_p_in_list(listen_socket_options, t))
		return rules_fail(P->err, &pos, "\"listen on socket\" does not take \"%s\"", kw);
	/* sessions run filters; the local socket's submissions do not yet */
	if ((!rules_p_in_list(listen_supported, t) || (sock && strcmp(kw, "filter") == 0)) &&
	    rules_p_unsupported(P, &pos, "%s", kw) < 0)
		return -1;
	rules_p_advance(P);
	if (strcmp(kw, "tls") == 0 || strcmp(kw, "tls-require") == 0 || strcmp(kw, "smtps") == 0)
		return listen_tls(P, o, kw, &pos);
	if (strcmp(kw, "auth") == 0 || strcmp(kw, "auth-optional") == 0)
		return listen_auth(P, o, kw, &pos);
	if (strcmp(kw, "filter") == 0)
		return listen_filter(P, o, &pos);
	if (strcmp(kw, "milter") == 0)
		return listen_once(P, o, 1u << 24, "milter already specified", &pos) < 0 ? -1 :
		       rules_p_listen_milters(P, o->milters, &o->nmilters);
	if (strcmp(kw, "pki") == 0) {
		if (o->npki++ == 0)
			o->pki_pos = pos;
		if (o->npki > LISTEN_PKI_MAX)
			return rules_fail(P->err, &pos, "too many pki specified (at most %d)",
			                  LISTEN_PKI_MAX);
		const struct rules_tok *n = rules_p_peek(P, 0);
		if (n != NULL && rules_p_is_value(n))
			snprintf(o->pki[o->npki - 1], sizeof o->pki[0], "%s", n->text);
		return rules_p_ref(P, RULES_DECL_PKI, "a pki name", 0);
	}
	if (strcmp(kw, "inet4") == 0 || strcmp(kw, "inet6") == 0 || strcmp(kw, "port") == 0 ||
	    strcmp(kw, "hostname") == 0 || strcmp(kw, "tag") == 0)
		return listen_basic(P, o, kw, &pos);
	return listen_simple(P, o, kw, &pos);
}

/* 127.0.0.0/8, ::1 or an IPv4-mapped 127.x address: where AUTH may go in
 * plain text (nothing leaves the machine). */
static int
listen_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Append one listener for sa; 0 or -1. */
static int
add_listener(struct rules_parser *P, const struct sockaddr *sa, const char *spec,
             const struct listen_opts *o, const struct rules_pos *pos)
{
	struct rules_ast *a = P->ast;
	struct rules_listener *l;
	socklen_t len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
	                                           sizeof(struct sockaddr_in6);

	if (o->family != AF_UNSPEC && o->family != sa->sa_family)
		return 0;
	if (o->auth && o->tls == NULL && !listen_is_loopback(sa))
		return rules_fail(P->err, &o->auth_pos, "auth requires tls, tls-require or smtps "
		                  "(or a loopback address: %s is not one)", spec);
	if (rules_grow(&a->listeners, &a->caplisteners, a->nlisteners, sizeof *a->listeners) < 0)
		return rules_fail(P->err, pos, "out of memory");
	l = &a->listeners[a->nlisteners++];
	memset(l, 0, sizeof *l);
	memcpy(&l->addr, sa, len);
	l->addr_len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&l->addr)->sin_port = htons(o->port);
	else
		((struct sockaddr_in6 *)&l->addr)->sin6_port = htons(o->port);
	snprintf(l->spec, sizeof l->spec, "%s", spec);
	snprintf(l->tag, sizeof l->tag, "%s", o->tag);
	snprintf(l->hostname, sizeof l->hostname, "%s", o->hostname);
	l->line = pos->line;
	l->tls = o->tls == NULL ? RULES_TLS_NONE :
	         strcmp(o->tls, "smtps") == 0 ? RULES_TLS_SMTPS :
	         strcmp(o->tls, "tls-require") == 0 ? RULES_TLS_REQUIRE : RULES_TLS_STARTTLS;
	l->tls_verify = o->tls_verify;
	snprintf(l->tls_ca, sizeof l->tls_ca, "%s", o->ca);
	snprintf(l->tls_ciphers, sizeof l->tls_ciphers, "%s", o->ciphers);
	l->tls_ciphers_set = o->ciphers_set;
	l->tls_protocols = o->protocols ? o->protocols : RULES_TLS_PROTOCOLS_DEFAULT;
	l->no_dsn = o->no_dsn;
	l->proxy_v2 = o->proxy_v2;
	l->auth = o->auth == 1 ? RULES_AUTH_REQUIRE : o->auth == 2 ? RULES_AUTH_OPTIONAL :
	          RULES_AUTH_NONE;
	l->auth_use = o->auth_use;
	l->filter_ref = o->filter_ref;
	l->filter_nrefs = o->filter_nrefs;
	memcpy(l->milters, o->milters, sizeof l->milters);
	l->nmilters = o->nmilters;
	l->senders_use = o->senders_use;
	l->senders_masquerade = o->masquerade;
	l->mask_src = o->mask_src;
	l->received_auth = o->received_auth;
	for (unsigned i = 0; i < o->npki && i < RULES_LISTENER_PKI_MAX; i++) {
		snprintf(l->pki[i], sizeof l->pki[i], "%s", o->pki[i]);
		for (char *c = l->pki[i]; *c; c++)
			*c = (char)tolower((unsigned char)*c);   /* pki names are kept lowercased */
		l->npki = i + 1;
	}
	return 0;
}

/* Add a listener for a numeric address; 1 added, 0 not numeric, -1 error. */
static int
listen_numeric(struct rules_parser *P, const char *text, const char *spec,
               const struct listen_opts *o, const struct rules_pos *pos)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	unsigned before = P->ast->nlisteners;

	memset(&s4, 0, sizeof s4);
	memset(&s6, 0, sizeof s6);
	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		if (add_listener(P, (struct sockaddr *)&s4, spec, o, pos) < 0)
			return -1;
	} else if (inet_pton(AF_INET6, text, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		if (add_listener(P, (struct sockaddr *)&s6, spec, o, pos) < 0)
			return -1;
	} else {
		return 0;
	}
	if (P->ast->nlisteners == before)
		return rules_fail(P->err, pos, "address \"%s\" is not in the address family asked for",
		                  text);
	return 1;
}

/* Add a listener per address of interface name; count added, or -1. */
static int
listen_interface(struct rules_parser *P, const char *name, const char *spec,
                 const struct listen_opts *o, const struct rules_pos *pos)
{
	struct ifaddrs *ifa, *p;
	unsigned before = P->ast->nlisteners;

	if (getifaddrs(&ifa) < 0)
		return rules_fail(P->err, pos, "cannot list interfaces: %s", strerror(errno));
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL || strcmp(p->ifa_name, name) != 0)
			continue;
		if (p->ifa_addr->sa_family != AF_INET && p->ifa_addr->sa_family != AF_INET6)
			continue;
		if (add_listener(P, p->ifa_addr, spec, o, pos) < 0) {
			freeifaddrs(ifa);
			return -1;
		}
	}
	freeifaddrs(ifa);
	return (int)(P->ast->nlisteners - before);
}

/* Add the interface name found in a route line if new; n is the count. */
static void
egress_add(char names[][32], unsigned *n, const char *name)
{
	unsigned i;

	if (strcmp(name, "lo") == 0 || *n == LISTEN_EGRESS_MAX)
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(names[i], name) == 0)
			return;
	snprintf(names[(*n)++], 32, "%s", name);
}

/* Interfaces of the default routes (OpenBSD's "egress" group); count. */
static unsigned
egress_interfaces(char names[][32])
{
	char line[512], ifname[32], dst[40], mask[40], plen[8];
	unsigned n = 0;
	FILE *f;

	if ((f = fopen("/proc/net/route", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "%31s %39s %*s %*s %*s %*s %*s %39s", ifname, dst, mask) == 3 &&
			    strcmp(dst, "00000000") == 0 && strcmp(mask, "00000000") == 0)
				egress_add(names, &n, ifname);
		fclose(f);
	}
	if ((f = fopen("/proc/net/ipv6_route", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "%39s %7s %*s %*s %*s %*s %*s %*s %*s %31s", dst, plen,
			           ifname) == 3 && strspn(dst, "0") == 32 && strcmp(plen, "00") == 0)
				egress_add(names, &n, ifname);
		fclose(f);
	}
	return n;
}

/* listen on egress: every interface of a default route; 0 or -1. */
static int
listen_egress(struct rules_parser *P, const char *spec, const struct listen_opts *o,
              const struct rules_pos *pos)
{
	char names[LISTEN_EGRESS_MAX][32];
	unsigned n = egress_interfaces(names), i;

	if (n == 0)
		return rules_p_warn(P, pos, "no default route: \"listen on %s\" listens nowhere", spec);
	for (i = 0; i < n; i++)
		if (listen_interface(P, names[i], spec, o, pos) < 0)
			return -1;
	return 0;
}

/* Resolve a host name (it holds a dot); count added, or -1. */
static int
listen_dns(struct rules_parser *P, const char *spec, const struct listen_opts *o,
           const struct rules_pos *pos)
{
	struct addrinfo hints, *res, *r;
	unsigned before = P->ast->nlisteners;

	if (strchr(spec, '.') == NULL)
		return 0;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = o->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if (getaddrinfo(spec, NULL, &hints, &res) != 0)
		return 0;
	for (r = res; r != NULL; r = r->ai_next) {
		if ((r->ai_family == AF_INET || r->ai_family == AF_INET6) &&
		    add_listener(P, r->ai_addr, spec, o, pos) < 0) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return (int)(P->ast->nlisteners - before);
}

/* Turn ADDR (address, localhost, any, all, egress, interface, host name)
 * into listeners; 0 or -1. */
static int
listen_resolve(struct rules_parser *P, const char *spec, const struct listen_opts *o,
               const struct rules_pos *pos)
{
	int r;

	if (strcmp(spec, "localhost") == 0) {
		if (listen_numeric(P, "127.0.0.1", spec, o, pos) < 0 ||
		    (o->family != AF_INET && listen_numeric(P, "::1", spec, o, pos) < 0))
			return -1;
		return 0;
	}
	if (strcmp(spec, "any") == 0 || strcmp(spec, "all") == 0)
		return listen_numeric(P, o->family == AF_INET6 ? "::" : "0.0.0.0", spec, o, pos) < 0 ?
		       -1 : 0;
	if ((r = listen_numeric(P, spec, spec, o, pos)) != 0)
		return r < 0 ? -1 : 0;
	if ((r = listen_interface(P, spec, spec, o, pos)) == 0 && strcmp(spec, "lo0") == 0)
		r = listen_interface(P, "lo", spec, o, pos); /* OpenBSD's name */
	if (r == 0 && strcmp(spec, "egress") == 0)
		return listen_egress(P, spec, o, pos);
	if (r == 0)
		r = listen_dns(P, spec, o, pos);
	if (r < 0)
		return -1;
	if (r == 0)
		return rules_fail(P->err, pos, "no such interface or address \"%s\"", spec);
	return 0;
}

/* What OpenSMTPD's create_if_listener() refuses; 0 or -1. */
static int
listen_check(struct rules_parser *P, const struct listen_opts *o)
{
	if (o->npki && o->tls == NULL)
		return rules_fail(P->err, &o->pki_pos, "pki requires tls, tls-require or smtps");
	return 0;
}

/* listen on socket [filter|mask-src|tag]: one per configuration. */
static int
listen_socket(struct rules_parser *P, const struct rules_pos *pos)
{
	const struct rules_tok *t;
	struct listen_opts o;

	if (P->ast->sock_listener++)
		return rules_fail(P->err, pos, "socket listener already configured");
	memset(&o, 0, sizeof o);
	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t))
		if (listen_option(P, &o, 1) < 0)
			return -1;
	return t == NULL ? -1 : rules_p_expect_end(P);
}

/* listen on ADDR|socket [options]; 0 or -1. */
int
rules_parse_listen(struct rules_parser *P)
{
	char spec[RULES_HOST_BYTES_MAX];
	const struct rules_tok *t;
	struct listen_opts o;
	struct rules_pos pos;

	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (!rules_p_is_word(t, "on"))
		return rules_p_fail_got(P, t, "expected \"on\" after \"listen\"");
	rules_p_advance(P);
	if ((t = rules_p_peek(P, 0)) == NULL)
		return -1;
	if (rules_p_is_word(t, "socket")) {
		pos = t->pos;
		rules_p_advance(P);
		return listen_socket(P, &pos);
	}
	if (rules_p_take_value(P, spec, sizeof spec, "an address or interface after \"listen on\"",
	                       &pos) < 0)
		return -1;
	memset(&o, 0, sizeof o);
	o.port = 25;
	o.family = AF_UNSPEC;
	while ((t = rules_p_peek(P, 0)) != NULL && !rules_p_is_end(t))
		if (listen_option(P, &o, 0) < 0)
			return -1;
	if (t == NULL || listen_check(P, &o) < 0)
		return -1;
	if (!(o.have & (1u << 4)) && o.tls != NULL && strcmp(o.tls, "smtps") == 0)
		o.port = 465;
	if (listen_resolve(P, spec, &o, &pos) < 0)
		return -1;
	return rules_p_expect_end(P);
}
