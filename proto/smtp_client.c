/*
 * proto/smtp_client.c - owns the outbound SMTP session machine declared in
 * proto/smtp_client.h: it reads the peer's replies line by line, decides
 * what to send next (EHLO, HELO or LHLO, MAIL/RCPT/DATA or MAIL/RCPT/BDAT
 * groups with their SIZE, BODY and DSN parameters, RSET, the body, QUIT),
 * dot-stuffs a DATA body, sends a BDAT body as one exact chunk, and sorts
 * LMTP's per-recipient answers; asks for STARTTLS and authenticates with
 * AUTH PLAIN or LOGIN under TLS. No I/O: replies come in through
 * proto_client_feed(), commands go out through c->out.
 */
#include "proto/smtp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/linescan.h"
#include "proto/smtp_reply.h"

enum client_state {
	CLIENT_GREETING,  /* waiting for the 220 */
	CLIENT_EHLO,      /* EHLO sent */
	CLIENT_HELO,      /* HELO sent after EHLO was refused */
	CLIENT_READY,     /* idle between transactions */
	CLIENT_SIZE_FAIL, /* mail() refused it locally (SIZE, SMTPUTF8): TXN_DONE due */
	CLIENT_TXN,       /* MAIL, RCPT..., DATA going out or answered */
	CLIENT_BODY,      /* the caller feeds the body */
	CLIENT_BODY_END,  /* the final ".\r\n" waits for room in out */
	CLIENT_DOT,       /* waiting for the answer to the end of data (or BDAT LAST) */
	CLIENT_DOT_FAIL,  /* 354 without recipients: "." sent, result known */
	CLIENT_RSET,      /* RSET sent, result known */
	CLIENT_QUIT,      /* QUIT sent */
	CLIENT_CLOSED,
	CLIENT_LMTP_DONE, /* LMTP: every recipient answered, TXN_DONE due */
	CLIENT_STARTTLS,  /* STARTTLS sent */
	CLIENT_TLS_WAIT,  /* 220 to STARTTLS: the caller runs the handshake */
	CLIENT_AUTH,      /* AUTH PLAIN (or LOGIN's password) sent: 235 due */
	CLIENT_AUTH_USER, /* AUTH LOGIN sent: 334 for the user name due */
	CLIENT_AUTH_PASS, /* LOGIN's user name sent: 334 for the password due */
};

/* body_state bits */
#define CLIENT_BODY_LINE_START 0x1u
#define CLIENT_BODY_AFTER_CR   0x2u

/* txn_flags bits */
#define CLIENT_TXN_PIPELINED 0x1u
#define CLIENT_TXN_MAIL_OK   0x2u

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its "<" and ">". */
#define CLIENT_ADDR_BYTES_MAX 254
/* RFC 5321 4.5.3.1.2: a domain name is at most 255 octets. */
#define CLIENT_HELO_BYTES_MAX 255
/* Continuation lines in one reply; EHLO lists a dozen. */
#define CLIENT_REPLY_LINES_MAX 1000
/* The most one body byte can become: "\n" closing a bare CR, then "..". */
#define CLIENT_BODY_BYTE_OUT_MAX 3

/* No event: the reply was consumed, keep going. */
#define CLIENT_EV_NONE (-1)

/* Call to fill in an event; returns its kind. */
static int
client_event(struct proto_client_event *ev, enum proto_client_event_kind kind,
             unsigned index, int code, const char *text)
{
	ev->kind = kind;
	ev->index = index;
	ev->code = code;
	ev->text = text;
	return (int)kind;
}

/* Call when the session is over; text must outlive the struct's next use
 * (a string literal or a buffer in the struct). */
static void
client_close(struct proto_client *c, int code, const char *text)
{
	c->state = CLIENT_CLOSED;
	c->close_code = code;
	c->close_text = text;
	c->in_len = 0;
}

/* Call to queue one formatted command; returns 0, or -1 when c->out lacks
 * room (then nothing is queued). */
static int __attribute__((format(printf, 2, 3)))
client_put(struct proto_client *c, const char *fmt, ...)
{
	size_t room = sizeof(c->out) - c->out_len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return -1;
	c->out_len += (size_t)n;
	return 0;
}

/* Call to check a name for EHLO/HELO or an address for MAIL/RCPT; returns
 * 1 when it has 1..max octets (0 allowed if empty_ok) and no control
 * character or, for a name, space (RFC 5321 2.3.8: no stray CR or LF). */
static int
client_word_ok(const char *s, size_t max, int empty_ok, int space_ok)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= max || ch < 0x20 || ch == 0x7f || (ch == ' ' && !space_ok))
			return 0;
	}
	return n > 0 || empty_ok;
}

/* Call to remember the current reply as the transaction's failure. */
static void
client_fail_set(struct proto_client *c, int code, const char *text)
{
	c->fail_code = code;
	if (text != c->fail_text)
		snprintf(c->fail_text, sizeof(c->fail_text), "%s", text);
}

/* Call when a transaction ended without a body being accepted: queue RSET
 * (RFC 5321 4.1.1.5) and wait for its answer before TXN_DONE. */
static void
client_reset(struct proto_client *c)
{
	(void)client_put(c, "RSET\r\n");
	c->state = CLIENT_RSET;
	c->replies_due++;
}

/* Call on a complete greeting; returns an event or CLIENT_EV_NONE. RFC 5321
 * 4.3.1: 220 opens the session, anything else (554) refuses it. */
