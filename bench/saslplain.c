/*
 * bench/saslplain.c - base64 and the SASL PLAIN message of
 * bench/saslplain.h.
 */
#include "bench/saslplain.h"

#include <string.h>

#include "proto/base64.h"

/* Encode as base64 with padding (proto/base64.c). */
int
bench_b64_encode(const void *in, size_t len, char *out, size_t cap)
{
	return proto_base64_encode(in, len, out, cap);
}

/* Decode padded base64, strictly (proto/base64.c). */
int
bench_b64_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
	return proto_base64_decode(text, len, out, cap);
}

/* "USER:PASS". */
int
bench_auth_parse_userpass(const char *text, char *user, size_t ucap, char *pass, size_t pcap)
{
	const char *colon = text ? strchr(text, ':') : NULL;
	if (colon == NULL || colon == text)
		return -1;
	size_t ulen = (size_t)(colon - text), plen = strlen(colon + 1);
	if (ulen > BENCH_AUTH_PART_BYTES_MAX || plen > BENCH_AUTH_PART_BYTES_MAX ||
	    ulen + 1 > ucap || plen + 1 > pcap)
		return -1;
	memcpy(user, text, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen + 1);
	return 0;
}

/* base64(NUL user NUL pass). */
int
bench_auth_plain_encode(const char *user, const char *pass, char *out, size_t cap)
{
	unsigned char msg[2 * BENCH_AUTH_PART_BYTES_MAX + 2];
	size_t ulen = strlen(user), plen = strlen(pass);
	if (ulen > BENCH_AUTH_PART_BYTES_MAX || plen > BENCH_AUTH_PART_BYTES_MAX)
		return -1;
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, pass, plen);
	return bench_b64_encode(msg, ulen + plen + 2, out, cap);
}

/* [authzid] NUL authcid NUL passwd -> authcid. */
int
bench_auth_plain_decode(const char *b64, char *user, size_t ucap)
{
	unsigned char msg[3 * BENCH_AUTH_PART_BYTES_MAX + 3];
	int n = bench_b64_decode(b64, strlen(b64), msg, sizeof msg);
	if (n < 2)
		return -1;
	const unsigned char *nul1 = memchr(msg, '\0', (size_t)n);
	if (nul1 == NULL)
		return -1;
	const unsigned char *id = nul1 + 1;
	size_t rest = (size_t)n - (size_t)(id - msg);
	const unsigned char *nul2 = memchr(id, '\0', rest);
	if (nul2 == NULL || nul2 == id || memchr(nul2 + 1, '\0', rest - (size_t)(nul2 + 1 - id)))
		return -1;
	size_t idlen = (size_t)(nul2 - id);
	if (idlen + 1 > ucap)
		return -1;
	memcpy(user, id, idlen);
	user[idlen] = '\0';
	return 0;
}
