/*
 * proto/filter_proto.h - OpenSMTPD's filter protocol (smtpd-filters(7),
 * version 0.7) as lines of text, without I/O: what smtpd writes to a
 * filter process (the config|... handshake, report|... events, filter|...
 * requests and the data-line stream) and what the filter writes back
 * (register|..., filter-result|..., filter-dataline|..., report|...).
 *
 * Builders write one or more '\n'-ended lines into the caller's buffer and
 * return the length, or -1 when it does not fit in cap (never a partial
 * line: the caller drops the event or fails the request). Every field is
 * "escaped" the one way the protocol allows, since it has no quoting: a
 * control character (CR, LF, NUL, ...) anywhere, and '|' in any field but
 * the last, become '?', so a field never ends a line or shifts the fields
 * after it; the last field may hold '|' (an address, a HELO name, a data
 * line), which readers take as the rest of the line.
 *
 * proto_filter_parse() reads one line from a filter (without its '\n'),
 * at most PROTO_FILTER_LINE_BYTES_MAX octets; the message points into the
 * line (nothing is copied or allocated). A line that is not one of the
 * forms below, or holds NUL or CR, or a session id or token that is not
 * 1 to 16 hex digits, or a reject/disconnect without a 4xx/5xx code, is
 * -1: the caller treats the filter as broken.
 */
#ifndef PROTO_FILTER_PROTO_H
#define PROTO_FILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_FILTER_VERSION "0.7"
/* A message line in the data-line phase, without its CRLF and its
 * stuffing dot: every line proto/smtp_server.c accepts (its
 * PROTO_TEXT_LINE_BYTES_DEFAULT). */
#define PROTO_FILTER_DATALINE_BYTES_MAX 65535u
/* One line either way, '\n' excluded: a data line with its prefix. */
#define PROTO_FILTER_LINE_BYTES_MAX (PROTO_FILTER_DATALINE_BYTES_MAX + 256u)
#define PROTO_FILTER_PARAMS_MAX 8           /* fields after session id (and token) */

/* The filter phases of smtp-in, in the order of this table (bit i of a
 * filter's registered mask is phase i). */
enum proto_filter_phase {
	PROTO_FPHASE_CONNECT,
	PROTO_FPHASE_HELO,
	PROTO_FPHASE_EHLO,
	PROTO_FPHASE_STARTTLS,
	PROTO_FPHASE_AUTH,
	PROTO_FPHASE_MAIL_FROM,
	PROTO_FPHASE_RCPT_TO,
	PROTO_FPHASE_DATA,
	PROTO_FPHASE_DATA_LINE,
	PROTO_FPHASE_RSET,
	PROTO_FPHASE_QUIT,
	PROTO_FPHASE_NOOP,
	PROTO_FPHASE_HELP,
	PROTO_FPHASE_WIZ,
	PROTO_FPHASE_COMMIT,
	PROTO_FPHASES,
};

/* The report events of smtp-in (bit i of a filter's report mask). */
enum proto_filter_event {
	PROTO_FEV_LINK_CONNECT,
	PROTO_FEV_LINK_DISCONNECT,
	PROTO_FEV_LINK_GREETING,
	PROTO_FEV_LINK_IDENTIFY,
	PROTO_FEV_LINK_TLS,
	PROTO_FEV_LINK_AUTH,
	PROTO_FEV_TX_RESET,
	PROTO_FEV_TX_BEGIN,
	PROTO_FEV_TX_MAIL,
	PROTO_FEV_TX_RCPT,
	PROTO_FEV_TX_ENVELOPE,
	PROTO_FEV_TX_DATA,
	PROTO_FEV_TX_COMMIT,
	PROTO_FEV_TX_ROLLBACK,
	PROTO_FEV_PROTOCOL_CLIENT,
	PROTO_FEV_PROTOCOL_SERVER,
	PROTO_FEV_FILTER_REPORT,
	PROTO_FEV_FILTER_RESPONSE,
	PROTO_FEV_TIMEOUT,
	PROTO_FEVENTS,
};

enum proto_filter_msg_kind {
	PROTO_FMSG_REGISTER_REPORT,   /* register|report|smtp-in|EVENT (or "*": all) */
	PROTO_FMSG_REGISTER_FILTER,   /* register|filter|smtp-in|PHASE */
	PROTO_FMSG_REGISTER_READY,    /* register|ready */
	PROTO_FMSG_RESULT,            /* filter-result|SID|TOKEN|DECISION[|PARAM] */
	PROTO_FMSG_DATALINE,          /* filter-dataline|SID|TOKEN|LINE */
	PROTO_FMSG_REPORT,            /* report|VERSION|TS|smtp-in|SID|TEXT: a filter's own */
};

