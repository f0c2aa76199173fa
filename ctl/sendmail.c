/*
 * ctl/sendmail.c - the sendmail command line and message preparation:
 * options as sendmail(8) has them, RFC 5322 address lists for -t, header
 * edits (Bcc removed; From:, Date:, Message-ID: added when missing). No
 * I/O. See ctl/sendmail.h.
 */
#include "ctl/sendmail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/ctl_proto.h"

/* Options that take an argument (attached, -fbob, or the next word). */
static const char sendmail_with_arg[] = "ABbCdFfhLNnOopRrVX";
/* Options without one. */
static const char sendmail_flags[] = "EiJmqtUvx";

/* Apply an -o option (its text after "o"). Everything is accepted: -oi
 * is the only one that changes what we do. */
static void
sendmail_o_option(struct sendmail_opts *o, const char *v)
{
	if (strcmp(v, "i") == 0)
		o->dot_ok = 1;
}

/* -b mode. Returns 0 or -1. */
static int
sendmail_b_option(struct sendmail_opts *o, const char *v, char *err, size_t cap)
{
	if (strcmp(v, "m") == 0)
		o->mode = SENDMAIL_MODE_DELIVER;
	else if (strcmp(v, "s") == 0)
		o->mode = SENDMAIL_MODE_SMTP;
	else if (strcmp(v, "p") == 0)
		o->mode = SENDMAIL_MODE_MAILQ;
	else if (strcmp(v, "i") == 0)
		o->mode = SENDMAIL_MODE_ALIASES;
	else {
		snprintf(err, cap, "-b%s is not supported", v);
		return -1;
	}
	return 0;
}

/* One option letter with its argument (NULL for flags). */
static int
sendmail_option(struct sendmail_opts *o, char ch, const char *arg, char *err, size_t cap)
{
	switch (ch) {
	case 'b': return sendmail_b_option(o, arg, err, cap);
	case 'o': sendmail_o_option(o, arg); return 0;
	case 'f': case 'r':
		o->sender = arg;
		return 0;
	case 'F': o->full_name = arg; return 0;
	case 'N': {   /* DSN (RFC 3461), as Sendmail takes them */
		unsigned bits;
		o->dsn_notify = arg;
		if (ctl_dsn_notify_parse(arg, &bits) == 0 && arg[0] != '\0')
			return 0;
		snprintf(err, cap, "-N takes never, or a list of success, failure and delay");
		return -1;
	}
	case 'R':
		o->dsn_ret = arg;
		if (arg[0] != '\0' && ctl_dsn_ret_parse(arg) > 0)
			return 0;
		snprintf(err, cap, "-R takes full or hdrs");
		return -1;
	case 'V':
		o->dsn_envid = arg;
		if (arg[0] != '\0' && ctl_dsn_text_ok(arg, CTL_DSN_ENVID_BYTES_MAX))
			return 0;
		snprintf(err, cap, "-V takes an envelope id of printable ASCII, at most %d bytes",
		         CTL_DSN_ENVID_BYTES_MAX - 1);
		return -1;
	case 'i': o->dot_ok = 1; return 0;
	case 't': o->extract = 1; return 0;
	case 'v': o->verbose = 1; return 0;
	case 'q': o->mode = SENDMAIL_MODE_RUNQ; return 0;
	default: return 0;   /* accepted: -B -C -d -h -L -O -p -X -E -J -m -U -x */
	}
}

/* One word that starts with '-': a cluster of flags, maybe ending in an
 * option that takes the rest of the word or the next one. Returns how many
 * extra words it used (0 or 1), or -1. */
static int
sendmail_word(struct sendmail_opts *o, const char *w, const char *next, char *err, size_t cap)
{
	for (const char *p = w + 1; *p; p++) {
		if (*p == 'q') {   /* -q, -q30m: run the queue (the interval is ignored) */
			return sendmail_option(o, 'q', NULL, err, cap);
		}
		if (strchr(sendmail_with_arg, *p) != NULL) {
			if (p[1] != '\0')
				return sendmail_option(o, *p, p + 1, err, cap) < 0 ? -1 : 0;
			if (next == NULL) {
				snprintf(err, cap, "option -%c needs an argument", *p);
				return -1;
			}
			return sendmail_option(o, *p, next, err, cap) < 0 ? -1 : 1;
		}
		if (strchr(sendmail_flags, *p) == NULL) {
			snprintf(err, cap, "unknown option -%c", *p);
			return -1;
		}
		sendmail_option(o, *p, NULL, err, cap);
	}
	return 0;
}

