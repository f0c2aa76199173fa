/*
 * core/dns.h - where mail for a domain goes (RFC 5321 5.1), asked of DNS with
 * c-ares, never blocking: MX records in preference order (random among equal
 * preferences), each MX host's A and AAAA addresses, the domain itself as an
 * implicit MX when it has none.
 *
 * A resolver (struct dns) belongs to one thread. It does no I/O waiting of
 * its own: it tells its owner which sockets to watch through watch(), and
 * the owner calls dns_process() when one is ready (the shard polls them on
 * its ring) and dns_process(d, -1, 0, 0) about once a second for timeouts.
 *
 * dns_route() answers once through done(), with the addresses to try in
 * order, or:
 *   DNS_PERMFAIL  the domain does not exist, has a null MX (RFC 7505), or an
 *                 MX host named "localhost"
 *   DNS_TEMPFAIL  a server failed or timed out; try again later
 * The result passed to done() lives until done() returns.
 */
#ifndef CORE_DNS_H
#define CORE_DNS_H

#include <sys/socket.h>

#define DNS_MX_MAX 16
#define DNS_ADDRS_MAX 32
#define DNS_NAME_BYTES_MAX 256
#define DNS_ERROR_BYTES_MAX 160

enum dns_status {
	DNS_OK,
	DNS_TEMPFAIL,
	DNS_PERMFAIL,
};

struct dns_addr {
	struct sockaddr_storage addr;   /* port 25 */
	socklen_t len;
	char host[DNS_NAME_BYTES_MAX];  /* the MX host it belongs to */
	unsigned preference;
};

struct dns_route {
	enum dns_status status;
	char error[DNS_ERROR_BYTES_MAX];
	int implicit_mx;                /* no MX: the domain's own addresses */
	unsigned naddrs;
	struct dns_addr addrs[DNS_ADDRS_MAX];
};

struct dns_watch {
	/* watch fd for reading and/or writing; both 0: stop watching it */
	void (*watch)(void *arg, int fd, int readable, int writable);
	void *arg;
};

struct dns;

/* servers: "127.0.0.1:5353,[::1]:53" or NULL for the system's resolv.conf.
 * port: the TCP port mail goes to (25; tests may use another). Returns
 * NULL with err filled. */
struct dns *dns_new(const char *servers, unsigned port, const struct dns_watch *w,
                    char *err, size_t cap);
/* Cancels what is pending (their done() runs with DNS_TEMPFAIL). */
void dns_free(struct dns *d);
void dns_route(struct dns *d, const char *domain,
               void (*done)(void *arg, const struct dns_route *r), void *arg);
void dns_process(struct dns *d, int fd, int readable, int writable);
/* Lookups in flight. */
unsigned dns_pending(const struct dns *d);

#endif
