/*
 * core/session_milter.c - a session and the milters of its listener
 * (rules/milter.h), one connection per milter per session
 * (core/milter_conn.c), driven on the session's shard ring.
 *
 * The connections are opened when the client connects: negotiation and
 * the connect step run before the 220 banner (the session reads nothing
 * meanwhile). At MAIL, RCPT and DATA the session has decided to accept
 * and asks its milters before the positive answer: the protocol machine's
 * question stays unanswered while they think (the ring serves the other
 * sessions), and the answer (or the milter's refusal) is given when the
 * last one replied. The first MAIL sends the helo step first (with the
 * name of the latest HELO/EHLO). A refusal at connect or helo refuses
 * that MAIL and every later one of the session (as Postfix answers each
 * command after one).
 * With milters the message is kept in memory (sm->msg, at most the
 * listener's size limit plus our header) instead of being streamed into
 * the queue; at end of data each milter is given the headers, the body and
 * end of message in turn, its header and body edits are applied to the
 * message in memory before the next milter sees it, recipients are added
 * (through the rules, as an RCPT would be) or removed, and only then is
 * the message written to the queue and committed (core/session.c,
 * session_body_end_resume()). Discard answers 250 and keeps nothing;
 * quarantine commits the envelopes paused (smtpctl resume envelope
 * releases them). A milter that cannot be reached, breaks the protocol or
 * does not answer within its timeout gets its `default`: accept (it is
 * left out for the rest of the session), tempfail (451 4.7.1) or reject
 * (550 5.7.1) for this and every later command that would ask it.
 *
 * This file drives the conversation; core/session_milter_send.c builds
 * each step's packets, core/session_milter_edit.c keeps the message and
 * applies the changes (core/session_milter_int.h holds what they share).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/session_milter_int.h"
#include "rules/milter.h"

#define SM_TEMPFAIL_TEXT "4.7.1 Service unavailable - try again later"
#define SM_REJECT_TEXT "5.7.1 Command rejected"

static void sm_run(struct session_milter *sm);
static void sm_on_reply(struct milter_conn *c, const struct proto_milter_msg *r);
static void sm_on_idle(struct milter_conn *c);

static const char *
sm_phase_name(enum sm_step st)
{
	static const char *const names[] = {
		[SM_OPTNEG] = "connect", [SM_CONNECT] = "connect", [SM_HELO] = "helo",
		[SM_MAILCMD] = "mail-from", [SM_RCPTCMD] = "rcpt-to", [SM_DATACMD] = "data",
		[SM_HEADER] = "header", [SM_EOH] = "eoh", [SM_BODY] = "body", [SM_EOMCMD] = "eom",
		[SM_DONE] = "eom",
	};
	return names[st];
}

static const struct rules_listener *
sm_listener(const struct session *s)
{
	const struct rules_config *c = s->config;

	return s->listener < c->nlisteners ? &c->listeners[s->listener] : NULL;
}

/* See session_int.h. */
void
session_milter_begin(struct session *s)
{
	const struct rules_listener *l = sm_listener(s);
	struct session_milter *sm;

	if (l == NULL || l->nmilters == 0 || (sm = calloc(1, sizeof *sm)) == NULL)
		return;   /* without memory: refused at MAIL (session_milter_mail) */
	sm->s = s;
	sm->n = l->nmilters;
	for (unsigned i = 0; i < sm->n; i++) {
		sm->l[i].sm = sm;
		sm->l[i].m = &s->config->milters[l->milters[i]];
		sm->l[i].c.fd = -1;
		sm->l[i].c.m = sm->l[i].m;
		sm->l[i].c.on_reply = sm_on_reply;
		sm->l[i].c.on_idle = sm_on_idle;
	}
	s->milter = sm;
}

