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

/* Append formatted text; on a memory failure, note it and stop. */
static void __attribute__((format(printf, 2, 3)))
bounce_put(struct bounce_buf *b, const char *fmt, ...)
{
	for (;;) {
		if (b->failed)
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
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* Append len raw bytes. */
static void
bounce_put_raw(struct bounce_buf *b, const char *s, size_t len)
{
	if (b->failed)
		return;
	if (b->cap - b->len <= len) {
		size_t cap = b->cap * 2 + len + 1;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
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

/* The header of the bounce and the MIME preamble (RFC 6522 section 3;
 * Auto-Submitted: RFC 3834 section 5). */
static void
bounce_head(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	char date[40], sender[512];
	queue_bounce_date(b->now, date);
	bounce_put(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", b->hostname);
	bounce_put(out, "To: <%s>\r\n", bounce_clean(b->sender, sender, sizeof(sender)));
	bounce_put(out, "Subject: Delivery status notification: error\r\n");
	bounce_put(out, "Date: %s\r\n", date);
	bounce_put(out, "Message-ID: <%08x.%llu.bounce@%s>\r\n", b->bounce_msgid,
	           (unsigned long long)b->now, b->hostname);
	bounce_put(out, "Auto-Submitted: auto-replied\r\n");
	bounce_put(out, "MIME-Version: 1.0\r\n");
	bounce_put(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	                "\tboundary=\"%s\"\r\n", boundary);
	bounce_put(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");
}

/* Part 1: the explanation for people. */
static void
bounce_text(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	char rcpt[256], diag[512];
	bounce_put(out, "--%s\r\nContent-Description: Notification\r\n"
	                "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	bounce_put(out, "Hi!\r\n\r\nThis is the MAILER-DAEMON, please DO NOT REPLY to "
	                "this email.\r\n\r\nAn error has occurred while attempting to "
	                "deliver a message for\r\nthe following list of recipients:\r\n\r\n");
	for (unsigned i = 0; i < b->nrcpts; i++) {
		const struct queue_bounce_rcpt *r = &b->rcpts[i];
		bounce_clean(r->rcpt, rcpt, sizeof(rcpt));
		bounce_clean(r->diagnostic, diag, sizeof(diag));
		if (r->expired)
			bounce_put(out, "%s: could not be delivered before the queue "
			                "lifetime ran out; last error: %s\r\n", rcpt,
			           diag[0] ? diag : "none");
		else
			bounce_put(out, "%s: %s\r\n", rcpt, diag);
	}
	bounce_put(out, "\r\n%s\r\n\r\n", b->headers != NULL ?
	           "Below is a copy of the original message headers." :
	           "The original message could not be read; its headers are not "
	           "included.");
}

/* Part 2: the machine-readable report (RFC 3464 sections 2.2, 2.3). */
static void
bounce_report(struct bounce_buf *out, const struct queue_bounce *b, const char *boundary)
{
	char date[40], now[40], rcpt[256], diag[512], status[QUEUE_BOUNCE_STATUS_BYTES];
	char orig[512];
	queue_bounce_date(b->arrival, date);
	queue_bounce_date(b->now, now);
	bounce_put(out, "--%s\r\nContent-Description: Delivery report\r\n"
	                "Content-Type: message/delivery-status\r\n\r\n", boundary);
	if (b->envid != NULL && b->envid[0] != '\0')
		bounce_put(out, "Original-Envelope-Id: %s\r\n",
		           bounce_clean(b->envid, orig, sizeof(orig)));
	bounce_put(out, "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n", b->hostname, date);
	for (unsigned i = 0; i < b->nrcpts; i++) {
		const struct queue_bounce_rcpt *r = &b->rcpts[i];
		queue_bounce_status(r->diagnostic, r->expired, status);
		bounce_clean(r->diagnostic, diag, sizeof(diag));
		bounce_put(out, "\r\n");
		if (r->orcpt != NULL && r->orcpt[0] != '\0') {
			/* "rfc822;addr" as given at RCPT, decoded, with the
			 * space RFC 3464's examples put after the type */
			bounce_clean(r->orcpt, orig, sizeof(orig));
			char *semi = strchr(orig, ';');
			if (semi != NULL)
				*semi = '\0';
			bounce_put(out, "Original-Recipient: %s; %s\r\n",
			           semi != NULL ? orig : "rfc822", semi != NULL ? semi + 1 : orig);
		}
		bounce_put(out, "Final-Recipient: rfc822; %s\r\nAction: failed\r\n"
		                "Status: %s\r\n", bounce_clean(r->rcpt, rcpt, sizeof(rcpt)),
		           status);
		if (diag[0] != '\0')
			bounce_put(out, "Diagnostic-Code: %s; %s\r\n",
			           bounce_has_code(diag) ? "smtp" : "X-Ringmta", diag);
		bounce_put(out, "Last-Attempt-Date: %s\r\n", now);
	}
	bounce_put(out, "\r\n");
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
	if (b->headers != NULL) {
		bounce_put(&out, "--%s\r\nContent-Description: Undelivered Message Headers\r\n"
		                 "Content-Type: text/rfc822-headers\r\n\r\n", boundary);
		bounce_put_raw(&out, b->headers, b->headers_len);
		if (b->headers_len > 0 && b->headers[b->headers_len - 1] != '\n')
			bounce_put(&out, "\r\n");
		bounce_put(&out, "\r\n");   /* RFC 2046 5.1.1: the CRLF before a delimiter */
	}
	bounce_put(&out, "--%s--\r\n", boundary);
	if (out.failed) {
		free(out.p);
		return NULL;
	}
	*len = out.len;
	return out.p;
}
