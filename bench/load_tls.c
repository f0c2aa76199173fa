/*
 * bench/load_tls.c - what a load generator session does besides plain SMTP:
 * the PROXY header it sends first (a source address from --proxy-src), and
 * TLS (implicit from the connect, or after 220 to STARTTLS) through
 * bench/tlsmem.h: received ciphertext goes through the handshake, then is
 * decrypted into replies; commands and message bodies are encrypted into
 * the connection's output buffer, which one send at a time carries out.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load_int.h"
#include "bench/ring.h"

#define LOAD_TLS_PLAIN_BYTES 4096      /* decrypted replies, per read */

/* Queue the PROXY header: the next source address of the block (in order
 * over every loader, or at random), a source port that varies with it,
 * and the real target as the destination (IPv4-mapped for an IPv6 block). */
int
lsession_proxy_header(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	const struct bench_load_config *cfg = ld->cfg;
	uint64_t n;
	if (cfg->proxy_random) {
		n = bench_rng_next(&ld->proxy_rng);
	} else {
		n = ld->proxy_next;
		ld->proxy_next += ld->nloaders;
	}
	unsigned char src[16], dst[16];
	bench_cidr_addr(&cfg->proxy_src, n, src);
	int family = cfg->proxy_src.family;
	if (family == AF_INET) {
		memcpy(dst, &cfg->target.sin_addr, 4);
	} else {
		memset(dst, 0, 10);
		dst[10] = dst[11] = 0xff;
		memcpy(dst + 12, &cfg->target.sin_addr, 4);
	}
	unsigned char hdr[BENCH_PROXY_HDR_BYTES_MAX];
	int len = bench_proxy_build(cfg->proxy_version, family, src,
	                            (uint16_t)(1024 + (n >> 1) % 64000), dst,
	                            ntohs(cfg->target.sin_port), hdr, sizeof hdr);
	if (len < 0 || s->out_len + (size_t)len > s->out_cap) {
		lsession_fail(s, BENCH_ERR_SEND);
		return -1;
	}
	memcpy(s->out + s->out_len, hdr, (size_t)len);
	s->out_len += (size_t)len;
	return 0;
}

/* Count a TLS failure, keep the first reason, drop the connection. */
static void
lsession_tls_fail(struct bench_lsession *s, const char *why)
{
	struct bench_loader *ld = s->ld;
	if (ld->tls_error[0] == '\0')
		snprintf(ld->tls_error, sizeof ld->tls_error, "%s", why);
	lsession_fail(s, BENCH_ERR_TLS);
}

/* Start the handshake: a bench_tls for this connection, the bytes still
 * unsent in plaintext (the PROXY header) ahead of the ClientHello. */
int
lsession_tls_start(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	struct bench_ltls *lt = malloc(sizeof *lt);
	if (lt == NULL || bench_tls_open(&lt->conn, ld->cfg->tls_ctx) < 0) {
		free(lt);
		lsession_tls_fail(s, "out of memory for a TLS connection");
		return -1;
	}
	s->tls = lt;
	if (!s->send_armed && s->out_off < s->out_len) {
		bench_tls_raw(&lt->conn, s->out + s->out_off, s->out_len - s->out_off);
		s->out_off = s->out_len = 0;
	}
	lsession_state(s, LS_TLS);
	lt->t_start = ld->now_ns;
	s->deadline_ns = ld->now_ns + ld->cfg->timeout_ns;
	if (bench_tls_handshake(&lt->conn) == BENCH_TLS_ERROR) {
		lsession_tls_fail(s, bench_tls_error(&lt->conn));
		return -1;
	}
	lsession_flush(s);
	return 0;
}

/* The handshake is done: its latency, then the greeting (implicit TLS)
 * or the second EHLO (RFC 3207 4.2: the client must discard what it knew). */
static void
lsession_tls_established(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	bench_hist_add(&ld->stats->lat[BENCH_STAGE_TLS], ld->now_ns - s->tls->t_start);
	if (ld->tls_desc[0] == '\0')
		snprintf(ld->tls_desc, sizeof ld->tls_desc, "%s %s",
		         bench_tls_version(&s->tls->conn), bench_tls_cipher(&s->tls->conn));
	s->deadline_ns = ld->now_ns + ld->cfg->timeout_ns;
	if (ld->cfg->tls_mode == BENCH_LOAD_TLS_IMPLICIT) {
		lsession_state(s, LS_GREETING);
		s->t_greet_from = ld->now_ns;
		return;
	}
	bench_reply_init(&s->rp);
	lsession_state(s, LS_EHLO);
	if (lsession_cmd(s, "EHLO %s\r\n", ld->cfg->helo) < 0)
		lsession_fail(s, BENCH_ERR_SEND);
}

