/*
 * core/relay_tls.c - TLS on relay connections, as core/session_tls.c does
 * it for sessions: received ciphertext is copied into the connection's TLS
 * state, decrypted a record at a time into c->plain and fed to the client
 * machine; commands are encrypted into the TLS output buffer and sent from
 * there. The handshake runs on the same receive and send operations, so
 * nothing blocks the shard. A failed handshake on an opportunistic
 * connection without credentials retries the destination in plain text (a
 * new connection, as OpenSMTPD and Postfix do); otherwise what waits for
 * the destination fails for now with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/mta_tls.h"
#include "core/relay.h"
#include "core/relay_int.h"
#include "core/tls.h"
#include "core/trace.h"

/* Send queued ciphertext, unless a send is in flight. */
static void
relay_tls_send(struct relay_conn *c)
{
	size_t len;
	const void *out = tls_conn_out(c->tls, &len);
	if (c->sending || len == 0 || c->closing)
		return;
	struct io_uring_sqe *sqe = shard_sqe(c->sh);
	io_uring_prep_send(sqe, c->fd, out, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->send_op);
	c->sending = 1;
	c->tls_sending = 1;
	c->inflight++;
}

int
relay_tls_start(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	struct tls_ctx *ctx = mta_tls_ctx_find(c->sh->daemon, d->tls != RULES_RELAY_TLS_OPPORTUNISTIC &&
	                                       d->tls_verify,
	                                       d->tls_ca[0] ? d->tls_ca : MTA_TLS_SYSTEM_CA,
	                                       d->tls_pki, d->tls_ciphers, d->tls_protocols);
	if (ctx == NULL)
		return -1;
	c->plain = malloc(RELAY_PLAIN_BYTES);
	/* the name checked and sent: the smart host's, or the MX host's */
	c->tls = c->plain ? tls_conn_new(ctx, c->peer_host) : NULL;
	if (c->tls == NULL) {
		free(c->plain);
		c->plain = NULL;
		return -1;
	}
	c->tls_handshaking = 1;
	if (tls_conn_handshake(c->tls) == TLS_ERROR) {   /* the ClientHello */
		relay_tls_failed(c, tls_conn_error(c->tls));
		return 0;
	}
	relay_tls_send(c);
	relay_recv_arm(c);
	return 0;
}

void
relay_tls_failed(struct relay_conn *c, const char *why)
{
	struct relay_dest *d = c->dest;
	char stat[QUEUE_ERROR_BYTES_MAX];
	log_info("%016llx mta error reason=tls relay=%s: %s", (unsigned long long)c->id, c->via,
	         why);
	if (d->tls == RULES_RELAY_TLS_OPPORTUNISTIC && d->label[0] == '\0') {
		/* opportunistic: the next connection goes without TLS */
		d->tls_plain_until_ms = c->sh->now_ms + RELAY_ROUTE_MS_MAX;
		log_info("%016llx mta tls failed, next connections in plain text relay=%s",
		         (unsigned long long)c->id, c->via);
	} else {
		snprintf(stat, sizeof stat, "Error (TLS with %s failed: %s)", c->via, why);
		/* another MX (or address) may have a certificate that passes */
		if (!relay_dest_next_route(c, stat))
			relay_dest_fail_queued(c->sh, d, DELIVERY_TEMPFAIL, stat);
	}
	relay_conn_close(c, NULL);
}

/* The handshake finished: log it, then the machine goes on (EHLO again
 * after STARTTLS; the greeting for smtps). */
static void
relay_tls_established(struct relay_conn *c)
{
	char desc[160];
	c->tls_handshaking = 0;
	tls_conn_describe(c->tls, desc, sizeof desc);
	snprintf(c->via_tls, sizeof c->via_tls, "%s tls=%s", c->via, desc);
	log_info("%016llx mta tls ciphers=%s relay=%s cert=%s", (unsigned long long)c->id, desc,
	         c->via, tls_conn_peer_verified(c->tls) ? "verified" : "unverified");
	proto_client_tls_done(&c->pc);   /* nothing for smtps: no STARTTLS was said */
	relay_pump(c);
}

void
relay_tls_input(struct relay_conn *c, const char *cipher, size_t len)
{
	if (tls_conn_feed(c->tls, cipher, len) < len) {
		/* more than two records ahead of us: not a real server */
		relay_finish_items(c, 0, "TLS input overflow");
		relay_conn_close(c, NULL);
		return;
	}
	if (!c->tls_handshaking) {
		relay_pump(c);   /* NEED_MORE decrypts through relay_tls_read() */
		return;
	}
	int r = tls_conn_handshake(c->tls);
	relay_tls_send(c);
	if (r == TLS_WANT) {
		relay_recv_arm(c);
		return;
	}
	if (r != TLS_OK) {
		relay_tls_failed(c, tls_conn_error(c->tls));
		return;
	}
	relay_tls_established(c);
}

int
relay_tls_read(struct relay_conn *c)
{
	if (c->tls_handshaking)
		return 0;
	ssize_t n = tls_conn_read(c->tls, c->plain, RELAY_PLAIN_BYTES);
	if (n > 0) {
		if (TRACE_ON(CTL_TRACE_TRANSFER))
			trace_dialogue("transfer", c->id, "<<<", c->plain, (size_t)n, 0);
		proto_client_feed(&c->pc, c->plain, (size_t)n);
		return 1;
	}
	if (n == TLS_WANT)
		return 0;
	const char *why = n == TLS_CLOSED ? "TLS closed by the peer" : tls_conn_error(c->tls);
	if (!c->ready_once)
		relay_session_failed(c, 0, why);
	relay_finish_items(c, 0, why);
	relay_conn_close(c, NULL);
	return -1;
}

void
relay_tls_flush(struct relay_conn *c)
{
	if (c->closing)
		return;
	while (c->pc.out_len > 0 && !c->tls_handshaking) {
		ssize_t w = tls_conn_write(c->tls, c->pc.out, c->pc.out_len);
		if (w == 0)
			break;   /* no room: after this send */
		if (w < 0) {
			relay_finish_items(c, 0, tls_conn_error(c->tls));
			relay_conn_close(c, NULL);
			return;
		}
		if (TRACE_ON(CTL_TRACE_TRANSFER) && !c->in_body)
			trace_dialogue("transfer", c->id, ">>>", c->pc.out, (size_t)w, 1);
		proto_client_out_sent(&c->pc, (size_t)w);
	}
	relay_tls_send(c);
}

void
relay_tls_sent(struct relay_conn *c, int res)
{
	tls_conn_out_sent(c->tls, (size_t)res);
	size_t pending;
	tls_conn_out(c->tls, &pending);
	if (pending > 0 || c->pc.out_len > 0) {
		relay_tls_flush(c);
		return;
	}
	if (c->tls_handshaking)
		return;   /* the server's next flight comes on the receive */
	relay_pump(c);
}

void
relay_tls_free(struct relay_conn *c)
{
	tls_conn_free(c->tls);
	c->tls = NULL;
	free(c->plain);
	c->plain = NULL;
}
