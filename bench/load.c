/*
 * bench/load.c - the load generator's engine: loaders, their sessions and
 * the SMTP client loop on io_uring. See bench/load.h; TLS and the PROXY
 * header of a session are in bench/load_tls.c.
 */
#include "bench/load.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/load_int.h"
#include "bench/replyparse.h"
#include "bench/ring.h"

#define LOAD_RING_ENTRIES 4096
#define LOAD_SCAN_NS 100000000ull          /* timeouts and retries: every 100 ms */
#define LOAD_RETRY_NS 100000000ull         /* reconnect 100 ms after a failed connect */

enum { MSG_OK, MSG_REJECTED, MSG_FAILED };
enum { TAKE_OK, TAKE_WAIT, TAKE_DONE };

static atomic_int bench_load_stopped;

static void lsession_next_message(struct bench_lsession *s);

static const char *const stage_names[BENCH_STAGE_COUNT] = {
	"connect", "greeting", "ehlo", "starttls", "tls", "auth", "mail", "rcpt", "data", "dot",
	"rset", "quit", "message",
};
static const char *const err_names[BENCH_ERR_COUNT] = {
	"connect", "timeout", "eof", "recv", "send", "protocol", "closed_421", "tls",
};

/* The name of a stage. */
const char *
bench_stage_name(enum bench_stage st)
{
	return (unsigned)st < BENCH_STAGE_COUNT ? stage_names[st] : "?";
}

/* The name of an error kind. */
const char *
bench_err_name(enum bench_err e)
{
	return (unsigned)e < BENCH_ERR_COUNT ? err_names[e] : "?";
}

/* From any thread or a signal handler: stop starting messages. */
void
bench_load_stop(void)
{
	atomic_store(&bench_load_stopped, 1);
}

/* The Message-ID of message seq of loader thread. */
int
bench_load_msgid(const struct bench_load_config *cfg, unsigned thread, uint64_t seq,
                 char *buf, size_t size)
{
	return snprintf(buf, size, "<%s.%u.%llu@mtaload.invalid>", cfg->run_id, thread,
	                (unsigned long long)seq);
}

/* Stop the whole run: every connection would fail the same way. The
 * first reason is kept for the report. */
void
loader_fatal(struct bench_loader *ld, const char *fmt, ...)
{
	if (ld->fatal[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ld->fatal, sizeof ld->fatal, fmt, ap);
		va_end(ap);
	}
	ld->finishing = 1;
	bench_load_stop();
}

/* Change state, keeping count of the sessions that are warming up. */
void
lsession_state(struct bench_lsession *s, int st)
{
	int was = s->state >= LS_CONNECTING && s->state <= LS_AUTH;
	int is = st >= LS_CONNECTING && st <= LS_AUTH;
	if (was && !is)
		s->ld->warming--;
	else if (is && !was)
		s->ld->warming++;
	s->state = st;
}

/* Returns the stage a session in its current state is waiting on. */
static enum bench_stage
lsession_stage(const struct bench_lsession *s)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	switch (s->state) {
	case LS_CONNECTING: return BENCH_STAGE_CONNECT;
	case LS_TLS: return BENCH_STAGE_TLS;
	case LS_GREETING: return BENCH_STAGE_GREETING;
	case LS_EHLO: return BENCH_STAGE_EHLO;
	case LS_STARTTLS: return BENCH_STAGE_STARTTLS;
	case LS_AUTH: return BENCH_STAGE_AUTH;
	case LS_TXN:
		if (s->reply_idx == 0)
			return BENCH_STAGE_MAIL;
		return s->reply_idx <= cfg->rcpts ? BENCH_STAGE_RCPT : BENCH_STAGE_DATA;
	case LS_DOT: return BENCH_STAGE_DOT;
	case LS_RSET: return BENCH_STAGE_RSET;
	case LS_QUIT: return BENCH_STAGE_QUIT;
	default: return BENCH_STAGE_MESSAGE;
	}
}

/* Count an error of kind at the session's stage; past errors_max the
 * loader stops starting messages. */
void
lsession_count_error(struct bench_lsession *s, enum bench_err kind)
{
	struct bench_loader *ld = s->ld;
	ld->stats->errors[kind][lsession_stage(s)]++;
	uint64_t n = atomic_fetch_add_explicit(&ld->live.errors, 1, memory_order_relaxed) + 1;
	if (ld->cfg->errors_max != 0 && n >= ld->cfg->errors_max) {
		ld->finishing = 1;
		ld->errors_hit = 1;
	}
}

