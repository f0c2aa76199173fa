/*
 * test/rules/test_aliases.c - rules_aliases_expand() on one config with an
 * alias table, a virtual table, forward-only and expand-only actions, and
 * callbacks standing in for the system (a fixed set of users, .forward
 * texts, :include: files): every kind of entry, chains, +tags, duplicates,
 * loops, the depth limit, error: replies, the virtual lookup order, root's
 * .forward without commands, and what each refusal answers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/rules/helpers.h"

static const char aliases_conf[] =
	"table aliases { postmaster = root, root = bob, \"team\" = \"alice, bob, carol@remote.test\", "
	"dup = \"bob, bob, root, BOB\", loop1 = loop2, loop2 = loop1, alice = \"alice, backup\", "
	"gone = \"error:550 5.1.6 gone away\", soon = \"error:451 later please\", "
	"pipe = \"|/usr/bin/procmail -a x\", archive = /var/mail/archive, inc = \":include:/lists/inc\", "
	"quoted = \":include:/lists/q\", two = \"carol@remote.test, CAROL@remote.test\", "
	"toreject = x@bad.test, d0 = d1, d1 = d2, d2 = d3, d3 = d4, d4 = d5, d5 = d6, d6 = d7, "
	"d7 = d8, d8 = d9, d9 = d10, d10 = d11, d11 = bob, d5x = d6x, d6x = d7x, d7x = d8x, "
	"d8x = d9x, d9x = bob, self = \"\\\\bob\", tagged+eu = alice, nobodyhere = ghost }\n"
	"table virtuals { info@v.test = alice, sales+eu@v.test = bob, sales@v.test = root, "
	"\"@v.test\" = catchall, \"list@v.test\" = \"alice, erin@remote.test\" }\n"
	"action \"local\" maildir alias <aliases>\n"
	"action \"virt\" maildir virtual <virtuals>\n"
	"action \"fwd\" forward-only alias <aliases>\n"
	"action \"exp\" expand-only alias <aliases>\n"
	"action \"plain\" mbox\n"
	"action \"out\" relay\n"
	"action \"lm\" lmtp \"/run/lmtp\" rcpt-to virtual { info@lm.test = alice, "
	"\"@lm.test\" = catchall }\n"
	"action \"lmbare\" lmtp \"/run/lmtp\"\n"
	"match for domain local.test action \"local\"\n"
	"match for domain v.test action \"virt\"\n"
	"match for domain fwd.test action \"fwd\"\n"
	"match for domain exp.test action \"exp\"\n"
	"match for domain plain.test action \"plain\"\n"
	"match for domain remote.test action \"out\"\n"
	"match for domain lm.test action \"lm\"\n"
	"match for domain lmbare.test action \"lmbare\"\n"
	"match for domain bad.test reject\n";

static struct rules_config *conf;
static unsigned forward_reads;

static void
aliases_setup(void)
{
	char msg[512];

	conf = helper_load(aliases_conf, msg, sizeof msg);
	cr_assert_not_null(conf, "%s", msg);
	forward_reads = 0;
}

static void
aliases_teardown(void)
{
	rules_free(conf);
}

static enum rules_verdict
mock_match(void *arg, const char *rcpt, const struct rules_action **action, unsigned *line)
{
	struct rules_query q = { .local = 1, .mail_from = "sender@remote.test", .rcpt = rcpt };

	return rules_match(arg, &q, action, line);
}

static int
mock_user(void *arg, const struct rules_action *a, const char *user)
{
	static const char *const users[] = { "bob", "alice", "root", "carol", "catchall",
	                                     "backup", "dave", "erin", NULL };
	(void)arg;
	(void)a;
	if (strcmp(user, "tempuser") == 0)
		return -1;
	for (unsigned i = 0; users[i]; i++)
		if (strcmp(users[i], user) == 0)
			return 1;
	return 0;
}

static int
mock_include(void *arg, const char *path, char **text)
{
	(void)arg;
	if (strcmp(path, "/lists/inc") == 0)
		*text = strdup("alice\n# the rest\nbob, dave # and dave\n:include:/lists/inc\n");
	else if (strcmp(path, "/lists/q") == 0)
		*text = strdup("\"|/bin/echo a, b\", alice\n");
	else
		return -1;
	return 0;
}

static int
mock_forward(void *arg, const struct rules_action *a, const char *user, char **text)
{
	(void)arg;
	(void)a;
	forward_reads++;
	if (strcmp(user, "dave") == 0)
		*text = strdup("dave@remote.test, \\dave\n");
	else if (strcmp(user, "erin") == 0)
		*text = strdup("erin@remote.test\n");
	else if (strcmp(user, "root") == 0)
		*text = strdup("|/bin/evil, :include:/lists/inc, /tmp/rootfile\n");
	else if (strcmp(user, "carol") == 0)
		*text = strdup("# nothing but a comment\n");
	else
		return 0;
	return 1;
}

static const struct rules_alias_ops mock_ops = {
	.match = mock_match, .user_exists = mock_user,
	.read_include = mock_include, .read_forward = mock_forward,
};

/* Expand rcpt as RCPT TO would: match it, then expand; the deliveries as
 * "kind:action:user:exec:address" lines sorted in order given, or the
 * refusal as "CODE STATUS TEXT". */