/* Log one decision of milter k. */
static void
sm_log(struct sm_link *k, const char *action, const char *result)
{
	struct session *s = k->sm->s;

	log_info("%016llx smtp milter=%s phase=%s action=%s%s%s%s", (unsigned long long)s->id,
	         k->m->name, sm_phase_name(k->step), action, result ? " result=\"" : "",
	         result ? result : "", result ? "\"" : "");
}

/* The protocol step of st (for proto_milter_sends/replies). */
static enum proto_milter_step
sm_proto_step(enum sm_step st)
{
	switch (st) {
	case SM_CONNECT: return PROTO_MILTER_STEP_CONNECT;
	case SM_HELO: return PROTO_MILTER_STEP_HELO;
	case SM_MAILCMD: return PROTO_MILTER_STEP_MAIL;
	case SM_RCPTCMD: return PROTO_MILTER_STEP_RCPT;
	case SM_DATACMD: return PROTO_MILTER_STEP_DATA;
	case SM_HEADER: return PROTO_MILTER_STEP_HEADER;
	case SM_EOH: return PROTO_MILTER_STEP_EOH;
	case SM_BODY: return PROTO_MILTER_STEP_BODY;
	default: return PROTO_MILTER_STEP_EOM;
	}
}

/* The step after st within the phase (SM_DONE at its end). */
static enum sm_step
sm_next_step(const struct sm_link *k, enum sm_step st)
{
	switch (st) {
	case SM_OPTNEG: return SM_CONNECT;
	case SM_CONNECT: return k->sm->phase == SM_CONN ? SM_DONE : SM_HELO;
	case SM_HELO: return SM_MAILCMD;
	case SM_HEADER: return SM_EOH;
	case SM_EOH: return SM_BODY;
	case SM_BODY: return SM_EOMCMD;
	default: return SM_DONE;
	}
}

/* The first step of the current phase for k. */
static enum sm_step
sm_first_step(const struct sm_link *k, enum sm_phase ph)
{
	switch (ph) {
	case SM_CONN: return !k->opened ? SM_OPTNEG : !k->connect_sent ? SM_CONNECT : SM_DONE;
	case SM_MAIL: return !k->opened ? SM_OPTNEG : !k->connect_sent ? SM_CONNECT :
	                     !k->helo_sent ? SM_HELO : SM_MAILCMD;
	case SM_RCPT: return SM_RCPTCMD;
	case SM_DATA: return SM_DATACMD;
	default: return SM_HEADER;
	}
}

/* Run k's current step: 1 when a reply is awaited, 0 when the step is
 * done (sent without a reply, or skipped), -1 when it failed. */
static int
sm_step_run(struct sm_link *k)
{
	enum proto_milter_step ps = sm_proto_step(k->step);
	int r;

	if (k->step == SM_OPTNEG) {
		k->c.sh = k->sm->s->shard;
		k->c.inflight = &k->sm->s->inflight;
		k->c.arg = k;
		k->opened = 1;
		return milter_conn_open(&k->c, PROTO_MILTER_ACTIONS_OFFERED,
		                        PROTO_MILTER_PROTOCOL_OFFERED) < 0 ? -1 : 1;
	}
	if (k->step == SM_CONNECT)
		k->connect_sent = 1;
	if (k->step == SM_HELO)
		k->helo_sent = 1;   /* the name of the latest HELO/EHLO before MAIL */
	if (k->step == SM_HELO && k->sm->s->helo[0] == '\0')
		return 0;
	if (k->step == SM_BODY && (k->protocol & PROTO_MILTER_P_NOBODY))
		return 0;
	if (!proto_milter_sends(k->protocol, ps))
		return 0;
	if ((r = session_milter_send(k)) <= 0)
		return r;   /* failed, or no header or body chunk left */
	milter_conn_send(&k->c);
	if (k->step == SM_EOMCMD || proto_milter_replies(k->protocol, ps)) {
		milter_conn_expect(&k->c);
		return 1;
	}
	return k->step == SM_HEADER || k->step == SM_BODY ? 2 : 0;   /* 2: the same step again */
}