/* Settle the session's current message once: accepted, rejected, failed. */
static void
lsession_msg_resolve(struct bench_lsession *s, int outcome)
{
	struct bench_loader *ld = s->ld;
	if (!s->msg_active)
		return;
	s->msg_active = 0;
	if (outcome == MSG_OK) {
		atomic_fetch_add_explicit(&ld->live.ok, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ld->live.bytes_ok, s->msg_size, memory_order_relaxed);
		bench_hist_add(&ld->stats->lat[BENCH_STAGE_MESSAGE], ld->now_ns - s->msg_sched_ns);
		if (!ld->cfg->record_ids)
			return;
		if (ld->nids == ld->ids_cap) {
			size_t cap = ld->ids_cap ? ld->ids_cap * 2 : 4096;
			uint64_t *n = cap <= ld->cfg->ids_max ? realloc(ld->ids, cap * sizeof *n) : NULL;
			if (n == NULL) {
				ld->stats->ids_dropped++;
				return;
			}
			ld->ids = n;
			ld->ids_cap = cap;
		}
		ld->ids[ld->nids++] = s->msg_seq;
	} else if (outcome == MSG_REJECTED) {
		atomic_fetch_add_explicit(&ld->live.rejected, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&ld->live.failed, 1, memory_order_relaxed);
	}
}

/* Arm the one receive a connected session always has. */
static void
lsession_recv_arm(struct bench_lsession *s)
{
	if (s->recv_armed || s->closing || s->fd < 0)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&s->ld->ring);
	if (s->tls != NULL)
		io_uring_prep_recv(sqe, s->fd, s->tls->rbuf, sizeof s->tls->rbuf, 0);
	else
		io_uring_prep_recv(sqe, s->fd, s->rbuf, sizeof s->rbuf, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_RECV);
	s->recv_armed = 1;
	s->inflight++;
}

/* Send the pending body, else the pending commands; one send at a time. */
void
lsession_flush(struct bench_lsession *s)
{
	if (s->send_armed || s->closing || s->fd < 0)
		return;
	if (s->tls != NULL) {
		lsession_tls_flush(s);
		return;
	}
	struct io_uring_sqe *sqe;
	if (s->body_pending) {
		sqe = bench_ring_sqe(&s->ld->ring);
		io_uring_prep_sendmsg(sqe, s->fd, &s->mh, MSG_NOSIGNAL);
		s->t_dot = s->ld->now_ns;     /* this write ends with ".CRLF" */
	} else if (s->out_off < s->out_len) {
		sqe = bench_ring_sqe(&s->ld->ring);
		io_uring_prep_send(sqe, s->fd, s->out + s->out_off, s->out_len - s->out_off,
		                   MSG_NOSIGNAL);
	} else {
		return;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_SEND);
	s->send_armed = 1;
	s->inflight++;
	s->t_sent = s->ld->now_ns;
	s->deadline_ns = s->ld->now_ns + s->ld->cfg->timeout_ns;
}

/* Append a command line to the output; returns -1 when it does not fit. */
int
lsession_cmd(struct bench_lsession *s, const char *fmt, const char *arg)
{
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	int n = snprintf(s->out + s->out_len, s->out_cap - s->out_len, fmt, arg);
	if (n < 0 || (size_t)n >= s->out_cap - s->out_len)
		return -1;
	s->out_len += (size_t)n;
	return 0;
}

/* Open a socket and start connecting. */
static void
lsession_connect(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		int e = errno;
		ld->stats->connect_errno[e < BENCH_ERRNO_MAX ? e : 0]++;
		s->state = LS_CONNECTING;
		lsession_count_error(s, BENCH_ERR_CONNECT);
		s->state = LS_DOWN;
		atomic_fetch_add_explicit(&ld->live.conns_failed, 1, memory_order_relaxed);
		s->retry_at_ns = ld->now_ns + LOAD_RETRY_NS;
		return;
	}
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ld->open++;
	s->gen++;
	lsession_state(s, LS_CONNECTING);
	s->closing = s->close_error = 0;
	s->msgs_on_conn = 0;
	s->quit_sent = 0;
	s->out_len = s->out_off = 0;
	s->body_pending = 0;
	s->send_tls = 0;
	bench_reply_init(&s->rp);
	s->t_connect = ld->now_ns;
	s->deadline_ns = ld->now_ns + ld->cfg->timeout_ns;
	struct io_uring_sqe *sqe = bench_ring_sqe(&ld->ring);
	io_uring_prep_connect(sqe, s->fd, (const struct sockaddr *)&ld->cfg->target,
	                      sizeof ld->cfg->target);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_CONNECT);
	s->inflight++;
}

/* Returns 1 when a closed session should connect again. */
static int
loader_wants_session(struct bench_loader *ld)
{
	if (ld->finishing)
		return 0;
	if (ld->cfg->messages == 0)
		return 1;
	return ld->quota - ld->started > ld->warming;
}

/* Every operation of a closing session is done: close the socket, settle
 * its message, maybe reconnect. */
