/*
 * core/tls.c - wolfSSL contexts and memory-driven connections: the I/O
 * callbacks read from the connection's input buffer and append to its
 * output buffer, so wolfSSL never sees a socket. See core/tls.h.
 */
#include "core/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfio.h>

struct tls_ctx {
	WOLFSSL_CTX *ctx;        /* the default (first pki) or the client's */
	WOLFSSL_CTX *sni[TLS_PKI_MAX];
	char *sni_names[TLS_PKI_MAX];
	unsigned nsni;
	int server;
	int verify;              /* a client context that checks the server, or
	                          * a server context that requires a client
	                          * certificate */
};

struct tls_conn {
	struct tls_ctx *ctx;
	WOLFSSL *ssl;
	unsigned char in[TLS_IN_BYTES_MAX];
	size_t in_off, in_len;
	unsigned char *out;        /* TLS_OUT_BYTES_MAX, allocated once */
	size_t out_len;
	int handshake_done;
	char error[TLS_ERROR_BYTES_MAX];
	char verify_error[TLS_ERROR_BYTES_MAX];   /* the peer's certificate did
	                                           * not verify: why */
};

int
tls_init(void)
{
	return wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -1;
}

/* wolfSSL wants ciphertext: hand it what was fed, or say "later". */
static int
tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *c = arg;
	size_t avail = c->in_len - c->in_off;
	if (avail == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = avail < (size_t)sz ? avail : (size_t)sz;
	memcpy(buf, c->in + c->in_off, n);
	c->in_off += n;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	return (int)n;
}

/* wolfSSL has ciphertext to send: keep it until the caller sends it. */
static int
tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *c = arg;
	if (c->out_len + (size_t)sz > TLS_OUT_BYTES_MAX)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(c->out + c->out_len, buf, (size_t)sz);
	c->out_len += (size_t)sz;
	return sz;
}

/* Does the SNI name match a pki name (exact or "*.domain")? */
static int
tls_name_matches(const char *pattern, const char *name)
{
	if (strcasecmp(pattern, name) == 0)
		return 1;
	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = strchr(name, '.');
		return dot != NULL && strcasecmp(dot + 1, pattern + 2) == 0;
	}
	return 0;
}

/* The client said which name it wants: switch to that certificate. */
static int
tls_sni_switch(WOLFSSL *ssl, int *ad, void *arg)
{
	struct tls_ctx *t = arg;
	const char *name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
	if (name == NULL)
		return 0;
	for (unsigned i = 0; i < t->nsni; i++) {
		if (tls_name_matches(t->sni_names[i], name)) {
			if (t->sni[i] != t->ctx)
				wolfSSL_set_SSL_CTX(ssl, t->sni[i]);
			break;
		}
	}
	return 0;   /* an unknown name gets the default certificate */
}

/* The lowest and highest version of a protocols mask (bit n: TLS 1.n),
 * as wolfSSL's version numbers; 0, or -1 for an empty mask. */
static int
tls_version_range(unsigned protocols, int *low, int *high)
{
	static const int versions[4] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
	                                  TLS1_3_VERSION };
	if (protocols == 0)
		protocols = (1u << 2) | (1u << 3);
	*low = *high = 0;
	for (unsigned v = 0; v < 4; v++) {
		if (!(protocols & (1u << v)))
			continue;
		if (*low == 0)
			*low = versions[v];
		*high = versions[v];
	}
	return *low == 0 ? -1 : 0;
}

/* Apply protocols and ciphers to ctx; 0, or -1 with why. */
static int
tls_ctx_limits(WOLFSSL_CTX *ctx, unsigned protocols, const char *ciphers, char *why, size_t cap)
{
	int low, high;
	if (tls_version_range(protocols, &low, &high) < 0 ||
	    wolfSSL_CTX_set_min_proto_version(ctx, low) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_max_proto_version(ctx, high) != WOLFSSL_SUCCESS) {
		snprintf(why, cap, "the TLS library cannot use TLS 1.%d to 1.%d", low - TLS1_VERSION,
		         high - TLS1_VERSION);
		return -1;
	}
	if (ciphers && ciphers[0] && wolfSSL_CTX_set_cipher_list(ctx, ciphers) != WOLFSSL_SUCCESS) {
		snprintf(why, cap, "the TLS library knows none of these ciphers");
		return -1;
	}
	return 0;
}

