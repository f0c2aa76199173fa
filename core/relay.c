/*
 * core/relay.c - outbound SMTP to a smart host on the shard's ring: the
 * destination queues, the connection pool, and the glue between socket
 * operations and proto/smtp_client.c. See core/relay.h.
 */
#include "core/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/shard.h"
#include "proto/smtp_client.h"
#include "queue/queue.h"
#include "rules/rules.h"

struct relay_dest {
	struct list_head node;
	char host[RULES_HOST_BYTES_MAX];
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char via[RULES_HOST_BYTES_MAX + 64];   /* "host [addr]:port" for logs */
	struct delivery_item *head, *tail;
	unsigned queued;
	unsigned nconns, nconnecting;
	struct list_head conns;
	int kick;                  /* new work arrived this turn */
};

struct relay_conn {
	struct list_head node;
	struct relay_dest *dest;
	struct shard *sh;
	uint64_t id;
	int fd;
	struct core_op connect_op, recv_op, send_op;
	unsigned inflight;
	int connected, receiving, sending, closing, in_body;
	uint64_t last_active_ms;
	struct proto_client pc;
	struct delivery_item *items[RELAY_TXN_RCPT_MAX];
	const char *rcpts[RELAY_TXN_RCPT_MAX];     /* into items[i]->env: kept until TXN_DONE */
	int rcpt_code[RELAY_TXN_RCPT_MAX];         /* a refused RCPT's code, 0 if accepted */
	char rcpt_stat[RELAY_TXN_RCPT_MAX][QUEUE_ERROR_BYTES_MAX / 2];
	char sender[QUEUE_ADDR_BYTES_MAX];
	unsigned nitems;
	char *body;
	size_t body_len, body_off;
	char inbuf[4096];
};

struct relay_pool {
	struct list_head dests;
	struct list_head dead;
	unsigned nconns;
	int kick;                  /* some destination has kick set */
};

static void relay_pump(struct relay_conn *c);
static void relay_conn_close(struct relay_conn *c, const char *why);

int
relay_init(struct shard *sh)
{
	sh->relay = calloc(1, sizeof *sh->relay);
	if (sh->relay == NULL)
		return -ENOMEM;
	list_init(&sh->relay->dests);
	list_init(&sh->relay->dead);
	return 0;
}

int
relay_idle(struct shard *sh)
{
	return sh->relay->nconns == 0;
}

/* Resolve host:port once per destination. Numeric addresses need no
 * lookup; a name is resolved with the system resolver (blocking, once). */
static int
relay_dest_resolve(struct relay_dest *d)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", d->port);
	hints.ai_flags = AI_NUMERICHOST;
	int ret = getaddrinfo(d->host, port, &hints, &res);
	if (ret != 0) {
		hints.ai_flags = 0;
		ret = getaddrinfo(d->host, port, &hints, &res);
	}
	if (ret != 0 || res == NULL)
		return -1;
	memcpy(&d->addr, res->ai_addr, res->ai_addrlen);
	d->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	char text[64];
	listener_addr_text((struct sockaddr *)&d->addr, text, sizeof text);
	snprintf(d->via, sizeof d->via, "%s [%s]:%u", d->host, text, d->port);
	return 0;
}

static struct relay_dest *
relay_dest_get(struct shard *sh, const struct rules_action *a)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->relay->dests) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->port == a->relay_port && strcasecmp(d->host, a->relay_host) == 0)
			return d;
	}
	struct relay_dest *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	snprintf(d->host, sizeof d->host, "%s", a->relay_host);
	d->port = a->relay_port ? a->relay_port : 25;
	snprintf(d->via, sizeof d->via, "%s:%u", d->host, d->port);
	list_init(&d->conns);
	list_add_tail(&sh->relay->dests, &d->node);
	return d;
}

/* Fail every queued item of d (the destination cannot be reached). */
static void
relay_dest_fail_queued(struct shard *sh, struct relay_dest *d, const char *stat)
{
	while (d->head != NULL) {
		struct delivery_item *it = d->head;
		d->head = it->next;
		d->queued--;
		delivery_result(sh, it, DELIVERY_TEMPFAIL, stat, d->via);
	}
	d->tail = NULL;
}

static void relay_connect_complete(struct core_op *op, int res, unsigned flags);
static void relay_recv_complete(struct core_op *op, int res, unsigned flags);
static void relay_send_complete(struct core_op *op, int res, unsigned flags);

