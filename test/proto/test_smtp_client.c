/*
 * test/proto/test_smtp_client.c - tests for proto/smtp_client.c and
 * proto/smtp_reply.c: scripted peers (what the client must send, what the
 * server answers) compared byte for byte, dot-stuffing at every split,
 * malformed and short replies (CVE-2020-8794), LMTP's per-recipient
 * answers, DSN parameters, and a seeded reply fuzz run.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_client.h"
#include "proto/smtp_reply.h"

/* One exchange: the bytes the client must have sent since the previous
 * step, then the server's answer. writes > 0 also checks how many SEND
 * events carried those bytes. */
struct step {
	const char *sent;
	const char *reply;
	int writes;
};

struct txn {
	const char *from;
	const char *rcpts[4];
	unsigned nrcpt;
	uint64_t size;
	const char *body;
	const char *const *many;  /* when set: nrcpt recipients from here */
};

struct script {
	const char *name;
	const struct step *steps; /* ends with a step whose sent is NULL */
	const struct txn *txns;
	unsigned ntxn;
	int quit;                 /* QUIT once the transactions are done */
	size_t chunk;             /* feed replies this many bytes at a time, 0 all */
	const char *events;       /* the event log the run must produce */
};

/* Set by a test before run_script(), cleared after: LMTP, and the DSN
 * parameters every transaction gets. */
static struct {
	int lmtp;
	const struct proto_client_dsn *dsn;
	const struct proto_client_mail_opts *mail;  /* when set, instead of dsn */
} script_opts;

struct result {
	char log[65536];
	size_t log_len;
	int done_code;
	char done_text[PROTO_CLIENT_REPLY_BYTES_MAX + 1];
	int closed_code;
	char closed_text[PROTO_CLIENT_REPLY_BYTES_MAX + 1];
	unsigned rcpt_events;
	int max_writes;           /* the most SEND events one step took */
};

/* Append one event to the log: "kind", "kind code" or "rcpt index code". */
static void
log_add(struct result *r, const char *kind, int index, int code)
{
	char item[64];
	int n;

	if (index >= 0)
		n = snprintf(item, sizeof(item), "%s %d %d", kind, index, code);
	else if (code >= 0)
		n = snprintf(item, sizeof(item), "%s %d", kind, code);
	else
		n = snprintf(item, sizeof(item), "%s", kind);
	cr_assert(r->log_len + (size_t)n + 2 < sizeof(r->log));
	if (r->log_len > 0) {
		memcpy(r->log + r->log_len, ", ", 2);
		r->log_len += 2;
	}
	memcpy(r->log + r->log_len, item, (size_t)n + 1);
	r->log_len += (size_t)n;
}

struct driver {
	struct proto_client c;
	char *sent;
	size_t sent_len, sent_cap;
	int writes;
};

static void
driver_take_out(struct driver *d)
{
	cr_assert_leq(d->c.out_len, (size_t)PROTO_CLIENT_OUT_BYTES_MAX);
	if (d->sent_len + d->c.out_len + 1 > d->sent_cap) {
		d->sent_cap = (d->sent_len + d->c.out_len + 1) * 2;
		d->sent = realloc(d->sent, d->sent_cap);
		cr_assert_not_null(d->sent);
	}
	memcpy(d->sent + d->sent_len, d->c.out, d->c.out_len);
	d->sent_len += d->c.out_len;
	d->sent[d->sent_len] = '\0';
	proto_client_out_sent(&d->c, d->c.out_len);
	d->writes++;
}

/* Feed a whole body as the caller would: send whenever body() stops. */
static void
driver_body(struct driver *d, const char *body)
{
	size_t len = strlen(body), off = 0;

	while (off < len) {
		size_t n = proto_client_body(&d->c, body + off, len - off);

		off += n;
		if (off < len) {
			cr_assert_gt(d->c.out_len, 0, "body() took nothing with room in out");
			driver_take_out(d);
		}
	}
	proto_client_body_end(&d->c);
}

/* At NEED_MORE: check what the client sent for this step, start its reply. */
static void
driver_step(struct driver *d, const struct script *s, unsigned step, struct result *r)
{
	const struct step *st = &s->steps[step];

	cr_assert_not_null(st->sent, "%s: client waits for more after the last step "
	                   "(it sent \"%s\")", s->name, d->sent_len ? d->sent : "");
	cr_assert_str_eq(d->sent_len ? d->sent : "", st->sent, "%s step %u: sent",
	                 s->name, step);
	if (st->writes > 0)
		cr_assert_eq(d->writes, st->writes, "%s step %u: %d writes, want %d",
		             s->name, step, d->writes, st->writes);
	if (d->writes > r->max_writes)
		r->max_writes = d->writes;
	d->sent_len = 0;
	d->writes = 0;
}

/* At READY: start the next transaction, or QUIT; returns 0 to stop. */
static int
driver_ready(struct driver *d, const struct script *s, unsigned *txn, int *quit)
{
	if (*txn < s->ntxn) {
		const struct txn *t = &s->txns[(*txn)++];

		const char *const *rcpts = t->many ? t->many : t->rcpts;

		if (script_opts.mail != NULL)
			cr_assert_eq(proto_client_mail_opts(&d->c, t->from, rcpts, t->nrcpt, t->size,
			                                    script_opts.mail), 0);
		else
			cr_assert_eq(proto_client_mail_dsn(&d->c, t->from, rcpts, t->nrcpt, t->size,
			                                   script_opts.dsn), 0);
		return 1;
	}
	if (s->quit && !*quit) {
		*quit = 1;
		proto_client_quit(&d->c);
		return 1;
	}
	return 0;
}

static void
run_script(const struct script *s, struct result *r)
{
	struct proto_client_params params = { .helo = "client.example", .lmtp = script_opts.lmtp };
	struct driver *d = calloc(1, sizeof(*d));
	const char *pending = "";
	size_t pending_len = 0;
	unsigned step = 0, txn = 0, iter;
	int quit = 0;

	cr_assert_not_null(d);
	memset(r, 0, sizeof(*r));
	proto_client_init(&d->c, &params);
	for (iter = 0; iter < 1000000; iter++) {
		struct proto_client_event e;
		enum proto_client_event_kind k = proto_client_next(&d->c, &e);

		cr_assert_leq(d->c.out_len, (size_t)PROTO_CLIENT_OUT_BYTES_MAX);
		if (k == PROTO_CEV_SEND) {
			driver_take_out(d);
		} else if (k == PROTO_CEV_NEED_MORE) {
			size_t n;

			if (pending_len == 0) {
				driver_step(d, s, step, r);
				pending = s->steps[step].reply;
				pending_len = strlen(pending);
				step++;
			}
			n = s->chunk && s->chunk < pending_len ? s->chunk : pending_len;
			proto_client_feed(&d->c, pending, n);
			pending += n;
			pending_len -= n;
		} else if (k == PROTO_CEV_READY) {
			log_add(r, "ready", -1, -1);
			if (!driver_ready(d, s, &txn, &quit))
				break;
		} else if (k == PROTO_CEV_RCPT) {
			log_add(r, "rcpt", (int)e.index, e.code);
			r->rcpt_events++;
		} else if (k == PROTO_CEV_LMTP_RCPT) {
			log_add(r, "lmtp", (int)e.index, e.code);
		} else if (k == PROTO_CEV_BODY) {
			log_add(r, "body", -1, -1);
			driver_body(d, s->txns[txn - 1].body);
		} else if (k == PROTO_CEV_TXN_DONE) {
			log_add(r, "done", -1, e.code);
			r->done_code = e.code;
			snprintf(r->done_text, sizeof(r->done_text), "%s", e.text);
		} else {
			cr_assert_eq(k, PROTO_CEV_CLOSED);
			log_add(r, "closed", -1, e.code);
			r->closed_code = e.code;
			snprintf(r->closed_text, sizeof(r->closed_text), "%s", e.text);
			break;
		}
	}
	cr_assert_lt(iter, 1000000, "%s: the machine loops", s->name);
	cr_assert_null(s->steps[step].sent, "%s: stopped before step %u (events %s)", s->name, step, r->log);
	cr_assert_eq(d->sent_len, 0, "%s: sent after the last step: %s", s->name, d->sent);
	if (s->events)
		cr_assert_str_eq(r->log, s->events, "%s: events %s, want %s", s->name, r->log,
		                 s->events);
	free(d->sent);
	free(d);
}


#define DONE(code) "done " #code
#define CLOSED(code) "closed " #code

#define GREET { "", "220 mx.example ESMTP\r\n", 0 }
#define EHLO_PIPE { "EHLO client.example\r\n", \
	"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n250 8BITMIME\r\n", 1 }
