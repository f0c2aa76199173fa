/*
 * core/shard_dns.h - a shard's resolver: core/dns.c with its sockets polled
 * on the shard's ring. Created on first use; timeouts are driven from the
 * shard's tick. The resolver's servers come from RINGMTA_RESOLVERS
 * ("127.0.0.1:5353,[::1]:53"), else /etc/resolv.conf.
 */
#ifndef CORE_SHARD_DNS_H
#define CORE_SHARD_DNS_H

#include "core/dns.h"

struct shard;

/* The shard's resolver, made on first call; NULL (logged) if it cannot be. */
struct dns *shard_dns(struct shard *sh);
/* Once a second: let c-ares time out what is late. */
void shard_dns_tick(struct shard *sh);
/* Leaving the loop: cancel lookups (their callbacks run) and free. */
void shard_dns_free(struct shard *sh);
/* True when no lookup and no poll is in flight. */
int shard_dns_idle(struct shard *sh);

#endif
