/*
 * test/proto/test_hops.c - the Received: counter behind loop detection: what
 * counts as a field (any case, header only, not continuations, not a name
 * that only starts the same), where the header ends, and that every cut of
 * the input into feeds gives the same count.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/hops.h"

static unsigned
count_whole(const char *msg)
{
	struct proto_hops h;
	proto_hops_begin(&h);
	proto_hops_feed(&h, msg, strlen(msg));
	return h.count;
}

Test(hops, fields_in_header_only)
{
	cr_assert_eq(count_whole("Received: from a\r\nRECEIVED: from b\r\n"
	                         "received:from c\r\nSubject: x\r\n\r\n"
	                         "Received: in the body\r\n"), 3);
	cr_assert_eq(count_whole("Received-SPF: pass\r\nReceived : x\r\n"
	                         " Received: folded\r\nX-Received: y\r\n\r\n"), 0,
	             "only the field name Received followed by a colon counts");
	cr_assert_eq(count_whole("Subject: x\n\nReceived: z\n"), 0,
	             "a bare LF empty line ends the header too");
	cr_assert_eq(count_whole("Received: a\n"), 1);
	cr_assert_eq(count_whole(""), 0);
}

Test(hops, every_split_gives_the_same_count)
{
	char msg[4096];
	size_t n = 0;
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(msg + n, sizeof msg - n,
		                      "%seceived: from hop%d\r\n\tby x\r\n", i % 2 ? "R" : "r", i);
	n += (size_t)snprintf(msg + n, sizeof msg - n, "Subject: s\r\n\r\nReceived: no\r\n");
	for (size_t cut = 0; cut <= n; cut++) {
		struct proto_hops h;
		proto_hops_begin(&h);
		proto_hops_feed(&h, msg, cut);
		proto_hops_feed(&h, msg + cut, n - cut);
		cr_assert_eq(h.count, 12, "cut at %zu", cut);
	}
	struct proto_hops h;
	proto_hops_begin(&h);
	for (size_t i = 0; i < n; i++)
		proto_hops_feed(&h, msg + i, 1);
	cr_assert_eq(h.count, 12, "byte by byte");
}
