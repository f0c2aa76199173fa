/*
 * test/core/test_mta_limit.c - the pure parts of outbound relaying: limits
 * resolved from `mta limit` statements (defaults, global, a domain's own
 * keys winning, case), the even spacing of max-rate, slow start (the
 * connection window growing with success at full use, shrinking with
 * failures, within the limits), the growing route
 * backoff and its cap, and which shard owns a next hop.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mta_limit.h"
#include "core/relay_owner.h"
#include "core/route_backoff.h"
#include "rules/rules.h"

static struct rules_config *
load(const char *text)
{
	static const struct rules_load_params p = { .hostname = "mx.test", .base_dir = "/base" };
	struct rules_error err;
	struct rules_config *c = rules_load_string("t.conf", text, &p, &err);
	cr_assert_not_null(c, "config did not load: %s", err.message);
	return c;
}

Test(mta_limit, defaults_without_statements)
{
	struct mta_limits l;
	mta_limit_resolve(NULL, "example.org", &l);
	cr_assert_eq(l.conns_per_dest, 100);
	cr_assert_eq(l.conns_per_addr, 20);    /* Postfix's destination concurrency */
	cr_assert_eq(l.conn_delay_dest_ms, 0);
	cr_assert_eq(l.conn_delay_addr_ms, 0);
	cr_assert_eq(l.mails_per_session, 100);
	cr_assert_eq(l.keepalive_ms, 10000);
	cr_assert_eq(l.rate_interval_ms, 0);
	cr_assert_eq(l.setup_timeout_ms, 300000);
}

Test(mta_limit, domain_keys_win_over_global_ones_in_any_order)
{
	struct rules_config *c = load(
		"mta limit for domain Example.ORG max-conn-per-host 2 max-rate 600/m\n"
		"mta limit max-conn-per-host 3 max-conn-per-route 8 session-mail-max 7\n"
		"mta limit conn-delay-relay 2 conn-delay-domain 1 conn-delay-host 4\n"
		"mta limit for domain other.test max-rate 3/s\n"
		"action a relay\nmatch for any action a\n");
	struct mta_limits l;
	mta_limit_resolve(c, "example.org", &l);
	cr_assert_eq(l.conns_per_addr, 2, "got %u", l.conns_per_addr);
	cr_assert_eq(l.mails_per_session, 7);
	cr_assert_eq(l.conn_delay_dest_ms, 2000);   /* the larger of domain and relay */
	cr_assert_eq(l.conn_delay_addr_ms, 4000);
	cr_assert_eq(l.rate_interval_ms, 100);      /* 600/m: one every 100 ms */
	mta_limit_resolve(c, "EXAMPLE.org", &l);
	cr_assert_eq(l.conns_per_addr, 2);
	mta_limit_resolve(c, "sub.example.org", &l);   /* exact names only */
	cr_assert_eq(l.conns_per_addr, 3);
	cr_assert_eq(l.rate_interval_ms, 0);
	mta_limit_resolve(c, "other.test", &l);
	cr_assert_eq(l.rate_interval_ms, 334);      /* 3/s, rounded up: never faster */
	rules_free(c);
}

Test(mta_limit, rate_spaces_transactions_evenly)
{
	struct mta_limits l = { .rate_interval_ms = 250 };
	struct mta_rate r = { 0 };
	cr_assert_eq(mta_rate_wait(&r, &l, 1000), 0);
	mta_rate_take(&r, &l, 1000);
	cr_assert_eq(mta_rate_wait(&r, &l, 1000), 250);
	cr_assert_eq(mta_rate_wait(&r, &l, 1100), 150);
	cr_assert_eq(mta_rate_wait(&r, &l, 1250), 0);
	/* idle for long: no burst saved up */
	mta_rate_take(&r, &l, 9000);
	cr_assert_eq(mta_rate_wait(&r, &l, 9001), 249);
	/* no rate: never waits */
	struct mta_limits none = { 0 };
	cr_assert_eq(mta_rate_wait(&r, &none, 9001), 0);
}

Test(mta_window, starts_at_five_and_grows_one_per_window_of_successes_at_full_use)
{
	struct mta_limits l;
	mta_limit_resolve(NULL, "example.org", &l);
	struct mta_window w = { 0 };
	cr_assert_eq(mta_window_allowed(&w, &l), 5);
	/* successes while fewer are open than allowed: no reason to grow */
	for (int i = 0; i < 100; i++)
		mta_window_success(&w, &l, 3);
	cr_assert_eq(mta_window_allowed(&w, &l), 5);
	/* all five in use: five successes give a sixth */
	for (int i = 0; i < 4; i++)
		mta_window_success(&w, &l, 5);
	cr_assert_eq(mta_window_allowed(&w, &l), 5);
	mta_window_success(&w, &l, 5);
	cr_assert_eq(mta_window_allowed(&w, &l), 6);
	for (int i = 0; i < 6; i++)
		mta_window_success(&w, &l, 6);
	cr_assert_eq(mta_window_allowed(&w, &l), 7);
	/* a failing route takes one away, down to one, and restarts the count */
	mta_window_success(&w, &l, 7);
	mta_window_failure(&w);
	cr_assert_eq(mta_window_allowed(&w, &l), 6);
	for (int i = 0; i < 5; i++)
		mta_window_success(&w, &l, 6);
	cr_assert_eq(mta_window_allowed(&w, &l), 6, "the credit before the failure was kept");
	for (int i = 0; i < 10; i++)
		mta_window_failure(&w);
	cr_assert_eq(mta_window_allowed(&w, &l), 1);
	mta_window_success(&w, &l, 1);
	cr_assert_eq(mta_window_allowed(&w, &l), 2);
}

