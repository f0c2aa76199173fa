/*
 * test/rules/test_convert.c - rules_convert_string(): configurations in the
 * grammar before OpenSMTPD 6.4, as guides print them, and the exact modern
 * text each becomes; statements kept as "# not converted" with their place;
 * modern files unchanged; lexer errors; the converted texts loading; and the
 * load error that points an old file to "smtpd --convert".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/convert.h"
#include "test/rules/helpers.h"

#define TESTDATA "/work/shared/testdata/smtpd-conf/"

struct conv_case {
	const char *name, *old, *modern;
};

static const struct conv_case converted[] = {
	{ "guide: aliases, a domain to maildir, relay for local senders",
	  "table aliases file:/etc/mail/aliases\n"
	  "listen on lo0\n"
	  "accept from any for domain \"example.org\" alias <aliases> deliver to maildir\n"
	  "accept for local alias <aliases> deliver to mbox\n"
	  "accept for any relay\n",
	  "table aliases file:/etc/mail/aliases\n"
	  "listen on lo0\n"
	  "action \"local_maildir\" maildir alias <aliases>\n"
	  "action \"local_mbox\" mbox alias <aliases>\n"
	  "action \"relay\" relay\n"
	  "\n"
	  "match from any for domain \"example.org\" action \"local_maildir\"\n"
	  "match for local action \"local_mbox\"\n"
	  "match for any action \"relay\"\n" },
	{ "rules sharing an action share one; different ones get a number",
	  "accept from local for local deliver to mbox\n"
	  "accept from any for domain example.org deliver to mbox\n"
	  "accept from any for domain example.net deliver to maildir \"/var/vmail/%{rcpt.user}\"\n"
	  "accept from any for domain example.com deliver to maildir\n",
	  "action \"local_mbox\" mbox\n"
	  "action \"local_maildir\" maildir \"/var/vmail/%{rcpt.user}\"\n"
	  "action \"local_maildir_2\" maildir\n"
	  "\n"
	  "match from local for local action \"local_mbox\"\n"
	  "match from any for domain example.org action \"local_mbox\"\n"
	  "match from any for domain example.net action \"local_maildir\"\n"
	  "match from any for domain example.com action \"local_maildir_2\"\n" },
	{ "smart host with authentication, 5.x map syntax, global options",
	  "map \"secrets\" { source db \"/etc/mail/secrets.db\" }\n"
	  "map aliases source plain \"/etc/mail/aliases\"\n"
	  "expire 4d\n"
	  "max-message-size 50M\n"
	  "bounce-warn { 1h, 6h, 2d }\n"
	  "limit mta inet4\n"
	  "accept for local alias aliases deliver to mbox\n"
	  "accept from local for any relay via tls+auth://bob@smtp.example.com auth <secrets>\n",
	  "table secrets db:/etc/mail/secrets.db\n"
	  "table aliases file:/etc/mail/aliases\n"
	  "queue ttl 4d\n"
	  "smtp max-message-size 50M\n"
	  "bounce warn-interval 1h, 6h, 2d\n"
	  "mta limit inet4\n"
	  "action \"local_mbox\" mbox alias <aliases>\n"
	  "action \"relay_via_smarthost\" relay host smtp+tls://bob@smtp.example.com "
	  "auth <secrets>\n"
	  "\n"
	  "match for local action \"local_mbox\"\n"
	  "match from local for any action \"relay_via_smarthost\"\n" },
	{ "relay options: as, source, hostname, pki, tls with and without verify, backup",
	  "accept from any for any relay as \"bounces@example.org\" source <addrs> "
	  "hostname mx.example.org pki mx tls\n"
	  "accept from local for any relay tls verify\n"
	  "accept from any for domain <backups> relay backup mx1.example.org\n"
	  "accept from local for any relay via smtps://mail.example.net hostnames <names> "
	  "expire 2h\n",
	  "action \"relay\" relay mail-from \"bounces@example.org\" src <addrs> "
	  "helo mx.example.org pki mx tls no-verify\n"
	  "action \"relay_2\" relay tls\n"
	  "action \"relay_backup\" relay backup mx mx1.example.org\n"
	  "action \"relay_via_smarthost\" relay host smtps://mail.example.net helo-src <names> "
	  "ttl 2h\n"
	  "\n"
	  "match from any for any action \"relay\"\n"
	  "match from local for any action \"relay_2\"\n"
	  "match from any for domain <backups> action \"relay_backup\"\n"
	  "match from local for any action \"relay_via_smarthost\"\n" },
	{ "tagged, negation, sender and recipient, virtual, lmtp, mda, forward-only, reject",
	  "listen on eth0 port 25 tag IN\n"
	  "accept tagged IN from any for domain <vdomains> virtual <vusers> "
	  "deliver to lmtp \"/run/dovecot/lmtp\" rcpt-to\n"
	  "accept from ! source { 10.0.0.0/8, 192.168.0.0/16 } sender \"@example.org\" "
	  "for any relay\n"
	  "accept from local for local recipient <lists> deliver to mda \"/usr/bin/procmail -f -\"\n"
	  "accept from any for domain example.org alias <aliases> forward-only\n"
	  "reject from any for any\n",
	  "listen on eth0 port 25 tag IN\n"
	  "action \"local_lmtp\" lmtp \"/run/dovecot/lmtp\" rcpt-to virtual <vusers>\n"
	  "action \"relay\" relay\n"
	  "action \"local_mda\" mda \"/usr/bin/procmail -f -\"\n"
	  "action \"forward_only\" forward-only alias <aliases>\n"
	  "\n"
	  "match tag IN from any for domain <vdomains> action \"local_lmtp\"\n"
	  "match ! from src { 10.0.0.0/8, 192.168.0.0/16 } mail-from \"@example.org\" for any "
	  "action \"relay\"\n"
	  "match from local for local rcpt-to <lists> action \"local_mda\"\n"
	  "match from any for domain example.org action \"forward_only\"\n"
	  "match from any for any reject\n" },
	{ "comments and blank lines stay; actions go above the comments on the first rule",
	  "# $OpenBSD: smtpd.conf $\n"
	  "\n"
	  "listen on lo0   # loopback only\n"
	  "\n"
	  "# deliver local mail\n"
	  "# to mbox\n"
	  "accept for local deliver to mbox   # as /var/mail/USER\n"
	  "\n"
	  "# and relay the rest\n"
	  "accept for any relay\n"
	  "# end\n",
	  "# $OpenBSD: smtpd.conf $\n"
	  "\n"
	  "listen on lo0   # loopback only\n"
	  "\n"
	  "action \"local_mbox\" mbox\n"
	  "action \"relay\" relay\n"
	  "\n"
	  "# deliver local mail\n"
	  "# to mbox\n"
	  "match for local action \"local_mbox\" # as /var/mail/USER\n"
	  "\n"
	  "# and relay the rest\n"
	  "match for any action \"relay\"\n"
	  "# end\n" },
	{ "macros stay macros; renamed words in pki and listen on",
	  "dom = \"example.org\"\n"
	  "pki mx.example.org certificate \"/etc/ssl/mx.crt\"\n"
	  "pki mx.example.org key \"/etc/ssl/private/mx.key\"\n"
	  "listen on egress port 587 tls-require certificate mx.example.org auth mask-source\n"
	  "accept from any for domain $dom deliver to maildir\n",
	  "dom = \"example.org\"\n"
	  "pki mx.example.org cert \"/etc/ssl/mx.crt\"\n"
	  "pki mx.example.org key \"/etc/ssl/private/mx.key\"\n"
	  "listen on egress port 587 tls-require pki mx.example.org auth mask-src\n"
	  "action \"local_maildir\" maildir\n"
	  "\n"
	  "match from any for domain $dom action \"local_maildir\"\n" },
	{ "a table declared between rules: each run of rules gets its own actions",
	  "accept for local deliver to mbox\n"
	  "map \"vusers\" { source plain \"/etc/mail/vusers\" }\n"
	  "accept from any for domain example.org virtual <vusers> deliver to maildir\n"
	  "accept for any relay\n",
	  "action \"local_mbox\" mbox\n"
	  "\n"
	  "match for local action \"local_mbox\"\n"
	  "table vusers file:/etc/mail/vusers\n"
	  "action \"local_maildir\" maildir virtual <vusers>\n"
	  "action \"relay\" relay\n"
	  "\n"
	  "match from any for domain example.org action \"local_maildir\"\n"
	  "match for any action \"relay\"\n" },
	{ "a rule continued on the next line, strings written as they were",
	  "accept from any for domain 'example.org' \\\n"
	  "    deliver to mda \"/usr/local/bin/filter \\\"%{rcpt}\\\"\"\n",
	  "action \"local_mda\" mda \"/usr/local/bin/filter \\\"%{rcpt}\\\"\"\n"
	  "\n"
	  "match from any for domain 'example.org' action \"local_mda\"\n" },
};

Test(convert, old_configs_become_modern)
{
	struct rules_conversion cv;
	struct rules_error err;
	size_t i;

	for (i = 0; i < sizeof converted / sizeof converted[0]; i++) {
		const struct conv_case *c = &converted[i];

		cr_assert_eq(rules_convert_string("old.conf", c->old, strlen(c->old), &cv, &err), 0,
		             "%s: %s", c->name, err.message);
		cr_expect_str_eq(cv.text, c->modern, "%s", c->name);
		cr_expect_eq(cv.len, strlen(c->modern), "%s", c->name);
		cr_expect_eq(cv.nnotes, 0, "%s: %s", c->name, cv.nnotes ? cv.notes[0].message : "");
		cr_expect_gt(cv.old_line, 0, "%s", c->name);
		rules_conversion_free(&cv);
	}
}

/* The first old statement is where a load of the old text fails. */
Test(convert, first_old_statement_is_recorded)
{
	static const char old[] =
		"listen on lo\n\n  map aliases source plain \"/x\"\naccept for any relay\n";
	struct rules_conversion cv;
	struct rules_error err;

	cr_assert_eq(rules_convert_string("old.conf", old, strlen(old), &cv, &err), 0);
	cr_expect_eq(cv.old_line, 3);
	cr_expect_eq(cv.old_column, 3);
	cr_expect_str_eq(cv.old_word, "map");
	rules_conversion_free(&cv);
}

