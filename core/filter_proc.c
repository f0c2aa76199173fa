/*
 * core/filter_proc.c - a shard's filter process instances: the handshake,
 * lines read and written on the shard's ring, requests matched to answers
 * by token, timeouts, deaths and restarts. See core/filter_proc.h.
 */
#include "core/filter_proc.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/filter_spawn.h"
#include "core/log.h"
#include "core/shard.h"
#include "rules/filter.h"
#include "rules/rules.h"

#define FILTER_IN_BYTES (PROTO_FILTER_LINE_BYTES_MAX + 1)
#define FILTER_BACKOFF_MS_MIN 1000
#define FILTER_BACKOFF_MS_MAX 60000
#define FILTER_SMTPD_VERSION "7.6.0"   /* what filters may compare against */

enum filter_state { FILTER_DOWN, FILTER_HANDSHAKE, FILTER_READY };

struct filter_inst {
	struct shard *shard;
	struct rules_proc proc;
	int fd;
	enum filter_state state;
	uint32_t phases, events;        /* registered, bit per enum value */
	uint32_t new_phases, new_events; /* during a handshake */
	int known;                      /* a handshake completed once */
	char *in;                       /* FILTER_IN_BYTES */
	size_t in_len;
	struct core_op recv_op, send_op;
	int receiving, sending;
	char *out;                      /* FILTER_PROC_OUT_BYTES_MAX */
	size_t out_len, out_busy;       /* busy: the first octets in a send */
	unsigned inflight;              /* ops on the ring for the current fd */
	uint64_t restart_at_ms, handshake_deadline_ms;
	unsigned backoff_ms;
	uint64_t reports_dropped;
	struct list_head pending;       /* struct filter_req */
};

struct filter_procs {
	struct filter_inst *v;
	unsigned n;
	uint64_t next_token;
	char *line;                     /* a line built, then copied into an output */
};

static void filter_recv_arm(struct filter_inst *f);
static void filter_flush(struct filter_inst *f);
static void filter_drained(struct filter_inst *f);
static int filter_line(struct filter_inst *f, const char *line, size_t len);

uint64_t
filter_proc_timeout_ms(void)
{
	const char *v = getenv("RINGMTA_FILTER_TIMEOUT_S");
	char *end;
	unsigned long s;

	if (v == NULL || *v == '\0')
		return FILTER_PROC_TIMEOUT_MS_DEFAULT;
	s = strtoul(v, &end, 10);
	return *end == '\0' && s > 0 && s < 86400 ? s * 1000 : FILTER_PROC_TIMEOUT_MS_DEFAULT;
}

/* Fail every pending request (done(NULL)). */
static void
filter_fail_pending(struct filter_inst *f)
{
	while (!list_empty(&f->pending)) {
		struct filter_req *r = container_of(f->pending.next, struct filter_req, node);
		list_del(&r->node);
		r->pending = 0;
		r->done(r, NULL);
	}
}

/* The process is gone or broken: close, fail what waits, restart later. */
static void
filter_down(struct filter_inst *f, const char *why)
{
	struct shard *sh = f->shard;

	if (f->fd < 0)
		return;
	log_warn("filter %s: %s; restarting in %u s", f->proc.name, why, f->backoff_ms / 1000);
	shutdown(f->fd, SHUT_RDWR);   /* ops in flight end; the fd closes when they did */
	f->state = FILTER_DOWN;
	f->restart_at_ms = sh->now_ms + f->backoff_ms;
	f->backoff_ms = f->backoff_ms * 2 > FILTER_BACKOFF_MS_MAX ? FILTER_BACKOFF_MS_MAX
	                                                          : f->backoff_ms * 2;
	f->out_len = f->out_busy = 0;
	f->in_len = 0;
	if (f->inflight == 0) {
		close(f->fd);
		f->fd = -1;
	}
	filter_fail_pending(f);
}

/* An op of the old fd ended: close it once none is left. */
static int
filter_op_end(struct filter_inst *f)
{
	f->inflight--;
	if (f->state == FILTER_DOWN && f->fd >= 0 && f->inflight == 0) {
		close(f->fd);
		f->fd = -1;
	}
	return f->state == FILTER_DOWN;
}

/* Append n octets to the output; 0, or -1 when the buffer is full. */
static int
filter_put(struct filter_inst *f, const char *s, size_t n)
{
	if (f->state == FILTER_DOWN || n > FILTER_PROC_OUT_BYTES_MAX - f->out_len)
		return -1;
	memcpy(f->out + f->out_len, s, n);
	f->out_len += n;
	filter_flush(f);
	return 0;
}

