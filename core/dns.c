/*
 * core/dns.c - MX routing with c-ares: the MX query, ordering, the address
 * lookups of each MX host, and the classification of failures. See
 * core/dns.h.
 */
#include "core/dns.h"
#include "core/dns_int.h"
#include "core/trace.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define DNS_CLASS_IN 1
#define DNS_TYPE_MX 15


struct dns_host {
	struct dns_lookup *lookup;
	char name[DNS_NAME_BYTES_MAX];
	unsigned preference;
	int status;                     /* ARES_* of its address lookup */
	unsigned naddrs;
	struct sockaddr_storage addrs[DNS_ADDRS_MAX];
	socklen_t lens[DNS_ADDRS_MAX];
};

struct dns_lookup {
	struct dns *d;
	char domain[DNS_NAME_BYTES_MAX];
	void (*done)(void *arg, const struct dns_route *r);
	void *arg;
	int implicit_mx;
	unsigned nhosts, hosts_left;
	struct dns_host hosts[DNS_MX_MAX];
};

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;

static void
dns_library_init(void)
{
	ares_library_init(ARES_LIB_INIT_ALL);
}

static void
dns_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = arg;
	d->watch.watch(d->watch.arg, (int)fd, readable, writable);
}

struct dns *
dns_new(const char *servers, unsigned port, const struct dns_watch *w, char *err, size_t cap)
{
	pthread_once(&dns_once, dns_library_init);
	struct dns *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->watch = *w;
	d->port = port ? port : 25;
	struct ares_options o;
	memset(&o, 0, sizeof o);
	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = d;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = 2000;
	o.tries = 2;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	int ret = ares_init_options(&d->channel, &o, mask);
	if (ret != ARES_SUCCESS) {
		snprintf(err, cap, "resolver: %s", ares_strerror(ret));
		free(d);
		return NULL;
	}
	if (servers != NULL && servers[0] &&
	    (ret = ares_set_servers_ports_csv(d->channel, servers)) != ARES_SUCCESS) {
		snprintf(err, cap, "resolver servers \"%s\": %s", servers, ares_strerror(ret));
		ares_destroy(d->channel);
		free(d);
		return NULL;
	}
	return d;
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->channel);   /* pending callbacks run with ARES_EDESTRUCTION */
	free(d);
}

unsigned
dns_pending(const struct dns *d)
{
	return d->pending;
}

void
dns_process(struct dns *d, int fd, int readable, int writable)
{
	ares_process_fd(d->channel, readable ? fd : ARES_SOCKET_BAD,
	                writable ? fd : ARES_SOCKET_BAD);
}

/* Answer and forget the lookup. */
static void
dns_finish(struct dns_lookup *l, const struct dns_route *r)
{
	TRACE(CTL_TRACE_LOOKUP, "trace lookup: mx %s: %s%s%u address%s", l->domain,
	      r->status == DNS_OK ? "" : r->error, r->status == DNS_OK ? "" : "; ", r->naddrs,
	      r->naddrs == 1 ? "" : "es");
	l->d->pending--;
	l->done(l->arg, r);
	free(l);
}

static void
dns_fail(struct dns_lookup *l, enum dns_status st, const char *fmt, const char *what)
{
	struct dns_route *r = calloc(1, sizeof *r);
	struct dns_route fallback;
	if (r == NULL) {
		memset(&fallback, 0, sizeof fallback);
		r = &fallback;
		st = DNS_TEMPFAIL;
	}
	r->status = st;
	snprintf(r->error, sizeof r->error, fmt, l->domain, what);
	dns_finish(l, r);
	if (r != &fallback)
		free(r);
}

/* Every host's addresses are in: list them in MX order. */
static void
dns_assemble(struct dns_lookup *l)
{
	struct dns_route *r = calloc(1, sizeof *r);
	if (r == NULL) {
		dns_fail(l, DNS_TEMPFAIL, "%s: %s", "out of memory");
		return;
	}
	int temp = 0;
	r->implicit_mx = l->implicit_mx;
	for (unsigned i = 0; i < l->nhosts; i++) {
		struct dns_host *h = &l->hosts[i];
		if (h->status != ARES_SUCCESS && h->status != ARES_ENOTFOUND &&
		    h->status != ARES_ENODATA)
			temp = 1;
		for (unsigned k = 0; k < h->naddrs && r->naddrs < DNS_ADDRS_MAX; k++) {
			struct dns_addr *a = &r->addrs[r->naddrs++];
			a->addr = h->addrs[k];
			a->len = h->lens[k];
			a->preference = h->preference;
			snprintf(a->host, sizeof a->host, "%s", h->name);
		}
	}
	if (r->naddrs > 0) {
		r->status = DNS_OK;
	} else {
		r->status = temp ? DNS_TEMPFAIL : DNS_PERMFAIL;
		snprintf(r->error, sizeof r->error, "%s: %s", l->domain,
		         temp ? "address lookup of its mail servers failed"
		              : "its mail servers have no address");
	}
	dns_finish(l, r);
	free(r);
}

