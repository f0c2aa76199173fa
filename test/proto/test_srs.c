/*
 * test/proto/test_srs.c - tests of proto/srs.c: SRS0 and SRS1 addresses
 * against vectors computed apart from this code, decoding with the key and
 * the backup key, case folding, the timestamp's age and wrap, every bound
 * and malformed input beside valid input.
 *
 * The vectors were computed with Python's hmac module:
 *   hmac.new(key, b"".join(p.lower() for p in parts), hashlib.sha1),
 *   base64 of the digest, its first 4 characters; TT the day number
 *   (1700000000 // 86400 = 19675) modulo 1024 = 219 in base32 = "G3".
 * Mail::SRS 0.31 (Debian's libmail-srs-perl) hash_create("G3",
 * "example.org", "alice") with the secret "secret" gives "sEw5" too.
 *
 * OpenSMTPD's hash (decoded, never made) was computed with hashlib, over
 * the key then the address text after "SRS0=HHHH=" / "SRS1=HHHH=" exactly
 * as written, its domain included, no case folding:
 *   base64.b64encode(hashlib.sha1(key + text).digest())[:4]
 *   b"secret" + b"G3=example.org=alice@fwd.example"          -> "bltv"
 *   b"secret" + b"G3=Example.ORG=Alice@Fwd.Example"          -> "e0yi"
 *   b"secret" + b"G3=example.org=a=b@fwd.example"            -> "BoEp"
 *   b"secret" + b"G3=example.org=alice@FWD.example"          -> "NLW2"
 *   b"secret" + b"G3=example.org=alice@other.example"        -> "ZNZj"
 *   b""       + b"G3=example.org=alice@fwd.example"          -> "0NbQ"
 *   b"other"  + b"first.example==sEw5=G3=example.org=alice@second.example"
 *                                                             -> "E3Uo"
 *   b"other"  + b"first.example==bltv=G3=example.org=alice@second.example"
 *                                                             -> "ILfd"
 *   b"secret" + b"G3=example.org=alice@first.example"        -> "btS1"
 *   b"other"  + b"first.example==btS1=G3=example.org=alice@second.example"
 *                                                             -> "Rosy"
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/srs.h"
#include "proto/srs_opensmtpd.h"

#define NOW 1700000000ull            /* day 19675: TT "G3" */
#define DAY 86400ull

static const struct proto_srs_keys keys = { .key = "secret", .backup = NULL, .ttl_days = 4 };
static const struct proto_srs_keys keys_rolled = { .key = "new", .backup = "secret",
                                                   .ttl_days = 4 };
static const struct proto_srs_keys keys_other = { .key = "other", .backup = NULL,
                                                  .ttl_days = 4 };

struct encode_case {
	const char *sender, *domain;
	const struct proto_srs_keys *k;
	enum proto_srs_result want;
	const char *addr;
};

static const struct encode_case encode_cases[] = {
	{ "alice@example.org", "fwd.example", &keys, PROTO_SRS_OK,
	  "SRS0=sEw5=G3=example.org=alice@fwd.example" },
	/* the hash is over lower case; the fields keep theirs */
	{ "Alice@Example.ORG", "fwd.example", &keys, PROTO_SRS_OK,
	  "SRS0=sEw5=G3=Example.ORG=Alice@fwd.example" },
	/* an SRS0 sender: SRS1 keeping the first forwarder's host */
	{ "SRS0=sEw5=G3=example.org=alice@first.example", "second.example", &keys_other,
	  PROTO_SRS_OK, "SRS1=6+2X=first.example==sEw5=G3=example.org=alice@second.example" },
	/* an SRS1 sender: the same SRS1 with a new hash and our domain */
	{ "SRS1=abcd=first.example==sEw5=G3=example.org=alice@second.example", "third.example",
	  &keys_other, PROTO_SRS_OK,
	  "SRS1=6+2X=first.example==sEw5=G3=example.org=alice@third.example" },
	/* an SRS0 tag without an SRS0 part we could decode: a local part like
	 * any other (an SRS1 of it would never come back) */
	{ "SRS0=bad@first.example", "second.example", &keys, PROTO_SRS_OK,
	  "SRS0=Drfu=G3=first.example=SRS0=bad@second.example" },
	/* left alone: no '@', an empty local part, a literal, a quoted string */
	{ "alice", "fwd.example", &keys, PROTO_SRS_UNFIT, NULL },
	{ "@example.org", "fwd.example", &keys, PROTO_SRS_UNFIT, NULL },
	{ "alice@[192.0.2.1]", "fwd.example", &keys, PROTO_SRS_UNFIT, NULL },
	{ "\"a b\"@example.org", "fwd.example", &keys, PROTO_SRS_UNFIT, NULL },
	{ "alice@example.org", "", &keys, PROTO_SRS_UNFIT, NULL },
	/* the SRS local part at its 64-octet edge: 13 + 11 + 1 + 39 */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org", "fwd.example", &keys, PROTO_SRS_OK,
	  NULL },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org", "fwd.example", &keys,
	  PROTO_SRS_UNFIT, NULL },
	/* a sender whose own local part passes 64 octets */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
	  "fwd.example", &keys, PROTO_SRS_UNFIT, NULL },
};

