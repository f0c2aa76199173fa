/*
 * test/rules/test_explain.c - the rule tester (smtpd -n -T): the
 * transaction description parsed into facts, each bad word refused with
 * its reason, and the whole explanation for a small config: a relay for a
 * trusted source, local delivery, a relay attempt from outside refused, a
 * negated criterion, a regex, a tag, a listener by port (smtps: TLS), the
 * facts left out (auth, rdns) said so where they decide, several
 * recipients, a listener that does not exist, a config rules/ cannot
 * decide, and a bounce to an SRS address.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

static const char explain_conf[] =
	"pki mx.test cert \"%D/cert.pem\"\n"                                       /* 1 */
	"pki mx.test key \"%D/key.pem\"\n"                                         /* 2 */
	"listen on 127.0.0.1 port 25\n"                                            /* 3 */
	"listen on 127.0.0.1 port 465 smtps tag SUBMIT\n"                          /* 4 */
	"table trusted { 192.0.2.0/24 }\n"                                         /* 5 */
	"table domains { example.org }\n"                                          /* 6 */
	"action \"local\" maildir\n"                                               /* 7 */
	"action \"relay\" relay host smtp://198.51.100.25:2525\n"                  /* 8 */
	"match from src <trusted> for any action \"relay\"\n"                      /* 9 */
	"match from any for domain <domains> action \"local\"\n"                   /* 10 */
	"match tag SUBMIT tls from any auth for any action \"relay\"\n"            /* 11 */
	"match !from local helo regex \"^\\[\" for any reject\n"                   /* 12 */
	"match from rdns for any action \"relay\"\n"                               /* 13 */
	"match for local action \"local\"\n";                                      /* 14 */

static char explain_dir[256];
static struct rules_config *explain_c;

static void
explain_setup(void)
{
	char conf[2048], msg[1024];

	helper_fixture(explain_dir, sizeof explain_dir);
	helper_subst(explain_conf, explain_dir, conf, sizeof conf);
	explain_c = helper_load(conf, msg, sizeof msg);
	cr_assert_not_null(explain_c, "%s", msg);
}

static void
explain_teardown(void)
{
	rules_free(explain_c);
	helper_fixture_remove(explain_dir);
}

/* The tester's whole output for description d, in a string to free. */
static char *
explain_run(const struct rules_config *c, const char *d)
{
	struct rules_transaction *tx = calloc(1, sizeof *tx);
	char err[512], *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_not_null(tx);
	cr_assert_eq(rules_transaction_parse(d, tx, err, sizeof err), 0, "%s: %s", d, err);
	f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert_eq(rules_explain(c, tx, f, err, sizeof err), 0, "%s: %s", d, err);
	fclose(f);
	free(tx);
	return buf;
}

TestSuite(explain, .init = explain_setup, .fini = explain_teardown);

Test(explain, relay_for_a_trusted_source)
{
	char *got = explain_run(explain_c, "from=192.0.2.1 helo=mx.example.org "
	                                   "mail-from=a@example.org rcpt-to=b@example.com");

	cr_expect_str_eq(got,
		"session: from 192.0.2.1, helo mx.example.org, tls no, auth none (no auth= given), "
		"rdns none (no rdns= given), tag none\n"
		"mail-from: <a@example.org>\n"
		"rcpt-to b@example.com:\n"
		"  rule 1 (t.conf:9) matches -> action \"relay\" (relay host "
		"smtp://198.51.100.25:2525)\n");
	free(got);
}

/* Outside, to a domain of ours, then to one elsewhere: every earlier rule
 * gives its first failing criterion with the subject and the table. */
