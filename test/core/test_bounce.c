/*
 * test/core/test_bounce.c - the text of the delivery status notifications
 * (queue/bounce_format.c): a golden RFC 3464 failure report for two
 * recipients of one message, a golden delay warning, the exact lines of a
 * success report (delivered and relayed), RET=FULL returning the whole
 * message (and its header alone beyond the bound), the status code taken
 * from a diagnostic (table), where the original header ends (table), the
 * expiry wording, no header part when the message could not be read, the
 * DSN ENVID and ORCPT carried into the report, and fields from outside that
 * try to break a header line.
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

/* Compare text with want byte by byte, saying where they part. */
static void
assert_text(const char *text, size_t len, const char *want)
{
	size_t wlen = strlen(want);
	for (size_t i = 0; i < len && i < wlen; i++)
		if (text[i] != want[i])
			cr_assert_fail("differs at byte %zu:\ngot:  ...%.80s\nwant: ...%.80s",
			               i, text + i, want + i);
	cr_assert_eq(len, wlen, "got %zu bytes, want %zu", len, wlen);
}

Test(bounce, golden_report)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ "bob@example.net", "550 5.1.1 <bob@example.net>: Recipient address rejected", 0,
		  NULL, QUEUE_BOUNCE_FAILED, 0 },
		{ "carol@example.net", "451 4.3.0 Try again later", 1, NULL, QUEUE_BOUNCE_FAILED, 0 },
	};
	struct queue_bounce b = sample(rcpts, 2);
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_eq(len, strlen(text));
	assert_text(text, len, golden);
	cr_assert_null(strstr(text, "the body never goes back"));
	free(text);
}

static const char golden_delay[] =
	"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
	"To: <alice@example.org>\r\n"
	"Subject: Delivery status notification: warning\r\n"
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
	"Your message has not been delivered yet to the following list\r\n"
	"of recipients; delivery is being retried:\r\n"
	"\r\n"
	"bob@example.net: 451 4.3.0 Try again later\r\n"
	"carol@example.net: Error (connect: Connection refused)\r\n"
	"\r\n"
	"This is only a warning: the message stays in the queue and delivery\r\n"
	"will be retried until Sat, 18 Nov 2023 22:00:00 +0000.\r\n"
	"You do not need to send it again.\r\n"
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
	"Action: delayed\r\n"
	"Status: 4.3.0\r\n"
	"Diagnostic-Code: smtp; 451 4.3.0 Try again later\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Will-Retry-Until: Sat, 18 Nov 2023 22:00:00 +0000\r\n"
	"\r\n"
	"Final-Recipient: rfc822; carol@example.net\r\n"
	"Action: delayed\r\n"
	"Status: 4.0.0\r\n"
	"Diagnostic-Code: X-Ringmta; Error (connect: Connection refused)\r\n"
	"Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Will-Retry-Until: Sat, 18 Nov 2023 22:00:00 +0000\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org\r\n"
	"Content-Description: Message Headers\r\n"
	"Content-Type: text/rfc822-headers\r\n"
	"\r\n"
	"Received: from client (192.0.2.7)\r\n"
	"\tby mx.example.org (ringmta) with ESMTP id 12345678\r\n"
	"Subject: lunch\r\n"
	"\r\n"
	"--0badcafe.1700000000/mx.example.org--\r\n";

Test(bounce, golden_delay_warning)
{
	uint64_t until = 1700000000 - 800 + 4 * 86400;
	struct queue_bounce_rcpt rcpts[] = {
		{ .rcpt = "bob@example.net", .diagnostic = "451 4.3.0 Try again later",
		  .action = QUEUE_BOUNCE_DELAYED, .retry_until = until },
		{ .rcpt = "carol@example.net", .diagnostic = "Error (connect: Connection refused)",
		  .action = QUEUE_BOUNCE_DELAYED, .retry_until = until },
	};
	struct queue_bounce b = sample(rcpts, 2);
	b.kind = QUEUE_BOUNCE_DELAY;
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	assert_text(text, len, golden_delay);
	free(text);
}

Test(bounce, success_report_lines)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ .rcpt = "bob@example.net", .diagnostic = "Delivered",
		  .action = QUEUE_BOUNCE_DELIVERED },
		{ .rcpt = "carol@example.net", .diagnostic = "250 2.0.0 Ok: queued as 4F2",
		  .orcpt = "rfc822;carol@example.net", .action = QUEUE_BOUNCE_RELAYED },
	};
	struct queue_bounce b = sample(rcpts, 2);
	b.kind = QUEUE_BOUNCE_SUCCESS;
	b.envid = "QQ1";
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\r\nSubject: Delivery status notification: success\r\n"));
	cr_assert_not_null(strstr(text, "This is the MAILER-DAEMON, please DO NOT REPLY to this "
	                                "email.\r\n\r\nYour message was delivered to the following "
	                                "list of recipients:\r\n\r\n"
	                                "bob@example.net: delivered\r\n"
	                                "carol@example.net: relayed to a mail system that sends "
	                                "no further reports\r\n\r\n"
	                                "Below is a copy of the original message headers.\r\n"));
	cr_assert_not_null(strstr(text, "Original-Envelope-Id: QQ1\r\n"));
	cr_assert_not_null(strstr(text, "\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\n"
	                                "Action: delivered\r\nStatus: 2.0.0\r\n"
	                                "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	                                "\r\nOriginal-Recipient: rfc822; carol@example.net\r\n"
	                                "Final-Recipient: rfc822; carol@example.net\r\n"
	                                "Action: relayed\r\nStatus: 2.0.0\r\n"
	                                "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4F2\r\n"
	                                "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	                                "\r\n--0badcafe.1700000000/mx.example.org\r\n"
	                                "Content-Description: Message Headers\r\n"
	                                "Content-Type: text/rfc822-headers\r\n\r\n"
	                                "Received: from client"));
	cr_assert_null(strstr(text, "Will-Retry-Until"));
	cr_assert_null(strstr(text, "the body never goes back"));
	free(text);
}