int
tls_params_check(const char *ciphers, unsigned protocols, char *why, size_t cap)
{
	if (tls_init() < 0) {
		snprintf(why, cap, "cannot initialise the TLS library");
		return -1;
	}
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	if (ctx == NULL) {
		snprintf(why, cap, "cannot create a TLS context");
		return -1;
	}
	int ret = tls_ctx_limits(ctx, protocols, ciphers, why, cap);
	wolfSSL_CTX_free(ctx);
	return ret;
}

static WOLFSSL_CTX *
tls_ctx_base(int server, unsigned protocols, const char *ciphers, char *err, size_t cap)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(server ? wolfSSLv23_server_method()
	                                          : wolfSSLv23_client_method());
	if (ctx == NULL) {
		snprintf(err, cap, "cannot create a TLS context");
		return NULL;
	}
	char why[128];
	if (tls_ctx_limits(ctx, protocols, ciphers, why, sizeof why) < 0) {
		snprintf(err, cap, "protocols or ciphers \"%s\": %s", ciphers ? ciphers : "", why);
		wolfSSL_CTX_free(ctx);
		return NULL;
	}
	wolfSSL_CTX_SetIORecv(ctx, tls_io_recv);
	wolfSSL_CTX_SetIOSend(ctx, tls_io_send);
	return ctx;
}

/* The X509_V_ERR_* a chain check ends with, in OpenSSL's words (wolfSSL's
 * own string function knows few of them). */
static const char *
tls_verify_reason(int e)
{
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: return "unable to get issuer certificate";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE: return "certificate signature failure";
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:   /* wolfSSL's for its date check */
		return "certificate is not yet valid";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return "certificate has expired";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return "self-signed certificate";
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "self-signed certificate in chain";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		return "unable to get local issuer certificate";
	default: return wolfSSL_X509_verify_cert_error_string(e);
	}
}

/* wolfSSL found a fault in the peer's chain: keep the first reason; a
 * context that does not require the certificate accepts it anyway. */
static int
tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL *ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store,
	                                                  wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? wolfSSL_GetIOReadCtx(ssl) : NULL;
	if (preverify || c == NULL)
		return preverify;
	int e = wolfSSL_X509_STORE_CTX_get_error(store);
	if (c->verify_error[0] == '\0' && e < 0)   /* wolfSSL's own codes */
		wolfSSL_ERR_error_string_n((unsigned long)e, c->verify_error, sizeof c->verify_error);
	else if (c->verify_error[0] == '\0')
		snprintf(c->verify_error, sizeof c->verify_error, "%s", tls_verify_reason(e));
	return c->ctx->verify ? 0 : 1;
}

/* Ask for client certificates on ctx, checked against p's CA; 0 or -1. */
static int
tls_ctx_client_certs(WOLFSSL_CTX *ctx, const struct tls_server_params *p, char *err, size_t cap)
{
	int ok = p->ca_file ? wolfSSL_CTX_load_verify_locations(ctx, p->ca_file, NULL)
	                    : wolfSSL_CTX_load_system_CA_certs(ctx);
	if (ok != WOLFSSL_SUCCESS && (p->client_verify || p->ca_file)) {
		snprintf(err, cap, "%s: cannot load CA certificates",
		         p->ca_file ? p->ca_file : "system store");
		return -1;
	}
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER |
	                       (p->client_verify ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
	                       tls_verify_cb);
	if (p->session_id && p->session_id[0] &&
	    wolfSSL_CTX_set_session_id_context(ctx, (const unsigned char *)p->session_id,
	                                       (unsigned)strlen(p->session_id)) != WOLFSSL_SUCCESS) {
		snprintf(err, cap, "cannot set the session context");
		return -1;
	}
	return 0;
}

struct tls_ctx *
tls_ctx_server_new(const struct tls_pki *pki, unsigned npki, const struct tls_server_params *p,
                   char *err, size_t cap)
{
	if (npki == 0 || npki > TLS_PKI_MAX) {
		snprintf(err, cap, "between 1 and %d pki per listener", TLS_PKI_MAX);
		return NULL;
	}
	struct tls_ctx *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->server = 1;
	t->verify = p->client_verify;
	for (unsigned i = 0; i < npki; i++) {
		WOLFSSL_CTX *ctx = tls_ctx_base(1, p->protocols, p->ciphers, err, cap);
		if (ctx == NULL)
			goto fail;
		t->sni[t->nsni] = ctx;
		t->sni_names[t->nsni++] = strdup(pki[i].name);
		if (wolfSSL_CTX_use_certificate_chain_file(ctx, pki[i].cert_file) != WOLFSSL_SUCCESS) {
			snprintf(err, cap, "%s: cannot load the certificate chain", pki[i].cert_file);
			goto fail;
		}
		if (wolfSSL_CTX_use_PrivateKey_file(ctx, pki[i].key_file, WOLFSSL_FILETYPE_PEM) !=
		        WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
			snprintf(err, cap, "%s: cannot load the key, or it does not match %s",
			         pki[i].key_file, pki[i].cert_file);
			goto fail;
		}
		if (tls_ctx_client_certs(ctx, p, err, cap) < 0)
			goto fail;
	}
	t->ctx = t->sni[0];
	wolfSSL_CTX_set_servername_callback(t->ctx, tls_sni_switch);
	wolfSSL_CTX_set_servername_arg(t->ctx, t);
	return t;
fail:
	tls_ctx_free(t);
	return NULL;
}

