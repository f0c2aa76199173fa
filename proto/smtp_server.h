/*
 * proto/smtp_server.h - the SMTP server side of one session as a pure state
 * machine (RFC 5321; extensions RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 2034 ENHANCEDSTATUSCODES, RFC 3461 DSN, RFC 6531 SMTPUTF8,
 * RFC 3030 CHUNKING and BINARYMIME, RFC 3207 STARTTLS, RFC 4954 AUTH). No
 * I/O, no clock, no allocation: the caller owns the struct proto_server and
 * every byte it feeds.
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
 * less than one step's room left, next() returns PROTO_EV_FLUSH and consumes
 * nothing until the caller sends and calls proto_server_out_sent().
 *
 * Events that ask a question (MAIL, RCPT, DATA, BODY_END, and STARTTLS,
 * AUTH, AUTH_DATA below) must be answered with proto_server_answer() before
 * next() is called again; until then next() returns PROTO_EV_WAIT and
 * consumes nothing (the answer to BODY_END may come much later, after the
 * queue commit; the unconsumed input must stay valid). A 2xx/3xx answer
 * advances the state; any other code leaves it as it was (for BODY_END any
 * answer ends the transaction). A 421 answer closes the session: next()
 * returns PROTO_EV_CLOSE (RFC 5321 3.8).
 *
 * Strings in events (addr, helo, envid, orcpt, auth ...) point into the
 * machine's own buffers and stay valid until the next call to next() or
 * feed(). BODY data points into the fed buffer or into constant storage
 * (a held CR, an inserted line end), same lifetime.
 *
 * DATA (RFC 5321 4.1.1.4): after a 354 answer the body comes as BODY events,
 * dot-unstuffed, then BODY_END when CRLF.CRLF is seen; only CRLF.CRLF ends
 * the data. params.bare_newline says what happens to a bare LF or a bare CR
 * in the body (SMTP smuggling): PROTO_BARE_REJECT (the default) answers
 * "521 5.5.2 host Error: bare <LF> received" (or <CR>) at once and closes
 * the session, as Postfix's smtpd_forbid_bare_newline = reject does;
 * PROTO_BARE_NORMALIZE passes it on as CRLF. Either way the outcome does not
 * depend on how the input was cut into feeds. A body over size_max (counted
 * on the raw input, dots and line ends included) is read to its end and
 * answered 552 5.3.4; one with a line longer than text_line_bytes_max is
 * read to its end and answered 500 5.5.2; both end with TXN_RESET. The
 * BODY events of a message that is then refused (TXN_RESET, CLOSE) may stop
 * at a different octet for different cuts; everything up to BODY_END is
 * always the same.
 *
 * BDAT (RFC 3030, with PROTO_EXT_CHUNKING): the first "BDAT n [LAST]" of a
 * transaction gives the DATA question with ev.bdat = 1 and ev.size = n; any
 * 2xx/3xx answer accepts the body and sends nothing (the text of the 354
 * the daemon uses for DATA is not sent), a 4xx/5xx answer is sent once the
 * chunk was read and discarded and ends the transaction (TXN_RESET). Chunk
 * bytes come as BODY events exactly as received (no dot-unstuffing, no line
 * rules); each chunk but the last is answered "250 2.0.0 n octets received"
 * by the machine; the end of the LAST chunk gives BODY_END, answered like
 * DATA's. So a caller that handles DATA handles BDAT with no change. A
 * BDAT that is refused (wrong state, DATA mixed in, over size_max) still has
 * its n octets read and discarded, so they never run as commands. A BDAT
 * whose count does not parse is answered 501 and closes the session.
 *
 * STARTTLS (RFC 3207, with PROTO_EXT_STARTTLS): the STARTTLS question comes
 * with all input after the STARTTLS line already discarded (CVE-2011-0411
 * class). Answer 220 "2.0.0" "Ready to start TLS" to go on, or 454 4.7.0 to
 * refuse. After a 220 answer next() returns WAIT and drops anything fed;
 * send s.out, run the TLS handshake, then call proto_server_tls_done(): the
 * machine is back in its initial state (the client must say EHLO again) and
 * has nothing buffered.
 *
 * AUTH (RFC 4954, when params.auth_mechs is set): "AUTH mech [initial]" is
 * the AUTH question (ev.auth_mech, ev.auth_initial or NULL). Answer 235 on
 * success, 535 or 5xx/4xx on failure, or 334 with a challenge: the next
 * line then comes as the AUTH_DATA question (ev.data, ev.len, without CRLF,
 * never run as a command), answered the same way.
 *
 * The events STARTTLS, AUTH and AUTH_DATA occur only when the params enable
 * those extensions.
 *
 * Limits (0 in params selects the default): a command line is at most
 * line_bytes_max octets with its CRLF (default and most PROTO_LINE_BYTES_MAX;
 * RFC 5321 4.5.3.1.4 says 512, extension parameters need more); a longer one
 * is answered 500 5.5.2 and skipped, never echoed. A command with NUL, a bare
 * CR, or an 8-bit octet (unless SMTPUTF8 is offered and it is a valid UTF-8
 * MAIL or RCPT) is answered 500 5.5.2. After rcpt_count_max recipients RCPT
 * is answered 452 4.5.3; after mails_max messages MAIL is answered 452 4.5.3;
 * after errors_max bad commands the machine answers 421 and returns CLOSE.
 */