/* The reply the client gets for a refusal: code and text. */
static void
sm_answer(struct session_milter *sm, unsigned code, const char *text)
{
	proto_server_answer(&sm->s->proto, (int)code, NULL, text);
}

/* Send ABORT to the milters that have a message open. */
static void
sm_abort_all(struct session_milter *sm)
{
	char pkt[8];
	int n = proto_milter_strings(pkt, sizeof pkt, PROTO_MILTER_ABORT, NULL, 0);

	for (unsigned i = 0; i < sm->n; i++) {
		struct sm_link *k = &sm->l[i];
		if (k->in_msg && !k->failed && !k->c.dead && !k->waiting &&
		    session_milter_put(k, pkt, n) == 0)
			milter_conn_send(&k->c);
		k->in_msg = 0;
		k->out_msg = 0;
	}
}

/* End of message: the changed message into the queue and the commit
 * (1), or the refusal, or a discard's 250 (0: answered). */
static int
sm_finish_eom(struct session_milter *sm, unsigned code, const char *text)
{
	struct session *s = sm->s;
	char ok[64];

	for (unsigned i = 0; i < sm->n; i++)
		sm->l[i].in_msg = sm->l[i].out_msg = 0;
	s->milter_buffering = 0;
	if (code == 0 && !sm->discard && s->rcpts.n > 0) {
		if (queue_body_append(&s->writer, sm->msg, sm->msg_len) < 0)
			code = 452, text = "4.3.1 Insufficient system storage";
		session_milter_release(sm);
		if (code == 0) {
			session_body_end_resume(s);
			return 1;
		}
	}
	if (code == 0) {   /* discarded, or every recipient removed */
		log_info("%016llx smtp milter message discarded msgid=%08x%s",
		         (unsigned long long)s->id, s->writer.msgid,
		         sm->discard ? "" : " (no recipients left)");
		snprintf(ok, sizeof ok, "2.0.0 %08x Message accepted for delivery", s->writer.msgid);
		code = 250, text = ok;
	}
	session_milter_release(sm);
	session_txn_reset(s);
	sm_answer(sm, code, text);
	return 0;
}

/* The phase ended with a refusal (code, text) or the positive answer
 * (code 0): answer the waiting command and carry on. */
static void
sm_finish(struct session_milter *sm, unsigned code, const char *text)
{
	struct session *s = sm->s;
	enum sm_phase ph = sm->phase;

	sm->phase = SM_IDLE;
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	switch (ph) {
	case SM_CONN:
		/* a refusal is the answer to every MAIL (refuse_code, or the
		 * failed milter's default): the client is greeted all the same */
		s->filter_waiting = 0;
		session_greet_resume(s);
		return;
	case SM_MAIL:
		if (code) {
			sm_abort_all(sm);
			s->sender[0] = '\0';
			sm_answer(sm, code, text);
		} else {
			proto_server_answer(&s->proto, 250, "2.0.0", "Ok");
		}
		break;
	case SM_RCPT:
		if (code) {
			s->rcpts.n = sm->rcpt_before;
			sm_answer(sm, code, text);
		} else {
			proto_server_answer(&s->proto, 250, "2.1.5",
			                    "Destination address valid: Recipient ok");
		}
		break;
	case SM_DATA:
		if (code) {
			sm_abort_all(sm);
			queue_body_abort(&s->writer);
			s->in_txn = 0;
			s->milter_buffering = 0;
			session_milter_release(sm);
			sm_answer(sm, code, text);
		} else {
			proto_server_answer(&s->proto, 354, NULL,
			                    "Enter mail, end with \".\" on a line by itself");
		}
		break;
	case SM_EOM:
		if (sm_finish_eom(sm, code, text))
			return;   /* committing: the 250 comes after the sync */
		break;
	default:
		return;
	}
	session_pump(s);
}

