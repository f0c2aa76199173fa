/*
 * core/session_proc.c - a session and the filter processes of its
 * listener (core/filter_proc.c): at each phase a process registered, the
 * filter request goes out and the session waits (its question stays
 * unanswered, the ring serves the others); the answer comes to
 * session_proc_done(), which applies it the way the builtin filters'
 * verdicts are applied (core/session_filter.c): proceed, junk, rewrite
 * and report let the event be dispatched again, where session_proc()
 * hands over the outcome and the next process (or the builtin chain) is
 * asked; reject answers the command (421 closes), disconnect closes. No
 * answer within the timeout, or a process that is down, is 451 4.7.0: a
 * filter is never skipped. Report events go to the processes that
 * registered them (session_proc_report()), protocol-client and
 * protocol-server from the protocol machine's observer
 * (session_proc_observe()).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/filter_proc.h"
#include "core/log.h"
#include "core/session_int.h"

#define SESSION_PROC_TEMPFAIL_TEXT "4.7.0 Temporary failure, try again later"

/* The listener's filter processes, or NULL. */
static const struct rules_listener *
session_proc_listener(const struct session *s)
{
	const struct rules_config *c = s->config;

	if (s->listener >= c->nlisteners || c->listeners[s->listener].nprocs == 0)
		return NULL;
	return &c->listeners[s->listener];
}

/* The protocol's phase for a builtin phase. */
static enum proto_filter_phase
session_proc_phase(enum rules_filter_phase p)
{
	static const enum proto_filter_phase map[RULES_PHASES] = {
		[RULES_PHASE_CONNECT] = PROTO_FPHASE_CONNECT,
		[RULES_PHASE_HELO] = PROTO_FPHASE_HELO,
		[RULES_PHASE_EHLO] = PROTO_FPHASE_EHLO,
		[RULES_PHASE_AUTH] = PROTO_FPHASE_AUTH,
		[RULES_PHASE_MAIL_FROM] = PROTO_FPHASE_MAIL_FROM,
		[RULES_PHASE_RCPT_TO] = PROTO_FPHASE_RCPT_TO,
		[RULES_PHASE_DATA] = PROTO_FPHASE_DATA,
		[RULES_PHASE_COMMIT] = PROTO_FPHASE_COMMIT,
	};
	return map[p];
}

/* See session_int.h. */
void
session_proc_report(struct session *s, enum proto_filter_event ev, const char *const *params,
                    unsigned n)
{
	const struct rules_listener *l = session_proc_listener(s);

	if (l != NULL)
		filter_proc_report(s->shard, l->procs, l->nprocs, ev, s->id, params, n);
}

/* See session_int.h. */
void
session_proc_observe(void *arg, int reply, const char *line, size_t len)
{
	struct session *s = arg;
	char text[PROTO_LINE_BYTES_MAX + 1];
	const char *p = text;

	snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1),
	         line);
	session_proc_report(s, reply ? PROTO_FEV_PROTOCOL_SERVER : PROTO_FEV_PROTOCOL_CLIENT,
	                    &p, 1);
}

/* The answer is applied: carry on with the event (or the greeting). */
static void
session_proc_resume(struct session *s)
{
	if (s->proc_phase == RULES_PHASE_CONNECT) {
		session_greet_resume(s);
		return;
	}
	if (s->proc_phase == RULES_PHASE_AUTH) {
		session_auth_resume(s);   /* after the check: never the SASL again */
		return;
	}
	session_redispatch(s);
}

/* Refuse the waiting command: code text; close after a disconnect, a
 * 421, and at connect. */
static void
session_proc_refuse(struct session *s, const char *name, unsigned code, const char *text,
                    int disconnect)
{
	log_info("%016llx smtp filter=%s phase=%s action=%s result=\"%u %s\"",
	         (unsigned long long)s->id, name, rules_filter_phase_name(s->proc_phase),
	         disconnect ? "disconnect" : "reject", code, text);
	if (disconnect || code == 421 || s->proc_phase == RULES_PHASE_CONNECT) {
		s->reason = "filter";
		proto_server_close_with(&s->proto, (int)code, NULL, text);
	} else {
		proto_server_answer(&s->proto, (int)code, NULL, text);
	}
	if (s->proc_phase == RULES_PHASE_COMMIT)
		session_txn_reset(s);
	if (s->proc_phase == RULES_PHASE_AUTH)
		s->auth_user[0] = '\0';   /* refused: not authenticated */
	session_pump(s);
}

