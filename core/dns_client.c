/*
 * core/dns_client.c - what DNS says about a client address, for the
 * builtin filters: its PTR name, whether the name resolves back to it
 * (FCrDNS) and DNSBL listings (RFC 5782). Queries only (ares_query), so
 * /etc/hosts never answers for a client. See core/dns.h.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns_int.h"

#define DNS_CLASS_IN 1
#define DNS_TYPE_A 1
#define DNS_TYPE_PTR 12
#define DNS_TYPE_AAAA 28
#define DNS_ANSWERS_MAX 16

struct dns_client_lookup {
	struct dns *d;
	int family;                      /* AF_INET or AF_INET6 */
	uint8_t addr[16];                /* the client's address */
	int confirm;
	struct dns_rdns r;
	void (*rdns_done)(void *arg, const struct dns_rdns *r);
	void (*dnsbl_done)(void *arg, int listed, unsigned ttl_s);
	void *arg;
};

int
dns_client_addr(const struct sockaddr *sa, int *family, uint8_t *addr)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	memset(addr, 0, 16);
	if (sa != NULL && sa->sa_family == AF_INET) {
		*family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa == NULL || sa->sa_family != AF_INET6)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		*family = AF_INET;
		memcpy(addr, in6->sin6_addr.s6_addr + 12, 4);
	} else {
		*family = AF_INET6;
		memcpy(addr, in6->sin6_addr.s6_addr, 16);
	}
	return 0;
}

/* The reversed name under zone: "4.3.2.1.zone" or 32 nibbles (RFC 5782
 * 2.1, 2.4); 0 or -1 when it does not fit. */
static int
dns_client_reversed(int family, const uint8_t *addr, const char *zone, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int w;

	if (family == AF_INET) {
		w = snprintf(out, cap, "%u.%u.%u.%u.%s", addr[3], addr[2], addr[1], addr[0], zone);
		return w < 0 || (size_t)w >= cap ? -1 : 0;
	}
	for (int i = 15; i >= 0 && n + 4 < cap; i--) {
		out[n++] = hex[addr[i] & 15];
		out[n++] = '.';
		out[n++] = hex[addr[i] >> 4];
		out[n++] = '.';
	}
	w = snprintf(out + n, cap - n, "%s", zone);
	return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}

/* Answer an rdns lookup and forget it. */
static void
dns_client_rdns_finish(struct dns_client_lookup *l)
{
	l->d->pending--;
	l->rdns_done(l->arg, &l->r);
	free(l);
}

/* The PTR name's A or AAAA records: does one hold the client's address? */
static void
dns_client_forward_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_client_lookup *l = arg;
	struct ares_addrttl a[DNS_ANSWERS_MAX];
	struct ares_addr6ttl a6[DNS_ANSWERS_MAX];
	int n = DNS_ANSWERS_MAX;

	if (status == ARES_SUCCESS)
		status = l->family == AF_INET ? ares_parse_a_reply(abuf, alen, NULL, a, &n) :
		         ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
		l->r.fcrdns = 0;
	} else if (status != ARES_SUCCESS) {
		l->r.fcrdns = -1;
	} else {
		l->r.fcrdns = 0;
		for (int i = 0; i < n && !l->r.fcrdns; i++)
			l->r.fcrdns = l->family == AF_INET ? memcmp(&a[i].ipaddr, l->addr, 4) == 0 :
			              memcmp(&a6[i].ip6addr, l->addr, 16) == 0;
	}
	dns_client_rdns_finish(l);
}

/* The PTR answer: the name, then its forward lookup when asked. */
static void
dns_client_ptr_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_client_lookup *l = arg;
	struct hostent *h = NULL;

	if (status == ARES_SUCCESS)
		status = ares_parse_ptr_reply(abuf, alen, l->addr, l->family == AF_INET ? 4 : 16,
		                              l->family, &h);
	l->r.fcrdns = 0;
	if (status == ARES_SUCCESS && h != NULL && h->h_name != NULL)
		snprintf(l->r.name, sizeof l->r.name, "%s", h->h_name);
	if (h != NULL)
		ares_free_hostent(h);
	if (status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA) {
		l->r.status = DNS_TEMPFAIL;
		l->r.fcrdns = -1;
	}
	if (l->r.status == DNS_OK && l->r.name[0] != '\0' && l->confirm) {
		ares_query(l->d->channel, l->r.name, DNS_CLASS_IN,
		           l->family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA,
		           dns_client_forward_done, l);
		return;
	}
	dns_client_rdns_finish(l);
}

/* See core/dns.h. */
void
dns_client_rdns(struct dns *d, const struct sockaddr *sa, int confirm,
                void (*done)(void *arg, const struct dns_rdns *r), void *arg)
{
	struct dns_client_lookup *l = calloc(1, sizeof *l);
	char name[DNS_NAME_BYTES_MAX];

	if (l == NULL || dns_client_addr(sa, &l->family, l->addr) < 0 ||
	    dns_client_reversed(l->family, l->addr, l->family == AF_INET ? "in-addr.arpa" :
	                        "ip6.arpa", name, sizeof name) < 0) {
		struct dns_rdns r = { .status = l == NULL ? DNS_TEMPFAIL : DNS_OK, .fcrdns = 0 };
		free(l);
		done(arg, &r);   /* no address to look up (a local socket): no name */
		return;
	}
	l->d = d;
	l->confirm = confirm;
	l->rdns_done = done;
	l->arg = arg;
	d->pending++;
	ares_query(d->channel, name, DNS_CLASS_IN, DNS_TYPE_PTR, dns_client_ptr_done, l);
}

/* The DNSBL's answer: an address in 127.0.0.0/8 lists the client. */
static void
dns_client_dnsbl_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_client_lookup *l = arg;
	struct ares_addrttl a[DNS_ANSWERS_MAX];
	int n = DNS_ANSWERS_MAX, listed = 0;
	unsigned ttl = 0;

	if (status == ARES_SUCCESS)
		status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
	if (status == ARES_SUCCESS) {
		for (int i = 0; i < n; i++) {
			if ((ntohl(a[i].ipaddr.s_addr) >> 24) != 127)
				continue;
			listed = 1;
			ttl = a[i].ttl > 0 ? (unsigned)a[i].ttl : 0;
		}
	} else if (status != ARES_ENOTFOUND && status != ARES_ENODATA) {
		listed = -1;
	}
	l->d->pending--;
	l->dnsbl_done(l->arg, listed, ttl);
	free(l);
}

/* See core/dns.h. */
void
dns_client_dnsbl(struct dns *d, const struct sockaddr *sa, const char *zone,
                 void (*done)(void *arg, int listed, unsigned ttl_s), void *arg)
{
	struct dns_client_lookup *l = calloc(1, sizeof *l);
	char name[DNS_NAME_BYTES_MAX];

	if (l == NULL || dns_client_addr(sa, &l->family, l->addr) < 0 ||
	    dns_client_reversed(l->family, l->addr, zone, name, sizeof name) < 0) {
		int r = l == NULL ? -1 : 0;   /* a local socket is listed nowhere */
		free(l);
		done(arg, r, 0);
		return;
	}
	l->d = d;
	l->dnsbl_done = done;
	l->arg = arg;
	d->pending++;
	ares_query(d->channel, name, DNS_CLASS_IN, DNS_TYPE_A, dns_client_dnsbl_done, l);
}
