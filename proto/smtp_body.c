/*
 * proto/smtp_body.c - owns the DATA body reader of the server machine (RFC
 * 5321 4.1.1.4, 4.5.2): dot-unstuffing, end of data on CRLF.CRLF only, the
 * bare LF / bare CR policy against SMTP smuggling, and the message size
 * (raw octets) and text line limits. Bytes are handed out as BODY events
 * pointing into the fed input; what the reader adds (a held CR, the line
 * end of a normalised bare LF or CR) comes from constant storage. The state
 * lives in struct proto_server, so any cut of the input into feeds gives
 * the same result. See proto/smtp_server.h for the contract.
 */
#include "proto/smtp_server_int.h"

#include <string.h>

#include "proto/linescan.h"

/* body_state: where the reader is. A line starts only after CRLF, never
 * after a bare LF or CR, normalised or not: so "\n.\r\n" and "\r.\r\n"
 * never end the data. */
enum proto_body_state {
	PROTO_BODY_BOL,      /* at the start of a line */
	PROTO_BODY_MID,      /* inside a line */
	PROTO_BODY_CR,       /* just after a CR, already handed out */
	PROTO_BODY_DOT,      /* a '.' at the start of a line, dropped */
	PROTO_BODY_DOT_CR,   /* ".\r" at the start of a line, the CR held */
	PROTO_BODY_INS_LF,   /* normalising a bare CR: "\n" is due */
	PROTO_BODY_INS_CRLF, /* normalising a bare LF (next in input): "\r\n" is due */
};

/* Call when DATA was accepted: a new body starts at a line start. */
void
proto_server_body_begin(struct proto_server *s)
{
	s->body_state = PROTO_BODY_BOL;
	s->body_bytes = 0;
	s->raw_bytes = 0;
	s->body_error = 0;
	s->text_line_bytes = 0;
}

/* Count n raw input octets of the message; over size_max the rest is
 * drained and refused (RFC 1870 6.2: read to the end, then 552). */
static void
proto_body_raw(struct proto_server *s, size_t n)
{
	s->raw_bytes += n;
	if (s->params.size_max != 0 && s->raw_bytes > s->params.size_max) {
		s->body_error |= PROTO_BODY_ERR_SIZE;
		s->state = PROTO_S_DRAIN;
	}
}

/* Count n octets of the current text line (RFC 5321 4.5.3.1.6); over
 * text_line_bytes_max the message is drained and refused. */
static void
proto_body_line(struct proto_server *s, size_t n)
{
	s->text_line_bytes += n;
	if (s->text_line_bytes > s->params.text_line_bytes_max) {
		s->body_error |= PROTO_BODY_ERR_LINE;
		s->state = PROTO_S_DRAIN;
	}
}

/* Hand out data[0..len) as BODY, unless it is empty or the body drains.
 * Returns BODY or PROTO_SERVER_GO. */
static int
proto_body_run(struct proto_server *s, struct proto_event *ev, const char *data, size_t len)
{
	if (len == 0 || s->state == PROTO_S_DRAIN)
		return PROTO_SERVER_GO;
	s->body_bytes += len;
	ev->data = data;
	ev->len = len;
	return PROTO_EV_BODY;
}

/* Consume run + skip input octets (skip: a dropped dot, counted later) and
 * hand out the first run of them. */
static int
proto_body_emit(struct proto_server *s, struct proto_event *ev, size_t run, size_t skip)
{
	const char *p = s->in;

	s->in += run + skip;
	s->in_len -= run + skip;
	proto_body_raw(s, run);
	return proto_body_run(s, ev, p, run);
}

/* CRLF.CRLF seen. Returns the BODY_END question, or TXN_RESET after
 * refusing a body that broke a limit. */
static int
proto_body_end(struct proto_server *s, struct proto_event *ev)
{
	s->body_state = PROTO_BODY_BOL;
	if (s->params.observe != NULL)   /* the end of data, as OpenSMTPD reports it */
		s->params.observe(s->params.observe_arg, 0, ".", 1);
	if (s->body_error & PROTO_BODY_ERR_SIZE) {
		proto_server_put(s, 552, ' ', "5.3.4", "Message too big for system");
		proto_server_txn_reset(s);
		return PROTO_EV_TXN_RESET;
	}
	if (s->body_error & PROTO_BODY_ERR_LINE) {  /* RFC 5321 4.5.3.1.10 */
		proto_server_put(s, 500, ' ', "5.5.2", "Line too long");
		proto_server_txn_reset(s);
		return PROTO_EV_TXN_RESET;
	}
	s->state = PROTO_S_BODY;
	ev->size = s->body_bytes;
	s->pending = PROTO_EV_BODY_END;
	return PROTO_EV_BODY_END;
}