static char *
expand(const char *rcpt)
{
	struct rules_alias_ops ops = mock_ops;
	struct rules_query q = { .local = 1, .mail_from = "sender@remote.test", .rcpt = rcpt };
	const struct rules_action *a = NULL;
	unsigned line = 0;
	struct rules_alias_result res;
	static const char *const kinds[] = { "address", "user", "file", "command" };
	char *out = calloc(1, 8192);
	size_t n = 0;

	ops.arg = conf;
	cr_assert_eq(rules_match(conf, &q, &a, &line), RULES_ACCEPT, "%s not accepted", rcpt);
	if (rules_aliases_expand(conf, rcpt, a, &ops, &res) < 0) {
		snprintf(out, 8192, "%u %s %s", res.code, res.status, res.text);
		cr_expect_neq(res.why[0], '\0', "a refusal says why for the log");
		return out;
	}
	for (unsigned i = 0; i < res.ndests; i++) {
		const struct rules_dest *d = &res.dests[i];
		n += (size_t)snprintf(out + n, 8192 - n, "%s%s:%s:%s:%s:%s", i ? "\n" : "",
		                      kinds[d->kind], d->action->name, d->user, d->exec, d->address);
	}
	rules_alias_result_free(&res);
	return out;
}

static void
expect_expansion(const char *rcpt, const char *want)
{
	char *got = expand(rcpt);
	cr_expect_str_eq(got, want, "%s expands to\n%s\nnot\n%s", rcpt, got, want);
	free(got);
}

TestSuite(aliases, .init = aliases_setup, .fini = aliases_teardown);

Test(aliases, a_system_user_without_alias_is_delivered_to_its_mailbox)
{
	expect_expansion("bob@local.test", "user:local:bob::bob@local.test");
	expect_expansion("Bob+News@local.test", "user:local:bob::Bob+News@local.test");
}

Test(aliases, chains_lists_and_addresses_expand_through_the_rules)
{
	expect_expansion("postmaster@local.test", "user:local:bob::postmaster@local.test");
	/* breadth first: alice is itself an alias (alice, backup) */
	expect_expansion("team@local.test",
	                 "user:local:bob::team@local.test\n"
	                 "address:out:::carol@remote.test\n"
	                 "user:local:alice::team@local.test\n"
	                 "user:local:backup::team@local.test");
}

Test(aliases, the_tagged_key_is_tried_before_the_plain_one)
{
	expect_expansion("tagged+eu@local.test", "user:local:alice::tagged+eu@local.test\n"
	                                         "user:local:backup::tagged+eu@local.test");
	expect_expansion("team+x@local.test",
	                 "user:local:bob::team+x@local.test\n"
	                 "address:out:::carol@remote.test\n"
	                 "user:local:alice::team+x@local.test\n"
	                 "user:local:backup::team+x@local.test");
}

Test(aliases, duplicates_are_delivered_once)
{
	expect_expansion("dup@local.test", "user:local:bob::dup@local.test");
	expect_expansion("two@local.test", "address:out:::carol@remote.test");
}

Test(aliases, a_user_listing_itself_gets_its_own_mailbox_too)
{
	expect_expansion("alice@local.test", "user:local:alice::alice@local.test\n"
	                                     "user:local:backup::alice@local.test");
	expect_expansion("self@local.test", "user:local:bob::self@local.test");
}

Test(aliases, commands_and_files_from_an_alias_run_as_the_action_or_daemon_user)
{
	expect_expansion("pipe@local.test", "command:local::/usr/bin/procmail -a x:pipe@local.test");
	expect_expansion("archive@local.test", "file:local::/var/mail/archive:archive@local.test");
	expect_expansion("quoted@local.test", "command:local::/bin/echo a, b:quoted@local.test\n"
	                                      "user:local:alice::quoted@local.test\n"
	                                      "user:local:backup::quoted@local.test");
}

