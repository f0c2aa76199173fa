/*
 * core/session_filter.c - a session's builtin filters (rules/filter.h):
 * the listener's chain run at each phase with the session's facts, and
 * the outcome applied. connect runs before the banner (a refusal replaces
 * it and closes), helo/ehlo before the 250 (proto's ask_helo), auth after
 * a successful check (a refusal replaces the 235 and forgets the user),
 * mail-from at MAIL, rcpt-to at each RCPT, data at DATA and commit at the
 * end of the data before the queue commit. reject answers the command with
 * the filter's code and text and the session goes on; disconnect answers
 * it and closes; junk marks the session (connect, helo, ehlo, auth) or the
 * transaction, whose message then gets "X-Spam: yes"; rewrite replaces the
 * command's parameter; report logs a line and the chain goes on; a check
 * that could not answer (a DNS lookup that failed for now) is 451.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/dns.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/session_int.h"
#include "core/shard_dns.h"
#include "core/trace.h"
#include "rules/filter.h"

#define SESSION_FILTER_TEMPFAIL_TEXT "4.3.0 Temporary failure, try again later"

/* The listener's compiled filters, or NULL after a reload reshaped them. */
static const struct rules_listener *
session_filter_listener(const struct session *s)
{
	const struct rules_config *c = s->config;

	if (s->listener >= c->nlisteners || c->listeners[s->listener].nfilters == 0)
		return NULL;
	return &c->listeners[s->listener];
}

/* What the session knows; param is the command's (MAIL's sender, RCPT's
 * recipient). */
static void
session_filter_facts(const struct session *s, enum rules_filter_phase phase, const char *param,
                     struct rules_filter_facts *f)
{
	memset(f, 0, sizeof *f);
	f->q.local = s->local;
	f->q.src = (const struct sockaddr *)&s->peer;
	f->q.listener_tag = "";
	f->q.helo = s->helo;
	f->q.tls = s->tls != NULL && !s->tls_handshaking;
	f->q.auth_user = s->auth_user[0] ? s->auth_user : NULL;
	f->q.rdns_state = s->rdns_state;
	f->q.rdns = s->rdns;
	session_geoip_query(s, &f->q.country, &f->q.asn);
	f->q.mail_from = phase == RULES_PHASE_MAIL_FROM && param != NULL ? param : s->sender;
	f->q.rcpt = phase == RULES_PHASE_RCPT_TO ? param : NULL;
	if (phase == RULES_PHASE_HELO || phase == RULES_PHASE_EHLO)
		f->q.helo = param;
	f->fcrdns = s->fcrdns;
	f->dnsbl = s->dnsbl;
}

/* One log line per report that fired. */
static void
session_filter_reports(const struct session *s, const struct rules_listener *l,
                       enum rules_filter_phase phase, uint64_t reports)
{
	for (unsigned i = 0; i < l->nfilters && reports != 0; i++) {
		if (!(reports & (1ull << i)))
			continue;
		reports &= ~(1ull << i);
		log_info("%016llx smtp filter-report filter=%s phase=%s message=\"%s\"",
		         (unsigned long long)s->id, l->filters[i]->name,
		         rules_filter_phase_name(phase), l->filters[i]->text);
	}
}

/* Answer the command (or replace the banner) with a refusal: the
 * filter's reply, or 451 when it could not decide; close after a
 * disconnect and at connect. */
static void
session_filter_refuse(struct session *s, enum rules_filter_phase phase,
                      const struct rules_filter_verdict *v)
{
	const struct rules_filter *f = v->filter;
	int tempfail = v->result == RULES_FILTER_TEMPFAIL;
	unsigned code = tempfail ? 451 : f->code;
	const char *text = tempfail ? SESSION_FILTER_TEMPFAIL_TEXT : f->text;

	log_info("%016llx smtp filter=%s phase=%s action=%s result=\"%u %s\"",
	         (unsigned long long)s->id, f->name, rules_filter_phase_name(phase),
	         tempfail ? "tempfail" : rules_filter_action_name(f->action), code, text);
	if (v->result == RULES_FILTER_DISCONNECT || phase == RULES_PHASE_CONNECT) {
		s->reason = "filter";
		proto_server_close_with(&s->proto, (int)code, NULL, text);
		return;
	}
	proto_server_answer(&s->proto, (int)code, NULL, text);
}