/* Parse sendmail's command line (see ctl/sendmail.h). */
int
sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o, char **rcpts,
                    char *err, size_t cap)
{
	int options = 1;
	memset(o, 0, sizeof *o);
	o->rcpts = rcpts;
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		if (options && strcmp(w, "--") == 0) {
			options = 0;
		} else if (options && w[0] == '-' && w[1] != '\0') {
			int used = sendmail_word(o, w, i + 1 < argc ? argv[i + 1] : NULL, err, cap);
			if (used < 0)
				return -1;
			i += used;
		} else {
			o->rcpts[o->nrcpts++] = argv[i];
		}
	}
	return 0;
}

/* ---- RFC 5322 3.4 address lists ---- */

/* Append a copy of [p, p+len) to the list unless it is already there. */
static int
sendmail_list_add(char ***list, unsigned *n, const char *p, size_t len)
{
	if (len == 0)
		return 0;
	if (len >= SENDMAIL_ADDR_BYTES_MAX)
		len = SENDMAIL_ADDR_BYTES_MAX - 1;
	for (unsigned i = 0; i < *n; i++)
		if (strlen((*list)[i]) == len && memcmp((*list)[i], p, len) == 0)
			return 0;
	if (*n >= SENDMAIL_RCPTS_MAX)
		return -2;
	char **l = realloc(*list, (*n + 1) * sizeof *l);
	if (l == NULL)
		return -1;
	*list = l;
	if ((l[*n] = strndup(p, len)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

struct sendmail_addr_scan {
	char bare[SENDMAIL_ADDR_BYTES_MAX];   /* the element without comments/space */
	size_t bare_len;
	char angle[SENDMAIL_ADDR_BYTES_MAX];  /* what was inside <> */
	size_t angle_len;
	int in_angle, had_angle, in_quote, comment;
};

/* Finish one list element: the <addr> if there was one, else the bare
 * text; a source route (@a,@b:) is dropped (RFC 5322 4.4). */
static int
sendmail_addr_flush(struct sendmail_addr_scan *s, char ***list, unsigned *n)
{
	const char *p = s->had_angle ? s->angle : s->bare;
	size_t len = s->had_angle ? s->angle_len : s->bare_len;
	if (s->had_angle && len > 0 && p[0] == '@') {
		const char *colon = memchr(p, ':', len);
		if (colon != NULL) {
			len -= (size_t)(colon + 1 - p);
			p = colon + 1;
		}
	}
	int r = sendmail_list_add(list, n, p, len);
	memset(s, 0, sizeof *s);
	return r;
}

/* Keep one character of the element being scanned. */
static void
sendmail_addr_keep(struct sendmail_addr_scan *s, char ch)
{
	if (s->in_angle) {
		if (s->angle_len < sizeof s->angle - 1 && ch != ' ' && ch != '\t')
			s->angle[s->angle_len++] = ch;
	} else if (s->bare_len < sizeof s->bare - 1 && (s->in_quote || (ch != ' ' && ch != '\t'))) {
		s->bare[s->bare_len++] = ch;
	}
}

/* Collect the addresses of one address-list header value. */
int
sendmail_addr_list(const char *v, size_t len, char ***list, unsigned *n)
{
	struct sendmail_addr_scan s;
	memset(&s, 0, sizeof s);
	for (size_t i = 0; i < len; i++) {
		char ch = v[i] == '\r' || v[i] == '\n' ? ' ' : v[i];
		if (s.comment) {   /* RFC 5322 3.2.2: comments nest */
			if (ch == '\\' && i + 1 < len)
				i++;
			else
				s.comment += ch == '(' ? 1 : ch == ')' ? -1 : 0;
			continue;
		}
		if (s.in_quote) {
			if (ch == '\\' && i + 1 < len)
				sendmail_addr_keep(&s, v[i++]);
			else if (ch == '"')
				s.in_quote = 0;
			sendmail_addr_keep(&s, v[i]);
			continue;
		}
		if (ch == '(') {
			s.comment = 1;
		} else if (ch == '"') {
			s.in_quote = 1;
			sendmail_addr_keep(&s, ch);
		} else if (ch == '<' && !s.in_angle) {
			s.in_angle = s.had_angle = 1;
			s.angle_len = 0;
		} else if (ch == '>' && s.in_angle) {
			s.in_angle = 0;
		} else if (!s.in_angle && ch == ':') {
			s.bare_len = 0;   /* a group's display name (RFC 5322 3.4) */
		} else if (!s.in_angle && (ch == ',' || ch == ';')) {
			int r = sendmail_addr_flush(&s, list, n);
			if (r < 0)
				return r;
		} else {
			sendmail_addr_keep(&s, ch);
		}
	}
	return sendmail_addr_flush(&s, list, n);
}

/* ---- the message ---- */

struct sendmail_line {
	const char *p;
	size_t len;            /* without the line end */
};

struct sendmail_out {
	char *p;
	size_t len, cap;
	int err;
};

/* Append bytes to the output (sets err when memory runs out). */
static void
sendmail_put(struct sendmail_out *o, const char *p, size_t len)
{
	if (o->err)
		return;
	if (o->cap - o->len < len + 1) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap - o->len < len + 1)
			cap *= 2;
		char *n = realloc(o->p, cap);
		if (n == NULL) {
			o->err = 1;
			return;
		}
		o->p = n;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, len);
	o->len += len;
}

/* Append one line and CRLF (RFC 5322 2.1). */
static void
sendmail_put_line(struct sendmail_out *o, const char *p, size_t len)
{
	sendmail_put(o, p, len);
	sendmail_put(o, "\r\n", 2);
}

/* Split the input into lines; stop at a lone "." unless dot_ok. Returns
 * the line array (malloc'd) and its count, or NULL. */
static struct sendmail_line *
sendmail_lines(const char *in, size_t len, int dot_ends, size_t *n)
{
	size_t cap = 64;
	struct sendmail_line *l = malloc(cap * sizeof *l);
	*n = 0;
	for (size_t i = 0; l != NULL && i < len;) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - in) : len;
		size_t ll = end - i;
		if (ll > 0 && in[end - 1] == '\r' && nl != NULL)
			ll--;
		if (dot_ends && ll == 1 && in[i] == '.')
			break;
		if (*n == cap) {
			cap *= 2;
			struct sendmail_line *m = realloc(l, cap * sizeof *m);
			if (m == NULL) {
				free(l);
				return NULL;
			}
			l = m;
		}
		l[(*n)++] = (struct sendmail_line){ in + i, ll };
		i = nl ? end + 1 : len;
	}
	return l;
}

