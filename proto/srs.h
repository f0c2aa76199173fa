/*
 * proto/srs.h - the Sender Rewriting Scheme (SRS, "Guarded" form of the
 * SRS paper and of Mail::SRS/libsrs2), as smtpd.conf's `srs key`, `srs key
 * backup` and a relay action's `srs` use it: a forwarder sends forwarded
 * mail with its own domain in MAIL FROM, so SPF passes at the destination,
 * and undoes the rewrite when a bounce comes back.
 *
 *   proto_srs_encode()  sender + our domain -> SRS0=HHHH=TT=domain=local@ours,
 *                       or from an SRS0/SRS1 sender
 *                       SRS1=HHHH=firsthost==HHHH=TT=domain=local@ours
 *   proto_srs_decode()  SRS0=...@x -> local@domain; SRS1=...@x ->
 *                       SRS0=...@firsthost, after checking the hash (the
 *                       key, then the backup key; ours or OpenSMTPD's)
 *                       and the timestamp
 *   proto_srs_is_srs()  1 when a local part starts with SRS0 or SRS1 and a
 *                       separator (= + -), any case
 *
 * HHHH: the first 4 characters of the base64 of HMAC-SHA1(key, the fields
 * lower-cased and concatenated): TT, domain, local for SRS0; firsthost and
 * the rest of the SRS0 local part ("=HHHH=TT=domain=local") for SRS1.
 * Compared without case, as Mail::SRS does (some MTAs fold local parts).
 * The decoder also takes OpenSMTPD's hash (proto/srs_opensmtpd.h: SHA-1
 * of the key and the address text after the hash, compared with case),
 * with either key, so the bounces of mail an OpenSMTPD forwarder with the
 * same key sent still come back after a switch; the encoder never makes it.
 * TT: the day number (unix time / 86400) modulo 1024 in two base32
 * characters (A-Z 2-7); an address is accepted up to ttl_days after its
 * day, and one day ahead (a clock a little behind ours), as OpenSMTPD.
 *
 * Limits: the rewritten address is a valid RFC 5321 mailbox: its local
 * part at most 64 octets (4.5.3.1.1), the whole at most 254 (a path of
 * 256 with its <>). A sender that would not fit, that has no '@', a local
 * part that is not a dot-string or a domain that is not a name (an address
 * literal, UTF-8) is not rewritten: PROTO_SRS_UNFIT, out untouched. Keys
 * are NUL-terminated, at most PROTO_SRS_KEY_BYTES_MAX - 1 octets.
 *
 * Pure: no I/O, no clock (now_s is the caller's), no allocation; the hash
 * is wolfCrypt's HMAC or SHA-1 (a computation, no state kept).
 */
#ifndef PROTO_SRS_H
#define PROTO_SRS_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_SRS_KEY_BYTES_MAX 1024      /* a key, with its NUL */
#define PROTO_SRS_ADDR_BYTES_MAX 255      /* an address we make or read, with NUL */
#define PROTO_SRS_TTL_DAYS_DEFAULT 4      /* OpenSMTPD: the queue's 4 days */
#define PROTO_SRS_HASH_CHARS 4

struct proto_srs_keys {
	const char *key;         /* signs and checks; never NULL */
	const char *backup;      /* checks only (the previous key); NULL none */
	unsigned ttl_days;       /* days an address stays valid (`srs ttl`) */
};

enum proto_srs_result {
	PROTO_SRS_OK,
	PROTO_SRS_UNFIT,         /* encode: the sender cannot be rewritten */
	PROTO_SRS_NOT_SRS,       /* decode: the local part is not SRS0/SRS1 */
	PROTO_SRS_MALFORMED,     /* decode: fields missing or not valid */
	PROTO_SRS_BAD_HASH,      /* decode: neither key made this hash */
	PROTO_SRS_EXPIRED,       /* decode: the timestamp is too old (or ahead) */
};

/* Rewrite sender (a non-null reverse path) for forwarding under domain
 * (ours: the domain of the recipient that was forwarded) at now_s. Writes
 * the address into out (cap octets) and returns PROTO_SRS_OK, or returns
 * PROTO_SRS_UNFIT and leaves out alone. */
enum proto_srs_result proto_srs_encode(const struct proto_srs_keys *k, uint64_t now_s,
                                       const char *sender, const char *domain, char *out,
                                       size_t cap);
/* Undo our rewrite of rcpt (the whole address as received; its domain
 * says nothing of whether it is ours, the hash does: ours ignores it,
 * OpenSMTPD's covers it) at now_s into out (cap octets): OK, or why not
 * (out then undefined). */
enum proto_srs_result proto_srs_decode(const struct proto_srs_keys *k, uint64_t now_s,
                                       const char *rcpt, char *out, size_t cap);
int proto_srs_is_srs(const char *addr);
/* A few words for the log: "bad hash", "expired", ... */
const char *proto_srs_strerror(enum proto_srs_result r);

#endif
