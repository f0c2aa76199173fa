/*
 * core/session.c - inbound SMTP sessions: drives proto/smtp_server.c with
 * bytes from io_uring receives (provided buffers), answers its questions
 * with rules/ and queue/, sends its replies, and hands committed envelopes to
 * delivery. A 250 to end of data is sent only after the syncer reports the
 * message durable. See core/session.h.
 */
#include "core/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/listener.h"
#include "core/local.h"
#include "core/log.h"
#include "core/session_int.h"
#include "core/trace.h"
#include "core/shard.h"
#include "core/source_limit.h"
#include "core/srs.h"
#include "proto/smtp_server.h"
#include "queue/queue.h"
#include "rules/rules.h"

/* The envelope keeps MAIL and RCPT parameters with proto's values. */
_Static_assert(QUEUE_BODY_8BITMIME == PROTO_BODY_8BITMIME &&
               QUEUE_BODY_BINARYMIME == PROTO_BODY_BINARYMIME &&
               QUEUE_DSN_RET_FULL == PROTO_DSN_RET_FULL && QUEUE_DSN_RET_HDRS == PROTO_DSN_RET_HDRS &&
               QUEUE_DSN_NOTIFY_NEVER == PROTO_DSN_NOTIFY_NEVER &&
               QUEUE_DSN_NOTIFY_SUCCESS == PROTO_DSN_NOTIFY_SUCCESS &&
               QUEUE_DSN_NOTIFY_FAILURE == PROTO_DSN_NOTIFY_FAILURE &&
               QUEUE_DSN_NOTIFY_DELAY == PROTO_DSN_NOTIFY_DELAY &&
               QUEUE_ENVID_BYTES_MAX == PROTO_ENVID_BYTES_MAX + 1 &&
               QUEUE_ORCPT_BYTES_MAX == PROTO_ORCPT_BYTES_MAX + 1,
               "queue/queue.h and proto/smtp_ext.h disagree");

/* Give the held provided buffer back to the kernel. */
void
session_buffer_return(struct session *s)
{
	struct shard *sh = s->shard;
	if (!s->holding)
		return;
	io_uring_buf_ring_add(sh->buf_ring, sh->bufs + (size_t)s->held_bid * SHARD_BUF_BYTES,
	                      SHARD_BUF_BYTES, s->held_bid,
	                      io_uring_buf_ring_mask(SHARD_BUF_COUNT), 0);
	io_uring_buf_ring_advance(sh->buf_ring, 1);
	s->holding = 0;
	sh->bufs_returned++;
}

void
session_recv_arm(struct session *s)
{
	if (s->receiving || s->closing || s->holding)
		return;
	struct io_uring_sqe *sqe = shard_sqe(s->shard);
	io_uring_prep_recv(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SHARD_BGID;
	io_uring_sqe_set_data(sqe, &s->recv_op);
	s->receiving = 1;
	s->inflight++;
}

/* Send whatever replies are waiting, unless a send is already in flight. */
void
session_flush(struct session *s)
{
	if (s->tls != NULL) {
		session_tls_flush(s);
		return;
	}
	if (s->sending || s->proto.out_len == 0 || s->fd < 0)
		return;
	struct io_uring_sqe *sqe = shard_sqe(s->shard);
	io_uring_prep_send(sqe, s->fd, s->proto.out, s->proto.out_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->send_op);
	s->sending = 1;
	s->inflight++;
}

/* Everything queued went out: close if that was the goodbye, else go on. */
void
session_after_send(struct session *s)
{
	if (s->starttls_pending && !s->closing) {
		/* "220 Ready to start TLS" went out in plain text: what the
		 * client sent after STARTTLS was dropped by the machine; the
		 * next bytes are its ClientHello (RFC 3207 4.2) */
		s->starttls_pending = 0;
		session_buffer_return(s);
		if (session_tls_start(s, 1) < 0)
			session_close(s, "tls setup failed");
		return;
	}
	if (s->close_after_send) {
		session_close(s, s->reason ? s->reason : "quit");
		return;
	}
	if (!s->closing)
		session_pump(s);
}

static void
session_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, send_op);
	s->inflight--;
	s->sending = 0;
	if (res < 0) {
		if (res != -EPIPE && res != -ECONNRESET)
			log_debug("%016llx smtp send: %s", (unsigned long long)s->id, strerror(-res));
		session_close(s, "disconnect");
		return;
	}
	s->last_active_ms = s->shard->now_ms;
	if (s->tls != NULL) {
		session_tls_sent(s, res);
		return;
	}
	if (TRACE_ON(CTL_TRACE_SMTP))
		session_trace_out(s, s->proto.out, (size_t)res);
	proto_server_out_sent(&s->proto, (size_t)res);
	if (s->proto.out_len > 0) {
		session_flush(s);
		return;
	}
	session_after_send(s);
}

