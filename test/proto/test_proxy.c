/*
 * test/proto/test_proxy.c - tests of proto/proxy.c: PROXY protocol v1 and
 * v2 headers, good and malformed, each fed whole, cut at every point and
 * byte by byte; the result, the octets taken and the addresses must not
 * depend on the cuts, and the octets after the header are left for SMTP.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy.h"

/* Render a result: "ERROR", "MORE", "DONE <used> local" or
 * "DONE <used> v<n> src:port dst:port". */
static void
proxy_render(const struct proto_proxy *p, enum proto_proxy_result r, size_t used, char *out,
             size_t max)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	unsigned pa, pb;

	if (r == PROTO_PROXY_ERROR) {
		snprintf(out, max, "ERROR");
		return;
	}
	if (r == PROTO_PROXY_NEED_MORE) {
		snprintf(out, max, "MORE");
		return;
	}
	if (p->local) {
		snprintf(out, max, "DONE %zu v%d local", used, p->version);
		return;
	}
	if (p->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&p->src, *d = (const void *)&p->dst;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		inet_ntop(AF_INET, &d->sin_addr, b, sizeof(b));
		pa = ntohs(s->sin_port), pb = ntohs(d->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const void *)&p->src, *d = (const void *)&p->dst;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		inet_ntop(AF_INET6, &d->sin6_addr, b, sizeof(b));
		pa = ntohs(s->sin6_port), pb = ntohs(d->sin6_port);
	}
	snprintf(out, max, "DONE %zu v%d %s:%u %s:%u", used, p->version, a, pa, b, pb);
}

/* Feed in[0..len) cut at cuts[0..ncuts) (each piece its own heap block);
 * stop at DONE or ERROR. Renders the outcome into out. */
static void
proxy_run(const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts, char *out,
          size_t max)
{
	static struct proto_proxy p;
	enum proto_proxy_result r = PROTO_PROXY_NEED_MORE;
	size_t i, from = 0, total = 0, used;

	proto_proxy_init(&p);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		unsigned char *piece = malloc(to - from + 1);

		memcpy(piece, in + from, to - from);
		r = proto_proxy_feed(&p, piece, to - from, &used);
		free(piece);
		cr_assert_leq(used, to - from);
		total += used;
		if (r != PROTO_PROXY_NEED_MORE)
			break;
		cr_assert_eq(used, to - from, "NEED_MORE took less than it was given");
		from = to;
	}
	proxy_render(&p, r, total, out, max);
	cr_assert_eq(proto_proxy_feed(&p, "x", 1, &used), r, "the result sticks");
	cr_assert_eq(used, 0);
}

/* The whole run must equal want; every cut and byte by byte the same. */
static void
proxy_expect(const unsigned char *in, size_t len, const char *want, const char *what)
{
	static size_t cuts[4096];
	char whole[256], got[256];
	size_t cut, i;

	proxy_run(in, len, NULL, 0, whole, sizeof(whole));
	cr_expect_str_eq(whole, want, "%s: got %s, want %s", what, whole, want);
	for (cut = 0; cut <= len; cut++) {
		proxy_run(in, len, &cut, 1, got, sizeof(got));
		cr_expect_str_eq(got, whole, "%s: cut at %zu", what, cut);
	}
	for (i = 0; i + 1 < len && i < 4096; i++)
		cuts[i] = i + 1;
	proxy_run(in, len, cuts, i, got, sizeof(got));
	cr_expect_str_eq(got, whole, "%s: byte by byte", what);
}

Test(proxy, v1_headers)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345 25\r\nEHLO x\r\n",
		  "DONE 44 v1 192.0.2.1:12345 198.51.100.2:25" },
		{ "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n",
		  "DONE 44 v1 2001:db8::1:0 2001:db8::2:65535" },
		{ "PROXY UNKNOWN\r\nEHLO", "DONE 15 v1 local" },
		{ "PROXY UNKNOWN 2001:db8::1 2001:db8::2 1 2\r\n", "DONE 43 v1 local" },
		{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		  "DONE 56 v1 255.255.255.255:65535 255.255.255.255:65535" },
		/* malformed: close */
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345 25\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345 25\rX\n", "ERROR" },
		{ "PROXY TCP4  192.0.2.1 198.51.100.2 12345 25\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345 25 \r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 12345 25 7\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 012 25\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n", "ERROR" },
		{ "PROXY TCP4 192.0.2.256 198.51.100.2 1 25\r\n", "ERROR" },
		{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n", "ERROR" },
		{ "PROXY TCP6 192.0.2.1 2001:db8::2 1 25\r\n", "ERROR" },
		{ "PROXY TCP5 192.0.2.1 198.51.100.2 1 25\r\n", "ERROR" },
		{ "PROXY tcp4 192.0.2.1 198.51.100.2 1 25\r\n", "ERROR" },
		{ "proxy TCP4 192.0.2.1 198.51.100.2 1 25\r\n", "ERROR" },
		{ "PROXY UNKNOWNX\r\n", "ERROR" },
		{ "PROXY\r\n", "ERROR" },
		{ "EHLO client.example\r\n", "ERROR" },
		{ "PROXY UNKNOWN \x01\r\n", "ERROR" },
	};
	char what[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "v1 case %zu", i);
		proxy_expect((const unsigned char *)cases[i].in, strlen(cases[i].in), cases[i].want,
		             what);
	}
}

