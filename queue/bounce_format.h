/*
 * queue/bounce_format.h - the text of a bounce: an RFC 3464 delivery status
 * notification inside an RFC 6522 multipart/report, from MAILER-DAEMON to
 * the sender of a message that failed. Pure: no I/O, no clock (times come
 * in), no allocation but the returned text. The I/O around it (reading the
 * failed message, queueing the bounce) is core/bounce.c.
 *
 * queue_bounce_format() returns the whole message (header and body, CRLF
 * line ends) malloc'd, the caller frees it; NULL without memory.
 *
 * The report has three parts (RFC 6522 section 3):
 *   1. text/plain for people: which recipients failed and why
 *   2. message/delivery-status: Original-Envelope-Id (the sender's ENVID,
 *      when it gave one), Reporting-MTA, Arrival-Date, then per recipient
 *      Original-Recipient (its ORCPT, when given), Final-Recipient,
 *      Action: failed, Status, Diagnostic-Code, Last-Attempt-Date (RFC 3464
 *      sections 2.2 and 2.3, RFC 3461 6.3)
 *   3. text/rfc822-headers: the failed message's header (RET=HDRS, our
 *      default; RET=FULL comes with DSN support)
 */
#ifndef QUEUE_BOUNCE_FORMAT_H
#define QUEUE_BOUNCE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_BOUNCE_HEADERS_BYTES_MAX 65536   /* of the original header kept */
#define QUEUE_BOUNCE_STATUS_BYTES 16           /* "5.1.1" and its NUL, with room */

struct queue_bounce_rcpt {
	const char *rcpt;         /* the recipient (Final-Recipient) */
	const char *diagnostic;   /* the last error as logged: "550 5.1.1 ..." */
	int expired;              /* the queue ttl passed (else a permanent error) */
	const char *orcpt;        /* DSN ORCPT "type;address", NULL or "" if none */
};

struct queue_bounce {
	const char *hostname;     /* Reporting-MTA and MAILER-DAEMON@hostname */
	const char *sender;       /* the failed message's sender: To: */
	uint32_t msgid;           /* the failed message's id (for the text) */
	uint32_t bounce_msgid;    /* the bounce's own id: Message-ID, boundary */
	uint64_t arrival;         /* unix seconds the failed message arrived */
	uint64_t now;             /* unix seconds: Date, Last-Attempt-Date */
	const struct queue_bounce_rcpt *rcpts;
	unsigned nrcpts;
	const char *envid;        /* DSN ENVID, NULL or "" if none */
	const char *headers;      /* the failed message's header, NULL if unknown */
	size_t headers_len;
};

/* Build the bounce; see the top of this file. */
char *queue_bounce_format(const struct queue_bounce *b, size_t *len);
/* The length of the header block at the top of a stored body, up to (not
 * including) the empty line that ends it, or all of the body when there is
 * none; cut at the last whole line within QUEUE_BOUNCE_HEADERS_BYTES_MAX. */
size_t queue_bounce_headers_len(const char *body, size_t len);
/* The RFC 3463 status for a diagnostic: the enhanced code it carries when
 * its class agrees with the reply code, else X.0.0 from the reply code,
 * 4.4.7 for an expiry without a code, 5.0.0 for a local error. */
void queue_bounce_status(const char *diagnostic, int expired,
                         char out[QUEUE_BOUNCE_STATUS_BYTES]);
/* An RFC 5322 date-time in UTC for unix seconds t into out (40 bytes). */
void queue_bounce_date(uint64_t t, char out[40]);

#endif
