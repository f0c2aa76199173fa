/*
 * core/session_proxy.c - the PROXY protocol header (v1 or v2, read by
 * proto/proxy.c) that a balancer sends first on a `listen on ... proxy-v2`
 * listener, before the 220 greeting or the smtps handshake, as Postfix's
 * smtpd_upstream_proxy_protocol reads it. A complete header makes its
 * source the session's client address (rules, per-source count, GeoIP,
 * log lines, Received:); a LOCAL or UNKNOWN header keeps the socket's own. A malformed
 * header, or none within SESSION_PROXY_MS_MAX, closes without a greeting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/session_int.h"
#include "proto/proxy.h"
#include "rules/rules.h"

#define SESSION_PROXY_MS_MAX 5000u   /* Postfix's smtpd_upstream_proxy_timeout */

struct session_proxy {
	struct proto_proxy header;
	uint64_t deadline_ms;        /* shard time by which the header must be whole */
};

/* Wait for the header: nothing is sent until it is complete. */
void
session_proxy_begin(struct session *s)
{
	s->proxy = malloc(sizeof *s->proxy);
	if (s->proxy == NULL) {
		session_close(s, "out of memory");
		return;
	}
	proto_proxy_init(&s->proxy->header);
	s->proxy->deadline_ms = s->shard->now_ms + SESSION_PROXY_MS_MAX;
	session_recv_arm(s);
}

void
session_proxy_free(struct session *s)
{
	free(s->proxy);
	s->proxy = NULL;
}

/* Log why the connection ends before its greeting, and end it. */
static void
session_proxy_refuse(struct session *s, const char *why, const char *reason)
{
	log_info("%016llx smtp refused connection address=%s reason=\"%s\"",
	         (unsigned long long)s->id, s->peer_text, why);
	session_proxy_free(s);
	session_close(s, reason);
}

/* The header's source becomes the client (unless it is LOCAL/UNKNOWN). */
static void
session_proxy_adopt(struct session *s, const struct proto_proxy *h)
{
	if (h->local)
		return;
	s->peer = h->src;
	listener_addr_text((const struct sockaddr *)&s->peer, s->peer_text, sizeof s->peer_text);
	s->local = session_peer_is_local(&s->peer);
}

/* Greet (or start the smtps handshake) and go on with the bytes that came
 * after the header in the same read, which are still in the held buffer. */
static void
session_proxy_start(struct session *s, const char *rest, size_t len)
{
	const struct rules_config *c = s->config;
	if (s->listener < c->nlisteners && c->listeners[s->listener].tls == RULES_TLS_SMTPS) {
		if (session_tls_start(s, 0) < 0) {
			session_close(s, "tls setup failed");
			return;
		}
		if (len > 0) {
			session_tls_input(s, rest, len);   /* the start of the ClientHello */
			return;
		}
		session_buffer_return(s);
		session_recv_arm(s);
		return;
	}
	session_greet(s);
	if (len > 0)
		proto_server_feed(&s->proto, rest, len);
	session_pump(s);   /* gives the buffer back once the machine needs more */
}

/* The header is whole: take its address, count it, log, and start. */
static void
session_proxy_done(struct session *s, const char *rest, size_t len)
{
	char via[sizeof s->peer_text];
	memcpy(via, s->peer_text, sizeof via);
	session_proxy_adopt(s, &s->proxy->header);
	int version = s->proxy->header.version;
	session_proxy_free(s);
	char geo[40];
	session_geoip_lookup(s);
	log_info("%016llx smtp connected address=%s host=%s%s proxy=v%d via=%s",
	         (unsigned long long)s->id, s->peer_text, s->peer_text,
	         session_geoip_log(s, geo, sizeof geo), version, via);
	int counted = session_count_source(s->shard, &s->peer, s->peer_text);
	if (counted < 0) {
		session_say_refusal(s->fd, SESSION_REPLY_SOURCE_LIMIT);
		session_close(s, "too many sessions from this address");
		return;
	}
	s->source_counted = counted;
	session_proxy_start(s, rest, len);
}

/* Bytes read while the header is awaited. */
void
session_proxy_input(struct session *s, const char *data, size_t len)
{
	size_t used = 0;
	switch (proto_proxy_feed(&s->proxy->header, data, len, &used)) {
	case PROTO_PROXY_NEED_MORE:
		session_buffer_return(s);   /* the parser kept what it needs */
		session_recv_arm(s);
		return;
	case PROTO_PROXY_ERROR:
		session_proxy_refuse(s, "malformed PROXY header", "proxy header error");
		return;
	case PROTO_PROXY_DONE:
		session_proxy_done(s, data + used, len - used);
		return;
	}
}

/* The shard's once-a-second tick: a header late past its deadline. */
void
session_proxy_tick(struct session *s)
{
	if (s->shard->now_ms < s->proxy->deadline_ms)
		return;
	char why[64];
	snprintf(why, sizeof why, "no PROXY header within %u seconds", SESSION_PROXY_MS_MAX / 1000);
	session_proxy_refuse(s, why, "proxy header timeout");
}
