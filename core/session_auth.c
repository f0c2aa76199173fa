/*
 * core/session_auth.c - SMTP AUTH in an inbound session (RFC 4954): the
 * SASL exchange (proto/sasl.c) driven by the protocol machine's AUTH and
 * AUTH_DATA questions, the credentials checked off the ring by the auth
 * threads (core/auth.c), a failure answered 535 5.7.8 only after
 * AUTH_FAILURE_DELAY_MS (a timeout on the ring, the session waiting), an
 * address with `smtp limit max-auth-failures` (5) failures in AUTH_FAILURE_WINDOW_MS
 * answered 421 4.7.0 and closed (core/auth_limit.c), and the MAIL checks
 * of `auth` (no MAIL before AUTH) and `senders <table>`. The log lines are
 * OpenSMTPD's: "smtp authentication user=U result=ok|permfail|tempfail".
 */
#include <errno.h>
#include <string.h>

#include "core/auth_limit.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/session_int.h"
#include "rules/rules.h"

static void session_auth_checked(struct shard *sh, struct shard_msg *msg);

/* The listener the session came in on, or NULL after a reload changed the
 * table's shape. */
static const struct rules_listener *
session_auth_listener(const struct session *s)
{
	const struct rules_config *c = s->config;
	return s->listener < c->nlisteners ? &c->listeners[s->listener] : NULL;
}

/* See session_int.h: the mechanisms to offer on listener li, or NULL. */
const char *
session_auth_mechs(const struct rules_config *c, unsigned li)
{
	return li < c->nlisteners && c->listeners[li].auth != RULES_AUTH_NONE ? PROTO_SASL_MECHS
	                                                                       : NULL;
}

/* The address is over the failure limit: say so and close. */
static void
session_auth_blocked(struct session *s)
{
	log_info("%016llx smtp authentication refused address=%s reason=\"%u failures in %u s\"",
	         (unsigned long long)s->id, s->peer_text, s->config->auth_failures_max,
	         AUTH_FAILURE_WINDOW_MS / 1000);
	s->reason = "too many authentication failures";
	proto_server_answer(&s->proto, 421, "4.7.0",
	                    "Too many authentication failures, try again later");
}

/* Answer what the SASL exchange said: a challenge, a refusal, or the
 * credentials to check. */
static void
session_auth_step(struct session *s, enum proto_sasl_result res, const struct proto_sasl_reply *r)
{
	const struct rules_listener *l = session_auth_listener(s);

	if (res == PROTO_SASL_CHALLENGE) {
		proto_server_answer(&s->proto, 334, NULL, r->text);
		return;
	}
	if (res == PROTO_SASL_REFUSE && r->code != 535) {
		proto_server_answer(&s->proto, r->code, r->status, r->text);
		return;
	}
	memset(&s->auth, 0, sizeof s->auth);
	if (res == PROTO_SASL_REFUSE || l == NULL) {   /* authzid not the user: a failure */
		s->auth.result = AUTH_FAIL;
		session_auth_checked(s->shard, &s->auth.msg);
		return;
	}
	s->auth.msg.handle = session_auth_checked;
	s->auth.shard = s->shard;
	s->auth.listener = l;
	memcpy(s->auth.user, s->sasl.user, sizeof s->auth.user);
	memcpy(s->auth.pass, s->sasl.pass, sizeof s->auth.pass);
	proto_sasl_wipe(&s->sasl);
	s->auth_checking = 1;
	s->inflight++;
	auth_submit(&s->auth);
}

/* AUTH mechanism [initial-response]. */
void
session_auth_begin(struct session *s, const struct proto_event *ev)
{
	struct proto_sasl_reply r;

	if (auth_limit_blocked(s->shard->daemon->auth_fails, &s->peer, s->shard->now_ms)) {
		session_auth_blocked(s);
		return;
	}
	session_auth_step(s, proto_sasl_start(&s->sasl, ev->auth_mech, ev->auth_initial, &r), &r);
}

/* A response line after a 334. */
void
session_auth_data(struct session *s, const struct proto_event *ev)
{
	struct proto_sasl_reply r;

	session_auth_step(s, proto_sasl_step(&s->sasl, ev->data, ev->len, &r), &r);
}