#define EHLO_PLAIN { "EHLO client.example\r\n", "250-mx.example\r\n250 SIZE\r\n", 1 }
#define END { NULL, NULL, 0 }

static const struct txn txn_two = {
	"a@example.org", { "b@example.net", "c@example.net" }, 2, 42,
	"Subject: x\r\n\r\nhi\r\n", NULL,
};

Test(smtp_client, pipelining_sends_one_group)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "250 2.0.0 queued as 1\r\n", 0 },
		{ "QUIT\r\n", "221 2.0.0 bye\r\n", 1 },
		END,
	};
	struct script s = { "pipelining", steps, &txn_two, 1, 1, 0,
		"ready, rcpt 0 250, rcpt 1 250, body, " DONE(250) ", ready, " CLOSED(221) };
	struct result r;
	size_t chunks[] = { 0, 1, 2, 3, 5, 7, 13 };
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		s.chunk = chunks[i];
		run_script(&s, &r);
		cr_expect_str_eq(r.done_text, "250 2.0.0 queued as 1", "chunk %zu", chunks[i]);
		cr_expect_str_eq(r.closed_text, "221 2.0.0 bye", "chunk %zu", chunks[i]);
	}
}

Test(smtp_client, no_pipelining_one_command_per_reply)
{
	static const struct step steps[] = {
		GREET, EHLO_PLAIN,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<c@example.net>\r\n", "250 ok\r\n", 1 },
		{ "DATA\r\n", "354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "250 ok\r\n", 0 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	struct script s = { "plain", steps, &txn_two, 1, 1, 0,
		"ready, rcpt 0 250, rcpt 1 250, body, " DONE(250) ", ready, " CLOSED(221) };
	struct result r;

	run_script(&s, &r);
	s.chunk = 1;
	run_script(&s, &r);
}

Test(smtp_client, helo_fallback_after_502)
{
	static const struct step steps[] = {
		GREET,
		{ "EHLO client.example\r\n", "502 5.5.2 command not recognized\r\n", 1 },
		{ "HELO client.example\r\n", "250 mx.example\r\n", 1 },
		{ "MAIL FROM:<a@example.org>\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<c@example.net>\r\n", "250 ok\r\n", 1 },
		{ "DATA\r\n", "354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "250 ok\r\n", 0 },
		END,
	};
	struct script s = { "helo", steps, &txn_two, 1, 0, 0,
		"ready, rcpt 0 250, rcpt 1 250, body, " DONE(250) ", ready" };
	struct result r;

	run_script(&s, &r);
}

Test(smtp_client, hello_refusals_close)
{
	static const struct step greet554[] = {
		{ "", "554-mx.example no service\r\n554 go away\r\n", 0 }, END,
	};
	static const struct step ehlo421[] = {
		GREET, { "EHLO client.example\r\n", "421 4.3.2 shutting down\r\n", 1 }, END,
	};
	static const struct step ehlo451[] = {
		GREET, { "EHLO client.example\r\n", "451 4.3.0 try later\r\n", 1 }, END,
	};
	static const struct step helo550[] = {
		GREET, { "EHLO client.example\r\n", "500 what\r\n", 1 },
		{ "HELO client.example\r\n", "550 not you\r\n", 1 }, END,
	};
	static const struct {
		const struct step *steps;
		const char *events, *text;
	} cases[] = {
		{ greet554, CLOSED(554), "554 go away" },
		{ ehlo421, CLOSED(421), "421 4.3.2 shutting down" },
		{ ehlo451, CLOSED(451), "451 4.3.0 try later" },
		{ helo550, CLOSED(550), "550 not you" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct script s = { "refusal", cases[i].steps, NULL, 0, 0, 0, cases[i].events };
		struct result r;

		run_script(&s, &r);
		cr_expect_str_eq(r.closed_text, cases[i].text, "case %zu", i);
	}
}

Test(smtp_client, two_transactions_one_connection)
{
	static const struct txn txns[] = {
		{ "a@example.org", { "b@example.net" }, 1, 0, "one\r\n", NULL },
		{ "", { "c@example.net" }, 1, 0, "two", NULL },
	};
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "one\r\n.\r\n", "250 ok 1\r\n", 0 },
		{ "MAIL FROM:<>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "two\r\n.\r\n", "250 ok 2\r\n", 0 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	struct script s = { "two", steps, txns, 2, 1, 0,
		"ready, rcpt 0 250, body, " DONE(250) ", ready, rcpt 0 250, body, "
		DONE(250) ", ready, " CLOSED(221) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "250 ok 2");
}

Test(smtp_client, mixed_rcpt_answers)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n550 5.1.1 <b@example.net>: no such user\r\n250 ok\r\n354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "250 2.0.0 queued\r\n", 0 },
		END,
	};
	struct script s = { "mixed", steps, &txn_two, 1, 0, 0,
		"ready, rcpt 0 550, rcpt 1 250, body, " DONE(250) ", ready" };
	struct result r;

	run_script(&s, &r);
}

Test(smtp_client, all_rcpts_refused_pipelined)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n550 5.1.1 no b\r\n451 4.7.1 greylisted c\r\n"
		  "554 5.5.1 no valid recipients\r\n", 1 },
		{ "RSET\r\n", "250 2.0.0 reset\r\n", 1 },
		END,
	};
	struct script s = { "allrefused", steps, &txn_two, 1, 0, 0,
		"ready, rcpt 0 550, rcpt 1 451, " DONE(451) ", ready" };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "451 4.7.1 greylisted c");
}

Test(smtp_client, all_rcpts_refused_without_pipelining)
{
	static const struct step steps[] = {
		GREET, EHLO_PLAIN,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "550 5.1.1 no b\r\n", 1 },
		{ "RCPT TO:<c@example.net>\r\n", "550 5.1.1 no c\r\n", 1 },
		{ "RSET\r\n", "250 ok\r\n", 1 },
		END,
	};
	struct script s = { "allrefused-plain", steps, &txn_two, 1, 0, 0,
		"ready, rcpt 0 550, rcpt 1 550, " DONE(550) ", ready" };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "550 5.1.1 no c");
}

/* RFC 2920 3.1: a server may accept DATA with no recipient; send "." */
Test(smtp_client, data_accepted_without_rcpt_gets_lone_dot)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n550 no b\r\n550 no c\r\n354 go\r\n", 1 },
		{ ".\r\n", "554 no valid recipients\r\n", 1 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	struct script s = { "lonedot", steps, &txn_two, 1, 1, 0,
		"ready, rcpt 0 550, rcpt 1 550, " DONE(550) ", ready, " CLOSED(221) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "550 no c");
}

Test(smtp_client, mail_refused)
{
	static const struct step piped[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "550 5.7.1 sender refused\r\n503 5.5.1 MAIL first\r\n250 odd\r\n"
		  "503 5.5.1 MAIL first\r\n", 1 },
		{ "RSET\r\n", "250 ok\r\n", 1 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	static const struct step plain[] = {
		GREET, EHLO_PLAIN,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\n", "550 5.7.1 sender refused\r\n", 1 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	struct script s = { "mailrefused", piped, &txn_two, 1, 1, 0,
		"ready, " DONE(550) ", ready, " CLOSED(221) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "550 5.7.1 sender refused");
	s.steps = plain;
	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "550 5.7.1 sender refused");
}

Test(smtp_client, reply_421_closes_anywhere)
{
	static const struct step in_group[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n421 4.7.0 too many errors\r\n", 1 },
		END,
	};
	static const struct step at_rcpt[] = {
		GREET, EHLO_PLAIN,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "421-4.7.0 closing\r\n421 4.7.0 bye\r\n", 1 },
		END,
	};
	static const struct step at_dot[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "421 4.3.0 out of disk\r\n", 0 },
		END,
	};
	static const struct step at_rset[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n550 no b\r\n550 no c\r\n503 no rcpt\r\n", 1 },
		{ "RSET\r\n", "421 4.3.0 bye\r\n", 1 },
		END,
	};
	static const struct {
		const struct step *steps;
		const char *events, *text;
	} cases[] = {
		{ in_group, "ready, " CLOSED(421), "421 4.7.0 too many errors" },
		{ at_rcpt, "ready, " CLOSED(421), "421 4.7.0 bye" },
		{ at_dot, "ready, rcpt 0 250, rcpt 1 250, body, " CLOSED(421),
		  "421 4.3.0 out of disk" },
		{ at_rset, "ready, rcpt 0 550, rcpt 1 550, " DONE(550) ", " CLOSED(421),
		  "421 4.3.0 bye" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct script s = { "421", cases[i].steps, &txn_two, 1, 0, 0,
		                    cases[i].events };
		struct result r;

		run_script(&s, &r);
		cr_expect_str_eq(r.closed_text, cases[i].text, "case %zu", i);
	}
}

