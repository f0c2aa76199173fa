/*
 * bench/tlsmem.c - wolfSSL contexts and memory-driven connections for
 * bench/ (see bench/tlsmem.h): the I/O callbacks take ciphertext from the
 * lent input and append ciphertext to the connection's output buffer.
 */
#include "bench/tlsmem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfio.h>

struct bench_tls_ctx {
	WOLFSSL_CTX *ctx;
	int server;
};

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_init_ok;

/* wolfSSL_Init once per process. */
static void
tls_init_once(void)
{
	tls_init_ok = wolfSSL_Init() == WOLFSSL_SUCCESS;
}

/* wolfSSL wants ciphertext: give it from the lent input, or "later". */
static int
tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct bench_tls *t = arg;
	if (t->in_len == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = t->in_len < (size_t)sz ? t->in_len : (size_t)sz;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (int)n;
}

/* wolfSSL has ciphertext to send: append it to the output buffer. */
static int
tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct bench_tls *t = arg;
	if (t->out_len + (size_t)sz > BENCH_TLS_OUT_BYTES)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(t->out + t->out_len, buf, (size_t)sz);
	t->out_len += (size_t)sz;
	return sz;
}

/* A context of either side with the memory callbacks. */
static struct bench_tls_ctx *
tls_ctx_new(int server, char *err, size_t cap)
{
	pthread_once(&tls_once, tls_init_once);
	if (!tls_init_ok) {
		snprintf(err, cap, "wolfSSL_Init failed");
		return NULL;
	}
	struct bench_tls_ctx *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	c->server = server;
	c->ctx = wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method());
	if (c->ctx == NULL || wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, cap, "cannot create a TLS context");
		bench_tls_ctx_free(c);
		return NULL;
	}
	wolfSSL_CTX_SetIORecv(c->ctx, tls_io_recv);
	wolfSSL_CTX_SetIOSend(c->ctx, tls_io_send);
	return c;
}

struct bench_tls_ctx *
bench_tls_client_ctx(const char *ca_file, char *err, size_t cap)
{
	struct bench_tls_ctx *c = tls_ctx_new(0, err, cap);
	if (c == NULL)
		return NULL;
	if (ca_file == NULL) {
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
		return c;
	}
	if (wolfSSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != WOLFSSL_SUCCESS) {
		snprintf(err, cap, "%s: cannot load CA certificates", ca_file);
		bench_tls_ctx_free(c);
		return NULL;
	}
	wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
	return c;
}

struct bench_tls_ctx *
bench_tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t cap)
{
	struct bench_tls_ctx *c = tls_ctx_new(1, err, cap);
	if (c == NULL)
		return NULL;
	if (wolfSSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != WOLFSSL_SUCCESS) {
		snprintf(err, cap, "%s: cannot load the certificate chain", cert_file);
		bench_tls_ctx_free(c);
		return NULL;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(c->ctx, key_file, WOLFSSL_FILETYPE_PEM) !=
	        WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_check_private_key(c->ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, cap, "%s: cannot load the key, or it does not match %s", key_file,
		         cert_file);
		bench_tls_ctx_free(c);
		return NULL;
	}
	return c;
}

void
bench_tls_ctx_free(struct bench_tls_ctx *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		wolfSSL_CTX_free(c->ctx);
	free(c);
}

void
bench_tls_thread_end(void)
{
#if defined(FP_ECC) && defined(HAVE_ECC)
	wc_ecc_fp_free();
#endif
}

int
bench_tls_open(struct bench_tls *t, struct bench_tls_ctx *ctx)
{
	memset(t, 0, sizeof *t);
	t->server = ctx->server;
	t->out = malloc(BENCH_TLS_OUT_BYTES);
	WOLFSSL *ssl = t->out ? wolfSSL_new(ctx->ctx) : NULL;
	if (ssl == NULL) {
		free(t->out);
		t->out = NULL;
		return -1;
	}
	wolfSSL_SetIOReadCtx(ssl, t);
	wolfSSL_SetIOWriteCtx(ssl, t);
	t->ssl = ssl;
	return 0;
}

void
bench_tls_close(struct bench_tls *t)
{
	if (t->ssl != NULL)
		wolfSSL_free(t->ssl);
	free(t->out);
	t->ssl = NULL;
	t->out = NULL;
	t->in_len = t->out_len = 0;
}

void
bench_tls_input(struct bench_tls *t, const void *buf, size_t len)
{
	t->in = buf;
	t->in_len = len;
}

size_t
bench_tls_input_left(const struct bench_tls *t)
{
	return t->in_len;
}

/* wolfSSL's answer as ours, keeping the reason of a failure. */
static int
tls_result(struct bench_tls *t, int ret, const char *what)
{
	int e = wolfSSL_get_error(t->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return BENCH_TLS_WANT;
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return BENCH_TLS_CLOSED;
	char buf[WOLFSSL_MAX_ERROR_SZ];
	wolfSSL_ERR_error_string_n((unsigned long)e, buf, sizeof buf);
	snprintf(t->error, sizeof t->error, "%s: %s", what, buf);
	return BENCH_TLS_ERROR;
}

int
bench_tls_handshake(struct bench_tls *t)
{
	if (t->handshake_done)
		return BENCH_TLS_OK;
	int ret = t->server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		t->handshake_done = 1;
		return BENCH_TLS_OK;
	}
	return tls_result(t, ret, "handshake");
}

ssize_t
bench_tls_read(struct bench_tls *t, void *buf, size_t cap)
{
	int ret = wolfSSL_read(t->ssl, buf, cap > 0x7fffffff ? 0x7fffffff : (int)cap);
	if (ret > 0)
		return ret;
	return tls_result(t, ret, "read");
}

ssize_t
bench_tls_write(struct bench_tls *t, const void *buf, size_t len)
{
	if (t->out_len + BENCH_TLS_RECORD_BYTES + 512 > BENCH_TLS_OUT_BYTES)
		return 0;
	int ret = wolfSSL_write(t->ssl, buf,
	                        len > BENCH_TLS_RECORD_BYTES ? BENCH_TLS_RECORD_BYTES : (int)len);
	if (ret > 0)
		return ret;
	return tls_result(t, ret, "write");
}

int
bench_tls_raw(struct bench_tls *t, const void *buf, size_t len)
{
	if (t->out_len + len > BENCH_TLS_OUT_BYTES)
		return -1;
	memcpy(t->out + t->out_len, buf, len);
	t->out_len += len;
	return 0;
}

const void *
bench_tls_out(const struct bench_tls *t, size_t *len)
{
	*len = t->out_len;
	return t->out;
}

void
bench_tls_sent(struct bench_tls *t, size_t n)
{
	if (n >= t->out_len) {
		t->out_len = 0;
		return;
	}
	memmove(t->out, t->out + n, t->out_len - n);
	t->out_len -= n;
}

const char *
bench_tls_error(const struct bench_tls *t)
{
	return t->error[0] ? t->error : "no error";
}

const char *
bench_tls_version(const struct bench_tls *t)
{
	return wolfSSL_get_version(t->ssl);
}

const char *
bench_tls_cipher(const struct bench_tls *t)
{
	return wolfSSL_get_cipher_name(t->ssl);
}
