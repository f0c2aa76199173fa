/*
 * test/ctl/test_sendmail.c - the sendmail persona as its callers drive it:
 * the command lines of cron, mutt, git send-email and PHP, -t with To, Cc
 * and Bcc (Bcc gone from the message), RFC 5322 address lists, and the
 * headers added when missing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/sendmail.h"

#define ARGS_MAX 16

struct args_case {
	const char *name;
	const char *argv[ARGS_MAX];     /* NULL-terminated, argv[0] included */
	int ok;
	enum sendmail_mode mode;
	int extract, dot_ok;
	const char *sender;              /* NULL: not given */
	const char *full_name;
	const char *rcpts;               /* space-separated, "" for none */
};

static const struct args_case args_cases[] = {
	{ "mutt", { "sendmail", "-oem", "-oi", "-f", "a@b", "--", "rcpt@example.org", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 1, "a@b", NULL, "rcpt@example.org" },
	{ "php mail()", { "sendmail", "-t", "-i", NULL },
	  1, SENDMAIL_MODE_DELIVER, 1, 1, NULL, NULL, "" },
	{ "cron (Debian)", { "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 1, NULL, "CronDaemon", "root" },
	{ "cronie", { "sendmail", "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root", NULL },
	  1, SENDMAIL_MODE_DELIVER, 1, 1, "root", "CronDaemon", "" },
	{ "git send-email", { "sendmail", "-i", "a@x.org", "b@y.org", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 1, NULL, NULL, "a@x.org b@y.org" },
	{ "git send-email with -f", { "sendmail", "-i", "-f", "me@x.org", "a@x.org", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 1, "me@x.org", NULL, "a@x.org" },
	{ "clustered -ti", { "sendmail", "-ti", NULL },
	  1, SENDMAIL_MODE_DELIVER, 1, 1, NULL, NULL, "" },
	{ "attached -fsender -r", { "sendmail", "-fx@y", "-r", "z@w", "u", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, "z@w", NULL, "u" },
	{ "empty sender -f ''", { "sendmail", "-f", "", "u", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, "", NULL, "u" },
	{ "options after recipients", { "sendmail", "u", "-i", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 1, NULL, NULL, "u" },
	{ "-- keeps a dash address", { "sendmail", "--", "-odd@x", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, NULL, NULL, "-odd@x" },
	{ "DSN options", { "sendmail", "-N", "success,failure", "-R", "hdrs", "-Venv1", "u", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, NULL, NULL, "u" },
	{ "-N never", { "sendmail", "-Nnever", "-RFULL", "u", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, NULL, NULL, "u" },
	{ "-N never with another word", { "sendmail", "-N", "never,success", "u", NULL },
	  0, 0, 0, 0, NULL, NULL, "" },
	{ "-N unknown word", { "sendmail", "-N", "sucess", "u", NULL }, 0, 0, 0, 0, NULL, NULL, "" },
	{ "-N twice the same", { "sendmail", "-N", "delay,delay", "u", NULL },
	  0, 0, 0, 0, NULL, NULL, "" },
	{ "-R neither", { "sendmail", "-R", "body", "u", NULL }, 0, 0, 0, 0, NULL, NULL, "" },
	{ "-V with a control byte", { "sendmail", "-V", "a\tb", "u", NULL },
	  0, 0, 0, 0, NULL, NULL, "" },
	{ "-v -odb -oQ/x", { "sendmail", "-v", "-odb", "-oQ/x", "u", NULL },
	  1, SENDMAIL_MODE_DELIVER, 0, 0, NULL, NULL, "u" },
	{ "-bs (Symfony)", { "sendmail", "-bs", NULL }, 1, SENDMAIL_MODE_SMTP, 0, 0, NULL, NULL, "" },
	{ "-bp", { "sendmail", "-bp", NULL }, 1, SENDMAIL_MODE_MAILQ, 0, 0, NULL, NULL, "" },
	{ "-bi", { "sendmail", "-bi", NULL }, 1, SENDMAIL_MODE_ALIASES, 0, 0, NULL, NULL, "" },
	{ "-bm", { "sendmail", "-bm", "u", NULL }, 1, SENDMAIL_MODE_DELIVER, 0, 0, NULL, NULL, "u" },
	{ "-q", { "sendmail", "-q", NULL }, 1, SENDMAIL_MODE_RUNQ, 0, 0, NULL, NULL, "" },
	{ "-q30m", { "sendmail", "-q30m", NULL }, 1, SENDMAIL_MODE_RUNQ, 0, 0, NULL, NULL, "" },
	{ "unknown option", { "sendmail", "-Z", "u", NULL }, 0, 0, 0, 0, NULL, NULL, "" },
	{ "-f without its argument", { "sendmail", "-f", NULL }, 0, 0, 0, 0, NULL, NULL, "" },
	{ "-bd is not ours", { "sendmail", "-bd", NULL }, 0, 0, 0, 0, NULL, NULL, "" },
};

Test(sendmail, args_table)
{
	for (size_t i = 0; i < sizeof args_cases / sizeof args_cases[0]; i++) {
		const struct args_case *c = &args_cases[i];
		char *argv[ARGS_MAX], *rcpts[ARGS_MAX], err[256] = "";
		int argc = 0;
		while (c->argv[argc] != NULL) {
			argv[argc] = (char *)c->argv[argc];
			argc++;
		}
		struct sendmail_opts o;
		int r = sendmail_parse_args(argc, argv, &o, rcpts, err, sizeof err);
		cr_expect_eq(r == 0, c->ok, "%s: got %d (%s), want %s", c->name, r, err,
		             c->ok ? "ok" : "an error");
		if (r != 0 || !c->ok)
			continue;
		cr_expect_eq(o.mode, c->mode, "%s: mode %d, want %d", c->name, o.mode, c->mode);
		cr_expect_eq(o.extract, c->extract, "%s: -t", c->name);
		cr_expect_eq(o.dot_ok, c->dot_ok, "%s: -i", c->name);
		if (c->sender == NULL)
			cr_expect_null(o.sender, "%s: sender %s", c->name, o.sender);
		else
			cr_expect(o.sender && strcmp(o.sender, c->sender) == 0, "%s: sender got %s, want %s",
			          c->name, o.sender ? o.sender : "(none)", c->sender);
		if (c->full_name)
			cr_expect(o.full_name && strcmp(o.full_name, c->full_name) == 0, "%s: -F", c->name);
		char got[256] = "";
		for (unsigned k = 0; k < o.nrcpts; k++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", o.rcpts[k]);
		cr_expect_str_eq(got, c->rcpts, "%s: recipients got \"%s\", want \"%s\"", c->name, got,
		                 c->rcpts);
	}
}

struct addr_case {
	const char *value;
	const char *want;    /* space-separated */
};

static const struct addr_case addr_cases[] = {
	{ "bob@example.org", "bob@example.org" },
	{ " Bob <bob@example.org>, carol@example.org", "bob@example.org carol@example.org" },
	{ "\"Doe, John\" <john@x.org>, jane@x.org (Jane, Doe)", "john@x.org jane@x.org" },
	{ "friends: a@x.org, b@x.org;, c@x.org", "a@x.org b@x.org c@x.org" },
	{ "undisclosed-recipients:;", "" },
	{ "a@x.org,\r\n\tb@x.org", "a@x.org b@x.org" },
	{ "<@relay.example:user@x.org>", "user@x.org" },
	{ "\"odd local\"@x.org", "\"odd local\"@x.org" },
	{ "a@x.org, a@x.org", "a@x.org" },
	{ "(only a comment)", "" },
	{ "Name (nested (comment)) <n@x.org>", "n@x.org" },
	{ "", "" },
};

Test(sendmail, address_list_table)
{
	for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
		const struct addr_case *c = &addr_cases[i];
		char **list = NULL, got[512] = "";
		unsigned n = 0;
		cr_assert_eq(sendmail_addr_list(c->value, strlen(c->value), &list, &n), 0);
		for (unsigned k = 0; k < n; k++) {
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", list[k]);
			free(list[k]);
		}
		free(list);
		cr_expect_str_eq(got, c->want, "\"%s\": got \"%s\", want \"%s\"", c->value, got, c->want);
	}
}

#define DATE "Mon, 02 Jan 2006 15:04:05 +0000"
#define MSGID "<1.2.3@host.example>"
#define ADDED "From: \"Cron Daemon\" <root@host.example>\r\nDate: " DATE "\r\nMessage-ID: " MSGID "\r\n"

struct build_case {
	const char *name;
	int dot_ends, extract;
	const char *in;
	const char *want;
	const char *rcpts;
};

static const struct build_case build_cases[] = {
	{ "cron: bare body, every header added", 1, 0, "Subject: backup\n\nok\n",
	  "Subject: backup\r\n" ADDED "\r\nok\r\n", "" },
	{ "no header at all", 0, 0, "just text\nline two\n",
	  ADDED "\r\njust text\r\nline two\r\n", "" },
	{ "-t: To, Cc and Bcc; Bcc removed", 0, 1,
	  "From: me@x.org\nTo: a@x.org, B <b@x.org>\nCc: c@x.org\nBcc: secret@x.org,\n  hidden@x.org\n"
	  "Date: " DATE "\nMessage-ID: <m@x>\nSubject: s\n\nbody\n",
	  "From: me@x.org\r\nTo: a@x.org, B <b@x.org>\r\nCc: c@x.org\r\n"
	  "Date: " DATE "\r\nMessage-ID: <m@x>\r\nSubject: s\r\n\r\nbody\r\n",
	  "a@x.org b@x.org c@x.org secret@x.org hidden@x.org" },
	{ "Bcc removed without -t too", 0, 0, "To: a@x.org\nBCC: s@x.org\n\nb\n",
	  "To: a@x.org\r\n" ADDED "\r\nb\r\n", "" },
	{ "header names are case-insensitive", 0, 1,
	  "to: a@x.org\nFROM: z@x.org\ndate: " DATE "\nmessage-id: <q@x>\n\nb\n",
	  "to: a@x.org\r\nFROM: z@x.org\r\ndate: " DATE "\r\nmessage-id: <q@x>\r\n\r\nb\r\n", "a@x.org" },
	{ "a lone dot ends input without -i", 1, 0, "Subject: s\n\none\n.\nnever\n",
	  "Subject: s\r\n" ADDED "\r\none\r\n", "" },
	{ "with -i a lone dot is text", 0, 0, "Subject: s\n\none\n.\nstill\n",
	  "Subject: s\r\n" ADDED "\r\none\r\n.\r\nstill\r\n", "" },
	{ "CRLF input stays CRLF", 0, 0, "Subject: s\r\n\r\nbody\r\n",
	  "Subject: s\r\n" ADDED "\r\nbody\r\n", "" },
	{ "mbox From_ line dropped", 0, 0, "From someone Mon Jan 1 00:00:00 2024\nSubject: s\n\nb\n",
	  "Subject: s\r\n" ADDED "\r\nb\r\n", "" },
	{ "header block ended by a non-header line", 0, 0, "Subject: s\nnot a header\n",
	  "Subject: s\r\n" ADDED "\r\nnot a header\r\n", "" },
	{ "empty input", 0, 0, "", ADDED "\r\n", "" },
	{ "leading dots are not stuffed", 0, 0, "Subject: s\n\n..two\n",
	  "Subject: s\r\n" ADDED "\r\n..two\r\n", "" },
};

Test(sendmail, build_table)
{
	for (size_t i = 0; i < sizeof build_cases / sizeof build_cases[0]; i++) {
		const struct build_case *c = &build_cases[i];
		struct sendmail_build b = { .dot_ends = c->dot_ends, .extract = c->extract,
		                            .from_addr = "root@host.example", .full_name = "Cron Daemon",
		                            .date = DATE, .message_id = MSGID };
		struct sendmail_msg m;
		cr_assert_eq(sendmail_build(c->in, strlen(c->in), &b, &m), 0, "%s", c->name);
		cr_expect(m.len == strlen(c->want) && memcmp(m.data, c->want, m.len) == 0,
		          "%s:\ngot  \"%.*s\"\nwant \"%s\"", c->name, (int)m.len, m.data, c->want);
		char got[512] = "";
		for (unsigned k = 0; k < m.nrcpts; k++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", m.rcpts[k]);
		cr_expect_str_eq(got, c->rcpts, "%s: recipients got \"%s\", want \"%s\"", c->name, got,
		                 c->rcpts);
		sendmail_msg_free(&m);
	}
}

Test(sendmail, from_without_full_name_and_quoting)
{
	struct sendmail_msg m;
	struct sendmail_build b = { .from_addr = "u@h", .full_name = "", .date = DATE,
	                            .message_id = MSGID };
	cr_assert_eq(sendmail_build("x\n", 2, &b, &m), 0);
	cr_expect(strncmp(m.data, "From: u@h\r\n", 11) == 0, "got %.*s", (int)m.len, m.data);
	sendmail_msg_free(&m);
	b.full_name = "A \"B\" \\C";
	cr_assert_eq(sendmail_build("x\n", 2, &b, &m), 0);
	const char *want = "From: \"A \\\"B\\\" \\\\C\" <u@h>\r\n";
	cr_expect(strncmp(m.data, want, strlen(want)) == 0, "got %.*s", (int)m.len, m.data);
	sendmail_msg_free(&m);
}

Test(sendmail, too_many_recipients_in_headers)
{
	size_t cap = (SENDMAIL_RCPTS_MAX + 10) * 16 + 64, n = 0;
	char *in = malloc(cap);
	n += (size_t)snprintf(in + n, cap - n, "To: ");
	for (unsigned i = 0; i < SENDMAIL_RCPTS_MAX + 1; i++)
		n += (size_t)snprintf(in + n, cap - n, "u%u@x.org,", i);
	n += (size_t)snprintf(in + n, cap - n, "\n\nb\n");
	struct sendmail_build b = { .extract = 1, .from_addr = "u@h", .date = DATE,
	                            .message_id = MSGID };
	struct sendmail_msg m;
	cr_expect_eq(sendmail_build(in, n, &b, &m), -2);
	free(in);
}