/* Drive a fresh client to READY with the given EHLO answer. */
static void
client_ready(struct proto_client *c, const char *ehlo_reply)
{
	struct proto_client_params params = { .helo = "client.example", .lmtp = script_opts.lmtp };
	struct proto_client_event e;

	proto_client_init(c, &params);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
	proto_client_feed(c, "220 mx\r\n", 8);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	proto_client_out_sent(c, c->out_len);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
	proto_client_feed(c, ehlo_reply, strlen(ehlo_reply));
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_READY);
}

Test(smtp_client, unsolicited_replies_while_idle)
{
	static const struct {
		const char *reply;
		int code;
		const char *text;
	} cases[] = {
		{ "421 4.3.2 shutting down\r\n", 421, "421 4.3.2 shutting down" },
		{ "250 surprise\r\n", 0, "unexpected reply from the server" },
		{ "220 again\r\n", 0, "unexpected reply from the server" },
	};
	struct proto_client *c = malloc(sizeof(*c));
	struct proto_client_event e;
	size_t i;

	cr_assert_not_null(c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_ready(c, "250 mx\r\n");
		proto_client_feed(c, cases[i].reply, strlen(cases[i].reply));
		cr_expect_eq(proto_client_next(c, &e), PROTO_CEV_CLOSED);
		cr_expect_eq(e.code, cases[i].code, "case %zu: got %d", i, e.code);
		cr_expect_str_eq(e.text, cases[i].text);
		/* CLOSED stays CLOSED */
		cr_expect_eq(proto_client_next(c, &e), PROTO_CEV_CLOSED);
		cr_expect_eq(proto_client_mail(c, "a", (const char *const[]){ "b" }, 1, 0), -1);
	}
	free(c);
}

Test(smtp_client, extra_reply_after_end_of_data)
{
	static const struct txn t = { "a@x", { "b@y" }, 1, 0, "hi\r\n", NULL };
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "hi\r\n.\r\n", "250 ok\r\n250 extra\r\n", 0 },
		END,
	};
	struct script s = { "extra", steps, &t, 1, 0, 0,
		"ready, rcpt 0 250, body, " DONE(250) ", " CLOSED(0) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.closed_text, "unexpected reply from the server");
}

Test(smtp_client, size_exceeded_fails_locally)
{
	static const struct txn txns[] = {
		{ "a@x", { "b@y" }, 1, 5000, "big\r\n", NULL },
		{ "a@x", { "b@y" }, 1, 1000, "small\r\n", NULL },
	};
	static const struct step steps[] = {
		GREET,
		{ "EHLO client.example\r\n", "250-mx\r\n250-SIZE 1000\r\n250 PIPELINING\r\n", 1 },
		{ "MAIL FROM:<a@x> SIZE=1000\r\nRCPT TO:<b@y>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "small\r\n.\r\n", "250 ok\r\n", 0 },
		END,
	};
	struct script s = { "size", steps, txns, 2, 0, 0,
		"ready, " DONE(552) ", ready, rcpt 0 250, body, " DONE(250) ", ready" };
	struct result r;

	run_script(&s, &r);
	/* the first TXN_DONE text names the limit */
	s.ntxn = 1;
	s.steps = (const struct step[]){ steps[0], steps[1], END };
	s.events = "ready, " DONE(552) ", ready";
	run_script(&s, &r);
	cr_expect_str_eq(r.done_text,
	                 "552 5.3.4 message size 5000 exceeds the server's limit of 1000");
}

Test(smtp_client, quit_answered_otherwise_still_closes)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE, { "QUIT\r\n", "500 what\r\n", 1 }, END,
	};
	struct script s = { "quit", steps, NULL, 0, 1, 0, "ready, " CLOSED(500) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.closed_text, "500 what");
}

/* ---- body: dot-stuffing and line ends ---- */

/* Drive a fresh client to the BODY event (pipelined, one recipient). */
static void
client_at_body(struct proto_client *c)
{
	static const char *const rcpt[] = { "b@example.net" };
	static const char answers[] = "250 ok\r\n250 ok\r\n354 go\r\n";
	struct proto_client_event e;

	client_ready(c, "250-mx\r\n250 PIPELINING\r\n");
	cr_assert_eq(proto_client_mail(c, "a@example.org", rcpt, 1, 0), 0);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	proto_client_out_sent(c, c->out_len);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
	proto_client_feed(c, answers, sizeof(answers) - 1);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_RCPT);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_BODY);
}

/* Give body[0..i), [i..j), [j..len) in three calls; returns the bytes sent
 * up to and including the final dot line, in got. */
static void
body_in_pieces(struct proto_client *c, const char *body, size_t len, size_t i,
               size_t j, char *got, size_t got_max)
{
	size_t cuts[4] = { 0, i, j, len }, k, got_len = 0;
	struct proto_client_event e;

	client_at_body(c);
	for (k = 0; k < 3; k++) {
		size_t n = proto_client_body(c, body + cuts[k], cuts[k + 1] - cuts[k]);

		cr_assert_eq(n, cuts[k + 1] - cuts[k]);
	}
	proto_client_body_end(c);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	cr_assert_lt(c->out_len, got_max);
	memcpy(got, c->out, c->out_len);
	got_len = c->out_len;
	got[got_len] = '\0';
	proto_client_out_sent(c, c->out_len);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
}

Test(smtp_client, body_dot_stuffing_at_every_split)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ ".\r\n..x\r\n.\r", "..\r\n...x\r\n..\r\n.\r\n" },
		{ "", ".\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ "x.y\r\n.\r\n", "x.y\r\n..\r\n.\r\n" },
		{ "\r\n\r\n", "\r\n\r\n.\r\n" },
		/* RFC 5321 2.3.8: bare LF and bare CR leave as CRLF */
		{ "\n.\n", "\r\n..\r\n.\r\n" },
		{ "a\n.b\nc", "a\r\n..b\r\nc\r\n.\r\n" },
		{ "a\rb", "a\r\nb\r\n.\r\n" },
		{ "a\r.\r\n", "a\r\n..\r\n.\r\n" },
		{ "a\r\r\n", "a\r\n\r\n.\r\n" },
		{ "\r", "\r\n.\r\n" },
		{ "\n", "\r\n.\r\n" },
		{ "..\n\r\n.", "...\r\n\r\n..\r\n.\r\n" },
	};
	struct proto_client *c = malloc(sizeof(*c));
	char got[256];
	size_t n, i, j, len;

	cr_assert_not_null(c);
	for (n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		len = strlen(cases[n].body);
		for (i = 0; i <= len; i++) {
			for (j = i; j <= len; j++) {
				body_in_pieces(c, cases[n].body, len, i, j, got, sizeof(got));
				cr_assert_str_eq(got, cases[n].want, "body %zu split %zu,%zu", n, i, j);
			}
		}
	}
	free(c);
}

/* A body far larger than c->out: body() takes what fits, the rest later. */
Test(smtp_client, body_larger_than_out_buffer)
{
	struct proto_client *c = malloc(sizeof(*c));
	size_t body_len = 3 * PROTO_CLIENT_OUT_BYTES_MAX + 17, off = 0, got_len = 0, i;
	char *body = malloc(body_len), *got = malloc(2 * body_len + 8);
	char *want = malloc(2 * body_len + 8);
	size_t want_len = 0;
	struct proto_client_event e;
	int calls = 0;

	cr_assert(c && body && got && want);
	for (i = 0; i < body_len; i++)
		body[i] = (i % 7 == 0) ? '\n' : (i % 7 == 1) ? '.' : 'z';
	client_at_body(c);
	while (off < body_len) {
		off += proto_client_body(c, body + off, body_len - off);
		cr_assert_leq(c->out_len, (size_t)PROTO_CLIENT_OUT_BYTES_MAX);
		memcpy(got + got_len, c->out, c->out_len);
		got_len += c->out_len;
		proto_client_out_sent(c, c->out_len);
		cr_assert_lt(++calls, 100);
	}
	proto_client_body_end(c);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	memcpy(got + got_len, c->out, c->out_len);
	got_len += c->out_len;
	cr_expect_gt(calls, 3);
	/* the pattern is "\n.zzzzz" repeated: every LF becomes CRLF and every
	 * dot starts a line, so it is doubled; the body ends in LF */
	for (i = 0; i < body_len; i++)
		want_len += (size_t)snprintf(want + want_len, 3, "%s",
		                             body[i] == '\n' ? "\r\n" : body[i] == '.' ? ".." : "z");
	want_len += (size_t)snprintf(want + want_len, 4, ".\r\n");
	cr_expect_eq(got_len, want_len, "got %zu bytes, want %zu", got_len, want_len);
	cr_expect_eq(memcmp(got, want, want_len), 0);
	free(want);
	free(c);
	free(body);
	free(got);
}