Test(explain, local_delivery_and_refused_relay)
{
	char *got = explain_run(explain_c, "from=203.0.113.9 helo=mail.far.example "
	                                   "mail-from=<> rcpt-to=u@Example.ORG rcpt-to=x@far.example");

	cr_expect_str_eq(got,
		"session: from 203.0.113.9, helo mail.far.example, tls no, auth none (no auth= given), "
		"rdns none (no rdns= given), tag none\n"
		"mail-from: <>\n"
		"rcpt-to u@Example.ORG:\n"
		"  rule 1 (t.conf:9) no match: from src <trusted>: 203.0.113.9 is not in table "
		"\"trusted\"\n"
		"  rule 2 (t.conf:10) matches -> action \"local\" (maildir ~/Maildir)\n"
		"rcpt-to x@far.example:\n"
		"  rule 1 (t.conf:9) no match: from src <trusted>: 203.0.113.9 is not in table "
		"\"trusted\"\n"
		"  rule 2 (t.conf:10) no match: for domain <domains>: far.example is not in table "
		"\"domains\"\n"
		"  rule 3 (t.conf:11) no match: tag SUBMIT: the session has no tag\n"
		"  rule 4 (t.conf:12) no match: helo regex \"^\\[\": mail.far.example matches no "
		"pattern of { \"^\\[\" }\n"
		"  rule 5 (t.conf:13) no match: from rdns: the client has no PTR name (no rdns= given, "
		"treated as no PTR)\n"
		"  rule 6 (t.conf:14) no match: from local (default): 203.0.113.9 is not local "
		"(loopback or the local socket)\n"
		"  no rule matches -> refused with 550 5.1.1 Invalid recipient: <x@far.example>\n");
	free(got);
}

/* A regex on the HELO name decides a reject; a loopback client gets past
 * the negated "!from local" only to be told why. */
Test(explain, regex_reject_and_negation)
{
	char *got = explain_run(explain_c, "from=203.0.113.9 helo=[203.0.113.9] "
	                                   "mail-from=a@far.example rcpt-to=x@far.example");

	cr_expect_not_null(strstr(got, "  rule 4 (t.conf:12) matches -> reject: refused with 550 "
	                               "5.7.1 Delivery not authorized, message rejected\n"), "%s",
	                   got);
	free(got);
	got = explain_run(explain_c, "from=::1 helo=[::1] mail-from=a@far.example "
	                             "rcpt-to=x@far.example");
	cr_expect_not_null(strstr(got, "  rule 4 (t.conf:12) no match: !from local: ::1 is local\n"),
	                   "%s", got);
	cr_expect_not_null(strstr(got, "  rule 6 (t.conf:14) no match: for local: far.example is "
	                               "neither localhost nor mx.test\n"), "%s", got);
	free(got);
}

/* listener=465 is the smtps one: its tag, and TLS with it; the rule wants
 * auth too, and without auth= it does not match. */
Test(explain, tag_by_listener_port)
{
	char *got = explain_run(explain_c, "from=203.0.113.9 listener=465 mail-from=a@far.example "
	                                   "rcpt-to=x@far.example auth=bob");

	cr_expect_str_eq(got,
		"session: from 203.0.113.9, helo none, tls yes (listener 465 is smtps), auth bob, "
		"rdns none (no rdns= given), tag SUBMIT (listener 2)\n"
		"mail-from: <a@far.example>\n"
		"rcpt-to x@far.example:\n"
		"  rule 1 (t.conf:9) no match: from src <trusted>: 203.0.113.9 is not in table "
		"\"trusted\"\n"
		"  rule 2 (t.conf:10) no match: for domain <domains>: far.example is not in table "
		"\"domains\"\n"
		"  rule 3 (t.conf:11) matches -> action \"relay\" (relay host "
		"smtp://198.51.100.25:2525)\n");
	free(got);
	got = explain_run(explain_c, "from=203.0.113.9 listener=SUBMIT mail-from=a@far.example "
	                             "rcpt-to=x@far.example");
	cr_expect_not_null(strstr(got, "  rule 3 (t.conf:11) no match: auth: the session is not "
	                               "authenticated (no auth= given)\n"), "%s", got);
	free(got);
}

