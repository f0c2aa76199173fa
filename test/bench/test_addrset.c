/*
 * test/bench/test_addrset.c - tests for bench/addrset.c: new and known
 * addresses, growth past many doublings, IPv4 and IPv6 socket addresses
 * kept apart, and merging the sets of several threads.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "bench/addrset.h"

/* A distinct 16-byte address for i. */
static void
addr_of(uint32_t i, unsigned char a[16])
{
	memset(a, 0, 16);
	a[0] = 0x20;
	memcpy(a + 12, &i, 4);
}

Test(addrset, new_known_and_growth)
{
	struct bench_addrset s;
	bench_addrset_init(&s);
	unsigned char a[16];
	for (uint32_t i = 0; i < 100000; i++) {
		addr_of(i, a);
		cr_assert_eq(bench_addrset_add(&s, a), 1, "%u", i);
	}
	for (uint32_t i = 0; i < 100000; i += 7) {
		addr_of(i, a);
		cr_assert_eq(bench_addrset_add(&s, a), 0, "%u again", i);
	}
	cr_expect_eq(s.count, 100000);
	cr_expect_eq(s.overflow, 0);
	bench_addrset_free(&s);
	cr_expect_eq(s.count, 0);
}

Test(addrset, sockaddrs_and_merge)
{
	struct bench_addrset t1, t2, all;
	bench_addrset_init(&t1);
	bench_addrset_init(&t2);
	bench_addrset_init(&all);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	v4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.0.1", &v4->sin_addr);
	cr_expect_eq(bench_addrset_add_sockaddr(&t1, &ss), 1);
	v4->sin_port = htons(99);
	cr_expect_eq(bench_addrset_add_sockaddr(&t1, &ss), 0, "the port does not count");
	cr_expect_eq(bench_addrset_add_sockaddr(&t2, &ss), 1);
	inet_pton(AF_INET, "10.0.0.2", &v4->sin_addr);
	cr_expect_eq(bench_addrset_add_sockaddr(&t2, &ss), 1);
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	memset(&ss, 0, sizeof ss);
	v6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &v6->sin6_addr);
	cr_expect_eq(bench_addrset_add_sockaddr(&t2, &ss), 1);
	inet_pton(AF_INET6, "::ffff:10.0.0.2", &v6->sin6_addr);
	cr_expect_eq(bench_addrset_add_sockaddr(&t2, &ss), 0, "mapped IPv4 is the same source");
	ss.ss_family = AF_UNIX;
	cr_expect_eq(bench_addrset_add_sockaddr(&t2, &ss), -1);
	cr_expect_eq(bench_addrset_merge(&all, &t1), 0);
	cr_expect_eq(bench_addrset_merge(&all, &t2), 0);
	cr_expect_eq(all.count, 3, "10.0.0.1, 10.0.0.2, 2001:db8::1");
	bench_addrset_free(&t1);
	bench_addrset_free(&t2);
	bench_addrset_free(&all);
}
