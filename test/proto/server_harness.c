/*
 * test/proto/server_harness.c - the daemon played by the tests of
 * proto/smtp_server.c; see test/proto/server_harness.h.
 */
#include "test/proto/server_harness.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct proto_server_params params_default = {
	.hostname = HOST, .size_max = 35882577, .rcpt_count_max = 100, .errors_max = 10,
};

const struct policy accept_all;

struct tx tx_a, tx_b;

/* Clear a transcript for a new run. */
void
tx_reset(struct tx *t)
{
	t->out_len = t->log_len = t->body_len = t->msg_len = 0;
	t->nbodies = 0;
	t->out[0] = t->log[0] = t->body[0] = '\0';
	t->flushes = t->body_events = 0;
	t->const_bytes = t->out_len_max = 0;
	t->done = t->tls = 0;
}

/* Append n bytes to a NUL-terminated transcript buffer. */
static void
tx_append(char *dst, size_t *len, size_t cap, const char *src, size_t n)
{
	cr_assert_lt(*len + n, cap, "transcript buffer too small");
	memcpy(dst + *len, src, n);
	*len += n;
	dst[*len] = '\0';
}

/* Append one line to the event log. */
static void __attribute__((format(printf, 2, 3)))
tx_logf(struct tx *t, const char *fmt, ...)
{
	char line[2400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tx_append(t->log, &t->log_len, sizeof(t->log), line, (size_t)n);
}

/* "Send" everything in s->out: move it into the transcript. */
static void
tx_drain(struct proto_server *s, struct tx *t)
{
	tx_append(t->out, &t->out_len, sizeof(t->out), s->out, s->out_len);
	proto_server_out_sent(s, s->out_len);
}

/* Answer AUTH and AUTH_DATA (see AUTH_GOOD). */
static void
tx_answer_auth(struct proto_server *s, const struct proto_event *ev)
{
	const char *resp = ev->kind == PROTO_EV_AUTH ? ev->auth_initial : ev->data;

	if (ev->kind == PROTO_EV_AUTH && strcasecmp(ev->auth_mech, "PLAIN") != 0)
		proto_server_answer(s, 504, "5.7.4", "Security features not supported");
	else if (ev->kind == PROTO_EV_AUTH && resp == NULL)
		proto_server_answer(s, 334, NULL, "");
	else if (strcmp(resp, "*") == 0)
		proto_server_answer(s, 501, "5.7.0", "Authentication cancelled");
	else if (strcmp(resp, AUTH_GOOD) == 0)
		proto_server_answer(s, 235, "2.0.0", "Authentication succeeded");
	else
		proto_server_answer(s, 535, "5.7.8", "Authentication failed");
}

/* Answer a question the way pol says. */
static void
tx_answer(struct proto_server *s, const struct policy *pol, const struct proto_event *ev)
{
	if (ev->kind == PROTO_EV_MAIL) {
		if (pol->reject_mail != NULL && strcmp(ev->addr, pol->reject_mail) == 0)
			proto_server_answer(s, 550, "5.7.1", "Sender rejected");
		else
			proto_server_answer(s, 250, "2.1.0", "Ok");
	} else if (ev->kind == PROTO_EV_RCPT) {
		if (pol->reject_rcpt != NULL && strcmp(ev->addr, pol->reject_rcpt) == 0)
			proto_server_answer(s, 550, "5.1.1", "No such user");
		else
			proto_server_answer(s, 250, "2.1.5", "Ok");
	} else if (ev->kind == PROTO_EV_DATA) {
		if (pol->data_code != 0)
			proto_server_answer(s, pol->data_code, "5.5.1", "No thanks");
		else
			proto_server_answer(s, 354, NULL,
			                    "Enter mail, end with \".\" on a line by itself");
	} else if (ev->kind == PROTO_EV_STARTTLS) {
		if (pol->starttls_code != 0)
			proto_server_answer(s, pol->starttls_code, "4.7.0", "TLS not available");
		else
			proto_server_answer(s, 220, "2.0.0", "Ready to start TLS");
	} else if (ev->kind == PROTO_EV_AUTH || ev->kind == PROTO_EV_AUTH_DATA) {
		tx_answer_auth(s, ev);
	} else if (pol->body_end_code != 0) {
		proto_server_answer(s, pol->body_end_code, "4.3.0", "Try again later");
	} else {
		proto_server_answer(s, 250, "2.0.0", "Ok: queued");
	}
}

/* Log MAIL with the parameters it carried (only those given). */
static void
tx_log_mail(struct tx *t, const struct proto_event *ev)
{
	char extra[1400] = "";
	size_t n = 0;

	if (ev->body == PROTO_BODY_BINARYMIME)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " binarymime");
	if (ev->smtputf8 || ev->utf8)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " smtputf8=%d utf8=%d",
		                      ev->smtputf8, ev->utf8);
	if (ev->dsn_ret != 0)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " ret=%d", ev->dsn_ret);
	if (ev->envid != NULL && ev->envid[0] != '\0')
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " envid=[%s]", ev->envid);
	if (ev->auth != NULL)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " auth=[%s]", ev->auth);
	tx_logf(t, "MAIL <%s> %llu %d%s\n", ev->addr, (unsigned long long)ev->size, ev->body8,
	        extra);
}

