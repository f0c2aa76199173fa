/*
 * test/rules/test_expand.c - rules_expand(): maildir path templates with ~,
 * %{...} tokens, modifiers and slices, escaping of address parts, and every
 * way a template or a result can be refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

static const struct rules_expand_ctx ectx = {
	.sender = "Alice@Sender.example",
	.rcpt = "Bob+Lists@Example.ORG",
	.dest = "bob@example.org",
	.user_name = "bob",
	.user_home = "/home/bob",
};

static const struct {
	const char *tmpl, *want;   /* want NULL: refused */
} expand_cases[] = {
	{ "~/Maildir", "/home/bob/Maildir" },
	{ "~", "/home/bob" },
	{ "/var/mail/%{user.username}", "/var/mail/bob" },
	{ "%{user.directory}/Maildir", "/home/bob/Maildir" },
	{ "/m/%{rcpt.user}", "/m/Bob+Lists" },
	{ "/m/%{rcpt.user:lowercase}", "/m/bob+lists" },
	{ "/m/%{rcpt.user:strip}", "/m/Bob" },
	{ "/m/%{rcpt.user:lowercase|strip}", "/m/bob" },
	{ "/m/%{rcpt:strip}", "/m/Bob@Example.ORG" },
	{ "/m/%{rcpt.domain:uppercase}/%{dest.user}", "/m/EXAMPLE.ORG/bob" },
	{ "/m/%{dest.domain}/%{dest}", "/m/example.org/bob@example.org" },
	{ "/m/%{rcpt.user[0]}", "/m/B" },
	{ "/m/%{rcpt.user[1:2]}", "/m/ob" },
	{ "/m/%{rcpt.user[-5:]}", "/m/Lists" },
	{ "/m/%{rcpt.user[0:1]:lowercase}", "/m/bo" },
	{ "/m/%{RCPT.USER}", "/m/Bob+Lists" },
	{ "/m/100%%/%{user.username}", "/m/100%/bob" },
	{ "/plain/path", "/plain/path" },
	{ "", "" },
	{ "/m/%{sender.domain:lowercase}/%{sender.user}", "/m/sender.example/Alice" },
	{ "/m/%{sender}", "/m/Alice@Sender.example" },
	{ "/m/%{mbox.from}", "/m/Alice@Sender.example" },
	{ "/m/%{rcpt.user:raw}", "/m/Bob+Lists" },
	/* refused */
	{ "/m/%{rcpt.nope}", NULL },
	{ "/m/%{rcpt.user:sideways}", NULL },
	{ "/m/%{rcpt.user", NULL },
	{ "/m/%{rcpt.user[]}", NULL },
	{ "/m/%{rcpt.user[x]}", NULL },
	{ "/m/%{rcpt.user[50]}", NULL },
	{ "/m/%{rcpt.user[3:1]}", NULL },
	{ "~bob/Maildir", NULL },
	{ "/m/%{mda}", NULL },        /* only a wrapper has a command to put there */
};

Test(expand, templates)
{
	char out[512];
	size_t i;
	int r;

	for (i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
		r = rules_expand(expand_cases[i].tmpl, &ectx, out, sizeof out);
		if (expand_cases[i].want == NULL) {
			cr_expect_eq(r, -1, "%s: got \"%s\", want refusal", expand_cases[i].tmpl, out);
			continue;
		}
		cr_expect_eq(r, 0, "%s: refused, want \"%s\"", expand_cases[i].tmpl,
		             expand_cases[i].want);
		if (r == 0)
			cr_expect_str_eq(out, expand_cases[i].want, "%s: got \"%s\", want \"%s\"",
			                 expand_cases[i].tmpl, out, expand_cases[i].want);
	}
}

