/*
 * test/rules/test_grammar.c - the whole smtpd.conf(5) grammar of OpenSMTPD
 * 7.x: one valid row per directive and option, each with the usages it
 * leaves as "not supported yet" (what the daemon will refuse at start);
 * sizes and delays; rules_runtime_check() and the -n warning lines; and a
 * config with an unsupported usage never deciding a recipient.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"
#include "test/rules/helpers.h"

#define HEAD "action a maildir\n"
#define TAIL "match for any action a\n"
#define PKI "pki p cert \"%D/cert.pem\" key \"%D/key.pem\"\n"
#define CA "ca c cert \"%D/cert.pem\"\n"
#define LO "listen on 127.0.0.1 "

static const struct {
	const char *text;          /* between HEAD and TAIL; %D: the fixture */
	const char *unsupported;   /* what each usage is called, in order */
} grammar_rows[] = {
	/* macros, include-free tables, builtins */
	{ "m = \"x.example\"\ntable t { $m, \"y\" }\n", "" },
	{ "table m { k1 = v1, k2 => v2 }\n", "" },
	{ "table f file:%D/list\ntable g %D/list\ntable h \"file:%D/map\"\n", "" },
	{ "table d db:%D/list.db\n", "" },
	{ "table s sqlite:%D/map\n", "table backend sqlite" },
	{ "match from src <localhost> for domain <localnames> action a\n"
	  "match from src <anyhost> for domain <anydestination> action a\n", "" },
	/* listen on: every option */
	{ LO "port 2525 inet4 tag T hostname mx.example no-dsn\n", "" },
	{ "listen on ::1 inet6 port submission\nlisten on localhost port smtps\n", "" },
	{ "listen on socket\n", "" },
	{ "filter f proc-exec \"x\"\nlisten on socket filter f mask-src tag T\n",
	  "filter" },
	{ PKI LO "tls pki p\n", "" },
	{ PKI LO "tls-require pki p\n", "" },
	{ PKI LO "tls-require verify pki p\n", "" },
	{ PKI LO "smtps pki p\n", "" },
	{ PKI LO "smtps verify pki p\n", "" },
	{ PKI "pki q cert \"%D/cert.pem\" key \"%D/key.pem\" dhe auto\n" LO "tls pki p pki q\n",
	  "" },
	{ PKI CA LO "tls pki p ca c ciphers \"HIGH:!aNULL\" protocols \"tlsv1.3\"\n", "" },
	{ PKI LO "tls pki p auth\n", "" },
	{ PKI "table creds { bob = \"$2b$08$x\" }\n" LO "tls pki p auth <creds>\n", "" },
	{ PKI LO "tls pki p auth-optional\n", "" },
	{ PKI LO "smtps pki p auth-optional { bob = x }\n", "" },
	{ "filter f proc-exec \"x\"\nfilter g proc-exec \"y\"\n" LO "filter { f, g }\n",
	  "" },
	{ "table h { 127.0.0.1 = mx.example }\n" LO "hostnames <h>\n", "hostnames" },
	{ LO "mask-src received-auth proxy-v2\n", "" },
	{ "table s { bob = bob@example.org }\n" LO "senders <s> masquerade\n", "" },
	{ "table s { bob = bob@example.org }\n" LO "senders <s>\n", "" },
	/* action: local methods and their options */
	{ "action x mbox\n", "" },
	{ "action x maildir \"~/Maildir\" junk\n", "" },
	{ "action x maildir junk\n", "" },
	{ "action x maildir \"/var/vmail/%{rcpt.domain}/%{rcpt.user:lowercase|strip}\"\n", "" },
	{ "action x maildir \"/m/%{dest.user[0]}/%{dest.user[-2:]}/%{user.username}\"\n", "" },
	{ "action x maildir \"/m/%{sender.domain}/%{rcpt.user:raw}\"\n", "" },
	{ "action x lmtp \"/var/run/dovecot/lmtp\" rcpt-to\n", "" },
	{ "action x lmtp localhost:24\n", "" },
	{ "action x mda \"/usr/local/bin/procmail -f %{sender}\"\n", "" },
	{ "action x forward-only\naction y expand-only\n", "" },
	{ "table al { root = bob }\naction x maildir alias <al> user vmail ttl 4h\n", "" },
	{ "table v { \"@example.org\" = bob }\naction x mbox virtual <v>\n", "" },
	{ "action x maildir userbase <getpwnam>\n", "" },
	{ "table ub { vbob = \"2000:2000:/var/vmail/bob\" }\naction x mbox userbase <ub>\n", "" },
	{ "table ub { vbob = \"2000:2000:/var/vmail/bob\" }\n"
	  "action x lmtp \"/run/lmtp\" userbase <ub>\n", "" },
	{ "mda wrapper w \"/bin/w %{mda}\"\naction x mda \"/bin/m\" wrapper w\n", "" },
	{ "mda wrapper w \"/bin/w %{mda}\"\naction x maildir wrapper w\n", "" },
	{ "mda wrapper w \"/bin/w %{mda}\"\naction x lmtp \"/run/lmtp\" wrapper w\n",
	  "wrapper on an lmtp action" },
	/* action relay: every option */
	{ "action r relay\naction s relay host smtp://mx.example:2525\n", "" },
	{ "action r relay host smtp+notls://[2001:db8::1]:25\n", "" },
	{ "action r relay host smtps://mx.example\n", "" },
	{ "action r relay host lmtp://127.0.0.1:24\n", "relay host lmtp://" },
	{ "table c { lbl = \"bob:secret\" }\naction r relay host smtp+tls://lbl@mx.example auth <c>\n",
	  "" },
	{ "table rh { \"smtp://a.example\", \"smtp://b.example\" }\naction r relay host <rh>\n",
	  "relay host table" },
	{ "table d { example.org = smtp://mx.example }\naction r relay domain <d>\n", "" },
	{ "action r relay backup\naction s relay backup mx mx2.example\n", "" },
	{ "action r relay tls\naction s relay tls no-verify\n", "" },
	{ PKI CA "action r relay pki p ca c ciphers \"HIGH\" protocols \"tlsv1.2\"\n", "" },
	{ "table hs { 192.0.2.1 = mx.example }\n"
	  "action r relay helo mx.example helo-src <hs> src { 192.0.2.1 } mail-from \"@x.example\"\n",
	  "" },
	{ "filter f proc-exec \"x\"\naction r relay filter f\naction s relay filter { f }\n",
	  "relay filter,relay filter" },
	{ "srs key \"secret\"\nsrs key backup \"old\"\nsrs ttl 7d\naction r relay srs ttl 2d\n",
	  "" },
	/* match: every criterion */
	{ "match from any for any action a\nmatch from local for local reject\n", "" },
	{ "match from socket for domain { example.org, \"*.example.net\" } action a\n", "" },
	{ "match !from src { 192.0.2.0/24 } for rcpt-to { bob@example.org } action a\n", "" },
	{ "match from mail-from \"@example.org\" !for domain example.net action a\n", "" },
	{ "match tag T mail-from \"@example.org\" rcpt-to \"@example.net\" action a\n", "" },
	{ "match from src regex \"^192\\\\.\" action a\n", "" },
	{ "match from rdns action a\nmatch !from rdns { mx.example } action a\n", "" },
	{ "match from rdns regex \"\\\\.dyn\\\\.\" reject\n", "" },
	{ "match from auth for any action a\nmatch !from auth { bob } action a\n", "" },
	{ "match from auth regex \"^b\" action a\n", "" },
	{ "match auth for any action a\nmatch !auth { bob } action a\n", "" },
	{ "match tls for any action a\nmatch !tls reject\n", "" },
	{ "match helo mx.example action a\nmatch !helo regex \"^\\[\" reject\n", "" },
	{ "match tag regex \"^T\" mail-from regex \"@x$\" rcpt-to regex \"^a\" action a\n", "" },
	{ "match for domain regex \"example\" action a\nmatch for rcpt-to regex \"^b\" action a\n",
	  "" },
	/* global statements */
	{ "pki \"*\" cert \"%D/cert.pem\" key \"%D/key.pem\" dhe legacy\n", "" },
	{ CA, "" },
	{ "queue compression\n", "" },
	{ "queue encryption\nqueue encryption \"0123456789abcdef0123456789abcdef\"\n"
	  "queue encryption stdin\nqueue encryption -\nqueue ttl 4d\n", "" },
	{ "queue path \"/var/spool/x\"\n", "" },
	{ "smtp limit max-rcpt 100 max-mails 10\nsmtp ciphers \"HIGH\"\n", "" },
	{ "smtp limit max-sessions-per-source 5\n", "" },
	{ "smtp limit max-sessions 100\nsmtp timeout 30s\n", "" },
	{ "smtp max-message-size 35M\nsmtp sub-addr-delim +\n", "" },
	{ "smtp sub-addr-delim -\n", "" },
	{ "smtp limit max-auth-failures 0\nsmtp limit max-auth-failures 20\n", "" },
	{ "listen on 127.0.0.1 port 2526 auth-optional\nlisten on ::1 port 2526 auth\n", "" },
	{ "mta max-deferred 100\nmta limit max-conn-per-host 5 inet4\n"
	  "mta limit for domain example.org session-keepalive 10 inet6\n",
	  "mta max-deferred,mta limit inet4,mta limit inet6" },
	{ "mta limit max-conn-per-route 2 max-conn-per-domain 9 conn-delay-host 1 "
	  "session-mail-max 50 session-setup-timeout 60\n"
	  "mta limit for domain Example.ORG max-rate 10/s max-conn-per-relay 3\n", "" },
	{ "mta limit task-hiwat 10 max-conn-per-source 4\n",
	  "mta limit task-hiwat,mta limit max-conn-per-source" },
	{ "mda limit max-session 10 max-session-per-user 2 task-lowat 1 task-hiwat 9 "
	  "task-release 3\n", "mda limit" },
	{ "bounce warn-interval 30m, 1h, 6h, 2d\n", "" },
	{ "admd \"mx.example\"\n", "admd" },
	{ "scheduler limit max-inflight 100 max-evp-batch-size 10 max-msg-batch-size 10 "
	  "max-schedule 10\n", "scheduler" },
	{ "proc p \"/bin/p\" user u group g chroot \"/var/empty\"\nfilter f proc p\n",
	  "" },
	/* filters: every phase, check and action */
	{ "filter f phase connect match rdns regex { '.*\\.dyn\\..*' } disconnect \"550 no\"\n",
	  "" },
	{ "filter f phase connect match !fcrdns junk\n", "" },
	{ "filter f phase connect match src { 192.0.2.0/24 } bypass\n", "" },
	{ "filter f phase helo match helo regex \"^[[]\" reject \"550 bad helo\"\n", "" },
	{ "filter f phase ehlo match !rdns report \"no rdns\"\n", "" },
	{ "filter f phase auth match auth junk\n", "" },
	{ "filter f phase mail-from match mail-from { \"@x.example\" } rewrite \"a@b\"\n",
	  "" },
	{ "filter f phase rcpt-to match !rcpt-to regex \"^a\" reject \"550 no\"\n", "" },
	{ "filter f phase data match auth { bob } bypass\n", "" },
	{ "filter f phase commit match mail-from { x } disconnect \"421 later\"\n", "" },
	{ "filter f proc-exec \"x\" user u group g chroot \"/c\"\n"
	  "filter g proc-exec \"y\"\nfilter c chain { f, g }\n" LO "filter c\n",
	  "" },
};

