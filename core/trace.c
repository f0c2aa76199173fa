/*
 * core/trace.c - the trace mask of smtpctl trace|untrace, and the dialogue
 * lines of trace smtp and trace transfer. See core/trace.h.
 */
#include "core/trace.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TRACE_LINE_BYTES 512
#define TRACE_LINES_MAX 64

atomic_uint trace_mask;

/* Main thread: turn bits on or off; returns the mask now in force. */
uint32_t
trace_set(uint32_t bits, int on)
{
	if (on)
		return atomic_fetch_or_explicit(&trace_mask, bits, memory_order_relaxed) | bits;
	return atomic_fetch_and_explicit(&trace_mask, ~bits, memory_order_relaxed) & ~bits;
}

/* Is text (a client's line) an SMTP command we show? */
static int
trace_is_command(const char *text)
{
	static const char *const verbs[] = { "EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA",
	                                     "BDAT", "RSET", "QUIT", "NOOP", "STARTTLS", "AUTH",
	                                     "VRFY", "EXPN", "HELP" };
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		size_t n = strlen(verbs[i]);
		if (strncasecmp(text, verbs[i], n) == 0 && (text[n] == '\0' || text[n] == ' '))
			return 1;
	}
	return 0;
}

void
trace_dialogue(const char *word, uint64_t id, const char *arrow, const char *data, size_t len,
               int client_lines)
{
	char text[TRACE_LINE_BYTES];
	unsigned lines = 0, hidden = 0;
	while (len > 0 && lines < TRACE_LINES_MAX) {
		const char *line = data, *lf = memchr(data, '\n', len);
		size_t n = lf ? (size_t)(lf - data) + 1 : len, end = n, k = 0;
		while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r'))
			end--;
		data += n;
		len -= n;
		for (size_t i = 0; i < end && k + 1 < sizeof text; i++)
			text[k++] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
		text[k] = '\0';
		if (client_lines && !trace_is_command(text)) {
			hidden++;   /* a body line or a SASL response */
			continue;
		}
		if (client_lines && strncasecmp(text, "AUTH ", 5) == 0 && strchr(text + 5, ' ') != NULL)
			strcpy(strchr(text + 5, ' '), " ****");
		log_info("trace %s: %016llx %s %s", word, (unsigned long long)id, arrow, text);
		lines++;
		if (client_lines && (strcasecmp(text, "DATA") == 0 || strncasecmp(text, "BDAT ", 5) == 0))
			return;   /* what follows is the message */
	}
	if (hidden > 0)
		log_info("trace %s: %016llx %s (%u line%s not shown: a message body or credentials)",
		         word, (unsigned long long)id, arrow, hidden, hidden == 1 ? "" : "s");
}
