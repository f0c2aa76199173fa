/*
 * bench/tlsmem.h - TLS for the load generator and the sink, by wolfSSL over
 * memory (as core/tls.c does for smtpd): the ring owns the socket; this
 * module turns received ciphertext into plaintext and plaintext into
 * ciphertext to send. Nothing here blocks or touches a file descriptor.
 *
 * A context (struct bench_tls_ctx) is made once and shared by every thread:
 * a client one (no certificate check, or a check against a CA file) or a
 * server one (a certificate chain and its key). A connection (struct
 * bench_tls, one per session) holds one WOLFSSL and a fixed ciphertext
 * output buffer:
 *   bench_tls_input()      lend it received ciphertext; wolfSSL takes from
 *                          it as it needs; keep the bytes valid until
 *                          bench_tls_input_left() is 0
 *   bench_tls_handshake()  BENCH_TLS_OK when done, BENCH_TLS_WANT when it
 *                          needs more input (send bench_tls_out() first)
 *   bench_tls_read()       plaintext out: > 0 bytes; BENCH_TLS_WANT once the
 *                          lent input is used up; BENCH_TLS_CLOSED; ERROR
 *   bench_tls_write()      plaintext in (at most one record): bytes taken, 0
 *                          when the output buffer has no room for a record
 *   bench_tls_out()        ciphertext to send: only appended to while a send
 *                          reads it, so a send in flight never sees it move;
 *                          bench_tls_sent() drops what was sent (call it only
 *                          when no send is in flight)
 *   bench_tls_raw()        bytes to send as they are (a PROXY header before
 *                          the ClientHello, a plaintext reply before TLS)
 * Errors keep their reason: bench_tls_error().
 */
#ifndef BENCH_TLSMEM_H
#define BENCH_TLSMEM_H

#include <stddef.h>
#include <sys/types.h>

#define BENCH_TLS_RECORD_BYTES 16384
#define BENCH_TLS_OUT_BYTES (2 * (BENCH_TLS_RECORD_BYTES + 512) + 2048)
#define BENCH_TLS_ERROR_BYTES 200

enum bench_tls_result {
	BENCH_TLS_OK = 0,
	BENCH_TLS_WANT = -1,
	BENCH_TLS_CLOSED = -2,
	BENCH_TLS_ERROR = -3,
};

struct bench_tls_ctx;

struct bench_tls {
	void *ssl;                /* WOLFSSL */
	int server, handshake_done;
	const unsigned char *in;  /* lent ciphertext not yet taken */
	size_t in_len;
	unsigned char *out;       /* BENCH_TLS_OUT_BYTES, allocated once */
	size_t out_len;
	char error[BENCH_TLS_ERROR_BYTES];
};

/* A client context: ca_file NULL encrypts without checking the server's
 * certificate; else the chain must verify against ca_file (no name check:
 * the targets are loopback addresses). NULL with err filled on failure. */
struct bench_tls_ctx *bench_tls_client_ctx(const char *ca_file, char *err, size_t cap);
/* A server context with a PEM certificate chain and its PEM key. */
struct bench_tls_ctx *bench_tls_server_ctx(const char *cert_file, const char *key_file,
                                           char *err, size_t cap);
void bench_tls_ctx_free(struct bench_tls_ctx *ctx);
/* At the end of a thread that made TLS connections: free wolfSSL's
 * per-thread caches (the ECC fixed-point table). */
void bench_tls_thread_end(void);

/* Set up t for a new connection; returns 0 or -1 (out of memory). */
int bench_tls_open(struct bench_tls *t, struct bench_tls_ctx *ctx);
/* Free what open made; t may be opened again. */
void bench_tls_close(struct bench_tls *t);

void bench_tls_input(struct bench_tls *t, const void *buf, size_t len);
size_t bench_tls_input_left(const struct bench_tls *t);
int bench_tls_handshake(struct bench_tls *t);
ssize_t bench_tls_read(struct bench_tls *t, void *buf, size_t cap);
ssize_t bench_tls_write(struct bench_tls *t, const void *buf, size_t len);
/* Returns 0, or -1 when the bytes do not fit. */
int bench_tls_raw(struct bench_tls *t, const void *buf, size_t len);
const void *bench_tls_out(const struct bench_tls *t, size_t *len);
void bench_tls_sent(struct bench_tls *t, size_t n);
const char *bench_tls_error(const struct bench_tls *t);
/* "TLSv1.3" and the cipher suite, once the handshake is done. */
const char *bench_tls_version(const struct bench_tls *t);
const char *bench_tls_cipher(const struct bench_tls *t);

#endif
