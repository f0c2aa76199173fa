/*
 * test/core/test_bounce.c - the text of a bounce (queue/bounce_format.c): a
 * golden RFC 3464 report for two recipients of one message, the status code
 * taken from a diagnostic (table), where the original header ends (table),
 * the expiry wording, no header part when the message could not be read,
 * the DSN ENVID and ORCPT carried into the report, and fields from outside
 * that try to break a header line.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "queue/bounce_format.h"

static const char golden[] =
	"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
	"To: <alice@example.org>\r\n"
	"Subject: Delivery status notification: error\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <0badcafe.1700000000.bounce@mx.example.org>\r\n"
	"Auto-Submitted: auto-replied\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/report; report-type=delivery-status;\r\n"
	"\tboundary=\"0badcafe.1700000000/mx.example.org\"\r\n"
	"\r\n"
	"This is a MIME-encapsulated message.\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org\r\n"
	"Content-Description: Notification\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"Hi!\r\n"
	"\r\n"
	"This is the MAILER-DAEMON, please DO NOT REPLY to this email.\r\n"
	"\r\n"
	"An error has occurred while attempting to deliver a message for\r\n"
	"the following list of recipients:\r\n"
	"\r\n"
	"bob@example.net: 550 5.1.1 <bob@example.net>: Recipient address rejected\r\n"
	"carol@example.net: could not be delivered before the queue lifetime ran out; "
	"last error: 451 4.3.0 Try again later\r\n"
	"\r\n"
	"Below is a copy of the original message headers.\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org\r\n"
	"Content-Description: Delivery report\r\n"
	"Content-Type: message/delivery-status\r\n"
	"\r\n"
	"Reporting-MTA: dns; mx.example.org\r\n"
	"Arrival-Date: Tue, 14 Nov 2023 22:00:00 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822; bob@example.net\r\n"
	"Action: failed\r\n"
	"Status: 5.1.1\r\n"
	"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822; carol@example.net\r\n"
	"Action: failed\r\n"
	"Status: 4.3.0\r\n"
	"Diagnostic-Code: smtp; 451 4.3.0 Try again later\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org\r\n"
	"Content-Description: Undelivered Message Headers\r\n"
	"Content-Type: text/rfc822-headers\r\n"
	"\r\n"
	"Received: from client (192.0.2.7)\r\n"
	"\tby mx.example.org (ringmta) with ESMTP id 12345678\r\n"
	"Subject: lunch\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org--\r\n";

static const char stored[] =
	"Received: from client (192.0.2.7)\r\n"
	"\tby mx.example.org (ringmta) with ESMTP id 12345678\r\n"
	"Subject: lunch\r\n"
	"\r\n"
	"the body never goes back\r\n";

/* The report of the golden text, with the header of `stored`. */
static struct queue_bounce
sample(const struct queue_bounce_rcpt *rcpts, unsigned n)
{
	return (struct queue_bounce){
		.hostname = "mx.example.org", .sender = "alice@example.org",
		.msgid = 0x12345678, .bounce_msgid = 0x0badcafe,
		.arrival = 1700000000 - 800, .now = 1700000000,
		.rcpts = rcpts, .nrcpts = n,
		.headers = stored,
		.headers_len = queue_bounce_headers_len(stored, sizeof(stored) - 1),
	};
}

Test(bounce, golden_report)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ "bob@example.net", "550 5.1.1 <bob@example.net>: Recipient address rejected", 0, NULL },
		{ "carol@example.net", "451 4.3.0 Try again later", 1, NULL },
	};
	struct queue_bounce b = sample(rcpts, 2);
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_eq(len, strlen(text));
	for (size_t i = 0; i < len && i < sizeof(golden) - 1; i++)
		if (text[i] != golden[i])
			cr_assert_fail("differs at byte %zu:\ngot:  ...%.80s\nwant: ...%.80s",
			               i, text + i, golden + i);
	cr_assert_eq(len, sizeof(golden) - 1, "got %zu bytes, want %zu", len,
	             sizeof(golden) - 1);
	cr_assert_null(strstr(text, "the body never goes back"));
	free(text);
}

Test(bounce, envid_and_orcpt_in_the_report)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ "bob@example.net", "550 5.1.1 unknown", 0, "rfc822;Bob+list@example.net" },
		{ "carol@example.net", "550 5.1.1 unknown", 0, "" },
		{ "dave@example.net", "550 5.1.1 unknown", 0, "x-type;d\r\nX-Evil: 1" },
	};
	struct queue_bounce b = sample(rcpts, 3);
	b.envid = "QQ314159";
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "Content-Type: message/delivery-status\r\n\r\n"
	                                "Original-Envelope-Id: QQ314159\r\n"
	                                "Reporting-MTA: dns; mx.example.org\r\n"));
	cr_assert_not_null(strstr(text, "\r\n\r\nOriginal-Recipient: rfc822; Bob+list@example.net\r\n"
	                                "Final-Recipient: rfc822; bob@example.net\r\n"));
	cr_assert_not_null(strstr(text, "\r\n\r\nFinal-Recipient: rfc822; carol@example.net\r\n"));
	cr_assert_not_null(strstr(text, "Original-Recipient: x-type; d  X-Evil: 1\r\n"));
	cr_assert_null(strstr(text, "\nX-Evil"));
	free(text);
}

