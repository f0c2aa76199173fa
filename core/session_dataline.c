/*
 * core/session_dataline.c - the data-line phase of filter processes
 * (smtpd-filters(7)) for one message of a session: when processes of the
 * listener registered data-line, the message (our Received: header and
 * the client's lines) goes to the first of them line by line, dot-stuffed
 * as SMTP carried it, then "."; what each returns (filter-dataline lines,
 * any number, ending with ".") goes to the next, and what the last returns
 * is unstuffed into the queue (through the senders masquerade rewrite), as
 * OpenSMTPD's smtp_session.c and lka_filter.c do. The end of the data is
 * answered only once the last "." came back. A process that dies or does
 * not answer in time fails the message with 451 (the transaction is
 * dropped, the session and the messages it committed before stay); a
 * line over the protocol's limit is 500 5.5.2; a message the filters made
 * larger than `smtp max-message-size` is 552 5.3.4. While the first
 * process's input is over FILTER_PROC_OUT_HIGH_BYTES the session reads
 * nothing more from its client. A listener without data-line processes
 * never allocates any of this (s->dl stays NULL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/filter_proc.h"
#include "core/log.h"
#include "core/session_int.h"

#define SESSION_DL_TEMPFAIL_TEXT "4.7.0 Temporary failure, try again later"

struct session_dl_stage {
	struct filter_req req;      /* the stream, pending with the process */
	struct session_dl *dl;
	unsigned k;                 /* position in the chain */
	int idx;                    /* the shard's instance */
	const char *name;           /* the process's, in the session's config */
	int ended;                  /* its "." came back */
};

struct session_dl {
	struct session *s;
	unsigned code;              /* != 0: the message failed, answered so */
	const char *text;
	int end_sent;               /* the client's end of data: "." went out */
	int waiting_end;            /* BODY_END waits for the last "." */
	int paused;                 /* the session waits for stage 0 to drain */
	struct proto_filter_lines in;   /* the message cut into lines */
	unsigned n;
	struct session_dl_stage st[];
};

/* The message fails with code text: every stream is dropped and a paused
 * session reads again (the rest of the data is read and dropped). Never
 * re-enters the session: the callbacks call session_dl_resume(). */
static void
session_dl_fail(struct session_dl *dl, unsigned code, const char *text, const char *why)
{
	if (dl->code != 0)
		return;
	log_warn("%016llx smtp filter data-line: %s", (unsigned long long)dl->s->id, why);
	dl->code = code;
	dl->text = text;
	for (unsigned k = 0; k < dl->n; k++)
		filter_proc_cancel(&dl->st[k].req);
	if (dl->paused) {
		dl->paused = 0;
		dl->s->filter_waiting = 0;
	}
}

/* After a process's callback: the end of data that waited is answered
 * once the message is whole or failed; a session that was paused (was_paused)
 * and no longer is reads again. dl may be gone afterwards. */
static void
session_dl_resume(struct session_dl *dl, int was_paused)
{
	struct session *s = dl->s;

	if (s->closing)
		return;   /* it ends; session_dataline_free() comes with it */
	if (dl->waiting_end && (dl->code != 0 || dl->st[dl->n - 1].ended)) {
		dl->waiting_end = 0;
		session_redispatch(s);   /* BODY_END again */
	} else if (was_paused && !dl->paused) {
		session_pump(s);
	}
}

/* A line for stage k (stuff: the message's own); fails the message when it
 * cannot go. */
static void
session_dl_send(struct session_dl *dl, unsigned k, const char *line, size_t len, int stuff)
{
	struct session_dl_stage *st = &dl->st[k];
	int r;

	if (dl->code != 0 || st->ended)
		return;
	r = filter_proc_stream_line(dl->s->shard, st->idx, &st->req, line, len, stuff);
	if (r < 0) {
		session_dl_fail(dl, 451, SESSION_DL_TEMPFAIL_TEXT, "a process cannot take the line");
	} else if (r == 1 && k == 0 && !dl->end_sent) {
		dl->paused = 1;   /* the client waits until the process read */
		dl->s->filter_waiting = 1;
		filter_proc_stream_drained(dl->s->shard, st->idx, &st->req);
	}
}

/* The last process's line into the message, without its stuffing. */
static void
session_dl_store(struct session_dl *dl, const char *line, size_t len)
{
	struct session *s = dl->s;
	const char *out;
	size_t n;
	uint64_t max = s->config->size_max;

	proto_filter_dataline_unstuff(line, len, &out, &n);
	if (session_body_append(s, out, n) < 0 || session_body_append(s, "\r\n", 2) < 0) {
		session_dl_fail(dl, 452, "4.3.1 Insufficient system storage", "queue write failed");
		return;
	}
	if (max != 0 && s->writer.size > max)
		session_dl_fail(dl, 552, "5.3.4 Message too big for system",
		                "the filtered message is over max-message-size");
}

/* A line stage k returned: to the next stage, or into the message. */
static void
session_dl_line(struct filter_req *req, const char *line, size_t len)
{
	struct session_dl_stage *st = container_of(req, struct session_dl_stage, req);
	struct session_dl *dl = st->dl;
	int end = len == 1 && line[0] == '.', was_paused = dl->paused;

	if (dl->code != 0 || st->ended)
		return;
	if (st->k + 1 < dl->n)
		session_dl_send(dl, st->k + 1, line, len, 0);   /* as it came, stuffed */
	else if (!end)
		session_dl_store(dl, line, len);
	if (end)
		st->ended = 1;
	session_dl_resume(dl, was_paused);
}