/* The output is low again: the streams that waited for it go on, one at
 * a time (each may write more, or end requests of this list). */
static void
filter_drained(struct filter_inst *f)
{
	while (f->state != FILTER_DOWN && f->out_len < FILTER_PROC_OUT_LOW_BYTES) {
		struct filter_req *r = NULL;
		struct list_head *pos;
		for (pos = f->pending.next; pos != &f->pending && r == NULL; pos = pos->next)
			if (container_of(pos, struct filter_req, node)->want_drain)
				r = container_of(pos, struct filter_req, node);
		if (r == NULL)
			return;
		r->want_drain = 0;
		r->drained(r);
	}
}

static void
filter_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct filter_inst *f = container_of(op, struct filter_inst, send_op);

	f->sending = 0;
	if (filter_op_end(f))
		return;
	if (res <= 0) {
		filter_down(f, res < 0 ? strerror(-res) : "write returned 0");
		return;
	}
	memmove(f->out, f->out + res, f->out_len - (size_t)res);
	f->out_len -= (size_t)res;
	f->out_busy = 0;
	filter_flush(f);
	filter_drained(f);
}

static void
filter_flush(struct filter_inst *f)
{
	struct io_uring_sqe *sqe;

	if (f->sending || f->out_len == 0 || f->fd < 0 || f->state == FILTER_DOWN)
		return;
	sqe = shard_sqe(f->shard);
	io_uring_prep_send(sqe, f->fd, f->out, f->out_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &f->send_op);
	f->out_busy = f->out_len;
	f->sending = 1;
	f->inflight++;
}

/* Take every complete line of the input; -1 when the filter broke. */
static int
filter_lines(struct filter_inst *f)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(f->in + start, '\n', f->in_len - start)) != NULL) {
		if (filter_line(f, f->in + start, (size_t)(nl - (f->in + start))) < 0)
			return -1;
		if (f->state == FILTER_DOWN)
			return -1;
		start = (size_t)(nl - f->in) + 1;
	}
	memmove(f->in, f->in + start, f->in_len - start);
	f->in_len -= start;
	if (f->in_len >= FILTER_IN_BYTES) {
		filter_down(f, "a line longer than the protocol allows");
		return -1;
	}
	return 0;
}

static void
filter_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct filter_inst *f = container_of(op, struct filter_inst, recv_op);

	f->receiving = 0;
	if (filter_op_end(f))
		return;
	if (res <= 0) {
		filter_down(f, res < 0 ? strerror(-res) : "exited");
		return;
	}
	f->in_len += (size_t)res;
	if (filter_lines(f) < 0)
		return;
	filter_recv_arm(f);
}

static void
filter_recv_arm(struct filter_inst *f)
{
	struct io_uring_sqe *sqe;

	if (f->receiving || f->fd < 0 || f->state == FILTER_DOWN)
		return;
	sqe = shard_sqe(f->shard);
	io_uring_prep_recv(sqe, f->fd, f->in + f->in_len, FILTER_IN_BYTES - f->in_len, 0);
	io_uring_sqe_set_data(sqe, &f->recv_op);
	f->receiving = 1;
	f->inflight++;
}

/* A register line during the handshake; 0 or -1. */
static int
filter_register(struct filter_inst *f, const struct proto_filter_msg *m)
{
	if (f->state != FILTER_HANDSHAKE) {
		filter_down(f, "register after the handshake");
		return -1;
	}
	if (m->kind == PROTO_FMSG_REGISTER_READY) {
		f->phases = f->new_phases;
		f->events = f->new_events;
		f->known = 1;
		f->state = FILTER_READY;
		f->backoff_ms = FILTER_BACKOFF_MS_MIN;
		log_info("filter %s: ready (shard %u)", f->proc.name, f->shard->index);
		return 0;
	}
	if (m->index == -2) {
		log_warn("filter %s: registered \"%.*s\", which this smtpd does not know: ignored",
		         f->proc.name, (int)m->param_len, m->param);
		return 0;
	}
	if (m->kind == PROTO_FMSG_REGISTER_REPORT)
		f->new_events |= m->index < 0 ? (1u << PROTO_FEVENTS) - 1 : 1u << m->index;
	else
		f->new_phases |= 1u << m->index;
	return 0;
}

