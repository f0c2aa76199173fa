/*
 * test/bench/test_saslplain.c - tests for bench/saslplain.c: base64 with
 * RFC 4648's test vectors both ways, malformed base64 refused, the AUTH
 * PLAIN message (RFC 4616) encoded and decoded, and the --auth USER:PASS
 * value with its refusals.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/saslplain.h"

Test(saslplain, rfc4648_vectors)
{
	static const char *const vectors[][2] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char enc[32];
		unsigned char dec[32];
		int n = bench_b64_encode(vectors[i][0], strlen(vectors[i][0]), enc, sizeof enc);
		cr_expect_eq(n, (int)strlen(vectors[i][1]));
		cr_expect_str_eq(enc, vectors[i][1]);
		n = bench_b64_decode(vectors[i][1], strlen(vectors[i][1]), dec, sizeof dec);
		cr_assert_eq(n, (int)strlen(vectors[i][0]), "%s", vectors[i][1]);
		cr_expect_eq(memcmp(dec, vectors[i][0], (size_t)n), 0);
	}
}

Test(saslplain, every_byte_round_trips)
{
	unsigned char in[256], dec[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	for (size_t len = 0; len <= sizeof in; len += 37) {
		int n = bench_b64_encode(in, len, enc, sizeof enc);
		cr_assert_geq(n, 0);
		cr_expect_eq(bench_b64_decode(enc, (size_t)n, dec, sizeof dec), (int)len);
		cr_expect_eq(memcmp(in, dec, len), 0);
	}
	cr_expect_eq(bench_b64_encode("abc", 3, enc, 4), -1, "no room for the NUL");
}

Test(saslplain, malformed_base64)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "Zm=v", "Zm9 ", "====",
	};
	unsigned char dec[32];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(bench_b64_decode(bad[i], strlen(bad[i]), dec, sizeof dec), -1, "'%s'",
		             bad[i]);
	cr_expect_eq(bench_b64_decode("Zm9vYmFy", 8, dec, 5), -1, "no room");
}

Test(saslplain, plain_message)
{
	char b64[700], user[300];
	/* RFC 4616 section 4's example without an authzid: "\0tim\0tanstaaftanstaaf" */
	cr_assert_gt(bench_auth_plain_encode("tim", "tanstaaftanstaaf", b64, sizeof b64), 0);
	cr_expect_str_eq(b64, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	cr_expect_eq(bench_auth_plain_decode(b64, user, sizeof user), 0);
	cr_expect_str_eq(user, "tim");
	/* with an authzid, as other clients send it */
	cr_expect_eq(bench_auth_plain_decode("S3VydABLdXJ0AHNlY3JldA==", user, sizeof user), 0);
	cr_expect_str_eq(user, "Kurt");
	/* an empty password is still a well-formed message */
	bench_auth_plain_encode("u", "", b64, sizeof b64);
	cr_expect_eq(bench_auth_plain_decode(b64, user, sizeof user), 0);
}

Test(saslplain, plain_malformed)
{
	char user[64];
	static const char *const bad[] = {
		"dXNlcg==",             /* "user": no NUL */
		"AHVzZXI=",             /* "\0user": one NUL */
		"AAB4",                 /* "\0\0x": empty authcid */
		"AHUAcABx",             /* "\0u\0p\0q"... a third NUL */
		"not base64",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(bench_auth_plain_decode(bad[i], user, sizeof user), -1, "'%s'", bad[i]);
}

Test(saslplain, userpass_option)
{
	char user[64], pass[256];
	cr_expect_eq(bench_auth_parse_userpass("bob:secret", user, sizeof user, pass, sizeof pass), 0);
	cr_expect_str_eq(user, "bob");
	cr_expect_str_eq(pass, "secret");
	cr_expect_eq(bench_auth_parse_userpass("bob:a:b", user, sizeof user, pass, sizeof pass), 0);
	cr_expect_str_eq(pass, "a:b", "the password keeps its colons");
	cr_expect_eq(bench_auth_parse_userpass("bob:", user, sizeof user, pass, sizeof pass), 0);
	cr_expect_str_eq(pass, "");
	cr_expect_eq(bench_auth_parse_userpass("bob", user, sizeof user, pass, sizeof pass), -1);
	cr_expect_eq(bench_auth_parse_userpass(":pw", user, sizeof user, pass, sizeof pass), -1);
	cr_expect_eq(bench_auth_parse_userpass("", user, sizeof user, pass, sizeof pass), -1);
	cr_expect_eq(bench_auth_parse_userpass(NULL, user, sizeof user, pass, sizeof pass), -1);
	char longuser[80];
	memset(longuser, 'u', sizeof longuser);
	strcpy(longuser + 70, ":pw");
	cr_expect_eq(bench_auth_parse_userpass(longuser, user, sizeof user, pass, sizeof pass), -1,
	             "a user longer than the buffer");
}
