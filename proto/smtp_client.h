/*
 * proto/smtp_client.h - the client side of an outbound SMTP session as a pure
 * state machine (RFC 5321, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 3461 DSN,
 * RFC 2033 LMTP): greeting, EHLO (HELO fallback) or LHLO, any number of
 * transactions on one connection, QUIT. No I/O, no clock, no allocation:
 * the caller owns the struct and the bytes.
 *
 *   proto_client_init(&c, &params);
 *   loop:
 *     ev = proto_client_next(&c, &e);
 *     PROTO_CEV_SEND       -> send c.out[0..c.out_len), proto_client_out_sent()
 *     PROTO_CEV_NEED_MORE  -> read replies, proto_client_feed()
 *     PROTO_CEV_READY      -> idle and usable: proto_client_mail() or _quit()
 *     PROTO_CEV_RCPT       -> e.index, e.code, e.text: one recipient's answer
 *     PROTO_CEV_BODY       -> the peer said 354 (or BDAT: at once): feed the
 *                             unstuffed body with proto_client_body() until
 *                             it returns all, then proto_client_body_end()
 *     PROTO_CEV_TXN_DONE   -> e.code, e.text: the answer to end of data (or the
 *                             reason the transaction failed before it); each
 *                             recipient not already refused in a RCPT event
 *                             takes this result
 *     PROTO_CEV_CLOSED     -> e.code, e.text: the session is over (QUIT done,
 *                             421, or a protocol error); close the socket
 *
 * With PIPELINING offered, MAIL, every RCPT and DATA go out in one write;
 * without it, one command per round trip. When no recipient is accepted the
 * client sends RSET instead of a body and reports TXN_DONE with the last
 * RCPT refusal. A reply line longer than PROTO_CLIENT_REPLY_BYTES_MAX or not
 * of the form "ddd[ -]text" is a protocol error (CLOSED, code 0).
 *
 * The body is dot-stuffed by the machine (RFC 5321 4.5.2); the caller passes
 * it as stored, lines ending in CRLF. A body not ending in CRLF gets one.
 *
 * Reply lines are read safely whatever their length: a line shorter than
 * "ddd" is a protocol error (CVE-2020-8794: never read text past the end),
 * text is copied bounded and NUL-terminated, never spliced into a command.
 *
 * DSN (RFC 3461): proto_client_mail_dsn() takes RET, ENVID and per-recipient
 * NOTIFY and ORCPT; they are sent, xtext-encoded, only when the peer
 * announced DSN (a relay that cannot pass them on drops them, RFC 3461 4).
 *
 * proto_client_mail_opts() adds BODY= and SMTPUTF8 to that. BODY=8BITMIME
 * is sent when the peer offers 8BITMIME (to one that does not, the body
 * goes as it is, as Postfix sends it). SMTPUTF8 (RFC 6531) is sent when the
 * peer offers it; when it does not, a transaction whose reverse or forward
 * paths hold non-ASCII octets fails with "553 5.6.7" (TXN_DONE, nothing
 * sent), and one with ASCII paths goes without the parameter.
 *
 * CHUNKING (RFC 3030): when the peer offers it and mail() was given the
 * body's size, the body goes as one chunk, "BDAT size LAST" followed by
 * exactly size octets as stored: no dot-stuffing, no line-end changes, no
 * 354 to wait for (with PIPELINING the chunk follows MAIL and RCPT in the
 * same group; without it, after the last RCPT answer). BODY then comes
 * without a reply (code 0) and proto_client_body_end() must follow exactly
 * size octets (fewer closes the session: CLOSED, code 0); the answer to the
 * chunk is TXN_DONE. A refused chunk, or one sent with every recipient
 * refused, is followed by RSET. Not over LMTP. BODY=BINARYMIME needs a
 * known size (else -1) and goes only to a peer offering CHUNKING and
 * BINARYMIME; to any other the transaction fails with "554 5.6.3"
 * (TXN_DONE, nothing sent).
 *
 * LMTP (RFC 2033, params.lmtp): LHLO instead of EHLO, no HELO fallback;
 * after the end of data the peer answers once per accepted recipient: each
 * answer comes as a PROTO_CEV_LMTP_RCPT event (index, code, text), then
 * TXN_DONE with the last of them. With LMTP the recipients' results are
 * those LMTP_RCPT events, not TXN_DONE. PROTO_CEV_LMTP_RCPT is declared
 * after the enum: it occurs only with params.lmtp, so a switch written
 * before it stays complete.
 *
 * STARTTLS (RFC 3207) with params.tls: OPPORTUNISTIC sends STARTTLS after
 * EHLO when the peer offers it and goes on in plain text when the peer
 * does not offer it or refuses it; REQUIRED ends the session (QUIT, then
 * CLOSED with code 0 and the reason) when it cannot. On "220" the machine
 * drops whatever else it was fed (RFC 3207 5: nothing read before the
 * handshake may count) and reports PROTO_CEV_STARTTLS (declared like
 * LMTP_RCPT, after the enum) until the caller ran the handshake and called
 * proto_client_tls_done(): then EHLO again, the peer's extensions
 * forgotten (RFC 3207 4.2). params.tls_on_connect (smtps, RFC 8314) says the
 * session is under TLS from its first byte.
 *
 * AUTH (RFC 4954) with params.auth_user and auth_pass, after the last
 * EHLO: PLAIN (RFC 4616) with an initial response when offered, else
 * LOGIN; only under TLS. Without TLS, without AUTH or either mechanism,
 * or with a part over PROTO_CLIENT_AUTH_PART_BYTES_MAX, the session ends
 * (QUIT, then CLOSED with code 0 and the reason) before the credentials
 * are sent. A refusal (535 bad credentials, 454 temporary, ...) ends it with
 * QUIT, then CLOSED with the refusal's code and text. READY comes after 235.
 */