/* k failed (why): its default. 1 when the phase ends with a refusal. */
static int
sm_failed(struct sm_link *k, const char *why)
{
	struct session_milter *sm = k->sm;

	if (!k->failed) {
		log_warn("%016llx smtp milter=%s phase=%s: %s; default %s",
		         (unsigned long long)sm->s->id, k->m->name, sm_phase_name(k->step), why,
		         rules_milter_default_name(k->m->dflt));
		k->failed = 1;
		k->waiting = 0;
		milter_conn_close(&k->c);
	}
	if (k->m->dflt == RULES_MILTER_DEFAULT_ACCEPT)
		return 0;
	if (k->m->dflt == RULES_MILTER_DEFAULT_REJECT)
		sm_finish(sm, 550, SM_REJECT_TEXT);
	else
		sm_finish(sm, 451, SM_TEMPFAIL_TEXT);
	return 1;
}

/* Drive the current phase: each milter in turn, step by step, until one
 * awaits a reply or every one is done. */
static void
sm_run(struct session_milter *sm)
{
	int r;

	while (sm->cur < sm->n) {
		struct sm_link *k = &sm->l[sm->cur];
		if (k->refuse_code) {   /* refused at connect or helo: every MAIL */
			sm_finish(sm, k->refuse_code, k->refuse_text);
			return;
		}
		if (k->failed) {
			if (sm_failed(k, k->c.error ? k->c.error : "failed"))
				return;
			sm->cur++;
			continue;
		}
		if (k->out_session || (k->out_msg && sm->phase != SM_MAIL) || k->step == SM_DONE) {
			sm->cur++;
			if (sm->cur < sm->n)
				sm->l[sm->cur].step = sm_first_step(&sm->l[sm->cur], sm->phase);
			continue;
		}
		r = sm_step_run(k);
		if (r < 0) {
			if (sm_failed(k, k->c.error ? k->c.error : "cannot send"))
				return;
			continue;
		}
		if (r == 1) {
			k->waiting = 1;
			return;
		}
		if (r == 0)
			k->step = sm_next_step(k, k->step);
	}
	sm_finish(sm, 0, NULL);
}

/* Start a phase: every milter from its first step. */
static void
sm_start(struct session_milter *sm, enum sm_phase ph)
{
	sm->phase = ph;
	sm->cur = 0;
	for (unsigned i = 0; i < sm->n; i++) {
		sm->l[i].step = sm_first_step(&sm->l[i], ph);
		sm->l[i].hdr_pos = sm->l[i].body_pos = 0;
		sm->l[i].edits = 0;
		sm->l[i].replbody = 0;
	}
	sm_run(sm);
}

/* A refusal r (reject, tempfail, reply code) of k's step: answered at
 * this phase; at connect or helo, remembered for every MAIL. */
static void
sm_refused(struct sm_link *k, const struct proto_milter_msg *r)
{
	char text[300], res[320];
	unsigned code;

	if (r->cmd == PROTO_MILTER_R_REPLYCODE) {
		code = r->code;
		snprintf(text, sizeof text, "%.*s", (int)r->text_len,
		         r->text_len ? r->text : "Command rejected");
	} else {
		code = r->cmd == PROTO_MILTER_R_TEMPFAIL ? 451 : 550;
		snprintf(text, sizeof text, "%s",
		         code == 451 ? SM_TEMPFAIL_TEXT : SM_REJECT_TEXT);
	}
	snprintf(res, sizeof res, "%u %s", code, text);
	sm_log(k, r->cmd == PROTO_MILTER_R_TEMPFAIL ? "tempfail" : "reject", res);
	if (k->step == SM_CONNECT || k->step == SM_HELO) {
		k->refuse_code = code;   /* Postfix refuses every command then */
		snprintf(k->refuse_text, sizeof k->refuse_text, "%s", text);
		milter_conn_close(&k->c);   /* nothing more to ask it */
	}
	sm_finish(k->sm, code, text);
}