enum proto_filter_decision {
	PROTO_FDEC_PROCEED,
	PROTO_FDEC_JUNK,
	PROTO_FDEC_REJECT,            /* code, text */
	PROTO_FDEC_DISCONNECT,        /* code, text */
	PROTO_FDEC_REWRITE,           /* param: the command's new parameter */
	PROTO_FDEC_REPORT,            /* param: the text; the phase proceeds */
};

struct proto_filter_msg {
	enum proto_filter_msg_kind kind;
	int index;                    /* register: the phase or event; -1 for "*"
	                               * (reports); -2 a name this side does not know */
	uint64_t sid, token;          /* result, dataline, report (sid only) */
	enum proto_filter_decision decision;
	unsigned code;                /* reject, disconnect: 400..599 */
	const char *param;            /* reject/disconnect: the text after the code
	                               * ("" when none); rewrite, report: the
	                               * parameter; dataline: the line; else "" */
	size_t param_len;
};

/* A time stamp as the protocol writes it: seconds.microseconds. */
struct proto_filter_ts {
	int64_t sec;
	uint32_t usec;
};

/* The handshake smtpd sends first: config|smtpd-version|V,
 * config|protocol|0.7, config|smtp-session-timeout|S,
 * config|subsystem|smtp-in, config|ready. Length or -1. */
int proto_filter_config(char *out, size_t cap, const char *smtpd_version, unsigned timeout_s);
/* report|0.7|TS|smtp-in|EVENT|SID[|p0|p1...]. Length or -1. */
int proto_filter_report(char *out, size_t cap, const struct proto_filter_ts *ts,
                        enum proto_filter_event ev, uint64_t sid, const char *const *params,
                        unsigned nparams);
/* filter|0.7|TS|smtp-in|PHASE|SID|TOKEN[|p0|p1...]; data-line's one
 * parameter is the line. Length or -1. */
int proto_filter_request(char *out, size_t cap, const struct proto_filter_ts *ts,
                         enum proto_filter_phase ph, uint64_t sid, uint64_t token,
                         const char *const *params, unsigned nparams);
/* One line from a filter (len octets, no '\n') into *m: 0, or -1 when
 * malformed. */
int proto_filter_parse(const char *line, size_t len, struct proto_filter_msg *m);

/* "connect", "data-line", ... and "link-connect", "tx-mail", ...; the
 * index of a name, or -1. */
const char *proto_filter_phase_name(enum proto_filter_phase ph);
const char *proto_filter_event_name(enum proto_filter_event ev);
int proto_filter_phase_find(const char *name, size_t len);
int proto_filter_event_find(const char *name, size_t len);

/* filter|0.7|TS|smtp-in|data-line|SID|TOKEN|LINE: one line of a message
 * (len octets, no line end). With stuff, line is the message's own and
 * goes out as SMTP carries it (RFC 5321 4.5.2: a leading '.' doubled), as
 * OpenSMTPD hands a filter the client's lines; without, it goes as given
 * (a line another filter returned, or "." that ends the message). NUL, CR
 * and LF, which a protocol line cannot hold, become '?'. Length or -1
 * when longer than PROTO_FILTER_DATALINE_BYTES_MAX or cap. */
int proto_filter_dataline(char *out, size_t cap, const struct proto_filter_ts *ts, uint64_t sid,
                          uint64_t token, const char *line, size_t len, int stuff);

/* A message cut into lines for the data-line phase: octets as they come
 * (any cut), each complete line handed to emit without its LF and the CR
 * before it; the octets after the last LF wait for the next feed (at most
 * PROTO_FILTER_DATALINE_BYTES_MAX of them). */
struct proto_filter_lines {
	size_t len;                                  /* octets held */
	char line[PROTO_FILTER_DATALINE_BYTES_MAX + 1]; /* a line, its CR too */
};
typedef int (*proto_filter_line_fn)(void *arg, const char *line, size_t len);
/* Feed octets: 0, emit's -1, or -2 for a line over the limit (its octets
 * are dropped; the caller refuses the message). */
int proto_filter_lines_feed(struct proto_filter_lines *b, const char *data, size_t len,
                            proto_filter_line_fn emit, void *arg);
/* The end of the message: a last line without LF (BDAT) is emitted. 0 or
 * emit's -1. */
int proto_filter_lines_end(struct proto_filter_lines *b, proto_filter_line_fn emit, void *arg);

/* A data line as the filter returns it (dot-stuffed, RFC 5321 4.5.2)
 * into the message's own form: 1 for the final "." (the stream ends), 0
 * with *out and *out_len the line with one leading '.' removed when it had
 * one. */
int proto_filter_dataline_unstuff(const char *line, size_t len, const char **out,
                                  size_t *out_len);

#endif