static void
session_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, recv_op);
	struct shard *sh = s->shard;
	s->inflight--;
	s->receiving = 0;
	if (res == -ENOBUFS && !s->closing) {
		/* every buffer is held: wait until one comes back */
		list_del(&s->node);
		list_add_tail(&sh->sessions_starved, &s->node);
		return;
	}
	if (flags & IORING_CQE_F_BUFFER) {
		s->held_bid = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
		s->holding = 1;
	}
	if (res <= 0 || s->closing) {
		session_buffer_return(s);
		if (res < 0 && res != -ECONNRESET && res != -ECANCELED)
			log_debug("%016llx smtp recv: %s", (unsigned long long)s->id, strerror(-res));
		session_close(s, "disconnect");
		return;
	}
	s->last_active_ms = sh->now_ms;
	const char *data = sh->bufs + (size_t)s->held_bid * SHARD_BUF_BYTES;
	if (s->proxy != NULL) {
		session_proxy_input(s, data, (size_t)res);
		return;
	}
	if (s->tls != NULL) {
		session_tls_input(s, data, (size_t)res);   /* copies, so the buffer goes back */
		return;
	}
	if (TRACE_ON(CTL_TRACE_SMTP))
		session_trace_in(s, data, (size_t)res);
	proto_server_feed(&s->proto, data, (size_t)res);
	session_pump(s);
}

/* A tx-... report for the processes: the transaction's id, then result
 * and address when given. */
static void
session_tx_report(struct session *s, enum proto_filter_event ev, const char *result,
                  const char *addr)
{
	char id[16];
	const char *p[3] = { id, result, addr };

	if (s->listener >= s->config->nlisteners || s->config->listeners[s->listener].nprocs == 0)
		return;   /* no process to tell: nothing to format on the commit path */
	if (ev == PROTO_FEV_TX_BEGIN)
		s->tx_id = (uint32_t)(s->id >> 8) ^ (uint32_t)s->shard->now_ms ^ ++s->tx_count;
	snprintf(id, sizeof id, "%08x", s->tx_id);
	session_proc_report(s, ev, p, result == NULL ? 1 : addr == NULL ? 2 : 3);
}

/* Drop the transaction (RSET, error, disconnect before commit). */
void
session_txn_reset(struct session *s)
{
	if (s->in_txn)
		queue_body_abort(&s->writer);
	s->in_txn = 0;
	s->milter_buffering = 0;
	session_milter_abort(s);
	s->rcpts.n = 0;
	s->sender[0] = '\0';
	s->body_size = 0;
	s->mail_body = 0;
	s->mail_smtputf8 = 0;
	s->mail_dsn_ret = 0;
	s->mail_dsn_envid[0] = '\0';
	s->junk_txn = 0;
	session_dataline_free(s);
	free(s->masq);
	s->masq = NULL;
}

/* The message's octets: into the queue, or to memory for the milters. */
static int
session_store(struct session *s, const char *data, size_t len)
{
	if (s->milter_buffering)
		return session_milter_buffer(s, data, len);
	return queue_body_append(&s->writer, data, len) < 0 ? -1 : 0;
}

/* The masquerade rewrite's output: into the message being queued. */
static int
session_masq_emit(void *arg, const char *data, size_t len)
{
	return session_store(arg, data, len);
}

/* The message's octets into the queue: through the From: rewrite of
 * `senders <t> masquerade` for an authenticated session. 0 or -1. */
int
session_body_append(struct session *s, const char *data, size_t len)
{
	if (s->masq != NULL)
		return proto_masq_feed(s->masq, data, len, session_masq_emit, s);
	return session_store(s, data, len);
}