static char fixture[256];

static void
grammar_setup(void)
{
	helper_fixture(fixture, sizeof fixture);
}

static void
grammar_teardown(void)
{
	helper_fixture_remove(fixture);
}

Test(grammar, every_directive_and_option, .init = grammar_setup, .fini = grammar_teardown)
{
	char body[4096], text[4200], msg[1024], got[1024];
	struct rules_config *c;
	size_t i;

	for (i = 0; i < sizeof grammar_rows / sizeof grammar_rows[0]; i++) {
		helper_subst(grammar_rows[i].text, fixture, body, sizeof body);
		snprintf(text, sizeof text, HEAD "%s" TAIL, body);
		c = helper_load(text, msg, sizeof msg);
		cr_expect_not_null(c, "row %zu:\n%s refused: %s", i, text, msg);
		if (c == NULL)
			continue;
		helper_unsupported(c, got, sizeof got);
		cr_expect_str_eq(got, grammar_rows[i].unsupported, "row %zu:\n%s got  %s\n want %s", i,
		                 body, got, grammar_rows[i].unsupported);
		rules_free(c);
	}
}

/* Sizes as scan_scaled() reads them, delays as delaytonum() does. */
Test(grammar, sizes_and_delays)
{
	static const struct {
		const char *size;
		uint64_t want;
	} sizes[] = {
		{ "35M", 35ull << 20 }, { "1G", 1ull << 30 }, { "512K", 512ull << 10 },
		{ "1000", 1000 }, { "1.5M", 3ull << 19 }, { "2m", 2ull << 20 }, { "10MB", 10ull << 20 },
		{ "1T", 1ull << 40 },
	};
	static const struct {
		const char *delay;
		unsigned want;
	} delays[] = {
		{ "30s", 30 }, { "30m", 1800 }, { "4h", 14400 }, { "2d", 172800 },
	};
	char text[256], msg[512];
	struct rules_config *c;
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		snprintf(text, sizeof text, "smtp max-message-size %s\n" HEAD TAIL, sizes[i].size);
		c = helper_load(text, msg, sizeof msg);
		cr_assert_not_null(c, "%s: %s", sizes[i].size, msg);
		cr_expect_eq(c->size_max, sizes[i].want, "%s: got %llu want %llu", sizes[i].size,
		             (unsigned long long)c->size_max, (unsigned long long)sizes[i].want);
		rules_free(c);
	}
	for (i = 0; i < sizeof delays / sizeof delays[0]; i++) {
		snprintf(text, sizeof text, "action x maildir ttl %s\n" HEAD TAIL, delays[i].delay);
		c = helper_load(text, msg, sizeof msg);
		cr_assert_not_null(c, "%s: %s", delays[i].delay, msg);
		cr_expect_eq(rules_action_find(c, "x")->ttl_s, delays[i].want, "%s: got %u want %u",
		             delays[i].delay, rules_action_find(c, "x")->ttl_s, delays[i].want);
		rules_free(c);
	}
}

