/*
 * bench/sink.c - the sink's engine: accept, receive into provided
 * buffers, answer, count, inject faults and delays. See bench/sink.h;
 * TLS, AUTH and the PROXY header are in bench/sink_tls.c, sink_auth.c and
 * sink_proxy.c.
 */
#include "bench/sink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/loadspec.h"
#include "bench/ring.h"
#include "bench/sink_int.h"

#define SINK_RING_ENTRIES 4096
#define SINK_BGID 7
#define SINK_TICK_NS 100000000ull
#define SINK_OUT_HIGH_BYTES 3072                 /* stop reading commands above this */
#define SINK_STOP_GRACE_NS 2000000000ull
#define SINK_UD_ACCEPT 1

enum { FAULT_NONE, FAULT_SOFT, FAULT_HARD, FAULT_DROP };

struct bench_sink_shared bench_sink_shared;

static void ssession_resume(struct bench_ssession *s);

/* From any thread: stop every sinker. */
void
bench_sink_stop(void)
{
	atomic_store(&bench_sink_shared.stopping, 1);
}

/* Bump a counter only this thread writes. */
void
sink_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* Bind and listen; returns 0 or a negative errno. */
int
bench_sinker_init(struct bench_sinker *sk, const struct bench_sink_config *cfg, unsigned index)
{
	memset(sk, 0, sizeof *sk);
	sk->cfg = cfg;
	sk->index = index;
	sk->rng = bench_rng_seed(cfg->seed + index);
	bench_addrset_init(&sk->sources);
	pthread_mutex_init(&sk->ids_lock, NULL);
	sk->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk->listen_fd < 0)
		return -errno;
	int one = 1;
	setsockopt(sk->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(sk->listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(sk->listen_fd, (const struct sockaddr *)&cfg->listen, sizeof cfg->listen) < 0 ||
	    listen(sk->listen_fd, (int)cfg->backlog) < 0) {
		int e = -errno;
		close(sk->listen_fd);
		sk->listen_fd = -1;
		return e;
	}
	return 0;
}

/* Map the provided-buffer ring and give every buffer to the kernel. */
static int
sink_bufs_setup(struct bench_sinker *sk)
{
	size_t ring_bytes = BENCH_SINK_BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
	                 -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	sk->br = mem;
	io_uring_buf_ring_init(sk->br);
	struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)mem,
	                                .ring_entries = BENCH_SINK_BUF_COUNT, .bgid = SINK_BGID };
	int ret = io_uring_register_buf_ring(&sk->ring, &reg, 0);
	if (ret < 0)
		return ret;
	sk->bufs = malloc((size_t)BENCH_SINK_BUF_COUNT * BENCH_SINK_BUF_BYTES);
	if (sk->bufs == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < BENCH_SINK_BUF_COUNT; i++)
		io_uring_buf_ring_add(sk->br, sk->bufs + (size_t)i * BENCH_SINK_BUF_BYTES,
		                      BENCH_SINK_BUF_BYTES, (unsigned short)i,
		                      io_uring_buf_ring_mask(BENCH_SINK_BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(sk->br, BENCH_SINK_BUF_COUNT);
	return 0;
}

/* Give the held buffer back to the kernel. */
static void
ssession_buffer_return(struct bench_ssession *s)
{
	struct bench_sinker *sk = s->sk;
	if (!s->holding)
		return;
	if (s->tls_on)
		bench_tls_input(&s->tls, NULL, 0);     /* nothing lent from it any more */
	io_uring_buf_ring_add(sk->br, sk->bufs + (size_t)s->bid * BENCH_SINK_BUF_BYTES,
	                      BENCH_SINK_BUF_BYTES, s->bid,
	                      io_uring_buf_ring_mask(BENCH_SINK_BUF_COUNT), 0);
	io_uring_buf_ring_advance(sk->br, 1);
	s->holding = 0;
	sk->bufs_returned++;
}

/* Arm the multishot accept. */
static void
sink_accept_arm(struct bench_sinker *sk)
{
	if (sk->accept_armed || sk->listen_fd < 0)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&sk->ring);
	io_uring_prep_multishot_accept(sqe, sk->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, SINK_UD_ACCEPT);
	sk->accept_armed = 1;
}