Test(mta_window, never_above_the_connections_per_destination)
{
	struct rules_config *c = load("mta limit max-conn-per-domain 3\n"
	                              "action a relay\nmatch for any action a\n");
	struct mta_limits l;
	mta_limit_resolve(c, "example.org", &l);
	struct mta_window w = { 0 };
	cr_assert_eq(mta_window_allowed(&w, &l), 3, "the limit is below the first window");
	for (int i = 0; i < 50; i++)
		mta_window_success(&w, &l, 3);
	cr_assert_eq(mta_window_allowed(&w, &l), 3);
	rules_free(c);
	/* a large limit: the window stops where the connections stop */
	mta_limit_resolve(NULL, "example.org", &l);
	w = (struct mta_window){ 0 };
	for (unsigned open = 5; open <= 20; open++)
		for (unsigned i = 0; i < open; i++)
			mta_window_success(&w, &l, open);
	cr_assert_eq(mta_window_allowed(&w, &l), 21);
	for (int i = 0; i < 100; i++)
		mta_window_success(&w, &l, 20);   /* 20 per address: never more open */
	cr_assert_eq(mta_window_allowed(&w, &l), 21);
}

Test(route_backoff, doubles_from_the_base_up_to_the_cap)
{
	static const struct { unsigned failures; uint64_t want_ms; } rows[] = {
		{ 0, 0 }, { 1, 10000 }, { 2, 20000 }, { 3, 40000 }, { 4, 80000 },
		{ 9, 2560000 }, { 10, 3600000 }, { 50, 3600000 }, { 1000, 3600000 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		uint64_t got = route_backoff_delay_ms(rows[i].failures);
		cr_expect_eq(got, rows[i].want_ms, "failures %u: got %llu, want %llu",
		             rows[i].failures, (unsigned long long)got,
		             (unsigned long long)rows[i].want_ms);
	}
}

Test(route_backoff, failures_pause_the_route_and_success_clears_them)
{
	struct route_backoff b;
	memset(&b, 0, sizeof b);
	cr_assert(!route_backoff_active(&b, 0));
	cr_assert_eq(route_backoff_failed(&b, 1000, "Connection refused"), 10000);
	cr_assert(route_backoff_active(&b, 1000));
	cr_assert(route_backoff_active(&b, 10999));
	cr_assert(!route_backoff_active(&b, 11000));
	cr_assert_str_eq(b.why, "Connection refused");
	cr_assert_eq(route_backoff_failed(&b, 11000, "421 busy"), 20000);
	cr_assert_eq(b.until_ms, 31000);
	route_backoff_ok(&b);
	cr_assert(!route_backoff_active(&b, 11001));
	cr_assert_eq(b.failures, 0);
	cr_assert_str_eq(b.why, "421 busy");   /* the last error stays for show routes */
	char longwhy[400];
	memset(longwhy, 'x', sizeof longwhy - 1);
	longwhy[sizeof longwhy - 1] = '\0';
	route_backoff_failed(&b, 0, longwhy);
	cr_assert_eq(strlen(b.why), ROUTE_BACKOFF_WHY_BYTES - 1);
}

Test(relay_owner, keys_name_the_next_hop)
{
	struct rules_action a;
	char key[RELAY_OWNER_KEY_BYTES];
	memset(&a, 0, sizeof a);
	a.kind = RULES_ACTION_RELAY;
	relay_owner_key(&a, "User@Example.NET", key, sizeof key);
	cr_assert_str_eq(key, "mx:example.net");
	snprintf(a.relay_host, sizeof a.relay_host, "Smart.Example");
	relay_owner_key(&a, "u@a.test", key, sizeof key);
	cr_assert_str_eq(key, "host:smart.example:25");
	a.relay_port = 587;
	relay_owner_key(&a, "u@b.test", key, sizeof key);
	cr_assert_str_eq(key, "host:smart.example:587");
	a.kind = RULES_ACTION_LMTP;
	snprintf(a.path, sizeof a.path, "/run/Dovecot/lmtp");
	relay_owner_key(&a, "u@b.test", key, sizeof key);
	cr_assert_str_eq(key, "lmtp:/run/Dovecot/lmtp");
}

Test(relay_owner, one_shard_per_key_spread_over_shards)
{
	unsigned seen[4] = { 0 };
	char key[64];
	for (unsigned i = 0; i < 400; i++) {
		snprintf(key, sizeof key, "mx:domain%u.test", i);
		unsigned o = relay_owner_shard(key, 4);
		cr_assert_lt(o, 4);
		cr_assert_eq(o, relay_owner_shard(key, 4));
		seen[o]++;
	}
	for (unsigned i = 0; i < 4; i++)
		cr_expect_gt(seen[i], 50, "shard %u got %u of 400", i, seen[i]);
	cr_assert_eq(relay_owner_shard("mx:x", 1), 0);
}
