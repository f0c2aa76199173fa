/*
 * bench/sinkproto.c - the sink's command and message reader of
 * bench/sinkproto.h, and the parsers of its fault options.
 */
#include "bench/sinkproto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench/loadspec.h"

enum { BODY_BOL, BODY_MID, BODY_DOT, BODY_DOTCR };

static const char *const bench_sink_names[BENCH_SINK_CMD_COUNT] = {
	"connect", "helo", "ehlo", "mail", "rcpt", "data", "dot", "rset", "noop",
	"quit", "vrfy", "starttls", "auth", "bdat", "other",
};

/* The option name of a command. */
const char *
bench_sink_cmd_name(enum bench_sink_cmd cmd)
{
	return (unsigned)cmd < BENCH_SINK_CMD_COUNT ? bench_sink_names[cmd] : "?";
}

/* Before the first byte of a connection. */
void
bench_sink_init(struct bench_sinkproto *p)
{
	memset(p, 0, sizeof *p);
}

/* A new message: headers read for its Message-ID, nothing counted. */
static void
bench_sink_message_start(struct bench_sinkproto *p)
{
	p->bstate = BODY_BOL;
	p->in_headers = 1;
	p->msgid_folded = 0;
	p->hlen = 0;
	p->msgid[0] = '\0';
	p->bytes = 0;
}

/* After answering DATA with 354. */
void
bench_sink_begin_data(struct bench_sinkproto *p)
{
	p->in_data = 1;
	bench_sink_message_start(p);
}

/* The end of the chunk being read. */
static void
bench_sink_chunk_end(struct bench_sinkproto *p, struct bench_sink_event *ev)
{
	p->in_bdat = 0;
	ev->type = BENCH_SINK_EV_BDAT_END;
	ev->bytes = p->bytes;
	ev->msgid = p->msgid;
	ev->last = p->bdat_last;
}

/* After "BDAT size [LAST]". */
int
bench_sink_begin_bdat(struct bench_sinkproto *p, uint64_t size, int last, int first,
                      struct bench_sink_event *ev)
{
	if (first)
		bench_sink_message_start(p);
	p->in_bdat = 1;
	p->bdat_left = size;
	p->bdat_last = last;
	if (size > 0)
		return 0;
	bench_sink_chunk_end(p, ev);
	return 1;
}

/* "size [LAST]" (RFC 3030 4: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]). */
int
bench_sink_parse_bdat(const char *arg, uint64_t *size, int *last)
{
	uint64_t v = 0;
	size_t i = 0;
	if (!isdigit((unsigned char)arg[0]))
		return -1;
	for (; isdigit((unsigned char)arg[i]); i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(arg[i] - '0');
	}
	*last = 0;
	if (arg[i] == ' ' && strcasecmp(arg + i + 1, "LAST") == 0)
		*last = 1;
	else if (arg[i] != '\0')
		return -1;
	*size = v;
	return 0;
}

/* Copy the first <...> of value (or the trimmed value) into p->msgid. */
static void
bench_sink_take_msgid(struct bench_sinkproto *p, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	const char *lt = memchr(v, '<', n);
	const char *gt = lt ? memchr(lt, '>', n - (size_t)(lt - v)) : NULL;
	if (lt != NULL && gt != NULL) {
		v = lt;
		n = (size_t)(gt - lt) + 1;
	}
	if (n == 0) {
		p->msgid_folded = 1;       /* RFC 5322 2.2.3: the value may be on the next line */
		return;
	}
	if (n >= sizeof p->msgid)
		n = sizeof p->msgid - 1;
	memcpy(p->msgid, v, n);
	p->msgid[n] = '\0';
}

/* A whole header line is in p->hline (CRLF removed): the empty line ends
 * the header section (RFC 5322 2.1); note the first Message-ID. */
