/*
 * bench/proxyhdr.c - PROXY protocol headers and CIDR blocks of
 * bench/proxyhdr.h.
 */
#include "bench/proxyhdr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench/loadspec.h"

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* Clear the host bits of c->base and work out the block's size. */
static void
cidr_normalise(struct bench_cidr *c)
{
	unsigned bits = c->family == AF_INET ? 32 : 128;
	for (unsigned i = c->prefix; i < bits; i++)
		c->base[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	unsigned host = bits - c->prefix;
	c->size_m1 = host >= 64 ? UINT64_MAX : (UINT64_C(1) << host) - 1;
}

/* "A.B.C.D/N" or "IPV6/N". */
int
bench_cidr_parse(const char *text, struct bench_cidr *c)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = text ? strchr(text, '/') : NULL;
	size_t alen = slash ? (size_t)(slash - text) : (text ? strlen(text) : 0);
	if (alen == 0 || alen >= sizeof addr)
		return -1;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	struct bench_cidr out;
	memset(&out, 0, sizeof out);
	if (inet_pton(AF_INET, addr, out.base) == 1)
		out.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out.base) == 1)
		out.family = AF_INET6;
	else
		return -1;
	uint64_t bits = out.family == AF_INET ? 32 : 128;
	out.prefix = (unsigned)bits;
	if (slash != NULL) {
		uint64_t p;
		if (bench_parse_uint(slash + 1, 0, bits, &p) < 0)
			return -1;
		out.prefix = (unsigned)p;
	}
	cidr_normalise(&out);
	*c = out;
	return 0;
}

/* Address n of the block: the base plus n modulo the size, added into the
 * low 64 bits (the host part never spans more). */
void
bench_cidr_addr(const struct bench_cidr *c, uint64_t n, unsigned char out[16])
{
	unsigned len = c->family == AF_INET ? 4 : 16;
	uint64_t off = c->size_m1 == UINT64_MAX ? n : n % (c->size_m1 + 1);
	memcpy(out, c->base, len);
	for (unsigned i = len; i-- > 0 && off != 0;) {
		unsigned sum = out[i] + (unsigned)(off & 0xff);
		out[i] = (unsigned char)sum;
		off = (off >> 8) + (sum >> 8);
	}
}

/* "v1" / "v2". */
int
bench_proxy_parse_version(const char *text)
{
	if (text != NULL && (strcmp(text, "v1") == 0 || strcmp(text, "1") == 0))
		return 1;
	if (text != NULL && (strcmp(text, "v2") == 0 || strcmp(text, "2") == 0))
		return 2;
	return -1;
}

/* "PROXY TCP4 src dst sport dport\r\n". */
static int
proxy_build_v1(int family, const unsigned char *src, uint16_t sport, const unsigned char *dst,
               uint16_t dport, unsigned char *out, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	if (inet_ntop(family, src, s, sizeof s) == NULL || inet_ntop(family, dst, d, sizeof d) == NULL)
		return -1;
	int n = snprintf((char *)out, cap, "PROXY %s %s %s %u %u\r\n",
	                 family == AF_INET ? "TCP4" : "TCP6", s, d, sport, dport);
	return n > 0 && (size_t)n < cap ? n : -1;
}

/* Signature, version 2 PROXY command, INET or INET6 over STREAM, the
 * addresses and ports; no TLVs. */
static int
proxy_build_v2(int family, const unsigned char *src, uint16_t sport, const unsigned char *dst,
               uint16_t dport, unsigned char *out, size_t cap)
{
	size_t alen = family == AF_INET ? 4 : 16, body = 2 * alen + 4, total = 16 + body;
	if (cap < total)
		return -1;
	memcpy(out, proxy_v2_sig, sizeof proxy_v2_sig);
	out[12] = 0x21;                                   /* version 2, PROXY */
	out[13] = family == AF_INET ? 0x11 : 0x21;        /* TCP over IPv4 / IPv6 */
	out[14] = (unsigned char)(body >> 8);
	out[15] = (unsigned char)body;
	memcpy(out + 16, src, alen);
	memcpy(out + 16 + alen, dst, alen);
	out[16 + 2 * alen] = (unsigned char)(sport >> 8);
	out[17 + 2 * alen] = (unsigned char)sport;
	out[18 + 2 * alen] = (unsigned char)(dport >> 8);
	out[19 + 2 * alen] = (unsigned char)dport;
	return (int)total;
}

/* A header of version 1 or 2. */
int
bench_proxy_build(int version, int family, const unsigned char *src, uint16_t sport,
                  const unsigned char *dst, uint16_t dport, unsigned char *out, size_t cap)
{
	if (family != AF_INET && family != AF_INET6)
		return -1;
	if (version == 1)
		return proxy_build_v1(family, src, sport, dst, dport, out, cap);
	if (version == 2)
		return proxy_build_v2(family, src, sport, dst, dport, out, cap);
	return -1;
}
