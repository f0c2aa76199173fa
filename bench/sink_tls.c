/*
 * bench/sink_tls.c - TLS on sink sessions (bench/tlsmem.h): implicit from
 * the accept (or after the PROXY header), or after the 220 to STARTTLS.
 * Received ciphertext is lent to wolfSSL straight from the provided
 * buffer, decrypted into the session's plain buffer and read as SMTP;
 * replies are encrypted into the connection's output buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench/ring.h"
#include "bench/sink_int.h"

/* Count a failed handshake or record and drop the connection. */
static void
ssession_tls_fail(struct bench_ssession *s)
{
	sink_count(&s->sk->ctr.tls_errors, 1);
	ssession_close(s);
}

int
ssession_tls_begin(struct bench_ssession *s)
{
	s->plain = malloc(SINK_PLAIN_BYTES);
	if (s->plain == NULL || bench_tls_open(&s->tls, s->sk->cfg->tls_ctx) < 0) {
		free(s->plain);
		s->plain = NULL;
		ssession_tls_fail(s);
		return -1;
	}
	s->tls_on = 1;
	s->poff = s->plen = 0;
	size_t keep = s->send_armed ? s->send_len : 0;
	if (s->out_ready > keep) {
		bench_tls_raw(&s->tls, s->out + keep, s->out_ready - keep);
		memmove(s->out + keep, s->out + s->out_ready, s->out_len - s->out_ready);
		s->out_len -= s->out_ready - keep;
		s->out_ready = keep;
	}
	bench_sink_init(&s->p);          /* RFC 3207 4.2: forget the session so far */
	s->has_mail = 0;
	s->authed = 0;
	s->auth_step = SINK_AUTH_NONE;
	return 0;
}

/* The handshake took what was lent: done (the greeting follows with
 * implicit TLS), or more is needed. Returns 1 done, 0 more, -1 closed. */
static int
ssession_tls_handshake(struct bench_ssession *s)
{
	int r = bench_tls_handshake(&s->tls);
	if (r == BENCH_TLS_WANT)
		return 0;
	if (r != BENCH_TLS_OK) {
		ssession_tls_fail(s);
		return -1;
	}
	sink_count(&s->sk->ctr.tls_handshakes, 1);
	if (s->sk->cfg->tls_implicit && ssession_event(s, BENCH_SINK_CONNECT, NULL) < 0)
		return -1;
	return 1;
}

ssize_t
ssession_tls_input(struct bench_ssession *s, const char **data)
{
	if (s->poff < s->plen) {
		*data = s->plain + s->poff;
		return (ssize_t)(s->plen - s->poff);
	}
	s->poff = s->plen = 0;
	if (s->holding && s->hoff < s->hlen) {
		bench_tls_input(&s->tls, ssession_held(s) + s->hoff, s->hlen - s->hoff);
		s->hoff = s->hlen;
	}
	if (!s->tls.handshake_done) {
		int r = ssession_tls_handshake(s);
		if (r <= 0)
			return r;
		if (s->wait_timer)
			return 0;                /* a delayed greeting: read on after it */
	}
	ssize_t n = bench_tls_read(&s->tls, s->plain, SINK_PLAIN_BYTES);
	if (n == BENCH_TLS_WANT)
		return 0;
	if (n == BENCH_TLS_CLOSED) {
		ssession_close(s);
		return -1;
	}
	if (n < 0) {
		ssession_tls_fail(s);
		return -1;
	}
	s->plen = (size_t)n;
	*data = s->plain;
	return n;
}

int
ssession_tls_holds(const struct bench_ssession *s)
{
	return s->tls_on && bench_tls_input_left(&s->tls) > 0;
}

/* Encrypt the ready replies while a record fits. Returns -1 when closed. */
static int
ssession_tls_encrypt(struct bench_ssession *s)
{
	while (s->out_ready > 0) {
		ssize_t w = bench_tls_write(&s->tls, s->out, s->out_ready);
		if (w == 0)
			return 0;
		if (w < 0) {
			ssession_tls_fail(s);
			return -1;
		}
		memmove(s->out, s->out + w, s->out_len - (size_t)w);
		s->out_len -= (size_t)w;
		s->out_ready -= (size_t)w;
	}
	return 0;
}

void
ssession_tls_flush(struct bench_ssession *s)
{
	if (s->send_armed || s->closing)
		return;
	if (s->tls.handshake_done && ssession_tls_encrypt(s) < 0)
		return;
	size_t len;
	const void *out = bench_tls_out(&s->tls, &len);
	if (len == 0)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&s->sk->ring);
	io_uring_prep_send(sqe, s->fd, out, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_SEND);
	s->send_len = len;
	s->send_tls = 1;
	s->send_armed = 1;
	s->inflight++;
}

void
ssession_tls_end(struct bench_ssession *s)
{
	if (!s->tls_on)
		return;
	bench_tls_close(&s->tls);
	free(s->plain);
	s->plain = NULL;
	s->tls_on = 0;
}
