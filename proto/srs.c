/*
 * proto/srs.c - SRS0/SRS1 rewriting and its reversal (see proto/srs.h).
 */
#include "proto/srs.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "proto/base64.h"
#include "proto/smtp_command.h"
#include "proto/srs_opensmtpd.h"

#define SRS_DAY_S 86400u
#define SRS_DAYS 1024u                   /* 10 bits of timestamp */
#define SRS_ADDR_CHARS_MAX 254u          /* RFC 5321 4.5.3.1.3 without <> */

static const char srs_base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* The first PROTO_SRS_HASH_CHARS of base64(HMAC-SHA1(key, the n parts
 * lower-cased, one after the other)) into hash; 0, or -1 (a part longer
 * than an address, or wolfCrypt failed). */
static int
srs_hash(const char *key, const char *const parts[], unsigned n,
         char hash[PROTO_SRS_HASH_CHARS + 1])
{
	unsigned char mac[WC_SHA_DIGEST_SIZE];
	char b64[PROTO_BASE64_LEN(WC_SHA_DIGEST_SIZE) + 1], lower[PROTO_SRS_ADDR_BYTES_MAX];
	Hmac h;
	int ok;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -1;
	ok = wc_HmacSetKey(&h, WC_SHA, (const byte *)key, (word32)strlen(key)) == 0;
	for (unsigned i = 0; ok && i < n; i++) {
		size_t len = strlen(parts[i]);
		if (len >= sizeof lower) {
			ok = 0;
			break;
		}
		for (size_t j = 0; j < len; j++) {
			char ch = parts[i][j];
			lower[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		ok = wc_HmacUpdate(&h, (const byte *)lower, (word32)len) == 0;
	}
	ok = ok && wc_HmacFinal(&h, mac) == 0;
	wc_HmacFree(&h);
	if (!ok || proto_base64_encode(mac, sizeof mac, b64, sizeof b64) < 0)
		return -1;
	memcpy(hash, b64, PROTO_SRS_HASH_CHARS);
	hash[PROTO_SRS_HASH_CHARS] = '\0';
	return 0;
}

/* 1 when local starts with "SRS<digit>" and a separator. */
static int
srs_tag(const char *local, char digit)
{
	return strncasecmp(local, "SRS", 3) == 0 && local[3] == digit &&
	       local[4] != '\0' && strchr("=+-", local[4]) != NULL;
}

int
proto_srs_is_srs(const char *addr)
{
	return srs_tag(addr, '0') || srs_tag(addr, '1');
}

/* The day two base32 characters name (any case), or -1. */
static int
srs_day(const char *tt)
{
	int day = 0;
	for (int i = 0; i < 2; i++) {
		char ch = tt[i] >= 'a' && tt[i] <= 'z' ? (char)(tt[i] - 'a' + 'A') : tt[i];
		const char *p = ch != '\0' ? strchr(srs_base32, ch) : NULL;
		if (p == NULL)
			return -1;
		day = day << 5 | (int)(p - srs_base32);
	}
	return day;
}

/* The day of the SRS0 part an SRS1 address carries after its host
 * ("=HHHH=TT=domain=local": a separator, a hash, '=', two base32
 * characters, '='), or -1 when rest has not that shape. */
static int
srs1_rest_day(const char *rest)
{
	const char *tt;

	if (rest[0] == '\0' || strchr("=+-", rest[0]) == NULL ||
	    (tt = strchr(rest + 1, '=')) == NULL || strlen(++tt) < 3 || tt[2] != '=')
		return -1;
	return srs_day(tt);
}

/* For a sender's SRS0 or SRS1 local part we could decode again, the
 * first forwarder's host (for SRS0 that is sdom) into host and the SRS0
 * part ("=HHHH=TT=d=l") in *rest; 0, or -1 when local is not one (a local
 * part like any other then). */
static int
srs1_parts(const char *local, const char *sdom, char *host, size_t cap, const char **rest)
{
	if (srs_tag(local, '0')) {
		*rest = local + 4;
		return srs1_rest_day(*rest) >= 0 && snprintf(host, cap, "%s", sdom) < (int)cap ? 0 : -1;
	}
	const char *h = srs_tag(local, '1') ? strchr(local + 5, '=') : NULL;   /* HHHH=host=rest */
	const char *e = h ? strchr(h + 1, '=') : NULL;
	if (e == NULL || e == h + 1 || (size_t)(e - h - 1) >= cap || srs1_rest_day(e + 1) < 0)
		return -1;
	memcpy(host, h + 1, (size_t)(e - h - 1));
	host[e - h - 1] = '\0';
	*rest = e + 1;
	return 0;
}

/* The local part for sender local@sdom: SRS1 from an SRS0 or SRS1 local
 * part (keeping the first forwarder's host and its SRS0 part), else SRS0
 * with today's timestamp. Returns its length, or -1. */
static int
srs_local_part(const struct proto_srs_keys *k, uint64_t now_s, const char *local,
               const char *sdom, char *lp, size_t cap)
{
	char hash[PROTO_SRS_HASH_CHARS + 1], host[PROTO_SRS_ADDR_BYTES_MAX];
	const char *rest;

	if (srs1_parts(local, sdom, host, sizeof host, &rest) == 0) {
		const char *parts[] = { host, rest };
		if (srs_hash(k->key, parts, 2, hash) < 0)
			return -1;
		return snprintf(lp, cap, "SRS1=%s=%s=%s", hash, host, rest);
	}
	unsigned day = (unsigned)((now_s / SRS_DAY_S) % SRS_DAYS);
	char tt[3] = { srs_base32[(day >> 5) & 31], srs_base32[day & 31], '\0' };
	const char *parts[] = { tt, sdom, local };
	if (srs_hash(k->key, parts, 3, hash) < 0)
		return -1;
	return snprintf(lp, cap, "SRS0=%s=%s=%s=%s", hash, tt, sdom, local);
}

enum proto_srs_result
proto_srs_encode(const struct proto_srs_keys *k, uint64_t now_s, const char *sender,
                 const char *domain, char *out, size_t cap)
{
	char local[PROTO_SRS_ADDR_BYTES_MAX], lp[2 * PROTO_SRS_ADDR_BYTES_MAX];
	char addr[PROTO_SRS_ADDR_BYTES_MAX];
	const char *at = strrchr(sender, '@');

	if (at == NULL || at == sender || at[1] == '\0' || domain[0] == '\0' ||
	    (size_t)(at - sender) >= sizeof local || !proto_cmd_mailbox_valid(sender, 0))
		return PROTO_SRS_UNFIT;
	memcpy(local, sender, (size_t)(at - sender));
	local[at - sender] = '\0';
	int n = srs_local_part(k, now_s, local, at + 1, lp, sizeof lp);
	if (n < 0 || (size_t)n >= sizeof lp)
		return PROTO_SRS_UNFIT;
	n = snprintf(addr, sizeof addr, "%s@%s", lp, domain);
	if (n < 0 || (size_t)n > SRS_ADDR_CHARS_MAX || (size_t)n >= cap ||
	    !proto_cmd_mailbox_valid(addr, 0))   /* the local part within 64 octets */
		return PROTO_SRS_UNFIT;
	memcpy(out, addr, (size_t)n + 1);
	return PROTO_SRS_OK;
}

/* 1 when an address of day is still valid at now_s: at most ttl_days old,
 * or one day ahead of us. */
static int
srs_fresh(const struct proto_srs_keys *k, uint64_t now_s, unsigned day)
{
	unsigned today = (unsigned)((now_s / SRS_DAY_S) % SRS_DAYS);
	unsigned age = (today + SRS_DAYS - day) % SRS_DAYS;
	return age <= k->ttl_days || age == SRS_DAYS - 1;
}

/* 1 when given (4 characters) is a hash key made: ours, the HMAC of
 * parts, compared without case; or OpenSMTPD's, of text (what follows
 * the hash and its '=' in the address as received), compared with case
 * as OpenSMTPD does (proto/srs_opensmtpd.h). */
static int
srs_key_hash_ok(const char *key, const char *given, const char *const parts[], unsigned n,
                const char *text)
{
	char hash[PROTO_SRS_HASH_CHARS + 1];

	if (srs_hash(key, parts, n, hash) == 0 && strncasecmp(given, hash, PROTO_SRS_HASH_CHARS) == 0)
		return 1;
	return proto_srs_opensmtpd_hash(key, text, hash) == 0 &&
	       strncmp(given, hash, PROTO_SRS_HASH_CHARS) == 0;
}

/* 1 when given (its length given_len) is a hash the key or the backup key
 * made of parts (or of text, OpenSMTPD's). */
static int
srs_hash_ok(const struct proto_srs_keys *k, const char *given, size_t given_len,
            const char *const parts[], unsigned n, const char *text)
{
	if (given_len != PROTO_SRS_HASH_CHARS)
		return 0;
	return srs_key_hash_ok(k->key, given, parts, n, text) ||
	       (k->backup != NULL && srs_key_hash_ok(k->backup, given, parts, n, text));
}

/* Split s at its first '=' into s (NUL-terminated there) and the rest;
 * NULL when there is none or the field is empty. */
static char *
srs_field(char *s)
{
	char *e = strchr(s, '=');
	if (e == NULL || e == s)
		return NULL;
	*e = '\0';
	return e + 1;
}

/* "HHHH=TT=domain=local" -> local@domain; text what follows "HHHH=" in
 * the address as received (OpenSMTPD's hash is of it). */
static enum proto_srs_result
srs0_decode(const struct proto_srs_keys *k, uint64_t now_s, char *f, const char *text,
            char *out, size_t cap)
{
	char *tt = srs_field(f), *dom = tt ? srs_field(tt) : NULL, *user = dom ? srs_field(dom) : NULL;
	const char *parts[] = { tt, dom, user };
	int day;

	if (user == NULL || user[0] == '\0' || strlen(tt) != 2 || (day = srs_day(tt)) < 0)
		return PROTO_SRS_MALFORMED;
	if (!srs_hash_ok(k, f, strlen(f), parts, 3, text))
		return PROTO_SRS_BAD_HASH;
	if (!srs_fresh(k, now_s, (unsigned)day))
		return PROTO_SRS_EXPIRED;
	int n = snprintf(out, cap, "%s@%s", user, dom);
	return n < 0 || (size_t)n >= cap ? PROTO_SRS_MALFORMED : PROTO_SRS_OK;
}

/* "HHHH=host=rest" (rest "=HHHH=TT=domain=local") -> SRS0rest@host,
 * with the SRS0 part's timestamp checked too (as OpenSMTPD); text as for
 * srs0_decode(). */
static enum proto_srs_result
srs1_decode(const struct proto_srs_keys *k, uint64_t now_s, char *f, const char *text,
            char *out, size_t cap)
{
	char *host = srs_field(f), *rest = host ? srs_field(host) : NULL;
	const char *parts[] = { host, rest };
	int day;

	if (rest == NULL || (day = srs1_rest_day(rest)) < 0)
		return PROTO_SRS_MALFORMED;
	if (!srs_hash_ok(k, f, strlen(f), parts, 2, text))
		return PROTO_SRS_BAD_HASH;
	if (!srs_fresh(k, now_s, (unsigned)day))
		return PROTO_SRS_EXPIRED;
	int n = snprintf(out, cap, "SRS0%s@%s", rest, host);
	return n < 0 || (size_t)n >= cap ? PROTO_SRS_MALFORMED : PROTO_SRS_OK;
}

enum proto_srs_result
proto_srs_decode(const struct proto_srs_keys *k, uint64_t now_s, const char *rcpt, char *out,
                 size_t cap)
{
	char local[PROTO_SRS_ADDR_BYTES_MAX];
	const char *at = strrchr(rcpt, '@');
	size_t len = at != NULL ? (size_t)(at - rcpt) : strlen(rcpt);

	if (!proto_srs_is_srs(rcpt))
		return PROTO_SRS_NOT_SRS;
	if (len >= sizeof local)
		return PROTO_SRS_MALFORMED;
	memcpy(local, rcpt, len);
	local[len] = '\0';
	const char *eq = strchr(local + 5, '=');   /* the end of the hash */
	const char *text = eq != NULL ? rcpt + (eq + 1 - local) : "";
	return local[3] == '0' ? srs0_decode(k, now_s, local + 5, text, out, cap)
	                       : srs1_decode(k, now_s, local + 5, text, out, cap);
}

const char *
proto_srs_strerror(enum proto_srs_result r)
{
	switch (r) {
	case PROTO_SRS_OK: return "ok";
	case PROTO_SRS_UNFIT: return "address cannot be rewritten";
	case PROTO_SRS_NOT_SRS: return "not an SRS address";
	case PROTO_SRS_MALFORMED: return "malformed SRS address";
	case PROTO_SRS_BAD_HASH: return "bad hash";
	case PROTO_SRS_EXPIRED: return "expired timestamp";
	}
	return "?";
}
