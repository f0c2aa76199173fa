/*
 * proto/smtp_server.h - the SMTP server side of one session as a pure state
 * machine (RFC 5321, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2034
 * ENHANCEDSTATUSCODES, RFC 2920 PIPELINING). No I/O, no clock, no allocation:
 * the caller owns the struct proto_server and every byte it feeds.
 *
 * Push bytes in, pull events out:
 *
 *   proto_server_init(&s, &params);
 *   proto_server_greet(&s);                  // queues "220 host ESMTP ringmta"
 *   send(s.out, s.out_len) ...; proto_server_out_sent(&s, n);
 *   proto_server_feed(&s, buf, len);         // buf must stay valid until NEED_MORE
 *   for (;;) {
 *       struct proto_event ev;
 *       switch (proto_server_next(&s, &ev)) {
 *       case PROTO_EV_NEED_MORE: send output, read more, feed again
 *       case PROTO_EV_MAIL: ... proto_server_answer(&s, 250, "2.1.0", "Ok");
 *       ...
 *       }
 *   }
 *
 * Replies are appended to s.out (bounded, PROTO_OUT_BYTES_MAX); with
 * pipelining several replies accumulate and are sent together. When s.out has
 * less than one reply's room left, next() returns PROTO_EV_FLUSH and consumes
 * nothing until the caller sends and calls proto_server_out_sent().
 *
 * Events that ask a question (MAIL, RCPT, DATA, BODY_END) must be answered
 * with proto_server_answer() before next() is called again; until then next()
 * returns PROTO_EV_WAIT and consumes nothing (the answer to BODY_END may come
 * much later, after the queue commit; the unconsumed input must stay valid).
 * A 2xx/3xx answer advances the state; any other code leaves it as it was
 * (for BODY_END any answer ends the transaction). A 421 answer closes the
 * session: next() returns PROTO_EV_CLOSE (RFC 5321 3.8).
 *
 * Strings in events (addr, helo, params) point into the machine's own line
 * buffer and stay valid until the next call to next() or feed(). BODY data
 * points into the fed buffer or the line buffer, same lifetime.
 *
 * Limits: a command line is at most PROTO_LINE_BYTES_MAX octets including
 * CRLF (RFC 5321 4.5.3.1.4 says 512; we allow room for extension parameters);
 * a longer one is answered 500 5.5.2 and skipped. After params.errors_max
 * bad commands the machine answers 421 and returns PROTO_EV_CLOSE.
 */
#ifndef PROTO_SMTP_SERVER_H
#define PROTO_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_LINE_BYTES_MAX 1024
#define PROTO_OUT_BYTES_MAX 8192
#define PROTO_REPLY_BYTES_MAX 512  /* one reply line, RFC 5321 4.5.3.1.5 */
#define PROTO_HOSTNAME_BYTES_MAX 256
#define PROTO_PATH_BYTES_MAX 256   /* RFC 5321 4.5.3.1.3, without <> */

enum proto_event_kind {
	PROTO_EV_NEED_MORE,  /* all fed input consumed: feed more */
	PROTO_EV_FLUSH,      /* s.out is full: send it, then out_sent() */
	PROTO_EV_WAIT,       /* a question is unanswered: answer() first */
	PROTO_EV_HELO,       /* HELO/EHLO done, reply queued; ev.helo, ev.esmtp */
	PROTO_EV_MAIL,       /* ask: ev.addr (reverse path, "" for <>), ev.size, ev.body8 */
	PROTO_EV_RCPT,       /* ask: ev.addr (forward path) */
	PROTO_EV_DATA,       /* ask: DATA with >= 1 accepted rcpt; 354 starts the body */
	PROTO_EV_BODY,       /* ev.data, ev.len: unstuffed body bytes (CRLF line ends) */
	PROTO_EV_BODY_END,   /* ask: CRLF.CRLF seen; ev.size = body bytes; answer after commit */
	PROTO_EV_TXN_RESET,  /* the transaction is gone (RSET, HELO, too big, error): drop it */
	PROTO_EV_QUIT,       /* 221 queued: send s.out, then close */
	PROTO_EV_CLOSE,      /* final reply (421 ...) queued: send s.out, then close */
};

struct proto_event {
	enum proto_event_kind kind;
	const char *helo;     /* HELO */
	int esmtp;            /* HELO: 1 for EHLO */
	const char *addr;     /* MAIL, RCPT: the path without <>, NUL-terminated */
	uint64_t size;        /* MAIL: SIZE= value (0 if none); BODY_END: octets */
	int body8;            /* MAIL: BODY=8BITMIME */
	const char *data;     /* BODY */
	size_t len;           /* BODY */
};

struct proto_server_params {
	const char *hostname;     /* in the banner and EHLO reply */
	uint64_t size_max;        /* SIZE limit in octets, 0 = none */
	unsigned rcpt_count_max;  /* per transaction; RFC 5321 4.5.3.1.8 says >= 100; 0 = none */
	unsigned errors_max;      /* bad commands before 421 and close; 0 = none */
};

enum proto_server_state {
	PROTO_S_INIT,       /* before HELO/EHLO */
	PROTO_S_HELO,       /* greeted, no transaction */
	PROTO_S_MAIL,       /* MAIL accepted */
	PROTO_S_RCPT,       /* >= 1 RCPT accepted */
	PROTO_S_BODY,       /* after 354 */
	PROTO_S_DRAIN,      /* body too big: swallowing until CRLF.CRLF */
	PROTO_S_CLOSED,     /* QUIT or fatal: nothing more is read */
};

struct proto_server {
	struct proto_server_params params;
	enum proto_server_state state;
	enum proto_event_kind pending;  /* the question awaiting answer, or NEED_MORE */
	const char *in;                 /* fed input not yet consumed */
	size_t in_len;
	char line[PROTO_LINE_BYTES_MAX + 1];
	size_t line_len;                /* partial command line carried between feeds */
	int line_overflow;              /* current line is too long: discard to LF */
	int line_ready;                 /* line[] holds a whole command not yet run */
	unsigned body_state;            /* dot-unstuffing / CRLF.CRLF detector */
	uint64_t body_bytes;
	unsigned rcpt_count;
	unsigned errors;
	int esmtp;
	enum proto_event_kind close_kind;  /* CLOSED: QUIT or CLOSE, returned again */
	char out[PROTO_OUT_BYTES_MAX];
	size_t out_len;
};

void proto_server_init(struct proto_server *s, const struct proto_server_params *p);
/* Queue the 220 banner. */
void proto_server_greet(struct proto_server *s);
/* Hand the machine new input; it must have returned NEED_MORE before. */
void proto_server_feed(struct proto_server *s, const char *buf, size_t len);
/* Pull the next event. */
enum proto_event_kind proto_server_next(struct proto_server *s, struct proto_event *ev);
/* Answer the pending question: code is the SMTP reply code, enhanced the
 * RFC 3463 code ("2.1.0") or NULL, text the rest of the line. */
void proto_server_answer(struct proto_server *s, int code, const char *enhanced,
                         const char *text);
/* The caller sent n bytes from the front of s.out. */
void proto_server_out_sent(struct proto_server *s, size_t n);
/* The session idled too long: queue 421 4.4.2 and close. */
void proto_server_timeout(struct proto_server *s);
/* The server is shutting down: queue 421 4.3.2 and close. */
void proto_server_shutdown(struct proto_server *s);

#endif
