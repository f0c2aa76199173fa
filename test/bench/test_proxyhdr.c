/*
 * test/bench/test_proxyhdr.c - tests for bench/proxyhdr.c: CIDR blocks
 * (parsing, host bits, sizes, refusals), picking addresses in order with
 * wrap-around and carries, PROXY v1 and v2 headers for IPv4 and IPv6 byte
 * for byte, and each read back by proto/proxy.c's parser.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "bench/proxyhdr.h"
#include "proto/proxy.h"

struct cidr_case {
	const char *text;
	int ok;
	int family;
	unsigned prefix;
	const char *base;
	uint64_t size_m1;
};

Test(proxyhdr, cidr_parse)
{
	static const struct cidr_case cases[] = {
		{"10.0.0.0/8", 1, AF_INET, 8, "10.0.0.0", (1u << 24) - 1},
		{"10.1.2.3/8", 1, AF_INET, 8, "10.0.0.0", (1u << 24) - 1},
		{"192.0.2.7", 1, AF_INET, 32, "192.0.2.7", 0},
		{"192.0.2.0/31", 1, AF_INET, 31, "192.0.2.0", 1},
		{"0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0", UINT32_MAX},
		{"2001:db8::/32", 1, AF_INET6, 32, "2001:db8::", UINT64_MAX},
		{"2001:db8::ff/120", 1, AF_INET6, 120, "2001:db8::", 255},
		{"2001:db8::1/128", 1, AF_INET6, 128, "2001:db8::1", 0},
		{"", 0, 0, 0, NULL, 0}, {"/8", 0, 0, 0, NULL, 0}, {"10.0.0.0/", 0, 0, 0, NULL, 0},
		{"10.0.0.0/33", 0, 0, 0, NULL, 0}, {"2001:db8::/129", 0, 0, 0, NULL, 0},
		{"10.0.0/8", 0, 0, 0, NULL, 0}, {"10.0.0.0/8x", 0, 0, 0, NULL, 0},
		{"10.0.0.0/-1", 0, 0, 0, NULL, 0}, {"host.example/8", 0, 0, 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_cidr c;
		memset(&c, 0x5a, sizeof c);
		int r = bench_cidr_parse(cases[i].text, &c);
		cr_expect_eq(r == 0, cases[i].ok, "'%s': status %d", cases[i].text, r);
		if (!cases[i].ok) {
			cr_expect_eq(c.prefix, 0x5a5a5a5au, "'%s': output touched", cases[i].text);
			continue;
		}
		unsigned char want[16] = {0};
		inet_pton(cases[i].family, cases[i].base, want);
		cr_expect_eq(c.family, cases[i].family, "'%s'", cases[i].text);
		cr_expect_eq(c.prefix, cases[i].prefix, "'%s'", cases[i].text);
		cr_expect_eq(memcmp(c.base, want, cases[i].family == AF_INET ? 4 : 16), 0,
		             "'%s': base", cases[i].text);
		cr_expect_eq(c.size_m1, cases[i].size_m1, "'%s': size-1 %llu", cases[i].text,
		             (unsigned long long)c.size_m1);
	}
}

/* Address n of the block as text. */
static const char *
addr_text(const char *cidr, uint64_t n, char *buf)
{
	struct bench_cidr c;
	unsigned char a[16];
	cr_assert_eq(bench_cidr_parse(cidr, &c), 0, "%s", cidr);
	bench_cidr_addr(&c, n, a);
	return inet_ntop(c.family, a, buf, INET6_ADDRSTRLEN);
}

