/*
 * proto/filter_proto.c - the lines of OpenSMTPD's filter protocol built
 * and parsed, no I/O, no allocation. See proto/filter_proto.h.
 */
#include "proto/filter_proto.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const filter_phases[PROTO_FPHASES] = {
	"connect", "helo", "ehlo", "starttls", "auth", "mail-from", "rcpt-to", "data",
	"data-line", "rset", "quit", "noop", "help", "wiz", "commit",
};

static const char *const filter_events[PROTO_FEVENTS] = {
	"link-connect", "link-disconnect", "link-greeting", "link-identify", "link-tls",
	"link-auth", "tx-reset", "tx-begin", "tx-mail", "tx-rcpt", "tx-envelope", "tx-data",
	"tx-commit", "tx-rollback", "protocol-client", "protocol-server", "filter-report",
	"filter-response", "timeout",
};

const char *
proto_filter_phase_name(enum proto_filter_phase ph)
{
	return (unsigned)ph < PROTO_FPHASES ? filter_phases[ph] : "?";
}

const char *
proto_filter_event_name(enum proto_filter_event ev)
{
	return (unsigned)ev < PROTO_FEVENTS ? filter_events[ev] : "?";
}

/* The index of name (len octets) in names[n], or -1. */
static int
filter_find(const char *const *names, int n, const char *name, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return i;
	return -1;
}

int
proto_filter_phase_find(const char *name, size_t len)
{
	return filter_find(filter_phases, PROTO_FPHASES, name, len);
}

int
proto_filter_event_find(const char *name, size_t len)
{
	return filter_find(filter_events, PROTO_FEVENTS, name, len);
}

/* A growing line in a caller's buffer; ok drops to 0 once it overflows. */
struct filter_buf {
	char *p;
	size_t cap, len;
	int ok;
};