/* An answer: the pending request with its token. */
static void
filter_answer(struct filter_inst *f, const struct proto_filter_msg *m)
{
	struct list_head *pos;

	for (pos = f->pending.next; pos != &f->pending; pos = pos->next) {
		struct filter_req *r = container_of(pos, struct filter_req, node);
		if (r->token != m->token || r->sid != m->sid)
			continue;
		if ((r->line != NULL) != (m->kind == PROTO_FMSG_DATALINE)) {
			log_warn("filter %s: a %s for token %016" PRIx64 ", which waits for a %s",
			         f->proc.name, m->kind == PROTO_FMSG_DATALINE ? "filter-dataline" :
			         "filter-result", m->token, r->line != NULL ? "filter-dataline" :
			         "filter-result");
			return;
		}
		if (r->line != NULL) {
			if (m->param_len == 1 && m->param[0] == '.') {   /* the stream ends */
				list_del(&r->node);
				r->pending = 0;
			} else if (r->deadline_ms != UINT64_MAX) {
				r->deadline_ms = f->shard->now_ms + filter_proc_timeout_ms();
			}
			r->line(r, m->param, m->param_len);   /* r may be gone after it */
			return;
		}
		list_del(&r->node);
		r->pending = 0;
		r->done(r, m);
		return;
	}
	log_debug("filter %s: an answer for token %016" PRIx64 " nobody waits for",
	          f->proc.name, m->token);
}

/* One line from the process; -1 when it broke the protocol. */
static int
filter_line(struct filter_inst *f, const char *line, size_t len)
{
	struct proto_filter_msg m;

	if (proto_filter_parse(line, len, &m) < 0) {
		log_warn("filter %s: malformed line \"%.*s\"", f->proc.name,
		         (int)(len > 200 ? 200 : len), line);
		filter_down(f, "protocol error");
		return -1;
	}
	switch (m.kind) {
	case PROTO_FMSG_REGISTER_REPORT:
	case PROTO_FMSG_REGISTER_FILTER:
	case PROTO_FMSG_REGISTER_READY:
		return filter_register(f, &m);
	case PROTO_FMSG_REPORT:
		log_info("%016" PRIx64 " smtp filter-report filter=%s message=\"%.*s\"", m.sid,
		         f->proc.name, (int)m.param_len, m.param);
		return 0;
	case PROTO_FMSG_RESULT:
	case PROTO_FMSG_DATALINE:
		if (f->state != FILTER_READY) {
			filter_down(f, "an answer before register|ready");
			return -1;
		}
		filter_answer(f, &m);
		return 0;
	}
	return 0;
}

/* Start (or restart) instance f: the helper forks it; the config lines
 * go out and the handshake is awaited. 0 or -1 (f stays down). */
static int
filter_launch(struct filter_inst *f, int sync)
{
	char why[256], cfg[256];
	pid_t pid = -1;
	int fd, n;

	if (filter_spawn(&f->proc, &fd, &pid, why, sizeof why) < 0) {
		log_warn("filter %s: cannot start: %s", f->proc.name, why);
		return -1;
	}
	f->fd = fd;
	f->state = FILTER_HANDSHAKE;
	f->new_phases = f->new_events = 0;
	f->in_len = f->out_len = f->out_busy = 0;
	f->handshake_deadline_ms = f->shard->now_ms + FILTER_PROC_HANDSHAKE_MS;
	n = proto_filter_config(cfg, sizeof cfg, FILTER_SMTPD_VERSION,
	                        f->shard->config->idle_timeout_s);
	if (n < 0)
		return -1;
	if (sync) {   /* filter_handshake_now() writes it */
		memcpy(f->out, cfg, (size_t)n);
		f->out_len = (size_t)n;
	} else if (filter_put(f, cfg, (size_t)n) < 0) {
		return -1;
	}
	log_info("filter %s: started pid %ld (shard %u)", f->proc.name, (long)pid,
	         f->shard->index);
	return 0;
}