/* Is this line a header field's first line ("Name:" RFC 5322 2.2)? */
static int
sendmail_is_field(const struct sendmail_line *l)
{
	size_t i = 0;
	while (i < l->len && l->p[i] > ' ' && l->p[i] < 0x7f && l->p[i] != ':')
		i++;
	return i > 0 && i < l->len && l->p[i] == ':';
}

/* Does the field on line l have this name? */
static int
sendmail_field_is(const struct sendmail_line *l, const char *name)
{
	size_t n = strlen(name);
	return l->len > n && l->p[n] == ':' && strncasecmp(l->p, name, n) == 0;
}

/* The From: we add: "Full Name" <addr>, or addr alone (RFC 5322 3.4). */
static void
sendmail_put_from(struct sendmail_out *o, const struct sendmail_build *b)
{
	char buf[1024];
	if (b->full_name == NULL || b->full_name[0] == '\0') {
		snprintf(buf, sizeof buf, "From: %s", b->from_addr);
	} else {
		char q[512];
		size_t k = 0;
		for (const char *p = b->full_name; *p && k < sizeof q - 2; p++) {
			if (*p == '"' || *p == '\\')
				q[k++] = '\\';
			if (*p != '\r' && *p != '\n')
				q[k++] = *p;
		}
		q[k] = '\0';
		snprintf(buf, sizeof buf, "From: \"%s\" <%s>", q, b->from_addr);
	}
	sendmail_put_line(o, buf, strlen(buf));
}