static void
lsession_closed(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	close(s->fd);
	s->fd = -1;
	ld->open--;
	if (s->tls != NULL)
		lsession_tls_free(s);
	int was_connected = s->t_connected != 0;
	if (was_connected)
		atomic_fetch_sub_explicit(&ld->live.connected, 1, memory_order_relaxed);
	s->t_connected = 0;
	lsession_msg_resolve(s, s->msg_rejected ? MSG_REJECTED : MSG_FAILED);
	lsession_state(s, LS_DOWN);
	s->closing = 0;
	s->deadline_ns = 0;
	s->retry_at_ns = 0;
	if (s->close_error && !was_connected) {
		/* the connect failed: let the scan retry it in a while */
		s->retry_at_ns = ld->now_ns + LOAD_RETRY_NS;
		return;
	}
	if (loader_wants_session(ld))
		lsession_connect(s);
}

/* Close the session: at once when nothing is in flight, else cancel its
 * operations and finish when the last one completes. */
void
lsession_close(struct bench_lsession *s, int error)
{
	if (s->fd < 0)
		return;
	s->close_error |= error;
	if (!s->closing) {
		s->closing = 1;
		if (s->inflight > 0) {
			shutdown(s->fd, SHUT_RDWR);
			struct io_uring_sqe *sqe = bench_ring_sqe(&s->ld->ring);
			io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, 0);
		}
	}
	if (s->inflight == 0)
		lsession_closed(s);
}

/* An error: count it and drop the connection. */
void
lsession_fail(struct bench_lsession *s, enum bench_err kind)
{
	lsession_count_error(s, kind);
	lsession_close(s, 1);
}

/* Say QUIT. */
static void
lsession_quit(struct bench_lsession *s)
{
	lsession_state(s, LS_QUIT);
	if (lsession_cmd(s, "QUIT\r\n", "") < 0) {
		lsession_close(s, 0);
		return;
	}
	lsession_flush(s);
}

/* Write recipient i (1-based) of the session's message into buf. With a
 * recipient pattern: number (message * rcpts + i - 1) mod rcpt_count, the
 * message numbered across the threads (seq * threads + thread), so one
 * thread walks the numbers in turn and several spread them evenly. Without
 * one: the configured address, then "local-i@domain" for the others. */
static void
lsession_rcpt_addr(const struct bench_lsession *s, unsigned i, char *buf, size_t size)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	if (cfg->rcpt_count > 0) {
		uint64_t msg = s->msg_seq * s->ld->nloaders + s->ld->index;
		uint64_t n = (msg * cfg->rcpts + i - 1) % cfg->rcpt_count;
		if (bench_rcpt_pattern_format(&cfg->rcpt_pattern, n, buf, size) < 0)
			snprintf(buf, size, "%s", cfg->to);    /* cannot happen: sizes checked */
		return;
	}
	const char *at = strrchr(cfg->to, '@');
	if (i == 1 || at == NULL)
		snprintf(buf, size, "%s", cfg->to);
	else
		snprintf(buf, size, "%.*s-%u%s", (int)(at - cfg->to), cfg->to, i, at);
}

/* Queue transaction command idx: 0 MAIL, 1..rcpts RCPT, rcpts+1 DATA. */
static int
lsession_txn_cmd(struct bench_lsession *s, unsigned idx)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	char addr[BENCH_LOAD_ADDR_BYTES_MAX + 16];
	s->sent_idx = idx + 1;
	if (idx == 0)
		return lsession_cmd(s, "MAIL FROM:<%s>\r\n", cfg->from);
	if (idx <= cfg->rcpts) {
		lsession_rcpt_addr(s, idx, addr, sizeof addr);
		return lsession_cmd(s, "RCPT TO:<%s>\r\n", addr);
	}
	return lsession_cmd(s, "DATA\r\n", "");
}

/* Build the header of the current message and point the iovecs at header,
 * body lines and ".CRLF"; msg_size becomes the exact size sent. An
 * "X-Pad:" header takes up what whole body lines cannot. */