static void
session_on_mail(struct session *s, const struct proto_event *ev)
{
	const struct rules_config *c = s->config;
	if (s->tls == NULL && s->listener < c->nlisteners &&
	    c->listeners[s->listener].tls == RULES_TLS_REQUIRE) {
		/* RFC 3207 4: tls-require */
		proto_server_answer(&s->proto, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if (session_auth_mail_refused(s, ev->addr))
		return;
	session_txn_reset(s);
	if (session_filter_addr(s, RULES_PHASE_MAIL_FROM, ev->addr, s->sender, sizeof s->sender))
		return;
	session_tx_report(s, PROTO_FEV_TX_BEGIN, NULL, NULL);
	session_tx_report(s, PROTO_FEV_TX_MAIL, "ok", s->sender);
	s->mail_body = (uint8_t)ev->body;
	s->mail_smtputf8 = ev->smtputf8 != 0;
	s->mail_dsn_ret = (uint8_t)ev->dsn_ret;
	snprintf(s->mail_dsn_envid, sizeof s->mail_dsn_envid, "%s", ev->envid ? ev->envid : "");
	s->rules_mail_ok = 0;
	if (session_milter_mail(s))
		return;   /* the milters answer */
	proto_server_answer(&s->proto, 250, "2.0.0", "Ok");
}

/* What the session knows, for the decision table. */
static void
session_rules_query(const struct session *s, const struct rules_config *c, struct rules_query *q)
{
	memset(q, 0, sizeof *q);
	q->local = s->local;
	q->src = (const struct sockaddr *)&s->peer;
	/* after a reload the listener table may have another shape */
	q->listener_tag = s->listener < c->nlisteners ? c->listeners[s->listener].tag : "";
	q->helo = s->helo;
	q->tls = s->tls != NULL && !s->tls_handshaking;
	q->auth_user = s->auth_user[0] ? s->auth_user : NULL;
	q->rdns_state = s->rdns_state;   /* looked up at connect when a rule needs it */
	q->rdns = s->rdns;
	session_geoip_query(s, &q->country, &q->asn);
	q->mail_from = s->sender;
}

/* The candidate set for this transaction's recipients under the config
 * the session started with: the session's criteria evaluated again only
 * when its facts changed, the sender's once per MAIL. NULL when out of
 * memory. */
static const uint64_t *
session_rules_set(struct session *s, const struct rules_config *c)
{
	size_t words = rules_candidates_words(c);
	struct rules_query q;

	if (s->rules_sets == NULL &&
	    (s->rules_sets = malloc(2 * words * sizeof *s->rules_sets)) == NULL)
		return NULL;
	if (!s->rules_session_ok) {
		session_rules_query(s, c, &q);
		rules_session_candidates(c, &q, s->rules_sets);
		s->rules_session_ok = 1;
		s->rules_mail_ok = 0;
	}
	if (!s->rules_mail_ok) {
		rules_mail_candidates(c, s->rules_sets, s->sender, s->rules_sets + words);
		s->rules_mail_ok = 1;
	}
	return s->rules_sets + words;
}

/* Answer a recipient the rules do not accept, with the reply the rule
 * tester prints for it (rules_refusal()). */
static void
session_rcpt_refuse(struct session *s, const struct rules_config *c, enum rules_verdict v,
                    const char *rcpt, unsigned line)
{
	struct rules_reply r;

	rules_refusal(v, rcpt, &r);
	if (v != RULES_TEMPFAIL)
		log_info("%016llx smtp failed-command command=\"RCPT TO:<%s>\" "
		         "result=\"550 %s\" (%s line %u)", (unsigned long long)s->id, rcpt,
		         v == RULES_REJECT ? "reject" : "no match", c->file, line);
	proto_server_answer(&s->proto, (int)r.code, r.status, r.text);
}

/* A recipient of this session, as RCPT TO gave it. */
static enum rules_verdict
session_match_given(struct session *s, const char *rcpt, const struct rules_action **action,
                    unsigned *line)
{
	const struct rules_config *c = s->config;
	const uint64_t *set = session_rules_set(s, c);
	struct rules_query q;

	if (set != NULL)
		return rules_match_rcpt(c, set, rcpt, action, line);
	session_rules_query(s, c, &q);
	q.rcpt = rcpt;
	return rules_match(c, &q, action, line);
}

/* An address met in an alias, virtual or ~/.forward expansion, or decoded
 * from an SRS address: decided as OpenSMTPD decides its internal envelopes
 * (EF_INTERNAL), as from a local client (from local, as sendmail's), with
 * the rest of what the session knows; so mail from anywhere to a
 * forwarding address goes out by `match from local for any` rules. */
static enum rules_verdict
session_match_internal(void *arg, const char *rcpt, const struct rules_action **action,
                       unsigned *line)
{
	struct session *s = arg;
	struct rules_query q;

	session_rules_query(s, s->config, &q);
	q.local = 1;
	q.src = NULL;
	q.country = q.asn = "";   /* a local client has none */
	q.rcpt = rcpt;
	return rules_match(s->config, &q, action, line);
}

/* Ask the decision table about one recipient, then what it expands to. */
static void
session_on_rcpt(struct session *s, const struct proto_event *ev)
{
	const struct rules_config *c = s->config;
	const struct rules_action *action = NULL;
	unsigned line = 0;
	char addr[QUEUE_ADDR_BYTES_MAX], dec[QUEUE_ADDR_BYTES_MAX];

	if (session_filter_addr(s, RULES_PHASE_RCPT_TO, ev->addr, addr, sizeof addr))
		return;
	int srs = srs_rcpt_decode_logged(s->config, "smtp", s->id, s->sender, addr, dec,
	                                 sizeof dec);
	const char *to = srs ? dec : addr;   /* what is matched and expanded */
	enum rules_verdict v = srs ? session_match_internal(s, to, &action, &line)
	                           : session_match_given(s, addr, &action, &line);
	TRACE(CTL_TRACE_RULES, "trace rules: %016llx rcpt=<%s> from=<%s> %s by %s line %u "
	      "action=%s", (unsigned long long)s->id, to, s->sender,
	      v == RULES_ACCEPT ? "accepted" : v == RULES_TEMPFAIL ? "tempfail" :
	      v == RULES_REJECT ? "rejected" : "no match", c->file, line,
	      action != NULL ? action->name : "-");

	if (v != RULES_ACCEPT) {
		metrics_add(&s->shard->metrics, METRICS_RCPT_REFUSED, 1);
		session_tx_report(s, PROTO_FEV_TX_RCPT, v == RULES_TEMPFAIL ? "tempfail" : "permfail",
		                  addr);
		session_rcpt_refuse(s, c, v, addr, line);
		return;
	}
	struct rcpt_matcher m = { .match = session_match_internal, .arg = s };
	struct rules_alias_result res;
	unsigned before = s->rcpts.n;
	int added = rcpt_expand(s->shard->daemon, c, to, action, &m, (uint8_t)ev->notify,
	                        ev->orcpt, &s->rcpts, &res);
	if (added < 0) {
		log_info("%016llx smtp failed-command command=\"RCPT TO:<%s>\" "
		         "result=\"%u %s %s\" (%s)", (unsigned long long)s->id, addr, res.code,
		         res.status, res.text, res.why);
		metrics_add(&s->shard->metrics, METRICS_RCPT_REFUSED, 1);
		proto_server_answer(&s->proto, (int)res.code, res.status, res.text);
		return;
	}
	for (unsigned i = before; srs && i < s->rcpts.n; i++)   /* the recipient as given */
		snprintf(s->rcpts.v[i].addr, sizeof s->rcpts.v[i].addr, "%s", addr);
	for (unsigned i = before; i < s->rcpts.n; i++)
		log_debug("%016llx smtp rcpt to=<%s> matched line %u dest=<%s> action=%s%s%s",
		          (unsigned long long)s->id, addr, line, s->rcpts.v[i].dest,
		          s->rcpts.v[i].action, s->rcpts.v[i].mda_exec[0] ? " exec=" : "",
		          s->rcpts.v[i].mda_exec);
	metrics_add(&s->shard->metrics, METRICS_RCPT_ACCEPTED, 1);
	session_tx_report(s, PROTO_FEV_TX_RCPT, "ok", addr);
	if (session_milter_rcpt(s, addr, before))
		return;   /* the milters answer */
	proto_server_answer(&s->proto, 250, "2.1.5", "Destination address valid: Recipient ok");
}

/* See session_int.h: a recipient a milter added. */
int
session_rcpt_add(struct session *s, const char *addr)
{
	const struct rules_action *action = NULL;
	struct rcpt_matcher m = { .match = session_match_internal, .arg = s };
	struct rules_alias_result res;
	unsigned line = 0;

	if (session_match_given(s, addr, &action, &line) != RULES_ACCEPT)
		return -1;
	return rcpt_expand(s->shard->daemon, s->config, addr, action, &m, 0, NULL, &s->rcpts,
	                   &res) < 0 ? -1 : 0;
}

/* The name this session's listener goes by (`listen on ... hostname`),
 * else the machine's: in the banner, the EHLO reply and Received:. */
static const char *
session_hostname(const struct session *s)
{
	const struct rules_config *c = s->config;
	if (s->listener < c->nlisteners && c->listeners[s->listener].hostname[0])
		return c->listeners[s->listener].hostname;
	return s->shard->daemon->hostname;
}

/* DATA: open the body in the queue and write our Received: header. */
static void
session_on_data(struct session *s)
{
	struct shard *sh = s->shard;
	if (session_filter(s, RULES_PHASE_DATA, NULL))
		return;
	if (queue_body_begin(sh->daemon->queue, &s->writer) < 0) {
		proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	s->in_txn = 1;
	if (session_dataline_begin(s)) {
		session_txn_reset(s);
		return;
	}
	proto_hops_begin(&s->hops);
	const struct rules_listener *ml = s->listener < s->config->nlisteners
	                                  ? &s->config->listeners[s->listener] : NULL;
	if (ml != NULL && ml->senders_masquerade && s->auth_user[0] && s->sender[0] &&
	    (s->masq = malloc(sizeof *s->masq)) != NULL)   /* without memory: no rewrite */
		proto_masq_begin(s->masq, s->sender);
	char date[64], hdr[1024];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
	char tls[160] = "", from[PROTO_HOSTNAME_BYTES_MAX + 200] = "", user[300] = "", geo[40];
	const struct rules_listener *l = s->listener < s->config->nlisteners ?
	                                 &s->config->listeners[s->listener] : NULL;
	if (s->tls != NULL)
		snprintf(tls, sizeof tls, " (%s:%s)", s->tls_desc,   /* OpenSMTPD's form */
		         s->tls_cert_verified ? "YES" : "NO");
	if (l == NULL || !l->mask_src)   /* mask-src: nothing of the client */
		snprintf(from, sizeof from, "from %s (%s [%s]%s)\r\n\t",
		         s->helo[0] ? s->helo : "unknown", s->peer_text, s->peer_text,
		         session_geoip_received(s, geo, sizeof geo));
	if (l != NULL && l->received_auth && s->auth_user[0])
		snprintf(user, sizeof user, " auth=yes user=%s", s->auth_user);
	int n = snprintf(hdr, sizeof hdr,
	                 "Received: %sby %s (ringmta) with %s%s%s id %08x%s%s\r\n",
	                 from, session_hostname(s),
	                 /* RFC 3848 and RFC 6531 4.3 protocol types */
	                 s->mail_smtputf8 ? "UTF8SMTP" : s->proto.esmtp ? "ESMTP" : "SMTP",
	                 s->tls != NULL ? "S" : "", s->auth_user[0] ? "A" : "", s->writer.msgid,
	                 tls, user);
	if (s->rcpts.n == 1)
		n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\tfor <%s>;\r\n\t%s\r\n",
		              s->rcpts.v[0].addr, date);
	else
		n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\t%s\r\n", date);
	if (s->junk_session || s->junk_txn)   /* a filter's junk: maildir junk files it */
		n += snprintf(hdr + n, sizeof hdr - (size_t)n, "X-Spam: yes\r\n");
	session_milter_buffer_begin(s);   /* with milters the message stays in memory */
	if (n < (int)sizeof hdr && s->dl != NULL)   /* through the data-line filters */
		session_dataline_write(s, hdr, (size_t)n);
	else if (n >= (int)sizeof hdr || session_store(s, hdr, (size_t)n) < 0) {
		session_txn_reset(s);
		proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	session_tx_report(s, PROTO_FEV_TX_DATA, "ok", NULL);
	if (session_milter_data(s))
		return;   /* the milters answer */
	proto_server_answer(&s->proto, 354, NULL, "Enter mail, end with \".\" on a line by itself");
}

static void session_sync_done(struct queue_sync_req *req, int err);
static void session_commit_handle(struct shard *sh, struct shard_msg *msg);

/* End of data: commit envelopes and body, then wait for the syncer. */
static void
session_on_body_end(struct session *s, const struct proto_event *ev)
{
	struct shard *sh = s->shard;
	if (s->masq != NULL && proto_masq_end(s->masq, session_masq_emit, s) < 0) {
		session_txn_reset(s);
		proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	time_t now = time(NULL);
	s->envs = calloc(s->rcpts.n, sizeof *s->envs);
	if (s->envs == NULL) {
		session_txn_reset(s);
		proto_server_answer(&s->proto, 451, "4.3.1", "Insufficient system resources");
		return;
	}
	s->nenvs = s->rcpts.n;
	s->body_size = s->writer.size;
	s->body_end_us = metrics_now_us();
	for (unsigned i = 0; i < s->rcpts.n; i++) {
		struct queue_envelope *e = &s->envs[i];
		const struct rcpt_delivery *r = &s->rcpts.v[i];
		queue_envelope_fill(sh->daemon->queue, e, s->writer.msgid, s->sender,
		                    r->addr, r->action, s->helo, s->peer_text,
		                    s->body_size, (uint64_t)now, r->ttl_s);
		rcpt_delivery_apply(r, e);
		e->body = s->mail_body;
		e->smtputf8 = s->mail_smtputf8;
		e->dsn_ret = s->mail_dsn_ret;
		memcpy(e->dsn_envid, s->mail_dsn_envid, sizeof e->dsn_envid);
	}
	session_milter_envelopes(s);   /* a milter's quarantine: held */
	uint64_t seq = 0;
	int ret = queue_commit(&s->writer, s->envs, s->nenvs, &seq);
	if (ret < 0) {
		log_warn("%016llx smtp queue commit: %s", (unsigned long long)s->id,
		         queue_strerror(sh->daemon->queue));
		free(s->envs);
		s->envs = NULL;
		session_txn_reset(s);   /* aborts the writer: buffer and chunks go */
		proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	s->in_txn = 0;
	s->committing = 1;
	s->inflight++;
	s->sync.seq = seq;
	s->sync.done = session_sync_done;
	s->sync_msg.handle = session_commit_handle;
	queue_sync_submit(sh->daemon->queue, &s->sync);
}

/* On the syncer's thread: hand the result back to the session's shard. */
static void
session_sync_done(struct queue_sync_req *req, int err)
{
	struct session *s = container_of(req, struct session, sync);
	s->sync_err = err;
	shard_post(s->shard, &s->sync_msg);
}

/* On the shard: the commit is durable (or failed). Reply, deliver, go on. */
static void
session_commit_handle(struct shard *sh, struct shard_msg *msg)
{
	struct session *s = container_of(msg, struct session, sync_msg);
	s->inflight--;
	s->committing = 0;
	uint32_t msgid = (uint32_t)(s->envs[0].id >> 32);
	if (s->sync_err == 0) {
		log_info("%016llx smtp message msgid=%08x size=%llu nrcpt=%u proto=%s",
		         (unsigned long long)s->id, msgid, (unsigned long long)s->body_size,
		         s->nenvs, s->proto.esmtp ? "ESMTP" : "SMTP");
		for (unsigned i = 0; i < s->nenvs; i++) {
			char evpid[24];
			log_info("%016llx smtp envelope evpid=%016llx from=<%s> to=<%s>",
			         (unsigned long long)s->id, (unsigned long long)s->envs[i].id,
			         s->envs[i].sender, s->envs[i].rcpt);
			snprintf(evpid, sizeof evpid, "%016llx", (unsigned long long)s->envs[i].id);
			session_tx_report(s, PROTO_FEV_TX_ENVELOPE, evpid, NULL);
		}
		if (!session_milter_held(s))
			delivery_submit(sh, s->envs, s->nenvs);
	} else {
		log_warn("%016llx smtp queue sync: %s", (unsigned long long)s->id, strerror(-s->sync_err));
	}
	free(s->envs);
	s->envs = NULL;
	session_txn_reset(s);
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	char text[64];
	if (s->sync_err == 0) {
		uint64_t now_us = metrics_now_us();
		metrics_add(&sh->metrics, METRICS_MESSAGES_ACCEPTED, 1);
		metrics_add(&sh->metrics, METRICS_ENVELOPES_QUEUED, s->nenvs);
		metrics_add(&sh->metrics, METRICS_MESSAGE_BYTES, s->body_size);
		metrics_observe(&sh->metrics, METRICS_ACCEPT_TO_250,
		                now_us > s->body_end_us ? now_us - s->body_end_us : 0);
		snprintf(text, sizeof text, "%08x Message accepted for delivery", msgid);
		char size[24];
		snprintf(size, sizeof size, "%llu", (unsigned long long)s->body_size);
		session_tx_report(s, PROTO_FEV_TX_COMMIT, size, NULL);
		session_tx_report(s, PROTO_FEV_TX_RESET, NULL, NULL);   /* as OpenSMTPD after a commit */
		proto_server_answer(&s->proto, 250, "2.0.0", text);
	} else {
		session_tx_report(s, PROTO_FEV_TX_ROLLBACK, NULL, NULL);
		proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
	}
	if (sh->stopping) {
		/* the transaction that was open at shutdown is done: say goodbye */
		s->reason = "shutdown";
		proto_server_shutdown(&s->proto);
	}
	session_pump(s);
}

/* One event that asks a question or carries data (not the machine's
 * NEED_MORE, FLUSH, WAIT, QUIT or CLOSE). A filter process may leave it
 * unanswered; session_redispatch() runs it again with its answer. */
static void
session_event(struct session *s, const struct proto_event *ev)
{
	int r;

	switch (ev->kind) {
	case PROTO_EV_HELO: {
		const char *name = session_filter_helo(s, ev);
		session_txn_reset(s);
		if (name == NULL)
			break;   /* a filter refused it, or asks a process */
		snprintf(s->helo, sizeof s->helo, "%s", name);
		s->rules_session_ok = 0;   /* match helo answers for the new name */
		const char *id[] = { ev->esmtp ? "EHLO" : "HELO", name };
		session_proc_report(s, PROTO_FEV_LINK_IDENTIFY, id, 2);
		break;
	}
	case PROTO_EV_MAIL:
		session_on_mail(s, ev);
		break;
	case PROTO_EV_RCPT:
		session_on_rcpt(s, ev);
		break;
	case PROTO_EV_DATA:
		session_on_data(s);
		break;
	case PROTO_EV_BODY:
		if (s->in_txn)
			proto_hops_feed(&s->hops, ev->data, ev->len);
		if (s->in_txn && s->dl != NULL)
			session_dataline_write(s, ev->data, ev->len);
		else if (s->in_txn && session_body_append(s, ev->data, ev->len) < 0) {
			log_warn("%016llx smtp queue write: %s", (unsigned long long)s->id,
			         queue_strerror(s->shard->daemon->queue));
			queue_body_abort(&s->writer);
			s->in_txn = 0;
		}
		break;
	case PROTO_EV_BODY_END:
		if (!s->in_txn) {
			session_txn_reset(s);
			proto_server_answer(&s->proto, 452, "4.3.1", "Insufficient system storage");
			break;
		}
		if (s->hops.count >= PROTO_HOPS_MAX) {   /* OpenSMTPD's words */
			log_info("%016llx smtp message refused: %u Received: header fields, "
			         "a mail loop", (unsigned long long)s->id, s->hops.count);
			session_txn_reset(s);
			metrics_add(&s->shard->metrics, METRICS_LOOPS, 1);
			proto_server_answer(&s->proto, 554, "5.4.6",
			                    "Routing loop detected: Loop detected");
			break;
		}
		if (session_dataline_end(s))
			break;   /* answered, or waits for the filters' last "." */
		r = session_filter(s, RULES_PHASE_COMMIT, NULL);
		if (r == 1)
			session_txn_reset(s);
		if (r != 0)
			break;
		if (session_milter_eom(s))
			break;   /* the milters answer (session_body_end_resume()) */
		session_on_body_end(s, ev);
		break;
	case PROTO_EV_TXN_RESET:
		session_txn_reset(s);
		break;
	case PROTO_EV_STARTTLS:
		if (s->tls == NULL && session_tls_available(s)) {
			proto_server_answer(&s->proto, 220, "2.0.0", "Ready to start TLS");
			s->starttls_pending = 1;
		} else {
			proto_server_answer(&s->proto, 454, "4.7.0", "TLS not available");
		}
		break;
	case PROTO_EV_AUTH:
		session_auth_begin(s, ev);
		break;
	case PROTO_EV_AUTH_DATA:
		session_auth_data(s, ev);
		break;
	default:
		break;
	}
}

/* See session_int.h: the milters are done with the message. */
void
session_body_end_resume(struct session *s)
{
	session_on_body_end(s, NULL);
	session_pump(s);
}

/* See session_int.h: the event a filter process answered, run again. */
void
session_redispatch(struct session *s)
{
	struct proto_event ev = s->proc_ev;

	session_event(s, &ev);
	session_pump(s);
}

/* Pull events from the machine until it needs input or waits. */
void
session_pump(struct session *s)
{
	if (s->filter_waiting)
		return;   /* the greeting waits for DNS or a filter (core/session_filter.c) */
	for (;;) {
		struct proto_event ev;
		switch (proto_server_next(&s->proto, &ev)) {
		case PROTO_EV_NEED_MORE:
			session_buffer_return(s);
			if (s->tls != NULL && session_tls_drained(s))
				break;   /* more decrypted input was fed */
			session_flush(s);
			session_recv_arm(s);
			return;
		case PROTO_EV_FLUSH:
		case PROTO_EV_WAIT:
			session_flush(s);
			return;
		case PROTO_EV_QUIT:
		case PROTO_EV_CLOSE:
			session_buffer_return(s);
			s->close_after_send = 1;
			if (s->reason == NULL)
				s->reason = ev.kind == PROTO_EV_QUIT ? "quit" : "protocol error";
			if (s->proto.out_len == 0)
				session_close(s, s->reason);
			else
				session_flush(s);
			return;
		default:
			s->proc_ev = ev;   /* kept for a filter process's answer */
			session_event(s, &ev);
			if (s->filter_waiting) {   /* a data-line filter reads behind */
				session_flush(s);      /* the 354 and earlier replies go */
				return;
			}
			break;
		}
	}
}

/* Start closing: no new operations; the socket's pending receive ends. */
void
session_close(struct session *s, const char *reason)
{
	if (s->reason == NULL)
		s->reason = reason;
	if (!s->closing) {
		s->closing = 1;
		if (s->fd >= 0)
			shutdown(s->fd, SHUT_RDWR);
		session_milter_close(s);
	}
	session_buffer_return(s);
	if (s->inflight == 0 && !s->dead) {
		s->dead = 1;
		list_del(&s->node);
		list_add_tail(&s->shard->sessions_dead, &s->node);
	}
}

/* Say one line to a client that gets no SMTP session, without waiting. */
void
session_say_refusal(int fd, const char *reply)
{
	if (send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("smtp refused connection: %s", strerror(errno));
}

/* Answer a connection that gets no session with one line, and close it. */
static void
session_refuse(int fd, const char *reply)
{
	session_say_refusal(fd, reply);
	close(fd);
}

/* Is the client on this machine (127.0.0.0/8 or ::1)? */
int
session_peer_is_local(const struct sockaddr_storage *peer)
{
	return (peer->ss_family == AF_INET &&
	        (ntohl(((const struct sockaddr_in *)peer)->sin_addr.s_addr) >> 24) == 127) ||
	       (peer->ss_family == AF_INET6 &&
	        IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)peer)->sin6_addr));
}

/* A client with `smtp limit max-sessions-per-source` sessions open gets
 * 421 4.7.0 (clients on this machine are not counted, as Postfix exempts
 * mynetworks). Returns 1 when counted, 0 when not counted, -1 refused. */
int
session_count_source(struct shard *sh, const struct sockaddr_storage *peer,
                     const char *peer_text)
{
	if (session_peer_is_local(peer))
		return 0;
	unsigned max = sh->config->sessions_per_source;
	if (source_limit_enter(sh->daemon->sources, peer, max) < max)
		return 1;
	log_info("smtp refused connection address=%s reason=\"%u sessions from this "
	         "address already (smtp limit max-sessions-per-source)\"", peer_text, max);
	return -1;
}

/* This shard's share of `smtp limit max-sessions` (rounded up), at most
 * SHARD_SESSIONS_MAX. */
static unsigned
session_shard_cap(const struct shard *sh)
{
	unsigned max = sh->config->sessions_max, n = sh->daemon->nshards;
	if (max == 0)
		return SHARD_SESSIONS_MAX;
	unsigned share = max / n + (max % n != 0);
	return share < SHARD_SESSIONS_MAX ? share : SHARD_SESSIONS_MAX;
}

void
session_accept(struct shard *sh, int fd, unsigned li)
{
	struct sockaddr_storage peer;
	char peer_text[sizeof ((struct session *)NULL)->peer_text];
	socklen_t len = sizeof peer;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		peer.ss_family = AF_UNSPEC;
	listener_addr_text((const struct sockaddr *)&peer, peer_text, sizeof peer_text);
	/* behind a proxy the client's address is counted once its header came */
	int proxied = sh->config->listeners[li].proxy_v2;
	int counted = proxied ? 0 : session_count_source(sh, &peer, peer_text);
	if (counted < 0) {
		session_refuse(fd, SESSION_REPLY_SOURCE_LIMIT);
		return;
	}
	struct session *s;
	unsigned cap = session_shard_cap(sh);
	if (sh->nsessions >= cap || (s = calloc(1, sizeof *s)) == NULL) {
		if (counted)
			source_limit_leave(sh->daemon->sources, &peer);
		log_info("smtp refused connection address=%s reason=\"%u sessions on this shard "
		         "already (smtp limit max-sessions)\"", peer_text, cap);
		session_refuse(fd, "421 4.7.0 Too many connections, try again later\r\n");
		return;
	}
	s->peer = peer;
	memcpy(s->peer_text, peer_text, sizeof peer_text);
	s->source_counted = counted;
	s->shard = sh;
	s->config = rules_hold(sh->config);   /* the session finishes under it */
	s->fd = fd;
	s->listener = li;
	s->id = daemon_id_new(sh->daemon);
	s->recv_op.complete = session_recv_complete;
	s->send_op.complete = session_send_complete;
	s->last_active_ms = sh->now_ms;
	/* TCP_NODELAY comes from the listening socket (core/listener.c) */
	s->local = session_peer_is_local(&s->peer);
	list_add_tail(&sh->sessions, &s->node);
	sh->nsessions++;
	metrics_add(&sh->metrics, s->peer.ss_family == AF_INET6 &&
	            !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&s->peer)->sin6_addr)
	            ? METRICS_SESSIONS_INET6 : METRICS_SESSIONS_INET4, 1);
	metrics_gauge_add(&sh->metrics, METRICS_SESSIONS_OPEN, 1);
	const struct rules_config *c = s->config;
	const char *host = session_hostname(s);
	struct proto_server_params p = {
		.hostname = host,
		.size_max = c->size_max,
		.rcpt_count_max = c->rcpt_max,
		.mails_max = c->mails_max,
		.errors_max = SESSION_ERRORS_MAX,
		.ext = PROTO_SERVER_EXT_DEFAULT | PROTO_EXT_SMTPUTF8 | PROTO_EXT_CHUNKING |
		       PROTO_EXT_BINARYMIME |
		       (c->listeners[li].no_dsn ? 0 : PROTO_EXT_DSN) |
		       (c->listeners[li].tls == RULES_TLS_STARTTLS ||
		        c->listeners[li].tls == RULES_TLS_REQUIRE ? PROTO_EXT_STARTTLS : 0),
		.tls = c->listeners[li].tls == RULES_TLS_SMTPS,
		.auth_mechs = session_auth_mechs(c, li),   /* under TLS, or plain on loopback */
		.auth_plaintext = c->listeners[li].tls == RULES_TLS_NONE,   /* the config allows
		                                     * auth without tls on loopback only */
		.bare_newline = c->bare_newline_normalize ? PROTO_BARE_NORMALIZE : PROTO_BARE_REJECT,
		.ask_helo = c->listeners[li].nfilters > 0 ||   /* filters may refuse HELO */
		            c->listeners[li].nprocs > 0,
		.observe = c->listeners[li].nprocs > 0 ? session_proc_observe : NULL,
		.observe_arg = s,   /* protocol-client/server reports */
	};
	proto_server_init(&s->proto, &p);
	session_milter_begin(s);
	if (proxied) {
		session_proxy_begin(s);   /* the greeting, or the handshake, follows the header */
		return;
	}
	char geo[40];
	session_geoip_lookup(s);
	log_info("%016llx smtp connected address=%s host=%s%s", (unsigned long long)s->id,
	         s->peer_text, s->peer_text, session_geoip_log(s, geo, sizeof geo));
	if (c->listeners[li].tls == RULES_TLS_SMTPS) {
		/* implicit TLS (RFC 8314): the greeting comes after the handshake */
		if (session_tls_start(s, 0) < 0)
			session_close(s, "tls setup failed");
		return;
	}
	session_greet(s);
	session_pump(s);
}

/* Sessions whose receive found no free buffer try again. */
static void
session_rearm_starved(struct shard *sh)
{
	struct list_head *pos, *tmp;
	sh->bufs_returned = 0;
	list_for_each_safe(pos, tmp, &sh->sessions_starved) {
		struct session *s = container_of(pos, struct session, node);
		list_del(&s->node);
		list_add_tail(&sh->sessions, &s->node);
		session_recv_arm(s);
	}
}

void
session_tick(struct shard *sh)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->sessions) {
		struct session *s = container_of(pos, struct session, node);
		session_milter_tick(s);   /* a milter's timeout may answer, or close */
		if (s->closing || s->committing)
			continue;
		if (s->proxy != NULL) {
			session_proxy_tick(s);
			continue;
		}
		if (sh->now_ms - s->last_active_ms <= (uint64_t)s->config->idle_timeout_s * 1000)
			continue;
		s->reason = "timeout";
		if (s->timed_out || s->sending) {
			/* the peer does not even read: no goodbye */
			session_close(s, "timeout");
			continue;
		}
		s->timed_out = 1;
		s->last_active_ms = sh->now_ms;
		session_proc_report(s, PROTO_FEV_TIMEOUT, NULL, 0);
		proto_server_timeout(&s->proto);
		session_pump(s);
	}
	session_rearm_starved(sh);
}

