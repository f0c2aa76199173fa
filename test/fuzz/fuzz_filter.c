/*
 * test/fuzz/fuzz_filter.c - libFuzzer target for proto/filter_proto.c.
 * The input (after its first octet) is what a filter process writes, and
 * also a message: each '\n'-ended piece goes to proto_filter_parse(),
 * whose results must stay inside the line and hold what the header
 * promises; the whole input is cut into lines by proto_filter_lines_feed()
 * once whole and once in pieces the first octet sizes, and both must give
 * the same lines; each line, dot-stuffed into a data-line request and
 * returned as a filter-dataline, must unstuff to itself and never to the
 * end of the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/filter_proto.h"

/* Lines emitted, concatenated with a separator no line holds. */
struct fuzz_lines {
	char buf[1 << 17];
	size_t len;
	unsigned n;
	int overflow;
};

static int
fuzz_collect(void *arg, const char *line, size_t len)
{
	struct fuzz_lines *l = arg;

	if (len > PROTO_FILTER_DATALINE_BYTES_MAX)
		abort();
	if (memchr(line, '\n', len) != NULL)
		abort();
	if (l->len + len + 1 > sizeof l->buf) {
		l->overflow = 1;
		return 0;
	}
	memcpy(l->buf + l->len, line, len);
	l->len += len;
	l->buf[l->len++] = '\n';
	l->n++;
	return 0;
}

/* Cut data into lines in pieces of step octets (0: whole); the feed's
 * result, -2 for a line over the limit. */
static int
fuzz_cut(struct proto_filter_lines *b, struct fuzz_lines *out, const uint8_t *data, size_t size,
         size_t step)
{
	size_t at = 0;
	int r = 0;

	b->len = 0;
	out->len = 0;
	out->n = 0;
	out->overflow = 0;
	while (at < size && r == 0) {
		size_t n = step == 0 || size - at < step ? size - at : step;
		r = proto_filter_lines_feed(b, (const char *)data + at, n, fuzz_collect, out);
		at += n;
	}
	if (r == 0)
		r = proto_filter_lines_end(b, fuzz_collect, out);
	return r;
}

/* One parse: what it says must point inside the line and be well-formed. */
static void
fuzz_parse(const char *line, size_t len)
{
	struct proto_filter_msg m;

	if (proto_filter_parse(line, len, &m) < 0)
		return;
	if (m.param_len > 0 && (m.param < line || m.param + m.param_len > line + len))
		abort();
	if (m.kind == PROTO_FMSG_RESULT &&
	    (m.decision == PROTO_FDEC_REJECT || m.decision == PROTO_FDEC_DISCONNECT) &&
	    (m.code < 400 || m.code > 599))
		abort();
	if ((m.kind == PROTO_FMSG_REGISTER_FILTER && m.index != -2 &&
	     (m.index < 0 || m.index >= PROTO_FPHASES)) ||
	    (m.kind == PROTO_FMSG_REGISTER_REPORT && m.index >= PROTO_FEVENTS))
		abort();
}

/* A message line out (stuffed) and back (as a filter echoes it). */
static void
fuzz_roundtrip(const char *line, size_t len)
{
	static char req[PROTO_FILTER_LINE_BYTES_MAX + 1], back[PROTO_FILTER_LINE_BYTES_MAX + 64];
	static const struct proto_filter_ts ts = { 1, 2 };
	struct proto_filter_msg m;
	const char *out, *body;
	size_t n, blen;
	int r = proto_filter_dataline(req, sizeof req, &ts, 7, 9, line, len, 1);

	if (r < 0)
		abort();   /* every line the cutter gives fits */
	body = memchr(req, '|', (size_t)r);
	for (int i = 0; i < 6 && body != NULL; i++)
		body = memchr(body + 1, '|', (size_t)(req + r - body - 1));
	if (body == NULL || req[r - 1] != '\n')
		abort();
	body++;
	blen = (size_t)(req + r - 1 - body);
	memcpy(back, "filter-dataline|7|9|", 20);
	memcpy(back + 20, body, blen);
	if (proto_filter_parse(back, 20 + blen, &m) < 0 || m.kind != PROTO_FMSG_DATALINE)
		abort();
	if (proto_filter_dataline_unstuff(m.param, m.param_len, &out, &n) != 0)
		abort();   /* a message line is never the end */
	if (n != len)
		abort();
	for (size_t i = 0; i < n; i++)
		if (out[i] != line[i] && !(out[i] == '?' && (line[i] == '\0' || line[i] == '\r')))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_filter_lines a, b;
	static struct fuzz_lines la, lb;
	const char *p, *end, *nl;
	int ra, rb;

	if (size < 1)
		return 0;
	for (p = (const char *)data + 1, end = (const char *)data + size; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		fuzz_parse(p, (size_t)(nl - p));
	}
	ra = fuzz_cut(&a, &la, data + 1, size - 1, 0);
	rb = fuzz_cut(&b, &lb, data + 1, size - 1, 1 + data[0] % 29);
	if (ra != rb)
		abort();
	if (ra == 0 && !la.overflow && !lb.overflow &&
	    (la.n != lb.n || la.len != lb.len || memcmp(la.buf, lb.buf, la.len) != 0))
		abort();
	for (size_t at = 0; ra == 0 && !la.overflow && at < la.len;) {
		const char *l = la.buf + at, *e = memchr(l, '\n', la.len - at);
		fuzz_roundtrip(l, (size_t)(e - l));
		at = (size_t)(e - la.buf) + 1;
	}
	return 0;
}