/* Arm a receive into a provided buffer. */
static void
ssession_recv_arm(struct bench_ssession *s)
{
	if (s->recv_armed || s->closing || s->holding || s->close_after_send)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&s->sk->ring);
	io_uring_prep_recv(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SINK_BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_RECV);
	s->recv_armed = 1;
	s->inflight++;
}

/* The held provided buffer. */
const char *
ssession_held(const struct bench_ssession *s)
{
	return s->sk->bufs + (size_t)s->bid * BENCH_SINK_BUF_BYTES;
}

/* Send the replies that are ready, one send at a time. */
static void
ssession_flush(struct bench_ssession *s)
{
	if (s->tls_on) {
		ssession_tls_flush(s);
		return;
	}
	if (s->send_armed || s->closing || s->out_ready == 0)
		return;
	struct io_uring_sqe *sqe = bench_ring_sqe(&s->sk->ring);
	io_uring_prep_send(sqe, s->fd, s->out, s->out_ready, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_SEND);
	s->send_len = s->out_ready;
	s->send_armed = 1;
	s->inflight++;
}

/* Append a reply; ready to send unless held back for a delay. Returns -1
 * when the output is full (the client does not read). */
static int
ssession_reply(struct bench_ssession *s, const char *text)
{
	size_t n = strlen(text);
	if (s->out_len + n > sizeof s->out)
		return -1;
	memcpy(s->out + s->out_len, text, n);
	s->out_len += n;
	if (!s->wait_timer)
		s->out_ready = s->out_len;
	return 0;
}

/* Returns the fault to inject for cmd, if any. */
static int
sink_fault(struct bench_sinker *sk, enum bench_sink_cmd cmd)
{
	const struct bench_sink_config *cfg = sk->cfg;
	unsigned bit = 1u << cmd;
	if (!((cfg->soft_mask | cfg->hard_mask | cfg->drop_mask) & bit))
		return FAULT_NONE;
	if (cfg->fault_rate < 1.0 &&
	    (double)(bench_rng_next(&sk->rng) >> 11) / 9007199254740992.0 >= cfg->fault_rate)
		return FAULT_NONE;
	if (cfg->drop_mask & bit)
		return FAULT_DROP;
	return cfg->hard_mask & bit ? FAULT_HARD : FAULT_SOFT;
}

/* Keep the Message-ID of an accepted message. */
static void
sink_record_id(struct bench_sinker *sk, const char *id)
{
	size_t n = strlen(id);
	if (n == 0)
		id = "<none>", n = 6;
	pthread_mutex_lock(&sk->ids_lock);
	if (atomic_load_explicit(&bench_sink_shared.ids_count, memory_order_relaxed) <
	    sk->cfg->ids_max) {
		if (sk->ids_len + n + 1 > sk->ids_cap) {
			size_t cap = sk->ids_cap ? sk->ids_cap * 2 : 1 << 20;
			char *b = realloc(sk->ids, cap);
			if (b != NULL) {
				sk->ids = b;
				sk->ids_cap = cap;
			}
		}
		if (sk->ids_len + n + 1 <= sk->ids_cap) {
			memcpy(sk->ids + sk->ids_len, id, n);
			sk->ids[sk->ids_len + n] = '\n';
			sk->ids_len += n + 1;
			sk->ids_count++;
			atomic_fetch_add(&bench_sink_shared.ids_count, 1);
		}
	}
	pthread_mutex_unlock(&sk->ids_lock);
}