/* Log RCPT with the DSN parameters it carried. */
static void
tx_log_rcpt(struct tx *t, const struct proto_event *ev)
{
	char extra[700] = "";
	size_t n = 0;

	if (ev->utf8)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " utf8");
	if (ev->notify != 0)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " notify=%u", ev->notify);
	if (ev->orcpt != NULL && ev->orcpt[0] != '\0')
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, " orcpt=[%s]", ev->orcpt);
	tx_logf(t, "RCPT <%s>%s\n", ev->addr, extra);
}

/* Record one BODY event; its data must lie in the fed buffer or be
 * constant storage of the machine (a held CR, a normalised line end). */
static void
tx_body(struct proto_server *s, struct tx *t, const struct proto_event *ev, const char *buf,
        size_t len)
{
	cr_assert_gt(ev->len, 0);
	if (ev->data >= buf && ev->data + ev->len <= buf + len)
		;
	else if (ev->len <= 2 && (ev->data[0] == '\r' || ev->data[0] == '\n'))
		t->const_bytes += ev->len;
	else
		cr_assert_fail("BODY data outside the fed buffer");
	(void)s;
	t->body_events++;
	tx_append(t->msg, &t->msg_len, sizeof(t->msg), ev->data, ev->len);
}

/* Log a question and answer it. */
static void
tx_question(struct proto_server *s, struct tx *t, const struct policy *pol,
            const struct proto_event *ev)
{
	if (ev->kind == PROTO_EV_DATA)
		t->msg_len = 0;
	if (ev->kind == PROTO_EV_MAIL) {
		tx_log_mail(t, ev);
	} else if (ev->kind == PROTO_EV_RCPT) {
		tx_log_rcpt(t, ev);
	} else if (ev->kind == PROTO_EV_DATA && ev->bdat) {
		tx_logf(t, "DATA bdat %llu\n", (unsigned long long)ev->size);
	} else if (ev->kind == PROTO_EV_DATA) {
		tx_logf(t, "DATA\n");
	} else if (ev->kind == PROTO_EV_BODY_END) {
		tx_logf(t, "BODY_END %llu\n", (unsigned long long)ev->size);
		cr_expect_eq(ev->size, t->msg_len, "BODY_END size is not the BODY octets");
		tx_append(t->body, &t->body_len, sizeof(t->body), t->msg, t->msg_len);
		if (t->nbodies < sizeof(t->body_ends) / sizeof(t->body_ends[0]))
			t->body_ends[t->nbodies++] = t->body_len;
	} else if (ev->kind == PROTO_EV_STARTTLS) {
		tx_logf(t, "STARTTLS\n");
	} else if (ev->kind == PROTO_EV_AUTH) {
		tx_logf(t, "AUTH %s %s\n", ev->auth_mech, ev->auth_initial ? ev->auth_initial : "-");
	} else {
		tx_logf(t, "AUTH_DATA [%.*s]\n", (int)ev->len, ev->data);
	}
	tx_answer(s, pol, ev);
}

/* Pull events until the machine wants more input or the session ends,
 * answering questions and checking the contract on every event. */