/* Open one more connection to d. */
static void
relay_conn_open(struct shard *sh, struct relay_dest *d)
{
	if (d->addr_len == 0 && relay_dest_resolve(d) < 0) {
		relay_dest_fail_queued(sh, d, "Error (cannot resolve relay host)");
		return;
	}
	struct relay_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c);
		relay_dest_fail_queued(sh, d, "Error (socket)");
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->dest = d;
	c->sh = sh;
	c->id = daemon_id_new(sh->daemon);
	c->connect_op.complete = relay_connect_complete;
	c->recv_op.complete = relay_recv_complete;
	c->send_op.complete = relay_send_complete;
	c->last_active_ms = sh->now_ms;
	list_add_tail(&d->conns, &c->node);
	d->nconns++;
	d->nconnecting++;
	sh->relay->nconns++;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&d->addr, d->addr_len);
	io_uring_sqe_set_data(sqe, &c->connect_op);
	c->inflight++;
}

/* Start a transaction on c with the next message queued for its destination:
 * the head item and the items right behind it from the same message. */
static int
relay_take_work(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	if (d->head == NULL)
		return 0;
	uint32_t msgid = (uint32_t)(d->head->env.id >> 32);
	c->nitems = 0;
	while (d->head != NULL && c->nitems < RELAY_TXN_RCPT_MAX &&
	       (uint32_t)(d->head->env.id >> 32) == msgid &&
	       strcmp(d->head->env.sender, c->nitems ? c->items[0]->env.sender : d->head->env.sender) == 0) {
		struct delivery_item *it = d->head;
		d->head = it->next;
		d->queued--;
		it->next = NULL;
		c->rcpts[c->nitems] = it->env.dest;
		c->rcpt_code[c->nitems] = 0;
		c->items[c->nitems++] = it;
	}
	if (d->head == NULL)
		d->tail = NULL;
	int ret = queue_body_load(c->sh->daemon->queue, msgid, &c->body, &c->body_len);
	if (ret < 0) {
		for (unsigned i = 0; i < c->nitems; i++)
			delivery_result(c->sh, c->items[i], DELIVERY_TEMPFAIL,
			                "Error (queue read failed)", d->via);
		c->nitems = 0;
		return relay_take_work(c);
	}
	c->body_off = 0;
	snprintf(c->sender, sizeof c->sender, "%s", c->items[0]->env.sender);
	if (proto_client_mail(&c->pc, c->sender, c->rcpts, c->nitems,
	                      c->body_len) < 0) {
		for (unsigned i = 0; i < c->nitems; i++)
			delivery_result(c->sh, c->items[i], DELIVERY_PERMFAIL,
			                "Error (address too long)", d->via);
		c->nitems = 0;
		free(c->body);
		c->body = NULL;
		return 0;
	}
	return 1;
}

/* The transaction ended with code/text (text starts with the code, as the
 * peer said it; code 0 is a local error): report every recipient, those
 * refused at RCPT with their own answer. */
static void
relay_finish_items(struct relay_conn *c, int code, const char *text)
{
	char stat[QUEUE_ERROR_BYTES_MAX];
	if (code > 0)
		snprintf(stat, sizeof stat, "%s", text);
	else
		snprintf(stat, sizeof stat, "Error (%s)", text);
	for (unsigned i = 0; i < c->nitems; i++) {
		int rc = c->rcpt_code[i] ? c->rcpt_code[i] : code;
		enum delivery_status st = rc >= 200 && rc < 300 ? DELIVERY_OK :
		                          rc >= 500 ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL;
		if (c->items[i] != NULL)
			delivery_result(c->sh, c->items[i], st,
			                c->rcpt_code[i] ? c->rcpt_stat[i] : stat, c->dest->via);
		c->items[i] = NULL;
	}
	c->nitems = 0;
	free(c->body);
	c->body = NULL;
	c->in_body = 0;
}

static void
relay_flush(struct relay_conn *c)
{
	if (c->sending || c->pc.out_len == 0 || c->closing)
		return;
	struct io_uring_sqe *sqe = shard_sqe(c->sh);
	io_uring_prep_send(sqe, c->fd, c->pc.out, c->pc.out_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->send_op);
	c->sending = 1;
	c->inflight++;
}