struct skip_case {
	const char *name, *old, *modern, *note;
};

static const struct skip_case skipped[] = {
	{ "an unknown word in a rule",
	  "listen on lo\naccept from any for any deliver to mbox quickly\naccept for any relay\n",
	  "listen on lo\n"
	  "action \"relay\" relay\n"
	  "\n"
	  "# not converted: unknown word \"quickly\" in an accept rule\n"
	  "# accept from any for any deliver to mbox quickly\n"
	  "match for any action \"relay\"\n",
	  "old.conf:2:41: not converted: unknown word \"quickly\" in an accept rule" },
	{ "ssl:// has no modern scheme",
	  "accept for any relay via ssl://smtp.example.com\n",
	  "# not converted: ssl:// (SMTPS or STARTTLS) has no modern equivalent: choose "
	  "smtps:// or smtp+tls://\n"
	  "# accept for any relay via ssl://smtp.example.com\n",
	  "old.conf:1:26: not converted: ssl:// (SMTPS or STARTTLS) has no modern equivalent: "
	  "choose smtps:// or smtp+tls://" },
	{ "an accept rule without a delivery",
	  "accept from any for local alias <aliases>\n",
	  "# not converted: no delivery: expected deliver to, relay or forward-only\n"
	  "# accept from any for local alias <aliases>\n",
	  "old.conf:1:1: not converted: no delivery: expected deliver to, relay or forward-only" },
	{ "a reject rule with a delivery",
	  "reject from any for any deliver to mbox\n",
	  "# not converted: a reject rule with delivery options\n"
	  "# reject from any for any deliver to mbox\n",
	  "old.conf:1:1: not converted: a reject rule with delivery options" },
	{ "a map of a kind the modern grammar does not have",
	  "map \"users\" { source ldap \"/etc/mail/ldap.conf\" }\n",
	  "# not converted: map source \"ldap\" has no modern equivalent\n"
	  "# map \"users\" { source ldap \"/etc/mail/ldap.conf\" }\n",
	  "old.conf:1:22: not converted: map source \"ldap\" has no modern equivalent" },
	{ "two criteria of a kind",
	  "accept from any from local for any relay\n",
	  "# not converted: \"from\" given twice\n"
	  "# accept from any from local for any relay\n",
	  "old.conf:1:17: not converted: \"from\" given twice" },
};

