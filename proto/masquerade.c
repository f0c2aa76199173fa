/*
 * proto/masquerade.c - the From: rewrite of `senders ... masquerade`. See
 * proto/masquerade.h.
 */
#include "proto/masquerade.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void
proto_masq_begin(struct proto_masq *m, const char *addr)
{
	memset(m, 0, sizeof *m);
	snprintf(m->addr, sizeof m->addr, "%s", addr);
}

/* The held field, rewritten when it is a From: field. */
static int
masq_flush(struct proto_masq *m, proto_masq_emit emit, void *arg)
{
	int r = 0;
	if (m->len == 0)
		return 0;
	if (!m->overflow && m->len >= 5 && strncasecmp(m->field, "From:", 5) == 0) {
		/* the display name: what comes before the last '<' of the field */
		const char *lt = NULL;
		for (size_t i = 5; i < m->len; i++)
			if (m->field[i] == '<')
				lt = m->field + i;
		const char *eol = m->len >= 2 && m->field[m->len - 2] == '\r' ? "\r\n" : "\n";
		char out[PROTO_MASQ_FIELD_MAX + PROTO_MASQ_ADDR_MAX + 8];
		int n;
		if (lt != NULL)
			n = snprintf(out, sizeof out, "%.*s<%s>%s", (int)(lt - m->field), m->field,
			             m->addr, eol);
		else
			n = snprintf(out, sizeof out, "From: %s%s", m->addr, eol);
		r = n > 0 && (size_t)n < sizeof out ? emit(arg, out, (size_t)n)
		                                      : emit(arg, m->field, m->len);
	} else {
		r = emit(arg, m->field, m->len);
	}
	m->len = 0;
	m->overflow = 0;
	return r;
}

/* A whole header line (with its line end): the empty line ends the
 * header, a line starting with a blank continues the held field, any
 * other starts a new one. */
static int
masq_header_line(struct proto_masq *m, const char *line, size_t n, proto_masq_emit emit,
                 void *arg)
{
	int r;
	if (line[0] == '\n' || (n == 2 && line[0] == '\r')) {
		if ((r = masq_flush(m, emit, arg)) < 0)
			return r;
		m->in_body = 1;
		return emit(arg, line, n);
	}
	if (line[0] != ' ' && line[0] != '\t' && (r = masq_flush(m, emit, arg)) < 0)
		return r;
	if (!m->overflow && m->len + n <= sizeof m->field) {
		memcpy(m->field + m->len, line, n);
		m->len += n;
		return 0;
	}
	if (!m->overflow && m->len > 0 && (r = emit(arg, m->field, m->len)) < 0)
		return r;
	m->overflow = 1;                           /* too long to rewrite: as it is */
	m->len = 0;
	return emit(arg, line, n);
}

int
proto_masq_feed(struct proto_masq *m, const char *data, size_t len, proto_masq_emit emit,
                void *arg)
{
	int r;
	while (len > 0) {
		if (m->in_body)
			return emit(arg, data, len);
		const char *lf = memchr(data, '\n', len);
		size_t n = lf ? (size_t)(lf - data) + 1 : len;
		if (!m->line_overflow && m->line_len + n > sizeof m->line) {
			/* a line longer than any field we rewrite: the field it
			 * belongs to, then the line, pass as they are */
			if (m->len > 0 && (r = emit(arg, m->field, m->len)) < 0)
				return r;
			m->len = 0;
			m->overflow = 1;
			if (m->line_len > 0 && (r = emit(arg, m->line, m->line_len)) < 0)
				return r;
			m->line_len = 0;
			m->line_overflow = 1;
		}
		if (m->line_overflow) {
			if ((r = emit(arg, data, n)) < 0)
				return r;
			if (lf != NULL)
				m->line_overflow = 0;   /* the next line starts clean */
		} else {
			memcpy(m->line + m->line_len, data, n);
			m->line_len += n;
			if (lf != NULL) {
				size_t ll = m->line_len;
				m->line_len = 0;
				if ((r = masq_header_line(m, m->line, ll, emit, arg)) < 0)
					return r;
			}
		}
		data += n;
		len -= n;
	}
	return 0;
}

int
proto_masq_end(struct proto_masq *m, proto_masq_emit emit, void *arg)
{
	int r = masq_flush(m, emit, arg);
	if (r == 0 && m->line_len > 0)   /* a last line without its end */
		r = emit(arg, m->line, m->line_len);
	m->line_len = 0;
	return r;
}
