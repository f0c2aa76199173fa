/*
 * core/milter_conn.c - a milter connection's socket on the shard's ring:
 * connect, send, receive, deadline. See core/milter_conn.h.
 */
#include "core/milter_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rules/milter.h"

static void milter_conn_recv_arm(struct milter_conn *c);
static void milter_conn_flush(struct milter_conn *c);

/* An operation of c ended: close the socket once none is left after a
 * failure or close. 1 when c is no longer in use (stop there). */
static int
milter_conn_op_end(struct milter_conn *c)
{
	c->ops--;
	(*c->inflight)--;
	if ((c->dead || c->closing) && c->ops == 0 && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->dead || c->closing) {
		if (c->on_idle != NULL)
			c->on_idle(c);
		return 1;
	}
	return 0;
}

/* The connection failed: tell the owner once. */
static void
milter_conn_fail(struct milter_conn *c, const char *why)
{
	if (c->dead || c->closing)
		return;
	c->dead = 1;
	c->error = why;
	c->deadline_ms = 0;
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		if (c->ops == 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
	c->on_reply(c, NULL);
}

static void
milter_conn_connect_complete(struct core_op *op, int res, unsigned flags)
{
	struct milter_conn *c = container_of(op, struct milter_conn, connect_op);

	c->connecting = 0;
	if (milter_conn_op_end(c))
		return;
	if (res < 0) {
		milter_conn_fail(c, res == -ECONNREFUSED ? "connection refused" :
		                    res == -ENOENT ? "no such socket" : "cannot connect");
		return;
	}
	c->connected = 1;
	milter_conn_flush(c);
	milter_conn_recv_arm(c);
}

static void
milter_conn_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct milter_conn *c = container_of(op, struct milter_conn, send_op);

	c->sending = 0;
	if (c->out_sent != c->out)
		free(c->out_sent);   /* the output grew during the send */
	c->out_sent = NULL;
	if (milter_conn_op_end(c))
		return;
	if (res <= 0) {
		milter_conn_fail(c, "write failed");
		return;
	}
	memmove(c->out, c->out + res, c->out_len - (size_t)res);
	c->out_len -= (size_t)res;
	c->out_busy = 0;
	if (c->out_len == 0 && c->out_cap > MILTER_CONN_KEEP_BYTES) {
		free(c->out);   /* a body went out: an idle connection keeps little */
		c->out = NULL;
		c->out_cap = 0;
	}
	milter_conn_flush(c);
}

/* Parse every whole reply received; 0, or -1 when c died. */
static int
milter_conn_replies(struct milter_conn *c)
{
	struct proto_milter_msg r;
	size_t at = 0;
	long n;

	while ((n = proto_milter_parse(c->in + at, c->in_len - at, &r)) > 0) {
		at += (size_t)n;
		if (r.cmd == PROTO_MILTER_R_PROGRESS) {
			milter_conn_expect(c);   /* still working: the clock starts again */
			continue;
		}
		c->on_reply(c, &r);
		if (c->dead || c->closing)
			return -1;
	}
	if (n < 0) {
		milter_conn_fail(c, r.error);
		return -1;
	}
	memmove(c->in, c->in + at, c->in_len - at);
	c->in_len -= at;
	if (c->in_len == 0 && c->in_cap > MILTER_CONN_KEEP_BYTES) {
		free(c->in);   /* a replaced body came in: keep little */
		c->in = NULL;
		c->in_cap = 0;
	}
	return 0;
}

/* Room for the packet being received: up to its length. 0 or -1. */
static int
milter_conn_in_room(struct milter_conn *c)
{
	size_t want = c->in_len + 4096;

	if (c->in_len >= 4) {
		const unsigned char *u = (const unsigned char *)c->in;
		size_t plen = ((size_t)u[0] << 24 | (size_t)u[1] << 16 | (size_t)u[2] << 8 | u[3]) + 4;
		if (plen > want)
			want = plen;
	}
	if (want <= c->in_cap)
		return 0;
	if (want > PROTO_MILTER_PACKET_BYTES_MAX + 8)
		return -1;
	char *p = realloc(c->in, want);
	if (p == NULL)
		return -1;
	c->in = p;
	c->in_cap = want;
	return 0;
}

static void
milter_conn_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct milter_conn *c = container_of(op, struct milter_conn, recv_op);

	c->receiving = 0;
	if (milter_conn_op_end(c))
		return;
	if (res <= 0) {
		milter_conn_fail(c, res == 0 ? "the milter closed the connection" : "read failed");
		return;
	}
	c->in_len += (size_t)res;
	if (milter_conn_replies(c) < 0)
		return;
	milter_conn_recv_arm(c);
}

