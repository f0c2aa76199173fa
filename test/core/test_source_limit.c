/*
 * test/core/test_source_limit.c - per-address session counts: a source gets
 * up to its limit and no more, a session that ends makes room, IPv4 and
 * IPv6 addresses are told apart, and the table stays exact through
 * thousands of enters and leaves in random order (checked against a plain
 * array), which exercises deletion inside probe runs. A table counting by
 * port (relay hosts) tells two ports of one address apart; a table half
 * full refuses new addresses and still counts the ones it has.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/source_limit.h"

static struct sockaddr_storage
v4(unsigned n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(0x0a000000u + n);
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	in6->sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return ss;
}

Test(source_limit, limit_then_room_after_leave)
{
	struct source_limit *sl = source_limit_new(16, 0);
	cr_assert_not_null(sl);
	struct sockaddr_storage a = v4(1), b = v6("2001:db8::1"), mapped = v6("::ffff:10.0.0.1");
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(source_limit_enter(sl, &a, 3), i);
	cr_assert_eq(source_limit_enter(sl, &a, 3), 3, "a fourth session is refused");
	cr_assert_eq(source_limit_enter(sl, &mapped, 3), 3,
	             "an IPv4-mapped IPv6 address is the same client");
	cr_assert_eq(source_limit_enter(sl, &b, 3), 0, "another address has its own count");
	source_limit_leave(sl, &a);
	cr_assert_eq(source_limit_enter(sl, &a, 3), 2, "an ended session makes room");
	struct sockaddr_storage unix_peer = { .ss_family = AF_UNIX };
	cr_assert_eq(source_limit_enter(sl, &unix_peer, 1), 0);
	cr_assert_eq(source_limit_enter(sl, &unix_peer, 1), 0, "other families are not counted");
	source_limit_free(sl);
}

Test(source_limit, random_enters_and_leaves_stay_exact)
{
	enum { ADDRS = 300, MAX = 4, STEPS = 20000 };
	static unsigned model[ADDRS];
	struct source_limit *sl = source_limit_new(ADDRS * MAX, 0);
	cr_assert_not_null(sl);
	srand(7);
	for (int step = 0; step < STEPS; step++) {
		unsigned n = (unsigned)rand() % ADDRS;
		struct sockaddr_storage a = v4(n * 7919u);
		if (rand() % 2 == 0) {
			unsigned got = source_limit_enter(sl, &a, MAX);
			cr_assert_eq(got, model[n], "step %d addr %u", step, n);
			if (model[n] < MAX)
				model[n]++;
		} else if (model[n] > 0) {
			source_limit_leave(sl, &a);
			model[n]--;
		}
	}
	for (unsigned n = 0; n < ADDRS; n++) {
		struct sockaddr_storage a = v4(n * 7919u);
		cr_assert_eq(source_limit_enter(sl, &a, MAX), model[n], "addr %u at the end", n);
	}
	source_limit_free(sl);
}

static struct sockaddr_storage
v4_port(unsigned n, unsigned port)
{
	struct sockaddr_storage ss = v4(n);
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	return ss;
}

Test(source_limit, ports_apart_only_when_counting_by_port)
{
	struct source_limit *hosts = source_limit_new(16, 1), *clients = source_limit_new(16, 0);
	cr_assert_not_null(hosts);
	cr_assert_not_null(clients);
	struct sockaddr_storage p25 = v4_port(1, 25), p2525 = v4_port(1, 2525);
	cr_assert_eq(source_limit_enter(hosts, &p25, 1), 0);
	cr_assert_eq(source_limit_enter(hosts, &p25, 1), 1, "port 25 is at its limit");
	cr_assert_eq(source_limit_enter(hosts, &p2525, 1), 0, "another port is another host");
	cr_assert_eq(source_limit_enter(clients, &p25, 2), 0);
	cr_assert_eq(source_limit_enter(clients, &p2525, 2), 1, "client ports are one source");
	source_limit_leave(hosts, &p25);
	cr_assert_eq(source_limit_enter(hosts, &p25, 1), 0, "a closed connection makes room");
	source_limit_free(hosts);
	source_limit_free(clients);
}

Test(source_limit, half_full_table_refuses_new_addresses_only)
{
	struct source_limit *sl = source_limit_new(1, 0);   /* 64 slots: 32 addresses */
	cr_assert_not_null(sl);
	for (unsigned n = 0; n < 32; n++) {
		struct sockaddr_storage a = v4(n);
		cr_assert_eq(source_limit_enter(sl, &a, 5), 0, "address %u", n);
	}
	struct sockaddr_storage extra = v4(1000), first = v4(0);
	cr_assert_eq(source_limit_enter(sl, &extra, 5), 5, "a 33rd address is refused");
	cr_assert_eq(source_limit_enter(sl, &first, 5), 1, "a known one still counts");
	source_limit_leave(sl, &first);
	source_limit_leave(sl, &first);
	cr_assert_eq(source_limit_enter(sl, &extra, 5), 0, "room again once one left");
	source_limit_free(sl);
}