Test(convert, what_cannot_be_converted_is_kept_as_a_comment)
{
	struct rules_conversion cv;
	struct rules_error err;
	char note[RULES_ERROR_BYTES_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof skipped / sizeof skipped[0]; i++) {
		const struct skip_case *c = &skipped[i];

		cr_assert_eq(rules_convert_string("old.conf", c->old, strlen(c->old), &cv, &err), 0,
		             "%s: %s", c->name, err.message);
		cr_expect_str_eq(cv.text, c->modern, "%s", c->name);
		cr_assert_eq(cv.nnotes, 1, "%s", c->name);
		snprintf(note, sizeof note, "%s:%u:%u: %s", cv.notes[0].file, cv.notes[0].line,
		         cv.notes[0].column, cv.notes[0].message);
		cr_expect_str_eq(note, c->note, "%s", c->name);
		rules_conversion_free(&cv);
	}
}

/* Read a whole file into a fresh string. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;

	cr_assert_not_null(f, "cannot read %s", path);
	buf = calloc(1, 1 << 16);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}

Test(convert, modern_files_are_left_as_they_are)
{
	static const char *const files[] = {
		"01-repo-default.conf", "02-debian-default.conf", "03-man-smarthost-auth.conf",
		"05-man-dkimsign-filter.conf", "07-man64-dkimproxy-tag.conf",
		"10-poolp-hypnocat.conf", "11-man-macro-and-tables.conf",
	};
	struct rules_conversion cv;
	struct rules_error err;
	char path[256], *text;
	size_t i, len;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, TESTDATA "%s", files[i]);
		text = slurp(path, &len);
		cr_assert_eq(rules_convert_string(path, text, len, &cv, &err), 0, "%s: %s", path,
		             err.message);
		cr_expect_str_eq(cv.text, text, "%s", files[i]);
		cr_expect_eq(cv.nnotes, 0, "%s", files[i]);
		cr_expect_eq(cv.old_line, 0, "%s", files[i]);
		rules_conversion_free(&cv);
		free(text);
	}
}

Test(convert, text_that_cannot_be_lexed_is_an_error_with_a_place)
{
	static const char unterminated[] = "listen on lo\naccept for any deliver to mda \"cmd\n";
	static const char nul[] = "listen on lo\naccept\0 for any relay\n";
	struct rules_conversion cv;
	struct rules_error err;
	char msg[RULES_ERROR_BYTES_MAX * 3];

	cr_assert_eq(rules_convert_string("old.conf", unterminated, strlen(unterminated), &cv,
	                                  &err), -1);
	rules_error_format_long(&err, msg, sizeof msg);
	cr_expect_str_eq(msg, "old.conf:2:31: unterminated string\n"
	                      "  accept for any deliver to mda \"cmd\n"
	                      "                                ^");
	cr_expect_null(cv.text);
	cr_assert_eq(rules_convert_string("old.conf", nul, sizeof nul - 1, &cv, &err), -1);
	rules_error_format(&err, msg, sizeof msg);
	cr_expect_str_eq(msg, "old.conf:2:7: NUL byte in the configuration");
}

Test(convert, empty_text_stays_empty)
{
	struct rules_conversion cv;
	struct rules_error err;

	cr_assert_eq(rules_convert_string("old.conf", "", 0, &cv, &err), 0);
	cr_expect_str_eq(cv.text, "");
	cr_expect_eq(cv.len, 0);
	rules_conversion_free(&cv);
}

/* Converted texts load: inline tables stand for the files. */
Test(convert, converted_configs_load)
{
	static const char *const olds[] = {
		"table aliases { root = bob }\n"
		"listen on lo port 2525\n"
		"accept from any for domain \"example.org\" alias <aliases> deliver to maildir\n"
		"accept for local alias <aliases> deliver to mbox\n"
		"accept for any relay\n",
		"table vdomains { example.org }\n"
		"table vusers { bob@example.org = bob }\n"
		"expire 2d\n"
		"max-message-size 20M\n"
		"bounce-warn { 1h, 6h }\n"
		"accept from any for domain <vdomains> virtual <vusers> deliver to maildir "
		"\"~/Maildir\" expire 1d\n"
		"accept from local for any relay via smtp://relay.example:2525\n"
		"reject from any for any\n",
	};
	struct rules_conversion cv;
	struct rules_config *c;
	struct rules_error err;
	char msg[RULES_ERROR_BYTES_MAX * 2];
	size_t i;

	for (i = 0; i < sizeof olds / sizeof olds[0]; i++) {
		cr_assert_eq(rules_convert_string("old.conf", olds[i], strlen(olds[i]), &cv, &err), 0);
		cr_assert_eq(cv.nnotes, 0);
		c = helper_load(cv.text, msg, sizeof msg);
		cr_expect_not_null(c, "case %zu: %s\n%s", i, msg, cv.text);
		rules_free(c);
		rules_conversion_free(&cv);
	}
}

