/*
 * queue/bounce_format.h - the text of a delivery status notification: an
 * RFC 3464 report inside an RFC 6522 multipart/report, from MAILER-DAEMON
 * to the sender of a message, of one of three kinds (RFC 3461 section 6):
 * a failure ("Delivery status notification: error"), a delay warning
 * ("...: warning") or a success report ("...: success"). Pure: no I/O, no
 * clock (times come in), no allocation but the returned text. The I/O
 * around it (reading the message, queueing the report) is core/bounce.c.
 *
 * queue_bounce_format() returns the whole message (header and body, CRLF
 * line ends) malloc'd, the caller frees it; NULL without memory.
 *
 * The report has three parts (RFC 6522 section 3):
 *   1. text/plain for people: which recipients failed and why, are
 *      delayed (and until when delivery is retried), or were delivered
 *   2. message/delivery-status: Original-Envelope-Id (the sender's ENVID,
 *      when it gave one), Reporting-MTA, Arrival-Date, then per recipient
 *      Original-Recipient (its ORCPT, when given), Final-Recipient,
 *      Action (failed, delayed, delivered or relayed), Status,
 *      Diagnostic-Code, Last-Attempt-Date, and Will-Retry-Until for a delay
 *      (RFC 3464 sections 2.2 and 2.3, RFC 3461 6.3)
 *   3. the message: its header as text/rfc822-headers (RET=HDRS, no RET,
 *      and always for delays and successes, RFC 3461 4.3), or all of it as
 *      message/rfc822 (RET=FULL on a failure, when the message is at most
 *      QUEUE_BOUNCE_FULL_BYTES_MAX; a larger one is returned as its header
 *      and the text part says so). Missing when the message could not be
 *      read (the text part says so).
 */
#ifndef QUEUE_BOUNCE_FORMAT_H
#define QUEUE_BOUNCE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_BOUNCE_HEADERS_BYTES_MAX 65536   /* of the original header kept */
#define QUEUE_BOUNCE_STATUS_BYTES 16           /* "5.1.1" and its NUL, with room */
/* RET=FULL returns a failed message whole up to this size (Postfix's
 * bounce_size_limit is 50000 and truncates; we return the header alone
 * beyond it, so a large attachment never travels back and forth). */
#define QUEUE_BOUNCE_FULL_BYTES_MAX (1u << 20)

/* What a report tells (its subject and text). */
enum queue_bounce_kind {
	QUEUE_BOUNCE_FAILURE,     /* "error": the recipients failed for good */
	QUEUE_BOUNCE_DELAY,       /* "warning": not delivered yet, still trying */
	QUEUE_BOUNCE_SUCCESS,     /* "success": delivered or relayed */
};

/* What happened to one recipient: RFC 3464 2.3.3 Action. */
enum queue_bounce_action {
	QUEUE_BOUNCE_FAILED,      /* Action: failed */
	QUEUE_BOUNCE_DELAYED,     /* Action: delayed, with Will-Retry-Until */
	QUEUE_BOUNCE_DELIVERED,   /* Action: delivered (Status 2.0.0): local delivery */
	QUEUE_BOUNCE_RELAYED,     /* Action: relayed (Status 2.0.0): to a next hop
	                           * that does not offer DSN */
};

/* What part 3 carries. */
enum queue_bounce_return {
	QUEUE_BOUNCE_RETURN_HEADERS,   /* text/rfc822-headers */
	QUEUE_BOUNCE_RETURN_FULL,      /* message/rfc822, the whole message */
	QUEUE_BOUNCE_RETURN_TOO_BIG,   /* RET=FULL asked, the message is larger
	                                * than QUEUE_BOUNCE_FULL_BYTES_MAX: its
	                                * header, and the text says why */
};

struct queue_bounce_rcpt {
	const char *rcpt;         /* the recipient (Final-Recipient) */
	const char *diagnostic;   /* the last error (or for a success the reply)
	                           * as logged: "550 5.1.1 ..." */
	int expired;              /* the queue ttl passed (else a permanent error) */
	const char *orcpt;        /* DSN ORCPT "type;address", NULL or "" if none */
	enum queue_bounce_action action;   /* FAILED for a failure report */
	uint64_t retry_until;     /* DELAYED: unix seconds, Will-Retry-Until */
};

struct queue_bounce {
	enum queue_bounce_kind kind;
	const char *hostname;     /* Reporting-MTA and MAILER-DAEMON@hostname */
	const char *sender;       /* the failed message's sender: To: */
	uint32_t msgid;           /* the failed message's id (for the text) */
	uint32_t bounce_msgid;    /* the bounce's own id: Message-ID, boundary */
	uint64_t arrival;         /* unix seconds the failed message arrived */
	uint64_t now;             /* unix seconds: Date, Last-Attempt-Date */
	const struct queue_bounce_rcpt *rcpts;
	unsigned nrcpts;
	const char *envid;        /* DSN ENVID, NULL or "" if none */
	const char *headers;      /* the message's header (or all of it with
	                           * RETURN_FULL), NULL if unknown */
	size_t headers_len;
	enum queue_bounce_return returned;
	int eight_bit;            /* RETURN_FULL of an 8BITMIME message: its part
	                           * says Content-Transfer-Encoding: 8bit */
};

/* Build the bounce; see the top of this file. */
char *queue_bounce_format(const struct queue_bounce *b, size_t *len);
/* The length of the header block at the top of a stored body, up to (not
 * including) the empty line that ends it, or all of the body when there is
 * none; cut at the last whole line within QUEUE_BOUNCE_HEADERS_BYTES_MAX. */
size_t queue_bounce_headers_len(const char *body, size_t len);
/* The RFC 3463 status for a diagnostic: the enhanced code it carries when
 * its class agrees with the reply code, else X.0.0 from the reply code,
 * 4.4.7 for an expiry without a code, 5.0.0 for a local error. (A delay's
 * status is this when it is of class 4, else 4.0.0.) */
void queue_bounce_status(const char *diagnostic, int expired,
                         char out[QUEUE_BOUNCE_STATUS_BYTES]);
/* What part 3 of a report of kind carries for a message of len bytes
 * whose sender said RET=FULL (ret_full) or not: the whole message only for
 * a failure with RET=FULL within QUEUE_BOUNCE_FULL_BYTES_MAX. */
enum queue_bounce_return queue_bounce_return_for(enum queue_bounce_kind kind, int ret_full,
                                                 size_t len);
/* An RFC 5322 date-time in UTC for unix seconds t into out (40 bytes). */
void queue_bounce_date(uint64_t t, char out[40]);

#endif