Test(smtp_client, body_and_end_outside_body_state_do_nothing)
{
	struct proto_client *c = malloc(sizeof(*c));
	struct proto_client_event e;

	cr_assert_not_null(c);
	client_ready(c, "250 mx\r\n");
	cr_expect_eq(proto_client_body(c, "x", 1), 0);
	proto_client_body_end(c);
	cr_expect_eq(c->out_len, 0);
	cr_expect_eq(proto_client_next(c, &e), PROTO_CEV_READY);
	free(c);
}

/* ---- replies ---- */

Test(smtp_client, malformed_replies_close_with_code_0)
{
	static char long_line[PROTO_CLIENT_REPLY_BYTES_MAX + 8];
	static char one_over_lf[PROTO_CLIENT_REPLY_BYTES_MAX + 3]; /* 1025 + LF */
	static const struct {
		const char *reply, *text;
	} cases[] = {
		{ "22 hi\r\n", "malformed reply line (not \"ddd text\")" },
		{ "2200 hi\r\n", "malformed reply line (not \"ddd text\")" },
		{ "abc hi\r\n", "malformed reply line (not \"ddd text\")" },
		{ "220_hi\r\n", "malformed reply line (not \"ddd text\")" },
		{ "\r\n", "malformed reply line (not \"ddd text\")" },
		{ "620 x\r\n", "malformed reply line (not \"ddd text\")" },
		{ "180 x\r\n", "malformed reply line (not \"ddd text\")" },
		{ "290 x\r\n", "malformed reply line (not \"ddd text\")" },
		{ " 220 x\r\n", "malformed reply line (not \"ddd text\")" },
		{ "220-a\r\n221 b\r\n", "multi-line reply with differing codes" },
		{ "220-a\r\n220-b\r\n250 c\r\n", "multi-line reply with differing codes" },
		{ long_line, "reply line too long" },
		{ one_over_lf, "reply line too long" },
	};
	size_t i;

	memset(long_line, 'x', sizeof(long_line) - 3);
	memcpy(long_line, "220 ", 4);
	memcpy(long_line + sizeof(long_line) - 3, "\r\n", 3);
	memset(one_over_lf, 'z', sizeof(one_over_lf) - 2);
	memcpy(one_over_lf, "220 ", 4);
	memcpy(one_over_lf + sizeof(one_over_lf) - 2, "\n", 2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct step steps[] = { { "", cases[i].reply, 0 }, END };
		struct script s = { "malformed", steps, NULL, 0, 0, 0, CLOSED(0) };
		struct result r;

		run_script(&s, &r);
		cr_expect_str_eq(r.closed_text, cases[i].text, "case %zu", i);
		s.chunk = 1;
		run_script(&s, &r);
		cr_expect_str_eq(r.closed_text, cases[i].text, "case %zu bytewise", i);
	}
}

/* Valid forms beside the malformed ones: all open the session. */
Test(smtp_client, valid_greeting_forms)
{
	static char max_line[PROTO_CLIENT_REPLY_BYTES_MAX + 3];
	static const char *const greetings[] = {
		"220\r\n",
		"220 ok\n",
		"220-a\r\n220-b\r\n220 c\r\n",
		"220-\r\n220\r\n",
		max_line,
	};
	size_t i;

	memset(max_line, 'y', sizeof(max_line) - 3);
	memcpy(max_line, "220 ", 4);
	memcpy(max_line + sizeof(max_line) - 3, "\r\n", 3);
	for (i = 0; i < sizeof(greetings) / sizeof(greetings[0]); i++) {
		struct step steps[] = {
			{ "", greetings[i], 0 },
			{ "EHLO client.example\r\n", "250 mx\r\n", 1 },
			END,
		};
		struct script s = { "greeting", steps, NULL, 0, 0, 0, "ready" };
		struct result r;

		run_script(&s, &r);
	}
}

Test(smtp_client, malformed_reply_mid_session)
{
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\nOK then\r\n", 1 },
		END,
	};
	struct script s = { "midsession", steps, &txn_two, 1, 0, 0,
		"ready, rcpt 0 250, " CLOSED(0) };
	struct result r;

	run_script(&s, &r);
}

Test(smtp_client, ehlo_keywords)
{
	static const struct {
		const char *reply;
		unsigned ext;
		uint64_t size;
	} cases[] = {
		{ "250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
		  "250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
		  "250 AUTH PLAIN LOGIN\r\n",
		  PROTO_EXT_PIPELINING | PROTO_EXT_SIZE | PROTO_EXT_8BITMIME |
		  PROTO_EXT_STARTTLS | PROTO_EXT_ENHANCED | PROTO_EXT_AUTH, 35882577 },
		{ "250 mx.example\r\n", 0, 0 },
		{ "250-mx\r\n250-pipelining\r\n250 size\r\n",
		  PROTO_EXT_PIPELINING | PROTO_EXT_SIZE, 0 },
		{ "250-mx\r\n250-AUTH=LOGIN\r\n250 PIPELININGX\r\n", PROTO_EXT_AUTH, 0 },
		{ "250-mx PIPELINING\r\n250 HELP\r\n", 0, 0 },
		{ "250-mx\r\n250-SIZE abc\r\n250 HELP\r\n", PROTO_EXT_SIZE, 0 },
		{ "250-mx\r\n250-SIZE 99999999999999999999999\r\n250 HELP\r\n",
		  PROTO_EXT_SIZE, 0 },
		{ "250-mx\r\n250-SIZE 0\r\n250 8bitmime\r\n",
		  PROTO_EXT_SIZE | PROTO_EXT_8BITMIME, 0 },
		{ "250-mx\n250-PIPELINING\n250 SIZE 1024\n",
		  PROTO_EXT_PIPELINING | PROTO_EXT_SIZE, 1024 },
	};
	struct proto_client *c = malloc(sizeof(*c));
	size_t i;

	cr_assert_not_null(c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_ready(c, cases[i].reply);
		cr_expect_eq(c->ext, cases[i].ext, "case %zu: ext got %#x, want %#x", i,
		             c->ext, cases[i].ext);
		cr_expect_eq(c->peer_size_max, cases[i].size, "case %zu: size", i);
	}
	free(c);
}

/* A refused EHLO drops what its continuation lines announced. */
Test(smtp_client, helo_fallback_clears_extensions)
{
	struct proto_client *c = malloc(sizeof(*c));
	static const char *const r[] = { "b" };
	struct proto_client_event e;

	cr_assert_not_null(c);
	proto_client_init(c, &(struct proto_client_params){ .helo = "h" });
	proto_client_next(c, &e);
	proto_client_feed(c, "220 x\r\n", 7);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	proto_client_out_sent(c, c->out_len);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
	proto_client_feed(c, "550-PIPELINING\r\n550 no\r\n", 24);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	cr_expect_eq(c->ext, 0);
	proto_client_out_sent(c, c->out_len);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_NEED_MORE);
	proto_client_feed(c, "250 ok\r\n", 8);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_READY);
	cr_assert_eq(proto_client_mail(c, "a", r, 1, 0), 0);
	cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	cr_expect_eq(c->out_len, strlen("MAIL FROM:<a>\r\n"), "one command, not a group");
	free(c);
}

Test(smtp_client, multiline_final_reply_reports_last_line)
{
	static const struct txn t = { "a@x", { "b@y" }, 1, 0, "hi\r\n", NULL };
	static const struct step steps[] = {
		GREET, EHLO_PIPE,
		{ "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n354-go\r\n354 on\r\n", 1 },
		{ "hi\r\n.\r\n", "250-2.0.0 first line\r\n250-middle\r\n250 2.0.0 last line\r\n", 0 },
		END,
	};
	struct script s = { "multiline", steps, &t, 1, 0, 0,
		"ready, rcpt 0 250, body, " DONE(250) ", ready" };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "250 2.0.0 last line");
	s.chunk = 1;
	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "250 2.0.0 last line");
}