static void
lsession_build_message(struct bench_lsession *s)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	char id[128], to[BENCH_LOAD_ADDR_BYTES_MAX + 16];
	bench_load_msgid(cfg, s->ld->index, s->msg_seq, id, sizeof id);
	lsession_rcpt_addr(s, 1, to, sizeof to);
	int n = snprintf(s->hdr, sizeof s->hdr, "Message-ID: %s\r\nFrom: <%s>\r\nTo: <%s>\r\n"
	                 "Subject: mtaload %u.%llu\r\nDate: %s\r\n", id, cfg->from, to,
	                 s->ld->index, (unsigned long long)s->msg_seq, cfg->date);
	size_t len = n > 0 && (size_t)n < sizeof s->hdr - 100 ? (size_t)n : 0;
	size_t lines = 0, pad = 0, fixed = len + 2;
	if (s->msg_size > fixed) {
		lines = (s->msg_size - fixed) / BENCH_LOAD_LINE_BYTES;
		pad = (s->msg_size - fixed) % BENCH_LOAD_LINE_BYTES;
		if (pad > 0 && pad < 9) {
			pad = lines > 0 ? pad + BENCH_LOAD_LINE_BYTES : 0;
			lines -= lines > 0;
		}
	}
	if (lines > cfg->body_bytes / BENCH_LOAD_LINE_BYTES)
		lines = cfg->body_bytes / BENCH_LOAD_LINE_BYTES;
	if (pad > 0) {
		memcpy(s->hdr + len, "X-Pad: ", 7);
		memset(s->hdr + len + 7, 'x', pad - 9);
		memcpy(s->hdr + len + pad - 2, "\r\n", 2);
		len += pad;
	}
	memcpy(s->hdr + len, "\r\n", 2);
	len += 2;
	s->iov[0] = (struct iovec){ s->hdr, len };
	s->iov[1] = (struct iovec){ (void *)cfg->body, lines * BENCH_LOAD_LINE_BYTES };
	/* RFC 2920 3.1: message content may start a group and QUIT end it, so
	 * the last message of a connection takes QUIT along */
	s->quit_sent = s->pipelining && cfg->msgs_per_conn != 0 &&
	               s->msgs_on_conn + 1 >= cfg->msgs_per_conn;
	s->iov[2] = s->quit_sent ? (struct iovec){ (void *)".\r\nQUIT\r\n", 9 } :
	                           (struct iovec){ (void *)".\r\n", 3 };
	memset(&s->mh, 0, sizeof s->mh);
	s->mh.msg_iov = s->iov;
	s->mh.msg_iovlen = 3;
	s->msg_size = len + lines * BENCH_LOAD_LINE_BYTES;
}

/* Start a message due at sched: MAIL, RCPTs and DATA in one write when
 * pipelining (RFC 2920 3.1: DATA ends the group), else MAIL alone. */
static void
lsession_txn_start(struct bench_lsession *s, uint64_t sched)
{
	struct bench_loader *ld = s->ld;
	ld->started++;
	atomic_fetch_add_explicit(&ld->live.started, 1, memory_order_relaxed);
	s->msg_active = 1;
	s->msg_rejected = 0;
	s->requeue = 0;
	s->msg_sched_ns = sched;
	s->msg_seq = ld->seq++;
	s->msg_size = bench_sizedist_pick(&ld->cfg->size, &ld->rng);
	lsession_state(s, LS_TXN);
	s->reply_idx = s->sent_idx = s->rcpt_ok = 0;
	unsigned last = s->pipelining ? ld->cfg->rcpts + 1 : 0;
	for (unsigned i = 0; i <= last; i++) {
		if (lsession_txn_cmd(s, i) < 0) {
			lsession_fail(s, BENCH_ERR_SEND);
			return;
		}
	}
	lsession_flush(s);
}

/* The message was refused: RSET (RFC 5321 4.1.1.5) and go on. A 4xx to
 * MAIL after earlier messages on this connection is a per-connection limit
 * (OpenSMTPD's max-mails answers 452 4.5.3): the message goes back to be
 * started again, on a new connection. */
static void
lsession_txn_abort(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	if (s->requeue) {
		s->msg_active = 0;
		ld->started--;
		atomic_fetch_sub_explicit(&ld->live.started, 1, memory_order_relaxed);
		ld->stats->requeued++;
		if (ld->finishing && ld->cfg->messages != 0 && !atomic_load(&bench_load_stopped) &&
		    ld->errors_hit == 0) {
			ld->finishing = 0;       /* one more message to start after all */
			ld->drain_deadline_ns = 0;
		}
		lsession_quit(s);
		return;
	}
	lsession_msg_resolve(s, MSG_REJECTED);
	lsession_state(s, LS_RSET);
	if (lsession_cmd(s, "RSET\r\n", "") < 0) {
		lsession_close(s, 1);
		return;
	}
	lsession_flush(s);
}

/* A reply inside the transaction (MAIL, RCPT or DATA). */
static void
lsession_txn_reply(struct bench_lsession *s, const struct bench_reply *r)
{
	unsigned rcpts = s->ld->cfg->rcpts;
	unsigned idx = s->reply_idx++;
	if (idx == 0 && r->code / 100 != 2) {
		s->msg_rejected = 1;
		s->requeue = r->code / 100 == 4 && s->msgs_on_conn > 0;
	}
	else if (idx >= 1 && idx <= rcpts && r->code / 100 == 2)
		s->rcpt_ok++;
	if (idx == rcpts + 1) {
		if (r->code != 354) {
			lsession_txn_abort(s);
			return;
		}
		lsession_build_message(s);
		s->body_pending = 1;
		lsession_state(s, LS_DOT);
		lsession_flush(s);
		return;
	}
	if (s->pipelining)
		return;
	if ((idx == 0 && s->msg_rejected) || (idx == rcpts && s->rcpt_ok == 0)) {
		lsession_txn_abort(s);
		return;
	}
	if (lsession_txn_cmd(s, idx + 1) < 0) {
		lsession_fail(s, BENCH_ERR_SEND);
		return;
	}
	lsession_flush(s);
}