void
session_shutdown_all(struct shard *sh)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->sessions) {
		struct session *s = container_of(pos, struct session, node);
		if (s->closing || s->committing || s->in_txn)
			continue;   /* a transaction in flight may still finish */
		if (s->proxy != NULL) {   /* not greeted yet: nothing to say */
			session_close(s, "shutdown");
			continue;
		}
		s->reason = "shutdown";
		proto_server_shutdown(&s->proto);
		session_pump(s);
	}
}

void
session_end_of_turn(struct shard *sh)
{
	while (!list_empty(&sh->sessions_dead)) {
		struct session *s = container_of(sh->sessions_dead.next, struct session, node);
		list_del(&s->node);
		session_txn_reset(s);
		log_info("%016llx smtp disconnected reason=%s", (unsigned long long)s->id,
		         s->reason ? s->reason : "disconnect");
		session_proc_report(s, PROTO_FEV_LINK_DISCONNECT, NULL, 0);
		session_tls_free(s);
		session_proxy_free(s);
		session_milter_free(s);
		if (s->fd >= 0)
			close(s->fd);
		rcpt_list_free(&s->rcpts);
		free(s->masq);
		proto_sasl_wipe(&s->sasl);
		explicit_bzero(s->auth.pass, sizeof s->auth.pass);
		free(s->rules_sets);
		rules_release(s->config);
		if (s->source_counted)
			source_limit_leave(sh->daemon->sources, &s->peer);
		free(s);
		sh->nsessions--;
		metrics_gauge_add(&sh->metrics, METRICS_SESSIONS_OPEN, -1);
	}
	/* buffers came back this turn: starved sessions may receive again */
	if (sh->bufs_returned > 0)
		session_rearm_starved(sh);
}