Test(aliases, include_files_and_forward_files_are_expanded)
{
	/* :include: inside an included file is not followed */
	expect_expansion("inc@local.test",
	                 "user:local:bob::inc@local.test\n"
	                 "user:local:alice::inc@local.test\n"
	                 "user:local:backup::inc@local.test\n"
	                 "address:out:::dave@remote.test\n"
	                 "user:local:dave::inc@local.test");
	/* a .forward with nothing in it: the mailbox */
	expect_expansion("carol@local.test", "user:local:carol::carol@local.test");
}

Test(aliases, roots_forward_may_not_run_commands_or_include_files)
{
	expect_expansion("root@plain.test", "file:plain:root:/tmp/rootfile:root@plain.test");
}

Test(aliases, unknown_users_loops_and_depth_are_refused)
{
	expect_expansion("nobody@local.test", "550 5.1.1 Invalid recipient: <nobody@local.test>");
	expect_expansion("nobodyhere@local.test",
	                 "550 5.1.1 Invalid recipient: <nobodyhere@local.test>");
	expect_expansion("loop1@local.test", "550 5.1.1 Invalid recipient: <loop1@local.test>");
	expect_expansion("d0@local.test", "550 5.4.6 Mailing list expansion problem");
	expect_expansion("d5x@local.test", "user:local:bob::d5x@local.test");
	expect_expansion("tempuser@local.test", "451 4.3.0 Temporary failure, try again later");
}

Test(aliases, error_entries_answer_with_their_code)
{
	expect_expansion("gone@local.test", "550 5.1.6 gone away");
	expect_expansion("soon@local.test", "451 4.0.0 later please");
}

Test(aliases, an_expanded_address_the_rules_refuse_refuses_the_recipient)
{
	expect_expansion("toreject@local.test",
	                 "550 5.1.1 Invalid recipient: <toreject@local.test>");
}

Test(aliases, virtual_lookups_go_from_the_most_to_the_least_specific_key)
{
	/* users found in a virtual table are looked up in it again, not in
	 * the alias table (alice's "alice, backup" is not used) */
	expect_expansion("info@v.test", "user:virt:alice::info@v.test");
	expect_expansion("info+x@v.test", "user:virt:alice::info+x@v.test");
	expect_expansion("sales+eu@v.test", "user:virt:bob::sales+eu@v.test");
	/* sales+us@ falls back to sales@ = root, whose .forward names a file */
	expect_expansion("sales+us@v.test", "file:virt:root:/tmp/rootfile:sales+us@v.test");
	expect_expansion("anyone@v.test", "user:virt:catchall::anyone@v.test");
	expect_expansion("list@v.test", "user:virt:alice::list@v.test\n"
	                                "address:out:::erin@remote.test");
}

Test(aliases, forward_only_accepts_only_what_leaves_the_machine)
{
	expect_expansion("erin@fwd.test", "address:out:::erin@remote.test");
	expect_expansion("bob@fwd.test", "550 5.1.1 Invalid recipient: <bob@fwd.test>");
	expect_expansion("pipe@fwd.test", "550 5.1.1 Invalid recipient: <pipe@fwd.test>");
}

Test(aliases, expand_only_needs_an_alias_or_forward_delivery)
{
	expect_expansion("pipe@exp.test", "command:exp::/usr/bin/procmail -a x:pipe@exp.test");
	expect_expansion("bob@exp.test", "550 5.1.1 Invalid recipient: <bob@exp.test>");
}

Test(aliases, relay_actions_are_not_expanded)
{
	expect_expansion("carol@remote.test", "address:out:::carol@remote.test");
	cr_expect_eq(forward_reads, 0);
}

/* An lmtp action with a table expands like a local one; without, the
 * LMTP server answers for each address. */
Test(aliases, lmtp_actions_expand_only_with_a_table)
{
	expect_expansion("info@lm.test", "user:lm:alice::info@lm.test");
	expect_expansion("nobody-here@lm.test", "user:lm:catchall::nobody-here@lm.test");
	expect_expansion("Anyone+x@lmbare.test", "address:lmbare:::Anyone+x@lmbare.test");
	cr_expect_eq(forward_reads, 2);   /* alice's and catchall's */
}