/* A stream failed (the process died, or did not answer in time). */
static void
session_dl_done(struct filter_req *req, const struct proto_filter_msg *m)
{
	struct session_dl_stage *st = container_of(req, struct session_dl_stage, req);
	struct session_dl *dl = st->dl;
	int was_paused = dl->paused;
	char why[RULES_NAME_BYTES_MAX + 64];

	(void)m;
	snprintf(why, sizeof why, "filter %s went away or did not answer in time", st->name);
	session_dl_fail(dl, 451, SESSION_DL_TEMPFAIL_TEXT, why);
	session_dl_resume(dl, was_paused);
}

/* Stage 0 read enough: the client's data flows again. */
static void
session_dl_drained(struct filter_req *req)
{
	struct session_dl_stage *st = container_of(req, struct session_dl_stage, req);
	struct session_dl *dl = st->dl;
	int was_paused = dl->paused;

	dl->paused = 0;
	dl->s->filter_waiting = 0;
	session_dl_resume(dl, was_paused);
}

/* See session_int.h. */
int
session_dataline_begin(struct session *s)
{
	const struct rules_config *c = s->config;
	const struct rules_listener *l;
	struct session_dl *dl;
	unsigned n = 0;
	int idx[RULES_FILTER_CHAIN_MAX];
	const char *name[RULES_FILTER_CHAIN_MAX];

	if (s->listener >= c->nlisteners || c->listeners[s->listener].nprocs == 0)
		return 0;
	l = &c->listeners[s->listener];
	for (unsigned i = 0; i < l->nprocs && n < RULES_FILTER_CHAIN_MAX; i++) {
		int j = filter_proc_find(s->shard, l->procs[i]);
		if (filter_proc_wants(s->shard, j, PROTO_FPHASE_DATA_LINE)) {
			name[n] = l->procs[i]->name;
			idx[n++] = j;
		}
	}
	if (n == 0)
		return 0;
	if ((dl = calloc(1, sizeof *dl + n * sizeof dl->st[0])) == NULL) {
		proto_server_answer(&s->proto, 451, "4.3.0", "Insufficient system resources");
		return 1;
	}
	dl->s = s;
	dl->n = n;
	s->dl = dl;
	for (unsigned k = 0; k < n; k++) {
		struct session_dl_stage *st = &dl->st[k];
		st->dl = dl;
		st->k = k;
		st->idx = idx[k];
		st->name = name[k];
		st->req.sid = s->id;
		st->req.done = session_dl_done;
		st->req.line = session_dl_line;
		st->req.drained = session_dl_drained;
		if (filter_proc_stream_open(s->shard, idx[k], &st->req) < 0) {
			log_warn("%016llx smtp filter=%s phase=data-line: not running",
			         (unsigned long long)s->id, name[k]);
			session_dataline_free(s);
			proto_server_answer(&s->proto, 451, NULL, SESSION_DL_TEMPFAIL_TEXT);
			return 1;
		}
	}
	return 0;
}

/* A line of the message: to the first process, stuffed. */
static int
session_dl_emit(void *arg, const char *line, size_t len)
{
	struct session_dl *dl = arg;

	session_dl_send(dl, 0, line, len, 1);
	return dl->code != 0 ? -1 : 0;
}

/* See session_int.h. */
void
session_dataline_write(struct session *s, const char *data, size_t len)
{
	struct session_dl *dl = s->dl;

	if (dl->code != 0 || dl->end_sent)
		return;
	if (proto_filter_lines_feed(&dl->in, data, len, session_dl_emit, dl) == -2)
		session_dl_fail(dl, 500, "5.5.2 Line too long", "a line over the protocol's limit");
}

/* See session_int.h. */
int
session_dataline_end(struct session *s)
{
	struct session_dl *dl = s->dl;

	if (dl == NULL)
		return 0;
	if (dl->code == 0 && !dl->end_sent) {
		if (proto_filter_lines_end(&dl->in, session_dl_emit, dl) == 0) {
			dl->end_sent = 1;
			session_dl_send(dl, 0, ".", 1, 0);
		}
	}
	if (dl->code != 0) {
		log_info("%016llx smtp failed-command command=\".\" result=\"%u %s\"",
		         (unsigned long long)s->id, dl->code, dl->text);
		proto_server_answer(&s->proto, (int)dl->code, NULL, dl->text);
		session_txn_reset(s);   /* frees dl */
		return 1;
	}
	if (!dl->st[dl->n - 1].ended) {
		dl->waiting_end = 1;   /* the question stays open */
		return 1;
	}
	return 0;
}

/* See session_int.h. */
void
session_dataline_free(struct session *s)
{
	struct session_dl *dl = s->dl;

	if (dl == NULL)
		return;
	for (unsigned k = 0; k < dl->n; k++)
		filter_proc_cancel(&dl->st[k].req);
	if (dl->paused)
		s->filter_waiting = 0;
	free(dl);
	s->dl = NULL;
}
