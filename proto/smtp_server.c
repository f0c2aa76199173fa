/*
 * proto/smtp_server.c - owns the server side of one SMTP session as a pure
 * state machine: command line assembly, the command table (which verb is
 * allowed in which state, and what it does), the replies queued in s->out,
 * and the DATA body reader (dot-unstuffing, end of data on CRLF.CRLF only).
 * The contract is in proto/smtp_server.h; command syntax lives in
 * proto/smtp_command.c.
 */
#include "proto/smtp_server.h"
#include "proto/smtp_command.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The most one call of next() or answer() appends to s->out: an error reply
 * and the 421 after it (the EHLO reply is shorter). next() returns FLUSH
 * unless that much room plus one more line is free, so the 421 of timeout()
 * or shutdown() always fits, even right after a FLUSH. */
#define PROTO_SERVER_STEP_BYTES_MAX (2 * PROTO_REPLY_BYTES_MAX)
#define PROTO_SERVER_ROOM_BYTES (PROTO_SERVER_STEP_BYTES_MAX + PROTO_REPLY_BYTES_MAX)
/* At most this much of an unknown verb is echoed in the 500 reply. */
#define PROTO_SERVER_ECHO_BYTES_MAX 32

/* Internal result of a step: nothing to report, keep going. */
#define PROTO_SERVER_GO (-1)

/* body_state: where the body reader is within a line (RFC 5321 4.5.2).
 * A line starts only after CRLF; a bare LF or CR is ordinary body data. */
enum proto_server_body_state {
	PROTO_BODY_BOL,    /* at the start of a line */
	PROTO_BODY_MID,    /* inside a line */
	PROTO_BODY_CR,     /* inside a line, just after a CR */
	PROTO_BODY_DOT,    /* a '.' at the start of a line, dropped */
	PROTO_BODY_DOT_CR, /* ".\r" at the start of a line, the CR held (end of a feed) */
};

#define PROTO_SERVER_S(st) (1u << (st))
#define PROTO_SERVER_S_TXN (PROTO_SERVER_S(PROTO_S_MAIL) | PROTO_SERVER_S(PROTO_S_RCPT))
#define PROTO_SERVER_S_ANY \
	(PROTO_SERVER_S(PROTO_S_INIT) | PROTO_SERVER_S(PROTO_S_HELO) | PROTO_SERVER_S_TXN)

/* Command flag: an open transaction is dropped first (TXN_RESET), then the
 * command runs again outside it. */
#define PROTO_SERVER_CMD_ENDS_TXN 0x1

struct proto_server_cmd {
	const char *verb;
	unsigned states;  /* PROTO_SERVER_S() bits where the verb is allowed */
	unsigned flags;
	int (*run)(struct proto_server *s, char *args, struct proto_event *ev);
};