#ifndef PROTO_SMTP_CLIENT_H
#define PROTO_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_ext.h"

/* Bytes waiting to be sent: a 100 KiB body leaves in one send, not seven
 * (each a trip through the ring); a relay connection is one of a few. */
#define PROTO_CLIENT_OUT_BYTES_MAX 131072
#define PROTO_CLIENT_REPLY_BYTES_MAX 1024
#define PROTO_CLIENT_RCPT_MAX 1000
#define PROTO_CLIENT_AUTH_PART_BYTES_MAX 255   /* RFC 4616 2: user, password */

enum proto_client_event_kind {
	PROTO_CEV_NEED_MORE,
	PROTO_CEV_SEND,
	PROTO_CEV_READY,
	PROTO_CEV_RCPT,
	PROTO_CEV_BODY,
	PROTO_CEV_TXN_DONE,
	PROTO_CEV_CLOSED,
};
/* LMTP: one accepted recipient's answer to the end of data */
#define PROTO_CEV_LMTP_RCPT ((enum proto_client_event_kind)(PROTO_CEV_CLOSED + 1))
/* The peer said 220 to STARTTLS: run the handshake, then tls_done() */
#define PROTO_CEV_STARTTLS ((enum proto_client_event_kind)(PROTO_CEV_CLOSED + 2))

/* proto_client_params.tls */
#define PROTO_CLIENT_TLS_NONE          0   /* never STARTTLS */
#define PROTO_CLIENT_TLS_OPPORTUNISTIC 1   /* when offered; plain text otherwise */
#define PROTO_CLIENT_TLS_REQUIRED      2   /* TLS or no session */

struct proto_client_event {
	enum proto_client_event_kind kind;
	unsigned index;   /* RCPT: which recipient, in the order given to mail() */
	int code;         /* reply code, 0 for a local protocol error */
	const char *text; /* the reply (last line for multi-line), NUL-terminated */
};

struct proto_client_params {
	const char *helo;  /* our name in EHLO/HELO */
	int lmtp;          /* speak LMTP (RFC 2033): LHLO, one answer per recipient */
	int tls;           /* PROTO_CLIENT_TLS_*: what to do about STARTTLS */
	int tls_on_connect; /* smtps: the session is under TLS from the start */
	const char *auth_user;  /* AUTH with these (only under TLS); NULL: no AUTH */
	const char *auth_pass;
};

/* The DSN parameters of one transaction (RFC 3461 4); every field may be
 * 0/NULL. notify and orcpt, when set, have one entry per recipient. */
struct proto_client_dsn {
	int ret;                     /* PROTO_DSN_RET_* */
	const char *envid;           /* decoded ENVID */
	const unsigned *notify;      /* PROTO_DSN_NOTIFY_* bits, 0 = none */
	const char *const *orcpt;    /* "addr-type;decoded address" or NULL */
};

/* MAIL parameters beyond SIZE; every field may be 0/NULL. */
struct proto_client_mail_opts {
	int body;                            /* PROTO_BODY_* */
	int smtputf8;                        /* the message asked for SMTPUTF8 */
	const struct proto_client_dsn *dsn;
};