/* A message was accepted: count it, note when the count reaches expect. */
static void
sink_message_done(struct bench_sinker *sk, const struct bench_sink_event *ev)
{
	sink_count(&sk->ctr.messages, 1);
	sink_count(&sk->ctr.bytes, ev->bytes);
	if (sk->cfg->record_ids)
		sink_record_id(sk, ev->msgid);
	uint64_t now = bench_now_ns();
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&bench_sink_shared.first_ns, &zero, now);
	atomic_store_explicit(&bench_sink_shared.last_ns, now, memory_order_relaxed);
	uint64_t total = atomic_fetch_add(&bench_sink_shared.messages, 1) + 1;
	if (sk->cfg->expect != 0 && total == sk->cfg->expect)
		atomic_store(&bench_sink_shared.reached_ns, now);
}

/* The normal reply to a command (RFC 5321 4.1.1, 4.3.2), updating the
 * transaction state. */
static const char *
ssession_answer(struct bench_ssession *s, const struct bench_sink_event *ev, char *buf,
                size_t size)
{
	const struct bench_sink_config *cfg = s->sk->cfg;
	switch (ev->cmd) {
	case BENCH_SINK_HELO:
		snprintf(buf, size, "250 %s\r\n", cfg->hostname);
		return buf;
	case BENCH_SINK_EHLO:
		snprintf(buf, size, "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE %llu\r\n"
		         "%s%s%s250 ENHANCEDSTATUSCODES\r\n", cfg->hostname,
		         (unsigned long long)cfg->size_max,
		         cfg->chunking ? "250-CHUNKING\r\n" : "",
		         cfg->tls_ctx != NULL && !s->tls_on ? "250-STARTTLS\r\n" : "",
		         cfg->auth ? "250-AUTH PLAIN LOGIN\r\n" : "");
		return buf;
	case BENCH_SINK_STARTTLS:
		if (cfg->tls_ctx == NULL)
			return "502 5.5.1 Error: STARTTLS not offered\r\n";
		if (s->tls_on)
			return "503 5.5.1 Error: TLS already active\r\n";   /* RFC 3207 4.2 */
		s->starttls_pending = 1;
		return "220 2.0.0 Ready to start TLS\r\n";
	case BENCH_SINK_AUTH:
		return s->auth_step != SINK_AUTH_NONE ? ssession_auth_line(s, s->p.line) :
		                                        ssession_auth(s, ev->arg);
	case BENCH_SINK_MAIL:
		if (cfg->auth_require && !s->authed) {
			sink_count(&s->sk->ctr.auth_required, 1);
			return "530 5.7.0 Authentication required\r\n";      /* RFC 4954 6 */
		}
		if (s->has_mail)
			return "503 5.5.1 Error: nested MAIL command\r\n";
		s->has_mail = 1;
		s->nrcpt = 0;
		s->bdat_chunks = 0;
		return "250 2.1.0 Ok\r\n";
	case BENCH_SINK_RCPT:
		if (!s->has_mail)
			return "503 5.5.1 Error: need MAIL command\r\n";
		s->nrcpt++;
		sink_count(&s->sk->ctr.rcpts, 1);
		return "250 2.1.5 Ok\r\n";
	case BENCH_SINK_DATA:
		if (!s->has_mail)
			return "503 5.5.1 Error: need MAIL command\r\n";
		if (s->nrcpt == 0)
			return "554 5.5.1 Error: no valid recipients\r\n";    /* RFC 2920 3.1 */
		bench_sink_begin_data(&s->p);
		return "354 End data with <CR><LF>.<CR><LF>\r\n";
	case BENCH_SINK_RSET:
		s->has_mail = 0;
		s->bdat_chunks = 0;
		return "250 2.0.0 Ok\r\n";
	case BENCH_SINK_NOOP:
		return "250 2.0.0 Ok\r\n";
	case BENCH_SINK_VRFY:
		return "252 2.0.0 Cannot VRFY user\r\n";
	case BENCH_SINK_QUIT:
		s->close_after_send = 1;
		return "221 2.0.0 Bye\r\n";
	default:
		return ev->too_long ? "500 5.5.2 Error: line too long\r\n" :
		                      "502 5.5.2 Error: command not recognized\r\n";
	}
}