static void
milter_conn_recv_arm(struct milter_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->receiving || !c->connected || c->dead || c->closing)
		return;
	if (milter_conn_in_room(c) < 0) {
		milter_conn_fail(c, "a reply too large");
		return;
	}
	if (c->m->addr.ss_family != AF_UNIX) {
		/* ACK the milter's packets at once: libmilter writes each reply
		 * by itself (modifications, then the verdict), so with Nagle on
		 * its side the verdict would wait for our delayed ACK (40 ms) */
		int one = 1;
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	}
	sqe = shard_sqe(c->sh);
	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	io_uring_sqe_set_data(sqe, &c->recv_op);
	c->receiving = 1;
	c->ops++;
	(*c->inflight)++;
}

static void
milter_conn_flush(struct milter_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->sending || !c->connected || c->out_len == 0 || c->dead || c->closing)
		return;
	sqe = shard_sqe(c->sh);
	io_uring_prep_send(sqe, c->fd, c->out, c->out_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->send_op);
	c->out_busy = c->out_len;
	c->out_sent = c->out;
	c->sending = 1;
	c->ops++;
	(*c->inflight)++;
}

char *
milter_conn_reserve(struct milter_conn *c, size_t cap)
{
	if (c->dead || c->closing || cap > MILTER_CONN_OUT_BYTES_MAX - c->out_len)
		return NULL;
	if (c->out_len + cap > c->out_cap) {
		size_t want = c->out_len + cap;
		want = want < 4096 ? 4096 : want < 2 * c->out_cap ? 2 * c->out_cap : want;
		char *p = malloc(want);
		if (p == NULL)
			return NULL;
		if (c->out_len > 0)
			memcpy(p, c->out, c->out_len);
		if (c->out != c->out_sent)
			free(c->out);   /* a send still reads out_sent: it goes after it */
		c->out = p;
		c->out_cap = want;
	}
	return c->out + c->out_len;
}

void
milter_conn_commit(struct milter_conn *c, size_t len)
{
	c->out_len += len;
}

void
milter_conn_send(struct milter_conn *c)
{
	milter_conn_flush(c);
}

int
milter_conn_put(struct milter_conn *c, const char *pkt, size_t len)
{
	char *p = milter_conn_reserve(c, len);

	if (p == NULL)
		return -1;
	memcpy(p, pkt, len);
	milter_conn_commit(c, len);
	return 0;
}

void
milter_conn_expect(struct milter_conn *c)
{
	c->deadline_ms = c->sh->now_ms + (uint64_t)c->m->timeout_s * 1000;
}

void
milter_conn_tick(struct milter_conn *c)
{
	if (c->deadline_ms != 0 && c->sh->now_ms >= c->deadline_ms && !c->dead && !c->closing)
		milter_conn_fail(c, "timeout");
}

int
milter_conn_open(struct milter_conn *c, uint32_t actions, uint32_t protocol)
{
	char pkt[32];
	struct io_uring_sqe *sqe;
	int n;

	c->fd = socket(c->m->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->dead = 1;
		c->error = "no socket";
		return -1;
	}
	if (c->m->addr.ss_family != AF_UNIX) {
		/* many small packets, each awaited: no Nagle delay (40 ms each) */
		int one = 1;
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	c->connect_op.complete = milter_conn_connect_complete;
	c->send_op.complete = milter_conn_send_complete;
	c->recv_op.complete = milter_conn_recv_complete;
	n = proto_milter_optneg(pkt, sizeof pkt, actions, protocol);
	if (milter_conn_put(c, pkt, (size_t)n) < 0) {
		close(c->fd);
		c->fd = -1;
		c->dead = 1;
		c->error = "out of memory";
		return -1;
	}
	sqe = shard_sqe(c->sh);
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&c->m->addr, c->m->addr_len);
	io_uring_sqe_set_data(sqe, &c->connect_op);
	c->connecting = 1;
	c->ops++;
	(*c->inflight)++;
	milter_conn_expect(c);
	return 0;
}

void
milter_conn_close(struct milter_conn *c)
{
	static const char quit[5] = { 0, 0, 0, 1, PROTO_MILTER_QUIT };

	if (c->closing)
		return;
	if (c->fd >= 0 && c->connected && !c->dead && c->out_len == 0)
		(void)!send(c->fd, quit, sizeof quit, MSG_NOSIGNAL | MSG_DONTWAIT);
	c->closing = 1;
	c->deadline_ms = 0;
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		if (c->ops == 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
}

void
milter_conn_free(struct milter_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->out_sent != c->out)
		free(c->out_sent);
	free(c->in);
	free(c->out);
	c->in = c->out = c->out_sent = NULL;
}