static void
bench_sink_header_line(struct bench_sinkproto *p)
{
	p->hline[p->hlen] = '\0';
	int folded = p->hlen > 0 && (p->hline[0] == ' ' || p->hline[0] == '\t');
	if (p->hlen == 0) {
		p->in_headers = 0;
	} else if (p->msgid_folded && folded) {
		p->msgid_folded = 0;
		bench_sink_take_msgid(p, p->hline);
	} else if (p->msgid[0] == '\0' && !p->msgid_folded &&
	           strncasecmp(p->hline, "Message-ID:", 11) == 0) {
		bench_sink_take_msgid(p, p->hline + 11);
	} else if (!folded) {
		p->msgid_folded = 0;
	}
	p->hlen = 0;
}

/* Keep the head of a header line; n bytes, the last one LF when eol. */
static void
bench_sink_header_bytes(struct bench_sinkproto *p, const char *s, size_t n, int eol)
{
	size_t keep = n;
	if (eol) {
		keep--;
		if (keep > 0 && s[keep - 1] == '\r')
			keep--;
	}
	size_t room = sizeof p->hline - 1 - p->hlen;
	if (keep > room)
		keep = room;
	memcpy(p->hline + p->hlen, s, keep);
	p->hlen += keep;
	if (eol) {
		if (p->hlen > 0 && p->hline[p->hlen - 1] == '\r')
			p->hlen--;      /* CR arrived in an earlier chunk than LF */
		bench_sink_header_line(p);
	}
}

/* Body bytes: returns how many were consumed; sets *done at ".CRLF"
 * (RFC 5321 4.1.1.4; a bare ".LF" is taken too). */
static size_t
bench_sink_body(struct bench_sinkproto *p, const char *buf, size_t len, int *done)
{
	size_t i = 0;
	*done = 0;
	while (i < len) {
		char c = buf[i];
		switch (p->bstate) {
		case BODY_BOL:
			if (c == '.') {
				p->bstate = BODY_DOT;
				i++;
			} else {
				p->bstate = BODY_MID;
			}
			break;
		case BODY_DOT:
			if (c == '\r') {
				p->bstate = BODY_DOTCR;
				i++;
				break;
			}
			if (c == '\n') {
				*done = 1;
				return i + 1;
			}
			p->bytes++;                 /* a dot-stuffed line (4.5.2) */
			p->bstate = BODY_MID;
			break;
		case BODY_DOTCR:
			if (c == '\n') {
				*done = 1;
				return i + 1;
			}
			p->bytes += 2;
			p->bstate = BODY_MID;
			break;
		default: {
			const char *nl = memchr(buf + i, '\n', len - i);
			size_t n = nl ? (size_t)(nl - (buf + i)) + 1 : len - i;
			if (p->in_headers)
				bench_sink_header_bytes(p, buf + i, n, nl != NULL);
			p->bytes += n;
			i += n;
			if (nl != NULL)
				p->bstate = BODY_BOL;
		}
		}
	}
	return i;
}

/* Chunk bytes (no dot-stuffing): returns how many were consumed, at most
 * what is left of the chunk. */
static size_t
bench_sink_chunk(struct bench_sinkproto *p, const char *buf, size_t len)
{
	size_t take = len < p->bdat_left ? len : (size_t)p->bdat_left;
	size_t i = 0;
	while (i < take && p->in_headers) {
		const char *nl = memchr(buf + i, '\n', take - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) + 1 : take - i;
		bench_sink_header_bytes(p, buf + i, n, nl != NULL);
		i += n;
	}
	p->bytes += take;
	p->bdat_left -= take;
	return take;
}

/* A whole command line in p->line: fill ev. */
static void
bench_sink_command(struct bench_sinkproto *p, struct bench_sink_event *ev)
{
	static const struct { const char *verb; enum bench_sink_cmd cmd; } verbs[] = {
		{"HELO", BENCH_SINK_HELO}, {"EHLO", BENCH_SINK_EHLO}, {"MAIL", BENCH_SINK_MAIL},
		{"RCPT", BENCH_SINK_RCPT}, {"DATA", BENCH_SINK_DATA}, {"RSET", BENCH_SINK_RSET},
		{"NOOP", BENCH_SINK_NOOP}, {"QUIT", BENCH_SINK_QUIT}, {"VRFY", BENCH_SINK_VRFY},
		{"STARTTLS", BENCH_SINK_STARTTLS}, {"AUTH", BENCH_SINK_AUTH},
		{"BDAT", BENCH_SINK_BDAT},
	};
	size_t len = p->len;
	if (len > 0 && p->line[len - 1] == '\r')
		len--;
	p->line[len] = '\0';
	ev->type = BENCH_SINK_EV_COMMAND;
	ev->cmd = BENCH_SINK_OTHER;
	ev->too_long = p->overflow;
	ev->arg = p->line + len;
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0] && !p->overflow; i++) {
		size_t vl = strlen(verbs[i].verb);
		if (strncasecmp(p->line, verbs[i].verb, vl) != 0 ||
		    (p->line[vl] != '\0' && p->line[vl] != ' '))
			continue;
		ev->cmd = verbs[i].cmd;
		ev->arg = p->line[vl] == ' ' ? p->line + vl + 1 : p->line + vl;
		break;
	}
	p->len = 0;
	p->overflow = 0;
}

