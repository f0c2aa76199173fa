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

#include <stdint.h>
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

/* The family and address of sa (a v4-mapped IPv6 one as IPv4) into
 * addr[16], zero-padded: 0, or -1 for another family (core/dns_client.c;
 * also the key of core/dnsbl_cache.c). */
int dns_client_addr(const struct sockaddr *sa, int *family, uint8_t *addr);
/* A client's names (core/dns_client.c), DNS only (never /etc/hosts):
 * dns_client_rdns() asks the PTR name of sa and, with confirm, whether
 * that name's A (IPv4) or AAAA (IPv6) records hold sa (forward-confirmed
 * reverse DNS). status: DNS_OK with name ("" when there is none: NXDOMAIN
 * or no PTR record), DNS_TEMPFAIL when a server failed or timed out;
 * fcrdns: 1 pass, 0 fail, -1 could not tell (a temporary failure). */
struct dns_rdns {
	enum dns_status status;
	char name[DNS_NAME_BYTES_MAX];
	int fcrdns;
};
void dns_client_rdns(struct dns *d, const struct sockaddr *sa, int confirm,
                     void (*done)(void *arg, const struct dns_rdns *r), void *arg);
/* dns_client_dnsbl() asks whether sa is listed in zone (RFC 5782: the
 * address's octets, or an IPv6 address's nibbles, reversed under zone;
 * an A record in 127.0.0.0/8 is a listing). done gets 1 listed, 0 not
 * listed, -1 a temporary failure, and the answer's TTL in seconds. */
void dns_client_dnsbl(struct dns *d, const struct sockaddr *sa, const char *zone,
                      void (*done)(void *arg, int listed, unsigned ttl_s), void *arg);

#endif