Test(convert, loading_an_old_config_points_to_the_converter)
{
	static const char old[] =
		"pki mx.example.org certificate \"/etc/ssl/mx.crt\"\n"
		"listen on lo0\n"
		"accept for local deliver to mbox\n";
	char msg[RULES_ERROR_BYTES_MAX * 2];

	cr_assert_null(helper_load(old, msg, sizeof msg));
	cr_expect_str_eq(msg, "t.conf:3:1: \"accept\" is the smtpd.conf grammar before OpenSMTPD "
	                      "6.4: \"smtpd --convert t.conf\" prints the modern equivalent");
	cr_assert_null(helper_load("listen on lo\nmap \"aliases\" { source db \"/a.db\" }\n", msg,
	                           sizeof msg));
	cr_expect_str_eq(msg, "t.conf:2:1: \"map\" is the smtpd.conf grammar before OpenSMTPD "
	                      "6.4: \"smtpd --convert t.conf\" prints the modern equivalent");
}

/* A modern file with a mistake keeps its own error. */
Test(convert, modern_errors_are_not_blamed_on_the_old_grammar)
{
	char msg[RULES_ERROR_BYTES_MAX * 2];

	cr_assert_null(helper_load("listen on lo\nmatch for any action \"relay\" quickly\n", msg,
	                           sizeof msg));
	cr_expect(strstr(msg, "before OpenSMTPD 6.4") == NULL, "%s", msg);
}

