/*
 * core/source_limit.c - the per-address counts of core/source_limit.h: an
 * open-addressing hash table (linear probing, deletion by backward shift,
 * so no tombstones) of IPv6 or IPv4-mapped addresses (with the port when
 * the table counts by port), twice as many slots as counted entries can
 * exist, under one mutex (held for a few hundred nanoseconds per accept,
 * connect and close).
 */
#include "core/source_limit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_KEY_BYTES 18   /* the address, then the port (0 when not counted) */

struct source_slot {
	uint8_t addr[SOURCE_KEY_BYTES];
	unsigned count;          /* 0 = free slot */
	uint64_t wanted_ms;      /* when a connection was last refused for it */
};

struct source_limit {
	pthread_mutex_t lock;
	unsigned mask;           /* slots - 1 */
	int by_port;             /* the port is part of the key */
	unsigned used;           /* slots in use: at most half of them */
	struct source_slot *slots;
};

struct source_limit *
source_limit_new(unsigned sessions, int by_port)
{
	unsigned slots = 64;
	while (slots < 2u * sessions && slots < (1u << 30))
		slots <<= 1;
	struct source_limit *sl = calloc(1, sizeof *sl);
	if (sl == NULL || (sl->slots = calloc(slots, sizeof *sl->slots)) == NULL) {
		free(sl);
		return NULL;
	}
	sl->mask = slots - 1;
	sl->by_port = by_port;
	pthread_mutex_init(&sl->lock, NULL);
	return sl;
}

void
source_limit_free(struct source_limit *sl)
{
	if (sl == NULL)
		return;
	pthread_mutex_destroy(&sl->lock);
	free(sl->slots);
	free(sl);
}

/* The address as 16 octets (IPv4 mapped into IPv6), then the port in
 * network order when sl counts by port, else 0; 0, or -1 for another
 * family. */
static int
source_key(const struct source_limit *sl, const struct sockaddr_storage *peer,
           uint8_t key[SOURCE_KEY_BYTES])
{
	in_port_t port;
	if (peer->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
		port = ((const struct sockaddr_in6 *)peer)->sin6_port;
	} else if (peer->ss_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		port = ((const struct sockaddr_in *)peer)->sin_port;
	} else {
		return -1;
	}
	if (!sl->by_port)
		port = 0;
	memcpy(key + 16, &port, 2);
	return 0;
}

static unsigned
source_hash(const uint8_t key[SOURCE_KEY_BYTES])
{
	uint64_t a, b;
	uint16_t port;
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	memcpy(&port, key + 16, 2);
	uint64_t h = (a ^ ((b ^ port) * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 32);
}

/* The slot holding key, or the free slot where it would go. */
static unsigned
source_find(const struct source_limit *sl, const uint8_t key[SOURCE_KEY_BYTES])
{
	unsigned i = source_hash(key) & sl->mask;
	while (sl->slots[i].count != 0 && memcmp(sl->slots[i].addr, key, SOURCE_KEY_BYTES) != 0)
		i = (i + 1) & sl->mask;
	return i;
}

unsigned
source_limit_enter(struct source_limit *sl, const struct sockaddr_storage *peer,
                   unsigned max)
{
	uint8_t key[SOURCE_KEY_BYTES];
	if (source_key(sl, peer, key) < 0)
		return 0;
	pthread_mutex_lock(&sl->lock);
	unsigned i = source_find(sl, key), had = sl->slots[i].count;
	if (had == 0 && sl->used >= (sl->mask + 1) / 2)
		had = max;   /* a new address with the table half full: refused */
	else if (had == 0 && max > 0)
		sl->used++;
	if (had < max) {
		if (sl->slots[i].count == 0)
			sl->slots[i].wanted_ms = 0;
		memcpy(sl->slots[i].addr, key, SOURCE_KEY_BYTES);
		sl->slots[i].count++;
	}
	pthread_mutex_unlock(&sl->lock);
	return had < max ? had : max;
}

/* Empty slot i and move later entries of its probe run back over it. */
static void
source_remove_slot(struct source_limit *sl, unsigned i)
{
	unsigned j = i;
	for (;;) {
		sl->slots[i].count = 0;
		for (;;) {
			j = (j + 1) & sl->mask;
			if (sl->slots[j].count == 0)
				return;
			unsigned home = source_hash(sl->slots[j].addr) & sl->mask;
			/* j's entry may fill i unless its home lies cyclically in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		sl->slots[i] = sl->slots[j];
		i = j;
	}
}

void
source_limit_leave(struct source_limit *sl, const struct sockaddr_storage *peer)
{
	uint8_t key[SOURCE_KEY_BYTES];
	if (source_key(sl, peer, key) < 0)
		return;
	pthread_mutex_lock(&sl->lock);
	unsigned i = source_find(sl, key);
	if (sl->slots[i].count > 1)
		sl->slots[i].count--;
	else if (sl->slots[i].count == 1) {
		source_remove_slot(sl, i);
		sl->used--;
	}
	pthread_mutex_unlock(&sl->lock);
}

void
source_limit_want(struct source_limit *sl, const struct sockaddr_storage *peer, uint64_t now_ms)
{
	uint8_t key[SOURCE_KEY_BYTES];
	if (source_key(sl, peer, key) < 0)
		return;
	pthread_mutex_lock(&sl->lock);
	unsigned i = source_find(sl, key);
	if (sl->slots[i].count > 0)
		sl->slots[i].wanted_ms = now_ms;
	pthread_mutex_unlock(&sl->lock);
}

uint64_t
source_limit_wanted(struct source_limit *sl, const struct sockaddr_storage *peer)
{
	uint8_t key[SOURCE_KEY_BYTES];
	if (source_key(sl, peer, key) < 0)
		return 0;
	pthread_mutex_lock(&sl->lock);
	unsigned i = source_find(sl, key);
	uint64_t t = sl->slots[i].count > 0 ? sl->slots[i].wanted_ms : 0;
	pthread_mutex_unlock(&sl->lock);
	return t;
}
