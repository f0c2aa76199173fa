/*
 * proto/smtp_server.c - owns the server side of one SMTP session as a pure
 * state machine: command line assembly, the command table (which verb is
 * allowed in which state, and what it does), the replies queued in s->out
 * (OpenSMTPD's wording, always with an enhanced status code), the EHLO
 * extension list, the DATA body reader (dot-unstuffing, end of data on
 * CRLF.CRLF only, bare LF/CR policy, size and line limits), BDAT chunks,
 * and the STARTTLS and AUTH exchanges. The contract is in
 * proto/smtp_server.h; command syntax lives in proto/smtp_command.c, the
 * body reader in proto/smtp_body.c.
 */
#include "proto/smtp_server.h"
#include "proto/smtp_server_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PROTO_SERVER_S(st) (1u << (st))
#define PROTO_SERVER_S_TXN \
	(PROTO_SERVER_S(PROTO_S_MAIL) | PROTO_SERVER_S(PROTO_S_RCPT) | PROTO_SERVER_S(PROTO_S_BDAT))
#define PROTO_SERVER_S_ANY \
	(PROTO_SERVER_S(PROTO_S_INIT) | PROTO_SERVER_S(PROTO_S_HELO) | PROTO_SERVER_S_TXN)

/* Command flag: an open transaction is dropped first (TXN_RESET), then the
 * command runs again outside it. */
#define PROTO_SERVER_CMD_ENDS_TXN 0x1
/* Command flag: the arguments may hold UTF-8 (RFC 6531 3.3, MAIL and RCPT). */
#define PROTO_SERVER_CMD_UTF8 0x2

struct proto_server_cmd {
	const char *verb;
	unsigned states;  /* PROTO_SERVER_S() bits where the verb is allowed */
	unsigned flags;
	int (*run)(struct proto_server *s, char *args, struct proto_event *ev);
};