Test(smtp_client, reply_line_kinds)
{
	static const struct {
		const char *line;
		int kind, code;
	} cases[] = {
		{ "250 ok", PROTO_REPLY_LAST, 250 },
		{ "250-ok", PROTO_REPLY_MORE, 250 },
		{ "250", PROTO_REPLY_LAST, 250 },
		{ "554 ", PROTO_REPLY_LAST, 554 },
		{ "559-", PROTO_REPLY_MORE, 559 },
		{ "599-", PROTO_REPLY_BAD, 0 },
		{ "25", PROTO_REPLY_BAD, 0 },
		{ "250x", PROTO_REPLY_BAD, 0 },
		{ "650 x", PROTO_REPLY_BAD, 0 },
		{ "1xx x", PROTO_REPLY_BAD, 0 },
		{ "2a0 x", PROTO_REPLY_BAD, 0 },
		{ "26x x", PROTO_REPLY_BAD, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int code = 0, kind = proto_reply_line(cases[i].line, strlen(cases[i].line), &code);

		cr_expect_eq(kind, cases[i].kind, "\"%s\": kind got %d, want %d",
		             cases[i].line, kind, cases[i].kind);
		if (kind != PROTO_REPLY_BAD)
			cr_expect_eq(code, cases[i].code, "\"%s\": code %d", cases[i].line, code);
	}
}

/* ---- mail() arguments and big groups ---- */

Test(smtp_client, mail_argument_checks)
{
	static char long_addr[256];
	static const char *const one[] = { "b@y" };
	static const char *const bad_crlf[] = { "b@y>\r\nRSET" };
	static const char *const empty[] = { "" };
	static const char *const too_long[] = { long_addr };
	struct proto_client *c = malloc(sizeof(*c));
	struct proto_client_event e;

	cr_assert_not_null(c);
	memset(long_addr, 'l', 255);
	proto_client_init(c, &(struct proto_client_params){ .helo = "h" });
	cr_expect_eq(proto_client_mail(c, "a", one, 1, 0), -1, "before READY");
	client_ready(c, "250 mx\r\n");
	cr_expect_eq(proto_client_mail(c, "a", one, 0, 0), -1, "no recipient");
	cr_expect_eq(proto_client_mail(c, "a", one, PROTO_CLIENT_RCPT_MAX + 1, 0), -1);
	cr_expect_eq(proto_client_mail(c, "a", bad_crlf, 1, 0), -1, "CRLF injection");
	cr_expect_eq(proto_client_mail(c, "a\r\n", one, 1, 0), -1);
	cr_expect_eq(proto_client_mail(c, "a", empty, 1, 0), -1, "empty recipient");
	cr_expect_eq(proto_client_mail(c, "a", too_long, 1, 0), -1, "255-octet address");
	cr_expect_eq(proto_client_mail(c, long_addr, one, 1, 0), -1);
	long_addr[254] = '\0';
	cr_expect_eq(proto_client_mail(c, "a", too_long, 1, 0), 0, "254 octets fit");
	cr_expect_eq(proto_client_next(c, &e), PROTO_CEV_SEND);
	cr_expect_eq(proto_client_mail(c, "a", one, 1, 0), -1, "during a transaction");
	free(c);
}

Test(smtp_client, invalid_helo_closes)
{
	struct proto_client *c = malloc(sizeof(*c));
	struct proto_client_event e;

	cr_assert_not_null(c);
	proto_client_init(c, &(struct proto_client_params){ .helo = "bad\r\nname" });
	proto_client_next(c, &e);
	proto_client_feed(c, "220 x\r\n", 7);
	cr_expect_eq(proto_client_next(c, &e), PROTO_CEV_CLOSED);
	cr_expect_eq(e.code, 0);
	cr_expect_eq(c->out_len, 0, "nothing sent");
	free(c);
}

/* 1000 recipients of 254 octets do not fit c->out: several sends, exact
 * bytes, every answer reported. */
Test(smtp_client, thousand_long_rcpts_in_several_sends)
{
	static char addrs[PROTO_CLIENT_RCPT_MAX][255];
	static const char *rcpts[PROTO_CLIENT_RCPT_MAX];
	size_t want_cap = PROTO_CLIENT_RCPT_MAX * 300, reply_cap = PROTO_CLIENT_RCPT_MAX * 8 + 64;
	char *want = malloc(want_cap), *reply = malloc(reply_cap);
	struct txn t = { "a@x", { NULL }, PROTO_CLIENT_RCPT_MAX, 0, "hi\r\n", rcpts };
	struct step steps[] = {
		GREET, EHLO_PIPE, { want, reply, 0 }, { "hi\r\n.\r\n", "250 ok\r\n", 1 }, END,
	};
	struct script s = { "thousand", steps, &t, 1, 0, 0, NULL };
	struct result *r = malloc(sizeof(*r));
	size_t wl, rl, i;

	cr_assert(want && reply && r);
	wl = (size_t)snprintf(want, want_cap, "MAIL FROM:<a@x>\r\n");
	rl = (size_t)snprintf(reply, reply_cap, "250 ok\r\n");
	for (i = 0; i < PROTO_CLIENT_RCPT_MAX; i++) {
		memset(addrs[i], 'a' + (char)(i % 26), 254);
		snprintf(addrs[i] + 240, 15, "%05zu@example", i);
		rcpts[i] = addrs[i];
		wl += (size_t)snprintf(want + wl, want_cap - wl, "RCPT TO:<%s>\r\n", addrs[i]);
		rl += (size_t)snprintf(reply + rl, reply_cap - rl, "%s",
		                       i % 3 ? "250 ok\r\n" : "550 no\r\n");
	}
	snprintf(want + wl, want_cap - wl, "DATA\r\n");
	snprintf(reply + rl, reply_cap - rl, "354 go\r\n");
	run_script(&s, r);
	cr_expect_eq(r->rcpt_events, PROTO_CLIENT_RCPT_MAX);
	cr_expect_geq(r->max_writes, (int)(wl / PROTO_CLIENT_OUT_BYTES_MAX) + 1,
	              "%d writes for %zu bytes", r->max_writes, wl);
	cr_expect_eq(r->done_code, 250);
	cr_expect(strstr(r->log, "rcpt 998 250, rcpt 999 550, body, done 250, ready") != NULL);
	cr_expect(strncmp(r->log, "ready, rcpt 0 550, rcpt 1 250, rcpt 2 250, rcpt 3 550", 52) == 0);
	free(want);
	free(reply);
	free(r);
}

/* ---- seeded fuzz: random replies, random splits, random partial sends ---- */

struct fuzz {
	uint64_t seed;
	char stream[2048];
	size_t stream_len, fed;
	char prev;           /* last byte sent, for the CRLF check */
	unsigned nrcpt;
};

/* xorshift64*: a fixed seed gives the same run everywhere */
static unsigned
fuzz_below(struct fuzz *f, unsigned n)
{
	f->seed ^= f->seed >> 12;
	f->seed ^= f->seed << 25;
	f->seed ^= f->seed >> 27;
	return (unsigned)((f->seed * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static void
fuzz_make_stream(struct fuzz *f)
{
	static const char *const words[] = {
		"220 mx\r\n", "220-mx\r\n", "250 ok\r\n", "250-PIPELINING\r\n", "250-SIZE 100\r\n",
		"250-SIZE 0\r\n", "250 PIPELINING\r\n", "354 go\r\n", "421 bye\r\n", "451 later\r\n",
		"550 no\r\n", "503 seq\r\n", "221 bye\r\n", "502 no\r\n", "250\n", "250-", "\r\n",
		"x\r\n", "2", "\n", "554 go away\r\n", "250-mx\r\n",
	};
	static const char *const openings[] = {
		"220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 150\r\n",
		"220 mx\r\n250 mx\r\n",
		"220 mx\r\n502 no\r\n250 mx\r\n",
	};
	size_t n = sizeof(words) / sizeof(words[0]);

	f->stream_len = 0;
	f->fed = 0;
	if (fuzz_below(f, 4) != 0) {
		const char *o = openings[fuzz_below(f, 3)];

		memcpy(f->stream, o, strlen(o));
		f->stream_len = strlen(o);
	}
	while (f->stream_len + 64 < sizeof(f->stream) && fuzz_below(f, 40) != 0) {
		unsigned pick = fuzz_below(f, 40);

		if (pick < 38) {
			/* mostly the answers that move a transaction on */
			const char *w = pick < 14 ? "250 ok\r\n" : pick < 18 ? "354 go\r\n"
			                : words[fuzz_below(f, (unsigned)n)];

			memcpy(f->stream + f->stream_len, w, strlen(w));
			f->stream_len += strlen(w);
		} else if (pick == 38) {
			f->stream[f->stream_len++] = (char)fuzz_below(f, 256);
		} else {
			size_t run = sizeof(f->stream) - f->stream_len - 1;

			run = fuzz_below(f, 4) == 0 ? run : fuzz_below(f, 40);
			memset(f->stream + f->stream_len, 'x', run);
			f->stream_len += run;
		}
	}
}

/* Take part of c->out as a short send would; checks that every CR leaving
 * the client is followed by LF and every LF follows a CR (RFC 5321 2.3.8). */
static void
fuzz_send(struct fuzz *f, struct proto_client *c)
{
	size_t n = 1 + fuzz_below(f, (unsigned)c->out_len), i;

	cr_assert_leq(c->out_len, (size_t)PROTO_CLIENT_OUT_BYTES_MAX);
	for (i = 0; i < n; i++) {
		cr_assert(f->prev != '\r' || c->out[i] == '\n', "bare CR sent");
		cr_assert(c->out[i] != '\n' || f->prev == '\r', "bare LF sent");
		f->prev = c->out[i];
	}
	proto_client_out_sent(c, n);
}

static void
fuzz_body(struct fuzz *f, struct proto_client *c)
{
	static const char alphabet[] = ".\r\nab";
	char body[300];
	size_t len = fuzz_below(f, sizeof(body)), off = 0, i;

	for (i = 0; i < len; i++)
		body[i] = alphabet[fuzz_below(f, sizeof(alphabet) - 1)];
	while (off < len) {
		size_t piece = 1 + fuzz_below(f, (unsigned)(len - off));
		size_t took = proto_client_body(c, body + off, piece);

		off += took;
		if (took < piece)
			fuzz_send(f, c);
	}
	proto_client_body_end(c);
}

/* At READY: start a transaction, quit, or stop; returns 0 to stop. */
static int
fuzz_ready(struct fuzz *f, struct proto_client *c)
{
	static const char *const rcpts[] = { "a@x", "b@y", "c@z", "d@w", "e@v" };
	unsigned pick = fuzz_below(f, 20);

	if (pick == 0)
		return 0;
	if (pick == 1) {
		proto_client_quit(c);
		return 1;
	}
	f->nrcpt = 1 + fuzz_below(f, 5);
	cr_assert_eq(proto_client_mail(c, fuzz_below(f, 4) ? "s@x" : "", rcpts, f->nrcpt,
	                               fuzz_below(f, 200)), 0);
	return 1;
}

static unsigned fuzz_seen[PROTO_CEV_CLOSED + 1];

/* One session; returns when it closes, stops or the replies run out. */
static void
fuzz_session(struct fuzz *f, struct proto_client *c)
{
	struct proto_client_event e;
	unsigned iter;

	fuzz_make_stream(f);
	f->prev = 0;
	proto_client_init(c, &(struct proto_client_params){ .helo = "fuzz.example" });
	for (iter = 0; iter < 100000; iter++) {
		enum proto_client_event_kind k = proto_client_next(c, &e);

		fuzz_seen[k]++;
		cr_assert_leq(c->out_len, (size_t)PROTO_CLIENT_OUT_BYTES_MAX);
		if (k == PROTO_CEV_SEND) {
			cr_assert_gt(c->out_len, 0);
			fuzz_send(f, c);
		} else if (k == PROTO_CEV_NEED_MORE) {
			size_t n = 1 + fuzz_below(f, 64);

			if (f->fed == f->stream_len)
				return;
			if (n > f->stream_len - f->fed)
				n = f->stream_len - f->fed;
			proto_client_feed(c, f->stream + f->fed, n);
			f->fed += n;
		} else if (k == PROTO_CEV_READY) {
			if (!fuzz_ready(f, c))
				return;
		} else if (k == PROTO_CEV_BODY) {
			fuzz_body(f, c);
		} else if (k == PROTO_CEV_RCPT || k == PROTO_CEV_TXN_DONE) {
			cr_assert(e.code >= 200 && e.code <= 559, "code %d", e.code);
			cr_assert_not_null(e.text);
			cr_assert(k != PROTO_CEV_RCPT || e.index < f->nrcpt);
		} else {
			cr_assert_eq(k, PROTO_CEV_CLOSED);
			cr_assert(e.code == 0 || (e.code >= 200 && e.code <= 559), "code %d", e.code);
			cr_assert_not_null(e.text);
			cr_assert_eq(proto_client_next(c, &e), PROTO_CEV_CLOSED);
			return;
		}
	}
	cr_assert_fail("session did not finish in %u steps", iter);
}

Test(smtp_client, fuzz_random_replies)
{
	struct proto_client *c = malloc(sizeof(*c));
	struct fuzz f = { .seed = 0x5eed2920c0ffee01ULL };
	unsigned i;

	cr_assert_not_null(c);
	for (i = 0; i < 50000; i++)
		fuzz_session(&f, c);
	/* the run reached every kind of event, bodies included */
	for (i = 0; i <= PROTO_CEV_CLOSED; i++)
		cr_expect_gt(fuzz_seen[i], 50, "event kind %u seen %u times", i, fuzz_seen[i]);
	free(c);
}

/* ---- LMTP (RFC 2033) ---- */

static const struct txn txn_three = {
	"a@example.org", { "b@example.net", "c@example.net", "d@example.net" }, 3, 0,
	"Subject: x\r\n\r\nhi\r\n", NULL,
};

Test(smtp_client, lmtp_answers_per_recipient)
{
	static const struct step steps[] = {
		{ "", "220 lmtp.example LMTP\r\n", 0 },
		{ "LHLO client.example\r\n", "250-lmtp.example\r\n250 PIPELINING\r\n", 1 },
		{ "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n",
		  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n"
		  "354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n",
		  "250 2.0.0 b delivered\r\n452 4.2.2 d over quota\r\n", 0 },
		{ "QUIT\r\n", "221 bye\r\n", 0 },
		END,
	};
	struct script s = { "lmtp", steps, &txn_three, 1, 1, 0,
	                    "ready, rcpt 0 250, rcpt 1 550, rcpt 2 250, body, lmtp 0 250, lmtp 2 452, "
	                    DONE(452) ", ready, " CLOSED(221) };
	struct result r;

	script_opts.lmtp = 1;
	run_script(&s, &r);
	cr_expect_str_eq(r.done_text, "452 4.2.2 d over quota");
	s.chunk = 1;  /* the same, byte by byte */
	run_script(&s, &r);
}

Test(smtp_client, lmtp_has_no_helo_fallback)
{
	static const struct step steps[] = {
		{ "", "220 lmtp.example LMTP\r\n", 0 },
		{ "LHLO client.example\r\n", "500 5.5.1 what\r\n", 1 },
		END,
	};
	struct script s = { "lmtp-refused", steps, NULL, 0, 0, 0, CLOSED(500) };
	struct result r;

	script_opts.lmtp = 1;
	run_script(&s, &r);
}

Test(smtp_client, lmtp_421_mid_answers_closes)
{
	static const struct step steps[] = {
		{ "", "220 lmtp.example LMTP\r\n", 0 },
		{ "LHLO client.example\r\n", "250 lmtp.example\r\n", 1 },
		{ "MAIL FROM:<a@example.org>\r\n", "250 Ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "250 Ok\r\n", 1 },
		{ "RCPT TO:<c@example.net>\r\n", "250 Ok\r\n", 1 },
		{ "RCPT TO:<d@example.net>\r\n", "250 Ok\r\n", 1 },
		{ "DATA\r\n", "354 go\r\n", 1 },
		{ "Subject: x\r\n\r\nhi\r\n.\r\n", "250 b ok\r\n421 4.3.2 shutting down\r\n", 0 },
		END,
	};
	struct script s = { "lmtp-421", steps, &txn_three, 1, 0, 0,
	                    "ready, rcpt 0 250, rcpt 1 250, rcpt 2 250, body, lmtp 0 250, "
	                    CLOSED(421) };
	struct result r;

	script_opts.lmtp = 1;
	run_script(&s, &r);
}

/* ---- DSN parameters (RFC 3461) ---- */


static const unsigned dsn_notify[] = {
	PROTO_DSN_NOTIFY_SUCCESS | PROTO_DSN_NOTIFY_FAILURE, 0, PROTO_DSN_NOTIFY_NEVER,
};
static const char *const dsn_orcpt[] = { "rfc822;b+x@example.net", NULL, "d=1 @example.net" };
static const struct proto_client_dsn dsn_all = {
	PROTO_DSN_RET_HDRS, "QQ+1 =x", dsn_notify, dsn_orcpt,
};

Test(smtp_client, dsn_passed_on_when_offered)
{
	static const struct txn t = {
		"a@example.org", { "b@example.net", "c@example.net", "d@example.net" }, 3, 5,
		"x\r\n", NULL,
	};
	static const struct step steps[] = {
		GREET,
		{ "EHLO client.example\r\n", "250-mx.example\r\n250-PIPELINING\r\n250-SIZE\r\n"
		  "250 DSN\r\n", 1 },
		{ "MAIL FROM:<a@example.org> SIZE=5 RET=HDRS ENVID=QQ+2B1+20+3Dx\r\n"
		  "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.net\r\n"
		  "RCPT TO:<c@example.net>\r\n"
		  "RCPT TO:<d@example.net> NOTIFY=NEVER ORCPT=rfc822;d+3D1+20@example.net\r\n"
		  "DATA\r\n",
		  "250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n", 1 },
		{ "x\r\n.\r\n", "250 queued\r\n", 0 },
		END,
	};
	struct script s = { "dsn", steps, &t, 1, 0, 0, NULL };
	struct result r;

	script_opts.dsn = &dsn_all;
	run_script(&s, &r);
	cr_expect_eq(r.done_code, 250);
}

Test(smtp_client, dsn_dropped_when_not_offered)
{
	static const struct txn t = {
		"a@example.org", { "b@example.net", "c@example.net", "d@example.net" }, 3, 0,
		"x\r\n", NULL,
	};
	static const struct step steps[] = {
		GREET,
		EHLO_PIPE,
		{ "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
		  "RCPT TO:<d@example.net>\r\nDATA\r\n",
		  "250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n", 1 },
		{ "x\r\n.\r\n", "250 queued\r\n", 0 },
		END,
	};
	struct script s = { "dsn-off", steps, &t, 1, 0, 0, NULL };
	struct result r;

	script_opts.dsn = &dsn_all;
	run_script(&s, &r);
}

Test(smtp_client, dsn_values_checked)
{
	static struct proto_client c;
	static const char *const rcpts[] = { "b@example.net" };
	static char long_orcpt[600];
	static const char *orcpt[] = { long_orcpt };
	struct proto_client_dsn bad_envid = { 0, "a\r\nRCPT TO:<x@y>", NULL, NULL };
	static char envid[100];
	struct proto_client_dsn long_envid = { 0, envid, NULL, NULL };
	struct proto_client_dsn bad_orcpt = { 0, NULL, NULL, orcpt };

	memset(envid, 'e', 98);
	envid[97] = '+';  /* 96 octets, then "=+" as "+3D+2B": 102 > 100 */
	envid[96] = '=';
	memset(long_orcpt, 'o', 480);
	memcpy(long_orcpt, "rfc822;", 7);
	client_ready(&c, "250 mx\r\n");
	cr_expect_eq(proto_client_mail_dsn(&c, "a@b", rcpts, 1, 0, &bad_envid), -1,
	             "a CR or LF in ENVID");
	cr_expect_eq(proto_client_mail_dsn(&c, "a@b", rcpts, 1, 0, &long_envid), -1,
	             "ENVID over 100 octets once encoded");
	cr_expect_eq(proto_client_mail_dsn(&c, "a@b", rcpts, 1, 0, &bad_orcpt), 0,
	             "480 octets fit");
	client_ready(&c, "250 mx\r\n");
	memset(long_orcpt + 7, '+', 200);  /* each "+" becomes "+2B": 7 + 600 + 273 > 500 */
	cr_expect_eq(proto_client_mail_dsn(&c, "a@b", rcpts, 1, 0, &bad_orcpt), -1,
	             "ORCPT over 500 octets once encoded");
}

/* ---- BODY= and SMTPUTF8 (RFC 6152, RFC 6531) ---- */

static const struct proto_client_mail_opts mail_utf8 = {
	PROTO_BODY_8BITMIME, 1, &dsn_all,
};

Test(smtp_client, body_and_smtputf8_passed_on_when_offered)
{
	static const struct txn t = {
		"a@example.org", { "b\xc3\xb6" "b@example.net" }, 1, 0, "x\r\n", NULL,
	};
	static const struct step steps[] = {
		GREET,
		{ "EHLO client.example\r\n", "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		  "250 SMTPUTF8\r\n", 1 },
		{ "MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8\r\n"
		  "RCPT TO:<b\xc3\xb6" "b@example.net>\r\nDATA\r\n",
		  "250 Ok\r\n250 Ok\r\n354 go\r\n", 1 },
		{ "x\r\n.\r\n", "250 queued\r\n", 0 },
		END,
	};
	struct script s = { "utf8", steps, &t, 1, 0, 0, NULL };
	struct result r;

	script_opts.mail = &mail_utf8;
	run_script(&s, &r);
	script_opts.mail = NULL;
	cr_expect_eq(r.done_code, 250);
}

Test(smtp_client, utf8_path_to_a_peer_without_smtputf8_fails_locally)
{
	static const struct txn txns[] = {
		{ "a@example.org", { "b\xc3\xb6" "b@example.net" }, 1, 0, "x\r\n", NULL },
		{ "a@example.org", { "bob@example.net" }, 1, 0, "y\r\n", NULL },
	};
	static const struct step steps[] = {
		GREET,
		EHLO_PIPE,
		/* the ASCII one goes, without SMTPUTF8, with BODY=8BITMIME */
		{ "MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<bob@example.net>\r\n"
		  "DATA\r\n", "250 Ok\r\n250 Ok\r\n354 go\r\n", 1 },
		{ "y\r\n.\r\n", "250 queued\r\n", 0 },
		END,
	};
	struct script s = { "utf8-refused", steps, txns, 2, 0, 0,
		"ready, " DONE(553) ", ready, rcpt 0 250, body, " DONE(250) ", ready" };
	struct result r;

	script_opts.mail = &mail_utf8;
	run_script(&s, &r);
	s.ntxn = 1;
	s.steps = (const struct step[]){ steps[0], steps[1], END };
	s.events = "ready, " DONE(553) ", ready";
	run_script(&s, &r);
	script_opts.mail = NULL;
	cr_expect_str_eq(r.done_text, "553 5.6.7 the server does not support SMTPUTF8, needed "
	                 "for non-ASCII addresses");
}

/* ---- CHUNKING and BINARYMIME (RFC 3030) ---- */

#define EHLO_CHUNK_PIPE { "EHLO client.example\r\n", \
	"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 10000000\r\n", 1 }
#define EHLO_CHUNK_PLAIN { "EHLO client.example\r\n", \
	"250-mx.example\r\n250-CHUNKING\r\n250 8BITMIME\r\n", 1 }
#define EHLO_BINARY { "EHLO client.example\r\n", \
	"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 BINARYMIME\r\n", 1 }

/* 24 octets, sent as they are: a leading dot, a bare LF, no final CRLF */
#define RAW_BODY "Subject: x\r\n\r\n.hi\nthere."
static const struct txn txn_bdat = {
	"a@example.org", { "b@example.net", "c@example.net" }, 2, 24, RAW_BODY, NULL,
};
static const struct proto_client_mail_opts mail_binary = { PROTO_BODY_BINARYMIME, 0, NULL };

Test(smtp_client, bdat_pipelined_in_one_group_byte_for_byte)
{
	static const struct step steps[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no c\r\n250 2.0.0 queued\r\n", 0 },
		{ "QUIT\r\n", "221 2.0.0 bye\r\n", 1 },
		END,
	};
	struct script s = { "bdat", steps, &txn_bdat, 1, 1, 0,
		"ready, body, rcpt 0 250, rcpt 1 550, " DONE(250) ", ready, " CLOSED(221) };
	struct result r;
	size_t chunks[] = { 0, 1, 3, 7 };

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		s.chunk = chunks[i];
		run_script(&s, &r);
		cr_expect_str_eq(r.done_text, "250 2.0.0 queued", "chunk %zu", chunks[i]);
	}
}

Test(smtp_client, bdat_without_pipelining_after_the_rcpt_answers)
{
	static const struct step steps[] = {
		GREET, EHLO_CHUNK_PLAIN,
		{ "MAIL FROM:<a@example.org>\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<b@example.net>\r\n", "250 ok\r\n", 1 },
		{ "RCPT TO:<c@example.net>\r\n", "250 ok\r\n", 1 },
		{ "BDAT 24 LAST\r\n" RAW_BODY, "250 2.0.0 queued\r\n", 0 },
		{ "QUIT\r\n", "221 bye\r\n", 1 },
		END,
	};
	struct script s = { "bdat-plain", steps, &txn_bdat, 1, 1, 0,
		"ready, rcpt 0 250, rcpt 1 250, body, " DONE(250) ", ready, " CLOSED(221) };
	struct result r;

	run_script(&s, &r);
	s.chunk = 1;
	run_script(&s, &r);
}

Test(smtp_client, bdat_refusals_end_with_rset)
{
	static const struct step refused[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "250 ok\r\n250 ok\r\n250 ok\r\n554 5.7.1 content refused\r\n", 0 },
		{ "RSET\r\n", "250 2.0.0 reset\r\n", 1 },
		END,
	};
	static const struct step nobody[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "250 ok\r\n550 5.1.1 no b\r\n451 4.7.1 later c\r\n"
		  "503 5.5.1 no valid recipients\r\n", 0 },
		{ "RSET\r\n", "250 2.0.0 reset\r\n", 1 },
		END,
	};
	static const struct step nomail[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "452 4.3.1 queue full\r\n503 no\r\n503 no\r\n503 no\r\n", 0 },
		{ "RSET\r\n", "250 2.0.0 reset\r\n", 1 },
		END,
	};
	struct script s1 = { "bdat-refused", refused, &txn_bdat, 1, 0, 0,
		"ready, body, rcpt 0 250, rcpt 1 250, " DONE(554) ", ready" };
	struct script s2 = { "bdat-nobody", nobody, &txn_bdat, 1, 0, 0,
		"ready, body, rcpt 0 550, rcpt 1 451, " DONE(451) ", ready" };
	struct script s3 = { "bdat-nomail", nomail, &txn_bdat, 1, 0, 0,
		"ready, body, " DONE(452) ", ready" };
	struct result r;

	run_script(&s1, &r);
	cr_expect_str_eq(r.done_text, "554 5.7.1 content refused");
	run_script(&s2, &r);
	cr_expect_str_eq(r.done_text, "451 4.7.1 later c");
	run_script(&s3, &r);
	cr_expect_str_eq(r.done_text, "452 4.3.1 queue full");
}

