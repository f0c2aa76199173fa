/*
 * core/session_tls.c - TLS between a session's socket and its protocol
 * machine: received ciphertext is copied into the connection (the provided
 * buffer goes straight back), decrypted a record at a time into the
 * session's plaintext buffer and fed to proto/; replies are encrypted into
 * the connection's fixed output buffer and sent from there. Handshakes run
 * on the same receive and send operations, so nothing blocks the shard.
 * The client certificate's check is logged as OpenSMTPD does
 * ("smtp cert-check result=... fingerprint=...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/daemon.h"
#include "core/trace.h"
#include "core/log.h"
#include "core/session_int.h"
#include "core/tls.h"

/* Send queued ciphertext, unless a send is in flight. */
static void
session_tls_send(struct session *s)
{
	size_t len;
	const void *out = tls_conn_out(s->tls, &len);
	if (s->sending || len == 0 || s->fd < 0)
		return;
	struct io_uring_sqe *sqe = shard_sqe(s->shard);
	io_uring_prep_send(sqe, s->fd, out, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->send_op);
	s->sending = 1;
	s->inflight++;
}

/* Does s's listener have TLS to offer? */
int
session_tls_available(const struct session *s)
{
	struct daemon *d = s->shard->daemon;
	return s->listener < d->ntls_ctx && d->tls_ctx[s->listener] != NULL;
}

/* Start TLS on s (at accept for smtps, after "220 Ready" for STARTTLS). */
int
session_tls_start(struct session *s, int starttls)
{
	struct daemon *d = s->shard->daemon;
	struct tls_ctx *ctx = s->listener < d->ntls_ctx ? d->tls_ctx[s->listener] : NULL;
	if (ctx == NULL)
		return -1;
	s->plain = malloc(SESSION_PLAIN_BYTES);
	s->tls = s->plain ? tls_conn_new(ctx, NULL) : NULL;
	if (s->tls == NULL)
		return -1;
	s->tls_handshaking = 1;
	s->tls_starttls = starttls;
	session_recv_arm(s);
	return 0;
}

/* Decrypt one record of input and feed it; 1 when something was fed. */
int
session_tls_drained(struct session *s)
{
	if (s->tls_handshaking || s->closing)
		return 0;
	ssize_t n = tls_conn_read(s->tls, s->plain, SESSION_PLAIN_BYTES);
	if (n > 0) {
		if (TRACE_ON(CTL_TRACE_SMTP))
			session_trace_in(s, s->plain, (size_t)n);
		proto_server_feed(&s->proto, s->plain, (size_t)n);
		return 1;
	}
	if (n == TLS_WANT)
		return 0;
	if (n == TLS_ERROR)
		log_info("%016llx smtp tls error: %s", (unsigned long long)s->id,
		         tls_conn_error(s->tls));
	session_close(s, n == TLS_CLOSED ? "disconnect" : "tls error");
	return 0;
}

/* Log what became of the client's certificate (none: nothing logged, as
 * OpenSMTPD); remember whether it verified. ok: the handshake succeeded. */
static void
session_tls_cert_log(struct session *s, int ok)
{
	unsigned long long id = (unsigned long long)s->id;
	char fp[80];
	if (!ok) {
		const char *why = tls_conn_verify_error(s->tls);
		if (strcmp(why, "none") != 0)
			log_info("%016llx smtp cert-check result=\"failed\" reason=\"%s\"", id, why);
		return;
	}
	enum tls_peer p = tls_conn_client_cert(s->tls, fp, sizeof fp);
	s->tls_cert_verified = p == TLS_PEER_VERIFIED;
	if (p == TLS_PEER_VERIFIED && fp[0] != '\0')
		log_info("%016llx smtp cert-check result=\"verified\" fingerprint=\"%s\"", id, fp);
	else if (p == TLS_PEER_UNVERIFIED)
		log_info("%016llx smtp cert-check result=\"unverified\" reason=\"%s\" "
		         "fingerprint=\"%s\"", id, tls_conn_verify_error(s->tls), fp);
}

/* Handshake if it is not done, then feed what can be decrypted. */
static void
session_tls_advance(struct session *s)
{
	if (s->tls_handshaking) {
		int r = tls_conn_handshake(s->tls);
		session_tls_send(s);
		if (r == TLS_WANT) {
			session_recv_arm(s);
			return;
		}
		if (r != TLS_OK) {
			session_tls_cert_log(s, 0);
			log_info("%016llx smtp failed-command command=\"%s\" result=\"%s\"",
			         (unsigned long long)s->id, s->tls_starttls ? "STARTTLS" : "(smtps)",
			         tls_conn_error(s->tls));
			metrics_add(&s->shard->metrics, METRICS_TLS_FAILED, 1);
			session_close(s, "tls handshake failed");
			return;
		}
		metrics_add(&s->shard->metrics, METRICS_TLS_OK, 1);
		s->tls_handshaking = 0;
		s->rules_session_ok = 0;   /* "match tls" answers differently now */
		tls_conn_describe(s->tls, s->tls_desc, sizeof s->tls_desc);
		log_info("%016llx smtp tls ciphers=%s", (unsigned long long)s->id, s->tls_desc);
		session_tls_cert_log(s, 1);
		const char *desc = s->tls_desc;   /* link-tls: version:cipher:bits */
		session_proc_report(s, PROTO_FEV_LINK_TLS, &desc, 1);
		if (!s->tls_starttls)
			session_greet(s);
		else
			proto_server_tls_done(&s->proto);   /* RFC 3207 4.2: back to the start */
	}
	if (session_tls_drained(s)) {
		session_pump(s);
		return;
	}
	session_flush(s);
	session_recv_arm(s);
}

void
session_tls_input(struct session *s, const char *cipher, size_t len)
{
	size_t took = tls_conn_feed(s->tls, cipher, len);
	session_buffer_return(s);
	if (took < len) {
		/* the peer sent more than two records ahead: not a real client */
		session_close(s, "tls input overflow");
		return;
	}
	session_tls_advance(s);
}

/* Encrypt the replies waiting in the machine, then send. */
void
session_tls_flush(struct session *s)
{
	if (s->closing && !s->close_after_send)
		return;
	while (s->proto.out_len > 0 && !s->tls_handshaking) {
		ssize_t w = tls_conn_write(s->tls, s->proto.out, s->proto.out_len);
		if (w == 0)
			break;   /* no room: after this send */
		if (w < 0) {
			session_close(s, "tls error");
			return;
		}
		if (TRACE_ON(CTL_TRACE_SMTP))
			session_trace_out(s, s->proto.out, (size_t)w);
		proto_server_out_sent(&s->proto, (size_t)w);
	}
	session_tls_send(s);
}

void
session_tls_sent(struct session *s, int res)
{
	tls_conn_out_sent(s->tls, (size_t)res);
	size_t pending;
	tls_conn_out(s->tls, &pending);
	if (pending > 0 || s->proto.out_len > 0) {
		session_tls_flush(s);
		return;
	}
	if (s->tls_handshaking)
		return;   /* the peer's next flight is awaited on the receive */
	session_after_send(s);
}

void
session_tls_free(struct session *s)
{
	tls_conn_free(s->tls);
	s->tls = NULL;
	free(s->plain);
	s->plain = NULL;
}