struct proto_client {
	struct proto_client_params params;
	int state;
	unsigned ext;           /* PROTO_EXT_* offered by the peer */
	uint64_t peer_size_max; /* SIZE from EHLO, 0 = none */
	unsigned rcpt_count;    /* in the current transaction */
	unsigned rcpt_replies;  /* RCPT replies seen */
	unsigned rcpt_accepted;
	unsigned replies_due;   /* pipelined replies still to read */
	int body_state;         /* dot-stuffing: at line start, after CR */
	char reply[PROTO_CLIENT_REPLY_BYTES_MAX + 1];
	size_t reply_len;       /* partial reply line carried between feeds */
	int reply_code;
	char text[PROTO_CLIENT_REPLY_BYTES_MAX + 1]; /* last complete reply */
	char last_rcpt_text[PROTO_CLIENT_REPLY_BYTES_MAX + 1];
	int last_rcpt_code;
	const char *in;
	size_t in_len;
	char out[PROTO_CLIENT_OUT_BYTES_MAX];
	size_t out_len;
	/* the transaction in progress: caller-owned, see proto_client_mail() */
	const char *from;
	const char *const *rcpts;
	uint64_t size;
	unsigned cmd_next;      /* MAIL=0, RCPT i=1+i, DATA=1+rcpt_count queued */
	unsigned txn_flags;     /* pipelined group, MAIL accepted */
	unsigned reply_lines;   /* lines read of the reply in progress */
	int fail_code;          /* the TXN_DONE result of a failed transaction */
	char fail_text[PROTO_CLIENT_REPLY_BYTES_MAX + 1];
	int close_code;         /* what CLOSED reports */
	const char *close_text;
	/* added with issue 4 */
	const struct proto_client_dsn *dsn;  /* the transaction's, NULL = none */
	unsigned char rcpt_ok[(PROTO_CLIENT_RCPT_MAX + 7) / 8];  /* LMTP: accepted ones */
	unsigned lmtp_next;     /* LMTP: the recipient the next answer is for */
	unsigned lmtp_left;     /* LMTP: answers to the end of data still due */
	int body;               /* the transaction's BODY= (PROTO_BODY_*) */
	int smtputf8;           /* the transaction asked for SMTPUTF8 */
	int bdat;               /* the body goes as "BDAT size LAST" */
	uint64_t body_sent;     /* BDAT: octets of the chunk given so far */
	/* added with issue 8 */
	int tls;                /* under TLS: smtps, or after STARTTLS */
	int starttls_tried;     /* STARTTLS was sent on this connection */
	unsigned auth_mechs;    /* PROTO_AUTH_MECH_* from the last EHLO */
	int abort_code;         /* a session we end with QUIT: what CLOSED says */
	char abort_text[PROTO_CLIENT_REPLY_BYTES_MAX + 64];
};

void proto_client_init(struct proto_client *c, const struct proto_client_params *p);
/* Hand the machine reply bytes from the peer (valid until NEED_MORE). */
void proto_client_feed(struct proto_client *c, const char *buf, size_t len);
enum proto_client_event_kind proto_client_next(struct proto_client *c,
                                               struct proto_client_event *ev);
/* The caller sent n bytes from the front of c.out. */
void proto_client_out_sent(struct proto_client *c, size_t n);
/* Start a transaction; only after READY. from may be "" (null path). size is
 * the body size for SIZE=, 0 if unknown. Returns 0, or -1 if not READY or
 * nrcpt is 0 or above PROTO_CLIENT_RCPT_MAX or a path is too long (over
 * 254 octets, RFC 5321 4.5.3.1.3) or holds a control character. The
 * machine keeps the pointers: from, rcpts and the strings must stay valid
 * until TXN_DONE or CLOSED. */
int proto_client_mail(struct proto_client *c, const char *from,
                      const char *const *rcpts, unsigned nrcpt, uint64_t size);
/* Like proto_client_mail(), with DSN parameters (dsn may be NULL; it is
 * kept, like the strings, until TXN_DONE or CLOSED). Returns -1 also when
 * ENVID is over 100 octets xtext-encoded, an ORCPT over 500, or either
 * holds a control or 8-bit octet. */
int proto_client_mail_dsn(struct proto_client *c, const char *from,
                          const char *const *rcpts, unsigned nrcpt, uint64_t size,
                          const struct proto_client_dsn *dsn);
/* Like proto_client_mail_dsn(), with BODY= and SMTPUTF8 (opts may be
 * NULL). Returns -1 also for BODY=BINARYMIME with size 0. */
int proto_client_mail_opts(struct proto_client *c, const char *from,
                           const char *const *rcpts, unsigned nrcpt, uint64_t size,
                           const struct proto_client_mail_opts *opts);
/* Dot-stuff body bytes into c.out; returns how many of len it took (less
 * when c.out is full: send, then call again with the rest). */
size_t proto_client_body(struct proto_client *c, const char *data, size_t len);
/* The whole body was given: queue the final CRLF.CRLF. */
void proto_client_body_end(struct proto_client *c);
/* Queue QUIT; only after READY. */
void proto_client_quit(struct proto_client *c);
/* After PROTO_CEV_STARTTLS, once the TLS handshake succeeded: EHLO again. */
void proto_client_tls_done(struct proto_client *c);

#endif