/* The reply to end of data. */
static const char *
ssession_message_end(struct bench_ssession *s, const struct bench_sink_event *ev)
{
	s->has_mail = 0;
	s->bdat_chunks = 0;
	if (ev->bytes > s->sk->cfg->size_max) {
		sink_count(&s->sk->ctr.rejected, 1);
		return "552 5.3.4 Error: message too big\r\n";     /* RFC 1870 6 */
	}
	sink_message_done(s->sk, ev);
	return "250 2.0.0 Ok: queued\r\n";
}

/* The reply for an injected fault at cmd. */
static const char *
sink_fault_reply(enum bench_sink_cmd cmd, int fault, struct bench_ssession *s)
{
	if (cmd == BENCH_SINK_CONNECT || cmd == BENCH_SINK_QUIT) {
		s->close_after_send = 1;
		return fault == FAULT_SOFT ? "421 4.3.0 mtasink: injected fault\r\n" :
		                             "554 5.3.0 mtasink: injected fault\r\n";
	}
	if (cmd == BENCH_SINK_DOT || cmd == BENCH_SINK_MAIL) {
		s->has_mail = 0;
		s->bdat_chunks = 0;
	}
	return fault == FAULT_SOFT ? "451 4.3.0 Error: injected fault\r\n" :
	                             "550 5.3.0 Error: injected fault\r\n";
}

/* One event (a command, the greeting, or the end of a message): reply,
 * inject what was asked, perhaps start a delay (not for STARTTLS: TLS
 * starts right behind its reply). Returns -1 when the session was closed. */
int
ssession_event(struct bench_ssession *s, enum bench_sink_cmd cmd,
               const struct bench_sink_event *ev)
{
	struct bench_sinker *sk = s->sk;
	char buf[512];
	sink_count(&sk->ctr.commands[cmd], 1);
	int fault = sink_fault(sk, cmd);
	if (fault == FAULT_DROP) {
		sink_count(&sk->ctr.dropped, 1);
		ssession_close(s);
		return -1;
	}
	const char *reply;
	if (fault != FAULT_NONE) {
		if (cmd == BENCH_SINK_DOT)
			sink_count(&sk->ctr.rejected, 1);
		reply = sink_fault_reply(cmd, fault, s);
	} else if (cmd == BENCH_SINK_CONNECT) {
		snprintf(buf, sizeof buf, "220 %s ESMTP mtasink\r\n", sk->cfg->hostname);
		reply = buf;
	} else if (cmd == BENCH_SINK_DOT) {
		reply = ssession_message_end(s, ev);
	} else {
		reply = ssession_answer(s, ev, buf, sizeof buf);
	}
	uint32_t delay_ms = cmd == BENCH_SINK_STARTTLS ? 0 : sk->cfg->delays_ms[cmd];
	if (delay_ms != 0)
		s->wait_timer = 1;
	if (ssession_reply(s, reply) < 0) {
		sink_count(&sk->ctr.errors, 1);
		ssession_close(s);
		return -1;
	}
	if (delay_ms != 0) {
		s->ts.tv_sec = delay_ms / 1000;
		s->ts.tv_nsec = (long long)(delay_ms % 1000) * 1000000;
		struct io_uring_sqe *sqe = bench_ring_sqe(&sk->ring);
		io_uring_prep_timeout(sqe, &s->ts, 0, 0);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | OP_TIMER);
		s->timer_armed = 1;
		s->inflight++;
	}
	return 0;
}

/* The next SMTP bytes to read: the rest of the held buffer, or with TLS
 * the decrypted bytes. 0 when there are none now, -1 when the session was
 * closed. */
static ssize_t
ssession_input(struct bench_ssession *s, const char **data)
{
	if (s->tls_on)
		return ssession_tls_input(s, data);
	if (!s->holding || s->hoff >= s->hlen)
		return 0;
	*data = ssession_held(s) + s->hoff;
	return (ssize_t)(s->hlen - s->hoff);
}

/* n bytes of what ssession_input gave were read. */
static void
ssession_consume(struct bench_ssession *s, size_t n)
{
	if (s->tls_on)
		s->poff += n;
	else
		s->hoff += n;
}

