/*
 * core/tls.h - TLS for sessions and relay connections, by wolfSSL over
 * memory: the ring owns the socket, this module only turns ciphertext into
 * plaintext and back. Nothing here blocks or touches a file descriptor.
 *
 * Contexts (struct tls_ctx) are made once per configuration on the main
 * thread and then only read: every shard creates connections from them.
 *   server: tls_ctx_server_new() with one or more certificate/key pairs; the
 *           first is the default, the others are chosen by SNI (exact name,
 *           case-insensitive, or the certificate's "*.domain" form). A
 *           client certificate is always asked for: with client_verify it
 *           is required and must chain to ca_file (else the system store),
 *           or the handshake fails; without, one that does not chain is
 *           accepted and reported unverified. Session tickets (and for TLS
 *           1.2 the session cache, scoped by session_id) let a client resume.
 *   client: tls_ctx_client_new() with a CA file (or the system store) and
 *           whether to verify
 * Both take protocols (a bit per version: bit n is TLS 1.n, as rules.h's
 * RULES_TLS_V1_n; 0 is TLS 1.2 and 1.3) and ciphers (NULL or "": the
 * library's default); tls_params_check() tells whether the library can
 * use them, for the configuration loader.
 * A connection (struct tls_conn) belongs to one shard:
 *   tls_conn_feed()       copy ciphertext the socket received (bounded:
 *                         TLS_IN_BYTES_MAX; returns how much was taken)
 *   tls_conn_handshake()  TLS_OK when done, TLS_WANT when it needs more input
 *                         (send tls_conn_out() first), TLS_ERROR (reason in
 *                         tls_conn_error())
 *   tls_conn_read()       plaintext out: > 0 bytes, TLS_WANT, TLS_CLOSED
 *                         (close_notify) or TLS_ERROR
 *   tls_conn_write()      plaintext in: encrypts it into the output buffer;
 *                         returns bytes taken (0 when the output buffer has
 *                         no room for a record: send, then write again)
 *   tls_conn_out()/tls_conn_out_sent()  ciphertext to send, and what was sent;
 *                         the buffer is allocated once and only appended to,
 *                         so bytes handed to a send in flight never move
 *                         until tls_conn_out_sent()
 * Private keys are read from their files by tls_ctx_server_new() and live
 * only in the context's memory.
 */
#ifndef CORE_TLS_H
#define CORE_TLS_H

#include <stddef.h>
#include <sys/types.h>

#define TLS_IN_BYTES_MAX (32 * 1024)   /* two records */
#define TLS_OUT_BYTES_MAX (32 * 1024)  /* fixed: never moves while a send reads it */
#define TLS_ERROR_BYTES_MAX 256
#define TLS_PKI_MAX 32

enum tls_result {
	TLS_OK = 0,
	TLS_WANT = -1,
	TLS_CLOSED = -2,
	TLS_ERROR = -3,
};

struct tls_pki {
	const char *name;        /* the pki name; also matched against SNI */
	const char *cert_file;   /* PEM chain, leaf first */
	const char *key_file;    /* PEM private key */
};

struct tls_ctx;
struct tls_conn;

/* Once per process, before any context. */
int tls_init(void);

struct tls_server_params {
	unsigned protocols;      /* bit n: TLS 1.n; 0 = 1.2 and 1.3 */
	const char *ciphers;     /* NULL or "": the library's default */
	int client_verify;       /* a client certificate is required */
	const char *ca_file;     /* client certificates chain to it; NULL: the
	                          * system store */
	const char *session_id;  /* resumption scope: one per listener */
};

/* 0 when the library can use ciphers (NULL: not asked) and protocols (0:
 * not asked); -1 with why. */
int tls_params_check(const char *ciphers, unsigned protocols, char *why, size_t cap);
/* Returns NULL with err filled ("file: reason") on failure. */
struct tls_ctx *tls_ctx_server_new(const struct tls_pki *pki, unsigned npki,
                                   const struct tls_server_params *p, char *err, size_t cap);
/* ca_file NULL: the system store. verify 0: encrypt without checking.
 * client: our certificate and key for servers that ask (NULL: none). */
struct tls_ctx *tls_ctx_client_new(const char *ca_file, int verify, unsigned protocols,
                                   const char *ciphers, const struct tls_pki *client, char *err,
                                   size_t cap);
void tls_ctx_free(struct tls_ctx *ctx);

/* server_name: for a client, the name to verify and the SNI to send (not
 * for an address literal, RFC 6066 3); NULL for a server. Returns NULL
 * when out of memory. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *server_name);
void tls_conn_free(struct tls_conn *c);

size_t tls_conn_feed(struct tls_conn *c, const void *data, size_t len);
int tls_conn_handshake(struct tls_conn *c);
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t cap);
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Queue a close_notify alert. */
void tls_conn_shutdown(struct tls_conn *c);
const void *tls_conn_out(struct tls_conn *c, size_t *len);
void tls_conn_out_sent(struct tls_conn *c, size_t n);
/* Ciphertext fed but not yet consumed (0 once everything was decrypted). */
size_t tls_conn_pending_in(const struct tls_conn *c);

const char *tls_conn_error(const struct tls_conn *c);
/* After the handshake: "TLSv1.3", the cipher's name, its bits, the SNI the
 * client asked for ("" if none), and whether the peer's certificate was
 * verified. */
const char *tls_conn_version(struct tls_conn *c);
const char *tls_conn_cipher(struct tls_conn *c);
int tls_conn_cipher_bits(struct tls_conn *c);
const char *tls_conn_sni(struct tls_conn *c);
int tls_conn_peer_verified(struct tls_conn *c);
/* A server's view of the client certificate after the handshake:
 * TLS_PEER_NONE (none presented, or a resumed session on a listener that
 * does not require one), TLS_PEER_VERIFIED, TLS_PEER_UNVERIFIED (why in
 * tls_conn_verify_error()). fingerprint gets "SHA256:<hex>" of a
 * certificate presented in this handshake, else "". */
enum tls_peer { TLS_PEER_NONE, TLS_PEER_VERIFIED, TLS_PEER_UNVERIFIED };
enum tls_peer tls_conn_client_cert(struct tls_conn *c, char *fingerprint, size_t cap);
const char *tls_conn_verify_error(const struct tls_conn *c);
/* 1 when the handshake resumed an earlier session. */
int tls_conn_resumed(struct tls_conn *c);
/* OpenSMTPD's form for Received: and logs: "TLSv1.3:TLS_AES_256_GCM_SHA384:256". */
void tls_conn_describe(struct tls_conn *c, char *buf, size_t cap);

#endif