struct tls_ctx *
tls_ctx_client_new(const char *ca_file, int verify, unsigned protocols, const char *ciphers,
                   const struct tls_pki *client, char *err, size_t cap)
{
	struct tls_ctx *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->ctx = tls_ctx_base(0, protocols, ciphers, err, cap);
	if (t->ctx == NULL) {
		free(t);
		return NULL;
	}
	if (verify) {
		int ok = ca_file ? wolfSSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
		                 : wolfSSL_CTX_load_system_CA_certs(t->ctx);
		if (ok != WOLFSSL_SUCCESS) {
			snprintf(err, cap, "%s: cannot load CA certificates",
			         ca_file ? ca_file : "system store");
			tls_ctx_free(t);
			return NULL;
		}
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER, NULL);
		t->verify = 1;
	} else {
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_NONE, NULL);
	}
	if (client != NULL &&
	    (wolfSSL_CTX_use_certificate_chain_file(t->ctx, client->cert_file) != WOLFSSL_SUCCESS ||
	     wolfSSL_CTX_use_PrivateKey_file(t->ctx, client->key_file, WOLFSSL_FILETYPE_PEM) !=
	         WOLFSSL_SUCCESS ||
	     wolfSSL_CTX_check_private_key(t->ctx) != WOLFSSL_SUCCESS)) {
		snprintf(err, cap, "%s, %s: cannot load the client certificate and key",
		         client->cert_file, client->key_file);
		tls_ctx_free(t);
		return NULL;
	}
	return t;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	if (!t->server && t->ctx)
		wolfSSL_CTX_free(t->ctx);
	for (unsigned i = 0; i < t->nsni; i++) {
		if (t->sni[i])
			wolfSSL_CTX_free(t->sni[i]);
		free(t->sni_names[i]);
	}
	free(t);
}

struct tls_conn *
tls_conn_new(struct tls_ctx *t, const char *server_name)
{
	struct tls_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->ctx = t;
	c->out = malloc(TLS_OUT_BYTES_MAX);
	c->ssl = c->out ? wolfSSL_new(t->ctx) : NULL;
	if (c->ssl == NULL) {
		free(c->out);
		free(c);
		return NULL;
	}
	/* per connection too: switching context for SNI must keep them */
	wolfSSL_SSLSetIORecv(c->ssl, tls_io_recv);
	wolfSSL_SSLSetIOSend(c->ssl, tls_io_send);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	if (!t->server && server_name && server_name[0]) {
		unsigned char addr[16];
		if (inet_pton(AF_INET, server_name, addr) != 1 &&
		    inet_pton(AF_INET6, server_name, addr) != 1)
			wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, server_name,
			               (unsigned short)strlen(server_name));
		wolfSSL_check_domain_name(c->ssl, server_name);
	}
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	wolfSSL_free(c->ssl);
	free(c->out);
	free(c);
}

size_t
tls_conn_feed(struct tls_conn *c, const void *data, size_t len)
{
	if (c->in_off > 0 && c->in_len + len > sizeof c->in) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	size_t room = sizeof c->in - c->in_len;
	size_t n = len < room ? len : room;
	memcpy(c->in + c->in_len, data, n);
	c->in_len += n;
	return n;
}

size_t
tls_conn_pending_in(const struct tls_conn *c)
{
	return c->in_len - c->in_off;
}