static void
dns_addr_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_host *h = arg;
	struct dns_lookup *l = h->lookup;
	h->status = status;
	if (status == ARES_SUCCESS && res != NULL) {
		for (struct ares_addrinfo_node *n = res->nodes; n && h->naddrs < DNS_ADDRS_MAX;
		     n = n->ai_next) {
			if ((size_t)n->ai_addrlen > sizeof h->addrs[0])
				continue;
			memcpy(&h->addrs[h->naddrs], n->ai_addr, n->ai_addrlen);
			h->lens[h->naddrs++] = (socklen_t)n->ai_addrlen;
		}
	}
	if (res != NULL)
		ares_freeaddrinfo(res);
	if (--l->hosts_left == 0)
		dns_assemble(l);
}

/* Sort by preference; shuffle equal preferences (RFC 5321 5.1). */
static void
dns_order(struct dns_lookup *l)
{
	unsigned rnd[DNS_MX_MAX];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (unsigned i = 0; i < l->nhosts; i++) {
		for (unsigned k = i + 1; k < l->nhosts; k++) {
			struct dns_host *a = &l->hosts[i], *b = &l->hosts[k];
			if (b->preference < a->preference ||
			    (b->preference == a->preference && rnd[k] < rnd[i])) {
				struct dns_host t = *a;
				*a = *b;
				*b = t;
				unsigned tr = rnd[i];
				rnd[i] = rnd[k];
				rnd[k] = tr;
			}
		}
	}
}

/* Look up the addresses of every host, all at once. */
static void
dns_resolve_hosts(struct dns_lookup *l)
{
	char port[8];
	snprintf(port, sizeof port, "%u", l->d->port);
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	l->hosts_left = l->nhosts;
	for (unsigned i = 0; i < l->nhosts; i++)
		l->hosts[i].lookup = l;
	unsigned n = l->nhosts;
	for (unsigned i = 0; i < n; i++)
		ares_getaddrinfo(l->d->channel, l->hosts[i].name, port, &hints, dns_addr_done,
		                 &l->hosts[i]);
}

static void
dns_mx_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_lookup *l = arg;
	struct ares_mx_reply *mx = NULL;
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &mx);
	if (status == ARES_ENOTFOUND) {
		dns_fail(l, DNS_PERMFAIL, "%s: %s", "domain does not exist");
		return;
	}
	if (status != ARES_SUCCESS && status != ARES_ENODATA) {
		dns_fail(l, DNS_TEMPFAIL, "%s: MX lookup failed: %s", ares_strerror(status));
		return;
	}
	for (struct ares_mx_reply *m = mx; m && l->nhosts < DNS_MX_MAX; m = m->next) {
		const char *host = m->host ? m->host : "";
		if (host[0] == '\0' || strcmp(host, ".") == 0) {
			ares_free_data(mx);
			dns_fail(l, DNS_PERMFAIL, "%s: %s", "accepts no mail (null MX, RFC 7505)");
			return;
		}
		if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
			ares_free_data(mx);
			dns_fail(l, DNS_PERMFAIL, "%s: %s", "MX points to localhost");
			return;
		}
		struct dns_host *h = &l->hosts[l->nhosts++];
		snprintf(h->name, sizeof h->name, "%s", host);
		h->preference = m->priority;
	}
	if (mx != NULL)
		ares_free_data(mx);
	if (l->nhosts == 0) {
		/* RFC 5321 5.1: no MX, the domain is its own mail server */
		l->implicit_mx = 1;
		snprintf(l->hosts[0].name, sizeof l->hosts[0].name, "%s", l->domain);
		l->nhosts = 1;
	}
	dns_order(l);
	dns_resolve_hosts(l);
}

void
dns_route(struct dns *d, const char *domain,
          void (*done)(void *arg, const struct dns_route *r), void *arg)
{
	struct dns_lookup *l = calloc(1, sizeof *l);
	if (l == NULL) {
		struct dns_route r = { .status = DNS_TEMPFAIL };
		snprintf(r.error, sizeof r.error, "%s: out of memory", domain);
		done(arg, &r);
		return;
	}
	l->d = d;
	l->done = done;
	l->arg = arg;
	snprintf(l->domain, sizeof l->domain, "%s", domain);
	d->pending++;
	ares_query(d->channel, l->domain, DNS_CLASS_IN, DNS_TYPE_MX, dns_mx_done, l);
}