/* See session_int.h. */
int
session_filter(struct session *s, enum rules_filter_phase phase, const char **param)
{
	const struct rules_listener *l = session_filter_listener(s);
	struct rules_filter_facts facts;
	struct rules_filter_verdict v;
	int r = session_proc(s, phase, param);   /* the processes first */

	if (r != 0)
		return r;
	if (l == NULL)
		return 0;
	session_filter_facts(s, phase, param != NULL ? *param : NULL, &facts);
	rules_filter_eval(l, phase, &facts, &v);
	if (TRACE_ON(CTL_TRACE_FILTERS)) {
		static const char *const results[] = { "proceed", "junk", "reject", "disconnect",
		                                       "rewrite", "tempfail" };
		log_info("trace filters: %016llx phase=%s result=%s filter=%s",
		         (unsigned long long)s->id, rules_filter_phase_name(phase),
		         (unsigned)v.result < 6 ? results[v.result] : "?",
		         v.filter != NULL ? v.filter->name : "-");
	}
	session_filter_reports(s, l, phase, v.reports);
	switch (v.result) {
	case RULES_FILTER_PROCEED:
		return 0;
	case RULES_FILTER_JUNK:
		log_info("%016llx smtp filter=%s phase=%s action=junk", (unsigned long long)s->id,
		         v.filter->name, rules_filter_phase_name(phase));
		if (phase <= RULES_PHASE_AUTH)
			s->junk_session = 1;
		else
			s->junk_txn = 1;
		return 0;
	case RULES_FILTER_REWRITE:
		if (param != NULL) {
			log_info("%016llx smtp filter=%s phase=%s action=rewrite from=\"%s\" to=\"%s\"",
			         (unsigned long long)s->id, v.filter->name,
			         rules_filter_phase_name(phase), *param, v.filter->text);
			*param = v.filter->text;
		}
		return 0;
	default:
		session_filter_refuse(s, phase, &v);
		return 1;
	}
}

/* See session_int.h. */
const char *
session_filter_helo(struct session *s, const struct proto_event *ev)
{
	const char *name = ev->helo;

	if (!s->proto.params.ask_helo)
		return name;   /* the machine said 250 already */
	if (session_filter(s, ev->esmtp ? RULES_PHASE_EHLO : RULES_PHASE_HELO, &name))
		return NULL;
	proto_server_answer(&s->proto, 250, NULL, NULL);
	return name;
}