/* The pause after a failure is over: 535, or 421 at the limit. */
static void
session_auth_delay_done(struct core_op *op, int res, unsigned flags)
{
	struct session *s = container_of(op, struct session, auth_delay_op);

	(void)res;
	(void)flags;
	s->inflight--;
	s->auth_delaying = 0;
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	if (s->auth_blocked)
		session_auth_blocked(s);
	else
		proto_server_answer(&s->proto, 535, "5.7.8", "Authentication failed");
	session_pump(s);
}

/* Count a failure and answer it after AUTH_FAILURE_DELAY_MS. */
static void
session_auth_failed(struct session *s)
{
	s->auth_blocked = auth_limit_fail(s->shard->daemon->auth_fails, &s->peer, s->shard->now_ms);
	s->auth_delay_ts.tv_sec = AUTH_FAILURE_DELAY_MS / 1000;
	s->auth_delay_ts.tv_nsec = (AUTH_FAILURE_DELAY_MS % 1000) * 1000000L;
	s->auth_delay_op.complete = session_auth_delay_done;
	struct io_uring_sqe *sqe = shard_sqe(s->shard);
	io_uring_prep_timeout(sqe, &s->auth_delay_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &s->auth_delay_op);
	s->auth_delaying = 1;
	s->inflight++;
}

/* The check passed: the auth phase's filters, then 235. A refusal (the
 * filter answered it) forgets the user; a filter process that was asked
 * answers later (session_auth_resume()), the question left open, so the
 * credentials are never checked twice. */
static void
session_auth_filtered(struct session *s)
{
	int r = session_filter(s, RULES_PHASE_AUTH, NULL);

	if (r == 2)
		return;
	if (r == 1) {
		s->auth_user[0] = '\0';   /* refused by a filter: not authenticated */
		return;
	}
	proto_server_answer(&s->proto, 235, "2.0.0", "Authentication succeeded");
}

/* See session_int.h. */
void
session_auth_resume(struct session *s)
{
	session_auth_filtered(s);
	session_pump(s);
}

/* On the shard: the auth thread's answer (or a failure found before
 * asking). */
static void
session_auth_checked(struct shard *sh, struct shard_msg *msg)
{
	struct session *s = container_of(msg, struct session, auth.msg);
	static const char *const words[] = { "ok", "permfail", "tempfail" };
	static const char *const reported[] = { "pass", "fail", "error" };   /* link-auth */

	(void)sh;
	if (s->auth_checking) {
		s->auth_checking = 0;
		s->inflight--;
	}
	explicit_bzero(s->auth.pass, sizeof s->auth.pass);
	log_info("%016llx smtp authentication user=%s result=%s", (unsigned long long)s->id,
	         s->auth.user, words[s->auth.result]);
	const char *link_auth[] = { reported[s->auth.result], s->auth.user };  /* 0.7's order */
	session_proc_report(s, PROTO_FEV_LINK_AUTH, link_auth, 2);
	proto_sasl_wipe(&s->sasl);
	if (s->closing) {
		session_close(s, s->reason);
		return;
	}
	switch (s->auth.result) {
	case AUTH_OK:
		memcpy(s->auth_user, s->auth.user, sizeof s->auth_user);
		s->rules_session_ok = 0;   /* match auth answers for the user now */
		session_auth_filtered(s);
		break;
	case AUTH_TEMPFAIL:
		proto_server_answer(&s->proto, 454, "4.7.0", "Temporary authentication failure");
		break;
	case AUTH_FAIL:
		session_auth_failed(s);
		return;   /* answered when the pause is over */
	}
	session_pump(s);
}

/* See session_int.h: 1 when MAIL FROM:<sender> was refused (answered). */
int
session_auth_mail_refused(struct session *s, const char *sender)
{
	const struct rules_listener *l = session_auth_listener(s);

	if (l == NULL)
		return 0;
	if (l->auth == RULES_AUTH_REQUIRE && s->auth_user[0] == '\0') {
		proto_server_answer(&s->proto, 530, "5.7.0", "Must issue an AUTH command first");
		return 1;
	}
	if (s->auth_user[0] != '\0' &&
	    !rules_senders_allow(l, s->auth_user, sender, s->config->sub_addr_delim)) {
		log_info("%016llx smtp failed-command command=\"MAIL FROM:<%s>\" "
		         "result=\"553 5.7.1 Sender address rejected\" user=%s",
		         (unsigned long long)s->id, sender, s->auth_user);
		proto_server_answer(&s->proto, 553, "5.7.1", "Sender address rejected");
		return 1;
	}
	return 0;
}