/* The filter's answer (m), or none (NULL: timeout, process gone). */
static void
session_proc_done(struct filter_req *req, const struct proto_filter_msg *m)
{
	struct session *s = container_of(req, struct session, proc_req);
	char text[RULES_FILTER_TEXT_BYTES_MAX];
	const char *name = s->proc_name;

	s->inflight--;
	s->proc_waiting = 0;
	s->filter_waiting = 0;
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	if (m == NULL) {
		session_proc_refuse(s, name, 451, SESSION_PROC_TEMPFAIL_TEXT, 0);
		return;
	}
	snprintf(text, sizeof text, "%.*s", (int)m->param_len, m->param);
	switch (m->decision) {
	case PROTO_FDEC_REJECT:
	case PROTO_FDEC_DISCONNECT:
		session_proc_refuse(s, name, m->code, text[0] ? text : "Refused",
		                    m->decision == PROTO_FDEC_DISCONNECT);
		return;
	case PROTO_FDEC_JUNK:
		log_info("%016llx smtp filter=%s phase=%s action=junk", (unsigned long long)s->id,
		         name, rules_filter_phase_name(s->proc_phase));
		if (s->proc_phase <= RULES_PHASE_AUTH)
			s->junk_session = 1;
		else
			s->junk_txn = 1;
		break;
	case PROTO_FDEC_REWRITE:
		log_info("%016llx smtp filter=%s phase=%s action=rewrite to=\"%s\"",
		         (unsigned long long)s->id, name, rules_filter_phase_name(s->proc_phase),
		         text);
		memcpy(s->proc_param, text, sizeof s->proc_param);
		s->proc_rewritten = 1;
		break;
	case PROTO_FDEC_REPORT:
		log_info("%016llx smtp filter-report filter=%s phase=%s message=\"%s\"",
		         (unsigned long long)s->id, name, rules_filter_phase_name(s->proc_phase),
		         text);
		break;
	case PROTO_FDEC_PROCEED:
		break;
	}
	s->proc_done = 1;
	session_proc_resume(s);
}

/* The request's parameters for phase: connect rdns and address (into src),
 * helo and ehlo the name, mail-from and rcpt-to the address. */
static unsigned
session_proc_params(const struct session *s, enum rules_filter_phase phase, const char *param,
                    const char **p, char *src, size_t cap)
{
	switch (phase) {
	case RULES_PHASE_CONNECT:   /* 0.7: an IPv6 source in brackets */
		snprintf(src, cap, strchr(s->peer_text, ':') != NULL ? "[%s]" : "%s", s->peer_text);
		p[0] = s->rdns;
		p[1] = src;
		return 2;
	case RULES_PHASE_HELO:
	case RULES_PHASE_EHLO:
	case RULES_PHASE_MAIL_FROM:
	case RULES_PHASE_RCPT_TO:
		p[0] = param != NULL ? param : "";
		return 1;
	default:
		return 0;
	}
}

/* See session_int.h. */
int
session_proc(struct session *s, enum rules_filter_phase phase, const char **param)
{
	const struct rules_listener *l = session_proc_listener(s);
	enum proto_filter_phase fph;
	const char *p[2];
	char src[sizeof s->peer_text + 2];
	unsigned start = 0, n;
	int idx;

	if (l == NULL)
		return 0;
	if (s->proc_done && s->proc_phase == phase) {   /* an answer came: go on */
		s->proc_done = 0;
		start = s->proc_next;
		if (s->proc_rewritten && param != NULL)
			*param = s->proc_param;
	} else {
		s->proc_done = 0;
		s->proc_rewritten = 0;
	}
	fph = session_proc_phase(phase);
	for (unsigned i = start; i < l->nprocs; i++) {
		idx = filter_proc_find(s->shard, l->procs[i]);
		if (!filter_proc_wants(s->shard, idx, fph))
			continue;
		s->proc_phase = phase;
		s->proc_next = i + 1;
		snprintf(s->proc_name, sizeof s->proc_name, "%s", l->procs[i]->name);
		n = session_proc_params(s, phase, param != NULL ? *param : NULL, p, src, sizeof src);
		s->proc_req.sid = s->id;
		s->proc_req.done = session_proc_done;
		if (filter_proc_ask(s->shard, idx, &s->proc_req, fph, p, n) < 0) {
			log_warn("%016llx smtp filter=%s phase=%s: not running",
			         (unsigned long long)s->id, s->proc_name, rules_filter_phase_name(phase));
			s->proc_done = 0;
			if (phase == RULES_PHASE_CONNECT) {
				s->reason = "filter";
				proto_server_close_with(&s->proto, 421, NULL, SESSION_PROC_TEMPFAIL_TEXT);
			} else {
				proto_server_answer(&s->proto, 451, NULL, SESSION_PROC_TEMPFAIL_TEXT);
			}
			return 1;
		}
		s->proc_waiting = 1;
		s->inflight++;
		if (phase == RULES_PHASE_CONNECT)
			s->filter_waiting = 1;   /* no command is read before the banner */
		return 2;
	}
	return 0;
}