static int proto_server_cmd_helo(struct proto_server *, char *, struct proto_event *);
static void proto_server_helo_reply(struct proto_server *s, int esmtp, const char *name);
static int proto_server_cmd_ehlo(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_mail(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_rcpt(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_data(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_bdat(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_rset(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_noop(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_quit(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_help(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_vrfy(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_expn(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_starttls(struct proto_server *, char *, struct proto_event *);
static int proto_server_cmd_auth(struct proto_server *, char *, struct proto_event *);
static int proto_server_auth_offered(const struct proto_server *s);
static int proto_server_chunk_end(struct proto_server *s, struct proto_event *ev);

/* RFC 5321 4.1.4: the order of commands; anything else is 503 5.5.1. BDAT
 * checks its states itself: a refused chunk must still be read. */
static const struct proto_server_cmd proto_server_cmds[] = {
	{ "HELO", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_helo },
	{ "EHLO", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_ehlo },
	{ "MAIL", PROTO_SERVER_S(PROTO_S_HELO), PROTO_SERVER_CMD_UTF8, proto_server_cmd_mail },
	{ "RCPT", PROTO_SERVER_S(PROTO_S_MAIL) | PROTO_SERVER_S(PROTO_S_RCPT),
	  PROTO_SERVER_CMD_UTF8, proto_server_cmd_rcpt },
	{ "DATA", PROTO_SERVER_S(PROTO_S_RCPT), 0, proto_server_cmd_data },
	{ "BDAT", PROTO_SERVER_S_ANY, 0, proto_server_cmd_bdat },
	{ "RSET", PROTO_SERVER_S_ANY, PROTO_SERVER_CMD_ENDS_TXN, proto_server_cmd_rset },
	{ "NOOP", PROTO_SERVER_S_ANY, 0, proto_server_cmd_noop },
	{ "QUIT", PROTO_SERVER_S_ANY, 0, proto_server_cmd_quit },
	{ "HELP", PROTO_SERVER_S_ANY, 0, proto_server_cmd_help },
	{ "VRFY", PROTO_SERVER_S_ANY, 0, proto_server_cmd_vrfy },
	{ "EXPN", PROTO_SERVER_S_ANY, 0, proto_server_cmd_expn },
	{ "STARTTLS", PROTO_SERVER_S(PROTO_S_HELO), 0, proto_server_cmd_starttls },
	{ "AUTH", PROTO_SERVER_S(PROTO_S_HELO), 0, proto_server_cmd_auth },
};

/* OpenSMTPD's texts (smtp_session.c), shared by several replies. */
#define PROTO_TEXT_NOT_ALLOWED "Invalid command: Command not allowed at this point."
#define PROTO_TEXT_NOT_SUPPORTED "Invalid command: Command not supported"
#define PROTO_TEXT_UNRECOGNIZED "Invalid command: Command unrecognized"
#define PROTO_TEXT_NO_ARGS "Invalid command arguments: command does not accept arguments."
#define PROTO_TEXT_TOO_BIG "Message too big for system"

/* Format one reply line "code<sep>[enhanced ]text" CRLF into line (at most
 * PROTO_REPLY_BYTES_MAX with CRLF), control and 8-bit octets replaced by
 * '?'. Returns its length. */
static size_t
proto_server_vformat(char *line, int code, char sep, const char *enhanced, const char *fmt,
                     va_list ap)
{
	size_t n, i, cap = PROTO_REPLY_BYTES_MAX - 2;
	int r;

	r = snprintf(line, PROTO_REPLY_BYTES_MAX, "%03d%c%s%s", code, sep,
	             enhanced != NULL ? enhanced : "", enhanced != NULL ? " " : "");
	n = (size_t)r;
	r = vsnprintf(line + n, PROTO_REPLY_BYTES_MAX - n, fmt, ap);
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
	return n;
}

/* Each CRLF-ended line of [p, p + n) to the observer. */
static void
proto_server_observe_replies(const struct proto_server *s, const char *p, size_t n)
{
	while (n > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t len = lf != NULL ? (size_t)(lf - p) : n;
		size_t text = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
		s->params.observe(s->params.observe_arg, 1, p, text);
		len += lf != NULL;
		p += len;
		n -= len;
	}
}

/* Append n formatted reply bytes to s->out. */
static void
proto_server_append(struct proto_server *s, const char *line, size_t n)
{
	assert(s->out_len + n <= PROTO_OUT_BYTES_MAX);
	if (s->out_len + n > PROTO_OUT_BYTES_MAX)
		return;
	memcpy(s->out + s->out_len, line, n);
	s->out_len += n;
	if (s->params.observe != NULL)
		proto_server_observe_replies(s, line, n);
}

/* A command line read, to the observer: secrets masked as OpenSMTPD's
 * smtp_command() masks them. */
static void
proto_server_observe_command(const struct proto_server *s)
{
	char masked[64];
	const char *mech_end;
	int n;

	if (s->params.observe == NULL || s->line_overflow)
		return;
	if (s->state == PROTO_S_AUTH) {
		s->params.observe(s->params.observe_arg, 0, "********", 8);
		return;
	}
	if (s->line_len > 5 && strncasecmp(s->line, "AUTH ", 5) == 0 &&
	    (mech_end = strchr(s->line + 5, ' ')) != NULL) {
		n = snprintf(masked, sizeof masked, "AUTH %.*s ********",
		             (int)(mech_end - s->line - 5 > 32 ? 32 : mech_end - s->line - 5),
		             s->line + 5);
		s->params.observe(s->params.observe_arg, 0, masked, (size_t)n);
		return;
	}
	s->params.observe(s->params.observe_arg, 0, s->line, s->line_len);
}

/* Append a reply line to s->out; see proto_server_vformat(). */
void
proto_server_put(struct proto_server *s, int code, char sep, const char *enhanced,
                 const char *fmt, ...)
{
	char line[PROTO_REPLY_BYTES_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = proto_server_vformat(line, code, sep, enhanced, fmt, ap);
	va_end(ap);
	proto_server_append(s, line, n);
}

/* Keep a reply line for later (after a refused BDAT chunk was read). */
static void
proto_server_defer(struct proto_server *s, int code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s->chunk_reply_len = proto_server_vformat(s->chunk_reply, code, ' ', enhanced, fmt, ap);
	va_end(ap);
}

/* Mark the session over; next() returns kind (QUIT or CLOSE) from now on. */
void
proto_server_close(struct proto_server *s, enum proto_event_kind kind)
{
	s->state = PROTO_S_CLOSED;
	s->close_kind = kind;
	s->pending = PROTO_EV_NEED_MORE;
}

/* Drop the transaction: back to HELO state with no recipients. */
void
proto_server_txn_reset(struct proto_server *s)
{
	s->state = PROTO_S_HELO;
	s->rcpt_count = 0;
	s->body_bytes = 0;
	s->raw_bytes = 0;
	s->body_error = 0;
	s->body_state = 0;
	s->text_line_bytes = 0;
	s->bdat = 0;
	s->txn_smtputf8 = 0;
	s->txn_body = PROTO_BODY_7BIT;
}

/* Answer a bad command and count it. Returns CLOSE (421 queued after the
 * reply) when errors_max is reached, else PROTO_SERVER_GO. */
static int
proto_server_bad(struct proto_server *s, int code, const char *enhanced, const char *fmt, ...)
{
	char line[PROTO_REPLY_BYTES_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = proto_server_vformat(line, code, ' ', enhanced, fmt, ap);
	va_end(ap);
	proto_server_append(s, line, n);
	s->errors++;
	if (s->params.errors_max == 0 || s->errors < s->params.errors_max)
		return PROTO_SERVER_GO;
	proto_server_put(s, 421, ' ', "4.7.0", "%s Too many errors", s->params.hostname);
	proto_server_close(s, PROTO_EV_CLOSE);
	return PROTO_EV_CLOSE;
}

/* Call once before anything else; the params are copied (the hostname and
 * auth_mechs pointers must outlive the session). */
void
proto_server_init(struct proto_server *s, const struct proto_server_params *p)
{
	memset(s, 0, sizeof(*s));
	s->params = *p;
	if (s->params.hostname == NULL)
		s->params.hostname = "localhost";
	if (s->params.line_bytes_max == 0 || s->params.line_bytes_max > PROTO_LINE_BYTES_MAX)
		s->params.line_bytes_max = PROTO_LINE_BYTES_MAX;
	if (s->params.line_bytes_max < 512)  /* RFC 5321 4.5.3.1.4: at least 512 */
		s->params.line_bytes_max = 512;
	if (s->params.text_line_bytes_max == 0)
		s->params.text_line_bytes_max = PROTO_TEXT_LINE_BYTES_DEFAULT;
	if (s->params.mails_max == 0)
		s->params.mails_max = PROTO_MAILS_DEFAULT;
	s->ext = s->params.ext != 0 ? s->params.ext : PROTO_SERVER_EXT_DEFAULT;
	if (s->params.auth_mechs != NULL && s->params.auth_mechs[0] != '\0')
		s->ext |= PROTO_EXT_AUTH;
	else
		s->ext &= ~PROTO_EXT_AUTH;
	if (!(s->ext & PROTO_EXT_CHUNKING))  /* RFC 3030 3: BINARYMIME needs BDAT */
		s->ext &= ~PROTO_EXT_BINARYMIME;
	s->tls = s->params.tls;
	s->state = PROTO_S_INIT;
	s->pending = PROTO_EV_NEED_MORE;
	s->close_kind = PROTO_EV_CLOSE;
	s->txn_body = PROTO_BODY_7BIT;
}

/* Call once after init: queues the RFC 5321 4.2 greeting. */
void
proto_server_greet(struct proto_server *s)
{
	proto_server_put(s, 220, ' ', NULL, "%s ESMTP ringmta", s->params.hostname);
}

/* Call after next() returned NEED_MORE (all input consumed); buf must stay
 * valid until next() returns NEED_MORE again. Ignored once closed; dropped
 * while a STARTTLS handshake is due. */
void
proto_server_feed(struct proto_server *s, const char *buf, size_t len)
{
	if (s->state == PROTO_S_CLOSED || s->state == PROTO_S_TLS)
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

/* See smtp_server.h: a last reply, then the session closes. */
void
proto_server_close_with(struct proto_server *s, int code, const char *enhanced, const char *text)
{
	if (s->state == PROTO_S_CLOSED)
		return;
	assert(code >= 400 && code <= 599);
	proto_server_put(s, code, ' ', enhanced, "%s", text != NULL ? text : "");
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

/* Call when the TLS handshake after STARTTLS succeeded. RFC 3207 4.2: the
 * server forgets everything the client said before; EHLO comes again. */
void
proto_server_tls_done(struct proto_server *s)
{
	if (s->state != PROTO_S_TLS)
		return;
	proto_server_txn_reset(s);
	s->state = PROTO_S_INIT;
	s->tls = 1;
	s->esmtp = 0;
	s->authenticated = 0;
	s->in = NULL;
	s->in_len = 0;
	s->line_len = 0;
	s->line_ready = 0;
	s->line_overflow = 0;
}

/* The answer to a DATA question that came from BDAT: a yes sends nothing
 * (the chunk's own reply follows it), a no is said after the chunk. */
static void
proto_server_answer_bdat(struct proto_server *s, int ok, int code, const char *enhanced,
                         const char *text)
{
	s->state = PROTO_S_CHUNK;
	if (ok)
		return;
	s->chunk_discard = 1;
	s->chunk_reset = 1;
	proto_server_defer(s, code, enhanced, "%s", text != NULL ? text : "");
}

/* Apply a 2xx/3xx (ok) or other answer to question q. */
static void
proto_server_answer_apply(struct proto_server *s, enum proto_event_kind q, int ok, int code)
{
	if (q == PROTO_EV_MAIL && ok) {
		s->state = PROTO_S_MAIL;
		s->rcpt_count = 0;
		s->txn_smtputf8 = s->cmd_params.smtputf8;
		s->txn_body = s->cmd_params.body;
	} else if (q == PROTO_EV_RCPT && ok) {
		s->state = PROTO_S_RCPT;
		s->rcpt_count++;
	} else if (q == PROTO_EV_DATA && ok) {
		s->state = PROTO_S_BODY;  /* RFC 5321 4.1.1.4: 354, then the mail data */
		proto_server_body_begin(s);
	} else if (q == PROTO_EV_BODY_END) {
		if (ok)
			s->mails++;
		proto_server_txn_reset(s);
	} else if (q == PROTO_EV_STARTTLS && ok) {
		s->state = PROTO_S_TLS;
		s->in_len = 0;
	} else if (q == PROTO_EV_AUTH || q == PROTO_EV_AUTH_DATA) {
		s->state = code == 334 ? PROTO_S_AUTH : PROTO_S_HELO;  /* RFC 4954 4 */
		if (code == 235)
			s->authenticated = 1;
	}
}

/* Call with the answer to the pending question. A 2xx/3xx answer advances
 * the state; 421 closes the session. An answer that arrives after
 * timeout() or shutdown() closed the session is dropped. */
void
proto_server_answer(struct proto_server *s, int code, const char *enhanced, const char *text)
{
	enum proto_event_kind q = s->pending;
	int ok = code >= 200 && code < 400;

	if (s->state == PROTO_S_CLOSED)
		return;
	assert(q == PROTO_EV_MAIL || q == PROTO_EV_RCPT || q == PROTO_EV_DATA ||
	       q == PROTO_EV_BODY_END || q == PROTO_EV_STARTTLS || q == PROTO_EV_AUTH ||
	       q == PROTO_EV_AUTH_DATA || q == PROTO_EV_HELO);
	assert(code >= 200 && code <= 599);
	if (q == PROTO_EV_NEED_MORE)
		return;
	s->pending = PROTO_EV_NEED_MORE;
	if (q == PROTO_EV_DATA && s->bdat && code != 421) {
		proto_server_answer_bdat(s, ok, code, enhanced, text);
		return;
	}
	if (q == PROTO_EV_HELO && ok) {
		proto_server_helo_reply(s, s->helo_esmtp, s->helo_name);
		return;
	}
	proto_server_put(s, code, ' ', enhanced, "%s", text != NULL ? text : "");
	if (code == 421) {
		proto_server_close(s, PROTO_EV_CLOSE);
		return;
	}
	proto_server_answer_apply(s, q, ok, code);
}

/* ---- commands ---- */

/* Put the EHLO keyword lines (RFC 5321 4.1.1.1), the last with "250 ". */
static void
proto_server_ehlo_lines(struct proto_server *s)
{
	char size[32], auth[PROTO_REPLY_BYTES_MAX];
	const char *lines[12];
	size_t n = 0, i;
	unsigned e = s->ext;

	if (e & PROTO_EXT_PIPELINING)
		lines[n++] = "PIPELINING";  /* RFC 2920 */
	if (e & PROTO_EXT_SIZE) {        /* RFC 1870 4 */
		if (s->params.size_max != 0)
			snprintf(size, sizeof(size), "SIZE %llu", (unsigned long long)s->params.size_max);
		lines[n++] = s->params.size_max != 0 ? size : "SIZE";
	}
	if (e & PROTO_EXT_8BITMIME)
		lines[n++] = "8BITMIME";              /* RFC 6152 */
	if (e & PROTO_EXT_ENHANCED)
		lines[n++] = "ENHANCEDSTATUSCODES";   /* RFC 2034 */
	if (e & PROTO_EXT_DSN)
		lines[n++] = "DSN";                   /* RFC 3461 */
	if (e & PROTO_EXT_SMTPUTF8)
		lines[n++] = "SMTPUTF8";              /* RFC 6531 */
	if (e & PROTO_EXT_CHUNKING)
		lines[n++] = "CHUNKING";              /* RFC 3030 */
	if (e & PROTO_EXT_BINARYMIME)
		lines[n++] = "BINARYMIME";
	if ((e & PROTO_EXT_STARTTLS) && !s->tls)
		lines[n++] = "STARTTLS";              /* RFC 3207 */
	if (proto_server_auth_offered(s)) {      /* RFC 4954 */
		snprintf(auth, sizeof(auth), "AUTH %s", s->params.auth_mechs);
		lines[n++] = auth;
	}
	if (e & PROTO_EXT_HELP)
		lines[n++] = "HELP";
	for (i = 0; i < n; i++)
		proto_server_put(s, 250, i + 1 < n ? '-' : ' ', NULL, "%s", lines[i]);
}

/* Returns 1 when AUTH is offered now: mechanisms set, not yet
 * authenticated, and TLS up unless plaintext AUTH is allowed. */
static int
proto_server_auth_offered(const struct proto_server *s)
{
	return (s->ext & PROTO_EXT_AUTH) && !s->authenticated &&
	       (s->tls || s->params.auth_plaintext);
}

/* HELO and EHLO (RFC 5321 4.1.1.1): the first word of args is the client's
 * name, printable ASCII, at most a domain's length. */
static int
proto_server_greeting(struct proto_server *s, char *args, struct proto_event *ev, int esmtp)
{
	char *p = args;

	if (*args == '\0')
		return proto_server_bad(s, 501, "5.5.1", "Invalid command: %s requires domain name",
		                        esmtp ? "EHLO" : "HELO");
	while (*p > ' ' && *p < 127)
		p++;
	if ((size_t)(p - args) > PROTO_DOMAIN_BYTES_MAX || (*p != '\0' && *p != ' ' && *p != '\t'))
		return proto_server_bad(s, 501, "5.5.4",
		                        "Invalid command arguments: Invalid domain name");
	*p = '\0';
	ev->helo = args;
	ev->esmtp = esmtp;
	if (s->params.ask_helo) {   /* the caller decides; the name is kept for the reply */
		snprintf(s->helo_name, sizeof s->helo_name, "%s", args);
		s->helo_esmtp = esmtp;
		ev->helo = s->helo_name;
		s->pending = PROTO_EV_HELO;
		return PROTO_EV_HELO;
	}
	proto_server_helo_reply(s, esmtp, args);
	return PROTO_EV_HELO;
}

/* The 250 to HELO or EHLO name: greeted, extensions listed for EHLO. */
static void
proto_server_helo_reply(struct proto_server *s, int esmtp, const char *name)
{
	s->state = PROTO_S_HELO;
	s->esmtp = esmtp;
	/* RFC 2034 3: no enhanced codes in the reply to HELO and EHLO */
	proto_server_put(s, 250, esmtp ? '-' : ' ', NULL, "%s Hello %s", s->params.hostname, name);
	if (esmtp)
		proto_server_ehlo_lines(s);
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

/* Answer a parameter error of MAIL or RCPT (RFC 5321 4.1.1.11: 555 for a
 * parameter not offered, 501 for a bad value). */
static int
proto_server_param_error(struct proto_server *s, enum proto_cmd_result r)
{
	const struct proto_cmd_params *cp = &s->cmd_params;

	if (r == PROTO_CMD_UNKNOWN_PARAM)
		return proto_server_bad(s, 555, "5.5.4",
		                        "Invalid command arguments: Unsupported option %s", cp->keyword);
	return proto_server_bad(s, 501, "5.5.4", "Invalid command arguments: %s: %s", cp->keyword,
	                        cp->why != NULL ? cp->why : "malformed");
}

/* Fill the MAIL event from the parsed parameters. */
static void
proto_server_mail_event(struct proto_server *s, struct proto_event *ev, char *addr)
{
	const struct proto_cmd_params *cp = &s->cmd_params;

	ev->addr = addr;
	ev->size = cp->size;
	ev->body = cp->body;
	ev->body8 = cp->body != PROTO_BODY_7BIT;
	ev->smtputf8 = cp->smtputf8;
	ev->utf8 = s->line_8bit;
	ev->dsn_ret = cp->ret;
	ev->envid = cp->envid;
	ev->auth = cp->has_auth ? cp->auth : NULL;
}


/* The extensions whose MAIL and RCPT parameters a client may use: those
 * offered, once it said EHLO (RFC 5321 2.2.1: after HELO, none). */
static unsigned
proto_server_ext_in_use(const struct proto_server *s)
{
	return s->esmtp ? s->ext : 0;
}

/* MAIL FROM:<path> [params] (RFC 5321 4.1.1.2). Returns the MAIL question,
 * or answers a bad path, bad parameter, too big SIZE or one message too
 * many itself. */
static int
proto_server_cmd_mail(struct proto_server *s, char *args, struct proto_event *ev)
{
	unsigned flags = PROTO_PATH_NULL_OK;
	enum proto_cmd_result r;
	char *addr, *params;

	if (s->mails >= s->params.mails_max) {  /* OpenSMTPD's max-mails */
		proto_server_put(s, 452, ' ', "4.5.3", "Too many messages sent");
		return PROTO_SERVER_GO;
	}
	if (s->ext & PROTO_EXT_SMTPUTF8)
		flags |= PROTO_PATH_UTF8_OK;
	switch (proto_cmd_path(args, "FROM:", flags, &addr, &params)) {
	case PROTO_CMD_OK:
		break;
	case PROTO_CMD_BAD_PATH:
		return proto_server_bad(s, 553, "5.1.7", "Sender address syntax error");
	default:
		return proto_server_bad(s, 501, "5.5.4",
		                        "Invalid command arguments: Syntax: MAIL FROM:<address>");
	}
	r = proto_cmd_params(params, proto_server_ext_in_use(s), 0, &s->cmd_params);
	if (r != PROTO_CMD_OK)
		return proto_server_param_error(s, r);
	if (s->line_8bit && !s->cmd_params.smtputf8)  /* RFC 6531 3.4 */
		return proto_server_bad(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
	if (s->params.size_max != 0 && s->cmd_params.size > s->params.size_max) {
		proto_server_put(s, 552, ' ', "5.3.4", PROTO_TEXT_TOO_BIG);  /* RFC 1870 6.1 */
		return PROTO_SERVER_GO;
	}
	proto_server_mail_event(s, ev, addr);
	s->pending = PROTO_EV_MAIL;
	return PROTO_EV_MAIL;
}

/* RCPT TO:<path> [params] (RFC 5321 4.1.1.3). Returns the RCPT question, or
 * answers a bad path, a bad parameter, or one recipient too many itself. */
static int
proto_server_cmd_rcpt(struct proto_server *s, char *args, struct proto_event *ev)
{
	unsigned flags = PROTO_PATH_POSTMASTER_OK;
	enum proto_cmd_result r;
	char *addr, *params;

	if (s->line_8bit && !s->txn_smtputf8)  /* RFC 6531 3.4: only after MAIL ... SMTPUTF8 */
		return proto_server_bad(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
	if (s->txn_smtputf8)
		flags |= PROTO_PATH_UTF8_OK;
	switch (proto_cmd_path(args, "TO:", flags, &addr, &params)) {
	case PROTO_CMD_OK:
		break;
	case PROTO_CMD_BAD_PATH:
		return proto_server_bad(s, 553, "5.1.3", "Recipient address syntax error");
	default:
		return proto_server_bad(s, 501, "5.5.4",
		                        "Invalid command arguments: Syntax: RCPT TO:<address>");
	}
	r = proto_cmd_params(params, proto_server_ext_in_use(s), 1, &s->cmd_params);
	if (r != PROTO_CMD_OK)
		return proto_server_param_error(s, r);
	if (s->params.rcpt_count_max != 0 && s->rcpt_count >= s->params.rcpt_count_max) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later */
		proto_server_put(s, 452, ' ', "4.5.3", "Too many recipients");
		return PROTO_SERVER_GO;
	}
	ev->addr = addr;
	ev->utf8 = s->line_8bit;
	ev->notify = s->cmd_params.notify;
	ev->orcpt = s->cmd_params.orcpt;
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
		return proto_server_bad(s, 501, "5.5.4", PROTO_TEXT_NO_ARGS);
	if (s->txn_body == PROTO_BODY_BINARYMIME)  /* RFC 3030 3 */
		return proto_server_bad(s, 503, "5.5.1", "Invalid command: BINARYMIME requires BDAT");
	s->bdat = 0;
	s->pending = PROTO_EV_DATA;
	return PROTO_EV_DATA;
}

/* Parse "size [LAST]" (RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size
 * [ SP end-marker ]) into chunk_size, chunk_left and chunk_last. Returns 0,
 * or -1 when it does not parse. */
static int
proto_server_bdat_args(struct proto_server *s, char *args)
{
	uint64_t n = 0;
	char *p = args;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p == ' ' && strcasecmp(p + 1, "LAST") == 0)
		s->chunk_last = 1;
	else if (*p == '\0')
		s->chunk_last = 0;
	else
		return -1;
	s->chunk_size = s->chunk_left = n;
	s->chunk_discard = s->chunk_reset = 0;
	return 0;
}

/* Read the next chunk_left octets and drop them, then say this reply; the
 * state returns to what it is now. */
static int
proto_server_chunk_refuse(struct proto_server *s, int code, const char *enhanced,
                          const char *text)
{
	proto_server_defer(s, code, enhanced, "%s", text);
	s->chunk_discard = 1;
	s->back_state = s->state;
	s->state = PROTO_S_CHUNK;
	return PROTO_SERVER_GO;
}

/* BDAT size [LAST] (RFC 3030 2). Returns the DATA question for the first
 * chunk of a transaction, or PROTO_SERVER_GO (the chunk is read next). */
static int
proto_server_cmd_bdat(struct proto_server *s, char *args, struct proto_event *ev)
{
	if (proto_server_bdat_args(s, args) < 0) {
		/* the octets that follow have no known length: they cannot be skipped */
		proto_server_put(s, 501, ' ', "5.5.4",
		                 "Invalid command arguments: Syntax: BDAT size [LAST]");
		proto_server_close(s, PROTO_EV_CLOSE);
		return PROTO_EV_CLOSE;
	}
	if (!(s->ext & PROTO_EXT_CHUNKING))
		return proto_server_chunk_refuse(s, 500, "5.5.1", PROTO_TEXT_UNRECOGNIZED);
	if (s->state == PROTO_S_MAIL)
		return proto_server_chunk_refuse(s, 503, "5.5.1",
		                                 "Invalid command: No recipient specified");
	if (s->state != PROTO_S_RCPT && s->state != PROTO_S_BDAT)
		return proto_server_chunk_refuse(s, 503, "5.5.1", PROTO_TEXT_NOT_ALLOWED);
	if (s->params.size_max != 0 && s->chunk_size > s->params.size_max - s->raw_bytes) {
		s->chunk_reset = 1;  /* RFC 1870 6.2 */
		return proto_server_chunk_refuse(s, 552, "5.3.4", PROTO_TEXT_TOO_BIG);
	}
	if (s->state == PROTO_S_BDAT) {
		s->state = PROTO_S_CHUNK;
		return PROTO_SERVER_GO;
	}
	s->bdat = 1;  /* the first chunk opens the body: ask like DATA */
	ev->bdat = 1;
	ev->size = s->chunk_size;
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
		return proto_server_bad(s, 501, "5.5.4", PROTO_TEXT_NO_ARGS);
	proto_server_put(s, 250, ' ', "2.0.0", "Reset state");
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
	proto_server_put(s, 221, ' ', "2.0.0", "Bye");
	proto_server_close(s, PROTO_EV_QUIT);
	return PROTO_EV_QUIT;
}

/* HELP [string] (RFC 5321 4.1.1.8). */
static int
proto_server_cmd_help(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 214, '-', "2.0.0", "This is ringmta");
	proto_server_put(s, 214, '-', "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA%s RSET NOOP "
	                 "QUIT HELP VRFY%s%s", (s->ext & PROTO_EXT_CHUNKING) ? " BDAT" : "",
	                 (s->ext & PROTO_EXT_STARTTLS) && !s->tls ? " STARTTLS" : "",
	                 proto_server_auth_offered(s) ? " AUTH" : "");
	proto_server_put(s, 214, ' ', "2.0.0", "End of HELP info");
	return PROTO_SERVER_GO;
}

/* VRFY string (RFC 5321 3.5.3): never reveals whether a user exists. */
static int
proto_server_cmd_vrfy(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 252, ' ', "2.5.2", "Cannot VRFY; try RCPT to attempt delivery");
	return PROTO_SERVER_GO;
}

/* EXPN string (RFC 5321 3.5.3): lists are never expanded for a client. */
static int
proto_server_cmd_expn(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)args;
	(void)ev;
	proto_server_put(s, 502, ' ', "5.5.1", "Sorry, we do not allow this operation");
	return PROTO_SERVER_GO;
}

/* STARTTLS (RFC 3207 4): drops every byte pipelined after it, then asks. */
static int
proto_server_cmd_starttls(struct proto_server *s, char *args, struct proto_event *ev)
{
	(void)ev;
	if (!(s->ext & PROTO_EXT_STARTTLS))
		return proto_server_bad(s, 503, "5.5.1", PROTO_TEXT_NOT_SUPPORTED);
	if (s->tls)
		return proto_server_bad(s, 503, "5.5.1", "Invalid command: Channel already secured");
	if (*args != '\0')
		return proto_server_bad(s, 501, "5.5.4",
		                        "Invalid command arguments: No parameters allowed");
	s->in_len = 0;  /* CVE-2011-0411: nothing sent in plaintext runs under TLS */
	s->pending = PROTO_EV_STARTTLS;
	return PROTO_EV_STARTTLS;
}

/* AUTH mechanism [initial-response] (RFC 4954 4). Returns the AUTH question. */
static int
proto_server_cmd_auth(struct proto_server *s, char *args, struct proto_event *ev)
{
	char *p = args;

	if (s->authenticated)
		return proto_server_bad(s, 503, "5.5.1", "Invalid command: Already authenticated");
	if (!proto_server_auth_offered(s))
		return proto_server_bad(s, 503, "5.5.1", PROTO_TEXT_NOT_SUPPORTED);
	if (*args == '\0')
		return proto_server_bad(s, 501, "5.5.4", "Invalid command arguments: No parameters given");
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
	}
	ev->auth_mech = args;
	ev->auth_initial = *p != '\0' ? p : NULL;
	s->pending = PROTO_EV_AUTH;
	return PROTO_EV_AUTH;
}

/* ---- command lines ---- */

/* Move input into s->line up to and including an LF (RFC 5321 2.3.8: CRLF;
 * a bare LF is accepted as the end of a command). Returns 1 when a whole
 * line is ready (CR and trailing blanks cut, NUL-terminated), 0 when input
 * ran out. */
static int
proto_server_line_take(struct proto_server *s)
{
	const char *lf = memchr(s->in, '\n', s->in_len);
	size_t n = lf != NULL ? (size_t)(lf - s->in) : s->in_len;

	/* RFC 5321 4.5.3.1.4: the line with its LF must fit line_bytes_max */
	if (!s->line_overflow && s->line_len + n > s->params.line_bytes_max - 1)
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
	if (s->state != PROTO_S_AUTH)
		while (s->line_len > 0 &&
		       (s->line[s->line_len - 1] == ' ' || s->line[s->line_len - 1] == '\t'))
			s->line_len--;
	s->line[s->line_len] = '\0';
	s->line_ready = 1;
	proto_server_observe_command(s);
	return 1;
}

/* Returns the 503 text for a verb used out of order (RFC 5321 4.1.4). */
static const char *
proto_server_seq_text(const struct proto_server *s, const char *verb)
{
	if (strcmp(verb, "DATA") == 0 && s->state == PROTO_S_MAIL)
		return "Invalid command: No recipient specified";
	if (strcmp(verb, "DATA") == 0 && s->state == PROTO_S_BDAT)  /* RFC 3030 2 */
		return "Invalid command: DATA and BDAT cannot be mixed";
	return PROTO_TEXT_NOT_ALLOWED;
}

/* Check the octets of a command line: no NUL, no CR inside it, 8-bit only
 * as valid UTF-8 in MAIL or RCPT with SMTPUTF8 offered (RFC 6531 3.3).
 * Returns NULL when it may run, else the text of the 500 5.5.2 reply. */
static const char *
proto_server_line_check(struct proto_server *s, const struct proto_server_cmd *cmd)
{
	size_t i;

	s->line_8bit = 0;
	for (i = 0; i < s->line_len; i++) {
		unsigned char c = (unsigned char)s->line[i];

		if (c == '\0')
			return "Syntax error: NUL in command";
		if (c == '\r')
			return "Syntax error: bare <CR> in command";
		if (c >= 0x80)
			s->line_8bit = 1;
	}
	if (!s->line_8bit)
		return NULL;
	if (!(s->ext & PROTO_EXT_SMTPUTF8) || cmd == NULL || !(cmd->flags & PROTO_SERVER_CMD_UTF8))
		return "Syntax error: 8-bit character in command";
	if (!proto_cmd_utf8_valid(s->line, s->line_len))
		return "Syntax error: invalid UTF-8 in command";
	return NULL;
}

/* Returns the table entry for a verb, or NULL. */
static const struct proto_server_cmd *
proto_server_cmd_find(const char *verb, size_t verb_len)
{
	size_t i;

	for (i = 0; i < sizeof(proto_server_cmds) / sizeof(proto_server_cmds[0]); i++)
		if (verb_len == strlen(proto_server_cmds[i].verb) &&
		    strncasecmp(verb, proto_server_cmds[i].verb, verb_len) == 0)
			return &proto_server_cmds[i];
	return NULL;
}

/* The line in AUTH state is a SASL response (RFC 4954 4), never a command.
 * Returns the AUTH_DATA question, or answers an overlong line. */
static int
proto_server_auth_line(struct proto_server *s, struct proto_event *ev)
{
	s->line_ready = 0;
	s->state = PROTO_S_HELO;
	if (s->line_overflow) {
		s->line_overflow = 0;
		s->line_len = 0;
		return proto_server_bad(s, 500, "5.5.2", "Line too long");
	}
	ev->data = s->line;
	ev->len = s->line_len;
	s->line_len = 0;
	s->pending = PROTO_EV_AUTH_DATA;
	return PROTO_EV_AUTH_DATA;
}

/* Run the command in s->line through the table. Returns an event or
 * PROTO_SERVER_GO. */
static int
proto_server_dispatch(struct proto_server *s, struct proto_event *ev)
{
	const struct proto_server_cmd *cmd;
	const char *bad;
	char *verb, *args;
	size_t verb_len;

	if (s->state == PROTO_S_AUTH)
		return proto_server_auth_line(s, ev);
	s->line_ready = 0;
	if (s->line_overflow) {
		s->line_overflow = 0;
		s->line_len = 0;
		return proto_server_bad(s, 500, "5.5.2", "Line too long");
	}
	args = proto_cmd_split(s->line, &verb, &verb_len);
	cmd = proto_server_cmd_find(verb, verb_len);
	if (cmd != NULL && (cmd->flags & PROTO_SERVER_CMD_ENDS_TXN) &&
	    (PROTO_SERVER_S(s->state) & PROTO_SERVER_S_TXN)) {
		proto_server_txn_reset(s);
		s->line_ready = 1;  /* run it again, now outside the transaction */
		return PROTO_EV_TXN_RESET;
	}
	bad = proto_server_line_check(s, cmd);
	s->line_len = 0;
	if (bad != NULL)
		return proto_server_bad(s, 500, "5.5.2", "%s", bad);
	if (cmd == NULL)
		return proto_server_bad(s, 500, "5.5.1", PROTO_TEXT_UNRECOGNIZED);
	if (!(cmd->states & PROTO_SERVER_S(s->state))) {
		/* RFC 2920 3.1: a pipelining client's RCPT and DATA after a
		 * refused MAIL get 503 by design; they are not abuse */
		if (s->esmtp && s->state == PROTO_S_HELO &&
		    (strcmp(cmd->verb, "RCPT") == 0 || strcmp(cmd->verb, "DATA") == 0 ||
		     strcmp(cmd->verb, "BDAT") == 0)) {
			proto_server_put(s, 503, ' ', "5.5.1", "%s", proto_server_seq_text(s, cmd->verb));
			return PROTO_SERVER_GO;
		}
		return proto_server_bad(s, 503, "5.5.1", "%s", proto_server_seq_text(s, cmd->verb));
	}
	return cmd->run(s, args, ev);
}

/* ---- BDAT chunks ---- */

/* Reading a chunk: hand its octets out as BODY (or drop them). At its end:
 * the deferred reply, BODY_END for LAST, or "250 2.0.0 ... received". */
static int
proto_server_chunk(struct proto_server *s, struct proto_event *ev)
{
	size_t n;

	if (s->chunk_left == 0)
		return proto_server_chunk_end(s, ev);
	n = s->in_len < s->chunk_left ? s->in_len : (size_t)s->chunk_left;
	ev->data = s->in;
	ev->len = n;
	s->in += n;
	s->in_len -= n;
	s->chunk_left -= n;
	if (s->chunk_discard)
		return PROTO_SERVER_GO;
	s->raw_bytes += n;
	s->body_bytes += n;
	ev->kind = PROTO_EV_BODY;
	return PROTO_EV_BODY;
}

/* The chunk was read whole. Returns BODY_END, TXN_RESET or GO. */
static int
proto_server_chunk_end(struct proto_server *s, struct proto_event *ev)
{
	if (s->chunk_discard) {
		proto_server_append(s, s->chunk_reply, s->chunk_reply_len);
		s->chunk_discard = 0;
		if (!s->chunk_reset) {
			s->state = s->back_state;
			return PROTO_SERVER_GO;
		}
		s->chunk_reset = 0;
		proto_server_txn_reset(s);
		return PROTO_EV_TXN_RESET;
	}
	if (s->chunk_last) {
		s->state = PROTO_S_BDAT;
		ev->size = s->body_bytes;
		s->pending = PROTO_EV_BODY_END;
		return PROTO_EV_BODY_END;
	}
	proto_server_put(s, 250, ' ', "2.0.0", "Ok: %llu octets received",
	                 (unsigned long long)s->chunk_size);
	s->state = PROTO_S_BDAT;
	return PROTO_SERVER_GO;
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
	if (s->state == PROTO_S_TLS) {
		s->in_len = 0;  /* nothing fed before the handshake counts */
		return PROTO_EV_WAIT;
	}
	if (s->in_len == 0 && !s->line_ready && !(s->state == PROTO_S_CHUNK && s->chunk_left == 0))
		return PROTO_EV_NEED_MORE;
	if (PROTO_OUT_BYTES_MAX - s->out_len < PROTO_SERVER_ROOM_BYTES)
		return PROTO_EV_FLUSH;
	if (s->state == PROTO_S_CHUNK)
		return proto_server_chunk(s, ev);
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
