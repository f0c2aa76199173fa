/*
 * core/session_milter_send.c - the packets of each step of a milter
 * conversation (core/session_milter.c drives it): the macros Postfix
 * sends with each (j, {daemon_name}, {client_addr}, {client_name};
 * {tls_version}, {cipher}, {cipher_bits}; {mail_addr}, {auth_authen};
 * {rcpt_addr}; i from DATA on), the client for connect, the addresses
 * and ESMTP arguments, the header fields as libmilter hands them, the
 * body in chunks of at most 65535 octets. See core/session_milter_int.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/daemon.h"
#include "core/session_milter_int.h"
#include "proto/milter_edit.h"

#define SM_MACRO_BYTES 4096

/* Append the octets of a packet built by fn into k's output. */
int
session_milter_put(struct sm_link *k, const char *pkt, int n)
{
	return n < 0 ? -1 : milter_conn_put(&k->c, pkt, (size_t)n);
}

/* SMFIC_MACRO for cmd: n name/value pairs. */
static int
sm_macros(struct sm_link *k, char cmd, const char *const *pairs, unsigned n)
{
	char pkt[SM_MACRO_BYTES];

	return session_milter_put(k, pkt, proto_milter_macros(pkt, sizeof pkt, cmd, pairs, n));
}

/* The connect step: macros, then the client. */
static int
sm_send_connect(struct sm_link *k)
{
	struct session *s = k->sm->s;
	char name[PROTO_HOSTNAME_BYTES_MAX + 4], pkt[SM_MACRO_BYTES];
	uint16_t port = 0;
	char family = 'U';

	if (s->rdns_state == RULES_RDNS_FOUND && s->rdns[0])
		snprintf(name, sizeof name, "%s", s->rdns);
	else
		snprintf(name, sizeof name, "[%s]", s->peer_text);
	if (s->peer.ss_family == AF_INET) {
		family = '4';
		port = ntohs(((const struct sockaddr_in *)&s->peer)->sin_port);
	} else if (s->peer.ss_family == AF_INET6) {
		family = '6';
		port = ntohs(((const struct sockaddr_in6 *)&s->peer)->sin6_port);
	}
	const char *m[] = {
		"j", s->shard->daemon->hostname, "{daemon_name}", "ringmta",
		"{client_addr}", s->peer_text, "{client_name}", name,
	};
	if (sm_macros(k, PROTO_MILTER_CONNECT, m, 4) < 0)
		return -1;
	return session_milter_put(k, pkt, proto_milter_connect(pkt, sizeof pkt, name, family, port,
	                                           s->peer_text));
}

