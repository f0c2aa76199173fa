/*
 * core/dns_int.h - the resolver's inside, shared by core/dns.c (MX
 * routing) and core/dns_client.c (a client's PTR, FCrDNS and DNSBL
 * lookups). Nothing else includes it.
 */
#ifndef CORE_DNS_INT_H
#define CORE_DNS_INT_H

#include <ares.h>

#include "core/dns.h"

struct dns {
	ares_channel channel;
	struct dns_watch watch;
	unsigned port;
	unsigned pending;          /* lookups in flight, of either file */
};

#endif
