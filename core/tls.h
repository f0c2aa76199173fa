/*
 * core/tls.h - TLS for sessions and relay connections, by wolfSSL over
 * memory: the ring owns the socket, this module only turns ciphertext into
 * plaintext and back. Nothing here blocks or touches a file descriptor.
 *
 * Contexts (struct tls_ctx) are made once per configuration on the main
 * thread and then only read: every shard creates connections from them.
 *   server: tls_ctx_server_new() with one or more certificate/key pairs; the
 *           first is the default, the others are chosen by SNI (exact name,
 *           case-insensitive, or the certificate's "*.domain" form)
 *   client: tls_ctx_client_new() with a CA file (or the system store) and
 *           whether to verify
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

/* Returns NULL with err filled ("file: reason") on failure. protocols_min is
 * 12 for TLS 1.2 (the default when 0) or 13 for TLS 1.3 only. */
struct tls_ctx *tls_ctx_server_new(const struct tls_pki *pki, unsigned npki, int protocols_min,
                                   const char *ciphers, char *err, size_t cap);
/* ca_file NULL: the system store. verify 0: encrypt without checking.
 * client: our certificate and key for servers that ask (NULL: none). */
struct tls_ctx *tls_ctx_client_new(const char *ca_file, int verify, int protocols_min,
                                   const struct tls_pki *client, char *err, size_t cap);
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
/* OpenSMTPD's form for Received: and logs: "TLSv1.3:TLS_AES_256_GCM_SHA384:256". */
void tls_conn_describe(struct tls_conn *c, char *buf, size_t cap);

#endif