Test(expand, strip_uses_the_configured_sub_address_delimiter)
{
	struct rules_expand_ctx x = ectx;
	char out[256];
	x.rcpt = "Bob-Lists+x@Example.ORG";
	x.sub_addr_delim = '-';
	cr_assert_eq(rules_expand("/m/%{rcpt.user:strip}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/m/Bob");
	cr_assert_eq(rules_expand("/m/%{rcpt:strip}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/m/Bob@Example.ORG");
	x.sub_addr_delim = 0;          /* unset: '+' */
	cr_assert_eq(rules_expand("/m/%{rcpt.user:strip}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/m/Bob-Lists");
}

Test(expand, address_parts_cannot_leave_the_folder)
{
	static const struct { const char *rcpt, *want; } cases[] = {
		{ "../../etc@x.example", "/m/..:..:etc" },
		{ "a/b@x.example", "/m/a:b" },
		{ "~root@x.example", "/m/:root" },
		{ "..@x.example", NULL },
		{ ".@x.example", NULL },
	};
	struct rules_expand_ctx x = ectx;
	char out[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		x.rcpt = cases[i].rcpt;
		r = rules_expand("/m/%{rcpt.user}", &x, out, sizeof out);
		if (cases[i].want == NULL) {
			cr_expect_eq(r, -1, "%s: got \"%s\", want refusal", cases[i].rcpt, out);
		} else {
			cr_expect_eq(r, 0, "%s refused", cases[i].rcpt);
			cr_expect_str_eq(out, cases[i].want, "%s: got %s", cases[i].rcpt, out);
		}
	}
}

Test(expand, result_must_fit)
{
	char out[18];

	cr_expect_eq(rules_expand("~/Maildir", &ectx, out, 18), 0);
	cr_expect_str_eq(out, "/home/bob/Maildir");
	cr_expect_eq(rules_expand("~/Maildir", &ectx, out, 17), -1);
	cr_expect_eq(rules_expand("/x/%{rcpt}", &ectx, out, sizeof out), -1);
	cr_expect_eq(rules_expand("x", &ectx, out, 0), -1);
}

Test(expand, missing_context_is_refused)
{
	struct rules_expand_ctx x = { .rcpt = "a@b.example" };
	char out[64];

	cr_expect_eq(rules_expand("~/Maildir", &x, out, sizeof out), -1);
	cr_expect_eq(rules_expand("/%{user.username}", &x, out, sizeof out), -1);
	cr_expect_eq(rules_expand("/%{dest.user}", &x, out, sizeof out), -1);
	cr_expect_eq(rules_expand("/%{rcpt.user}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/a");
}

/* An mda command line: substituted address bytes that a shell would read
 * as syntax become ':'; the template's own text is left alone. */
Test(expand, for_shell_neutralises_metacharacters)
{
	static const struct {
		const char *rcpt, *tmpl, *want;
	} cases[] = {
		{ "a;b$(c)@x.org", "/bin/deliver -u %{rcpt.user}", "/bin/deliver -u a:b::c:" },
		{ "\"a b\"@x.org", "/bin/d '%{rcpt.user}'", "/bin/d ':a:b:'" },
		{ "x`id`@e.org", "d %{rcpt} > /dev/null", "d x:id:@e.org > /dev/null" },
		{ "ok.user+tag@e.org", "d %{rcpt}", "d ok.user+tag@e.org" },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rules_expand_ctx x = { .rcpt = cases[i].rcpt, .dest = cases[i].rcpt,
		                              .user_name = "u", .user_home = "/home/u",
		                              .for_shell = 1 };
		char out[256];
		cr_assert_eq(rules_expand(cases[i].tmpl, &x, out, sizeof out), 0, "case %u", i);
		cr_expect_str_eq(out, cases[i].want, "case %u", i);
	}
}

/* %{mbox.from} is MAILER-DAEMON for the null sender; :raw keeps the
 * characters a path would lose, but never in a shell command. */
Test(expand, null_sender_and_raw)
{
	struct rules_expand_ctx x = { .sender = "", .rcpt = "a/b@x.org", .dest = "a/b@x.org",
	                              .user_name = "u", .user_home = "/home/u" };
	char out[256];
	cr_assert_eq(rules_expand("%{mbox.from}|%{sender}|", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "MAILER-DAEMON||");
	cr_assert_eq(rules_expand("/m/%{rcpt.user}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/m/a:b");
	cr_assert_eq(rules_expand("/m/%{rcpt.user:raw}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "/m/a/b");
	x.rcpt = "a;b@x.org";
	x.for_shell = 1;
	cr_assert_eq(rules_expand("d %{rcpt.user:raw}", &x, out, sizeof out), 0);
	cr_expect_str_eq(out, "d a:b");
}

/* An mda wrapper: %{mda} is the command as it was expanded, put in as it is. */
Test(expand, wrapper_takes_the_command)
{
	struct rules_expand_ctx x = { .sender = "s@x.org", .rcpt = "bob@x.org", .dest = "bob@x.org",
	                              .user_name = "bob", .user_home = "/home/bob",
	                              .mda = "/usr/bin/procmail -f 's@x.org'", .for_shell = 1 };
	char out[256];
	cr_assert_eq(rules_expand("/usr/bin/spamc -e %{mda} -u %{user.username}", &x, out,
	                          sizeof out), 0);
	cr_expect_str_eq(out, "/usr/bin/spamc -e /usr/bin/procmail -f 's@x.org' -u bob");
}