struct sendmail_seen {
	int from, date, message_id;
};

/* Copy the header block (Bcc dropped), collecting -t recipients. Returns
 * the index of the first body line, or a negative error. */
static long
sendmail_headers(const struct sendmail_line *l, size_t n, size_t i,
                 const struct sendmail_build *b, struct sendmail_out *o,
                 struct sendmail_msg *m, struct sendmail_seen *seen)
{
	while (i < n && sendmail_is_field(&l[i])) {
		size_t end = i + 1;   /* folded lines start with WSP (RFC 5322 2.2.3) */
		while (end < n && l[end].len > 0 && (l[end].p[0] == ' ' || l[end].p[0] == '\t'))
			end++;
		int bcc = sendmail_field_is(&l[i], "Bcc");
		seen->from |= sendmail_field_is(&l[i], "From");
		seen->date |= sendmail_field_is(&l[i], "Date");
		seen->message_id |= sendmail_field_is(&l[i], "Message-ID");
		if (b->extract && (bcc || sendmail_field_is(&l[i], "To") ||
		                   sendmail_field_is(&l[i], "Cc"))) {
			for (size_t k = i; k < end; k++) {
				const char *v = l[k].p;
				size_t vl = l[k].len;
				if (k == i) {
					const char *colon = memchr(v, ':', vl);
					vl -= (size_t)(colon + 1 - v);
					v = colon + 1;
				}
				int r = sendmail_addr_list(v, vl, &m->rcpts, &m->nrcpts);
				if (r < 0)
					return r;
			}
		}
		for (size_t k = i; k < end && !bcc; k++)
			sendmail_put_line(o, l[k].p, l[k].len);
		i = end;
	}
	return (long)i;
}

/* Prepare the message and its -t recipients (see ctl/sendmail.h). */
int
sendmail_build(const char *in, size_t len, const struct sendmail_build *b,
               struct sendmail_msg *m)
{
	struct sendmail_out o = { 0 };
	struct sendmail_seen seen = { 0 };
	size_t n = 0, i = 0;
	memset(m, 0, sizeof *m);
	struct sendmail_line *l = sendmail_lines(in, len, b->dot_ends, &n);
	if (l == NULL)
		return -1;
	if (n > 0 && l[0].len >= 5 && memcmp(l[0].p, "From ", 5) == 0)
		i = 1;   /* an mbox separator line is not a header */
	long body = sendmail_headers(l, n, i, b, &o, m, &seen);
	if (body < 0) {
		free(l);
		free(o.p);
		sendmail_msg_free(m);
		return (int)body;
	}
	if (!seen.from)
		sendmail_put_from(&o, b);
	if (!seen.date) {
		sendmail_put(&o, "Date: ", 6);
		sendmail_put_line(&o, b->date, strlen(b->date));
	}
	if (!seen.message_id) {
		sendmail_put(&o, "Message-ID: ", 12);
		sendmail_put_line(&o, b->message_id, strlen(b->message_id));
	}
	i = (size_t)body;
	if (i < n && l[i].len == 0)
		i++;   /* the empty line that ended the header */
	sendmail_put_line(&o, "", 0);
	for (; i < n; i++)
		sendmail_put_line(&o, l[i].p, l[i].len);
	free(l);
	if (o.err) {
		free(o.p);
		sendmail_msg_free(m);
		return -1;
	}
	m->data = o.p ? o.p : calloc(1, 1);
	m->len = o.len;
	return m->data ? 0 : -1;
}

/* Free what sendmail_build() returned. */
void
sendmail_msg_free(struct sendmail_msg *m)
{
	for (unsigned i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->data);
	memset(m, 0, sizeof *m);
}