/* The verdict on the end of message (continue, accept, discard): its
 * changes are in; a replaced body goes into the message now. 0, or -1
 * when that failed (the milter's default then applies). */
static int
sm_eom_verdict(struct sm_link *k, const struct proto_milter_msg *r)
{
	struct session_milter *sm = k->sm;
	struct proto_milter_msg b = { .cmd = PROTO_MILTER_R_REPLBODY, .data = sm->newbody,
	                              .data_len = sm->newbody_len };

	log_info("%016llx smtp milter=%s phase=eom action=%s changes=%u",
	         (unsigned long long)sm->s->id, k->m->name,
	         r->cmd == PROTO_MILTER_R_DISCARD ? "discard" :
	         r->cmd == PROTO_MILTER_R_ACCEPT ? "accept" : "continue", k->edits);
	k->in_msg = 0;
	if (!k->replbody || r->cmd == PROTO_MILTER_R_DISCARD)
		return 0;
	if (session_milter_apply(sm, &b, 0) < 0)
		return sm_failed(k, "a replaced body that does not fit") ? -1 : 0;
	sm_log(k, "replbody", NULL);
	return 0;
}

/* A final reply r to k's step. */
static void
sm_final(struct sm_link *k, const struct proto_milter_msg *r)
{
	struct session_milter *sm = k->sm;

	if (r->cmd == PROTO_MILTER_R_REJECT || r->cmd == PROTO_MILTER_R_TEMPFAIL ||
	    r->cmd == PROTO_MILTER_R_REPLYCODE) {
		sm_refused(k, r);
		return;
	}
	if (r->cmd == PROTO_MILTER_R_SKIP && k->step == SM_BODY) {
		k->step = SM_EOMCMD;   /* no more body: end of message next */
		sm_run(sm);
		return;
	}
	if (k->step == SM_EOMCMD && sm_eom_verdict(k, r) < 0)
		return;
	if (r->cmd == PROTO_MILTER_R_ACCEPT) {
		if (k->step != SM_EOMCMD)
			sm_log(k, "accept", NULL);
		if (k->step == SM_CONNECT || k->step == SM_HELO)
			k->out_session = 1;
		else
			k->out_msg = 1;
		k->step = SM_DONE;
	} else if (r->cmd == PROTO_MILTER_R_DISCARD) {
		if (k->step != SM_EOMCMD)
			sm_log(k, "discard", NULL);
		sm->discard = 1;
		for (unsigned i = 0; i < sm->n; i++)
			sm->l[i].out_msg = 1;   /* the others need not see it */
		k->step = SM_DONE;
	}
	/* a header or body chunk answered: the step runs again for the next
	 * one, and moves on when none is left */
	if (k->step != SM_DONE && k->step != SM_HEADER && k->step != SM_BODY)
		k->step = sm_next_step(k, k->step);
	sm_run(sm);
}

/* Every reply of k's connection (r NULL: it failed). */
static void
sm_on_reply(struct milter_conn *c, const struct proto_milter_msg *r)
{
	struct sm_link *k = c->arg;
	struct session_milter *sm = k->sm;
	const char *why;

	if (r == NULL) {
		int was_waiting = k->waiting;
		k->waiting = 0;
		if (sm->phase != SM_IDLE && was_waiting) {
			if (!sm_failed(k, c->error))
				sm_run(sm);
		} else if (!k->failed) {
			log_warn("%016llx smtp milter=%s: %s", (unsigned long long)sm->s->id,
			         k->m->name, c->error);
			k->failed = 1;
		}
		return;
	}
	if (!k->waiting) {
		milter_conn_close(c);
		k->failed = 1;
		log_warn("%016llx smtp milter=%s: a reply nothing asked for ('%c')",
		         (unsigned long long)sm->s->id, k->m->name, r->cmd);
		return;
	}
	if (k->step == SM_OPTNEG) {
		k->waiting = 0;
		c->deadline_ms = 0;
		if (proto_milter_optneg_check(r, PROTO_MILTER_ACTIONS_OFFERED,
		                              PROTO_MILTER_PROTOCOL_OFFERED, &why) < 0) {
			if (!sm_failed(k, why))
				sm_run(sm);
			return;
		}
		k->actions = r->actions;
		k->protocol = r->protocol;
		k->step = SM_CONNECT;
		sm_run(sm);
		return;
	}
	if (!proto_milter_is_final(r->cmd)) {
		if (session_milter_edit(k, r) < 0) {
			k->waiting = 0;
			if (!sm_failed(k, "a change it did not negotiate, or out of memory"))
				sm_run(sm);
		}
		return;
	}
	k->waiting = 0;
	c->deadline_ms = 0;
	sm_final(k, r);
}