/* See session_int.h. */
int
session_filter_addr(struct session *s, enum rules_filter_phase phase, const char *addr,
                    char *out, size_t cap)
{
	const char *p = addr;
	size_t n;

	if (session_filter(s, phase, &p))
		return 1;
	if (*p == '<')   /* a rewrite may give the path in brackets, as MAIL's */
		p++;
	n = strcspn(p, ">");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* The port of an address, 0 when it has none. */
static unsigned
session_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

/* The connect phase, then the banner or the refusal. */
static void
session_greet_now(struct session *s)
{
	const char *host = s->proto.params.hostname;

	if (session_milter_connect(s))
		return;   /* the milters' connect step first; it greets again */
	if (session_filter(s, RULES_PHASE_CONNECT, NULL))
		return;
	proto_server_greet(&s->proto);
	session_proc_report(s, PROTO_FEV_LINK_GREETING, &host, 1);
}

/* The lookups are done: link-connect (with the PTR name and FCrDNS when
 * they were looked up, as OpenSMTPD reports them after its lookup), then
 * the connect phase. */
static void
session_greet_looked_up(struct session *s)
{
	char src[80], dst[80];
	struct sockaddr_storage me;
	socklen_t len = sizeof me;

	snprintf(src, sizeof src, "%s:%u", s->peer_text, session_port(&s->peer));
	if (getsockname(s->fd, (struct sockaddr *)&me, &len) < 0)
		me.ss_family = AF_UNSPEC;
	listener_addr_text((const struct sockaddr *)&me, dst, sizeof dst);
	snprintf(dst + strlen(dst), sizeof dst - strlen(dst), ":%u", session_port(&me));
	const char *lc[] = { s->rdns, s->fcrdns == RULES_FCRDNS_PASS ? "pass" :   /* as lka_report.c */
	                     s->fcrdns == RULES_FCRDNS_TEMPFAIL ? "error" : "fail", src, dst };
	session_proc_report(s, PROTO_FEV_LINK_CONNECT, lc, 4);
	session_greet_now(s);
}

/* See session_int.h. */
void
session_greet_resume(struct session *s)
{
	session_greet_now(s);
	session_pump(s);
}

/* See session_int.h: one connect lookup (PTR, DNSBL) answered; the last
 * one greets. */
void
session_lookup_done(struct session *s)
{
	s->inflight--;
	if (--s->lookups > 0)
		return;
	s->filter_waiting = 0;
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	session_greet_looked_up(s);
	session_pump(s);
}

/* The client's PTR name (and FCrDNS) came: note it. */
static void
session_filter_rdns_done(void *arg, const struct dns_rdns *r)
{
	struct session *s = arg;

	s->rdns_state = r->status == DNS_TEMPFAIL ? RULES_RDNS_TEMPFAIL :
	                r->name[0] != '\0' ? RULES_RDNS_FOUND : RULES_RDNS_NONE;
	snprintf(s->rdns, sizeof s->rdns, "%s", r->name);
	s->fcrdns = r->fcrdns > 0 ? RULES_FCRDNS_PASS :
	            r->fcrdns == 0 ? RULES_FCRDNS_FAIL : RULES_FCRDNS_TEMPFAIL;
	log_info("%016llx smtp rdns name=%s fcrdns=%s", (unsigned long long)s->id,
	         s->rdns_state == RULES_RDNS_TEMPFAIL ? "<tempfail>" : r->name[0] ? r->name :
	         "<none>", r->fcrdns > 0 ? "pass" : r->fcrdns == 0 ? "fail" : "error");
	session_lookup_done(s);
}

/* The PTR lookup, when a filter or a match line needs the name. */
static void
session_filter_rdns_start(struct session *s, int need)
{
	struct dns *d;

	if (need == 0 || s->rdns_state != RULES_RDNS_UNKNOWN)
		return;
	if ((d = shard_dns(s->shard)) == NULL) {
		s->rdns_state = RULES_RDNS_TEMPFAIL;
		s->fcrdns = RULES_FCRDNS_TEMPFAIL;
		return;
	}
	s->lookups++;
	s->inflight++;
	dns_client_rdns(d, (const struct sockaddr *)&s->peer, need == 2, session_filter_rdns_done,
	                s);
}

/* See session_int.h: the PTR lookup (once per session, only when a filter
 * or a match line needs it; processes get the name in link-connect and
 * connect when it was looked up, "" else) and the DNSBL answers run on the
 * shard's resolver at once, before link-connect and the connect phase. */
void
session_greet(struct session *s)
{
	const struct rules_listener *l = session_filter_listener(s);
	int need = l != NULL ? rules_filter_needs_rdns(l) : 0;

	if (need == 0 && rules_needs_rdns(s->config))
		need = 1;   /* a match line has from rdns: the name, before any RCPT */
	s->lookups = 1;   /* held until every lookup started: none greets early */
	s->inflight++;
	s->filter_waiting = 1;
	session_filter_rdns_start(s, need);
	if (l != NULL)
		session_dnsbl_start(s);
	s->inflight--;
	if (--s->lookups > 0)
		return;   /* the last answer greets (session_lookup_done()) */
	s->filter_waiting = 0;
	session_greet_looked_up(s);
}