static int proto_server_cmd_helo(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_ehlo(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_mail(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_rcpt(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_data(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_rset(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_noop(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_quit(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_help(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_vrfy(struct proto_server *, char *, struct proto_event *);

/* RFC 5321 4.1.4: the order of commands; anything else is 503 5.5.1. */
static const struct proto_server_cmd proto_server_cmds[] = {
	{ "HELO", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_helo },
	{ "EHLO", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_ehlo },
	{ "MAIL", PROTO_SERVER_S(PROTO_S_HELO), 0, proto_server_cmd_mail },
	{ "RCPT", PROTO_SERVER_S_TXN, 0, proto_server_cmd_rcpt },
	{ "DATA", PROTO_SERVER_S(PROTO_S_RCPT), 0, proto_server_cmd_data },
	{ "RSET", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_rset },
	{ "NOOP", PROTO_SERVER_S_ANY, 0, proto_server_cmd_noop },
	{ "QUIT", PROTO_SERVER_S_ANY, 0, proto_server_cmd_quit },
	{ "HELP", PROTO_SERVER_S_ANY, 0, proto_server_cmd_help },
	{ "VRFY", PROTO_SERVER_S_ANY, 0, proto_server_cmd_vrfy },
};

/* Append one reply line "code<sep>[enhanced ]text" CRLF to s->out, cut to
 * PROTO_REPLY_BYTES_MAX and with control and 8-bit octets replaced by '?'. */
static void
proto_server_vput(struct proto_server *s, int code, char sep, const char *enhanced,
                  const char *fmt, va_list ap)
{
	char line[PROTO_REPLY_BYTES_MAX];
	size_t n, i, cap = sizeof(line) - 2;
	int r;

	r = snprintf(line, sizeof(line), "%03d%c%s%s", code, sep,
	             enhanced != NULL ? enhanced : "", enhanced != NULL ? " " : "");
	n = (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : n + (size_t)r;
	if (n > cap)
		n = cap;
	while (n > 4 && line[n - 1] == ' ')  /* empty text: no trailing space */
		n--;
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 32 || (unsigned char)line[i] > 126)
			line[i] = '?';
	line[n++] = '\r';
	line[n++] = '\n';
	assert(s->out_len + n <= PROTO_OUT_BYTES_MAX);
	if (s->out_len + n > PROTO_OUT_BYTES_MAX)
		return;
	memcpy(s->out + s->out_len, line, n);
	s->out_len += n;
}

/* Append a reply line; see proto_server_vput(). */
static void
proto_server_put(struct proto_server *s, int code, char sep, const char *enhanced,
                 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	proto_server_vput(s, code, sep, enhanced, fmt, ap);
	va_end(ap);
}

/* Mark the session over; next() returns kind (QUIT or CLOSE) from now on. */
static void
proto_server_close(struct proto_server *s, enum proto_event_kind kind)
{
	s->state = PROTO_S_CLOSED;
	s->close_kind = kind;
	s->pending = PROTO_EV_NEED_MORE;
}

/* Drop the transaction: back to HELO state with no recipients. */
static void
proto_server_txn_reset(struct proto_server *s)
{
	s->state = PROTO_S_HELO;
	s->rcpt_count = 0;
	s->body_bytes = 0;
	s->body_state = PROTO_BODY_BOL;
}

/* Answer a bad command and count it. Returns CLOSE (421 queued after the
 * reply) when errors_max is reached, else PROTO_SERVER_GO. */
static int
proto_server_bad(struct proto_server *s, int code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	proto_server_vput(s, code, ' ', enhanced, fmt, ap);
	va_end(ap);
	s->errors++;
	if (s->params.errors_max == 0 || s->errors < s->params.errors_max)
		return PROTO_SERVER_GO;
	proto_server_put(s, 421, ' ', "4.7.0", "%s Too many errors", s->params.hostname);
	proto_server_close(s, PROTO_EV_CLOSE);
	return PROTO_EV_CLOSE;
}

/* Call once before anything else; the params are copied (the hostname
 * pointer must outlive the session). */
void
proto_server_init(struct proto_server *s, const struct proto_server_params *p)
{
	memset(s, 0, sizeof(*s));
	s->params = *p;
	if (s->params.hostname == NULL)
		s->params.hostname = "localhost";
	s->state = PROTO_S_INIT;
	s->pending = PROTO_EV_NEED_MORE;
	s->close_kind = PROTO_EV_CLOSE;
	s->body_state = PROTO_BODY_BOL;
}

/* Call once after init: queues the RFC 5321 4.2 greeting. */
void
proto_server_greet(struct proto_server *s)
{
	proto_server_put(s, 220, ' ', NULL, "%s ESMTP ringmta", s->params.hostname);
}

/* Call after next() returned NEED_MORE (all input consumed); buf must stay
 * valid until next() returns NEED_MORE again. Ignored once closed. */
void
proto_server_feed(struct proto_server *s, const char *buf, size_t len)
{
	if (s->state == PROTO_S_CLOSED)
		return;
	assert(s->in_len == 0);
	s->in = buf;
	s->in_len = len;
}

/* Call after sending n bytes from the front of s->out. */
void
proto_server_out_sent(struct proto_server *s, size_t n)
{
	assert(n <= s->out_len);
	if (n > s->out_len)
		n = s->out_len;
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

/* Call when the session idled too long: queues 421 4.4.2 (RFC 5321 4.5.3.2)
 * and closes; next() returns CLOSE. Does nothing once closed. */
void
proto_server_timeout(struct proto_server *s)
{
	if (s->state == PROTO_S_CLOSED)
		return;
	proto_server_put(s, 421, ' ', "4.4.2", "%s Timeout, closing", s->params.hostname);
	proto_server_close(s, PROTO_EV_CLOSE);
}

/* Call when the server stops: queues 421 4.3.2 (RFC 5321 3.8) and closes. */
void
proto_server_shutdown(struct proto_server *s)
{
	if (s->state == PROTO_S_CLOSED)
		return;
	proto_server_put(s, 421, ' ', "4.3.2", "%s Server shutting down", s->params.hostname);
	proto_server_close(s, PROTO_EV_CLOSE);
}

/* Call with the answer to the pending MAIL, RCPT, DATA or BODY_END event.
 * A 2xx/3xx answer advances the state; 421 closes the session. An answer
 * that arrives after timeout() or shutdown() closed the session is dropped. */
void
proto_server_answer(struct proto_server *s, int code, const char *enhanced, const char *text)
{
	enum proto_event_kind q = s->pending;
	int ok = code >= 200 && code < 400;

	if (s->state == PROTO_S_CLOSED)
		return;
	assert(q == PROTO_EV_MAIL || q == PROTO_EV_RCPT || q == PROTO_EV_DATA ||
	       q == PROTO_EV_BODY_END);
	assert(code >= 200 && code <= 599);
	if (q == PROTO_EV_NEED_MORE)
		return;
	s->pending = PROTO_EV_NEED_MORE;
	proto_server_put(s, code, ' ', enhanced, "%s", text != NULL ? text : "");
	if (code == 421) {
		proto_server_close(s, PROTO_EV_CLOSE);
		return;
	}
	if (q == PROTO_EV_MAIL && ok) {
		s->state = PROTO_S_MAIL;
		s->rcpt_count = 0;
	} else if (q == PROTO_EV_RCPT && ok) {
		s->state = PROTO_S_RCPT;
		s->rcpt_count++;
	} else if (q == PROTO_EV_DATA && ok) {
		s->state = PROTO_S_BODY;  /* RFC 5321 4.1.1.4: 354, then the mail data */
		s->body_state = PROTO_BODY_BOL;
		s->body_bytes = 0;
	} else if (q == PROTO_EV_BODY_END) {
		proto_server_txn_reset(s);
	}
}

/* ---- commands ---- */

/* HELO and EHLO (RFC 5321 4.1.1.1): the first word of args is the client's
 * name, printable ASCII, at most a domain's length. */
static int
proto_server_greeting(struct proto_server *s, char *args, struct proto_event *ev, int esmtp)
{
	char *p = args;

	while (*p > ' ' && *p < 127)
		p++;
	if (p == args || (size_t)(p - args) > PROTO_DOMAIN_BYTES_MAX ||
	    (*p != '\0' && *p != ' ' && *p != '\t'))
		return proto_server_bad(s, 501, "5.5.4", "Syntax: %s hostname",
		                        esmtp ? "EHLO" : "HELO");
	*p = '\0';
	s->state = PROTO_S_HELO;
	s->esmtp = esmtp;
	ev->helo = args;
	ev->esmtp = esmtp;
	/* RFC 2034 3: no enhanced codes in the reply to HELO and EHLO */
	if (!esmtp) {
		proto_server_put(s, 250, ' ', NULL, "%s Hello %s", s->params.hostname, args);
		return PROTO_EV_HELO;
	}
	proto_server_put(s, 250, '-', NULL, "%s Hello %s", s->params.hostname, args);
	proto_server_put(s, 250, '-', NULL, "PIPELINING");  /* RFC 2920 */
	if (s->params.size_max != 0)                         /* RFC 1870 4 */
		proto_server_put(s, 250, '-', NULL, "SIZE %llu",
		                 (unsigned long long)s->params.size_max);
	else
		proto_server_put(s, 250, '-', NULL, "SIZE");
	proto_server_put(s, 250, '-', NULL, "8BITMIME");             /* RFC 6152 */
	proto_server_put(s, 250, '-', NULL, "ENHANCEDSTATUSCODES");  /* RFC 2034 */
	proto_server_put(s, 250, ' ', NULL, "HELP");
	return PROTO_EV_HELO;
}

/* HELO: RFC 5321 4.1.1.1. Returns the HELO event. */
static int
proto_server_cmd_helo(struct proto_server *s, char *args, struct proto_event *ev)
{
	return proto_server_greeting(s, args, ev, 0);
}

/* EHLO: RFC 5321 4.1.1.1, the extensions this machine offers. */
static int
proto_server_cmd_ehlo(struct proto_server *s, char *args, struct proto_event *ev)
{
	return proto_server_greeting(s, args, ev, 1);
}

/* MAIL FROM:<path> [SIZE=n] [BODY=...] (RFC 5321 4.1.1.2). Returns the MAIL
 * question, or answers a bad path, bad parameter or too big SIZE itself. */
static int
proto_server_cmd_mail(struct proto_server *s, char *args, struct proto_event *ev)
{
	char *addr, *params;

	switch (proto_cmd_path(args, "FROM:", PROTO_PATH_NULL_OK, &addr, &params)) {
	case PROTO_CMD_OK:
		break;
	case PROTO_CMD_BAD_PATH:
		return proto_server_bad(s, 553, "5.1.7", "Sender address syntax error");
	default:
		return proto_server_bad(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
	}
	switch (proto_cmd_mail_params(params, &ev->size, &ev->body8)) {
	case PROTO_CMD_OK:
		break;
	case PROTO_CMD_UNKNOWN_PARAM:
		return proto_server_bad(s, 555, "5.5.4", "Unsupported parameter");
	default:
		return proto_server_bad(s, 501, "5.5.4", "Syntax error in parameters");
	}
	if (s->params.size_max != 0 && ev->size > s->params.size_max) {  /* RFC 1870 6.1 */
		proto_server_put(s, 552, ' ', "5.3.4", "Message too big");
		return PROTO_SERVER_GO;
	}
	ev->addr = addr;
	s->pending = PROTO_EV_MAIL;
	return PROTO_EV_MAIL;
}

/* RCPT TO:<path> (RFC 5321 4.1.1.3). Returns the RCPT question, or answers
 * a bad path, a parameter, or one recipient too many itself. */
static int
proto_server_cmd_rcpt(struct proto_server *s, char *args, struct proto_event *ev)
{
	char *addr, *params;

	switch (proto_cmd_path(args, "TO:", PROTO_PATH_POSTMASTER_OK, &addr, &params)) {
	case PROTO_CMD_OK:
		break;
	case PROTO_CMD_BAD_PATH:
		return proto_server_bad(s, 553, "5.1.3", "Recipient address syntax error");
	default:
		return proto_server_bad(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
	}
	if (*params != '\0')  /* no RCPT parameters are offered (no DSN) */
		return proto_server_bad(s, 555, "5.5.4", "Unsupported parameter");
	if (s->params.rcpt_count_max != 0 && s->rcpt_count >= s->params.rcpt_count_max) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later */
		proto_server_put(s, 452, ' ', "4.5.3", "Too many recipients");
		return PROTO_SERVER_GO;
	}
	ev->addr = addr;
	s->pending = PROTO_EV_RCPT;
	return PROTO_EV_RCPT;
}

/* DATA (RFC 5321 4.1.1.4): only reached with >= 1 accepted recipient.
 * Returns the DATA question; the 354 answer starts the body. */
static int
proto_server_cmd_data(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)ev;
	if (*args != '\0')
		return proto_server_bad(s, 501, "5.5.4", "Syntax: DATA (no parameters)");
	s->pending = PROTO_EV_DATA;
	return PROTO_EV_DATA;
}

/* RSET (RFC 5321 4.1.1.5); the transaction was already dropped by the
 * dispatcher (PROTO_SERVER_CMD_ENDS_TXN). */
static int
proto_server_cmd_rset(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)ev;
	if (*args != '\0')
		return proto_server_bad(s, 501, "5.5.4", "Syntax: RSET (no parameters)");
	proto_server_put(s, 250, ' ', "2.0.0", "Ok");
	return PROTO_SERVER_GO;
}

/* NOOP [string] (RFC 5321 4.1.1.9). */
static int
proto_server_cmd_noop(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 250, ' ', "2.0.0", "Ok");
	return PROTO_SERVER_GO;
}

/* QUIT (RFC 5321 4.1.1.10): 221, then the session is over. */
static int
proto_server_cmd_quit(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 221, ' ', "2.0.0", "%s Bye", s->params.hostname);
	proto_server_close(s, PROTO_EV_QUIT);
	return PROTO_EV_QUIT;
}

/* HELP [string] (RFC 5321 4.1.1.8). */
static int
proto_server_cmd_help(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 214, ' ', "2.0.0",
	                 "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
	return PROTO_SERVER_GO;
}

/* VRFY string (RFC 5321 3.5.3): never reveals whether a user exists. */
static int
proto_server_cmd_vrfy(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 252, ' ', "2.5.2",
	                 "Cannot VRFY user, but will accept message and attempt delivery");
	return PROTO_SERVER_GO;
}

/* ---- command lines ---- */

/* Move input into s->line up to and including an LF (RFC 5321 2.3.8: CRLF;
 * a bare LF is accepted for commands). Returns 1 when a whole line is ready
 * (CR and trailing blanks cut, NUL-terminated), 0 when input ran out. */
static int
proto_server_line_take(struct proto_server *s)
{
	const char *lf = memchr(s->in, '\n', s->in_len);
	size_t n = lf != NULL ? (size_t)(lf - s->in) : s->in_len;

	/* RFC 5321 4.5.3.1.4: the line with its LF must fit PROTO_LINE_BYTES_MAX */
	if (!s->line_overflow && s->line_len + n > PROTO_LINE_BYTES_MAX - 1)
		s->line_overflow = 1;
	if (!s->line_overflow) {
		memcpy(s->line + s->line_len, s->in, n);
		s->line_len += n;
	}
	s->in += n;
	s->in_len -= n;
	if (lf == NULL)
		return 0;
	s->in++;
	s->in_len--;
	if (s->line_len > 0 && s->line[s->line_len - 1] == '\r')
		s->line_len--;
	while (s->line_len > 0 &&
	       (s->line[s->line_len - 1] == ' ' || s->line[s->line_len - 1] == '\t'))
		s->line_len--;
	s->line[s->line_len] = '\0';
	s->line_ready = 1;
	return 1;
}

/* Returns the 503 text for a verb used out of order (RFC 5321 4.1.4). */
static const char *
proto_server_seq_text(const struct proto_server *s, const char *verb)
{
	if (s->state == PROTO_S_INIT)
		return "Error: send HELO/EHLO first";
	if (s->state == PROTO_S_HELO)
		return "Error: need MAIL command";
	if (strcmp(verb, "MAIL") == 0)
		return "Error: nested MAIL command";
	return "Error: need RCPT command";
}

/* Answer an unknown verb, echoing at most PROTO_SERVER_ECHO_BYTES_MAX
 * printable octets of it. */
static int
proto_server_unknown(struct proto_server *s, const char *verb, size_t verb_len)
{
	char echo[PROTO_SERVER_ECHO_BYTES_MAX + 4];
	size_t i, n = verb_len < PROTO_SERVER_ECHO_BYTES_MAX ? verb_len
	                                                     : PROTO_SERVER_ECHO_BYTES_MAX;

	for (i = 0; i < n; i++)
		echo[i] = verb[i] > ' ' && verb[i] < 127 ? verb[i] : '?';
	echo[n] = '\0';
	if (verb_len > n)
		memcpy(echo + n, "...", 4);
	return proto_server_bad(s, 500, "5.5.1", "Invalid command: %s", echo);
}

/* Run the command in s->line through the table. Returns an event or
 * PROTO_SERVER_GO. */
static int
proto_server_dispatch(struct proto_server *s, struct proto_event *ev)
{
	const struct proto_server_cmd *cmd = NULL;
	char *verb, *args;
	size_t i, verb_len;

	s->line_ready = 0;
	if (s->line_overflow) {
		s->line_overflow = 0;
		s->line_len = 0;
		return proto_server_bad(s, 500, "5.5.2", "Line too long");
	}
	if (memchr(s->line, '\0', s->line_len) != NULL) {
		s->line_len = 0;
		return proto_server_bad(s, 500, "5.5.2", "Syntax error: NUL in command");
	}
	args = proto_cmd_split(s->line, &verb, &verb_len);
	for (i = 0; i < sizeof(proto_server_cmds) / sizeof(proto_server_cmds[0]); i++)
		if (verb_len == strlen(proto_server_cmds[i].verb) &&
		    strncasecmp(verb, proto_server_cmds[i].verb, verb_len) == 0)
			cmd = &proto_server_cmds[i];
	if (cmd != NULL && (cmd->flags & PROTO_SERVER_CMD_ENDS_TXN) &&
	    (PROTO_SERVER_S(s->state) & PROTO_SERVER_S_TXN)) {
		proto_server_txn_reset(s);
		s->line_ready = 1;  /* run it again, now outside the transaction */
		return PROTO_EV_TXN_RESET;
	}
	s->line_len = 0;
	if (verb_len == 0)
		return proto_server_bad(s, 500, "5.5.2", "Syntax error: empty command");
	if (cmd == NULL)
		return proto_server_unknown(s, verb, verb_len);
	if (!(cmd->states & PROTO_SERVER_S(s->state)))
		return proto_server_bad(s, 503, "5.5.1", "%s", proto_server_seq_text(s, cmd->verb));
	return cmd->run(s, args, ev);
}

/* ---- the body ---- */

/* Consume n bytes of input. */
static void
proto_server_consume(struct proto_server *s, size_t n)
{
	s->in += n;
	s->in_len -= n;
}

/* Count len body bytes at data and report them, unless the message is
 * already too big (DRAIN). Returns BODY or PROTO_SERVER_GO. */
static int
proto_server_body_run(struct proto_server *s, struct proto_event *ev, const char *data,
                      size_t len)
{
	if (len == 0)
		return PROTO_SERVER_GO;
	s->body_bytes += len;
	if (s->state == PROTO_S_DRAIN)
		return PROTO_SERVER_GO;
	if (s->params.size_max != 0 && s->body_bytes > s->params.size_max) {
		s->state = PROTO_S_DRAIN;  /* RFC 1870 6.2: read to the end, then 552 */
		return PROTO_SERVER_GO;
	}
	ev->data = data;
	ev->len = len;
	return PROTO_EV_BODY;
}

/* CRLF.CRLF seen. Returns the BODY_END question, or TXN_RESET after
 * queueing 552 for a message over size_max. */
static int
proto_server_body_end(struct proto_server *s, struct proto_event *ev)
{
	s->body_state = PROTO_BODY_BOL;
	if (s->state == PROTO_S_DRAIN) {
		proto_server_put(s, 552, ' ', "5.3.4", "Message too big");
		proto_server_txn_reset(s);
		return PROTO_EV_TXN_RESET;
	}
	ev->size = s->body_bytes;
	s->pending = PROTO_EV_BODY_END;
	return PROTO_EV_BODY_END;
}

/* In BODY or DRAIN with input: consume one run of body bytes up to a line's
 * leading dot or the end of input (RFC 5321 4.5.2 dot-unstuffing; end of
 * data only on CRLF.CRLF, so "\n.\n" or "\r\n.\n" are body bytes). Returns
 * BODY, BODY_END, TXN_RESET or PROTO_SERVER_GO. */
static int
proto_server_body(struct proto_server *s, struct proto_event *ev)
{
	const char *p = s->in, *cr;
	size_t i = 0, n = s->in_len;

	if (s->body_state == PROTO_BODY_DOT_CR) {  /* ".\r" ended the last feed */
		if (p[0] == '\n') {
			proto_server_consume(s, 1);
			return proto_server_body_end(s, ev);
		}
		s->body_state = PROTO_BODY_CR;  /* the held CR is body data */
		s->line[0] = '\r';
		return proto_server_body_run(s, ev, s->line, 1);
	}
	while (i < n) {
		char c = p[i];

		switch (s->body_state) {
		case PROTO_BODY_BOL:
			if (c == '.') {
				proto_server_consume(s, i + 1);
				s->body_state = PROTO_BODY_DOT;
				return proto_server_body_run(s, ev, p, i);
			}
			s->body_state = c == '\r' ? PROTO_BODY_CR : PROTO_BODY_MID;
			break;
		case PROTO_BODY_MID:
			cr = memchr(p + i, '\r', n - i);
			if (cr == NULL) {
				i = n;
				continue;
			}
			i = (size_t)(cr - p);
			s->body_state = PROTO_BODY_CR;
			break;
		case PROTO_BODY_CR:
			s->body_state = c == '\n' ? PROTO_BODY_BOL
			              : c == '\r' ? PROTO_BODY_CR : PROTO_BODY_MID;
			break;
		default:  /* PROTO_BODY_DOT: the dot started this run */
			assert(i == 0);
			if (c != '\r') {
				s->body_state = PROTO_BODY_MID;
				break;
			}
			if (i + 1 == n) {
				proto_server_consume(s, 1);
				s->body_state = PROTO_BODY_DOT_CR;
				return PROTO_SERVER_GO;
			}
			if (p[i + 1] == '\n') {
				proto_server_consume(s, 2);
				return proto_server_body_end(s, ev);
			}
			s->body_state = PROTO_BODY_CR;
			break;
		}
		i++;
	}
	proto_server_consume(s, n);
	return proto_server_body_run(s, ev, p, n);
}

/* ---- the event pump ---- */

/* One step of next(): returns an event or PROTO_SERVER_GO. */
static int
proto_server_step(struct proto_server *s, struct proto_event *ev)
{
	if (s->state == PROTO_S_CLOSED)
		return s->close_kind;
	if (s->pending != PROTO_EV_NEED_MORE)
		return PROTO_EV_WAIT;
	if (s->in_len == 0 && !s->line_ready)
		return PROTO_EV_NEED_MORE;
	if (PROTO_OUT_BYTES_MAX - s->out_len < PROTO_SERVER_ROOM_BYTES)
		return PROTO_EV_FLUSH;
	if (s->state == PROTO_S_BODY || s->state == PROTO_S_DRAIN)
		return proto_server_body(s, ev);
	if (!s->line_ready && !proto_server_line_take(s))
		return PROTO_EV_NEED_MORE;
	return proto_server_dispatch(s, ev);
}

/* Call in a loop after feed(), answer() or out_sent(); returns the next
 * event (see proto/smtp_server.h). */
enum proto_event_kind
proto_server_next(struct proto_server *s, struct proto_event *ev)
{
	int k;

	do {
		memset(ev, 0, sizeof(*ev));
		k = proto_server_step(s, ev);
	} while (k == PROTO_SERVER_GO);
	ev->kind = (enum proto_event_kind)k;
	return ev->kind;
}