/* RFC 3030: "BDAT size [LAST]" starts reading its chunk, answered when the
 * chunk has been read (a refused chunk is read too, 2); a chunk that is
 * not the last gets 250 with its size. Returns 1 when ev ends a LAST chunk
 * of a good transaction (the caller answers it as end of data), 0 when
 * answered here, -1 when the session was closed. */
static int
ssession_bdat(struct bench_ssession *s, const struct bench_sink_event *ev)
{
	char buf[128];
	const char *reply;
	if (ev->type == BENCH_SINK_EV_COMMAND) {
		uint64_t size;
		int last;
		sink_count(&s->sk->ctr.commands[BENCH_SINK_BDAT], 1);
		if (!s->sk->cfg->chunking) {
			reply = "502 5.5.2 Error: command not recognized\r\n";
		} else if (bench_sink_parse_bdat(ev->arg, &size, &last) < 0) {
			/* no size to skip: nothing after this line can be trusted */
			s->close_after_send = 1;
			reply = "501 5.5.4 Syntax: BDAT size [LAST]\r\n";
		} else {
			struct bench_sink_event end;
			int empty = bench_sink_begin_bdat(&s->p, size, last, s->bdat_chunks++ == 0, &end);
			return empty ? ssession_bdat(s, &end) : 0;   /* else answered at its end */
		}
	} else if (!s->has_mail || s->nrcpt == 0) {
		reply = !s->has_mail ? "503 5.5.1 Error: need MAIL command\r\n"
		                     : "554 5.5.1 Error: no valid recipients\r\n";
		s->has_mail = 0;
		s->bdat_chunks = 0;
	} else if (ev->last) {
		return 1;
	} else {
		snprintf(buf, sizeof buf, "250 2.0.0 %llu octets received\r\n",
		         (unsigned long long)ev->bytes);
		reply = buf;
	}
	if (ssession_reply(s, reply) < 0) {
		sink_count(&s->sk->ctr.errors, 1);
		ssession_close(s);
		return -1;
	}
	return 0;
}

/* A command or the end of a message: answer it; STARTTLS's 220 switches
 * to TLS and drops what the client sent behind it (RFC 3207 5). Returns
 * -1 when the session was closed. */
static int
ssession_on_event(struct bench_ssession *s, const struct bench_sink_event *ev)
{
	enum bench_sink_cmd cmd = ev->type == BENCH_SINK_EV_DATA_END ? BENCH_SINK_DOT : ev->cmd;
	if (s->auth_step != SINK_AUTH_NONE && ev->type == BENCH_SINK_EV_COMMAND)
		cmd = BENCH_SINK_AUTH;
	if (ev->type == BENCH_SINK_EV_BDAT_END || (ev->type == BENCH_SINK_EV_COMMAND &&
	                                            cmd == BENCH_SINK_BDAT)) {
		int r = ssession_bdat(s, ev);
		if (r <= 0)
			return r;
		cmd = BENCH_SINK_DOT;   /* the end of the LAST chunk, a transaction's end */
	}
	if (ssession_event(s, cmd, ev) < 0)
		return -1;
	if (s->starttls_pending) {
		s->starttls_pending = 0;
		s->hoff = s->hlen;
		if (ssession_tls_begin(s) < 0)
			return -1;
	}
	if (s->out_len > SINK_OUT_HIGH_BYTES)
		s->wait_send = 1;
	return 0;
}

/* Read the held buffer from hoff on (through the PROXY header reader and
 * TLS when they are on), event by event, until it is used up or a delay or
 * a full output pauses the session. */
static void
ssession_process(struct bench_ssession *s)
{
	while (!s->wait_timer && !s->wait_send && !s->close_after_send) {
		if (s->proxy_pending) {
			int r = ssession_proxy_feed(s);
			if (r < 0)
				return;
			if (r == 0)
				break;
			continue;
		}
		const char *data;
		ssize_t avail = ssession_input(s, &data);
		if (avail < 0)
			return;
		if (avail == 0)
			break;
		struct bench_sink_event ev;
		size_t n = bench_sink_feed(&s->p, data, (size_t)avail, &ev);
		ssession_consume(s, n);
		if (ev.type != BENCH_SINK_EV_NONE && ssession_on_event(s, &ev) < 0)
			return;
	}
	if (!s->wait_timer && !s->wait_send && (s->close_after_send || !ssession_tls_holds(s)))
		ssession_buffer_return(s);
	ssession_flush(s);
	ssession_recv_arm(s);
}