/* The session limits the daemon reads, with their defaults. */
Test(grammar, session_limits_and_timeout)
{
	char msg[512];
	struct rules_config *c = helper_load(HEAD TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(c->sessions_max, 0, "no max-sessions: the daemon's own cap");
	cr_expect_eq(c->idle_timeout_s, 300);
	cr_expect_eq(c->bare_newline_normalize, 0, "bare LF/CR refused by default");
	rules_free(c);
	c = helper_load("smtp limit max-sessions 7 max-sessions-per-source 3\n"
	                "smtp bare-newline normalize\n"
	                "smtp timeout 2m\n" HEAD TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(c->sessions_max, 7);
	cr_expect_eq(c->sessions_per_source, 3);
	cr_expect_eq(c->idle_timeout_s, 120);
	cr_expect_eq(c->bare_newline_normalize, 1);
	cr_expect_eq(c->nunsupported, 0);
	rules_free(c);
}

/* bounce warn-interval: up to four delays, ascending whatever the order
 * written, the last statement winning; one warning at 4h without it. */
Test(grammar, bounce_warn_intervals)
{
	static const struct {
		const char *text;
		unsigned n, want[RULES_BOUNCE_WARN_MAX];
	} cases[] = {
		{ "", 1, { 14400 } },
		{ "bounce warn-interval 2s\n", 1, { 2 } },
		{ "bounce warn-interval 30m, 1h, 6h, 2d\n", 4, { 1800, 3600, 21600, 172800 } },
		{ "bounce warn-interval 6h, 30m, 1h\n", 3, { 1800, 3600, 21600 } },
		{ "bounce warn-interval 1h, 1h\n", 2, { 3600, 3600 } },
		{ "bounce warn-interval 1h, 2h\nbounce warn-interval 5m\n", 1, { 300 } },
	};
	char text[512], msg[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s" HEAD TAIL, cases[i].text);
		struct rules_config *c = helper_load(text, msg, sizeof msg);
		cr_assert_not_null(c, "case %zu: %s", i, msg);
		cr_expect_eq(c->nbounce_warn, cases[i].n, "case %zu: %u intervals, want %u", i,
		             c->nbounce_warn, cases[i].n);
		for (unsigned j = 0; j < cases[i].n && j < c->nbounce_warn; j++)
			cr_expect_eq(c->bounce_warn_s[j], cases[i].want[j],
			             "case %zu, interval %u: %u s, want %u s", i, j,
			             c->bounce_warn_s[j], cases[i].want[j]);
		cr_expect_eq(c->nunsupported, 0, "case %zu: recorded as unsupported", i);
		struct rules_error err;
		cr_expect_eq(rules_runtime_check(c, &err), 0, "case %zu: refused at start", i);
		rules_free(c);
	}
}

/* What the daemon checks at start, and what smtpd -n prints. */
Test(grammar, runtime_check_names_the_first_unsupported_usage)
{
	static const struct {
		const char *text, *first;
	} cases[] = {
		{ HEAD TAIL, "" },
		{ "listen on 127.0.0.1 port 2525 no-dsn\nqueue compression\n" HEAD TAIL, "" },
		{ "bounce warn-interval 1h, 4h\n" HEAD TAIL, "" },
		{ "listen on 127.0.0.1 ciphers \"HIGH\" protocols tlsv1.3\n" HEAD TAIL, "" },
		{ "admd \"example.org\"\n" HEAD TAIL, "t.conf:1:1: admd is not supported yet" },
		{ HEAD "action m mbox\n" TAIL, "" },
		{ HEAD "action m lmtp localhost:24\n" TAIL, "" },
		{ HEAD "action m forward-only\n" TAIL, "" },
		{ HEAD "action m maildir userbase <getpwnam>\n" TAIL, "" },
		{ "mda wrapper w \"/bin/w\"\n" HEAD "action m maildir wrapper w\n" TAIL, "" },
		{ "mda wrapper w \"/bin/w\"\n" HEAD "action m lmtp localhost:24 wrapper w\n" TAIL,
		  "t.conf:3:28: wrapper on an lmtp action is not supported yet" },
		{ HEAD "match from auth for any action a\n" TAIL, "" },
		{ "filter f proc-exec \"x\"\n" HEAD TAIL, "" },
		{ HEAD "action r relay host lmtp://127.0.0.1:24\n" TAIL,
		  "t.conf:2:21: relay host lmtp:// is not supported yet" },
	};
	struct rules_error err;
	struct rules_config *c;
	char got[1024], msg[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c = helper_load(cases[i].text, msg, sizeof msg);
		cr_assert_not_null(c, "case %zu: %s", i, msg);
		got[0] = '\0';
		if (rules_runtime_check(c, &err) < 0)
			rules_error_format(&err, got, sizeof got);
		cr_expect_str_eq(got, cases[i].first, "case %zu: got %s want %s", i, got,
		                 cases[i].first);
		rules_free(c);
	}
}

Test(grammar, warning_lines_for_smtpd_n)
{
	struct rules_config *c;
	char msg[512], line[1024];

	c = helper_load("admd \"example.org\"\nmda limit max-session 5\n" HEAD TAIL, msg,
	                sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert(rules_warning_format(c, 0, line, sizeof line));
	cr_expect_str_eq(line, "t.conf:1:1: warning: admd is not supported yet, smtpd will refuse "
	                       "to start with this configuration");
	cr_assert(rules_warning_format(c, 1, line, sizeof line));
	cr_expect_str_eq(line, "t.conf:2:5: warning: mda limit is not supported yet, smtpd will "
	                       "refuse to start with this configuration");
	cr_expect_not(rules_warning_format(c, 2, line, sizeof line), "two usages, two lines");
	rules_free(c);
	c = helper_load("bounce warn-interval 1h\n" HEAD TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_not(rules_warning_format(c, 0, line, sizeof line),
	              "bounce warn-interval is not named: got %s", line);
	rules_free(c);
}

/* A config with a usage rules/ cannot evaluate never decides; match auth,
 * which only the daemon lacks, is still decided by rules_match(). */
Test(grammar, unsupported_config_never_decides)
{
	struct rules_query q = { .local = 1, .listener_tag = "", .mail_from = "",
	                         .rcpt = "bob@mx.test" };
	const struct rules_action *act;
	struct rules_config *c;
	char msg[512];
	unsigned line;

	c = helper_load("admd \"example.org\"\n" HEAD "match from any for any reject\n" TAIL,
	                msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_TEMPFAIL,
	             "without admd support the reject line cannot be honoured");
	rules_free(c);
	c = helper_load(HEAD "match auth for any reject\n" TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_ACCEPT, "no AUTH: the next line");
	q.auth_user = "bob";
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_REJECT, "AUTH: the auth line");
	q.auth_user = NULL;
	rules_free(c);
	c = helper_load(HEAD "match from any for any reject\n" TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect_eq(rules_match(c, &q, &act, &line), RULES_REJECT);
	rules_free(c);
}

/* OpenBSD names: lo0 is lo, all is the wildcard, egress the interface of
 * the default route (or nothing, with a warning, when there is none). */
Test(grammar, openbsd_interface_names)
{
	struct rules_config *c;
	char msg[512];
	unsigned i;

	c = helper_load("listen on all port 2600\nlisten on lo0 port 2601 inet4\n" HEAD TAIL, msg,
	                sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nlisteners, 2);
	cr_expect_eq(((struct sockaddr_in *)&c->listeners[0].addr)->sin_addr.s_addr, INADDR_ANY);
	cr_expect_eq(ntohl(((struct sockaddr_in *)&c->listeners[1].addr)->sin_addr.s_addr),
	             INADDR_LOOPBACK);
	cr_expect_str_eq(c->listeners[1].spec, "lo0");
	rules_free(c);
	c = helper_load("listen on egress port 2602\n" HEAD TAIL, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_expect(c->nlisteners > 0 || c->nwarnings == 1, "egress: listeners or a warning");
	for (i = 0; i < c->nlisteners; i++)
		cr_expect_str_eq(c->listeners[i].spec, "egress");
	rules_free(c);
}

/* proxy-v2 marks only the listener it is written on, with or without TLS;
 * a second proxy-v2 on one line is refused. */
Test(grammar, proxy_v2_listener_is_marked, .init = grammar_setup, .fini = grammar_teardown)
{
	char text[2048], msg[1024];
	helper_subst(HEAD PKI LO "port 2525 proxy-v2\n" LO "port 2526\n"
	             LO "port 2465 smtps pki p proxy-v2\n" TAIL, fixture, text, sizeof text);
	struct rules_config *c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nlisteners, 3);
	cr_expect_eq(c->listeners[0].proxy_v2, 1);
	cr_expect_eq(c->listeners[1].proxy_v2, 0);
	cr_expect_eq(c->listeners[2].proxy_v2, 1);
	cr_expect_eq(c->listeners[2].tls, RULES_TLS_SMTPS);
	cr_expect_eq(c->nunsupported, 0);
	rules_free(c);
	cr_expect_null(helper_load(HEAD LO "proxy-v2 proxy-v2\n" TAIL, msg, sizeof msg));
	cr_expect(strstr(msg, "proxy-v2 already specified") != NULL, "%s", msg);
}

/* What the daemon needs for TLS: each listener's mode, verify flag and pki
 * names, and every pki's certificate and key. */
Test(grammar, tls_listeners_and_pki_are_exposed, .init = grammar_setup, .fini = grammar_teardown)
{
	char text[2048], msg[1024];
	helper_subst(HEAD "pki Mail.Example cert \"%D/cert.pem\" key \"%D/key.pem\"\n"
	             "pki other cert \"%D/cert.pem\" key \"%D/key.pem\"\n"
	             LO "port 2525 tls pki mail.example pki other\n"
	             LO "port 2465 smtps verify pki other\n"
	             LO "port 2587 tls-require pki mail.example\n"
	             LO "port 2526\n" TAIL, fixture, text, sizeof text);
	struct rules_config *c = helper_load(text, msg, sizeof msg);
	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nlisteners, 4);
	cr_expect_eq(c->listeners[0].tls, RULES_TLS_STARTTLS);
	cr_expect_eq(c->listeners[0].npki, 2);
	cr_expect_str_eq(c->listeners[0].pki[0], "mail.example");
	cr_expect_str_eq(c->listeners[0].pki[1], "other");
	cr_expect_eq(c->listeners[1].tls, RULES_TLS_SMTPS);
	cr_expect_eq(c->listeners[1].tls_verify, 1);
	cr_expect_eq(c->listeners[2].tls, RULES_TLS_REQUIRE);
	cr_expect_eq(c->listeners[3].tls, RULES_TLS_NONE);
	cr_expect_eq(c->npkis, 2);
	const struct rules_pki *p = rules_pki_find(c, "MAIL.example");
	cr_assert_not_null(p);
	cr_expect(strstr(p->cert, "/cert.pem") != NULL, "%s", p->cert);
	cr_expect(strstr(p->key, "/key.pem") != NULL, "%s", p->key);
	cr_expect_null(rules_pki_find(c, "nope"));
	rules_free(c);
}