/* rdns= given: "from rdns" matches on the name, and the note is gone. */
Test(explain, rdns_given)
{
	char *got = explain_run(explain_c, "from=203.0.113.9 rdns=mx.far.example helo=mx "
	                                   "mail-from=a@far.example rcpt-to=x@far.example");

	cr_expect_not_null(strstr(got, "rdns mx.far.example, tag none\n"), "%s", got);
	cr_expect_not_null(strstr(got, "  rule 5 (t.conf:13) matches -> action \"relay\""), "%s",
	                   got);
	free(got);
}

/* A match that relied on a fact left out says so under it. */
Test(explain, assumption_noted_on_a_match)
{
	struct rules_config *c;
	char msg[512], *got;

	c = helper_load("action a relay\nmatch from any !auth for any action a\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	got = explain_run(c, "from=192.0.2.1 mail-from=a@b.example rcpt-to=c@d.example");
	cr_expect_str_eq(strstr(got, "rcpt-to"),
	                 "rcpt-to c@d.example:\n"
	                 "  rule 1 (t.conf:2) matches -> action \"a\" (relay via MX)\n"
	                 "    (auth: no auth= given, treated as not authenticated)\n");
	free(got);
	rules_free(c);
}

/* A config with a usage rules/ cannot evaluate defers every recipient. */
Test(explain, undecidable_config)
{
	struct rules_config *c;
	char msg[512], *got;

	c = helper_load("admd \"example.org\"\naction a relay\n"
	                "match from any for any action a\n", msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	got = explain_run(c, "from=192.0.2.1 mail-from=a@b.example rcpt-to=c@d.example");
	cr_expect_str_eq(strstr(got, "rcpt-to"),
	                 "rcpt-to c@d.example:\n"
	                 "  no rule is tried: admd at t.conf:1 is not evaluated yet -> deferred "
	                 "with 451 4.3.0 Temporary failure, try again later\n");
	free(got);
	rules_free(c);
}

Test(explain, unknown_listener)
{
	struct rules_transaction tx;
	char err[256];
	FILE *f = fopen("/dev/null", "w");

	cr_assert_eq(rules_transaction_parse("from=192.0.2.1 mail-from=<> rcpt-to=a@b listener=587",
	                                     &tx, err, sizeof err), 0, "%s", err);
	cr_expect_eq(rules_explain(explain_c, &tx, f, err, sizeof err), -1);
	cr_expect_str_eq(err, "listener=587: no listener on port 587");
	cr_assert_eq(rules_transaction_parse("from=192.0.2.1 mail-from=<> rcpt-to=a@b listener=MX",
	                                     &tx, err, sizeof err), 0, "%s", err);
	cr_expect_eq(rules_explain(explain_c, &tx, f, err, sizeof err), -1);
	cr_expect_str_eq(err, "listener=MX: no listener has the tag MX");
	fclose(f);
}

/* ---- the description ---- */

Test(explain_parse, every_key)
{
	struct rules_transaction tx;
	char err[256];

	cr_assert_eq(rules_transaction_parse("  from=2001:db8::1\thelo=mx.example.org tls "
	                                     "mail-from=<a@example.org> rcpt-to=b@example.com "
	                                     "rcpt-to=Postmaster auth=bob rdns=none listener=SUBMIT\n",
	                                     &tx, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(tx.from, "2001:db8::1");
	cr_expect_eq(tx.src.ss_family, AF_INET6);
	cr_expect_str_eq(tx.helo, "mx.example.org");
	cr_expect_eq(tx.tls, 1);
	cr_expect_str_eq(tx.mail_from, "a@example.org");
	cr_expect_eq(tx.nrcpts, 2);
	cr_expect_str_eq(tx.rcpts[0], "b@example.com");
	cr_expect_str_eq(tx.rcpts[1], "Postmaster");
	cr_expect(tx.auth_given && strcmp(tx.auth, "bob") == 0);
	cr_expect(tx.rdns_given && tx.rdns[0] == '\0');
	cr_expect(tx.listener_given && strcmp(tx.listener, "SUBMIT") == 0);
	cr_assert_eq(rules_transaction_parse("from=socket mail-from=<> rcpt-to=a@b", &tx, err,
	                                     sizeof err), 0, "%s", err);
	cr_expect_eq(tx.src.ss_family, 0);
	cr_expect_str_eq(tx.mail_from, "");
	cr_expect(!tx.auth_given && !tx.rdns_given && !tx.tls && !tx.listener_given);
}

struct parse_case {
	const char *text, *err;
};

static const struct parse_case parse_bad[] = {
	{ "", "missing from= (an IPv4 or IPv6 address, or socket)" },
	{ "from=192.0.2.1 rcpt-to=a@b", "missing mail-from= (user@domain, or <>)" },
	{ "from=192.0.2.1 mail-from=a@b", "missing rcpt-to= (user@domain; several allowed)" },
	{ "frm=192.0.2.1", "unknown key \"frm\"; did you mean \"from\"?" },
	{ "colour=red", "unknown key \"colour\"; expected from=, helo=, mail-from=, rcpt-to=, "
	                "auth=, rdns=, listener=, country=, asn= or tls" },
	{ "from=192.0.2.300", "bad from=192.0.2.300: expected an IPv4 or IPv6 address, or socket" },
	{ "from=local", "bad from=local: expected an IPv4 or IPv6 address, or socket" },
	{ "from=192.0.2.1 from=192.0.2.2", "from= given twice" },
	{ "from=192.0.2.1 mail-from=bob", "bad mail-from=bob: expected user@domain, or <> for the "
	                                  "null sender" },
	{ "from=192.0.2.1 mail-from=a@b rcpt-to=<>", "bad rcpt-to=<>: expected user@domain or "
	                                             "postmaster" },
	{ "from=192.0.2.1 mail-from=a@b rcpt-to=@b", "bad rcpt-to=@b: expected user@domain or "
	                                             "postmaster" },
	{ "from=192.0.2.1 mail-from=a@b rcpt-to=<a@b", "bad rcpt-to=<a@b: expected user@domain or "
	                                               "postmaster" },
	{ "helo", "helo needs a value: helo=..." },
	{ "helo=", "helo= needs a value" },
	{ "tls=yes", "tls takes no value: write tls, or leave it out" },
	{ "tls tls", "tls= given twice" },
	{ "listener=0", "bad listener=0: a port is 1 to 65535" },
	{ "listener=65536", "bad listener=65536: a port is 1 to 65535" },
	{ "helo=\x01", "helo= holds a control byte" },
};

Test(explain_parse, bad_descriptions)
{
	struct rules_transaction tx;
	char err[256];

	for (size_t i = 0; i < sizeof parse_bad / sizeof parse_bad[0]; i++) {
		err[0] = '\0';
		cr_expect_eq(rules_transaction_parse(parse_bad[i].text, &tx, err, sizeof err), -1,
		             "%s", parse_bad[i].text);
		cr_expect_str_eq(err, parse_bad[i].err, "for \"%s\": %s", parse_bad[i].text, err);
	}
}

/* Every value is bounded: a HELO name of 300 bytes, 65 recipients. */
Test(explain_parse, bounds)
{
	static char text[8192];
	struct rules_transaction tx;
	char err[256];
	size_t n;

	snprintf(text, sizeof text, "from=192.0.2.1 helo=");
	n = strlen(text);
	memset(text + n, 'h', 300);
	text[n + 300] = '\0';
	cr_expect_eq(rules_transaction_parse(text, &tx, err, sizeof err), -1);
	cr_expect_str_eq(err, "helo= is too long (at most 255 bytes)");
	snprintf(text, sizeof text, "from=192.0.2.1 mail-from=<>");
	for (unsigned i = 0; i <= RULES_TX_RCPTS_MAX; i++) {
		n = strlen(text);
		snprintf(text + n, sizeof text - n, " rcpt-to=u%u@example.org", i);
	}
	cr_expect_eq(rules_transaction_parse(text, &tx, err, sizeof err), -1);
	cr_expect_str_eq(err, "more than 64 rcpt-to=");
}

/* A bounce to an SRS address: decoded with the srs keys at the
 * transaction's clock (vectors of test/proto/test_srs.c) and tried as from
 * a local client, as core/session.c does; a tampered one is tried as
 * given, and so is any address after a sender. An address an OpenSMTPD
 * forwarder made decodes too: its hash, from Python's hashlib,
 *   base64.b64encode(hashlib.sha1(b"secret" +
 *                    b"G3=example.org=alice@fwd.test").digest())[:4]
 * is "NInK". */
Test(explain_srs, decoded_as_from_a_local_client)
{
	char msg[512], err[512], *buf = NULL;
	size_t len = 0;
	struct rules_config *c = helper_load(
		"srs key \"secret\"\n"
		"table virt { \"alice@fwd.test\" = \"alice@remote.test\" }\n"
		"action \"fwd\" forward-only virtual <virt>\n"
		"action \"out\" relay srs\n"
		"match from any for domain \"fwd.test\" action \"fwd\"\n"
		"match from local for any action \"out\"\n", msg, sizeof msg);
	struct rules_transaction *tx = calloc(1, sizeof *tx);

	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(rules_transaction_parse("from=203.0.113.9 mail-from=<> "
	                                     "rcpt-to=SRS0=sEw5=G3=example.org=alice@fwd.test "
	                                     "rcpt-to=SRS0=sEw6=G3=example.org=alice@fwd.test "
	                                     "rcpt-to=SRS0=NInK=G3=example.org=alice@fwd.test",
	                                     tx, err, sizeof err), 0, "%s", err);
	tx->now_s = 1700000000;   /* day 19675: TT "G3" */
	FILE *f = open_memstream(&buf, &len);
	cr_assert_eq(rules_explain(c, tx, f, err, sizeof err), 0, "%s", err);
	fclose(f);
	cr_expect_not_null(strstr(buf,
		"rcpt-to SRS0=sEw5=G3=example.org=alice@fwd.test:\n"
		"  srs: decoded to alice@example.org, tried as from a local client\n"
		"  rule 1 (t.conf:5) no match: for domain fwd.test: example.org is not in "
		"{ fwd.test }\n"), "%s", buf);
	cr_expect_not_null(strstr(buf, "  rule 2 (t.conf:6) matches -> action \"out\""), "%s", buf);
	cr_expect_not_null(strstr(buf,
		"rcpt-to SRS0=sEw6=G3=example.org=alice@fwd.test:\n"
		"  srs: not decoded (bad hash): tried as given\n"
		"  rule 1 (t.conf:5) matches -> action \"fwd\""), "%s", buf);
	cr_expect_not_null(strstr(buf,
		"rcpt-to SRS0=NInK=G3=example.org=alice@fwd.test:\n"
		"  srs: decoded to alice@example.org, tried as from a local client\n"), "%s", buf);
	free(buf);
	buf = NULL;
	/* mail with a sender: no decoding, and from outside no relay either */
	cr_assert_eq(rules_transaction_parse("from=203.0.113.9 mail-from=a@example.org "
	                                     "rcpt-to=SRS0=sEw5=G3=example.org=alice@fwd.test",
	                                     tx, err, sizeof err), 0, "%s", err);
	tx->now_s = 1700000000;
	f = open_memstream(&buf, &len);
	cr_assert_eq(rules_explain(c, tx, f, err, sizeof err), 0, "%s", err);
	fclose(f);
	cr_expect_null(strstr(buf, "srs:"), "%s", buf);
	cr_expect_not_null(strstr(buf, "  rule 1 (t.conf:5) matches -> action \"fwd\""), "%s", buf);
	free(buf);
	free(tx);
	rules_free(c);
}