/* A message is done (answered or refused): the next one, or QUIT. */
static void
lsession_after_message(struct bench_lsession *s)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	s->msgs_on_conn++;
	if (s->quit_sent) {
		lsession_state(s, LS_QUIT);
		s->t_sent = s->t_dot;
		s->deadline_ns = s->ld->now_ns + cfg->timeout_ns;
	} else if (cfg->msgs_per_conn != 0 && s->msgs_on_conn >= cfg->msgs_per_conn) {
		lsession_quit(s);
	} else {
		lsession_next_message(s);
	}
}

/* No more messages start once the budget or the time is spent, or the
 * run was stopped. */
static void
loader_check_finish(struct bench_loader *ld)
{
	const struct bench_load_config *cfg = ld->cfg;
	if (!ld->finishing && (atomic_load_explicit(&bench_load_stopped, memory_order_relaxed) ||
	                       (cfg->messages != 0 && ld->started >= ld->quota) ||
	                       (cfg->messages == 0 && ld->now_ns >= ld->end_ns)))
		ld->finishing = 1;
}

/* Returns TAKE_OK with *sched set when a message may start now, TAKE_WAIT
 * when the next one is not due yet (open loop), TAKE_DONE when no more
 * will start. */
static int
loader_take(struct bench_loader *ld, uint64_t *sched)
{
	loader_check_finish(ld);
	if (ld->finishing)
		return TAKE_DONE;
	if (ld->rate <= 0.0) {
		*sched = ld->now_ns;
		return TAKE_OK;
	}
	uint64_t due = ld->t0_ns + (uint64_t)((double)ld->started * 1e9 / ld->rate);
	if (due > ld->now_ns)
		return TAKE_WAIT;
	*sched = due;
	return TAKE_OK;
}

/* A connected session is free: start a message, wait for one, or QUIT. */
static void
lsession_next_message(struct bench_lsession *s)
{
	struct bench_loader *ld = s->ld;
	uint64_t sched;
	switch (loader_take(ld, &sched)) {
	case TAKE_OK:
		lsession_txn_start(s, sched);
		break;
	case TAKE_WAIT:
		lsession_state(s, LS_READY);
		s->deadline_ns = 0;
		if (!s->in_idle) {
			s->in_idle = 1;
			ld->idle[ld->nidle++] = s;
		}
		break;
	default:
		lsession_quit(s);
	}
}

/* Time and count a reply; returns the stage it answered. */
static enum bench_stage
lsession_account(struct bench_lsession *s, const struct bench_reply *r)
{
	struct bench_loader *ld = s->ld;
	enum bench_stage st = lsession_stage(s);
	ld->stats->replies[st][r->code - 200]++;
	uint64_t since = st == BENCH_STAGE_GREETING ? s->t_greet_from :
	                 st == BENCH_STAGE_DOT ? s->t_dot : s->t_sent;
	if (s->state != LS_READY && ld->now_ns >= since)
		bench_hist_add(&ld->stats->lat[st], ld->now_ns - since);
	return st;
}

/* Send cmd (with arg) and wait in state st for its reply. */
static void
lsession_step(struct bench_lsession *s, int st, const char *fmt, const char *arg)
{
	lsession_state(s, st);
	if (lsession_cmd(s, fmt, arg) < 0) {
		lsession_fail(s, BENCH_ERR_SEND);
		return;
	}
	lsession_flush(s);
}

/* EHLO was answered 250: STARTTLS, AUTH or the first message. A server
 * that does not offer what was asked stops the run. */
static void
lsession_after_ehlo(struct bench_lsession *s, const struct bench_reply *r)
{
	const struct bench_load_config *cfg = s->ld->cfg;
	if (cfg->tls_mode == BENCH_LOAD_TLS_STARTTLS && s->tls == NULL) {
		if (!(r->ext & BENCH_EXT_STARTTLS)) {
			loader_fatal(s->ld, "the server does not offer STARTTLS (--starttls)");
			lsession_count_error(s, BENCH_ERR_PROTOCOL);
			lsession_quit(s);
			return;
		}
		lsession_step(s, LS_STARTTLS, "STARTTLS\r\n", "");
		return;
	}
	if (cfg->auth) {
		if (!(r->ext & BENCH_EXT_AUTH_PLAIN)) {
			loader_fatal(s->ld, "the server does not offer AUTH PLAIN (--auth)%s",
			             s->tls == NULL ? "; many offer it only after STARTTLS" : "");
			lsession_count_error(s, BENCH_ERR_PROTOCOL);
			lsession_quit(s);
			return;
		}
		lsession_step(s, LS_AUTH, "AUTH PLAIN %s\r\n", cfg->auth_b64);
		return;
	}
	lsession_next_message(s);
}