static void
relay_recv_arm(struct relay_conn *c)
{
	if (c->receiving || c->closing)
		return;
	struct io_uring_sqe *sqe = shard_sqe(c->sh);
	io_uring_prep_recv(sqe, c->fd, c->inbuf, sizeof c->inbuf, 0);
	io_uring_sqe_set_data(sqe, &c->recv_op);
	c->receiving = 1;
	c->inflight++;
}

/* Feed body bytes while c->pc.out has room; end the body when all went. */
static int
relay_feed_body(struct relay_conn *c)
{
	if (c->body_off < c->body_len)
		c->body_off += proto_client_body(&c->pc, c->body + c->body_off,
		                                 c->body_len - c->body_off);
	if (c->body_off < c->body_len)
		return 0;
	proto_client_body_end(&c->pc);
	c->in_body = 0;
	return 1;
}

/* Drive the client machine until it needs the network. */
static void
relay_pump(struct relay_conn *c)
{
	while (!c->closing) {
		if (c->in_body && !c->sending && !relay_feed_body(c)) {
			relay_flush(c);
			return;
		}
		if (c->in_body) {
			relay_flush(c);
			return;
		}
		struct proto_client_event ev;
		switch (proto_client_next(&c->pc, &ev)) {
		case PROTO_CEV_NEED_MORE:
			relay_flush(c);
			relay_recv_arm(c);
			return;
		case PROTO_CEV_SEND:
			relay_flush(c);
			return;
		case PROTO_CEV_READY:
			if (c->sh->stopping || !relay_take_work(c)) {
				if (c->sh->stopping) {
					proto_client_quit(&c->pc);
					break;
				}
				/* idle: listen, so a peer that hangs up is noticed;
				 * relay_tick says QUIT after a while */
				relay_recv_arm(c);
				return;
			}
			break;
		case PROTO_CEV_RCPT:
			if (ev.index < c->nitems && (ev.code < 200 || ev.code >= 300)) {
				c->rcpt_code[ev.index] = ev.code;
				snprintf(c->rcpt_stat[ev.index], sizeof c->rcpt_stat[ev.index], "%s",
				         ev.text);
			}
			break;
		case PROTO_CEV_BODY:
			c->in_body = 1;
			break;
		case PROTO_CEV_TXN_DONE:
			relay_finish_items(c, ev.code, ev.text);
			c->last_active_ms = c->sh->now_ms;
			break;
		case PROTO_CEV_CLOSED:
			if (ev.code >= 400 && ev.code < 500)
				relay_finish_items(c, ev.code, ev.text);
			else
				relay_finish_items(c, 0, ev.text ? ev.text : "connection closed");
			relay_conn_close(c, NULL);
			return;
		}
	}
}

static void
relay_connect_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, connect_op);
	struct relay_dest *d = c->dest;
	c->inflight--;
	d->nconnecting--;
	if (res < 0) {
		char stat[128];
		snprintf(stat, sizeof stat, "Error (%s)", strerror(-res));
		log_info("%016llx mta error reason=connect relay=%s: %s", (unsigned long long)c->id,
		         d->via, strerror(-res));
		/* nobody else is talking to it: everything waiting fails for now */
		if (d->nconns - d->nconnecting <= 1)
			relay_dest_fail_queued(c->sh, d, stat);
		relay_conn_close(c, NULL);
		return;
	}
	c->connected = 1;
	c->last_active_ms = c->sh->now_ms;
	log_info("%016llx mta connected relay=%s", (unsigned long long)c->id, d->via);
	struct proto_client_params p = { .helo = c->sh->daemon->hostname };
	proto_client_init(&c->pc, &p);
	relay_pump(c);
}

static void
relay_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, recv_op);
	c->inflight--;
	c->receiving = 0;
	if (c->closing) {
		relay_conn_close(c, NULL);
		return;
	}
	if (res <= 0) {
		relay_finish_items(c, 0, res == 0 ? "connection closed by peer" : strerror(-res));
		relay_conn_close(c, NULL);
		return;
	}
	c->last_active_ms = c->sh->now_ms;
	proto_client_feed(&c->pc, c->inbuf, (size_t)res);
	relay_pump(c);
}