Test(proxyhdr, cidr_addresses_in_order_wrap_and_carry)
{
	char buf[INET6_ADDRSTRLEN];
	cr_expect_str_eq(addr_text("10.0.0.0/8", 0, buf), "10.0.0.0");
	cr_expect_str_eq(addr_text("10.0.0.0/8", 1, buf), "10.0.0.1");
	cr_expect_str_eq(addr_text("10.0.0.0/8", 256, buf), "10.0.1.0");
	cr_expect_str_eq(addr_text("10.0.0.0/8", 65536 + 257, buf), "10.1.1.1");
	cr_expect_str_eq(addr_text("10.0.0.0/8", (1u << 24) + 5, buf), "10.0.0.5");
	cr_expect_str_eq(addr_text("192.0.2.0/28", 16, buf), "192.0.2.0");
	cr_expect_str_eq(addr_text("192.0.2.0/28", 31, buf), "192.0.2.15");
	cr_expect_str_eq(addr_text("192.0.2.9/32", 12345, buf), "192.0.2.9");
	cr_expect_str_eq(addr_text("2001:db8::/32", 0xffff, buf), "2001:db8::ffff");
	cr_expect_str_eq(addr_text("2001:db8::/32", 0x10000, buf), "2001:db8::1:0");
	cr_expect_str_eq(addr_text("2001:db8::/32", UINT64_MAX, buf),
	                 "2001:db8::ffff:ffff:ffff:ffff");
	cr_expect_str_eq(addr_text("2001:db8::ff00/120", 0x1ff, buf), "2001:db8::ffff");
	/* every address of a /24 once in 256 picks */
	struct bench_cidr c;
	bench_cidr_parse("198.51.100.0/24", &c);
	int seen[256] = {0};
	for (uint64_t n = 0; n < 256; n++) {
		unsigned char a[16];
		bench_cidr_addr(&c, n, a);
		cr_assert_eq(memcmp(a, "\xc6\x33\x64", 3), 0);
		seen[a[3]]++;
	}
	for (int i = 0; i < 256; i++)
		cr_expect_eq(seen[i], 1, "198.51.100.%d seen %d times", i, seen[i]);
}

Test(proxyhdr, version_names)
{
	cr_expect_eq(bench_proxy_parse_version("v1"), 1);
	cr_expect_eq(bench_proxy_parse_version("v2"), 2);
	cr_expect_eq(bench_proxy_parse_version("1"), 1);
	cr_expect_eq(bench_proxy_parse_version("v3"), -1);
	cr_expect_eq(bench_proxy_parse_version(""), -1);
	cr_expect_eq(bench_proxy_parse_version(NULL), -1);
}

Test(proxyhdr, v1_ipv4_and_ipv6_text)
{
	unsigned char src[16], dst[16], out[BENCH_PROXY_HDR_BYTES_MAX];
	inet_pton(AF_INET, "10.1.2.3", src);
	inet_pton(AF_INET, "127.0.0.1", dst);
	int n = bench_proxy_build(1, AF_INET, src, 40000, dst, 2525, out, sizeof out);
	cr_assert_gt(n, 0);
	cr_expect_eq(memcmp(out, "PROXY TCP4 10.1.2.3 127.0.0.1 40000 2525\r\n", (size_t)n), 0,
	             "%.*s", n, out);
	inet_pton(AF_INET6, "2001:db8::7", src);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", dst);
	n = bench_proxy_build(1, AF_INET6, src, 1024, dst, 25, out, sizeof out);
	cr_expect_eq(memcmp(out, "PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 1024 25\r\n", (size_t)n),
	             0, "%.*s", n, out);
	cr_expect_eq(bench_proxy_build(1, AF_INET, src, 1, dst, 2, out, 20), -1, "too small");
	cr_expect_eq(bench_proxy_build(3, AF_INET, src, 1, dst, 2, out, sizeof out), -1);
	cr_expect_eq(bench_proxy_build(1, AF_UNIX, src, 1, dst, 2, out, sizeof out), -1);
}

Test(proxyhdr, v2_ipv4_bytes)
{
	unsigned char src[4] = {10, 1, 2, 3}, dst[4] = {127, 0, 0, 1};
	unsigned char out[BENCH_PROXY_HDR_BYTES_MAX];
	static const unsigned char want[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c, 10, 1, 2, 3, 127, 0, 0, 1, 0x9c, 0x40, 0x09, 0xdd,
	};
	int n = bench_proxy_build(2, AF_INET, src, 40000, dst, 2525, out, sizeof out);
	cr_assert_eq(n, 28);
	cr_expect_eq(memcmp(out, want, sizeof want), 0);
	cr_expect_eq(bench_proxy_build(2, AF_INET, src, 1, dst, 2, out, 27), -1, "too small");
}