struct status_case {
	const char *diagnostic;
	int expired;
	const char *want;
};

static const struct status_case status_cases[] = {
	{ "550 5.1.1 <x@y>: Recipient address rejected", 0, "5.1.1" },
	{ "552 5.3.4 Message too big", 0, "5.3.4" },
	{ "554 5.7.100 policy", 0, "5.7.100" },
	{ "550 5.1.1", 0, "5.1.1" },             /* the code ends the line */
	{ "550 Mailbox unavailable", 0, "5.0.0" }, /* no enhanced code */
	{ "550 4.1.1 classes disagree", 0, "5.0.0" },
	{ "550 5.1234.1 too many digits", 0, "5.0.0" },
	{ "550 5.1.1x junk after", 0, "5.0.0" },
	{ "550-5.1.1 continuation", 0, "5.0.0" },
	{ "451 4.3.0 later", 1, "4.3.0" },
	{ "421 Service not available", 1, "4.0.0" },
	{ "Error (connect: Connection refused)", 1, "4.4.7" },
	{ "Error (maildir path does not expand)", 0, "5.0.0" },
	{ "", 1, "4.4.7" },
	{ "55", 0, "5.0.0" },
	{ "250 2.0.0 ok", 0, "5.0.0" },           /* never a success status */
};

Test(bounce, status_table)
{
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		char got[QUEUE_BOUNCE_STATUS_BYTES];
		queue_bounce_status(status_cases[i].diagnostic, status_cases[i].expired, got);
		cr_assert_str_eq(got, status_cases[i].want, "\"%s\": got %s, want %s",
		                 status_cases[i].diagnostic, got, status_cases[i].want);
	}
}

struct headers_case {
	const char *body;
	size_t want;
};

static const struct headers_case headers_cases[] = {
	{ "A: 1\r\nB: 2\r\n\r\nbody\r\n", 12 },
	{ "A: 1\nB: 2\n\nbody\n", 10 },              /* bare LF */
	{ "A: 1\r\n\tfolded\r\n\r\n", 15 },
	{ "A: 1\r\nno empty line at all", 26 },      /* all of it */
	{ "\r\nbody only", 0 },                      /* empty header */
	{ "", 0 },
};

Test(bounce, headers_table)
{
	for (size_t i = 0; i < sizeof(headers_cases) / sizeof(headers_cases[0]); i++) {
		const char *b = headers_cases[i].body;
		size_t got = queue_bounce_headers_len(b, strlen(b));
		cr_assert_eq(got, headers_cases[i].want, "case %zu: got %zu, want %zu", i, got,
		             headers_cases[i].want);
	}
}

Test(bounce, headers_cut_at_a_line)
{
	size_t line = 100, n = QUEUE_BOUNCE_HEADERS_BYTES_MAX / line + 10;
	char *b = malloc(n * line);
	for (size_t i = 0; i < n; i++) {
		memset(b + i * line, 'h', line - 2);
		memcpy(b + i * line + line - 2, "\r\n", 2);
	}
	size_t got = queue_bounce_headers_len(b, n * line);
	cr_assert_leq(got, QUEUE_BOUNCE_HEADERS_BYTES_MAX);
	cr_assert_eq(got % line, 0, "cut inside a line: %zu", got);
	cr_assert_gt(got, QUEUE_BOUNCE_HEADERS_BYTES_MAX - line);
	free(b);
}

Test(bounce, unreadable_message_and_hostile_fields)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ "evil@example.net\r\nBcc: victim@example.com", "550 5.1.1 no\r\nX-Injected: 1", 0, NULL },
	};
	struct queue_bounce b = sample(rcpts, 1);
	b.headers = NULL;
	b.headers_len = 0;
	b.sender = "alice@example.org\r\nCc: other@example.com";
	size_t len;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_null(strstr(text, "\r\nBcc:"), "a recipient broke a line");
	cr_assert_null(strstr(text, "\r\nX-Injected:"), "a diagnostic broke a line");
	cr_assert_null(strstr(text, "\r\nCc:"), "the sender broke a line");
	cr_assert_null(strstr(text, "text/rfc822-headers"), "a header part without headers");
	cr_assert_not_null(strstr(text, "its headers are not included"));
	cr_assert_not_null(strstr(text, "Final-Recipient: rfc822; evil@example.net  Bcc:"));
	/* every line ends in CRLF */
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			cr_assert(i > 0 && text[i - 1] == '\r', "bare LF at %zu", i);
	cr_assert(len > 2 && strcmp(text + len - 2, "\r\n") == 0);
	free(text);
}