/* A bare LF at in[i] (lf) or a bare CR just before in[i] (!lf). Reject:
 * 521 and close, as Postfix's smtpd_forbid_bare_newline does. Normalise:
 * hand out the run before it, then the line end it becomes. */
static int
proto_body_bare(struct proto_server *s, struct proto_event *ev, size_t i, int lf)
{
	if (s->params.bare_newline != PROTO_BARE_NORMALIZE) {
		proto_server_put(s, 521, ' ', "5.5.2", "%s Error: bare <%s> received",
		                 s->params.hostname, lf ? "LF" : "CR");
		proto_server_close(s, PROTO_EV_CLOSE);
		return PROTO_EV_CLOSE;
	}
	s->text_line_bytes = 0;
	if (i > 0) {
		s->body_state = lf ? PROTO_BODY_INS_CRLF : PROTO_BODY_INS_LF;
		return proto_body_emit(s, ev, i, 0);
	}
	s->body_state = PROTO_BODY_MID;
	if (!lf)
		return proto_body_run(s, ev, "\n", 1);
	s->in++;
	s->in_len--;
	proto_body_raw(s, 1);
	return proto_body_run(s, ev, "\r\n", 2);
}

/* At the start of input in DOT or DOT_CR. Returns an event, GO, or
 * PROTO_EV_NEED_MORE to say "go on scanning". */
static int
proto_body_dot(struct proto_server *s, struct proto_event *ev)
{
	if (s->body_state == PROTO_BODY_DOT) {  /* RFC 5321 4.5.2: the dot is dropped */
		if (s->in[0] != '\r') {
			proto_body_raw(s, 1);  /* a stuffing dot: raw input all the same */
			proto_body_line(s, 1);
			s->body_state = PROTO_BODY_MID;
			return PROTO_EV_NEED_MORE;
		}
		s->in++;
		s->in_len--;
		s->body_state = PROTO_BODY_DOT_CR;
		return PROTO_SERVER_GO;
	}
	if (s->in[0] == '\n') {  /* CRLF "." CRLF: the end of the mail data */
		s->in++;
		s->in_len--;
		return proto_body_end(s, ev);
	}
	proto_body_raw(s, 2);  /* the dot and the held CR are data, the CR bare */
	proto_body_line(s, 1);
	if (s->params.bare_newline != PROTO_BARE_NORMALIZE)
		return proto_body_bare(s, ev, 0, 0);
	s->body_state = PROTO_BODY_MID;
	s->text_line_bytes = 0;
	return proto_body_run(s, ev, "\r\n", 2);
}

/* In BODY or DRAIN with input: consume one run of body octets up to a
 * line's leading dot, a bare line end or the end of input. Returns BODY,
 * BODY_END, TXN_RESET, CLOSE or PROTO_SERVER_GO. */
int
proto_server_body(struct proto_server *s, struct proto_event *ev)
{
	const char *p = s->in;
	size_t i = 0, j, n = s->in_len;
	int k;

	if (s->body_state == PROTO_BODY_INS_LF || s->body_state == PROTO_BODY_INS_CRLF)
		return proto_body_bare(s, ev, 0, s->body_state == PROTO_BODY_INS_CRLF);
	if (s->body_state == PROTO_BODY_DOT || s->body_state == PROTO_BODY_DOT_CR)
		if ((k = proto_body_dot(s, ev)) != PROTO_EV_NEED_MORE)
			return k;
	while (i < n) {
		switch (s->body_state) {
		case PROTO_BODY_BOL:
			if (p[i] == '.') {
				s->body_state = PROTO_BODY_DOT;
				return proto_body_emit(s, ev, i, 1);
			}
			if (p[i] == '\n')
				return proto_body_bare(s, ev, i, 1);
			s->body_state = p[i] == '\r' ? PROTO_BODY_CR : PROTO_BODY_MID;
			if (p[i] != '\r')
				proto_body_line(s, 1);
			i++;
			break;
		case PROTO_BODY_MID:
			j = i + proto_line_end(p + i, n - i);
			proto_body_line(s, j - i);
			i = j;
			if (i == n)
				break;
			if (p[i] == '\n')
				return proto_body_bare(s, ev, i, 1);
			s->body_state = PROTO_BODY_CR;
			i++;
			break;
		default:  /* PROTO_BODY_CR */
			if (p[i] != '\n')
				return proto_body_bare(s, ev, i, 0);
			s->body_state = PROTO_BODY_BOL;
			s->text_line_bytes = 0;
			i++;
			break;
		}
	}
	return proto_body_emit(s, ev, n, 0);
}