Test(smtp_client, bdat_421_closes)
{
	static const struct step steps[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org> SIZE=24\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "250 ok\r\n250 ok\r\n250 ok\r\n421 4.4.2 timeout\r\n", 0 },
		END,
	};
	struct script s = { "bdat-421", steps, &txn_bdat, 1, 0, 0,
		"ready, body, rcpt 0 250, rcpt 1 250, " CLOSED(421) };
	struct result r;

	run_script(&s, &r);
	cr_expect_str_eq(r.closed_text, "421 4.4.2 timeout");
}

Test(smtp_client, data_without_a_size_or_over_lmtp)
{
	static const struct txn unsized = {
		"a@example.org", { "b@example.net" }, 1, 0, "hi\r\n", NULL,
	};
	static const struct step steps[] = {
		GREET, EHLO_CHUNK_PIPE,
		{ "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "hi\r\n.\r\n", "250 ok\r\n", 0 },
		END,
	};
	static const struct step lmtp[] = {
		GREET,
		{ "LHLO client.example\r\n", "250-lmtp\r\n250-PIPELINING\r\n250 CHUNKING\r\n", 1 },
		{ "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nDATA\r\n",
		  "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", 1 },
		{ "Subject: x\r\n\r\n..hi\r\nthere.\r\n.\r\n", "250 ok b\r\n250 ok c\r\n", 0 },
		END,
	};
	struct script s1 = { "unsized", steps, &unsized, 1, 0, 0,
		"ready, rcpt 0 250, body, " DONE(250) ", ready" };
	struct script s2 = { "lmtp-chunking", lmtp, &txn_bdat, 1, 0, 0,
		"ready, rcpt 0 250, rcpt 1 250, body, lmtp 0 250, lmtp 1 250, " DONE(250) ", ready" };
	struct result r;

	run_script(&s1, &r);
	script_opts.lmtp = 1;
	run_script(&s2, &r);
	script_opts.lmtp = 0;
}

Test(smtp_client, binarymime_by_bdat_to_a_binarymime_peer)
{
	static const struct step steps[] = {
		GREET, EHLO_BINARY,
		{ "MAIL FROM:<a@example.org> BODY=BINARYMIME\r\nRCPT TO:<b@example.net>\r\n"
		  "RCPT TO:<c@example.net>\r\nBDAT 24 LAST\r\n" RAW_BODY,
		  "250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n", 0 },
		END,
	};
	struct script s = { "binarymime", steps, &txn_bdat, 1, 0, 0,
		"ready, body, rcpt 0 250, rcpt 1 250, " DONE(250) ", ready" };
	struct result r;

	script_opts.mail = &mail_binary;
	run_script(&s, &r);
	script_opts.mail = NULL;
}

Test(smtp_client, binarymime_to_other_peers_fails_locally)
{
	static const char *const ehlos[] = {
		"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n",  /* no BINARYMIME */
		"250-mx\r\n250-PIPELINING\r\n250 BINARYMIME\r\n", /* no CHUNKING */
		"250-mx\r\n250 8BITMIME\r\n",
	};
	static const char *const rcpts[] = { "b@example.net" };

	for (size_t i = 0; i < sizeof(ehlos) / sizeof(ehlos[0]); i++) {
		static struct proto_client c;
		struct proto_client_event e;

		client_ready(&c, ehlos[i]);
		cr_assert_eq(proto_client_mail_opts(&c, "a@b", rcpts, 1, 10, &mail_binary), 0);
		cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_TXN_DONE, "case %zu", i);
		cr_expect_eq(e.code, 554);
		cr_expect_str_eq(e.text, "554 5.6.3 the server does not support BINARYMIME, "
		                 "needed to pass this message on unchanged");
		cr_expect_eq(c.out_len, 0, "case %zu: nothing sent", i);
		cr_expect_eq(proto_client_next(&c, &e), PROTO_CEV_READY);
		/* a size is needed to send BINARYMIME at all */
		cr_expect_eq(proto_client_mail_opts(&c, "a@b", rcpts, 1, 0, &mail_binary), -1);
	}
}

