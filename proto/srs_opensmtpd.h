/*
 * proto/srs_opensmtpd.h - the hash OpenSMTPD (6.6 and later, its srs.c)
 * puts in its SRS addresses, which proto/srs.c checks beside its own so
 * that a forwarder switching from OpenSMTPD with the same `srs key` still
 * takes back the bounces of mail it forwarded before the switch. We never
 * make such addresses: the encoder keeps the HMAC of the SRS paper.
 *
 *   proto_srs_opensmtpd_hash()  HHHH for text: the first 4 characters of
 *                               the base64 of SHA-1(key, then text), with
 *                               no HMAC and no case folding
 *
 * text is what follows "SRS0=HHHH=" or "SRS1=HHHH=" in the address as it
 * arrives, its '@' and domain included (OpenSMTPD hashes the recipient
 * text as given): "TT=domain=local@ours" for SRS0,
 * "host==HHHH=TT=domain=local@ours" for SRS1. OpenSMTPD compares the hash
 * with case (strncmp); so does proto/srs.c for this one.
 *
 * Limits: key at most PROTO_SRS_KEY_BYTES_MAX - 1 octets, text at most
 * PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX (an address, RFC 5321 4.5.3.1.3,
 * less its tag and hash); anything longer is refused (-1), as no address
 * could carry it. Pure: no I/O, no allocation; wolfCrypt's SHA-1.
 */
#ifndef PROTO_SRS_OPENSMTPD_H
#define PROTO_SRS_OPENSMTPD_H

#include "proto/srs.h"

#define PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX 254

/* The hash of text under key into hash (NUL-terminated): 0, or -1 when
 * key or text is too long or wolfCrypt failed. */
int proto_srs_opensmtpd_hash(const char *key, const char *text,
                             char hash[PROTO_SRS_HASH_CHARS + 1]);

#endif
