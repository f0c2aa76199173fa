/*
 * proto/hops.c - the Received: field counter of proto/hops.h. A field is a
 * line of the header section that starts with "Received:" in any case;
 * continuation lines (starting with a blank) are not fields; the header ends
 * at the first empty line.
 */
#include "proto/hops.h"

#include <string.h>

enum hops_state {
	HOPS_LINE_START,   /* at the start of a header line */
	HOPS_MATCHING,     /* `matched` octets of the field name matched */
	HOPS_IN_LINE,      /* inside a line that is not (or no longer) a match */
	HOPS_BLANK_CR,     /* a CR at a line start: the empty line, if LF follows */
	HOPS_DONE,         /* the header has ended */
};

static const char hops_name[] = "received:";

void
proto_hops_begin(struct proto_hops *h)
{
	memset(h, 0, sizeof *h);
	h->state = HOPS_LINE_START;
}

/* ASCII lower case, so that a locale never changes what matches. */
static char
hops_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

void
proto_hops_feed(struct proto_hops *h, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && h->state != HOPS_DONE) {
		char c = data[i];
		switch (h->state) {
		case HOPS_LINE_START:
			if (c == '\n') {
				h->state = HOPS_DONE;
			} else if (c == '\r') {
				h->state = HOPS_BLANK_CR;
			} else if (hops_lower(c) == hops_name[0]) {
				h->state = HOPS_MATCHING;
				h->matched = 1;
			} else {
				h->state = HOPS_IN_LINE;
			}
			i++;
			break;
		case HOPS_BLANK_CR:
			if (c == '\n') {
				h->state = HOPS_DONE;
				i++;
			} else {
				h->state = HOPS_IN_LINE;   /* a bare CR: part of a line */
			}
			break;
		case HOPS_MATCHING:
			if (hops_lower(c) != hops_name[h->matched]) {
				h->state = HOPS_IN_LINE;
				break;
			}
			i++;
			if (++h->matched == sizeof hops_name - 1) {
				h->count++;
				h->state = HOPS_IN_LINE;
			}
			break;
		default: {   /* HOPS_IN_LINE */
			const char *lf = memchr(data + i, '\n', len - i);
			if (lf == NULL)
				return;
			i = (size_t)(lf - data) + 1;
			h->state = HOPS_LINE_START;
			break;
		}
		}
	}
}
