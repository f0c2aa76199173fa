/*
 * bench/replyparse.c - the incremental SMTP reply reader of
 * bench/replyparse.h.
 */
#include "bench/replyparse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Before the first byte of a connection. */
void
bench_reply_init(struct bench_reply_parser *p)
{
	memset(p, 0, sizeof *p);
}

/* Returns the BENCH_EXT_* bit for the keyword an EHLO line starts with. */
static unsigned
bench_reply_keyword(const char *kw, size_t len)
{
	static const struct { const char *name; unsigned bit; } known[] = {
		{"PIPELINING", BENCH_EXT_PIPELINING}, {"8BITMIME", BENCH_EXT_8BITMIME},
		{"SIZE", BENCH_EXT_SIZE}, {"STARTTLS", BENCH_EXT_STARTTLS},
		{"AUTH", BENCH_EXT_AUTH}, {"CHUNKING", BENCH_EXT_CHUNKING},
		{"SMTPUTF8", BENCH_EXT_SMTPUTF8},
		{"ENHANCEDSTATUSCODES", BENCH_EXT_ENHANCEDSTATUSCODES},
	};
	size_t n = 0;
	while (n < len && kw[n] != ' ' && kw[n] != '=')
		n++;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i].name) == n && strncasecmp(kw, known[i].name, n) == 0)
			return known[i].bit;
	return 0;
}

/* Does the mechanism list after "AUTH " or "AUTH=" name PLAIN? */
static int
bench_reply_has_plain(const char *list, size_t len)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && list[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && list[i] != ' ')
			i++;
		if (i - start == 5 && strncasecmp(list + start, "PLAIN", 5) == 0)
			return 1;
	}
	return 0;
}

/* One whole line in p->line: returns 1 when it ends the reply, 0 when more
 * lines follow, -1 when malformed. */
static int
bench_reply_line(struct bench_reply_parser *p, struct bench_reply *out)
{
	const char *l = p->line;
	size_t len = p->len;
	if (len > 0 && l[len - 1] == '\r')
		len--;
	if (len < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
	    !isdigit((unsigned char)l[2]) || l[0] < '2' || l[0] > '5')
		return -1;
	if (len > 3 && l[3] != ' ' && l[3] != '-')
		return -1;
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (p->code != 0 && code != p->code)
		return -1;
	p->code = code;
	if (++p->lines > BENCH_REPLY_LINES_MAX)
		return -1;
	if (p->lines > 1 && len > 4) {
		unsigned bit = bench_reply_keyword(l + 4, len - 4);
		if (bit == BENCH_EXT_AUTH && len > 9 && bench_reply_has_plain(l + 9, len - 9))
			bit |= BENCH_EXT_AUTH_PLAIN;
		p->ext |= bit;
	}
	if (len > 3 && l[3] == '-')
		return 0;
	out->code = code;
	out->lines = p->lines;
	out->ext = p->ext;
	size_t tlen = len > 4 ? len - 4 : 0;
	if (tlen > 0)
		memcpy(out->text, l + 4, tlen);
	out->text[tlen] = '\0';
	p->code = 0;
	p->lines = 0;
	p->ext = 0;
	return 1;
}

/* Consume up to the end of the next complete reply; see bench/replyparse.h. */
int
bench_reply_feed(struct bench_reply_parser *p, const char *buf, size_t len,
                 size_t *used, struct bench_reply *out)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t take = nl ? (size_t)(nl - (buf + i)) : len - i;
		size_t room = sizeof p->line - 1 - p->len;
		memcpy(p->line + p->len, buf + i, take < room ? take : room);
		p->len += take < room ? take : room;
		i += take;
		if (nl == NULL)
			break;
		i++;                      /* the LF */
		int r = bench_reply_line(p, out);
		p->len = 0;
		if (r != 0) {
			*used = i;
			return r;
		}
	}
	*used = i;
	return 0;
}