/* A pause ended: go on with the held buffer, or receive more. */
static void
ssession_resume(struct bench_ssession *s)
{
	if (s->closing || s->wait_timer || s->wait_send)
		return;
	if (s->holding)
		ssession_process(s);
	else
		ssession_recv_arm(s);
}

/* Close: at once when nothing is in flight, else cancel and wait; the
 * memory goes at the end of the turn. */
void
ssession_close(struct bench_ssession *s)
{
	struct bench_sinker *sk = s->sk;
	if (!s->closing) {
		s->closing = 1;
		if (s->inflight > 0) {
			shutdown(s->fd, SHUT_RDWR);
			struct io_uring_sqe *sqe = bench_ring_sqe(&sk->ring);
			io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, 0);
			if (s->timer_armed) {
				sqe = bench_ring_sqe(&sk->ring);
				io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)s | OP_TIMER, 0);
				io_uring_sqe_set_data64(sqe, 0);
			}
		}
	}
	if (s->inflight > 0 || s->dead)
		return;
	s->dead = 1;
	ssession_buffer_return(s);
	ssession_tls_end(s);
	close(s->fd);
	s->fd = -1;
	if (s->prev)
		s->prev->next = s->next;
	else
		sk->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next_dead = sk->dead;
	sk->dead = s;
	atomic_fetch_sub_explicit(&sk->ctr.active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&bench_sink_shared.open, 1, memory_order_relaxed);
}

/* One more session open over every thread: the peak follows (what a
 * relay's connection limits are checked against). */
