/*
 * test/proto/test_smtp_observe.c - proto/smtp_server.c's observer
 * (params.observe), which feeds smtpd-filters(7)'s protocol-client and
 * protocol-server reports: every command line and every reply line in
 * order, AUTH's secrets masked as OpenSMTPD masks them, "." at the end of
 * DATA; the same record for any cut of the input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/smtp_server.h"
#include "test/proto/server_harness.h"

struct seen {
	char s[8192];
	size_t n;
};

static struct seen seen_a, seen_b;

static void
record(void *arg, int reply, const char *line, size_t len)
{
	struct seen *w = arg;

	w->n += (size_t)snprintf(w->s + w->n, sizeof w->s - w->n, "%s %.*s\n", reply ? "S:" : "C:",
	                         (int)len, line);
}

static const char session_in[] =
	"EHLO client.example\r\n"
	"AUTH PLAIN " AUTH_GOOD "\r\n"
	"MAIL FROM:<a@example.org>\r\n"
	"RCPT TO:<b@example.net>\r\n"
	"DATA\r\n"
	"Subject: hi\r\n\r\n..stuffed\r\n.\r\n"
	"QUIT\r\n";

static void
run(struct seen *w, size_t chunk)
{
	struct proto_server_params p = params_default;

	memset(w, 0, sizeof *w);
	p.auth_mechs = "PLAIN LOGIN";
	p.auth_plaintext = 1;
	p.observe = record;
	p.observe_arg = w;
	tx_run(&tx_a, &p, &accept_all, session_in, sizeof session_in - 1, chunk);
}

Test(smtp_observe, commands_and_replies_in_order)
{
	run(&seen_a, 0);
	cr_assert(strstr(seen_a.s, "S: 220 " HOST " ESMTP ringmta\nC: EHLO client.example\n"
	                 "S: 250-" HOST " Hello client.example\n") == seen_a.s, "%s", seen_a.s);
	cr_expect(strstr(seen_a.s, "C: AUTH PLAIN ********\nS: 235 ") != NULL, "%s", seen_a.s);
	cr_expect(strstr(seen_a.s, AUTH_GOOD) == NULL, "the secret never shows");
	cr_expect(strstr(seen_a.s, "C: MAIL FROM:<a@example.org>\nS: 250 ") != NULL, "%s",
	          seen_a.s);
	cr_expect(strstr(seen_a.s, "C: DATA\nS: 354 ") != NULL, "%s", seen_a.s);
	cr_expect(strstr(seen_a.s, "stuffed") == NULL, "body lines are not commands");
	cr_expect(strstr(seen_a.s, "C: .\nS: 250 ") != NULL, "%s", seen_a.s);
	cr_expect(strstr(seen_a.s, "C: QUIT\nS: 221 ") != NULL, "%s", seen_a.s);
	cr_expect(strstr(seen_a.s, "\r") == NULL, "no CR in the lines");
}

Test(smtp_observe, any_cut_gives_the_same_record)
{
	run(&seen_a, 0);
	for (size_t chunk = 1; chunk < 24; chunk++) {
		run(&seen_b, chunk);
		cr_assert_str_eq(seen_b.s, seen_a.s, "chunk %zu", chunk);
	}
}

Test(smtp_observe, sasl_response_masked)
{
	static const char in[] = "EHLO c\r\nAUTH PLAIN\r\n" AUTH_GOOD "\r\nQUIT\r\n";
	struct proto_server_params p = params_default;

	memset(&seen_a, 0, sizeof seen_a);
	p.auth_mechs = "PLAIN LOGIN";
	p.auth_plaintext = 1;
	p.observe = record;
	p.observe_arg = &seen_a;
	tx_run(&tx_a, &p, &accept_all, in, sizeof in - 1, 0);
	cr_expect(strstr(seen_a.s, "C: AUTH PLAIN\nS: 334 \nC: ********\nS: 235 ") != NULL, "%s",
	          seen_a.s);
	cr_expect(strstr(seen_a.s, AUTH_GOOD) == NULL);
}
