/*
 * queue/bounce_format.c - the text of a bounce (RFC 3464 inside RFC 6522);
 * see queue/bounce_format.h. Built into a growing buffer; every line ends
 * in CRLF; fields that come from outside (addresses, diagnostics) have
 * control characters replaced so that none can break a header line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/bounce_format.h"

struct bounce_buf {
	char *p;
	size_t len, cap;
	int failed;
};

/* Make room for more than need bytes after b->len; 0, or -1 (noted in
 * b->failed) without memory. */
static int
bounce_reserve(struct bounce_buf *b, size_t need)
{
	if (b->failed)
		return -1;
	if (b->cap - b->len > need)
		return 0;
	size_t cap = b->cap * 2 + need + 1;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Append formatted text; on a memory failure, note it and stop. */
static void __attribute__((format(printf, 2, 3)))
bounce_put(struct bounce_buf *b, const char *fmt, ...)
{
	size_t need = 0;
	for (;;) {
		if (bounce_reserve(b, need) < 0)
			return;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		need = (size_t)n;
	}
}

/* Append len raw bytes. */
static void
bounce_put_raw(struct bounce_buf *b, const char *s, size_t len)
{
	if (bounce_reserve(b, len) < 0)
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* Copy s into out (cap bytes) with every control character a space. */
static const char *
bounce_clean(const char *s, char *out, size_t cap)
{
	size_t i = 0;
	for (; s != NULL && s[i] != '\0' && i + 1 < cap; i++)
		out[i] = iscntrl((unsigned char)s[i]) ? ' ' : s[i];
	out[i] = '\0';
	return out;
}

/* See queue/bounce_format.h. */
void
queue_bounce_date(uint64_t t, char out[40])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, 40, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday],
	         tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
}

