/*
 * test/core/test_mta_block.c - the pauses of smtpctl pause mta from ADDR
 * for DOMAIN (core/mta_block.c): parsing, adding and removing without
 * touching the set in force, which envelopes an action holds; and the last
 * outcome per domain of show hoststats (core/hoststat.c).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hoststat.h"
#include "core/mta_block.h"
#include "ctl/ctl_proto.h"
#include "rules/rules.h"

static struct mta_block
block(const char *addr, const char *domain)
{
	struct mta_block b;
	char why[128];
	cr_assert_eq(mta_block_parse(addr, domain, &b, why, sizeof why), 0, "%s", why);
	return b;
}

static struct sockaddr_storage
addr(const char *text)
{
	struct mta_block b = block(text, "x");
	return b.src;
}

Test(mta_block, parse_table)
{
	static const struct { const char *addr, *domain; int ok; } cases[] = {
		{ "192.0.2.1", "example.org", 1 },
		{ "2001:db8::1", "Example.ORG", 1 },
		{ "0.0.0.0", "example.org", 1 },
		{ "::", "example.org", 1 },
		{ "192.0.2.300", "example.org", 0 },
		{ "host.example", "example.org", 0 },
		{ "", "example.org", 0 },
		{ "192.0.2.1", "", 0 },
		{ "192.0.2.1", ".example.org", 0 },
		{ "192.0.2.1", "exa mple.org", 0 },
		{ "192.0.2.1", "example.org;rm", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mta_block b;
		char why[128] = "";
		int r = mta_block_parse(cases[i].addr, cases[i].domain, &b, why, sizeof why);
		cr_expect_eq(r == 0, cases[i].ok, "%s for %s: got %d (%s)", cases[i].addr,
		             cases[i].domain, r, why);
		if (!cases[i].ok)
			cr_expect_neq(why[0], '\0', "a refusal says why");
	}
	struct mta_block b = block("2001:db8::1", "Example.ORG");
	cr_expect_str_eq(b.domain, "example.org", "domains are kept lower-cased");
	char text[64];
	mta_block_src_text(&b, text, sizeof text);
	cr_expect_str_eq(text, "2001:db8::1");
}

Test(mta_block, add_remove_and_find)
{
	struct mta_block a = block("192.0.2.1", "example.org"), b = block("::", "example.net");
	int err;
	struct mta_block_set *s1 = mta_block_set_with(NULL, &a, &err);
	cr_assert_not_null(s1);
	cr_assert_null(mta_block_set_with(s1, &a, &err), "the same pause twice");
	cr_expect_eq(err, EEXIST);
	struct mta_block_set *s2 = mta_block_set_with(s1, &b, &err);
	cr_assert_not_null(s2);
	cr_expect_eq(s1->n, 1, "the set in force is never changed");
	cr_expect_eq(s2->n, 2);
	struct sockaddr_storage src = addr("192.0.2.1"), other = addr("192.0.2.2");
	cr_expect(mta_block_find(s2, &src, "EXAMPLE.org"));
	cr_expect(!mta_block_find(s2, &other, "example.org"));
	cr_expect(!mta_block_find(s2, &src, "example.net"));
	cr_expect(mta_block_find(s2, NULL, "example.net"), ":: pauses the system's choice");
	cr_expect(!mta_block_find(s2, NULL, "example.org"));
	struct mta_block_set *s3 = mta_block_set_without(s2, &a, &err);
	cr_assert_eq(err, 0);
	cr_expect_eq(s3->n, 1);
	cr_expect(!mta_block_find(s3, &src, "example.org"));
	cr_expect_eq(mta_block_set_without(s3, &a, &err), s3, "not paused: unchanged");
	cr_expect_eq(err, ENOENT);
	cr_expect_null(mta_block_set_without(s3, &b, &err), "the last one: no set");
	cr_expect_eq(err, 0);
	free(s1);
	free(s2);
	free(s3);
}

Test(mta_block, an_action_is_held_when_every_source_is_paused)
{
	struct rules_action *a = calloc(1, sizeof *a);
	cr_assert_not_null(a);
	a->kind = RULES_ACTION_RELAY;
	a->relay_src[0] = addr("192.0.2.1");
	a->relay_src[1] = addr("192.0.2.2");
	a->nrelay_src = 2;
	cr_expect(!mta_block_holds(a, "example.org"), "nothing paused");
	struct mta_block p1 = block("192.0.2.1", "example.org"), p2 = block("192.0.2.2", "example.org");
	int err;
	struct mta_block_set *s1 = mta_block_set_with(NULL, &p1, &err);
	struct mta_block_set *s2 = mta_block_set_with(s1, &p2, &err);
	cr_expect_null(mta_block_publish(s1));
	cr_expect(!mta_block_holds(a, "example.org"), "192.0.2.2 still sends");
	struct sockaddr_storage src = addr("192.0.2.1");
	cr_expect(mta_block_src_paused(&src, "example.org"), "the bind skips it");
	cr_expect_eq(mta_block_publish(s2), s1);
	cr_expect(mta_block_holds(a, "example.org"), "both paused: held");
	cr_expect(!mta_block_holds(a, "example.net"));
	a->nrelay_src = 0;
	cr_expect(!mta_block_holds(a, "example.org"), "no src: only :: or 0.0.0.0 holds it");
	a->kind = RULES_ACTION_MAILDIR;
	cr_expect(!mta_block_holds(a, "example.org"), "local deliveries are never held");
	cr_expect_eq(mta_block_publish(NULL), s2);
	free(s1);
	free(s2);
	free(a);
}

Test(hoststat, latest_outcome_per_domain)
{
	static struct ctl_msg m;
	struct hoststat_table *t = NULL;
	struct ctl_buf out = { 0 };
	hoststat_update(&t, "Example.ORG", 100, "421 try later");
	hoststat_update(&t, "example.org", 200, "250 2.0.0 Ok\r\n|x");
	hoststat_update(&t, "example.net", 150, "Connection refused");
	cr_assert_not_null(t);
	hoststat_records(t, &out);
	size_t off = 0, used, need;
	unsigned n = 0, seen_org = 0;
	while (off < out.len && ctl_decode(out.p + off, out.len - off, &m, &used, &need) == 1) {
		char domain[64], tm[24], error[64];
		cr_assert_eq(m.nstr, 6);
		ctl_str_copy(&m, 1, domain, sizeof domain);
		ctl_str_copy(&m, 3, tm, sizeof tm);
		ctl_str_copy(&m, 5, error, sizeof error);
		if (strcmp(domain, "example.org") == 0) {
			seen_org = 1;
			cr_expect_str_eq(tm, "200");
			cr_expect_str_eq(error, "250 2.0.0 Ok   x", "one line, no |");
		}
		off += used;
		n++;
	}
	cr_expect_eq(n, 2, "one record per domain");
	cr_expect(seen_org);
	/* full: the least recently updated domain makes room */
	for (unsigned i = 0; i < HOSTSTAT_DOMAINS_MAX + 5; i++) {
		char d[32];
		snprintf(d, sizeof d, "d%u.example", i);
		hoststat_update(&t, d, 1000 + i, "250 ok");
	}
	unsigned left = 0, first_kept = 0;
	for (unsigned i = 0; i < HOSTSTAT_DOMAINS_MAX; i++) {
		left += t->v[i].tm != 0;
		first_kept |= strcmp(t->v[i].domain, "d0.example") == 0;
	}
	cr_expect_eq(left, HOSTSTAT_DOMAINS_MAX);
	cr_expect(!first_kept, "the oldest went first");
	ctl_buf_free(&out);
	hoststat_free(t);
}