static void
sink_open_peak(void)
{
	unsigned now = atomic_fetch_add_explicit(&bench_sink_shared.open, 1,
	                                         memory_order_relaxed) + 1;
	unsigned peak = atomic_load_explicit(&bench_sink_shared.open_peak, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&bench_sink_shared.open_peak, &peak, now,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

/* A receive completed. */
static void
ssession_recv_done(struct bench_ssession *s, int res, unsigned flags)
{
	struct bench_sinker *sk = s->sk;
	if (res == -ENOBUFS) {
		s->starved = 1;
		s->next_starved = sk->starved;
		sk->starved = s;
		return;
	}
	if (flags & IORING_CQE_F_BUFFER) {
		s->bid = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
		s->holding = 1;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET)
			sink_count(&sk->ctr.errors, 1);
		ssession_close(s);
		return;
	}
	s->last_ns = sk->now_ns;
	s->hoff = 0;
	s->hlen = (size_t)res;
	ssession_process(s);
}

/* A send completed, perhaps short. */
static void
ssession_send_done(struct bench_ssession *s, int res)
{
	if (res < 0) {
		ssession_close(s);
		return;
	}
	size_t n = (size_t)res, tls_left = 0;
	if (s->send_tls) {
		s->send_tls = 0;
		bench_tls_sent(&s->tls, n);
		bench_tls_out(&s->tls, &tls_left);
	} else {
		memmove(s->out, s->out + n, s->out_len - n);
		s->out_len -= n;
		s->out_ready -= n;
	}
	if (s->out_ready > 0 || tls_left > 0) {
		ssession_flush(s);
		return;
	}
	if (s->close_after_send && s->out_len == 0) {
		ssession_close(s);
		return;
	}
	if (s->wait_send && s->out_len <= SINK_OUT_HIGH_BYTES) {
		s->wait_send = 0;
		ssession_resume(s);
	}
}

/* A delay ended: its reply may go, reading goes on. */
static void
ssession_timer_done(struct bench_ssession *s)
{
	s->wait_timer = 0;
	s->out_ready = s->out_len;
	ssession_flush(s);
	ssession_resume(s);
}

/* A connection arrived: a session and its greeting. */
static void
sink_accepted(struct bench_sinker *sk, int fd)
{
	struct bench_ssession *s = NULL;
	if (!atomic_load(&bench_sink_shared.stopping) &&
	    atomic_load_explicit(&sk->ctr.active, memory_order_relaxed) < sk->cfg->sessions_max)
		s = malloc(sizeof *s);
	if (s == NULL) {
		sink_count(&sk->ctr.refused, 1);
		close(fd);
		return;
	}
	memset(s, 0, offsetof(struct bench_ssession, out));
	bench_sink_init(&s->p);
	s->sk = sk;
	s->fd = fd;
	s->out_len = s->out_ready = s->send_len = 0;
	s->has_mail = 0;
	s->nrcpt = 0;
	s->last_ns = sk->now_ns;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->next = sk->sessions;
	if (sk->sessions)
		sk->sessions->prev = s;
	sk->sessions = s;
	sink_count(&sk->ctr.sessions, 1);
	atomic_fetch_add_explicit(&sk->ctr.active, 1, memory_order_relaxed);
	sink_open_peak();
	if (sk->cfg->proxy) {
		s->proxy_pending = 1;
		proto_proxy_init(&s->pp);
	} else if (ssession_start(s) < 0) {
		return;
	}
	ssession_flush(s);
	if (!s->wait_timer)
		ssession_recv_arm(s);
}

/* The greeting, or with implicit TLS the handshake (the greeting follows
 * it). Returns -1 when the session was closed. */
int
ssession_start(struct bench_ssession *s)
{
	if (s->sk->cfg->tls_implicit)
		return ssession_tls_begin(s);
	return ssession_event(s, BENCH_SINK_CONNECT, NULL);
}

/* Dispatch one completion: the accept, or a session's operation (the
 * session with the operation in the low bits); 0 is a cancel. */
static void
sink_complete(struct bench_sinker *sk, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	if (ud == 0)
		return;
	if (ud == SINK_UD_ACCEPT) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			sk->accept_armed = 0;
		if (cqe->res >= 0)
			sink_accepted(sk, cqe->res);
		else if (cqe->res != -ECANCELED)
			sink_count(&sk->ctr.errors, 1);
		return;
	}
	struct bench_ssession *s = (struct bench_ssession *)(uintptr_t)(ud & ~UINT64_C(7));
	unsigned op = (unsigned)(ud & 7);
	s->inflight--;
	if (op == OP_RECV)
		s->recv_armed = 0;
	else if (op == OP_SEND)
		s->send_armed = 0;
	else
		s->timer_armed = 0;
	if (s->closing) {
		if (op == OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER)) {
			s->bid = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			s->holding = 1;
			ssession_buffer_return(s);
		}
		ssession_close(s);
		return;
	}
	if (op == OP_RECV)
		ssession_recv_done(s, cqe->res, cqe->flags);
	else if (op == OP_SEND)
		ssession_send_done(s, cqe->res);
	else
		ssession_timer_done(s);
}

/* End of a turn: re-arm what starved for buffers (when some came back),
 * drop closed sessions from that list, free closed sessions. */
static void
sink_end_of_turn(struct bench_sinker *sk)
{
	struct bench_ssession *s = sk->starved, *keep = NULL;
	while (s != NULL) {
		struct bench_ssession *next = s->next_starved;
		if (s->closing || sk->bufs_returned > 0) {
			s->starved = 0;
			if (!s->closing)
				ssession_recv_arm(s);
		} else {
			s->next_starved = keep;
			keep = s;
		}
		s = next;
	}
	sk->starved = keep;
	sk->bufs_returned = 0;
	while (sk->dead != NULL) {
		s = sk->dead;
		sk->dead = s->next_dead;
		free(s);
	}
	if (!sk->stop_started)
		sink_accept_arm(sk);
}