/* Each case in one process: the table holds pointers (Criterion's
 * parameters go to a fresh process, where they would not hold). */
static void
encode_one(const struct encode_case *c)
{
	char out[PROTO_SRS_ADDR_BYTES_MAX] = "untouched";
	enum proto_srs_result r = proto_srs_encode(c->k, NOW, c->sender, c->domain, out, sizeof out);

	cr_expect_eq(r, c->want, "%s: got %s, want %s", c->sender, proto_srs_strerror(r),
	             proto_srs_strerror(c->want));
	if (c->want != PROTO_SRS_OK)
		cr_expect_str_eq(out, "untouched", "%s: out written (%s)", c->sender, out);
	else if (c->addr != NULL)
		cr_expect_str_eq(out, c->addr, "%s: got %s, want %s", c->sender, out, c->addr);
	else
		cr_expect(strchr(out, '@') != NULL && strchr(out, '@') - out == 64,
		          "%s: local part of %s is not 64 octets", c->sender, out);
}

Test(srs, encode)
{
	for (size_t i = 0; i < sizeof encode_cases / sizeof encode_cases[0]; i++)
		encode_one(&encode_cases[i]);
}

struct decode_case {
	const char *name, *rcpt;
	const struct proto_srs_keys *k;
	uint64_t now;
	enum proto_srs_result want;
	const char *addr;
};