/* Returns 1 when the connection whose generation was gen closed, was
 * opened again, or is closing (its TLS is gone or going). */
static int
lsession_tls_gone(const struct bench_lsession *s, unsigned gen)
{
	return s->gen != gen || s->closing || s->tls == NULL;
}

/* Ciphertext arrived: go on with the handshake, then decrypt every reply. */
void
lsession_tls_recv(struct bench_lsession *s, size_t len)
{
	struct bench_tls *t = &s->tls->conn;
	unsigned gen = s->gen;
	bench_tls_input(t, s->tls->rbuf, len);
	if (!t->handshake_done) {
		int r = bench_tls_handshake(t);
		if (r == BENCH_TLS_ERROR) {
			lsession_tls_fail(s, bench_tls_error(t));
			return;
		}
		if (r == BENCH_TLS_OK)
			lsession_tls_established(s);
		if (lsession_tls_gone(s, gen))
			return;
	}
	char plain[LOAD_TLS_PLAIN_BYTES];
	while (t->handshake_done) {
		ssize_t n = bench_tls_read(t, plain, sizeof plain);
		if (n == BENCH_TLS_WANT)
			break;
		if (n == BENCH_TLS_CLOSED) {
			if (s->state == LS_QUIT)
				lsession_close(s, 0);
			else
				lsession_fail(s, BENCH_ERR_EOF);
			return;
		}
		if (n < 0) {
			lsession_tls_fail(s, bench_tls_error(t));
			return;
		}
		lsession_replies(s, plain, (size_t)n);
		if (lsession_tls_gone(s, gen))
			return;
	}
	lsession_flush(s);
}

/* Encrypt pending plaintext, body first (as lsession_flush sends it),
 * while the output buffer has room for a record. Returns -1 on failure. */
static int
lsession_tls_encrypt(struct bench_lsession *s)
{
	struct bench_tls *t = &s->tls->conn;
	for (;;) {
		const char *p;
		size_t n;
		if (s->body_pending) {
			p = s->mh.msg_iov->iov_base;
			n = s->mh.msg_iov->iov_len;
			if (n == 0) {
				if (lsession_body_advance(s, 0)) {
					s->body_pending = 0;
					s->t_dot = s->ld->now_ns;
				}
				continue;
			}
		} else if (s->out_off < s->out_len) {
			p = s->out + s->out_off;
			n = s->out_len - s->out_off;
		} else {
			return 0;
		}
		ssize_t w = bench_tls_write(t, p, n);
		if (w == 0)
			return 0;
		if (w < 0) {
			lsession_tls_fail(s, bench_tls_error(t));
			return -1;
		}
		if (!s->body_pending)
			s->out_off += (size_t)w;
		else if (lsession_body_advance(s, (size_t)w)) {
			s->body_pending = 0;
			s->t_dot = s->ld->now_ns;      /* ".CRLF" is encrypted: it goes out now */
		}
	}
}

/* Encrypt what is pending, send the ciphertext. */
void
lsession_tls_flush(struct bench_lsession *s)
{
	struct bench_tls *t = &s->tls->conn;
	if (t->handshake_done && lsession_tls_encrypt(s) < 0)
		return;
	size_t len;
	const void *out = bench_tls_out(t, &len);
	if (len == 0)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&s->ld->ring);
	io_uring_prep_send(sqe, s->fd, out, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_SEND);
	s->send_armed = 1;
	s->send_tls = 1;
	s->inflight++;
	s->t_sent = s->ld->now_ns;
	s->deadline_ns = s->ld->now_ns + s->ld->cfg->timeout_ns;
}

/* n bytes of ciphertext went out. */
void
lsession_tls_sent(struct bench_lsession *s, size_t n)
{
	if (s->tls != NULL)
		bench_tls_sent(&s->tls->conn, n);
}

/* Forget the connection's TLS. */
void
lsession_tls_free(struct bench_lsession *s)
{
	bench_tls_close(&s->tls->conn);
	free(s->tls);
	s->tls = NULL;
}