/* RET=FULL only on a failure and only within the bound (RFC 3461 4.3). */
Test(bounce, what_part_3_returns)
{
	static const struct {
		enum queue_bounce_kind kind;
		int ret_full;
		size_t len;
		enum queue_bounce_return want;
	} cases[] = {
		{ QUEUE_BOUNCE_FAILURE, 0, 100, QUEUE_BOUNCE_RETURN_HEADERS },
		{ QUEUE_BOUNCE_FAILURE, 1, 100, QUEUE_BOUNCE_RETURN_FULL },
		{ QUEUE_BOUNCE_FAILURE, 1, QUEUE_BOUNCE_FULL_BYTES_MAX, QUEUE_BOUNCE_RETURN_FULL },
		{ QUEUE_BOUNCE_FAILURE, 1, QUEUE_BOUNCE_FULL_BYTES_MAX + 1,
		  QUEUE_BOUNCE_RETURN_TOO_BIG },
		{ QUEUE_BOUNCE_DELAY, 1, 100, QUEUE_BOUNCE_RETURN_HEADERS },
		{ QUEUE_BOUNCE_SUCCESS, 1, 100, QUEUE_BOUNCE_RETURN_HEADERS },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(queue_bounce_return_for(cases[i].kind, cases[i].ret_full, cases[i].len),
		             cases[i].want, "case %zu", i);
}

Test(bounce, ret_full_returns_the_whole_message)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ .rcpt = "bob@example.net", .diagnostic = "550 5.1.1 unknown" },
	};
	struct queue_bounce b = sample(rcpts, 1);
	b.headers_len = sizeof(stored) - 1;
	b.returned = QUEUE_BOUNCE_RETURN_FULL;
	b.eight_bit = 1;
	size_t len = 0;
	char *text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\r\n\r\nBelow is a copy of the original message.\r\n"));
	const char *part = strstr(text, "\r\n--0badcafe.1700000000/mx.example.org\r\n"
	                                "Content-Description: Undelivered Message\r\n"
	                                "Content-Type: message/rfc822\r\n"
	                                "Content-Transfer-Encoding: 8bit\r\n\r\n");
	cr_assert_not_null(part, "%s", text);
	cr_assert_not_null(strstr(part, stored));
	cr_assert_eq(strcmp(text + len - strlen("the body never goes back\r\n\r\n"
	                                        "--0badcafe.1700000000/mx.example.org--\r\n"),
	                    "the body never goes back\r\n\r\n"
	                    "--0badcafe.1700000000/mx.example.org--\r\n"), 0);
	free(text);

	b.headers_len = queue_bounce_headers_len(stored, sizeof(stored) - 1);
	b.returned = QUEUE_BOUNCE_RETURN_TOO_BIG;
	text = queue_bounce_format(&b, &len);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\r\n\r\nThe original message is larger than 1048576 "
	                                "bytes: below is a copy of its headers only.\r\n"));
	cr_assert_not_null(strstr(text, "Content-Description: Undelivered Message Headers\r\n"
	                                "Content-Type: text/rfc822-headers\r\n\r\n"));
	cr_assert_null(strstr(text, "message/rfc822"));
	cr_assert_null(strstr(text, "the body never goes back"));
	free(text);
}

Test(bounce, envid_and_orcpt_in_the_report)
{
	static const struct queue_bounce_rcpt rcpts[] = {
		{ "bob@example.net", "550 5.1.1 unknown", 0, "rfc822;Bob+list@example.net",
		  QUEUE_BOUNCE_FAILED, 0 },
		{ "carol@example.net", "550 5.1.1 unknown", 0, "", QUEUE_BOUNCE_FAILED, 0 },
		{ "dave@example.net", "550 5.1.1 unknown", 0, "x-type;d\r\nX-Evil: 1",
		  QUEUE_BOUNCE_FAILED, 0 },
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
		{ "evil@example.net\r\nBcc: victim@example.com", "550 5.1.1 no\r\nX-Injected: 1", 0,
		  NULL, QUEUE_BOUNCE_FAILED, 0 },
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
