/*
 * core/milter_conn.h - one connection to one milter on a shard's ring:
 * the socket connected (inet or unix, never blocking), packets written,
 * replies read and parsed (proto/milter_proto.c), and a deadline. It knows
 * nothing of SMTP; core/session_milter.c drives the conversation.
 *
 * milter_conn_open() starts the connection and sends SMFIC_OPTNEG; the
 * negotiation's answer comes to on_reply like any other reply. Packets
 * given to milter_conn_put() are queued behind it and written in order
 * when milter_conn_send() is called (the output grows up to
 * MILTER_CONN_OUT_BYTES_MAX). Inet sockets run with TCP_NODELAY and
 * TCP_QUICKACK: the conversation is many small packets, each awaited. Every reply read
 * goes to on_reply(c, r); a failure (connect refused, end of file, a
 * malformed packet, a write error, or the deadline passed, see
 * milter_conn_tick()) goes there once as r == NULL with c->error set, and
 * the connection is dead from then on (puts are refused).
 *
 * Every operation on the ring is counted in *c->inflight (the owner's
 * counter: the session is not freed while one is out). milter_conn_close()
 * says QUIT (best effort), shuts the socket down so what is in flight
 * ends, and closes it when nothing is; on_reply is not called after it.
 * milter_conn_free() releases the buffers once *inflight reached zero.
 */
#ifndef CORE_MILTER_CONN_H
#define CORE_MILTER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/shard.h"
#include "proto/milter_proto.h"

struct rules_milter;

#define MILTER_CONN_OUT_BYTES_MAX (256u << 20)
#define MILTER_CONN_KEEP_BYTES (64u << 10)          /* buffers kept while idle */

struct milter_conn {
	struct shard *sh;
	const struct rules_milter *m;
	unsigned *inflight;          /* the owner's count of ring operations */
	void (*on_reply)(struct milter_conn *c, const struct proto_milter_msg *r);
	/* an operation ended after a failure or close (the owner may be
	 * waiting for its count to reach zero); NULL: nothing */
	void (*on_idle)(struct milter_conn *c);
	void *arg;                   /* the owner's */
	int fd;
	int connected, dead, closing;
	const char *error;           /* why it died */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_cap, out_busy;
	char *out_sent;              /* the buffer a send in flight reads */
	int sending, receiving, connecting;
	unsigned ops;                /* this connection's operations in flight */
	uint64_t deadline_ms;        /* 0: no answer awaited */
	struct core_op connect_op, send_op, recv_op;
};

/* Connect to c->m and send OPTNEG with actions and protocol; 0, or -1
 * (no socket: c->error; on_reply is not called). */
int milter_conn_open(struct milter_conn *c, uint32_t actions, uint32_t protocol);
/* Queue a packet; 0, or -1 when dead or the output is full. Nothing is
 * written before milter_conn_send(), so a step's packets (its macros and
 * its command) leave in one write. */
int milter_conn_put(struct milter_conn *c, const char *pkt, size_t len);
void milter_conn_send(struct milter_conn *c);
/* Reserve room for a packet of at most cap octets at the end of the
 * output: the pointer to build it in, or NULL (dead, full, no memory);
 * milter_conn_commit() then queues the len octets built there. */
char *milter_conn_reserve(struct milter_conn *c, size_t cap);
void milter_conn_commit(struct milter_conn *c, size_t len);
/* An answer is awaited from now: the deadline is the milter's timeout. */
void milter_conn_expect(struct milter_conn *c);
/* Once a second: the deadline passed is a failure ("timeout"). */
void milter_conn_tick(struct milter_conn *c);
void milter_conn_close(struct milter_conn *c);
void milter_conn_free(struct milter_conn *c);

#endif