#ifndef PROTO_SMTP_SERVER_H
#define PROTO_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_command.h"
#include "proto/smtp_ext.h"

#define PROTO_LINE_BYTES_MAX 2048
#define PROTO_TEXT_LINE_BYTES_DEFAULT 65535u  /* DATA line, without CRLF */
#define PROTO_MAILS_DEFAULT 100u              /* messages per session */
#define PROTO_OUT_BYTES_MAX 4096
#define PROTO_REPLY_BYTES_MAX 512  /* one reply line, RFC 5321 4.5.3.1.5 */
#define PROTO_HOSTNAME_BYTES_MAX 256

/* The extensions advertised when params.ext is 0. */
#define PROTO_SERVER_EXT_DEFAULT \
	(PROTO_EXT_PIPELINING | PROTO_EXT_SIZE | PROTO_EXT_8BITMIME | PROTO_EXT_ENHANCED | \
	 PROTO_EXT_HELP)

enum proto_event_kind {
	PROTO_EV_NEED_MORE,  /* all fed input consumed: feed more */
	PROTO_EV_FLUSH,      /* s.out is full: send it, then out_sent() */
	PROTO_EV_WAIT,       /* a question is unanswered (or TLS pending): act first */
	PROTO_EV_HELO,       /* HELO/EHLO done, reply queued; ev.helo, ev.esmtp
	                      * (a question with params.ask_helo) */
	PROTO_EV_MAIL,       /* ask: ev.addr (reverse path, "" for <>), size, body, DSN ... */
	PROTO_EV_RCPT,       /* ask: ev.addr (forward path), ev.notify, ev.orcpt */
	PROTO_EV_DATA,       /* ask: DATA (or first BDAT, ev.bdat) with >= 1 accepted rcpt */
	PROTO_EV_BODY,       /* ev.data, ev.len: body bytes (DATA: unstuffed, CRLF line ends) */
	PROTO_EV_BODY_END,   /* ask: end of data; ev.size = body bytes; answer after commit */
	PROTO_EV_TXN_RESET,  /* the transaction is gone (RSET, HELO, too big, error): drop it */
	PROTO_EV_QUIT,       /* 221 queued: send s.out, then close */
	PROTO_EV_CLOSE,      /* final reply (421 ...) queued: send s.out, then close */
	PROTO_EV_STARTTLS,   /* ask: STARTTLS with PROTO_EXT_STARTTLS; input after it is dropped */
	PROTO_EV_AUTH,       /* ask: AUTH with params.auth_mechs; ev.auth_mech, ev.auth_initial */
	PROTO_EV_AUTH_DATA,  /* ask: one SASL response line after a 334 answer; ev.data, ev.len */
};

struct proto_event {
	enum proto_event_kind kind;
	const char *helo;     /* HELO */
	int esmtp;            /* HELO: 1 for EHLO */
	const char *addr;     /* MAIL, RCPT: the path without <>, NUL-terminated */
	uint64_t size;        /* MAIL: SIZE= value (0 if none); DATA with bdat: the
	                       * first chunk's size; BODY_END: octets */
	int body8;            /* MAIL: BODY=8BITMIME or BINARYMIME */
	const char *data;     /* BODY, AUTH_DATA */
	size_t len;           /* BODY, AUTH_DATA */
	/* added with DSN, SMTPUTF8, CHUNKING, AUTH */
	int body;             /* MAIL: PROTO_BODY_* */
	int smtputf8;         /* MAIL: the SMTPUTF8 parameter was given */
	int utf8;             /* MAIL, RCPT: the address has non-ASCII octets */
	int dsn_ret;          /* MAIL: PROTO_DSN_RET_* */
	const char *envid;    /* MAIL: decoded ENVID, "" when absent */
	const char *auth;     /* MAIL: decoded AUTH= ("<>" allowed), NULL when absent */
	unsigned notify;      /* RCPT: PROTO_DSN_NOTIFY_* bits, 0 when absent */
	const char *orcpt;    /* RCPT: "addr-type;decoded address", "" when absent */
	int bdat;             /* DATA: the body comes in BDAT chunks */
	const char *auth_mech;    /* AUTH: the mechanism name */
	const char *auth_initial; /* AUTH: the initial response, NULL when none */
};

/* What to do with a bare LF or bare CR in a DATA body. */
enum proto_bare_newline {
	PROTO_BARE_REJECT = 0,  /* 521 5.5.2 and close (default) */
	PROTO_BARE_NORMALIZE,   /* pass it on as CRLF */
};