/* Ask the milters at phase ph: 1 (the answer will come), or 0 when there
 * is nothing to ask. */
static int
sm_ask(struct session *s, enum sm_phase ph)
{
	struct session_milter *sm = s->milter;

	if (sm == NULL)
		return 0;
	sm_start(sm, ph);
	return 1;
}

/* An operation of a closed or failed connection ended: a closing
 * session may be freed once none is left. */
static void
sm_on_idle(struct milter_conn *c)
{
	struct sm_link *k = c->arg;

	if (k->sm->s->closing)
		session_close(k->sm->s, k->sm->s->reason);
}

/* See session_int.h. */
int
session_milter_connect(struct session *s)
{
	struct session_milter *sm = s->milter;

	if (sm == NULL || sm->conn_asked)
		return 0;
	sm->conn_asked = 1;
	s->filter_waiting = 1;   /* no command is read before the banner */
	sm_start(sm, SM_CONN);
	return 1;
}

/* See session_int.h. */
int
session_milter_mail(struct session *s)
{
	const struct rules_listener *l = sm_listener(s);

	if (s->milter == NULL && l != NULL && l->nmilters > 0) {
		proto_server_answer(&s->proto, 451, "4.3.0", "Insufficient system resources");
		return 1;
	}
	if (s->milter != NULL) {
		s->milter->discard = s->milter->quarantine = 0;
		for (unsigned i = 0; i < s->milter->n; i++)
			s->milter->l[i].out_msg = 0;
	}
	return sm_ask(s, SM_MAIL);
}

int
session_milter_rcpt(struct session *s, const char *addr, unsigned before)
{
	if (s->milter == NULL)
		return 0;
	snprintf(s->milter->addr, sizeof s->milter->addr, "%s", addr);
	s->milter->rcpt_before = before;
	return sm_ask(s, SM_RCPT);
}

int
session_milter_data(struct session *s)
{
	return sm_ask(s, SM_DATA);
}

int
session_milter_eom(struct session *s)
{
	if (s->milter == NULL || !s->milter_buffering)
		return 0;
	return sm_ask(s, SM_EOM);
}

void
session_milter_abort(struct session *s)
{
	if (s->milter != NULL && s->milter->phase == SM_IDLE)
		sm_abort_all(s->milter);
}

void
session_milter_tick(struct session *s)
{
	if (s->milter == NULL)
		return;
	for (unsigned i = 0; i < s->milter->n; i++)
		if (s->milter->l[i].opened)
			milter_conn_tick(&s->milter->l[i].c);
}

void
session_milter_close(struct session *s)
{
	if (s->milter == NULL)
		return;
	for (unsigned i = 0; i < s->milter->n; i++)
		if (s->milter->l[i].opened)
			milter_conn_close(&s->milter->l[i].c);
}

void
session_milter_free(struct session *s)
{
	struct session_milter *sm = s->milter;

	if (sm == NULL)
		return;
	for (unsigned i = 0; i < sm->n; i++)
		milter_conn_free(&sm->l[i].c);
	free(sm->msg);
	free(sm->newbody);
	free(sm);
	s->milter = NULL;
}
