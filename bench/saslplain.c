/*
 * bench/saslplain.c - base64 and the SASL PLAIN message of
 * bench/saslplain.h.
 */
#include "bench/saslplain.h"

#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode as base64 with padding. */
int
bench_b64_encode(const void *in, size_t len, char *out, size_t cap)
{
	const unsigned char *p = in;
	size_t need = (len + 2) / 3 * 4;
	if (need + 1 > cap)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

/* Returns the value of a base64 character, or -1. */
static int
b64_value(char c)
{
	const char *at = c ? strchr(b64_alphabet, c) : NULL;
	return at ? (int)(at - b64_alphabet) : -1;
}

/* Decode padded base64. */
int
bench_b64_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
	if (len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		int pad = (text[i + 3] == '=') + (text[i + 2] == '=');
		if (pad > 0 && (!last || (pad == 1 && text[i + 2] == '=')))
			return -1;
		unsigned v = 0;
		for (int k = 0; k < 4 - pad; k++) {
			int d = b64_value(text[i + (size_t)k]);
			if (d < 0)
				return -1;
			v |= (unsigned)d << (18 - 6 * k);
		}
		size_t n = 3 - (size_t)pad;
		if (o + n > cap)
			return -1;
		out[o++] = (unsigned char)(v >> 16);
		if (n > 1)
			out[o++] = (unsigned char)(v >> 8);
		if (n > 2)
			out[o++] = (unsigned char)v;
	}
	return (int)o;
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
