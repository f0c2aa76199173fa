/*
 * core/mta_tls.h - the client TLS contexts of relay connections: one per
 * combination of verification, CA file, client pki, ciphers and protocols
 * that the relay actions use (OpenSMTPD's `relay ... tls [no-verify] ca
 * NAME pki NAME ciphers S protocols S`).
 *
 * mta_tls_setup() runs on the main thread: at start before privileges are
 * dropped (a pki's key is read as root and kept only in memory), and at
 * reload before shards see the new configuration (then as the unprivileged
 * user: a context it cannot make is logged, and connections that need it
 * fail temporarily until a restart). Contexts are only added, never
 * replaced, and published by a count: shards read them without locks.
 * mta_tls_ctx() finds one from any shard; NULL when there is none.
 */
#ifndef CORE_MTA_TLS_H
#define CORE_MTA_TLS_H

#include <stddef.h>

struct daemon;
struct rules_config;
struct rules_action;
struct tls_ctx;

#define MTA_TLS_CTX_MAX 64
#define MTA_TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/* Returns 0, or -1 with err (cap bytes) naming the first context that
 * could not be made (the others are still made). */
int mta_tls_setup(struct daemon *d, const struct rules_config *c, char *err, size_t cap);
/* The context for relay action a's TLS (opportunistic: never verifying). */
struct tls_ctx *mta_tls_ctx(struct daemon *d, const struct rules_action *a);
/* The same from the values a relay destination keeps. */
struct tls_ctx *mta_tls_ctx_find(struct daemon *d, int verify, const char *ca_file,
                                 const char *pki, const char *ciphers, unsigned protocols);
/* At exit, after the shards stopped. */
void mta_tls_free(struct daemon *d);

#endif