/* Consume up to and including the next event; see bench/sinkproto.h. */
size_t
bench_sink_feed(struct bench_sinkproto *p, const char *buf, size_t len,
                struct bench_sink_event *ev)
{
	ev->type = BENCH_SINK_EV_NONE;
	if (p->in_bdat) {
		size_t n = bench_sink_chunk(p, buf, len);
		if (p->bdat_left == 0)
			bench_sink_chunk_end(p, ev);
		return n;
	}
	if (p->in_data) {
		int done;
		size_t n = bench_sink_body(p, buf, len, &done);
		if (done) {
			p->in_data = 0;
			ev->type = BENCH_SINK_EV_DATA_END;
			ev->bytes = p->bytes;
			ev->msgid = p->msgid;
		}
		return n;
	}
	const char *nl = memchr(buf, '\n', len);
	size_t take = nl ? (size_t)(nl - buf) : len;
	size_t room = sizeof p->line - 1 - p->len;
	if (take > room)
		p->overflow = 1;
	memcpy(p->line + p->len, buf, take < room ? take : room);
	p->len += take < room ? take : room;
	if (nl == NULL)
		return len;
	bench_sink_command(p, ev);
	return take + 1;
}

/* Returns the command named name, or -1. */
static int
bench_sink_cmd_lookup(const char *name, size_t n)
{
	if (n == 1 && name[0] == '.')
		return BENCH_SINK_DOT;
	for (int i = 0; i < BENCH_SINK_CMD_COUNT; i++)
		if (strlen(bench_sink_names[i]) == n && strncasecmp(name, bench_sink_names[i], n) == 0)
			return i;
	return -1;
}

/* "mail,rcpt,." -> mask. */
int
bench_sink_parse_cmds(const char *text, unsigned *mask)
{
	unsigned m = 0;
	const char *s = text;
	if (s == NULL || *s == '\0')
		return -1;
	for (;;) {
		size_t n = strcspn(s, ",");
		int cmd = bench_sink_cmd_lookup(s, n);
		if (cmd < 0)
			return -1;
		m |= 1u << cmd;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	*mask |= m;
	return 0;
}

/* "rcpt:100,dot:20" -> delays_ms[]. */
int
bench_sink_parse_delays(const char *text, uint32_t delays_ms[BENCH_SINK_CMD_COUNT])
{
	uint32_t got[BENCH_SINK_CMD_COUNT];
	unsigned seen = 0;
	const char *s = text;
	if (s == NULL || *s == '\0')
		return -1;
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *colon = memchr(s, ':', n);
		char num[16];
		if (colon == NULL || (size_t)(s + n - colon - 1) >= sizeof num)
			return -1;
		int cmd = bench_sink_cmd_lookup(s, (size_t)(colon - s));
		memcpy(num, colon + 1, (size_t)(s + n - colon - 1));
		num[s + n - colon - 1] = '\0';
		uint64_t ms;
		if (cmd < 0 || bench_parse_uint(num, 0, 600000, &ms) < 0)
			return -1;
		got[cmd] = (uint32_t)ms;
		seen |= 1u << cmd;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	for (int i = 0; i < BENCH_SINK_CMD_COUNT; i++)
		if (seen & (1u << i))
			delays_ms[i] = got[i];
	return 0;
}
