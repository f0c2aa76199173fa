/*
 * proto/base64.h - RFC 4648 section 4 base64, as SMTP AUTH exchanges it
 * (RFC 4954 4). Decoding is strict: the length is a multiple of 4, only the
 * alphabet's 64 characters, padding only at the end (at most two '='), the
 * bits a padded group leaves over are zero (RFC 4648 3.5), no white space.
 * Pure: no I/O, no allocation.
 */
#ifndef PROTO_BASE64_H
#define PROTO_BASE64_H

#include <stddef.h>

/* The encoded length of len octets, without a NUL. */
#define PROTO_BASE64_LEN(len) (((len) + 2) / 3 * 4)

/* Decode text[0..len) into out (cap octets). Returns the octets written,
 * or -1 when text is not strict base64 or out is too small. */
int proto_base64_decode(const char *text, size_t len, unsigned char *out, size_t cap);
/* Encode in[0..len) with padding into out, NUL-terminated. Returns the
 * characters written (without the NUL), or -1 when cap is too small. */
int proto_base64_encode(const void *in, size_t len, char *out, size_t cap);

#endif
