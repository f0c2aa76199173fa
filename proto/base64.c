/*
 * proto/base64.c - strict RFC 4648 base64 (see proto/base64.h).
 */
#include "proto/base64.h"

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of one base64 character, or -1. */
static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* See proto/base64.h. */
int
proto_base64_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
	size_t i, o = 0;

	if (len % 4 != 0 || len / 4 * 3 > (size_t)0x7fffffff)
		return -1;
	for (i = 0; i < len; i += 4) {
		unsigned pad = (text[i + 3] == '=') + (text[i + 3] == '=' && text[i + 2] == '=');
		unsigned v = 0, k;

		if (pad > 0 && i + 4 != len)
			return -1;                 /* padding only in the last group */
		for (k = 0; k < 4 - pad; k++) {
			int d = base64_value((unsigned char)text[i + k]);
			if (d < 0)
				return -1;
			v |= (unsigned)d << (18 - 6 * k);
		}
		if ((pad == 1 && (v & 0xffu)) || (pad == 2 && (v & 0xffffu)))
			return -1;                 /* RFC 4648 3.5: left-over bits are zero */
		if (o + 3 - pad > cap)
			return -1;
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	return (int)o;
}

/* See proto/base64.h. */
int
proto_base64_encode(const void *in, size_t len, char *out, size_t cap)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	if (len > (size_t)0x5fffffff || PROTO_BASE64_LEN(len) + 1 > cap)
		return -1;
	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = base64_alphabet[(v >> 18) & 63];
		out[o++] = base64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? base64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? base64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}
