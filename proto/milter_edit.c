/*
 * proto/milter_edit.c - header fields of a message read and changed the
 * way milters ask (RFC 5322 2.2: a field is a name, ':', a value, folded
 * lines begin with a space or a tab). See proto/milter_edit.h.
 */
#include "proto/milter_edit.h"

#include <string.h>
#include <strings.h>

void
proto_milter_split(const char *msg, size_t len, size_t *hdr_len, size_t *body_off)
{
	size_t i = 0;

	/* the empty line: CRLF at the very start, or CRLF CRLF */
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n') {
		*hdr_len = 0;
		*body_off = 2;
		return;
	}
	for (; i + 3 < len; i++)
		if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' && msg[i + 3] == '\n') {
			*hdr_len = i + 2;
			*body_off = i + 4;
			return;
		}
	*hdr_len = len;
	*body_off = len;
}

/* The end of the line starting at p (after its LF, or hdr_len). */
static size_t
edit_line_end(const char *msg, size_t hdr_len, size_t p)
{
	const char *nl = memchr(msg + p, '\n', hdr_len - p);

	return nl != NULL ? (size_t)(nl - msg) + 1 : hdr_len;
}

int
proto_milter_field_next(const char *msg, size_t hdr_len, size_t *pos,
                        struct proto_milter_field *f)
{
	while (*pos < hdr_len) {
		size_t start = *pos, end = edit_line_end(msg, hdr_len, start);
		while (end < hdr_len && (msg[end] == ' ' || msg[end] == '\t'))
			end = edit_line_end(msg, hdr_len, end);   /* folded lines */
		*pos = end;
		const char *colon = memchr(msg + start, ':', end - start);
		if (colon == NULL || colon == msg + start || msg[start] == ' ' || msg[start] == '\t')
			continue;
		f->name = msg + start;
		f->name_len = (size_t)(colon - f->name);
		while (f->name_len > 0 && (f->name[f->name_len - 1] == ' ' ||
		                           f->name[f->name_len - 1] == '\t'))
			f->name_len--;   /* "Name : value" (RFC 822's obsolete form) */
		f->value = colon + 1;
		f->value_len = end - (size_t)(f->value - msg);
		if (f->value_len >= 2 && f->value[f->value_len - 2] == '\r' &&
		    f->value[f->value_len - 1] == '\n')
			f->value_len -= 2;
		else if (f->value_len >= 1 && f->value[f->value_len - 1] == '\n')
			f->value_len -= 1;
		f->off = start;
		f->len = end - start;
		return 1;
	}
	return 0;
}

long
proto_milter_field_value(const struct proto_milter_field *f, int leadspc, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	if (!leadspc && f->value_len > 0 && f->value[0] == ' ')
		i = 1;
	for (; i < f->value_len; i++) {
		if (f->value[i] == '\r' && i + 1 < f->value_len && f->value[i + 1] == '\n')
			continue;
		if (n + 1 >= cap)
			return -1;
		out[n++] = f->value[i];
	}
	if (n >= cap)
		return -1;
	out[n] = '\0';
	return (long)n;
}

size_t
proto_milter_edit_bound(size_t len, const struct proto_milter_msg *edit)
{
	size_t extra = 8;

	if (edit->name != NULL)
		extra += strlen(edit->name);
	if (edit->value != NULL)
		extra += 2 * strlen(edit->value);   /* each LF may become CRLF */
	if (edit->cmd == PROTO_MILTER_R_REPLBODY)
		extra += 2 * edit->data_len;
	return len + extra;
}

/* Copy n octets of s to out[*at], bare LF as CRLF; 0 or -1 past cap. */
static int
edit_put_crlf(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
			if (*at >= cap)
				return -1;
			out[(*at)++] = '\r';
		}
		if (*at >= cap)
			return -1;
		out[(*at)++] = s[i];
	}
	return 0;
}

/* "name: value\r\n" at out[*at]; 0 or -1. */
static int
edit_put_field(char *out, size_t cap, size_t *at, const struct proto_milter_msg *e, int leadspc)
{
	size_t vn = strlen(e->value);

	if (edit_put_crlf(out, cap, at, e->name, strlen(e->name)) < 0 ||
	    edit_put_crlf(out, cap, at, leadspc ? ":" : ": ", leadspc ? 1 : 2) < 0 ||
	    edit_put_crlf(out, cap, at, e->value, vn) < 0)
		return -1;
	if (vn >= 1 && e->value[vn - 1] == '\n')
		return 0;   /* a value that ends its own line */
	return edit_put_crlf(out, cap, at, "\r\n", 2);
}

/* Where the field edit names starts and how long it is; *len 0 when
 * the header should be inserted at *off instead. */
static void
edit_find(const char *msg, size_t hdr_len, const struct proto_milter_msg *e, size_t *off,
          size_t *len)
{
	struct proto_milter_field f;
	size_t pos = 0;
	uint32_t seen = 0, want = e->index ? e->index : 1;

	*off = hdr_len;
	*len = 0;
	while (proto_milter_field_next(msg, hdr_len, &pos, &f)) {
		if (e->cmd == PROTO_MILTER_R_INSHEADER) {
			if (seen++ == e->index) {
				*off = f.off;
				return;
			}
			continue;
		}
		if (e->cmd == PROTO_MILTER_R_CHGHEADER && f.name_len == strlen(e->name) &&
		    strncasecmp(f.name, e->name, f.name_len) == 0 && ++seen == want) {
			*off = f.off;
			*len = f.len;
			return;
		}
	}
}

long
proto_milter_edit(const char *msg, size_t len, const struct proto_milter_msg *edit, int leadspc,
                  char *out, size_t cap)
{
	size_t hdr_len, body_off, off, cut, at;

	proto_milter_split(msg, len, &hdr_len, &body_off);
	if (edit->cmd == PROTO_MILTER_R_REPLBODY) {
		if (body_off > cap)
			return -1;
		memcpy(out, msg, hdr_len);
		at = hdr_len;
		if (edit_put_crlf(out, cap, &at, "\r\n", 2) < 0 ||
		    edit_put_crlf(out, cap, &at, edit->data, edit->data_len) < 0)
			return -1;
		return (long)at;
	}
	if (edit->cmd != PROTO_MILTER_R_ADDHEADER && edit->cmd != PROTO_MILTER_R_INSHEADER &&
	    edit->cmd != PROTO_MILTER_R_CHGHEADER) {
		if (len > cap)
			return -1;
		memcpy(out, msg, len);
		return (long)len;
	}
	edit_find(msg, hdr_len, edit, &off, &cut);
	if (edit->cmd == PROTO_MILTER_R_CHGHEADER && cut == 0 && edit->value[0] == '\0') {
		if (len > cap)
			return -1;   /* deleting a field that is not there */
		memcpy(out, msg, len);
		return (long)len;
	}
	if (off > cap)
		return -1;
	memcpy(out, msg, off);
	at = off;
	if (!(edit->cmd == PROTO_MILTER_R_CHGHEADER && edit->value[0] == '\0') &&
	    edit_put_field(out, cap, &at, edit, leadspc) < 0)
		return -1;
	if (hdr_len == len && off == len && len >= 2 && msg[len - 1] != '\n')
		return -1;   /* a header block without a final line end: not ours */
	if (len - off - cut > cap - at)
		return -1;
	memcpy(out + at, msg + off + cut, len - off - cut);
	return (long)(at + len - off - cut);
}