/* A complete reply from the server. */
static void
lsession_on_reply(struct bench_lsession *s, const struct bench_reply *r)
{
	lsession_account(s, r);
	if (r->code == 421 && s->state != LS_QUIT) {
		/* RFC 5321 3.8: the server is closing the channel */
		if (s->msg_active)
			s->msg_rejected = 1;
		lsession_fail(s, BENCH_ERR_CLOSED_421);
		return;
	}
	switch (s->state) {
	case LS_GREETING:
		if (r->code != 220) {
			lsession_quit(s);
			return;
		}
		lsession_state(s, LS_EHLO);
		if (lsession_cmd(s, "EHLO %s\r\n", s->ld->cfg->helo) == 0)
			lsession_flush(s);
		return;
	case LS_EHLO:
		if (r->code != 250) {
			lsession_quit(s);
			return;
		}
		s->pipelining = s->ld->cfg->pipelining && (r->ext & BENCH_EXT_PIPELINING);
		lsession_after_ehlo(s, r);
		return;
	case LS_STARTTLS:
		if (r->code != 220) {
			lsession_count_error(s, BENCH_ERR_PROTOCOL);
			lsession_quit(s);
			return;
		}
		lsession_tls_start(s);
		return;
	case LS_AUTH:
		if (r->code != 235) {
			loader_fatal(s->ld, "the server refused AUTH PLAIN for %s: %d %s",
			             s->ld->cfg->auth_user, r->code, r->text);
			lsession_count_error(s, BENCH_ERR_PROTOCOL);
			lsession_quit(s);
			return;
		}
		lsession_next_message(s);
		return;
	case LS_TXN:
		lsession_txn_reply(s, r);
		return;
	case LS_DOT:
		lsession_msg_resolve(s, r->code == 250 && !s->msg_rejected ? MSG_OK : MSG_REJECTED);
		lsession_after_message(s);
		return;
	case LS_RSET:
		lsession_after_message(s);
		return;
	case LS_QUIT:
		lsession_close(s, 0);
		return;
	default:
		lsession_fail(s, BENCH_ERR_PROTOCOL);     /* a reply nobody asked for */
	}
}

/* Read every complete reply in buf[0..len). */
void
lsession_replies(struct bench_lsession *s, const char *buf, size_t len)
{
	unsigned gen = s->gen;
	int plain = s->tls == NULL;
	size_t off = 0;
	while (off < len && s->gen == gen && !s->closing && (s->tls == NULL) == plain) {
		struct bench_reply r;
		size_t used;
		int k = bench_reply_feed(&s->rp, buf + off, len - off, &used, &r);
		off += used;
		if (k < 0) {
			lsession_fail(s, BENCH_ERR_PROTOCOL);
			return;
		}
		if (k == 0)
			break;
		lsession_on_reply(s, &r);
	}
}

/* A receive completed: read every complete reply in it. */
static void
lsession_recv_done(struct bench_lsession *s, int res)
{
	if (res <= 0) {
		if (res == 0 && s->state == LS_QUIT)
			lsession_close(s, 0);
		else
			lsession_fail(s, res == 0 ? BENCH_ERR_EOF : BENCH_ERR_RECV);
		return;
	}
	unsigned gen = s->gen;
	if (s->tls != NULL)
		lsession_tls_recv(s, (size_t)res);
	else
		lsession_replies(s, s->rbuf, (size_t)res);
	if (s->gen == gen && s->state != LS_DOWN && s->state != LS_CONNECTING)
		lsession_recv_arm(s);
}

/* Drop res bytes from the front of the body's iovecs; returns 1 when all
 * of it is sent. */
int
lsession_body_advance(struct bench_lsession *s, size_t res)
{
	while (s->mh.msg_iovlen > 0) {
		struct iovec *v = s->mh.msg_iov;
		if (res < v->iov_len) {
			v->iov_base = (char *)v->iov_base + res;
			v->iov_len -= res;
			return 0;
		}
		res -= v->iov_len;
		s->mh.msg_iov++;
		s->mh.msg_iovlen--;
	}
	return 1;
}

/* A send completed, perhaps short: send the rest. */
static void
lsession_send_done(struct bench_lsession *s, int res)
{
	if (res < 0) {
		lsession_fail(s, BENCH_ERR_SEND);
		return;
	}
	if (s->send_tls) {
		s->send_tls = 0;
		lsession_tls_sent(s, (size_t)res);
	} else if (s->body_pending) {
		if (lsession_body_advance(s, (size_t)res))
			s->body_pending = 0;
	} else {
		s->out_off += (size_t)res;
	}
	lsession_flush(s);
}

