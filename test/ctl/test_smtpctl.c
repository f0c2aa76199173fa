/*
 * test/ctl/test_smtpctl.c - what scripts read from smtpctl: show queue's
 * |-separated line in OpenSMTPD 6.8's field order, the --json document,
 * and which ids the commands take.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_proto.h"
#include "ctl/smtpctl.h"

/* Build a RECORD from pairs and decode it back. */
static void
record(struct ctl_msg *m, struct ctl_buf *b, const char *const *kv, unsigned n)
{
	size_t used, need;
	memset(b, 0, sizeof *b);
	cr_assert_eq(ctl_encode(b, CTL_RECORD, 0, 0, kv, n, NULL, 0), 0);
	cr_assert_eq(ctl_decode(b->p, b->len, m, &used, &need), 1);
}

/* Run a printer into a string. */
static char *
print(void (*fn)(FILE *, const struct ctl_msg *), const struct ctl_msg *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	fn(f, m);
	fclose(f);
	return out;
}

static const char *const deferred[] = {
	"evpid", "4ab3e4b5c0a1e27f", "src", "local", "agent", "mta", "status", "",
	"sender", "alice@example.org", "rcpt", "bob@example.net", "dest", "bob@example.net",
	"created", "1700000000", "expire", "1700345600", "lasttry", "0", "retry", "2",
	"runstate", "pending", "nexttry", "398",
	"error", "Error (127.0.0.1 [127.0.0.1]:2598: Connection refused)",
};

Test(smtpctl, show_queue_line_in_opensmtpd_order)
{
	static struct ctl_msg m;
	struct ctl_buf b;
	record(&m, &b, deferred, sizeof deferred / sizeof deferred[0]);
	char *got = print(smtpctl_print_queue_line, &m);
	cr_expect_str_eq(got, "4ab3e4b5c0a1e27f|local|mta||alice@example.org|bob@example.net|"
	                      "bob@example.net|1700000000|1700345600|0|2|pending|398|"
	                      "Error (127.0.0.1 [127.0.0.1]:2598: Connection refused)\n");
	free(got);
	ctl_buf_free(&b);
}

Test(smtpctl, show_queue_line_addresses_and_error_as_opensmtpd_prints_them)
{
	static struct ctl_msg m;
	struct ctl_buf b;
	const char *kv[] = { "evpid", "0000000100000002", "src", "inet4", "agent", "mda",
	                     "status", "", "sender", "", "rcpt", "root", "dest", "root",
	                     "created", "1", "expire", "2", "lasttry", "0", "retry", "0",
	                     "runstate", "pending", "nexttry", "-3", "error", "a|b\nc" };
	record(&m, &b, kv, sizeof kv / sizeof kv[0]);
	char *got = print(smtpctl_print_queue_line, &m);
	/* <> prints "@", a bare user "root@"; no | or newline inside a field */
	cr_expect_str_eq(got, "0000000100000002|inet4|mda||@|root@|root@|1|2|0|0|pending|-3|a b c\n");
	free(got);
	ctl_buf_free(&b);
}

Test(smtpctl, json_numbers_strings_and_escapes)
{
	static struct ctl_msg m;
	struct ctl_buf b;
	const char *kv[] = { "evpid", "0000000012345678", "retry", "2", "nexttry", "-5",
	                     "uptime.human", "1h2m", "error", "say \"hi\"\\\n\x01",
	                     "sender", "12345", "lead", "007" };
	record(&m, &b, kv, sizeof kv / sizeof kv[0]);
	char *got = print(smtpctl_print_json_record, &m);
	cr_expect_str_eq(got, "{\"evpid\": \"0000000012345678\", \"retry\": 2, \"nexttry\": -5, "
	                      "\"uptime.human\": \"1h2m\", "
	                      "\"error\": \"say \\\"hi\\\"\\\\\\u000a\\u0001\", "
	                      "\"sender\": \"12345\", \"lead\": \"007\"}");
	free(got);
	ctl_buf_free(&b);
}

struct id_case {
	const char *in;
	int ok;
	uint32_t sel;
	uint64_t id;
};

static const struct id_case id_cases[] = {
	{ "all", 1, CTL_SEL_ALL, 0 },
	{ "4ab3e4b5", 1, CTL_SEL_MSGID, 0x4ab3e4b5 },
	{ "4ab3e4b5c0a1e27f", 1, CTL_SEL_EVPID, 0x4ab3e4b5c0a1e27full },
	{ "4AB3E4B5C0A1E27F", 1, CTL_SEL_EVPID, 0x4ab3e4b5c0a1e27full },
	{ "4ab3e4b5c0a1e27f0", 0, 0, 0 },
	{ "0", 0, 0, 0 },
	{ "", 0, 0, 0 },
	{ "xyz", 0, 0, 0 },
	{ "-1", 0, 0, 0 },
	{ "ALL", 0, 0, 0 },
};