static void
filter_put(struct filter_buf *b, const char *s, size_t n)
{
	if (!b->ok || n > b->cap - b->len) {
		b->ok = 0;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
filter_putf(struct filter_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
filter_putf(struct filter_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->ok = 0;
		return;
	}
	filter_put(b, tmp, (size_t)n);
}

/* "|" and the field, control characters (and '|' unless last) as '?'. */
static void
filter_field(struct filter_buf *b, const char *s, int last)
{
	filter_put(b, "|", 1);
	for (; s != NULL && *s != '\0' && b->ok; s++) {
		unsigned char c = (unsigned char)*s;
		char o = c < 0x20 || c == 0x7f || (c == '|' && !last) ? '?' : (char)c;
		filter_put(b, &o, 1);
	}
}

/* The line's end: its length, or -1 (nothing usable was written). */
static int
filter_end(struct filter_buf *b)
{
	filter_put(b, "\n", 1);
	if (!b->ok || b->len > PROTO_FILTER_LINE_BYTES_MAX + 1 || b->len > (size_t)INT32_MAX)
		return -1;
	return (int)b->len;
}

int
proto_filter_config(char *out, size_t cap, const char *smtpd_version, unsigned timeout_s)
{
	struct filter_buf b = { out, cap, 0, 1 };

	filter_put(&b, "config|smtpd-version", 20);
	filter_field(&b, smtpd_version, 1);
	filter_putf(&b, "\nconfig|protocol|%s\nconfig|smtp-session-timeout|%u\n"
	            "config|subsystem|smtp-in\nconfig|ready\n", PROTO_FILTER_VERSION, timeout_s);
	return b.ok ? (int)b.len : -1;
}

/* STREAM|0.7|TS|smtp-in|NAME|SID[|TOKEN] and the parameters. */
static int
filter_line(char *out, size_t cap, const char *stream, const struct proto_filter_ts *ts,
            const char *name, uint64_t sid, const uint64_t *token, const char *const *params,
            unsigned nparams)
{
	struct filter_buf b = { out, cap, 0, 1 };

	if (nparams > PROTO_FILTER_PARAMS_MAX || ts->usec > 999999)
		return -1;
	filter_putf(&b, "%s|%s|%" PRId64 ".%06" PRIu32 "|smtp-in|%s|%016" PRIx64, stream,
	            PROTO_FILTER_VERSION, ts->sec, ts->usec, name, sid);
	if (token != NULL)
		filter_putf(&b, "|%016" PRIx64, *token);
	for (unsigned i = 0; i < nparams; i++)
		filter_field(&b, params[i], i + 1 == nparams);
	return filter_end(&b);
}

int
proto_filter_report(char *out, size_t cap, const struct proto_filter_ts *ts,
                    enum proto_filter_event ev, uint64_t sid, const char *const *params,
                    unsigned nparams)
{
	if ((unsigned)ev >= PROTO_FEVENTS)
		return -1;
	return filter_line(out, cap, "report", ts, filter_events[ev], sid, NULL, params, nparams);
}

int
proto_filter_request(char *out, size_t cap, const struct proto_filter_ts *ts,
                     enum proto_filter_phase ph, uint64_t sid, uint64_t token,
                     const char *const *params, unsigned nparams)
{
	if ((unsigned)ph >= PROTO_FPHASES)
		return -1;
	return filter_line(out, cap, "filter", ts, filter_phases[ph], sid, &token, params,
	                   nparams);
}

/* The next '|'-separated field of [*p, end) into f/flen, *p after its
 * '|'; 0, or -1 when there is no '|' left (last: the rest is the field). */
static int
filter_next(const char **p, const char *end, const char **f, size_t *flen, int last)
{
	const char *bar = last ? NULL : memchr(*p, '|', (size_t)(end - *p));

	*f = *p;
	if (last) {
		*flen = (size_t)(end - *p);
		*p = end;
		return 0;
	}
	if (bar == NULL)
		return -1;
	*flen = (size_t)(bar - *p);
	*p = bar + 1;
	return 0;
}

/* 1 to 16 hex digits into *v; 0 or -1. */
static int
filter_hex(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
		             c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
		             c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
		if (d == 16)
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

static int
filter_is(const char *f, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(f, word, n) == 0;
}

/* register|report|smtp-in|EVENT, register|filter|smtp-in|PHASE,
 * register|ready; p after "register|". */
static int
filter_parse_register(const char *p, const char *end, struct proto_filter_msg *m)
{
	const char *f, *sub, *name;
	size_t n, nsub, nname;

	if (filter_is(p, (size_t)(end - p), "ready")) {
		m->kind = PROTO_FMSG_REGISTER_READY;
		return 0;
	}
	if (filter_next(&p, end, &f, &n, 0) < 0 || filter_next(&p, end, &sub, &nsub, 0) < 0 ||
	    filter_next(&p, end, &name, &nname, 1) < 0 || !filter_is(sub, nsub, "smtp-in") ||
	    nname == 0 || memchr(name, '|', nname) != NULL)
		return -1;
	if (filter_is(f, n, "report")) {
		m->kind = PROTO_FMSG_REGISTER_REPORT;
		m->index = filter_is(name, nname, "*") ? -1 : proto_filter_event_find(name, nname);
	} else if (filter_is(f, n, "filter")) {
		m->kind = PROTO_FMSG_REGISTER_FILTER;
		m->index = proto_filter_phase_find(name, nname);
	} else {
		return -1;
	}
	if (m->index == -1 && m->kind == PROTO_FMSG_REGISTER_FILTER)
		m->index = -2;
	else if (m->index < 0 && !filter_is(name, nname, "*"))
		m->index = -2;
	m->param = name;
	m->param_len = nname;
	return 0;
}

/* "CODE[ text]" of reject and disconnect: a 4xx or 5xx code (RFC 5321 4.2). */
static int
filter_parse_reply(struct proto_filter_msg *m)
{
	const char *s = m->param;

	if (m->param_len < 3 || (s[0] != '4' && s[0] != '5') || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (m->param_len > 3 && s[3] != ' '))
		return -1;
	m->code = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	m->param = m->param_len > 3 ? s + 4 : s + 3;
	m->param_len = m->param_len > 3 ? m->param_len - 4 : 0;
	return 0;
}

/* SID|TOKEN|DECISION[|PARAM] after "filter-result|". */
static int
filter_parse_result(const char *p, const char *end, struct proto_filter_msg *m)
{
	static const char *const words[] = { "proceed", "junk", "reject", "disconnect",
	                                     "rewrite", "report" };
	const char *f, *bar;
	size_t n, i;

	if (filter_next(&p, end, &f, &n, 0) < 0 || filter_hex(f, n, &m->sid) < 0 ||
	    filter_next(&p, end, &f, &n, 0) < 0 || filter_hex(f, n, &m->token) < 0)
		return -1;
	bar = memchr(p, '|', (size_t)(end - p));
	n = (size_t)((bar != NULL ? bar : end) - p);
	for (i = 0; i < sizeof words / sizeof words[0] && !filter_is(p, n, words[i]); i++)
		;
	if (i == sizeof words / sizeof words[0])
		return -1;
	m->kind = PROTO_FMSG_RESULT;
	m->decision = (enum proto_filter_decision)i;
	m->param = bar != NULL ? bar + 1 : end;
	m->param_len = bar != NULL ? (size_t)(end - bar - 1) : 0;
	if ((m->decision == PROTO_FDEC_PROCEED || m->decision == PROTO_FDEC_JUNK) && bar != NULL)
		return -1;
	if (m->decision == PROTO_FDEC_REJECT || m->decision == PROTO_FDEC_DISCONNECT)
		return filter_parse_reply(m);
	if ((m->decision == PROTO_FDEC_REWRITE || m->decision == PROTO_FDEC_REPORT) && bar == NULL)
		return -1;
	return 0;
}

/* VERSION|TS|smtp-in|SID|TEXT after "report|": a filter's own report. */
static int
filter_parse_report(const char *p, const char *end, struct proto_filter_msg *m)
{
	const char *f;
	size_t n;

	if (filter_next(&p, end, &f, &n, 0) < 0 || filter_next(&p, end, &f, &n, 0) < 0 ||
	    n == 0 || filter_next(&p, end, &f, &n, 0) < 0 || !filter_is(f, n, "smtp-in") ||
	    filter_next(&p, end, &f, &n, 0) < 0 || filter_hex(f, n, &m->sid) < 0)
		return -1;
	m->kind = PROTO_FMSG_REPORT;
	m->param = p;
	m->param_len = (size_t)(end - p);
	return 0;
}

int
proto_filter_parse(const char *line, size_t len, struct proto_filter_msg *m)
{
	const char *p = line, *end = line + len, *f;
	size_t n;

	memset(m, 0, sizeof *m);
	m->param = "";
	if (len == 0 || len > PROTO_FILTER_LINE_BYTES_MAX || memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL ||
	    filter_next(&p, end, &f, &n, 0) < 0)
		return -1;
	if (filter_is(f, n, "register"))
		return filter_parse_register(p, end, m);
	if (filter_is(f, n, "filter-result"))
		return filter_parse_result(p, end, m);
	if (filter_is(f, n, "report"))
		return filter_parse_report(p, end, m);
	if (!filter_is(f, n, "filter-dataline"))
		return -1;
	if (filter_next(&p, end, &f, &n, 0) < 0 || filter_hex(f, n, &m->sid) < 0 ||
	    filter_next(&p, end, &f, &n, 0) < 0 || filter_hex(f, n, &m->token) < 0)
		return -1;
	m->kind = PROTO_FMSG_DATALINE;
	m->param = p;
	m->param_len = (size_t)(end - p);
	return 0;
}

int
proto_filter_dataline_unstuff(const char *line, size_t len, const char **out, size_t *out_len)
{
	if (len == 1 && line[0] == '.')
		return 1;
	if (len > 0 && line[0] == '.') {   /* RFC 5321 4.5.2: one dot goes */
		line++;
		len--;
	}
	*out = line;
	*out_len = len;
	return 0;
}

int
proto_filter_dataline(char *out, size_t cap, const struct proto_filter_ts *ts, uint64_t sid,
                      uint64_t token, const char *line, size_t len, int stuff)
{
	int n;

	if (len > PROTO_FILTER_DATALINE_BYTES_MAX)
		return -1;
	n = filter_line(out, cap, "filter", ts, filter_phases[PROTO_FPHASE_DATA_LINE], sid, &token,
	                NULL, 0);
	if (n < 0 || (size_t)n + 2 + len + 1 > cap)
		return -1;
	n--;   /* over the '\n' */
	out[n++] = '|';
	if (stuff && len > 0 && line[0] == '.')
		out[n++] = '.';
	for (size_t i = 0; i < len; i++) {
		char c = line[i];
		out[n++] = c == '\0' || c == '\r' || c == '\n' ? '?' : c;
	}
	out[n++] = '\n';
	return n;
}

/* Emit a line held or in place, without the CR before its LF. */
static int
filter_lines_emit(const char *line, size_t len, proto_filter_line_fn emit, void *arg)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len > PROTO_FILTER_DATALINE_BYTES_MAX ? -2 : emit(arg, line, len);
}

int
proto_filter_lines_feed(struct proto_filter_lines *b, const char *data, size_t len,
                        proto_filter_line_fn emit, void *arg)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - data) : len;
		int r = 0;

		if (b->len == 0 && nl != NULL && n <= PROTO_FILTER_DATALINE_BYTES_MAX + 1) {
			r = filter_lines_emit(data, n, emit, arg);   /* whole in this feed */
		} else if (n > sizeof b->line - b->len) {
			b->len = 0;
			r = -2;
		} else {
			memcpy(b->line + b->len, data, n);
			b->len += n;
			if (nl != NULL) {
				r = filter_lines_emit(b->line, b->len, emit, arg);
				b->len = 0;
			}
		}
		if (r < 0)
			return r;
		if (nl == NULL)
			break;
		data = nl + 1;
		len -= n + 1;
	}
	return 0;
}

int
proto_filter_lines_end(struct proto_filter_lines *b, proto_filter_line_fn emit, void *arg)
{
	size_t n = b->len;

	b->len = 0;
	return n > 0 ? filter_lines_emit(b->line, n, emit, arg) : 0;
}