static const struct decode_case decode_cases[] = {
	{ "srs0", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys, NOW, PROTO_SRS_OK,
	  "alice@example.org" },
	/* case folded on the way (hash, tag, timestamp), as some MTAs do */
	{ "folded", "srs0=SEW5=g3=EXAMPLE.org=Alice@FWD.example", &keys, NOW, PROTO_SRS_OK,
	  "Alice@EXAMPLE.org" },
	{ "other separator", "SRS0+sEw5=G3=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "'=' in local", "SRS0=QVId=G3=example.org=a=b@fwd.example", &keys, NOW, PROTO_SRS_OK,
	  "a=b@example.org" },
	{ "backup key", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys_rolled, NOW,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "new key, no backup", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys_other, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "tampered local", "SRS0=sEw5=G3=example.org=mallory@fwd.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "tampered hash", "SRS0=sEw6=G3=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "short hash", "SRS0=sEw=G3=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	/* the timestamp: 4 days old is the last valid day, 5 is expired,
	 * one day ahead passes, two do not */
	{ "4 days", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys, NOW + 4 * DAY,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "5 days", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys, NOW + 5 * DAY,
	  PROTO_SRS_EXPIRED, NULL },
	{ "a day ahead", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys, NOW - DAY,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "two days ahead", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys, NOW - 2 * DAY,
	  PROTO_SRS_EXPIRED, NULL },
	{ "1024 days: wrapped", "SRS0=sEw5=G3=example.org=alice@fwd.example", &keys,
	  NOW + 1024 * DAY, PROTO_SRS_OK, "alice@example.org" },
	/* SRS1: back to the first forwarder, its SRS0 part's timestamp checked */
	{ "srs1", "SRS1=6+2X=first.example==sEw5=G3=example.org=alice@second.example",
	  &keys_other, NOW, PROTO_SRS_OK, "SRS0=sEw5=G3=example.org=alice@first.example" },
	{ "srs1 expired", "SRS1=6+2X=first.example==sEw5=G3=example.org=alice@second.example",
	  &keys_other, NOW + 6 * DAY, PROTO_SRS_EXPIRED, NULL },
	{ "srs1 tampered", "SRS1=6+2X=evil.example==sEw5=G3=example.org=alice@second.example",
	  &keys_other, NOW, PROTO_SRS_BAD_HASH, NULL },
	/* malformed beside valid */
	{ "not srs", "alice@example.org", &keys, NOW, PROTO_SRS_NOT_SRS, NULL },
	{ "srs2", "SRS2=sEw5=G3=example.org=alice@fwd.example", &keys, NOW, PROTO_SRS_NOT_SRS,
	  NULL },
	{ "tag alone", "SRS0=@fwd.example", &keys, NOW, PROTO_SRS_MALFORMED, NULL },
	{ "no local", "SRS0=sEw5=G3=example.org=@fwd.example", &keys, NOW, PROTO_SRS_MALFORMED,
	  NULL },
	{ "no domain", "SRS0=sEw5=G3==alice@fwd.example", &keys, NOW, PROTO_SRS_MALFORMED, NULL },
	{ "bad timestamp", "SRS0=sEw5=G1=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_MALFORMED, NULL },
	{ "long timestamp", "SRS0=sEw5=G3A=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_MALFORMED, NULL },
	{ "srs1 no srs0 part", "SRS1=6+2X=first.example=x@second.example", &keys_other, NOW,
	  PROTO_SRS_MALFORMED, NULL },
	{ "srs1 no host", "SRS1=6+2X==sEw5=G3=example.org=alice@second.example", &keys_other, NOW,
	  PROTO_SRS_MALFORMED, NULL },
	/* OpenSMTPD's hash (SHA-1 of key and text): decoded, with its case */
	{ "opensmtpd srs0", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys, NOW, PROTO_SRS_OK,
	  "alice@example.org" },
	{ "opensmtpd mixed case", "SRS0=e0yi=G3=Example.ORG=Alice@Fwd.Example", &keys, NOW,
	  PROTO_SRS_OK, "Alice@Example.ORG" },
	{ "opensmtpd '=' in local", "SRS0=BoEp=G3=example.org=a=b@fwd.example", &keys, NOW,
	  PROTO_SRS_OK, "a=b@example.org" },
	{ "opensmtpd backup key", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys_rolled, NOW,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "opensmtpd upper-cased domain", "SRS0=NLW2=G3=example.org=alice@FWD.example", &keys, NOW,
	  PROTO_SRS_OK, "alice@example.org" },
	/* its hash covers the text as written, and is compared with case */
	{ "opensmtpd hash folded", "SRS0=BLTV=G3=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "opensmtpd domain folded", "SRS0=bltv=G3=example.org=alice@FWD.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "opensmtpd other domain", "SRS0=bltv=G3=example.org=alice@other.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "opensmtpd tampered local", "SRS0=bltv=G3=example.org=mallory@fwd.example", &keys, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "opensmtpd no domain", "SRS0=bltv=G3=example.org=alice", &keys, NOW, PROTO_SRS_BAD_HASH,
	  NULL },
	{ "opensmtpd new key, no backup", "SRS0=bltv=G3=example.org=alice@fwd.example",
	  &keys_other, NOW, PROTO_SRS_BAD_HASH, NULL },
	/* the same timestamp checks as ours */
	{ "opensmtpd 4 days", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys, NOW + 4 * DAY,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "opensmtpd 5 days", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys, NOW + 5 * DAY,
	  PROTO_SRS_EXPIRED, NULL },
	{ "opensmtpd a day ahead", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys, NOW - DAY,
	  PROTO_SRS_OK, "alice@example.org" },
	{ "opensmtpd two days ahead", "SRS0=bltv=G3=example.org=alice@fwd.example", &keys,
	  NOW - 2 * DAY, PROTO_SRS_EXPIRED, NULL },
	{ "opensmtpd bad timestamp", "SRS0=bltv=G1=example.org=alice@fwd.example", &keys, NOW,
	  PROTO_SRS_MALFORMED, NULL },
	/* SRS1, its SRS0 part's timestamp checked */
	{ "opensmtpd srs1", "SRS1=E3Uo=first.example==sEw5=G3=example.org=alice@second.example",
	  &keys_other, NOW, PROTO_SRS_OK, "SRS0=sEw5=G3=example.org=alice@first.example" },
	{ "opensmtpd srs1 of opensmtpd srs0",
	  "SRS1=ILfd=first.example==bltv=G3=example.org=alice@second.example", &keys_other, NOW,
	  PROTO_SRS_OK, "SRS0=bltv=G3=example.org=alice@first.example" },
	{ "opensmtpd srs1 expired",
	  "SRS1=E3Uo=first.example==sEw5=G3=example.org=alice@second.example", &keys_other,
	  NOW + 6 * DAY, PROTO_SRS_EXPIRED, NULL },
	{ "opensmtpd srs1 tampered",
	  "SRS1=E3Uo=evil.example==sEw5=G3=example.org=alice@second.example", &keys_other, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "opensmtpd srs1 other domain",
	  "SRS1=E3Uo=first.example==sEw5=G3=example.org=alice@third.example", &keys_other, NOW,
	  PROTO_SRS_BAD_HASH, NULL },
	{ "over an address", "SRS0=sEw5=G3=example.org=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@fwd.example", &keys, NOW,
	  PROTO_SRS_MALFORMED, NULL },
};

static void
decode_one(const struct decode_case *c)
{
	char out[PROTO_SRS_ADDR_BYTES_MAX] = "";
	enum proto_srs_result r = proto_srs_decode(c->k, c->now, c->rcpt, out, sizeof out);

	cr_expect_eq(r, c->want, "%s: got %s, want %s", c->name, proto_srs_strerror(r),
	             proto_srs_strerror(c->want));
	if (c->want == PROTO_SRS_OK)
		cr_expect_str_eq(out, c->addr, "%s: got %s, want %s", c->name, out, c->addr);
}

Test(srs, decode)
{
	for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++)
		decode_one(&decode_cases[i]);
}

/* A chain of two OpenSMTPD forwarders ("secret" first, "other" second),
 * taken apart by us at each: SRS1 back to the first's SRS0, then to the
 * sender. */
Test(srs, opensmtpd_chain)
{
	char back[PROTO_SRS_ADDR_BYTES_MAX], orig[PROTO_SRS_ADDR_BYTES_MAX];

	cr_assert_eq(proto_srs_decode(&keys_other, NOW,
	                              "SRS1=Rosy=first.example==btS1=G3=example.org=alice@second.example",
	                              back, sizeof back), PROTO_SRS_OK);
	cr_assert_eq(proto_srs_decode(&keys, NOW, back, orig, sizeof orig), PROTO_SRS_OK, "%s", back);
	cr_expect_str_eq(orig, "alice@example.org");
}

/* The hash alone, and its bounds: a key of 1023 octets is one, 1024 not;
 * a text of 254 characters is one, 255 not. */
Test(srs, opensmtpd_hash)
{
	char hash[PROTO_SRS_HASH_CHARS + 1], key[PROTO_SRS_KEY_BYTES_MAX + 1];
	char text[PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX + 2];

	cr_assert_eq(proto_srs_opensmtpd_hash("secret", "G3=example.org=alice@fwd.example", hash), 0);
	cr_expect_str_eq(hash, "bltv");
	cr_assert_eq(proto_srs_opensmtpd_hash("", "G3=example.org=alice@fwd.example", hash), 0);
	cr_expect_str_eq(hash, "0NbQ");
	memset(key, 'k', sizeof key - 1);
	key[PROTO_SRS_KEY_BYTES_MAX - 1] = '\0';
	cr_expect_eq(proto_srs_opensmtpd_hash(key, "x", hash), 0);
	key[PROTO_SRS_KEY_BYTES_MAX - 1] = 'k';
	key[PROTO_SRS_KEY_BYTES_MAX] = '\0';
	cr_expect_eq(proto_srs_opensmtpd_hash(key, "x", hash), -1);
	memset(text, 'a', sizeof text - 1);
	text[PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX] = '\0';
	cr_expect_eq(proto_srs_opensmtpd_hash("secret", text, hash), 0);
	text[PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX] = 'a';
	text[PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX + 1] = '\0';
	cr_expect_eq(proto_srs_opensmtpd_hash("secret", text, hash), -1);
}

/* What we make we take back, for every day of the 1024 (the wrap). */
Test(srs, round_trip_every_day)
{
	char addr[PROTO_SRS_ADDR_BYTES_MAX], back[PROTO_SRS_ADDR_BYTES_MAX];

	for (uint64_t d = 0; d < 1024; d++) {
		uint64_t t = NOW + d * DAY;
		cr_assert_eq(proto_srs_encode(&keys, t, "bob+tag@example.net", "fwd.example", addr,
		                              sizeof addr), PROTO_SRS_OK);
		cr_assert_eq(proto_srs_decode(&keys, t + 4 * DAY, addr, back, sizeof back),
		             PROTO_SRS_OK, "day %llu: %s", (unsigned long long)d, addr);
		cr_assert_str_eq(back, "bob+tag@example.net");
		cr_assert_eq(proto_srs_decode(&keys, t + 5 * DAY, addr, back, sizeof back),
		             PROTO_SRS_EXPIRED, "day %llu: %s", (unsigned long long)d, addr);
	}
}

/* A chain: SRS0 at the first forwarder, SRS1 at the second; the second
 * decodes to the first's SRS0, the first to the sender. */
Test(srs, chain_of_two_forwarders)
{
	char a[PROTO_SRS_ADDR_BYTES_MAX], b[PROTO_SRS_ADDR_BYTES_MAX];
	char back[PROTO_SRS_ADDR_BYTES_MAX], orig[PROTO_SRS_ADDR_BYTES_MAX];

	cr_assert_eq(proto_srs_encode(&keys, NOW, "carol@example.com", "one.example", a, sizeof a),
	             PROTO_SRS_OK);
	cr_assert_eq(proto_srs_encode(&keys_other, NOW, a, "two.example", b, sizeof b),
	             PROTO_SRS_OK);
	cr_expect(strncmp(b, "SRS1=", 5) == 0, "%s", b);
	cr_assert_eq(proto_srs_decode(&keys_other, NOW, b, back, sizeof back), PROTO_SRS_OK);
	cr_expect_str_eq(back, a);
	cr_assert_eq(proto_srs_decode(&keys, NOW, back, orig, sizeof orig), PROTO_SRS_OK);
	cr_expect_str_eq(orig, "carol@example.com");
	/* the second forwarder's key does not open the first's address */
	cr_expect_eq(proto_srs_decode(&keys_other, NOW, a, orig, sizeof orig), PROTO_SRS_BAD_HASH);
}

/* out too small: nothing written past cap, UNFIT or MALFORMED. */
Test(srs, small_buffers)
{
	char out[16];

	memset(out, 'x', sizeof out);
	cr_expect_eq(proto_srs_encode(&keys, NOW, "alice@example.org", "fwd.example", out,
	                              sizeof out), PROTO_SRS_UNFIT);
	cr_expect_eq(out[0], 'x');
	cr_expect_eq(proto_srs_decode(&keys, NOW, "SRS0=sEw5=G3=example.org=alice@fwd.example",
	                              out, 8), PROTO_SRS_MALFORMED);
}

Test(srs, is_srs)
{
	cr_expect(proto_srs_is_srs("SRS0=x"));
	cr_expect(proto_srs_is_srs("srs1-x"));
	cr_expect(proto_srs_is_srs("Srs0+x"));
	cr_expect(!proto_srs_is_srs("SRS0"));
	cr_expect(!proto_srs_is_srs("SRS0_x"));
	cr_expect(!proto_srs_is_srs("SRS"));
	cr_expect(!proto_srs_is_srs(""));
	cr_expect(!proto_srs_is_srs("alice@example.org"));
}
