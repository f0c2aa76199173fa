/*
 * core/dnsbl_cache.c - a shard's bounded cache of DNSBL answers. See
 * core/dnsbl_cache.h.
 */
#include "core/dnsbl_cache.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dns.h"

struct dnsbl_cache_slot {
	uint64_t expires_ms;           /* 0: empty */
	uint8_t family;                /* AF_INET or AF_INET6 */
	uint8_t listed;
	uint8_t addr[16];
	char zone[DNSBL_CACHE_ZONE_BYTES];
};

struct dnsbl_cache {
	struct dnsbl_cache_slot slot[DNSBL_CACHE_SLOTS];
};

struct dnsbl_cache *
dnsbl_cache_new(void)
{
	return calloc(1, sizeof(struct dnsbl_cache));
}

void
dnsbl_cache_free(struct dnsbl_cache *c)
{
	free(c);
}

/* FNV-1a over the zone (case folded), family and address. */
static unsigned
dnsbl_cache_index(const char *zone, uint8_t family, const uint8_t *addr)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = zone; *p != '\0'; p++)
		h = (h ^ (uint8_t)(*p | 0x20)) * 1099511628211ull;
	h = (h ^ family) * 1099511628211ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	return (unsigned)(h % DNSBL_CACHE_SLOTS);
}

/* The slot of the key, and whether it holds exactly that key. */
static struct dnsbl_cache_slot *
dnsbl_cache_find(const struct dnsbl_cache *c, const char *zone, const struct sockaddr *sa,
                 uint8_t *family, uint8_t *addr, int *same)
{
	struct dnsbl_cache_slot *s;

	*same = 0;
	int fam;

	if (strlen(zone) >= DNSBL_CACHE_ZONE_BYTES || dns_client_addr(sa, &fam, addr) < 0)
		return NULL;
	*family = (uint8_t)fam;
	s = (struct dnsbl_cache_slot *)&c->slot[dnsbl_cache_index(zone, *family, addr)];
	*same = s->expires_ms != 0 && s->family == *family && memcmp(s->addr, addr, 16) == 0 &&
	        strcasecmp(s->zone, zone) == 0;
	return s;
}

enum dnsbl_cache_answer
dnsbl_cache_get(const struct dnsbl_cache *c, const char *zone, const struct sockaddr *sa,
                uint64_t now_ms)
{
	uint8_t family, addr[16];
	int same;
	const struct dnsbl_cache_slot *s = dnsbl_cache_find(c, zone, sa, &family, addr, &same);

	if (s == NULL || !same || now_ms >= s->expires_ms)
		return DNSBL_CACHE_MISS;
	return s->listed ? DNSBL_CACHE_LISTED : DNSBL_CACHE_CLEAN;
}

void
dnsbl_cache_put(struct dnsbl_cache *c, const char *zone, const struct sockaddr *sa, int listed,
                unsigned ttl_s, uint64_t now_ms)
{
	uint8_t family, addr[16];
	int same;
	struct dnsbl_cache_slot *s = dnsbl_cache_find(c, zone, sa, &family, addr, &same);
	unsigned keep_s = listed ? ttl_s : DNSBL_CACHE_CLEAN_S;

	if (s == NULL || keep_s == 0)
		return;   /* a TTL of 0 says: do not keep it */
	if (keep_s > DNSBL_CACHE_TTL_S_MAX)
		keep_s = DNSBL_CACHE_TTL_S_MAX;
	s->expires_ms = now_ms + (uint64_t)keep_s * 1000;
	s->family = family;
	s->listed = listed != 0;
	memcpy(s->addr, addr, 16);
	memcpy(s->zone, zone, strlen(zone) + 1);
}