/* At start, before the ring runs: the handshake done with blocking reads. */
static int
filter_handshake_now(struct filter_inst *f)
{
	uint64_t deadline = shard_clock_ms() + FILTER_PROC_HANDSHAKE_MS;
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	size_t off = 0;
	ssize_t n;

	while (off < f->out_len) {
		n = send(f->fd, f->out + off, f->out_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	f->out_len = 0;
	while (f->state == FILTER_HANDSHAKE) {
		uint64_t now = shard_clock_ms();
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return -1;
		n = recv(f->fd, f->in + f->in_len, FILTER_IN_BYTES - f->in_len, 0);
		if (n <= 0)
			return -1;
		f->in_len += (size_t)n;
		if (filter_lines(f) < 0)
			return -1;
	}
	return f->state == FILTER_READY ? 0 : -1;
}

int
filter_proc_start(struct shard *sh)
{
	const struct rules_config *c = sh->daemon->config;
	struct filter_procs *fp;

	if (c->nprocs == 0)
		return 0;
	if ((fp = calloc(1, sizeof *fp)) == NULL ||
	    (fp->v = calloc(c->nprocs, sizeof *fp->v)) == NULL ||
	    (fp->line = malloc(PROTO_FILTER_LINE_BYTES_MAX + 1)) == NULL) {
		if (fp != NULL)
			free(fp->v);
		free(fp);
		snprintf(sh->setup_message, sizeof sh->setup_message, "out of memory");
		return -1;
	}
	sh->filters = fp;
	fp->next_token = ((uint64_t)sh->index << 56) | 1;
	for (unsigned i = 0; i < c->nprocs; i++) {
		struct filter_inst *f = &fp->v[fp->n++];
		f->shard = sh;
		f->proc = c->procs[i];
		f->fd = -1;
		f->backoff_ms = FILTER_BACKOFF_MS_MIN;
		f->recv_op.complete = filter_recv_complete;
		f->send_op.complete = filter_send_complete;
		list_init(&f->pending);
		f->in = malloc(FILTER_IN_BYTES);
		f->out = malloc(FILTER_PROC_OUT_BYTES_MAX);
		if (f->in == NULL || f->out == NULL || filter_launch(f, 1) < 0 ||
		    filter_handshake_now(f) < 0) {
			snprintf(sh->setup_message, sizeof sh->setup_message,
			         "%s:%u: filter %s: did not start and register within %u s", c->file,
			         f->proc.line, f->proc.name, FILTER_PROC_HANDSHAKE_MS / 1000);
			return -1;
		}
		filter_recv_arm(f);
	}
	return 0;
}

void
filter_proc_tick(struct shard *sh)
{
	struct filter_procs *fp = sh->filters;

	for (unsigned i = 0; fp != NULL && i < fp->n; i++) {
		struct filter_inst *f = &fp->v[i];
		struct list_head *pos, *tmp;
		if (f->state == FILTER_DOWN && f->fd < 0 && !sh->stopping &&
		    sh->now_ms >= f->restart_at_ms) {
			if (filter_launch(f, 0) < 0) {
				f->state = FILTER_DOWN;
				if (f->fd >= 0)
					filter_down(f, "start failed");
				else
					f->restart_at_ms = sh->now_ms + f->backoff_ms;
				continue;
			}
			filter_recv_arm(f);
		}
		if (f->state == FILTER_HANDSHAKE && sh->now_ms >= f->handshake_deadline_ms) {
			filter_down(f, "no register|ready in time");
			continue;
		}
		for (pos = f->pending.next, tmp = pos->next; pos != &f->pending;
		     pos = tmp, tmp = pos->next) {
			struct filter_req *r = container_of(pos, struct filter_req, node);
			if (sh->now_ms < r->deadline_ms)
				continue;
			log_warn("filter %s: no answer for session %016" PRIx64 " in %" PRIu64 " s",
			         f->proc.name, r->sid, filter_proc_timeout_ms() / 1000);
			list_del(&r->node);
			r->pending = 0;
			r->done(r, NULL);
		}
	}
}

void
filter_proc_free(struct shard *sh)
{
	struct filter_procs *fp = sh->filters;

	if (fp == NULL)
		return;
	for (unsigned i = 0; i < fp->n; i++) {
		filter_fail_pending(&fp->v[i]);
		if (fp->v[i].fd >= 0)
			close(fp->v[i].fd);
		free(fp->v[i].in);
		free(fp->v[i].out);
	}
	free(fp->v);
	free(fp->line);
	free(fp);
	sh->filters = NULL;
}

int
filter_proc_find(const struct shard *sh, const struct rules_proc *p)
{
	const struct filter_procs *fp = sh->filters;

	for (unsigned i = 0; fp != NULL && i < fp->n; i++)
		if (strcmp(fp->v[i].proc.name, p->name) == 0)
			return (int)i;
	return -1;
}

int
filter_proc_wants(const struct shard *sh, int i, enum proto_filter_phase ph)
{
	const struct filter_procs *fp = sh->filters;

	return fp != NULL && i >= 0 && (unsigned)i < fp->n && fp->v[i].known &&
	       (fp->v[i].phases & (1u << ph)) != 0;
}

/* Now as the protocol writes it. */
static void
filter_now(struct proto_filter_ts *ts)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	ts->sec = t.tv_sec;
	ts->usec = (uint32_t)(t.tv_nsec / 1000);
}

int
filter_proc_ask(struct shard *sh, int i, struct filter_req *req, enum proto_filter_phase ph,
                const char *const *params, unsigned n)
{
	struct filter_procs *fp = sh->filters;
	struct proto_filter_ts ts;
	struct filter_inst *f;
	char *buf;
	int len;

	if (fp == NULL || i < 0 || (unsigned)i >= fp->n || fp->v[i].state != FILTER_READY)
		return -1;
	buf = fp->line;
	f = &fp->v[i];
	filter_now(&ts);
	req->token = fp->next_token++;
	len = proto_filter_request(buf, PROTO_FILTER_LINE_BYTES_MAX + 1, &ts, ph, req->sid,
	                           req->token, params, n);
	if (len < 0 || filter_put(f, buf, (size_t)len) < 0)
		return -1;
	req->deadline_ms = sh->now_ms + filter_proc_timeout_ms();
	req->pending = 1;
	list_add_tail(&f->pending, &req->node);
	return 0;
}

void
filter_proc_report(struct shard *sh, const struct rules_proc *const *procs, unsigned n,
                   enum proto_filter_event ev, uint64_t sid, const char *const *params,
                   unsigned nparams)
{
	char *buf = sh->filters != NULL ? sh->filters->line : NULL;
	struct proto_filter_ts ts;
	int len = -1, idx;

	for (unsigned k = 0; k < n; k++) {
		idx = filter_proc_find(sh, procs[k]);
		if (idx < 0)
			continue;
		struct filter_inst *f = &sh->filters->v[idx];
		if (f->state != FILTER_READY || !(f->events & (1u << ev)))
			continue;
		if (len < 0) {
			filter_now(&ts);
			len = proto_filter_report(buf, PROTO_FILTER_LINE_BYTES_MAX + 1, &ts, ev, sid,
			                          params, nparams);
			if (len < 0)
				return;
		}
		if (filter_put(f, buf, (size_t)len) < 0 && f->reports_dropped++ % 1000 == 0)
			log_warn("filter %s: output full, reports dropped", f->proc.name);
	}
}

/* The instance i of sh when it runs, else NULL. */
static struct filter_inst *
filter_running(struct shard *sh, int i)
{
	struct filter_procs *fp = sh->filters;

	if (fp == NULL || i < 0 || (unsigned)i >= fp->n || fp->v[i].state != FILTER_READY)
		return NULL;
	return &fp->v[i];
}

int
filter_proc_stream_open(struct shard *sh, int i, struct filter_req *req)
{
	struct filter_inst *f = filter_running(sh, i);

	if (f == NULL)
		return -1;
	req->token = sh->filters->next_token++;
	req->deadline_ms = UINT64_MAX;   /* until the "." went out */
	req->want_drain = 0;
	req->pending = 1;
	list_add_tail(&f->pending, &req->node);
	return 0;
}

int
filter_proc_stream_line(struct shard *sh, int i, struct filter_req *req, const char *line,
                        size_t len, int stuff)
{
	struct filter_inst *f = filter_running(sh, i);
	struct proto_filter_ts ts;
	int n;

	if (f == NULL || !req->pending)
		return -1;
	filter_now(&ts);
	n = proto_filter_dataline(sh->filters->line, PROTO_FILTER_LINE_BYTES_MAX + 1, &ts,
	                          req->sid, req->token, line, len, stuff);
	if (n < 0 || filter_put(f, sh->filters->line, (size_t)n) < 0)
		return -1;
	if (!stuff && len == 1 && line[0] == '.')
		req->deadline_ms = sh->now_ms + filter_proc_timeout_ms();
	return f->out_len > FILTER_PROC_OUT_HIGH_BYTES ? 1 : 0;
}

void
filter_proc_stream_drained(struct shard *sh, int i, struct filter_req *req)
{
	/* asked after a line passed the high mark, so not low now: the
	 * callback comes from a send's completion, never from this call */
	req->want_drain = filter_running(sh, i) != NULL && req->pending;
}

void
filter_proc_cancel(struct filter_req *req)
{
	if (req->pending)
		list_del(&req->node);
	req->pending = 0;
	req->want_drain = 0;
}