/* Turn wolfSSL's answer into ours, keeping the reason of a failure. */
static int
tls_result(struct tls_conn *c, int ret, const char *what)
{
	int e = wolfSSL_get_error(c->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return TLS_WANT;
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return TLS_CLOSED;
	if (e == NO_PEER_CERT && c->verify_error[0] == '\0')
		snprintf(c->verify_error, sizeof c->verify_error, "no certificate presented");
	char buf[WOLFSSL_MAX_ERROR_SZ];
	wolfSSL_ERR_error_string_n((unsigned long)e, buf, sizeof buf);
	snprintf(c->error, sizeof c->error, "%s: %s", what, buf);
	return TLS_ERROR;
}

int
tls_conn_handshake(struct tls_conn *c)
{
	if (c->handshake_done)
		return TLS_OK;
	int ret = c->ctx->server ? wolfSSL_accept(c->ssl) : wolfSSL_connect(c->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		c->handshake_done = 1;
		return TLS_OK;
	}
	return tls_result(c, ret, "handshake");
}

ssize_t
tls_conn_read(struct tls_conn *c, void *buf, size_t cap)
{
	int ret = wolfSSL_read(c->ssl, buf, cap > 0x7fffffff ? 0x7fffffff : (int)cap);
	if (ret > 0)
		return ret;
	return tls_result(c, ret, "read");
}

ssize_t
tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	/* room for a full record and its overhead, or wait for a send */
	if (c->out_len + 16384 + 512 > TLS_OUT_BYTES_MAX)
		return 0;
	int ret = wolfSSL_write(c->ssl, buf, len > 16384 ? 16384 : (int)len);
	if (ret > 0)
		return ret;
	return tls_result(c, ret, "write");
}

void
tls_conn_shutdown(struct tls_conn *c)
{
	wolfSSL_shutdown(c->ssl);
}

const void *
tls_conn_out(struct tls_conn *c, size_t *len)
{
	*len = c->out_len;
	return c->out;
}

void
tls_conn_out_sent(struct tls_conn *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	return c->error[0] ? c->error : "no error";
}

const char *
tls_conn_version(struct tls_conn *c)
{
	return wolfSSL_get_version(c->ssl);
}

/* The cipher as OpenSSL (and so OpenSMTPD's logs) names it: the IANA name
 * for TLS 1.3 suites, the OpenSSL-style name wolfSSL uses for the others. */
const char *
tls_conn_cipher(struct tls_conn *c)
{
	if (strcmp(tls_conn_version(c), "TLSv1.3") == 0) {
		int cs = wolfSSL_get_current_cipher_suite(c->ssl);
		const char *iana = wolfSSL_get_cipher_name_iana_from_suite(
			(unsigned char)((cs >> 8) & 0xff), (unsigned char)(cs & 0xff));
		if (iana != NULL && strcmp(iana, "None") != 0)
			return iana;
	}
	return wolfSSL_get_cipher_name(c->ssl);
}

int
tls_conn_cipher_bits(struct tls_conn *c)
{
	int alg = 0;
	return wolfSSL_CIPHER_get_bits(wolfSSL_get_current_cipher(c->ssl), &alg);
}

const char *
tls_conn_sni(struct tls_conn *c)
{
	const char *name = wolfSSL_get_servername(c->ssl, WOLFSSL_SNI_HOST_NAME);
	return name ? name : "";
}

int
tls_conn_peer_verified(struct tls_conn *c)
{
	if (!c->ctx->server && !c->ctx->verify)
		return 0;   /* nothing was checked */
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
	int ok = x != NULL && wolfSSL_get_verify_result(c->ssl) == 0;
	wolfSSL_X509_free(x);
	return ok;
}

enum tls_peer
tls_conn_client_cert(struct tls_conn *c, char *fingerprint, size_t cap)
{
	fingerprint[0] = '\0';
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
	if (x == NULL)   /* none, or resumed: required ones were checked before */
		return c->ctx->verify && wolfSSL_session_reused(c->ssl) ? TLS_PEER_VERIFIED :
		                                                          TLS_PEER_NONE;
	unsigned char md[32];
	unsigned int len = 0;
	if (wolfSSL_X509_digest(x, wolfSSL_EVP_sha256(), md, &len) == WOLFSSL_SUCCESS &&
	    len == sizeof md && cap > 7 + 2 * sizeof md) {
		memcpy(fingerprint, "SHA256:", 7);
		for (unsigned i = 0; i < len; i++)
			snprintf(fingerprint + 7 + 2 * i, 3, "%02x", md[i]);
	}
	wolfSSL_X509_free(x);
	return c->verify_error[0] ? TLS_PEER_UNVERIFIED : TLS_PEER_VERIFIED;
}

const char *
tls_conn_verify_error(const struct tls_conn *c)
{
	return c->verify_error[0] ? c->verify_error : "none";
}

int
tls_conn_resumed(struct tls_conn *c)
{
	return wolfSSL_session_reused(c->ssl) == 1;
}

void
tls_conn_describe(struct tls_conn *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%s:%d", tls_conn_version(c), tls_conn_cipher(c),
	         tls_conn_cipher_bits(c));
}