Test(proxy, v1_length_limit)
{
	char in[256];
	size_t n;

	/* 107 octets with CRLF is the most (UNKNOWN with a long tail) */
	n = (size_t)snprintf(in, sizeof(in), "PROXY UNKNOWN ");
	memset(in + n, 'x', 107 - 2 - n);
	memcpy(in + 105, "\r\n", 3);
	proxy_expect((const unsigned char *)in, 107, "DONE 107 v1 local", "107 octets");
	memset(in + n, 'x', 108 - 2 - n);
	memcpy(in + 106, "\r\n", 3);
	proxy_expect((const unsigned char *)in, 108, "ERROR", "108 octets");
	memset(in, 'x', sizeof(in));
	memcpy(in, "PROXY TCP4 ", 11);
	proxy_expect((const unsigned char *)in, sizeof(in), "ERROR", "no line end");
}

/* Build a v2 header: ver_cmd, fam, address block and TLVs of blen octets. */
static size_t
proxy_v2(unsigned char *out, unsigned ver_cmd, unsigned fam, const void *block, size_t blen,
         size_t len_field)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
	                                       0x55, 0x49, 0x54, 0x0a };

	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(len_field >> 8);
	out[15] = (unsigned char)len_field;
	memcpy(out + 16, block, blen);
	memcpy(out + 16 + blen, "EHLO x\r\n", 8);  /* the SMTP session after it */
	return 16 + blen + 8;
}

Test(proxy, v2_headers)
{
	/* 192.0.2.1:12345 -> 198.51.100.2:25, then TLVs: ALPN "h2", NOOP empty */
	static const unsigned char v4[] = { 192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0, 25,
	                                    0x01, 0, 2, 'h', '2', 0x04, 0, 0 };
	static const unsigned char v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	                                    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	                                    0, 1, 0, 2 };
	static unsigned char unix_block[216], big[2000];
	unsigned char in[4096];
	size_t n;

	n = proxy_v2(in, 0x21, 0x11, v4, sizeof(v4), sizeof(v4));
	proxy_expect(in, n, "DONE 36 v2 192.0.2.1:12345 198.51.100.2:25", "v2 TCP4 + TLVs");
	n = proxy_v2(in, 0x21, 0x21, v6, sizeof(v6), sizeof(v6));
	proxy_expect(in, n, "DONE 52 v2 2001:db8::1:1 2001:db8::2:2", "v2 TCP6");
	n = proxy_v2(in, 0x20, 0x11, "\xff\xff\xff", 3, 3);  /* LOCAL: block opaque */
	proxy_expect(in, n, "DONE 19 v2 local", "v2 LOCAL");
	n = proxy_v2(in, 0x20, 0xff, "", 0, 0);  /* LOCAL ignores the family */
	proxy_expect(in, n, "DONE 16 v2 local", "v2 LOCAL, any family");
	n = proxy_v2(in, 0x21, 0x00, "\x01\x02", 2, 2);  /* UNSPEC: skipped */
	proxy_expect(in, n, "DONE 18 v2 local", "v2 UNSPEC");
	n = proxy_v2(in, 0x21, 0x31, unix_block, sizeof(unix_block), sizeof(unix_block));
	proxy_expect(in, n, "DONE 232 v2 local", "v2 UNIX");
	memcpy(big, v4, 12);  /* a large TLV is skipped, never stored */
	big[12] = 0xe0, big[13] = (1900 >> 8), big[14] = 1900 & 0xff;
	n = proxy_v2(in, 0x21, 0x11, big, 12 + 3 + 1900, 12 + 3 + 1900);
	proxy_expect(in, n, "DONE 1931 v2 192.0.2.1:12345 198.51.100.2:25", "v2 big TLV");
}

Test(proxy, v2_malformed)
{
	static const unsigned char v4[] = { 192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0, 25,
	                                    0x01, 0, 5, 'h', '2' };
	unsigned char in[512];
	size_t n;

	n = proxy_v2(in, 0x21, 0x11, v4, 12, 12);
	in[7] ^= 1;  /* signature */
	proxy_expect(in, n, "ERROR", "signature");
	n = proxy_v2(in, 0x11, 0x11, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "version 1 in a v2 header");
	n = proxy_v2(in, 0x22, 0x11, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "command 2");
	n = proxy_v2(in, 0x21, 0x41, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "family 4");
	n = proxy_v2(in, 0x21, 0x12, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "datagram");
	n = proxy_v2(in, 0x21, 0x10, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "INET with UNSPEC transport");
	n = proxy_v2(in, 0x21, 0x11, v4, 11, 11);
	proxy_expect(in, n, "ERROR", "length under the addresses");
	n = proxy_v2(in, 0x21, 0x21, v4, 12, 12);
	proxy_expect(in, n, "ERROR", "INET6 with 12 octets");
	n = proxy_v2(in, 0x21, 0x11, v4, sizeof(v4), sizeof(v4));
	proxy_expect(in, n, "ERROR", "TLV value past the block");
	n = proxy_v2(in, 0x21, 0x11, v4, 14, 14);
	proxy_expect(in, n, "ERROR", "block ends inside a TLV head");
}
