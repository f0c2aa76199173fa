/*
 * bench/proxyhdr.h - the PROXY protocol header the load generator sends
 * first on each connection (HAProxy's proxy-protocol.txt, version 1 text
 * and version 2 binary) to claim a source address it does not have, and
 * the CIDR block those addresses are drawn from ("10.0.0.0/8",
 * "2001:db8::/32"): in order (address n of the block for the nth
 * connection, wrapping) or at random. Only the header carries these
 * addresses; the TCP connection itself stays on loopback. No I/O.
 */
#ifndef BENCH_PROXYHDR_H
#define BENCH_PROXYHDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_PROXY_HDR_BYTES_MAX 108     /* v1: 107 with CRLF; v2 TCP6: 52 */

struct bench_cidr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned prefix;          /* 0..32 or 0..128 */
	unsigned char base[16];   /* network address, host bits zero (v4 in the first 4) */
	uint64_t size_m1;         /* addresses in the block minus one, at most 2^64 - 1 */
};

/* "A.B.C.D/N" or "IPV6/N" (or a plain address: /32, /128). Host bits set
 * in the address are cleared. Returns 0 or -1. */
int bench_cidr_parse(const char *text, struct bench_cidr *c);
/* Address n of the block (n modulo its size) into out (4 or 16 bytes). */
void bench_cidr_addr(const struct bench_cidr *c, uint64_t n, unsigned char out[16]);
/* "v1" or "v2" -> 1 or 2; returns -1 for anything else. */
int bench_proxy_parse_version(const char *text);
/* Build a header of version 1 or 2 claiming src:sport -> dst:dport, both of
 * family (AF_INET: 4-byte addresses, AF_INET6: 16-byte). Returns its length,
 * or -1 when cap is too small or the arguments are wrong. */
int bench_proxy_build(int version, int family, const unsigned char *src, uint16_t sport,
                      const unsigned char *dst, uint16_t dport, unsigned char *out,
                      size_t cap);

#endif
