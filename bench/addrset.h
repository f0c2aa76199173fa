/*
 * bench/addrset.h - a set of IP addresses (16 bytes each, IPv4 as
 * ::ffff:a.b.c.d) for the sink to count the distinct sources that PROXY
 * headers claimed: open addressing, grown by doubling. One owner; merge
 * sets of several threads into one to count over all of them.
 */
#ifndef BENCH_ADDRSET_H
#define BENCH_ADDRSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BENCH_ADDRSET_MAX (UINT64_C(1) << 24)   /* addresses kept at most */

struct bench_addrset {
	unsigned char (*slots)[17];   /* 16 address bytes and a used flag */
	size_t cap, count;
	uint64_t overflow;            /* addresses not kept: the set was full */
};

void bench_addrset_init(struct bench_addrset *s);
void bench_addrset_free(struct bench_addrset *s);
/* Add a 16-byte address; returns 1 when it was new, 0 when known, -1 when
 * it could not be kept (no memory or BENCH_ADDRSET_MAX). */
int bench_addrset_add(struct bench_addrset *s, const unsigned char addr[16]);
/* Add the address of a sockaddr_in or sockaddr_in6 (others: -1). */
int bench_addrset_add_sockaddr(struct bench_addrset *s, const struct sockaddr_storage *sa);
/* Add every address of from into into; returns 0 or -1. */
int bench_addrset_merge(struct bench_addrset *into, const struct bench_addrset *from);

#endif
