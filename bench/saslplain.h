/*
 * bench/saslplain.h - AUTH PLAIN for the load generator and the sink:
 * base64 (RFC 4648 section 4, with padding), the PLAIN message
 * (RFC 4616: [authzid] NUL authcid NUL passwd) as an initial response
 * (RFC 4954), its decoding on the sink's side, and the "USER:PASS" option
 * value. No I/O, no allocation.
 */
#ifndef BENCH_SASLPLAIN_H
#define BENCH_SASLPLAIN_H

#include <stddef.h>

#define BENCH_AUTH_PART_BYTES_MAX 255     /* user or password (RFC 4616: 255 octets) */

/* Encode len bytes of in as base64 into out (NUL-terminated); returns the
 * length written, or -1 when cap is too small. */
int bench_b64_encode(const void *in, size_t len, char *out, size_t cap);
/* Decode base64 text (padding required, no whitespace) into out; returns
 * the number of bytes, or -1 when the text is malformed or cap too small. */
int bench_b64_decode(const char *text, size_t len, unsigned char *out, size_t cap);
/* "USER:PASS" -> user and pass (split at the first colon); user not empty,
 * neither longer than BENCH_AUTH_PART_BYTES_MAX. Returns 0 or -1. */
int bench_auth_parse_userpass(const char *text, char *user, size_t ucap, char *pass,
                              size_t pcap);
/* The base64 of NUL user NUL pass (no authzid) into out; returns its length
 * or -1 when it does not fit. */
int bench_auth_plain_encode(const char *user, const char *pass, char *out, size_t cap);
/* Decode a PLAIN initial response or continuation (base64): returns 0 with
 * the authentication identity in user (NUL-terminated) when it has the
 * form [authzid] NUL authcid NUL passwd with a non-empty authcid, else -1. */
int bench_auth_plain_decode(const char *b64, char *user, size_t ucap);

#endif