/* The packet of step st (its macros first); 0 or -1. */
static int
sm_send_step(struct sm_link *k, enum sm_step st)
{
	struct session_milter *sm = k->sm;
	struct session *s = sm->s;
	char pkt[SM_MACRO_BYTES], addr[QUEUE_ADDR_BYTES_MAX + 2], id[16];
	const char *a[3];

	snprintf(id, sizeof id, "%08X", s->writer.msgid);
	switch (st) {
	case SM_CONNECT:
		return sm_send_connect(k);
	case SM_HELO: {
		/* tls_desc is "TLSv1.3:TLS_AES_256_GCM_SHA384:256" */
		char ver[32], cipher[96];
		const char *c1 = strchr(s->tls_desc, ':');
		const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
		snprintf(ver, sizeof ver, "%.*s", c1 ? (int)(c1 - s->tls_desc) : 0, s->tls_desc);
		snprintf(cipher, sizeof cipher, "%.*s", c2 ? (int)(c2 - c1 - 1) : 0, c1 ? c1 + 1 : "");
		const char *m[] = { "{tls_version}", s->tls != NULL ? ver : NULL,
		                    "{cipher}", s->tls != NULL ? cipher : NULL,
		                    "{cipher_bits}", s->tls != NULL && c2 ? c2 + 1 : NULL };
		a[0] = s->helo;
		return sm_macros(k, PROTO_MILTER_HELO, m, 3) < 0 ? -1 :
		       session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_HELO, a, 1));
	}
	case SM_MAILCMD: {
		const char *m[] = { "{mail_addr}", s->sender,
		                    "{auth_authen}", s->auth_user[0] ? s->auth_user : NULL };
		unsigned n = 1;
		snprintf(addr, sizeof addr, "<%s>", s->sender);
		a[0] = addr;
		if (s->mail_body)
			a[n++] = s->mail_body == PROTO_BODY_BINARYMIME ? "BODY=BINARYMIME" : "BODY=8BITMIME";
		if (s->mail_smtputf8)
			a[n++] = "SMTPUTF8";
		k->in_msg = 1;
		return sm_macros(k, PROTO_MILTER_MAIL, m, 2) < 0 ? -1 :
		       session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_MAIL, a, n));
	}
	case SM_RCPTCMD: {
		const char *m[] = { "{rcpt_addr}", sm->addr };
		snprintf(addr, sizeof addr, "<%s>", sm->addr);
		a[0] = addr;
		return sm_macros(k, PROTO_MILTER_RCPT, m, 1) < 0 ? -1 :
		       session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_RCPT, a, 1));
	}
	case SM_DATACMD: {
		const char *m[] = { "i", id };
		return sm_macros(k, PROTO_MILTER_DATA, m, 1) < 0 ? -1 :
		       session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_DATA, NULL, 0));
	}
	case SM_EOH:
		return session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_EOH, NULL, 0));
	case SM_EOMCMD: {
		const char *m[] = { "i", id };
		return sm_macros(k, PROTO_MILTER_BODYEOB, m, 1) < 0 ? -1 :
		       session_milter_put(k, pkt, proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_BODYEOB,
		                                           NULL, 0));
	}
	default:
		return -1;
	}
}

/* The next header field (1 sent, 0 none left, -1 failed). */
static int
sm_send_header(struct sm_link *k)
{
	struct session_milter *sm = k->sm;
	struct proto_milter_field f;
	size_t hdr, body;
	char name[256];

	proto_milter_split(sm->msg, sm->msg_len, &hdr, &body);
	if (!proto_milter_field_next(sm->msg, hdr, &k->hdr_pos, &f))
		return 0;
	size_t cap = f.len + sizeof name + 16;
	char *val = malloc(cap), *pkt = malloc(cap + 16);
	int r = -1;
	if (val != NULL && pkt != NULL && f.name_len < sizeof name &&
	    proto_milter_field_value(&f, (k->protocol & PROTO_MILTER_P_HDR_LEADSPC) != 0, val,
	                             cap) >= 0) {
		memcpy(name, f.name, f.name_len);
		name[f.name_len] = '\0';
		const char *a[] = { name, val };
		r = session_milter_put(k, pkt, proto_milter_strings(pkt, cap + 16, PROTO_MILTER_HEADER, a, 2)) < 0
		    ? -1 : 1;
	}
	free(val);
	free(pkt);
	return r;
}

/* The next body chunk (1 sent, 0 none left, -1 failed). */
static int
sm_send_body(struct sm_link *k)
{
	struct session_milter *sm = k->sm;
	size_t hdr, body, n;
	char *p;

	proto_milter_split(sm->msg, sm->msg_len, &hdr, &body);
	if (k->body_pos == 0)
		k->body_pos = body;
	if (k->body_pos >= sm->msg_len)
		return 0;
	n = sm->msg_len - k->body_pos;
	n = n > PROTO_MILTER_BODY_CHUNK_BYTES ? PROTO_MILTER_BODY_CHUNK_BYTES : n;
	if ((p = milter_conn_reserve(&k->c, n + 5)) == NULL)
		return -1;
	milter_conn_commit(&k->c, (size_t)proto_milter_body(p, n + 5, sm->msg + k->body_pos, n));
	k->body_pos += n;
	return 1;
}

/* See core/session_milter_int.h. */
int
session_milter_send(struct sm_link *k)
{
	if (k->step == SM_HEADER)
		return sm_send_header(k);
	if (k->step == SM_BODY)
		return sm_send_body(k);
	return sm_send_step(k, k->step) < 0 ? -1 : 1;
}
