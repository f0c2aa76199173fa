/*
 * core/dnsbl_cache.h - a shard's cache of DNSBL answers (RFC 5782), so a
 * client that connects again within the answer's TTL costs no query. No
 * I/O, no clock (the caller gives now_ms), no lock: each shard owns one.
 *
 * The cache is a fixed table of DNSBL_CACHE_SLOTS entries, direct-mapped
 * by a hash of zone, family and address: a new answer replaces whatever
 * held its slot, so memory never grows. A listed answer is kept for its
 * A record's TTL, a "not listed" one (NXDOMAIN carries no A record) for
 * DNSBL_CACHE_CLEAN_S; either at most DNSBL_CACHE_TTL_S_MAX. Temporary
 * failures are never cached. Zones longer than DNSBL_CACHE_ZONE_BYTES - 1
 * are not cached.
 *
 * dnsbl_cache_new() returns NULL without memory; dnsbl_cache_get() says
 * DNSBL_CACHE_LISTED, DNSBL_CACHE_CLEAN or DNSBL_CACHE_MISS.
 */
#ifndef CORE_DNSBL_CACHE_H
#define CORE_DNSBL_CACHE_H

#include <stdint.h>
#include <sys/socket.h>

#define DNSBL_CACHE_SLOTS 4096u
#define DNSBL_CACHE_ZONE_BYTES 248u
#define DNSBL_CACHE_CLEAN_S 300u
#define DNSBL_CACHE_TTL_S_MAX 3600u

enum dnsbl_cache_answer { DNSBL_CACHE_MISS = -1, DNSBL_CACHE_CLEAN = 0, DNSBL_CACHE_LISTED = 1 };

struct dnsbl_cache;

struct dnsbl_cache *dnsbl_cache_new(void);
void dnsbl_cache_free(struct dnsbl_cache *c);
/* What is known of sa in zone at now_ms. */
enum dnsbl_cache_answer dnsbl_cache_get(const struct dnsbl_cache *c, const char *zone,
                                        const struct sockaddr *sa, uint64_t now_ms);
/* Keep an answer (listed 1 or 0; ttl_s from a listed A record). */
void dnsbl_cache_put(struct dnsbl_cache *c, const char *zone, const struct sockaddr *sa,
                     int listed, unsigned ttl_s, uint64_t now_ms);

#endif