static void
relay_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, send_op);
	c->inflight--;
	c->sending = 0;
	if (c->closing) {
		relay_conn_close(c, NULL);
		return;
	}
	if (res < 0) {
		relay_finish_items(c, 0, strerror(-res));
		relay_conn_close(c, NULL);
		return;
	}
	proto_client_out_sent(&c->pc, (size_t)res);
	relay_pump(c);
}

/* Close (once nothing is in flight); the destination may open another. */
static void
relay_conn_close(struct relay_conn *c, const char *why)
{
	struct shard *sh = c->sh;
	if (!c->closing) {
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
		relay_finish_items(c, 0, why ? why : "connection closed");
	}
	if (c->inflight > 0)
		return;
	struct relay_dest *d = c->dest;
	list_del(&c->node);
	d->nconns--;
	sh->relay->nconns--;
	close(c->fd);
	free(c->body);
	free(c);
	if (d->head != NULL && !sh->stopping && d->nconns == 0)
		relay_conn_open(sh, d);
}

/* Give the next message to an idle connection, or open one. */
static void
relay_dest_kick(struct shard *sh, struct relay_dest *d)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &d->conns) {
		struct relay_conn *c = container_of(pos, struct relay_conn, node);
		if (d->head == NULL)
			return;
		if (c->connected && !c->closing && c->nitems == 0 && !c->sending &&
		    c->pc.out_len == 0 && !c->in_body) {
			relay_pump(c);
		}
	}
	unsigned busy_or_pending = d->nconns;
	if (d->head != NULL && d->queued > d->nconnecting && busy_or_pending < RELAY_CONNS_PER_DEST_MAX)
		relay_conn_open(sh, d);
}

void
relay_enqueue(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	if (a->relay_host[0] == '\0') {
		delivery_result(sh, it, DELIVERY_TEMPFAIL,
		                "Error (relaying by MX lookup is not available yet)", NULL);
		return;
	}
	struct relay_dest *d = relay_dest_get(sh, a);
	if (d == NULL) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL, "Error (out of memory)", NULL);
		return;
	}
	it->next = NULL;
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	d->queued++;
	/* kicked at the end of the turn, so the recipients of one message that
	 * arrive together travel in one transaction */
	d->kick = 1;
	sh->relay->kick = 1;
}

void
relay_end_of_turn(struct shard *sh)
{
	if (!sh->relay->kick)
		return;
	sh->relay->kick = 0;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->relay->dests) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->kick) {
			d->kick = 0;
			relay_dest_kick(sh, d);
		}
	}
}

void
relay_tick(struct shard *sh)
{
	struct list_head *dp, *dt, *cp, *ct;
	list_for_each_safe(dp, dt, &sh->relay->dests) {
		struct relay_dest *d = container_of(dp, struct relay_dest, node);
		list_for_each_safe(cp, ct, &d->conns) {
			struct relay_conn *c = container_of(cp, struct relay_conn, node);
			uint64_t quiet = sh->now_ms - c->last_active_ms;
			if (c->closing)
				continue;
			if (!c->connected && quiet > RELAY_CONNECT_MS_MAX) {
				relay_conn_close(c, "connect timeout");
			} else if (c->nitems > 0 && quiet > RELAY_REPLY_MS_MAX) {
				relay_conn_close(c, "timeout waiting for the peer");
			} else if (c->connected && c->nitems == 0 && c->pc.out_len == 0 &&
			           (quiet > RELAY_IDLE_MS_MAX || sh->stopping)) {
				c->last_active_ms = sh->now_ms;
				proto_client_quit(&c->pc);
				relay_pump(c);
			}
		}
		if (!sh->stopping)
			relay_dest_kick(sh, d);
	}
}

void
relay_shutdown(struct shard *sh)
{
	struct list_head *dp, *dt, *cp, *ct;
	list_for_each_safe(dp, dt, &sh->relay->dests) {
		struct relay_dest *d = container_of(dp, struct relay_dest, node);
		list_for_each_safe(cp, ct, &d->conns) {
			struct relay_conn *c = container_of(cp, struct relay_conn, node);
			c->inflight = 0;   /* the ring is going away with its operations */
			c->closing = 1;
			relay_conn_close(c, NULL);
		}
		while (d->head != NULL) {
			struct delivery_item *it = d->head;
			d->head = it->next;
			free(it);
		}
		list_del(&d->node);
		free(d);
	}
}