/* Every 100 ms: close sessions silent for idle_ns. */
static void
sink_tick(struct bench_sinker *sk)
{
	for (struct bench_ssession *s = sk->sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (!s->closing && sk->now_ns - s->last_ns > sk->cfg->idle_ns &&
		    !s->wait_timer && !s->send_armed)
			ssession_close(s);
	}
}

/* Stopping: stop accepting, close every session; returns 1 when the loop
 * may end. */
static int
sink_stopping(struct bench_sinker *sk)
{
	if (!sk->stop_started) {
		sk->stop_started = 1;
		sk->stop_deadline_ns = sk->now_ns + SINK_STOP_GRACE_NS;
		if (sk->accept_armed) {
			struct io_uring_sqe *sqe = bench_ring_sqe(&sk->ring);
			io_uring_prep_cancel64(sqe, SINK_UD_ACCEPT, 0);
			io_uring_sqe_set_data64(sqe, 0);
		}
		for (struct bench_ssession *s = sk->sessions, *next; s != NULL; s = next) {
			next = s->next;
			ssession_close(s);
		}
	}
	return (sk->sessions == NULL && !sk->accept_armed) || sk->now_ns >= sk->stop_deadline_ns;
}

/* The sinker's thread: set up the ring and buffers, then turn until
 * stopped. */
static void *
sink_main(void *arg)
{
	struct bench_sinker *sk = arg;
	int ret = bench_ring_init(&sk->ring, SINK_RING_ENTRIES);
	if (ret == 0)
		ret = sink_bufs_setup(sk);
	if (ret < 0) {
		sk->setup_error = -ret;
		snprintf(sk->setup_message, sizeof sk->setup_message, "io_uring set-up: %s (%s)",
		         strerror(-ret), bench_ring_hint(ret));
		bench_sink_stop();
		return NULL;
	}
	sk->now_ns = bench_now_ns();
	sk->next_tick_ns = sk->now_ns + SINK_TICK_NS;
	sink_accept_arm(sk);
	for (;;) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = SINK_TICK_NS };
		struct io_uring_cqe *cqe;
		ret = io_uring_submit_and_wait_timeout(&sk->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			fprintf(stderr, "mtasink: thread %u: io_uring_enter: %s\n", sk->index,
			        strerror(-ret));
		sk->now_ns = bench_now_ns();
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&sk->ring, head, cqe) {
			sink_complete(sk, cqe);
			seen++;
		}
		io_uring_cq_advance(&sk->ring, seen);
		sink_end_of_turn(sk);
		if (atomic_load_explicit(&bench_sink_shared.stopping, memory_order_relaxed) &&
		    sink_stopping(sk))
			break;
		if (sk->now_ns >= sk->next_tick_ns) {
			sink_tick(sk);
			sk->next_tick_ns = sk->now_ns + SINK_TICK_NS;
		}
	}
	io_uring_queue_exit(&sk->ring);
	if (sk->cfg->tls_ctx != NULL)
		bench_tls_thread_end();
	return NULL;
}

/* Run the sinker on its own thread. */
int
bench_sinker_start(struct bench_sinker *sk)
{
	return pthread_create(&sk->thread, NULL, sink_main, sk);
}

/* Join the thread and free what init and the thread allocated, except the
 * Message-ID list (sk->ids, the caller frees it after writing it out).
 * Sessions still open past the grace time are closed here. */
void
bench_sinker_finish(struct bench_sinker *sk)
{
	pthread_join(sk->thread, NULL);
	while (sk->sessions != NULL) {
		struct bench_ssession *s = sk->sessions;
		sk->sessions = s->next;
		if (s->fd >= 0)
			close(s->fd);
		ssession_tls_end(s);
		free(s);
	}
	while (sk->dead != NULL) {
		struct bench_ssession *s = sk->dead;
		sk->dead = s->next_dead;
		free(s);
	}
	if (sk->listen_fd >= 0)
		close(sk->listen_fd);
	sk->listen_fd = -1;
	if (sk->br != NULL)
		munmap(sk->br, BENCH_SINK_BUF_COUNT * sizeof(struct io_uring_buf));
	sk->br = NULL;
	free(sk->bufs);
	sk->bufs = NULL;
}
