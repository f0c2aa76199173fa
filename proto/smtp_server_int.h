/*
 * proto/smtp_server_int.h - what proto/smtp_server.c (commands, replies,
 * the event pump) and proto/smtp_body.c (the DATA body reader) share. Not
 * for users of the machine: they include proto/smtp_server.h.
 */
#ifndef PROTO_SMTP_SERVER_INT_H
#define PROTO_SMTP_SERVER_INT_H

#include "proto/smtp_server.h"

/* The most one call of next() or answer() appends to s->out: the EHLO reply
 * with every extension, or an error reply and the 421 after it. next()
 * returns FLUSH unless that much room plus one more line is free, so the
 * 421 of timeout() or shutdown() always fits, even right after a FLUSH. */
#define PROTO_SERVER_STEP_BYTES_MAX (4 * PROTO_REPLY_BYTES_MAX)
#define PROTO_SERVER_ROOM_BYTES (PROTO_SERVER_STEP_BYTES_MAX + PROTO_REPLY_BYTES_MAX)

/* Internal result of a step: nothing to report, keep going. */
#define PROTO_SERVER_GO (-1)

/* body_error bits: why a DATA/BDAT body will be refused at its end */
#define PROTO_BODY_ERR_SIZE 0x1u  /* over size_max: 552 5.3.4 */
#define PROTO_BODY_ERR_LINE 0x2u  /* a line over text_line_bytes_max: 500 5.5.2 */

/* Append one reply line "code<sep>[enhanced ]text" to s->out, cut to
 * PROTO_REPLY_BYTES_MAX, control and 8-bit octets replaced by '?'. */
void proto_server_put(struct proto_server *s, int code, char sep, const char *enhanced,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Mark the session over; next() returns kind (QUIT or CLOSE) from now on. */
void proto_server_close(struct proto_server *s, enum proto_event_kind kind);
/* Drop the transaction: back to HELO state with no recipients. */
void proto_server_txn_reset(struct proto_server *s);

/* Call when DATA was accepted (354): the body reader starts at a line start. */
void proto_server_body_begin(struct proto_server *s);
/* In BODY or DRAIN with input: one step of the body reader. Returns BODY,
 * BODY_END, TXN_RESET, CLOSE or PROTO_SERVER_GO. */
int proto_server_body(struct proto_server *s, struct proto_event *ev);

#endif