void
tx_pump(struct proto_server *s, struct tx *t, const struct policy *pol, const char *buf,
        size_t len)
{
	struct proto_event ev;

	for (;;) {
		enum proto_event_kind k = proto_server_next(s, &ev);

		cr_assert_leq(s->out_len, PROTO_OUT_BYTES_MAX);
		if (s->out_len > t->out_len_max)
			t->out_len_max = s->out_len;
		cr_assert_eq(ev.kind, k);
		if (k == PROTO_EV_NEED_MORE) {
			cr_assert_eq(s->in_len, 0);
			tx_drain(s, t);
			return;
		} else if (k == PROTO_EV_FLUSH) {
			t->flushes++;
			tx_drain(s, t);
		} else if (k == PROTO_EV_WAIT) {
			cr_assert_eq(s->state, PROTO_S_TLS, "WAIT with every question answered");
			cr_assert_eq(s->in_len, 0, "input kept across STARTTLS");
			tx_logf(t, "TLS\n");
			tx_drain(s, t);  /* the 220 goes out, then the handshake */
			t->tls = 1;
			proto_server_tls_done(s);
		} else if (k == PROTO_EV_HELO) {
			tx_logf(t, "%s %s\n", ev.esmtp ? "EHLO" : "HELO", ev.helo);
		} else if (k == PROTO_EV_BODY) {
			tx_body(s, t, &ev, buf, len);
		} else if (k == PROTO_EV_TXN_RESET) {
			tx_logf(t, "TXN_RESET\n");
			t->msg_len = 0;  /* a refused body goes nowhere */
		} else if (k == PROTO_EV_QUIT || k == PROTO_EV_CLOSE) {
			tx_logf(t, k == PROTO_EV_QUIT ? "QUIT\n" : "CLOSE\n");
			tx_drain(s, t);
			t->done = 1;
			return;
		} else {
			tx_question(s, t, pol, &ev);
		}
	}
}

/* Run a whole session: greet, then feed in[0..len) cut at cuts[] (each piece
 * in its own heap block, freed after use, so ASan sees any stray read). */
void
tx_run_cuts(struct tx *t, const struct proto_server_params *p, const struct policy *pol,
            const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
	static struct proto_server s;
	size_t i, from = 0;

	tx_reset(t);
	proto_server_init(&s, p);
	proto_server_greet(&s);
	for (i = 0; i <= ncuts && !t->done; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		char *piece = malloc(to > from ? to - from : 1);

		cr_assert_not_null(piece);
		memcpy(piece, in + from, to - from);
		proto_server_feed(&s, piece, to - from);
		tx_pump(&s, t, pol, piece, to - from);
		free(piece);
		from = to;
	}
	tx_drain(&s, t);
}

/* Run a session feeding chunk bytes at a time (0: all at once). */
void
tx_run(struct tx *t, const struct proto_server_params *p, const struct policy *pol,
       const char *in, size_t len, size_t chunk)
{
	static size_t cuts[1 << 17];
	size_t n = 0, at;

	if (chunk != 0)
		for (at = chunk; at < len; at += chunk) {
			cr_assert_lt(n, sizeof(cuts) / sizeof(cuts[0]));
			cuts[n++] = at;
		}
	tx_run_cuts(t, p, pol, in, len, cuts, n);
}

/* Run with the default params, all at once, input a C string. */
struct tx *
tx_simple(const struct policy *pol, const char *in)
{
	tx_run(&tx_a, &params_default, pol, in, strlen(in), 0);
	return &tx_a;
}

/* Returns the start of the last reply line in t->out. */
const char *
tx_last_reply(const struct tx *t)
{
	size_t i = t->out_len;

	if (i >= 2)
		i -= 2;
	while (i > 0 && t->out[i - 1] != '\n')
		i--;
	return t->out + i;
}

/* Both runs must have produced the same replies, events and body. */
void
tx_expect_same(const struct tx *got, const struct tx *want, const char *what)
{
	cr_expect_str_eq(got->out, want->out, "%s: replies differ", what);
	cr_expect_str_eq(got->log, want->log, "%s: events differ", what);
	cr_expect_eq(got->body_len, want->body_len, "%s: body length %zu, want %zu", what,
	             got->body_len, want->body_len);
	cr_expect(memcmp(got->body, want->body, want->body_len) == 0, "%s: body differs", what);
}

/* Run whole, then at every single cut, byte by byte and in 7-byte pieces. */
void
tx_expect_split_invariant(const struct proto_server_params *p, const struct policy *pol,
                          const char *in, size_t len)
{
	char what[64];
	size_t cut;

	tx_run(&tx_a, p, pol, in, len, 0);
	for (cut = 0; cut <= len; cut++) {
		snprintf(what, sizeof(what), "cut at %zu", cut);
		tx_run_cuts(&tx_b, p, pol, in, len, &cut, 1);
		tx_expect_same(&tx_b, &tx_a, what);
	}
	tx_run(&tx_b, p, pol, in, len, 1);
	tx_expect_same(&tx_b, &tx_a, "byte by byte");
	tx_run(&tx_b, p, pol, in, len, 7);
	tx_expect_same(&tx_b, &tx_a, "7-byte pieces");
}