Test(smtp_client, bdat_body_shorter_than_its_size_closes)
{
	static struct proto_client c;
	static const char *const rcpts[] = { "b@example.net" };
	struct proto_client_event e;

	client_ready(&c, "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
	cr_assert_eq(proto_client_mail(&c, "a@b", rcpts, 1, 10), 0);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_SEND);
	cr_expect(strstr(c.out, "BDAT 10 LAST\r\n") != NULL);
	proto_client_out_sent(&c, c.out_len);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_BODY);
	cr_expect_eq(e.code, 0);
	cr_expect_eq(proto_client_body(&c, "0123456789abc", 13), 10, "never past the size");
	proto_client_out_sent(&c, c.out_len);
	proto_client_body_end(&c);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_NEED_MORE);

	client_ready(&c, "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
	cr_assert_eq(proto_client_mail(&c, "a@b", rcpts, 1, 10), 0);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_SEND);
	proto_client_out_sent(&c, c.out_len);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_BODY);
	cr_expect_eq(proto_client_body(&c, "01234", 5), 5);
	proto_client_body_end(&c);
	cr_assert_eq(proto_client_next(&c, &e), PROTO_CEV_CLOSED);
	cr_expect_eq(e.code, 0);
	cr_expect_str_eq(e.text, "message body shorter than its size");
}