Test(smtpctl, id_table)
{
	for (size_t i = 0; i < sizeof id_cases / sizeof id_cases[0]; i++) {
		const struct id_case *c = &id_cases[i];
		uint32_t sel = 99;
		uint64_t id = 99;
		int r = smtpctl_parse_id(c->in, &sel, &id);
		cr_expect_eq(r == 0, c->ok, "\"%s\": got %d", c->in, r);
		if (r == 0 && c->ok)
			cr_expect(sel == c->sel && id == c->id, "\"%s\": got sel %u id %llx", c->in,
			          (unsigned)sel, (unsigned long long)id);
	}
}

struct route_case {
	const char *in;
	int ok;
	uint64_t relay;
	uint32_t route;
};

static const struct route_case route_cases[] = {
	{ "0123456789abcdef.1", 1, 0x0123456789abcdefull, 1 },
	{ "0123456789ABCDEF.32.", 1, 0x0123456789abcdefull, 32 },   /* as show routes prints */
	{ "0123456789abcdef.33", 0, 0, 0 },
	{ "0123456789abcdef.0", 0, 0, 0 },
	{ "0123456789abcdef", 0, 0, 0 },
	{ "0123456789abcde.1", 0, 0, 0 },
	{ "0123456789abcdef.1x", 0, 0, 0 },
	{ "0123456789abcdef.-1", 0, 0, 0 },
	{ "", 0, 0, 0 },
};

Test(smtpctl, route_id_table)
{
	for (size_t i = 0; i < sizeof route_cases / sizeof route_cases[0]; i++) {
		const struct route_case *c = &route_cases[i];
		uint64_t relay = 0;
		uint32_t route = 0;
		int r = smtpctl_parse_route(c->in, &relay, &route);
		cr_expect_eq(r == 0, c->ok, "\"%s\": got %d", c->in, r);
		if (r == 0 && c->ok)
			cr_expect(relay == c->relay && route == c->route, "\"%s\": got %llx.%u", c->in,
			          (unsigned long long)relay, (unsigned)route);
	}
}

Test(smtpctl, show_mta_paused_and_hoststats_lines_as_opensmtpd_prints_them)
{
	static struct ctl_msg m;
	struct ctl_buf b;
	const char *paused[] = { "source", "192.0.2.25", "domain", "example.org" };
	record(&m, &b, paused, 4);
	char *out = print(smtpctl_print_mta_paused_line, &m);
	cr_expect_str_eq(out, "192.0.2.25 -> example.org\n");
	free(out);
	ctl_buf_free(&b);
	const char *hs[] = { "domain", "example.net", "time", "1700000000",
	                     "error", "421 4.7.0 try again later" };
	record(&m, &b, hs, 6);
	out = print(smtpctl_print_hoststat_line, &m);
	cr_expect_str_eq(out, "example.net|1700000000|421 4.7.0 try again later\n");
	free(out);
	out = print(smtpctl_print_json_record, &m);
	cr_expect_str_eq(out, "{\"domain\": \"example.net\", \"time\": 1700000000, "
	                      "\"error\": \"421 4.7.0 try again later\"}");
	free(out);
	ctl_buf_free(&b);
}

/* decrypt and encrypt -k: OpenSMTPD's sealed layout, a wrong key or a
 * changed octet refused. */
Test(smtpctl, seal_and_open_buffers)
{
	const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
	const uint8_t other[32] = "0123456789abcdef0123456789abcdeX";
	const uint8_t iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	const uint8_t plain[] = "Subject: x\r\n\r\nhello\r\n";
	uint8_t sealed[sizeof plain + SMTPCTL_SEAL_OVERHEAD], back[sizeof plain + 16];
	size_t n = smtpctl_seal_buf(key, iv, plain, sizeof plain, sealed);
	cr_assert_eq(n, sizeof plain + 29);
	cr_expect_eq(sealed[0], 1, "version octet");
	cr_expect_eq(memcmp(sealed + 1, iv, 12), 0, "the IV follows it");
	cr_assert_eq(smtpctl_open_buf(key, sealed, n, back), (long)sizeof plain);
	cr_expect_eq(memcmp(back, plain, sizeof plain), 0);
	cr_expect_eq(smtpctl_open_buf(other, sealed, n, back), -1, "another key");
	sealed[20] ^= 1;
	cr_expect_eq(smtpctl_open_buf(key, sealed, n, back), -1, "a changed octet");
	sealed[20] ^= 1;
	sealed[0] = 2;
	cr_expect_eq(smtpctl_open_buf(key, sealed, n, back), -1, "another version");
	cr_expect_eq(smtpctl_open_buf(key, sealed, 28, back), -1, "too short");
}