/* Found by fuzz_convert: a statement left open by "{" at the end of the
 * file, its last string going on over the last line, was taken to end
 * where that string began; the rest was copied as if outside it, and the
 * output no longer lexed. Every line of it is now part of the statement. */
Test(convert, a_string_over_the_last_lines_stays_in_its_statement)
{
	static const char old[] = "accept {\n\"x\ny\"";
	struct rules_conversion cv, again;
	struct rules_error err;

	cr_assert_eq(rules_convert_string("old.conf", old, strlen(old), &cv, &err), 0);
	cr_expect_str_eq(cv.text, "# not converted: unknown word \"{\" in an accept rule\n"
	                          "# accept {\n"
	                          "# \"x\n"
	                          "# y\"\n");
	cr_assert_eq(rules_convert_string("out.conf", cv.text, cv.len, &again, &err), 0, "%s",
	             err.message);
	cr_expect_str_eq(again.text, cv.text);
	rules_conversion_free(&again);
	rules_conversion_free(&cv);
}

/* Found by fuzz_convert: a word ending in a backslash-newline at the end
 * of the text ends past the last line. */
Test(convert, a_backslash_newline_at_the_end_of_the_text)
{
	static const char old[] = "accept for any relay\\\n";
	struct rules_conversion cv;
	struct rules_error err;

	cr_assert_eq(rules_convert_string("old.conf", old, strlen(old), &cv, &err), 0);
	cr_expect_str_eq(cv.text, "action \"relay\" relay\n\nmatch for any action \"relay\"\n");
	rules_conversion_free(&cv);
}