/* Zero-initialised fields take their defaults. */
struct proto_server_params {
	const char *hostname;     /* in the banner and EHLO reply */
	uint64_t size_max;        /* SIZE limit in octets, 0 = none */
	unsigned rcpt_count_max;  /* per transaction; RFC 5321 4.5.3.1.8 says >= 100; 0 = none */
	unsigned errors_max;      /* bad commands before 421 and close; 0 = none */
	/* added with issue 4 */
	unsigned ext;             /* PROTO_EXT_* to advertise; 0 = PROTO_SERVER_EXT_DEFAULT.
	                           * STARTTLS only shows before TLS; AUTH needs auth_mechs */
	const char *auth_mechs;   /* "PLAIN LOGIN": AUTH offered (after TLS); NULL = none */
	int auth_plaintext;       /* offer AUTH without TLS too */
	int tls;                  /* the connection is already TLS (smtps): no STARTTLS */
	enum proto_bare_newline bare_newline;
	size_t line_bytes_max;        /* command line with CRLF; 0 = PROTO_LINE_BYTES_MAX */
	size_t text_line_bytes_max;   /* DATA line; 0 = PROTO_TEXT_LINE_BYTES_DEFAULT */
	unsigned mails_max;           /* messages per session; 0 = PROTO_MAILS_DEFAULT,
	                               * UINT_MAX = no limit */
	int ask_helo;                 /* HELO/EHLO is a question: a 2xx answer sends
	                               * the machine's own 250 (text ignored), any
	                               * other is said and the state stays */
	/* added with issue 11: when set, called with each command line read
	 * (reply 0; without CRLF; a SASL response as "********" and AUTH's
	 * initial response as "AUTH MECH ********", as OpenSMTPD reports them;
	 * "." at the end of DATA) and each reply line queued (reply 1, without
	 * CRLF), for smtpd-filters(7)'s protocol-client and protocol-server
	 * reports. It must not call back into the machine. */
	void (*observe)(void *arg, int reply, const char *line, size_t len);
	void *observe_arg;
};

enum proto_server_state {
	PROTO_S_INIT,       /* before HELO/EHLO */
	PROTO_S_HELO,       /* greeted, no transaction */
	PROTO_S_MAIL,       /* MAIL accepted */
	PROTO_S_RCPT,       /* >= 1 RCPT accepted */
	PROTO_S_BODY,       /* after 354 */
	PROTO_S_DRAIN,      /* body refused (too big, line too long): reading to CRLF.CRLF */
	PROTO_S_CLOSED,     /* QUIT or fatal: nothing more is read */
	PROTO_S_BDAT,       /* between BDAT chunks of an accepted transaction */
	PROTO_S_CHUNK,      /* reading the octets of one BDAT chunk */
	PROTO_S_TLS,        /* 220 to STARTTLS given: waiting for tls_done() */
	PROTO_S_AUTH,       /* 334 given: the next line is a SASL response */
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
	uint64_t body_bytes;            /* body octets handed out (BODY events) */
	unsigned rcpt_count;
	unsigned errors;
	int esmtp;
	enum proto_event_kind close_kind;  /* CLOSED: QUIT or CLOSE, returned again */
	char out[PROTO_OUT_BYTES_MAX];
	size_t out_len;
	/* added with issue 4 */
	enum proto_server_state back_state; /* where AUTH or a refused chunk returns */
	uint64_t raw_bytes;             /* DATA/BDAT input octets of this message */
	uint64_t text_line_bytes;       /* DATA: octets of the current line so far */
	uint64_t chunk_left;            /* BDAT: octets of the chunk still to read */
	uint64_t chunk_size;
	unsigned body_error;            /* DATA/BDAT: why the message will be refused */
	int chunk_last;                 /* BDAT: this chunk is the LAST one */
	int line_8bit;                  /* the command line has 8-bit octets */
	int chunk_discard;              /* BDAT: drop the chunk, then say chunk_reply */
	int chunk_reset;                /* BDAT: and end the transaction */
	int bdat;                       /* the transaction's body comes in BDAT */
	int txn_smtputf8;               /* MAIL had SMTPUTF8 */
	int txn_body;                   /* MAIL's BODY= */
	int tls;                        /* TLS is up (smtps or after STARTTLS) */
	int authenticated;
	unsigned mails;                 /* messages accepted in this session */
	unsigned ext;                   /* params.ext resolved */
	char chunk_reply[PROTO_REPLY_BYTES_MAX];  /* line said after a discarded chunk */
	size_t chunk_reply_len;
	struct proto_cmd_params cmd_params;  /* of the last MAIL/RCPT: event strings */
	char helo_name[PROTO_HOSTNAME_BYTES_MAX]; /* ask_helo: the name asked about */
	int helo_esmtp;
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
/* Queue code (4xx/5xx) with text as the last reply and close: next()
 * returns PROTO_EV_CLOSE (a pending question is dropped). Before the
 * greeting it replaces the 220 (RFC 5321 3.1). */
void proto_server_close_with(struct proto_server *s, int code, const char *enhanced,
                             const char *text);
/* The server is shutting down: queue 421 4.3.2 and close. */
void proto_server_shutdown(struct proto_server *s);
/* The TLS handshake after a 220 answer to STARTTLS succeeded: back to the
 * initial state with nothing buffered (RFC 3207 4.2). */
void proto_server_tls_done(struct proto_server *s);

#endif
