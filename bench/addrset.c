/*
 * bench/addrset.c - the address set of bench/addrset.h.
 */
#include "bench/addrset.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

void
bench_addrset_init(struct bench_addrset *s)
{
	memset(s, 0, sizeof *s);
}

void
bench_addrset_free(struct bench_addrset *s)
{
	free(s->slots);
	memset(s, 0, sizeof *s);
}

/* FNV-1a over the 16 bytes. */
static uint64_t
addrset_hash(const unsigned char *a)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* Insert without growing; returns 1 new, 0 known. */
static int
addrset_put(unsigned char (*slots)[17], size_t cap, const unsigned char *a)
{
	for (size_t i = addrset_hash(a) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!slots[i][16]) {
			memcpy(slots[i], a, 16);
			slots[i][16] = 1;
			return 1;
		}
		if (memcmp(slots[i], a, 16) == 0)
			return 0;
	}
}

/* Double the table (or make the first one). */
static int
addrset_grow(struct bench_addrset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	unsigned char (*slots)[17] = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i][16])
			addrset_put(slots, cap, s->slots[i]);
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* Returns 1 when a is in the table. */
static int
addrset_has(const struct bench_addrset *s, const unsigned char *a)
{
	for (size_t i = addrset_hash(a) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slots[i][16])
			return 0;
		if (memcmp(s->slots[i], a, 16) == 0)
			return 1;
	}
}

/* Grow at half full while under BENCH_ADDRSET_MAX; when it cannot grow,
 * fill up to one free slot, then only known addresses are found. */
int
bench_addrset_add(struct bench_addrset *s, const unsigned char addr[16])
{
	if ((s->count + 1) * 2 > s->cap && s->count < BENCH_ADDRSET_MAX)
		addrset_grow(s);
	if (s->count + 1 >= s->cap) {
		if (s->cap > 0 && addrset_has(s, addr))
			return 0;
		s->overflow++;
		return -1;
	}
	int added = addrset_put(s->slots, s->cap, addr);
	s->count += (size_t)added;
	return added;
}

int
bench_addrset_add_sockaddr(struct bench_addrset *s, const struct sockaddr_storage *sa)
{
	unsigned char a[16];
	if (sa->ss_family == AF_INET) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return -1;
	}
	return bench_addrset_add(s, a);
}

int
bench_addrset_merge(struct bench_addrset *into, const struct bench_addrset *from)
{
	into->overflow += from->overflow;
	for (size_t i = 0; i < from->cap; i++)
		if (from->slots[i][16] && bench_addrset_add(into, from->slots[i]) < 0)
			return -1;
	return 0;
}