Test(proxyhdr, v2_ipv6_length)
{
	unsigned char src[16], dst[16], out[BENCH_PROXY_HDR_BYTES_MAX];
	inet_pton(AF_INET6, "2001:db8::1", src);
	inet_pton(AF_INET6, "::1", dst);
	int n = bench_proxy_build(2, AF_INET6, src, 5, dst, 6, out, sizeof out);
	cr_assert_eq(n, 52);
	cr_expect_eq(out[13], 0x21);
	cr_expect_eq(out[14] * 256 + out[15], 36);
	cr_expect_eq(memcmp(out + 16, src, 16), 0);
	cr_expect_eq(memcmp(out + 32, dst, 16), 0);
	cr_expect_eq(out[48] * 256 + out[49], 5);
	cr_expect_eq(out[50] * 256 + out[51], 6);
}

/* Build a header, read it back with proto/proxy.c (whole, then a byte at a
 * time with SMTP bytes behind it), and check what the parser saw. */
static void
round_trip(int version, int family, const char *s, uint16_t sport, const char *d,
           uint16_t dport)
{
	unsigned char src[16], dst[16], buf[BENCH_PROXY_HDR_BYTES_MAX + 16];
	inet_pton(family, s, src);
	inet_pton(family, d, dst);
	int n = bench_proxy_build(version, family, src, sport, dst, dport, buf, sizeof buf - 16);
	cr_assert_gt(n, 0, "v%d %s", version, s);
	memcpy(buf + n, "EHLO x\r\n", 8);
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct proto_proxy pp;
		proto_proxy_init(&pp);
		size_t off = 0, used = 0;
		enum proto_proxy_result r = PROTO_PROXY_NEED_MORE;
		while (r == PROTO_PROXY_NEED_MORE && off < (size_t)n + 8) {
			size_t len = bytewise ? 1 : (size_t)n + 8 - off;
			r = proto_proxy_feed(&pp, buf + off, len, &used);
			off += used;
		}
		cr_assert_eq(r, PROTO_PROXY_DONE, "v%d %s bytewise %d", version, s, bytewise);
		cr_expect_eq(off, (size_t)n, "the header ends where the SMTP bytes start");
		cr_expect_eq(pp.version, version);
		cr_expect_eq(pp.local, 0);
		cr_assert_eq(pp.src.ss_family, family);
		if (family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&pp.src, *b = (const void *)&pp.dst;
			cr_expect_eq(memcmp(&a->sin_addr, src, 4), 0);
			cr_expect_eq(memcmp(&b->sin_addr, dst, 4), 0);
			cr_expect_eq(ntohs(a->sin_port), sport);
			cr_expect_eq(ntohs(b->sin_port), dport);
		} else {
			const struct sockaddr_in6 *a = (const void *)&pp.src, *b = (const void *)&pp.dst;
			cr_expect_eq(memcmp(&a->sin6_addr, src, 16), 0);
			cr_expect_eq(memcmp(&b->sin6_addr, dst, 16), 0);
			cr_expect_eq(ntohs(a->sin6_port), sport);
			cr_expect_eq(ntohs(b->sin6_port), dport);
		}
	}
}

Test(proxyhdr, round_trip_through_proto_proxy)
{
	for (int v = 1; v <= 2; v++) {
		round_trip(v, AF_INET, "10.200.3.4", 65535, "127.0.0.1", 25);
		round_trip(v, AF_INET, "0.0.0.0", 0, "127.0.0.9", 2525);
		round_trip(v, AF_INET6, "2001:db8:0:1::42", 1024, "::ffff:127.0.0.1", 465);
		round_trip(v, AF_INET6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 9, "::1", 587);
	}
}