/* Does s start with a reply code ("550 " or "550-" or just "550")? */
static int
bounce_has_code(const char *s)
{
	return s != NULL && s[0] >= '2' && s[0] <= '5' && isdigit((unsigned char)s[1]) &&
	       isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

/* See queue/bounce_format.h. RFC 3463 section 2: class.subject.detail, the
 * subject and detail 1 to 3 digits. */
void
queue_bounce_status(const char *d, int expired, char out[QUEUE_BOUNCE_STATUS_BYTES])
{
	static const char digits[] = "0123456789";
	if (bounce_has_code(d) && (d[0] == '4' || d[0] == '5') && d[3] == ' ' &&
	    d[4] == d[0] && d[5] == '.') {
		const char *p = d + 6;
		size_t a = strspn(p, digits);
		if (a >= 1 && a <= 3 && p[a] == '.') {
			size_t b = strspn(p + a + 1, digits);
			char end = p[a + 1 + b];
			if (b >= 1 && b <= 3 && (end == ' ' || end == '\0')) {
				snprintf(out, QUEUE_BOUNCE_STATUS_BYTES, "%.*s",
				         (int)(2 + a + 1 + b), d + 4);
				return;
			}
		}
	}
	if (bounce_has_code(d) && (d[0] == '4' || d[0] == '5'))
		snprintf(out, QUEUE_BOUNCE_STATUS_BYTES, "%c.0.0", d[0]);
	else
		snprintf(out, QUEUE_BOUNCE_STATUS_BYTES, "%s", expired ? "4.4.7" : "5.0.0");
}

/* See queue/bounce_format.h. */
size_t
queue_bounce_headers_len(const char *body, size_t len)
{
	size_t cut = 0;   /* the end of the last whole line within the limit */
	for (size_t i = 0; i < len; i++) {
		if (body[i] != '\n')
			continue;
		/* an empty line ("\n" or "\r\n" right after the previous line)
		 * ends the header and is not part of it */
		size_t start = i > 0 && body[i - 1] == '\r' ? i - 1 : i;
		if (start == cut)
			return cut;
		if (i + 1 > QUEUE_BOUNCE_HEADERS_BYTES_MAX)
			return cut;
		cut = i + 1;
	}
	return len <= QUEUE_BOUNCE_HEADERS_BYTES_MAX ? len : cut;
}

/* See queue/bounce_format.h. */
enum queue_bounce_return
queue_bounce_return_for(enum queue_bounce_kind kind, int ret_full, size_t len)
{
	if (kind != QUEUE_BOUNCE_FAILURE || !ret_full)
		return QUEUE_BOUNCE_RETURN_HEADERS;
	return len <= QUEUE_BOUNCE_FULL_BYTES_MAX ? QUEUE_BOUNCE_RETURN_FULL
	                                          : QUEUE_BOUNCE_RETURN_TOO_BIG;
}

/* The subject word of each kind of report. */
static const char *
bounce_subject(enum queue_bounce_kind kind)
{
	switch (kind) {
	case QUEUE_BOUNCE_DELAY:
		return "warning";
	case QUEUE_BOUNCE_SUCCESS:
		return "success";
	case QUEUE_BOUNCE_FAILURE:
		break;
	}
	return "error";
}

/* The header of the report and the MIME preamble (RFC 6522 section 3;
 * Auto-Submitted: RFC 3834 section 5). */
static void
bounce_head(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	char date[40], sender[512];
	queue_bounce_date(b->now, date);
	bounce_put(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", b->hostname);
	bounce_put(out, "To: <%s>\r\n", bounce_clean(b->sender, sender, sizeof(sender)));
	bounce_put(out, "Subject: Delivery status notification: %s\r\n", bounce_subject(b->kind));
	bounce_put(out, "Date: %s\r\n", date);
	bounce_put(out, "Message-ID: <%08x.%llu.bounce@%s>\r\n", b->bounce_msgid,
	           (unsigned long long)b->now, b->hostname);
	bounce_put(out, "Auto-Submitted: auto-replied\r\n");
	bounce_put(out, "MIME-Version: 1.0\r\n");
	bounce_put(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	                "\tboundary=\"%s\"\r\n", boundary);
	bounce_put(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");
}

/* The opening sentence of part 1 for each kind of report. */
static const char *
bounce_intro(enum queue_bounce_kind kind)
{
	switch (kind) {
	case QUEUE_BOUNCE_DELAY:
		return "Your message has not been delivered yet to the following list\r\n"
		       "of recipients; delivery is being retried:\r\n\r\n";
	case QUEUE_BOUNCE_SUCCESS:
		return "Your message was delivered to the following list of recipients:\r\n\r\n";
	case QUEUE_BOUNCE_FAILURE:
		break;
	}
	return "An error has occurred while attempting to deliver a message for\r\n"
	       "the following list of recipients:\r\n\r\n";
}

/* One recipient's line in part 1. */
static void
bounce_text_rcpt(struct bounce_buf *out, const struct queue_bounce_rcpt *r)
{
	char rcpt[256], diag[512];
	bounce_clean(r->rcpt, rcpt, sizeof(rcpt));
	bounce_clean(r->diagnostic, diag, sizeof(diag));
	if (r->action == QUEUE_BOUNCE_DELIVERED)
		bounce_put(out, "%s: delivered\r\n", rcpt);
	else if (r->action == QUEUE_BOUNCE_RELAYED)
		bounce_put(out, "%s: relayed to a mail system that sends no further "
		                "reports\r\n", rcpt);
	else if (r->expired)
		bounce_put(out, "%s: could not be delivered before the queue "
		                "lifetime ran out; last error: %s\r\n", rcpt,
		           diag[0] ? diag : "none");
	else
		bounce_put(out, "%s: %s\r\n", rcpt, diag);
}

/* The last of the recipients' Will-Retry-Until times. */
static uint64_t
bounce_retry_until(const struct queue_bounce *b)
{
	uint64_t until = 0;
	for (unsigned i = 0; i < b->nrcpts; i++)
		if (b->rcpts[i].retry_until > until)
			until = b->rcpts[i].retry_until;
	return until;
}

/* The closing sentence of part 1: what part 3 holds. */
static void
bounce_text_return(struct bounce_buf *out, const struct queue_bounce *b)
{
	if (b->headers == NULL)
		bounce_put(out, "The original message could not be read; its headers are not "
		                "included.\r\n\r\n");
	else if (b->returned == QUEUE_BOUNCE_RETURN_FULL)
		bounce_put(out, "Below is a copy of the original message.\r\n\r\n");
	else if (b->returned == QUEUE_BOUNCE_RETURN_TOO_BIG)
		bounce_put(out, "The original message is larger than %u bytes: below is a "
		                "copy of its headers only.\r\n\r\n", QUEUE_BOUNCE_FULL_BYTES_MAX);
	else
		bounce_put(out, "Below is a copy of the original message headers.\r\n\r\n");
}

/* Part 1: the explanation for people. */
static void
bounce_text(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	bounce_put(out, "--%s\r\nContent-Description: Notification\r\n"
	                "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	bounce_put(out, "Hi!\r\n\r\nThis is the MAILER-DAEMON, please DO NOT REPLY to "
	                "this email.\r\n\r\n%s", bounce_intro(b->kind));
	for (unsigned i = 0; i < b->nrcpts; i++)
		bounce_text_rcpt(out, &b->rcpts[i]);
	if (b->kind == QUEUE_BOUNCE_DELAY) {
		char until[40];
		queue_bounce_date(bounce_retry_until(b), until);
		bounce_put(out, "\r\nThis is only a warning: the message stays in the queue and "
		                "delivery\r\nwill be retried until %s.\r\n"
		                "You do not need to send it again.\r\n", until);
	}
	bounce_put(out, "\r\n");
	bounce_text_return(out, b);
}

/* The Action field's word for a recipient. */
static const char *
bounce_action(enum queue_bounce_action action)
{
	switch (action) {
	case QUEUE_BOUNCE_DELAYED:
		return "delayed";
	case QUEUE_BOUNCE_DELIVERED:
		return "delivered";
	case QUEUE_BOUNCE_RELAYED:
		return "relayed";
	case QUEUE_BOUNCE_FAILED:
		break;
	}
	return "failed";
}

/* The Status of a recipient: from its diagnostic for a failure, of class 4
 * for a delay, 2.0.0 for a success. */
static void
bounce_rcpt_status(const struct queue_bounce_rcpt *r, char out[QUEUE_BOUNCE_STATUS_BYTES])
{
	switch (r->action) {
	case QUEUE_BOUNCE_DELIVERED:
	case QUEUE_BOUNCE_RELAYED:
		snprintf(out, QUEUE_BOUNCE_STATUS_BYTES, "2.0.0");
		return;
	case QUEUE_BOUNCE_DELAYED:
		queue_bounce_status(r->diagnostic, 0, out);
		if (out[0] != '4')
			snprintf(out, QUEUE_BOUNCE_STATUS_BYTES, "4.0.0");
		return;
	case QUEUE_BOUNCE_FAILED:
		break;
	}
	queue_bounce_status(r->diagnostic, r->expired, out);
}

/* Original-Recipient: the ORCPT "type;addr" as given at RCPT, decoded,
 * with the space RFC 3464's examples put after the type. */
static void
bounce_orcpt(struct bounce_buf *out, const char *orcpt)
{
	char orig[512];
	if (orcpt == NULL || orcpt[0] == '\0')
		return;
	bounce_clean(orcpt, orig, sizeof(orig));
	char *semi = strchr(orig, ';');
	if (semi != NULL)
		*semi = '\0';
	bounce_put(out, "Original-Recipient: %s; %s\r\n", semi != NULL ? orig : "rfc822",
	           semi != NULL ? semi + 1 : orig);
}

/* One recipient's fields in part 2 (RFC 3464 2.3), after the empty line. */
static void
bounce_report_rcpt(struct bounce_buf *out, const struct queue_bounce_rcpt *r,
                   const char *now)
{
	char rcpt[256], diag[512], status[QUEUE_BOUNCE_STATUS_BYTES], until[40];
	int success = r->action == QUEUE_BOUNCE_DELIVERED || r->action == QUEUE_BOUNCE_RELAYED;
	bounce_rcpt_status(r, status);
	bounce_clean(r->diagnostic, diag, sizeof(diag));
	bounce_put(out, "\r\n");
	bounce_orcpt(out, r->orcpt);
	bounce_put(out, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n",
	           bounce_clean(r->rcpt, rcpt, sizeof(rcpt)), bounce_action(r->action), status);
	/* a success has a diagnostic worth passing on only as the next hop's reply */
	if (diag[0] != '\0' && (!success || bounce_has_code(diag)))
		bounce_put(out, "Diagnostic-Code: %s; %s\r\n",
		           bounce_has_code(diag) ? "smtp" : "X-Ringmta", diag);
	bounce_put(out, "Last-Attempt-Date: %s\r\n", now);
	if (r->action == QUEUE_BOUNCE_DELAYED) {
		queue_bounce_date(r->retry_until, until);
		bounce_put(out, "Will-Retry-Until: %s\r\n", until);
	}
}

/* Part 2: the machine-readable report (RFC 3464 sections 2.2, 2.3). */
static void
bounce_report(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	char date[40], now[40], envid[512];
	queue_bounce_date(b->arrival, date);
	queue_bounce_date(b->now, now);
	bounce_put(out, "--%s\r\nContent-Description: Delivery report\r\n"
	                "Content-Type: message/delivery-status\r\n\r\n", boundary);
	if (b->envid != NULL && b->envid[0] != '\0')
		bounce_put(out, "Original-Envelope-Id: %s\r\n",
		           bounce_clean(b->envid, envid, sizeof(envid)));
	bounce_put(out, "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n", b->hostname, date);
	for (unsigned i = 0; i < b->nrcpts; i++)
		bounce_report_rcpt(out, &b->rcpts[i], now);
	bounce_put(out, "\r\n");
}

/* Part 3: the message's header (text/rfc822-headers) or all of it
 * (message/rfc822, RFC 6522 section 3 and RFC 3462). */
static void
bounce_returned(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	if (b->headers == NULL)
		return;
	if (b->returned == QUEUE_BOUNCE_RETURN_FULL)
		bounce_put(out, "--%s\r\nContent-Description: Undelivered Message\r\n"
		                "Content-Type: message/rfc822\r\n%s\r\n", boundary,
		           b->eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	else
		bounce_put(out, "--%s\r\nContent-Description: %s\r\n"
		                "Content-Type: text/rfc822-headers\r\n\r\n", boundary,
		           b->kind == QUEUE_BOUNCE_FAILURE ? "Undelivered Message Headers" :
		           "Message Headers");
	bounce_put_raw(out, b->headers, b->headers_len);
	if (b->headers_len > 0 && b->headers[b->headers_len - 1] != '\n')
		bounce_put(out, "\r\n");
	bounce_put(out, "\r\n");   /* RFC 2046 5.1.1: the CRLF before a delimiter */
}

/* See queue/bounce_format.h. */
char *
queue_bounce_format(const struct queue_bounce *b, size_t *len)
{
	struct bounce_buf out = { .cap = 4096 };
	char boundary[400];
	snprintf(boundary, sizeof(boundary), "%08x.%llu/%s", b->bounce_msgid,
	         (unsigned long long)b->now, b->hostname);
	if ((out.p = malloc(out.cap)) == NULL)
		return NULL;
	bounce_head(&out, b, boundary);
	bounce_text(&out, b, boundary);
	bounce_report(&out, b, boundary);
	bounce_returned(&out, b, boundary);
	bounce_put(&out, "--%s--\r\n", boundary);
	if (out.failed) {
		free(out.p);
		return NULL;
	}
	*len = out.len;
	return out.p;
}