/* The connect completed: wait for the greeting. */
static void
lsession_connect_done(struct bench_lsession *s, int res)
{
	struct bench_loader *ld = s->ld;
	if (res < 0) {
		ld->stats->connect_errno[-res < BENCH_ERRNO_MAX ? -res : 0]++;
		atomic_fetch_add_explicit(&ld->live.conns_failed, 1, memory_order_relaxed);
		lsession_fail(s, BENCH_ERR_CONNECT);
		return;
	}
	s->t_connected = s->t_greet_from = ld->now_ns;
	bench_hist_add(&ld->stats->lat[BENCH_STAGE_CONNECT], ld->now_ns - s->t_connect);
	atomic_fetch_add_explicit(&ld->live.conns_opened, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ld->live.connected, 1, memory_order_relaxed);
	lsession_state(s, LS_GREETING);
	s->deadline_ns = ld->now_ns + ld->cfg->timeout_ns;
	if (ld->cfg->proxy_version != 0 && lsession_proxy_header(s) < 0)
		return;
	if (ld->cfg->tls_mode == BENCH_LOAD_TLS_IMPLICIT && lsession_tls_start(s) < 0)
		return;
	lsession_flush(s);
	lsession_recv_arm(s);
}

/* Dispatch one completion; user_data is the session with the operation
 * in its low bits (0: a cancel, ignored). */
static void
loader_complete(struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	if (ud == 0)
		return;
	struct bench_lsession *s = (struct bench_lsession *)(uintptr_t)(ud & ~UINT64_C(7));
	unsigned op = (unsigned)(ud & 7);
	s->inflight--;
	if (op == OP_RECV)
		s->recv_armed = 0;
	else if (op == OP_SEND)
		s->send_armed = 0;
	if (s->closing) {
		if (s->inflight == 0)
			lsession_closed(s);
		return;
	}
	if (op == OP_RECV)
		lsession_recv_done(s, cqe->res);
	else if (op == OP_SEND)
		lsession_send_done(s, cqe->res);
	else
		lsession_connect_done(s, cqe->res);
}

/* Every 100 ms: time out stuck operations, reconnect after errors. */
static void
loader_scan(struct bench_loader *ld)
{
	for (unsigned i = 0; i < ld->nsessions; i++) {
		struct bench_lsession *s = &ld->sessions[i];
		if (s->fd >= 0 && !s->closing && s->deadline_ns != 0 && ld->now_ns > s->deadline_ns &&
		    s->state != LS_READY)
			lsession_fail(s, BENCH_ERR_TIMEOUT);
		else if (s->state == LS_DOWN && ld->now_ns >= s->retry_at_ns &&
		         loader_wants_session(ld))
			lsession_connect(s);
	}
}

/* Open loop: hand due messages to idle sessions; when finishing, QUIT them. */
static void
loader_pace(struct bench_loader *ld)
{
	uint64_t sched;
	while (ld->nidle > 0) {
		struct bench_lsession *s = ld->idle[ld->nidle - 1];
		if (s->state != LS_READY) {
			s->in_idle = 0;
			ld->nidle--;
			continue;
		}
		int take = loader_take(ld, &sched);
		if (take == TAKE_WAIT)
			return;
		s->in_idle = 0;
		ld->nidle--;
		if (take == TAKE_OK)
			lsession_txn_start(s, sched);
		else
			lsession_quit(s);
	}
}

/* How long the loop may sleep: until the next scan, or until the next
 * message falls due when an idle session waits for it. */
static uint64_t
loader_wait_ns(struct bench_loader *ld)
{
	uint64_t until = ld->next_scan_ns;
	if (ld->rate > 0.0 && ld->nidle > 0 && !ld->finishing) {
		uint64_t due = ld->t0_ns + (uint64_t)((double)ld->started * 1e9 / ld->rate);
		if (due < until)
			until = due;
	}
	if (ld->drain_deadline_ns != 0 && ld->drain_deadline_ns < until)
		until = ld->drain_deadline_ns;
	return until > ld->now_ns ? until - ld->now_ns : 1000;
}

/* One turn: wait, dispatch every completion, pace, scan. Returns 0 when
 * the loader is done. */
static int
loader_turn(struct bench_loader *ld)
{
	uint64_t wait = loader_wait_ns(ld);
	struct __kernel_timespec ts = { .tv_sec = (long long)(wait / 1000000000u),
	                                .tv_nsec = (long long)(wait % 1000000000u) };
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit_and_wait_timeout(&ld->ring, &cqe, 1, &ts, NULL);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		fprintf(stderr, "mtaload: thread %u: io_uring_enter: %s\n", ld->index, strerror(-ret));
	ld->now_ns = bench_now_ns();
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&ld->ring, head, cqe) {
		loader_complete(cqe);
		seen++;
	}
	io_uring_cq_advance(&ld->ring, seen);
	if (!ld->finishing)
		loader_check_finish(ld);
	loader_pace(ld);
	if (ld->finishing && ld->drain_deadline_ns == 0)
		ld->drain_deadline_ns = ld->now_ns + ld->cfg->drain_ns;
	if (ld->now_ns >= ld->next_scan_ns) {
		loader_scan(ld);
		ld->next_scan_ns = ld->now_ns + LOAD_SCAN_NS;
	}
	if (ld->finishing && ld->open == 0)
		return 0;
	return ld->drain_deadline_ns == 0 || ld->now_ns < ld->drain_deadline_ns;
}