static int
client_on_greeting(struct proto_client *c, struct proto_client_event *ev)
{
	if (c->reply_code / 100 != 2) {
		client_close(c, c->reply_code, c->text);
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	if (!client_word_ok(c->params.helo, CLIENT_HELO_BYTES_MAX, 0, 0)) {
		client_close(c, 0, "invalid helo name in the client parameters");
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	/* RFC 2033 4.1: LMTP says LHLO */
	(void)client_put(c, "%s %s\r\n", c->params.lmtp ? "LHLO" : "EHLO", c->params.helo);
	c->ext = 0;
	c->auth_mechs = 0;
	c->peer_size_max = 0;
	c->state = CLIENT_EHLO;
	c->replies_due++;
	return CLIENT_EV_NONE;
}

/* Call to end the session ourselves: QUIT goes out, and once it is
 * answered CLOSED reports code and the reason (a formatted text). Returns
 * CLIENT_EV_NONE. */
static int __attribute__((format(printf, 3, 4)))
client_abort(struct proto_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->abort_text, sizeof(c->abort_text), fmt, ap);
	va_end(ap);
	c->abort_code = code;
	(void)client_put(c, "QUIT\r\n");
	c->state = CLIENT_QUIT;
	c->replies_due = 1;
	return CLIENT_EV_NONE;
}

/* Call to queue one AUTH response: the base64 of len octets of data
 * (RFC 4954 4), or with prefix ("AUTH PLAIN ") before it. The copy on the
 * stack is wiped. */
static void
client_put_b64(struct proto_client *c, const char *prefix, const void *data, size_t len)
{
	char b64[PROTO_BASE64_LEN(2 * PROTO_CLIENT_AUTH_PART_BYTES_MAX + 2) + 1];

	if (proto_base64_encode(data, len, b64, sizeof(b64)) >= 0)
		(void)client_put(c, "%s%s\r\n", prefix, b64);
	explicit_bzero(b64, sizeof(b64));
}

/* Call once the session may authenticate; returns CLIENT_EV_NONE. RFC 4954
 * 4: PLAIN with an initial response, else LOGIN; credentials never go
 * without TLS. */
static int
client_auth_start(struct proto_client *c)
{
	const char *user = c->params.auth_user;
	const char *pass = c->params.auth_pass != NULL ? c->params.auth_pass : "";
	size_t ulen = strlen(user), plen = strlen(pass);
	char msg[2 * PROTO_CLIENT_AUTH_PART_BYTES_MAX + 2];

	if (!c->tls)
		return client_abort(c, 0, "not sending credentials without TLS");
	if (!(c->ext & PROTO_EXT_AUTH))
		return client_abort(c, 0, "the server does not offer AUTH");
	if (ulen == 0 || ulen > PROTO_CLIENT_AUTH_PART_BYTES_MAX ||
	    plen > PROTO_CLIENT_AUTH_PART_BYTES_MAX)
		return client_abort(c, 0, "user name or password empty or too long for AUTH");
	c->replies_due++;
	if (c->auth_mechs & PROTO_AUTH_MECH_PLAIN) {
		/* RFC 4616 2: [authzid] NUL authcid NUL passwd */
		msg[0] = '\0';
		memcpy(msg + 1, user, ulen);
		msg[1 + ulen] = '\0';
		memcpy(msg + 2 + ulen, pass, plen);
		client_put_b64(c, "AUTH PLAIN ", msg, 2 + ulen + plen);
		explicit_bzero(msg, sizeof(msg));
		c->state = CLIENT_AUTH;
		return CLIENT_EV_NONE;
	}
	if (c->auth_mechs & PROTO_AUTH_MECH_LOGIN) {
		(void)client_put(c, "AUTH LOGIN\r\n");
		c->state = CLIENT_AUTH_USER;
		return CLIENT_EV_NONE;
	}
	c->replies_due--;
	return client_abort(c, 0, "the server offers neither AUTH PLAIN nor AUTH LOGIN");
}

/* Call on the answer to AUTH or to one of LOGIN's responses; returns
 * CLIENT_EV_NONE. 235 makes the session ready; 334 to LOGIN asks for the
 * user name, then the password; anything else ends the session with that
 * reply (RFC 4954 6: 535 5.7.8 bad credentials, 454 4.7.0 temporary). */
static int
client_on_auth(struct proto_client *c)
{
	const char *part;

	if (c->state == CLIENT_AUTH && c->reply_code == 235) {
		c->state = CLIENT_READY;
		return CLIENT_EV_NONE;
	}
	if (c->state != CLIENT_AUTH && c->reply_code == 334) {
		part = c->state == CLIENT_AUTH_USER ? c->params.auth_user :
		       c->params.auth_pass != NULL ? c->params.auth_pass : "";
		client_put_b64(c, "", part, strlen(part));
		c->state = c->state == CLIENT_AUTH_USER ? CLIENT_AUTH_PASS : CLIENT_AUTH;
		c->replies_due++;
		return CLIENT_EV_NONE;
	}
	if (c->reply_code / 100 == 4 || c->reply_code / 100 == 5)
		return client_abort(c, c->reply_code, "%s", c->text);
	return client_abort(c, 0, "unexpected answer to AUTH: %s", c->text);
}

/* Call once EHLO or HELO was accepted (again after STARTTLS); returns
 * CLIENT_EV_NONE. Next comes STARTTLS, AUTH or READY. */
static int
client_after_hello(struct proto_client *c)
{
	int tls = c->params.lmtp ? PROTO_CLIENT_TLS_NONE : c->params.tls;

	if (!c->tls && !c->starttls_tried && tls != PROTO_CLIENT_TLS_NONE &&
	    (c->ext & PROTO_EXT_STARTTLS)) {
		(void)client_put(c, "STARTTLS\r\n");
		c->starttls_tried = 1;
		c->state = CLIENT_STARTTLS;
		c->replies_due++;
		return CLIENT_EV_NONE;
	}
	if (!c->tls && tls == PROTO_CLIENT_TLS_REQUIRED && !c->starttls_tried)
		return client_abort(c, 0, "TLS required, but the server does not offer STARTTLS");
	if (c->params.auth_user != NULL)
		return client_auth_start(c);
	c->state = CLIENT_READY;
	return CLIENT_EV_NONE;
}

/* Call on the answer to STARTTLS; returns the STARTTLS event or NONE.
 * RFC 3207 4: after a refusal (454) the session may go on in plain text,
 * unless TLS is required; RFC 3207 5: what came with the 220 is dropped. */
static int
client_on_starttls(struct proto_client *c, struct proto_client_event *ev)
{
	if (c->reply_code == 220) {
		c->state = CLIENT_TLS_WAIT;
		c->in_len = 0;
		c->reply_len = 0;
		return client_event(ev, PROTO_CEV_STARTTLS, 0, c->reply_code, c->text);
	}
	if (c->params.tls == PROTO_CLIENT_TLS_REQUIRED)
		return client_abort(c, 0, "TLS required, but STARTTLS was refused: %s", c->text);
	return client_after_hello(c);
}

/* Call on the complete answer to EHLO or HELO; returns an event or
 * CLIENT_EV_NONE. RFC 5321 4.1.4: a server that refuses EHLO (500, 502)
 * gets HELO. */
static int
client_on_hello(struct proto_client *c, struct proto_client_event *ev)
{
	if (c->reply_code / 100 == 2)
		return client_after_hello(c);
	c->ext = 0;
	c->peer_size_max = 0;
	if (c->state == CLIENT_EHLO && c->reply_code / 100 == 5 && !c->params.lmtp) {
		(void)client_put(c, "HELO %s\r\n", c->params.helo);
		c->state = CLIENT_HELO;
		c->replies_due++;
		return CLIENT_EV_NONE;
	}
	client_close(c, c->reply_code, c->text);
	return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
}

/* Call on the answer to MAIL; returns an event or CLIENT_EV_NONE. Without
 * pipelining a refused MAIL ends the transaction at once; with it the
 * RCPT and DATA answers still have to be read (RFC 2920 3.1). */
static int
client_on_mail(struct proto_client *c, struct proto_client_event *ev)
{
	if (c->reply_code / 100 == 2) {
		c->txn_flags |= CLIENT_TXN_MAIL_OK;
		return CLIENT_EV_NONE;
	}
	client_fail_set(c, c->reply_code, c->text);
	if (c->txn_flags & CLIENT_TXN_PIPELINED)
		return CLIENT_EV_NONE;
	c->state = CLIENT_READY;
	return client_event(ev, PROTO_CEV_TXN_DONE, 0, c->fail_code, c->fail_text);
}

/* Call on the answer to RCPT number i; returns a RCPT event, or
 * CLIENT_EV_NONE after a refused MAIL (those answers say nothing). */
static int
client_on_rcpt(struct proto_client *c, unsigned i, struct proto_client_event *ev)
{
	c->rcpt_replies++;
	if (!(c->txn_flags & CLIENT_TXN_MAIL_OK))
		return CLIENT_EV_NONE;
	if (c->reply_code / 100 == 2) {
		c->rcpt_accepted++;
		c->rcpt_ok[i / 8] |= (unsigned char)(1u << (i % 8));
	} else {
		c->last_rcpt_code = c->reply_code;
		memcpy(c->last_rcpt_text, c->text, sizeof(c->last_rcpt_text));
	}
	if (!(c->txn_flags & CLIENT_TXN_PIPELINED) && i + 1 == c->rcpt_count &&
	    c->rcpt_accepted == 0) {
		/* Nobody to send to: no DATA, RSET instead. */
		client_fail_set(c, c->last_rcpt_code, c->last_rcpt_text);
		client_reset(c);
	}
	return client_event(ev, PROTO_CEV_RCPT, i, c->reply_code, c->text);
}

/* Call when the answer to DATA or to the BDAT chunk ends the transaction
 * unsent: it fails with that answer when the transaction had recipients,
 * else with the last RCPT refusal (or the MAIL refusal already kept). */
static void
client_fail_at_body(struct proto_client *c, int ok)
{
	if (ok)
		client_fail_set(c, c->reply_code, c->text);
	else if (c->txn_flags & CLIENT_TXN_MAIL_OK)
		client_fail_set(c, c->last_rcpt_code, c->last_rcpt_text);
}

/* Call on the answer to DATA; returns BODY or CLIENT_EV_NONE. RFC 2920 3.1:
 * the DATA answer must be checked even when no RCPT was accepted; a 354
 * then gets a lone "." and a refusal gets RSET. */
static int
client_on_data(struct proto_client *c, struct proto_client_event *ev)
{
	int ok = (c->txn_flags & CLIENT_TXN_MAIL_OK) && c->rcpt_accepted > 0;

	if (c->params.lmtp && !ok && c->reply_code == 354) {
		/* RFC 2033 4.2: DATA without an accepted recipient must fail */
		client_close(c, 0, "LMTP server accepted DATA without recipients");
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	if (ok && c->reply_code == 354) {
		c->state = CLIENT_BODY;
		c->body_state = CLIENT_BODY_LINE_START;
		return client_event(ev, PROTO_CEV_BODY, 0, c->reply_code, c->text);
	}
	client_fail_at_body(c, ok);
	if (c->reply_code == 354) {
		(void)client_put(c, ".\r\n");
		c->state = CLIENT_DOT_FAIL;
		c->replies_due++;
		return CLIENT_EV_NONE;
	}
	client_reset(c);
	return CLIENT_EV_NONE;
}


/* Call on the answer to "BDAT size LAST" once the whole chunk went out
 * (RFC 3030 2); returns TXN_DONE or NONE. A refusal, or a transaction that
 * had nobody to send to (with PIPELINING the chunk went anyway and the
 * peer discarded it), is failed and followed by RSET, as after DATA. */
static int
client_on_bdat_end(struct proto_client *c, struct proto_client_event *ev)
{
	int ok = (c->txn_flags & CLIENT_TXN_MAIL_OK) && c->rcpt_accepted > 0;

	if (c->state != CLIENT_DOT) {
		client_close(c, 0, "reply to BDAT before the chunk was sent");
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	if (ok && c->reply_code / 100 == 2) {
		c->state = CLIENT_READY;
		return client_event(ev, PROTO_CEV_TXN_DONE, 0, c->reply_code, c->text);
	}
	client_fail_at_body(c, ok);
	client_reset(c);
	return CLIENT_EV_NONE;
}

/* Call on an answer during the MAIL/RCPT/DATA (or BDAT) group; index is
 * the command it answers (0 MAIL, 1..n RCPT, n+1 DATA or the BDAT chunk).
 * Returns an event or NONE. */
static int
client_on_txn(struct proto_client *c, unsigned index, struct proto_client_event *ev)
{
	if (index == 0)
		return client_on_mail(c, ev);
	if (index <= c->rcpt_count)
		return client_on_rcpt(c, index - 1, ev);
	return c->bdat ? client_on_bdat_end(c, ev) : client_on_data(c, ev);
}

/* Call on the answer to RSET or to the lone "." of an empty transaction;
 * returns TXN_DONE with the failure saved earlier. A refused RSET leaves the
 * session in doubt: CLOSED follows. */
static int
client_on_reset(struct proto_client *c, struct proto_client_event *ev)
{
	if (c->reply_code == 421 ||
	    (c->state == CLIENT_RSET && c->reply_code / 100 != 2))
		client_close(c, c->reply_code, c->text);
	else
		c->state = CLIENT_READY;
	return client_event(ev, PROTO_CEV_TXN_DONE, 0, c->fail_code, c->fail_text);
}

/* Call on one LMTP answer to the end of data (RFC 2033 4.2): it is for the
 * next accepted recipient in RCPT order. Returns LMTP_RCPT. */
static int
client_on_lmtp(struct proto_client *c, struct proto_client_event *ev)
{
	unsigned i = c->lmtp_next;

	while (i < c->rcpt_count && !(c->rcpt_ok[i / 8] & (1u << (i % 8))))
		i++;
	c->lmtp_next = i + 1;
	if (--c->lmtp_left == 0) {
		c->state = CLIENT_LMTP_DONE;
		client_fail_set(c, c->reply_code, c->text);
	}
	return client_event(ev, PROTO_CEV_LMTP_RCPT, i, c->reply_code, c->text);
}

/* Call on every complete reply; returns the event it gives or NONE. RFC 5321
 * 3.8: 421 may come at any time and ends the session. */
static int
client_dispatch(struct proto_client *c, struct proto_client_event *ev)
{
	int code = c->reply_code;
	unsigned index;

	if (c->replies_due == 0) {
		if (code == 421)
			client_close(c, code, c->text);
		else
			client_close(c, 0, "unexpected reply from the server");
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	index = c->cmd_next - c->replies_due;
	c->replies_due--;
	if (code == 421 && c->state != CLIENT_RSET && c->state != CLIENT_DOT_FAIL) {
		client_close(c, code, c->text);
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
	if (c->bdat && (c->state == CLIENT_BODY || c->state == CLIENT_DOT))
		return client_on_txn(c, index, ev);  /* the body may still be going out */
	switch (c->state) {
	case CLIENT_GREETING:
		return client_on_greeting(c, ev);
	case CLIENT_EHLO:
	case CLIENT_HELO:
		return client_on_hello(c, ev);
	case CLIENT_TXN:
		return client_on_txn(c, index, ev);
	case CLIENT_DOT:
		if (c->params.lmtp)
			return client_on_lmtp(c, ev);
		c->state = CLIENT_READY;
		return client_event(ev, PROTO_CEV_TXN_DONE, 0, code, c->text);
	case CLIENT_DOT_FAIL:
	case CLIENT_RSET:
		return client_on_reset(c, ev);
	case CLIENT_STARTTLS:
		return client_on_starttls(c, ev);
	case CLIENT_AUTH:
	case CLIENT_AUTH_USER:
	case CLIENT_AUTH_PASS:
		return client_on_auth(c);
	case CLIENT_QUIT:
		if (c->abort_text[0] != '\0') {
			client_close(c, c->abort_code, c->abort_text);
			return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
		}
		/* fall through */
	default:
		client_close(c, code, c->text);
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	}
}

/* Call on one line (CRLF stripped) of a reply; returns 1 when it completes
 * the reply (then c->text and c->reply_code hold it), 0 when more lines
 * follow, -1 after closing on a protocol error (RFC 5321 4.2.1: every line
 * of a multi-line reply carries the same code). */
static int
client_line(struct proto_client *c, const char *line, size_t len)
{
	enum proto_reply_line_kind kind;
	int code = 0;

	kind = proto_reply_line(line, len, &code);
	if (kind == PROTO_REPLY_BAD) {
		client_close(c, 0, "malformed reply line (not \"ddd text\")");
		return -1;
	}
	if (c->reply_lines > 0 && code != c->reply_code) {
		client_close(c, 0, "multi-line reply with differing codes");
		return -1;
	}
	if (++c->reply_lines > CLIENT_REPLY_LINES_MAX) {
		client_close(c, 0, "multi-line reply with too many lines");
		return -1;
	}
	c->reply_code = code;
	if (c->state == CLIENT_EHLO && code == 250 && c->reply_lines > 1 && len > 4) {
		unsigned ext = proto_reply_ehlo_keyword(line + 4, len - 4, &c->peer_size_max);

		c->ext |= ext;
		if (ext == PROTO_EXT_AUTH)
			c->auth_mechs |= proto_reply_auth_mechs(line + 4, len - 4);
	}
	if (kind == PROTO_REPLY_MORE)
		return 0;
	memcpy(c->text, line, len);
	c->text[len] = '\0';
	c->reply_lines = 0;
	return 1;
}

/* Call while input is left; consumes bytes up to the end of one line and
 * returns client_line()'s result, or 0 when the input ran out mid-line.
 * RFC 5321 4.5.3.1.5 allows 512 octets; we take up to
 * PROTO_CLIENT_REPLY_BYTES_MAX, a bare LF ends a line too. */
static int
client_read_line(struct proto_client *c)
{
	size_t len;

	while (c->in_len > 0) {
		char ch = *c->in++;

		c->in_len--;
		if (ch != '\n') {
			if (c->reply_len >= PROTO_CLIENT_REPLY_BYTES_MAX + 1) {
				client_close(c, 0, "reply line too long");
				return -1;
			}
			c->reply[c->reply_len++] = ch;
			continue;
		}
		len = c->reply_len;
		c->reply_len = 0;
		if (len > 0 && c->reply[len - 1] == '\r')
			len--;
		if (len > PROTO_CLIENT_REPLY_BYTES_MAX) {
			client_close(c, 0, "reply line too long");
			return -1;
		}
		return client_line(c, c->reply, len);
	}
	return 0;
}

/* Call to xtext-encode s (RFC 3461 4: "+", "=" and octets outside 33..126
 * as "+HH") into out; returns the length, or -1 when it does not fit in
 * max - 1 octets or s holds a control or 8-bit octet. */
static int
client_xtext(const char *s, char *out, size_t max)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 32 || ch > 126)
			return -1;
		if (n + 4 > max)
			return -1;
		if (ch == '+' || ch == '=' || ch == ' ')
			n += (size_t)snprintf(out + n, max - n, "+%02X", ch);
		else
			out[n++] = (char)ch;
	}
	out[n] = '\0';
	return (int)n;
}

/* Call to write the DSN part of MAIL (is_rcpt 0) or of RCPT number i into
 * buf (RFC 3461 4.1-4.4); "" when the peer has no DSN or nothing is set.
 * Returns 0, or -1 when a value does not encode within its limit. */
static int
client_dsn_params(const struct proto_client *c, int is_rcpt, unsigned i, char *buf, size_t max)
{
	const struct proto_client_dsn *d = c->dsn;
	char x[PROTO_ORCPT_BYTES_MAX + 1];
	size_t n = 0;

	buf[0] = '\0';
	if (d == NULL || !(c->ext & PROTO_EXT_DSN))
		return 0;
	if (!is_rcpt && d->ret != PROTO_DSN_RET_NONE)
		n += (size_t)snprintf(buf + n, max - n, " RET=%s",
		                      d->ret == PROTO_DSN_RET_FULL ? "FULL" : "HDRS");
	if (!is_rcpt && d->envid != NULL && d->envid[0] != '\0') {
		if (client_xtext(d->envid, x, PROTO_ENVID_BYTES_MAX + 1) < 0)
			return -1;
		n += (size_t)snprintf(buf + n, max - n, " ENVID=%s", x);
	}
	if (is_rcpt && d->notify != NULL && d->notify[i] != 0) {
		unsigned v = d->notify[i];

		if (v & PROTO_DSN_NOTIFY_NEVER)  /* RFC 3461 4.1: NEVER stands alone */
			v = PROTO_DSN_NOTIFY_NEVER;
		n += (size_t)snprintf(buf + n, max - n, " NOTIFY=%s%s%s%s",
		                      v & PROTO_DSN_NOTIFY_NEVER ? "NEVER" : "",
		                      v & PROTO_DSN_NOTIFY_SUCCESS ? "SUCCESS," : "",
		                      v & PROTO_DSN_NOTIFY_FAILURE ? "FAILURE," : "",
		                      v & PROTO_DSN_NOTIFY_DELAY ? "DELAY," : "");
		if (buf[n - 1] == ',')
			buf[--n] = '\0';
	}
	if (is_rcpt && d->orcpt != NULL && d->orcpt[i] != NULL && d->orcpt[i][0] != '\0') {
		const char *semi = strchr(d->orcpt[i], ';');
		int type_len = semi != NULL ? (int)(semi - d->orcpt[i]) : 6;

		if (client_xtext(semi != NULL ? semi + 1 : d->orcpt[i], x, sizeof(x)) < 0 ||
		    (size_t)type_len + 1 + strlen(x) > PROTO_ORCPT_BYTES_MAX)
			return -1;
		n += (size_t)snprintf(buf + n, max - n, " ORCPT=%.*s;%s", type_len,
		                      semi != NULL ? d->orcpt[i] : "rfc822", x);
	}
	return 0;
}

/* The BODY= parameter of MAIL: RFC 6152 only to a peer offering 8BITMIME
 * (to one that does not the body goes as it is); BINARYMIME only goes by
 * BDAT to a peer offering it (checked in proto_client_mail_opts()). */
static const char *
client_body_param(const struct proto_client *c)
{
	if (c->body == PROTO_BODY_BINARYMIME)
		return " BODY=BINARYMIME";
	if (c->body == PROTO_BODY_8BITMIME && (c->ext & PROTO_EXT_8BITMIME))
		return " BODY=8BITMIME";
	return "";
}

/* Call to queue command number i of the group (0 MAIL, 1..n RCPT, n+1
 * DATA or BDAT); returns 0, or -1 when c->out lacks room. RFC 1870 6: SIZE= only
 * when the peer offered SIZE; RFC 3461: DSN parameters only with DSN. */
static int
client_put_txn_cmd(struct proto_client *c, unsigned i)
{
	char dsn[PROTO_ENVID_BYTES_MAX + PROTO_ORCPT_BYTES_MAX + 64];

	char size[32] = "";

	dsn[0] = '\0';
	if (i <= c->rcpt_count && client_dsn_params(c, i > 0, i > 0 ? i - 1 : 0, dsn,
	                                            sizeof(dsn)) < 0)
		dsn[0] = '\0';  /* checked in proto_client_mail_dsn() */
	if (i == 0 && (c->ext & PROTO_EXT_SIZE) && c->size > 0)
		snprintf(size, sizeof(size), " SIZE=%llu", (unsigned long long)c->size);
	if (i == 0)
		return client_put(c, "MAIL FROM:<%s>%s%s%s%s\r\n", c->from, size,
		                  client_body_param(c),
		                  c->smtputf8 && (c->ext & PROTO_EXT_SMTPUTF8) ? " SMTPUTF8" : "",
		                  dsn);
	if (i <= c->rcpt_count)
		return client_put(c, "RCPT TO:<%s>%s\r\n", c->rcpts[i - 1], dsn);
	if (c->bdat)  /* RFC 3030 2: the whole body as one chunk */
		return client_put(c, "BDAT %llu LAST\r\n", (unsigned long long)c->size);
	return client_put(c, "DATA\r\n");
}

/* Call before sending: queues what is due and fits. RFC 2920 3.1: with
 * PIPELINING, MAIL, every RCPT and DATA go as one group (in several sends
 * when c->out fills up); without it, one command per answer. */
static void
client_fill(struct proto_client *c)
{
	if (c->state == CLIENT_TXN) {
		while (c->cmd_next <= c->rcpt_count + 1) {
			if (!(c->txn_flags & CLIENT_TXN_PIPELINED) && c->replies_due > 0)
				break;
			if (client_put_txn_cmd(c, c->cmd_next) < 0)
				break;
			c->cmd_next++;
			c->replies_due++;
			if (c->bdat && c->cmd_next > c->rcpt_count + 1) {
				/* the chunk's octets follow its command at once */
				c->state = CLIENT_BODY;
				c->body_sent = 0;
			}
		}
	} else if (c->state == CLIENT_BODY_END) {
		/* RFC 5321 4.1.1.4: the body ends with CRLF "." CRLF. */
		const char *end = ".\r\n";

		if (c->body_state & CLIENT_BODY_AFTER_CR)
			end = "\n.\r\n";
		else if (!(c->body_state & CLIENT_BODY_LINE_START))
			end = "\r\n.\r\n";
		if (client_put(c, "%s", end) == 0) {
			c->state = CLIENT_DOT;
			c->lmtp_next = 0;
			c->lmtp_left = c->rcpt_accepted;
			/* RFC 2033 4.2: LMTP answers once per accepted recipient */
			c->replies_due += c->params.lmtp ? c->rcpt_accepted : 1;
		}
	}
}

/* Call to learn what to do next; returns the event kind and fills *ev. */
enum proto_client_event_kind
proto_client_next(struct proto_client *c, struct proto_client_event *ev)
{
	int r;

	if (c->state == CLIENT_CLOSED)
		return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
	if (c->state == CLIENT_TLS_WAIT)
		return client_event(ev, PROTO_CEV_STARTTLS, 0, 220, c->text);
	if (c->state == CLIENT_SIZE_FAIL || c->state == CLIENT_LMTP_DONE) {
		c->state = CLIENT_READY;
		return client_event(ev, PROTO_CEV_TXN_DONE, 0, c->fail_code, c->fail_text);
	}
	for (;;) {
		client_fill(c);
		if (c->out_len > 0)
			return client_event(ev, PROTO_CEV_SEND, 0, 0, NULL);
		if (c->in_len == 0)
			break;
		r = client_read_line(c);
		if (r < 0)
			return client_event(ev, PROTO_CEV_CLOSED, 0, c->close_code, c->close_text);
		if (r > 0 && (r = client_dispatch(c, ev)) != CLIENT_EV_NONE)
			return (enum proto_client_event_kind)r;
	}
	if (c->state == CLIENT_READY)
		return client_event(ev, PROTO_CEV_READY, 0, 0, NULL);
	if (c->state == CLIENT_BODY)
		return c->bdat ? client_event(ev, PROTO_CEV_BODY, 0, 0, "")
		               : client_event(ev, PROTO_CEV_BODY, 0, 354, c->text);
	return client_event(ev, PROTO_CEV_NEED_MORE, 0, 0, NULL);
}

/* Call once before anything else: the machine waits for the greeting. */
void
proto_client_init(struct proto_client *c, const struct proto_client_params *p)
{
	memset(c, 0, sizeof(*c));
	c->params = *p;
	c->tls = p->tls_on_connect;
	c->state = CLIENT_GREETING;
	c->replies_due = 1;
	c->body_state = CLIENT_BODY_LINE_START;
}

/* Call after NEED_MORE with the bytes read; they must stay valid until the
 * next NEED_MORE. */
void
proto_client_feed(struct proto_client *c, const char *buf, size_t len)
{
	if (c->state == CLIENT_CLOSED)
		return;
	c->in = buf;
	c->in_len = len;
}

/* Call after sending n bytes from the front of c->out. */
void
proto_client_out_sent(struct proto_client *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

/* Call after READY to start a transaction; returns 0 or -1 (see header). */
int
proto_client_mail(struct proto_client *c, const char *from,
                  const char *const *rcpts, unsigned nrcpt, uint64_t size)
{
	return proto_client_mail_dsn(c, from, rcpts, nrcpt, size, NULL);
}

/* Call to check that the DSN values of nrcpt recipients encode within their
 * limits; returns 0 or -1. */
static int
client_dsn_check(struct proto_client *c, unsigned nrcpt)
{
	char buf[PROTO_ENVID_BYTES_MAX + PROTO_ORCPT_BYTES_MAX + 64];
	unsigned ext = c->ext, i;
	int r = 0;

	c->ext |= PROTO_EXT_DSN;  /* check as if the peer took them */
	c->rcpt_count = nrcpt;
	if (client_dsn_params(c, 0, 0, buf, sizeof(buf)) < 0)
		r = -1;
	for (i = 0; r == 0 && i < nrcpt; i++)
		if (client_dsn_params(c, 1, i, buf, sizeof(buf)) < 0)
			r = -1;
	c->ext = ext;
	return r;
}

/* Call after READY to start a transaction with DSN parameters; returns 0 or
 * -1 (see header). */
int
proto_client_mail_dsn(struct proto_client *c, const char *from, const char *const *rcpts,
                      unsigned nrcpt, uint64_t size, const struct proto_client_dsn *dsn)
{
	struct proto_client_mail_opts opts = { .dsn = dsn };

	return proto_client_mail_opts(c, from, rcpts, nrcpt, size, &opts);
}

/* Does the transaction need the peer's SMTPUTF8: a path with 8-bit octets? */
static int
client_paths_utf8(const char *from, const char *const *rcpts, unsigned nrcpt)
{
	unsigned i;
	const char *p;

	for (p = from; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	for (i = 0; i < nrcpt; i++)
		for (p = rcpts[i]; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return 1;
	return 0;
}

/* Call after READY to start a transaction with MAIL parameters; returns 0
 * or -1 (see header). RFC 1870 6.1: a message larger than the peer's SIZE is
 * not offered; RFC 6531 3.4: nor one with UTF-8 paths to a peer without
 * SMTPUTF8. */
int
proto_client_mail_opts(struct proto_client *c, const char *from, const char *const *rcpts,
                       unsigned nrcpt, uint64_t size, const struct proto_client_mail_opts *opts)
{
	const struct proto_client_dsn *dsn = opts != NULL ? opts->dsn : NULL;
	unsigned i;

	int body = opts != NULL ? opts->body : PROTO_BODY_7BIT;

	if (c->state != CLIENT_READY || nrcpt == 0 || nrcpt > PROTO_CLIENT_RCPT_MAX ||
	    rcpts == NULL || !client_word_ok(from, CLIENT_ADDR_BYTES_MAX, 1, 1) ||
	    (body != PROTO_BODY_7BIT && body != PROTO_BODY_8BITMIME &&
	     body != PROTO_BODY_BINARYMIME) ||
	    (body == PROTO_BODY_BINARYMIME && size == 0))
		return -1;
	for (i = 0; i < nrcpt; i++)
		if (!client_word_ok(rcpts[i], CLIENT_ADDR_BYTES_MAX, 0, 1))
			return -1;
	c->dsn = dsn;
	if (dsn != NULL && client_dsn_check(c, nrcpt) < 0) {
		c->dsn = NULL;
		return -1;
	}
	memset(c->rcpt_ok, 0, sizeof(c->rcpt_ok));
	c->from = from;
	c->rcpts = rcpts;
	c->size = size;
	c->rcpt_count = nrcpt;
	c->rcpt_replies = 0;
	c->rcpt_accepted = 0;
	c->last_rcpt_code = 0;
	c->last_rcpt_text[0] = '\0';
	c->cmd_next = 0;
	c->replies_due = 0;
	c->txn_flags = (c->ext & PROTO_EXT_PIPELINING) ? CLIENT_TXN_PIPELINED : 0;
	c->body = body;
	c->smtputf8 = opts != NULL && opts->smtputf8;
	/* RFC 3030: BDAT when offered, for a body of known size; not over LMTP */
	c->bdat = (c->ext & PROTO_EXT_CHUNKING) && size > 0 && !c->params.lmtp;
	if (c->smtputf8 && !(c->ext & PROTO_EXT_SMTPUTF8) && client_paths_utf8(from, rcpts, nrcpt)) {
		c->fail_code = 553;
		snprintf(c->fail_text, sizeof(c->fail_text),
		         "553 5.6.7 the server does not support SMTPUTF8, needed for "
		         "non-ASCII addresses");
		c->state = CLIENT_SIZE_FAIL;
		return 0;
	}
	if (body == PROTO_BODY_BINARYMIME && (!c->bdat || !(c->ext & PROTO_EXT_BINARYMIME))) {
		/* RFC 3030 3: relayed unchanged only to a BINARYMIME peer */
		c->fail_code = 554;
		snprintf(c->fail_text, sizeof(c->fail_text),
		         "554 5.6.3 the server does not support BINARYMIME, needed to "
		         "pass this message on unchanged");
		c->state = CLIENT_SIZE_FAIL;
		return 0;
	}
	if ((c->ext & PROTO_EXT_SIZE) && c->peer_size_max > 0 && size > c->peer_size_max) {
		c->fail_code = 552;
		snprintf(c->fail_text, sizeof(c->fail_text),
		         "552 5.3.4 message size %llu exceeds the server's limit of %llu",
		         (unsigned long long)size, (unsigned long long)c->peer_size_max);
		c->state = CLIENT_SIZE_FAIL;
		return 0;
	}
	c->state = CLIENT_TXN;
	return 0;
}

/* Call with bytes that are not CR or LF: copies the longest run that fits;
 * returns how many it took. */
static size_t
client_body_run(struct proto_client *c, const char *data, size_t len)
{
	size_t room = sizeof(c->out) - c->out_len, n;

	if (len > room)
		len = room;
	n = proto_line_end(data, len);
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return n;
}

/* Call with one body byte when c->out has CLIENT_BODY_BYTE_OUT_MAX bytes of
 * room. RFC 5321 4.5.2: a line starting with "." gets another; RFC 5321
 * 2.3.8: a bare LF or bare CR goes out as CRLF. */
static void
client_body_byte(struct proto_client *c, char ch)
{
	if (c->body_state & CLIENT_BODY_AFTER_CR) {
		c->out[c->out_len++] = '\n';
		c->body_state = CLIENT_BODY_LINE_START;
		if (ch == '\n')
			return;
	}
	if (ch == '\n') {
		c->out[c->out_len++] = '\r';
		c->out[c->out_len++] = '\n';
		c->body_state = CLIENT_BODY_LINE_START;
		return;
	}
	if (ch == '\r') {
		c->out[c->out_len++] = '\r';
		c->body_state = CLIENT_BODY_AFTER_CR;
		return;
	}
	if ((c->body_state & CLIENT_BODY_LINE_START) && ch == '.')
		c->out[c->out_len++] = '.';
	c->out[c->out_len++] = ch;
	c->body_state = 0;
}

/* BDAT: copy body octets as they are, up to the chunk size announced;
 * returns how many it took. */
static size_t
client_body_chunk(struct proto_client *c, const char *data, size_t len)
{
	size_t room = sizeof(c->out) - c->out_len;

	if (len > c->size - c->body_sent)
		len = (size_t)(c->size - c->body_sent);
	if (len > room)
		len = room;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	c->body_sent += len;
	return len;
}

/* Call after BODY with body bytes as stored; returns how many it took into
 * c->out (fewer than len when c->out is full, 0 outside the body). */
size_t
proto_client_body(struct proto_client *c, const char *data, size_t len)
{
	size_t i = 0;

	if (c->state != CLIENT_BODY)
		return 0;
	if (c->bdat)
		return client_body_chunk(c, data, len);
	while (i < len) {
		if (c->body_state == 0) {
			size_t n = client_body_run(c, data + i, len - i);

			i += n;
			if (i == len)
				break;
		}
		if (sizeof(c->out) - c->out_len < CLIENT_BODY_BYTE_OUT_MAX)
			break;
		client_body_byte(c, data[i++]);
	}
	return i;
}

/* Call once the whole body went through proto_client_body(). */
void
proto_client_body_end(struct proto_client *c)
{
	if (c->state != CLIENT_BODY)
		return;
	if (!c->bdat) {
		c->state = CLIENT_BODY_END;
		return;
	}
	if (c->body_sent != c->size) {
		/* the chunk promised c->size octets: the session cannot go on */
		client_close(c, 0, "message body shorter than its size");
		return;
	}
	c->state = CLIENT_DOT;  /* the LAST chunk's answer is due */
}

/* Call after READY to end the session (RFC 5321 4.1.1.10). */
void
proto_client_quit(struct proto_client *c)
{
	if (c->state != CLIENT_READY)
		return;
	(void)client_put(c, "QUIT\r\n");
	c->state = CLIENT_QUIT;
	c->replies_due = 1;
}

/* Call after PROTO_CEV_STARTTLS once the handshake is done: RFC 3207 4.2,
 * the client forgets what it learnt and says EHLO again. */
void
proto_client_tls_done(struct proto_client *c)
{
	if (c->state != CLIENT_TLS_WAIT)
		return;
	c->tls = 1;
	c->ext = 0;
	c->auth_mechs = 0;
	c->peer_size_max = 0;
	c->reply_lines = 0;
	(void)client_put(c, "EHLO %s\r\n", c->params.helo);
	c->state = CLIENT_EHLO;
	c->replies_due = 1;
}