/* ---- short reply lines (CVE-2020-8794) ---- */

Test(smtp_client, reply_lines_shorter_than_four_octets)
{
	static const struct {
		const char *ehlo_reply, *events, *text;
	} cases[] = {
		{ "250-mx\r\n2\r\n", CLOSED(0), "malformed reply line (not \"ddd text\")" },
		{ "250-mx\r\n25\r\n", CLOSED(0), "malformed reply line (not \"ddd text\")" },
		{ "250-mx\r\n\r\n", CLOSED(0), "malformed reply line (not \"ddd text\")" },
		{ "250-mx\r\n250-\r\n250\r\n", "ready", "" },  /* "ddd" alone ends a reply */
		{ "250\r\n", "ready", "" },
		{ "250-\r\n250 \r\n", "ready", "" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct step steps[] = {
			GREET, { "EHLO client.example\r\n", cases[i].ehlo_reply, 1 }, END,
		};
		struct script s = { "short", steps, NULL, 0, 0, 0, cases[i].events };
		struct result r;

		run_script(&s, &r);
		cr_expect_str_eq(r.closed_text, cases[i].text, "case %zu", i);
		s.chunk = 1;
		run_script(&s, &r);
	}
}

Test(smtp_client, ehlo_keywords_of_issue_4)
{
	uint64_t size = 0;

	cr_expect_eq(proto_reply_ehlo_keyword("DSN", 3, &size), PROTO_EXT_DSN);
	cr_expect_eq(proto_reply_ehlo_keyword("smtputf8", 8, &size), PROTO_EXT_SMTPUTF8);
	cr_expect_eq(proto_reply_ehlo_keyword("CHUNKING", 8, &size), PROTO_EXT_CHUNKING);
	cr_expect_eq(proto_reply_ehlo_keyword("BINARYMIME", 10, &size), PROTO_EXT_BINARYMIME);
	cr_expect_eq(proto_reply_ehlo_keyword("DSNX", 4, &size), 0);
}