/* Past the drain deadline: whatever is still open counts as failed. */
static void
loader_abandon(struct bench_loader *ld)
{
	for (unsigned i = 0; i < ld->nsessions; i++) {
		struct bench_lsession *s = &ld->sessions[i];
		if (s->fd < 0)
			continue;
		if (s->state != LS_READY && s->state != LS_QUIT)
			lsession_count_error(s, BENCH_ERR_TIMEOUT);
		lsession_msg_resolve(s, MSG_FAILED);
		close(s->fd);
		s->fd = -1;            /* its TLS (a receive may still fill it) goes with the ring */
	}
}

/* The loader's thread. */
static void *
loader_main(void *arg)
{
	struct bench_loader *ld = arg;
	int ret = bench_ring_init(&ld->ring, LOAD_RING_ENTRIES);
	if (ret < 0) {
		ld->setup_error = -ret;
		snprintf(ld->setup_message, sizeof ld->setup_message, "io_uring_setup: %s (%s)",
		         strerror(-ret), bench_ring_hint(ret));
		return NULL;
	}
	ld->ring_ok = 1;
	ld->now_ns = ld->t0_ns = bench_now_ns();
	ld->end_ns = ld->t0_ns + ld->cfg->duration_ns;
	ld->next_scan_ns = ld->now_ns + LOAD_SCAN_NS;
	for (unsigned i = 0; i < ld->nsessions && loader_wants_session(ld); i++)
		lsession_connect(&ld->sessions[i]);
	if (ld->quota == 0 && ld->cfg->messages != 0)
		ld->finishing = 1;
	while (loader_turn(ld))
		;
	loader_abandon(ld);
	ld->elapsed_ns = ld->now_ns - ld->t0_ns;
	io_uring_queue_exit(&ld->ring);
	ld->ring_ok = 0;
	for (unsigned i = 0; i < ld->nsessions; i++)
		if (ld->sessions[i].tls != NULL)
			lsession_tls_free(&ld->sessions[i]);
	if (ld->cfg->tls_ctx != NULL)
		bench_tls_thread_end();
	return NULL;
}

/* Prepare loader index of nloaders for cfg. */
int
bench_loader_init(struct bench_loader *ld, const struct bench_load_config *cfg,
                  unsigned index, unsigned nloaders)
{
	memset(ld, 0, sizeof *ld);
	ld->cfg = cfg;
	ld->index = index;
	ld->nsessions = cfg->sessions / nloaders + (index < cfg->sessions % nloaders);
	ld->quota = cfg->messages / nloaders + (index < cfg->messages % nloaders);
	ld->rate = cfg->rate / nloaders;
	ld->rng = bench_rng_seed(cfg->seed + index);
	ld->nloaders = nloaders;
	ld->proxy_next = index;
	ld->proxy_rng = bench_rng_seed((cfg->seed ^ UINT64_C(0x50524f5859)) + index);
	ld->sessions = calloc(ld->nsessions ? ld->nsessions : 1, sizeof *ld->sessions);
	ld->idle = calloc(ld->nsessions ? ld->nsessions : 1, sizeof *ld->idle);
	ld->stats = malloc(sizeof *ld->stats);
	if (ld->sessions == NULL || ld->idle == NULL || ld->stats == NULL)
		return -ENOMEM;
	memset(ld->stats, 0, sizeof *ld->stats);
	for (unsigned i = 0; i < BENCH_STAGE_COUNT; i++)
		bench_hist_init(&ld->stats->lat[i]);
	size_t out_cap = 64 + (size_t)(cfg->rcpts + 2) * (BENCH_LOAD_ADDR_BYTES_MAX + 32) +
	                 (cfg->auth ? BENCH_LOAD_AUTH_B64_BYTES + 16 : 0) +
	                 (cfg->proxy_version ? BENCH_PROXY_HDR_BYTES_MAX : 0);
	for (unsigned i = 0; i < ld->nsessions; i++) {
		struct bench_lsession *s = &ld->sessions[i];
		s->ld = ld;
		s->fd = -1;
		s->out_cap = out_cap;
		s->out = malloc(out_cap);
		if (s->out == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* Run the loader on its own thread. */
int
bench_loader_start(struct bench_loader *ld)
{
	return pthread_create(&ld->thread, NULL, loader_main, ld);
}

/* Join the thread. */
void
bench_loader_join(struct bench_loader *ld)
{
	pthread_join(ld->thread, NULL);
}

/* Free what init allocated. */
void
bench_loader_free(struct bench_loader *ld)
{
	for (unsigned i = 0; ld->sessions != NULL && i < ld->nsessions; i++) {
		if (ld->sessions[i].tls != NULL)
			lsession_tls_free(&ld->sessions[i]);
		free(ld->sessions[i].out);
	}
	free(ld->sessions);
	free(ld->idle);
	free(ld->stats);
	free(ld->ids);
	ld->sessions = NULL;
	ld->idle = NULL;
	ld->stats = NULL;
	ld->ids = NULL;
}
