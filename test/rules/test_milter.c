/*
 * test/rules/test_milter.c - the `milter` statement and a listener's
 * `milter` option (rules/milter.h): sockets in Postfix's notation resolved
 * at load, the options and their defaults, listeners' lists in order, and
 * the errors with their places as a table of (config, want).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "rules/milter.h"
#include "test/rules/helpers.h"

#define TAIL "action a maildir \"/m\"\nmatch from any for any action a\n"

Test(milter_rules, declared_and_attached)
{
	char msg[512];
	struct rules_config *c = helper_load(
		"milter dkim \"inet:127.0.0.1:8891\"\n"
		"milter spam \"unix:/run/rspamd/milter.sock\" timeout 5s default accept\n"
		"milter six \"inet:[::1]:11332\" default reject timeout 2m\n"
		"listen on 127.0.0.1 port 25 milter { spam, dkim }\n"
		"listen on 127.0.0.1 port 587 milter six\n"
		"listen on 127.0.0.1 port 2525\n" TAIL, msg, sizeof msg);

	cr_assert_not_null(c, "%s", msg);
	cr_assert_eq(c->nmilters, 3);
	const struct rules_milter *d = &c->milters[0], *s = &c->milters[1], *v6 = &c->milters[2];
	cr_assert_str_eq(d->name, "dkim");
	cr_assert_eq(d->addr.ss_family, AF_INET);
	cr_assert_eq(ntohs(((const struct sockaddr_in *)&d->addr)->sin_port), 8891);
	cr_assert_eq(d->timeout_s, RULES_MILTER_TIMEOUT_S_DEFAULT);
	cr_assert_eq(d->dflt, RULES_MILTER_DEFAULT_TEMPFAIL, "tempfail by default, as Postfix");
	cr_assert_eq(s->addr.ss_family, AF_UNIX);
	cr_assert_str_eq(((const struct sockaddr_un *)&s->addr)->sun_path,
	                 "/run/rspamd/milter.sock");
	cr_assert_eq(s->timeout_s, 5);
	cr_assert_eq(s->dflt, RULES_MILTER_DEFAULT_ACCEPT);
	cr_assert_eq(v6->addr.ss_family, AF_INET6);
	cr_assert_eq(v6->timeout_s, 120);
	cr_assert_eq(v6->dflt, RULES_MILTER_DEFAULT_REJECT);
	cr_assert_eq(c->nlisteners, 3);
	cr_assert_eq(c->listeners[0].nmilters, 2);
	cr_assert_eq(c->listeners[0].milters[0], 1, "in the order the listener gives");
	cr_assert_eq(c->listeners[0].milters[1], 0);
	cr_assert_eq(c->listeners[1].nmilters, 1);
	cr_assert_eq(c->listeners[1].milters[0], 2);
	cr_assert_eq(c->listeners[2].nmilters, 0);
	cr_assert_eq(c->nunsupported, 0, "nothing left for later");
	cr_assert_str_eq(rules_milter_default_name(s->dflt), "accept");
	rules_free(c);
}

static const struct milter_err {
	const char *conf;
	const char *want;
} milter_errs[] = {
	{ "milter m \"inet:mx.example.org:25\"\n",
	  "t.conf:1:10: milter socket \"inet:mx.example.org:25\": inet: needs a numeric address "
	  "(or localhost): no DNS lookup at load" },
	{ "milter m \"inet:127.0.0.1\"\n",
	  "t.conf:1:10: milter socket \"inet:127.0.0.1\": inet: needs HOST:PORT" },
	{ "milter m \"inet:127.0.0.1:0\"\n",
	  "t.conf:1:10: milter socket \"inet:127.0.0.1:0\": inet: needs a port from 1 to 65535" },
	{ "milter m \"inet:[::1:25\"\n",
	  "t.conf:1:10: milter socket \"inet:[::1:25\": inet: needs an IPv6 address in brackets "
	  "then :PORT" },
	{ "milter m \"unix:run/x\"\n",
	  "t.conf:1:10: milter socket \"unix:run/x\": unix: needs an absolute path under 108 bytes" },
	{ "milter m \"tcp:1.2.3.4:5\"\n",
	  "t.conf:1:10: milter socket \"tcp:1.2.3.4:5\": expected \"inet:HOST:PORT\" or "
	  "\"unix:/path\"" },
	{ "milter m\n", "t.conf:1:9: milter m needs a socket (\"inet:127.0.0.1:8891\" or "
	  "\"unix:/path\")" },
	{ "milter m \"unix:/x\" timeout 2h\n", "t.conf:1:20: milter timeout from 1s to 3600s" },
	{ "milter m \"unix:/x\" default bounce\n",
	  "t.conf:1:28: unknown milter default action \"bounce\"" },
	{ "milter m \"unix:/x\" default accept default reject\n",
	  "t.conf:1:35: default already specified" },
	{ "milter m \"unix:/x\" retries 3\n", "t.conf:1:20: unknown milter option \"retries\"" },
	{ "milter m \"unix:/x\"\nmilter m \"unix:/y\"\n",
	  "t.conf:2:8: milter \"m\" already declared at line 1" },
	{ "listen on 127.0.0.1 milter m\nmilter m \"unix:/x\"\n",
	  "t.conf:1:28: unknown milter \"m\" (declare it before this line: milter m "
	  "\"inet:HOST:PORT\")" },
	{ "milter m \"unix:/x\"\nlisten on 127.0.0.1 milter { m m }\n",
	  "t.conf:2:32: milter \"m\" is twice in this list" },
	{ "milter m \"unix:/x\"\nlisten on 127.0.0.1 milter { }\n", "t.conf:2:28: empty milter list" },
	{ "milter m \"unix:/x\"\nlisten on 127.0.0.1 milter m milter m\n",
	  "t.conf:2:30: milter already specified" },
	{ "milter m \"unix:/x\"\nlisten on socket milter m\n",
	  "t.conf:2:18: \"listen on socket\" does not take \"milter\"" },
};

Test(milter_rules, errors)
{
	char conf[512], msg[1024];

	for (size_t i = 0; i < sizeof milter_errs / sizeof milter_errs[0]; i++) {
		snprintf(conf, sizeof conf, "%s" TAIL, milter_errs[i].conf);
		struct rules_config *c = helper_load(conf, msg, sizeof msg);
		cr_expect_null(c, "case %zu loaded", i);
		if (c != NULL) {
			rules_free(c);
			continue;
		}
		char *nl = strchr(msg, '\n');
		if (nl != NULL)
			*nl = '\0';   /* the first line: place and message */
		cr_expect_str_eq(msg, milter_errs[i].want, "case %zu: got %s, want %s", i, msg,
		                 milter_errs[i].want);
	}
}

Test(milter_rules, dumped_by_smtpd_n_v)
{
	char msg[512], *text = NULL;
	size_t len = 0;
	struct rules_config *c = helper_load(
		"milter dkim \"inet:127.0.0.1:8891\"\n"
		"milter spam \"unix:/run/spam.sock\" timeout 5s default accept\n"
		"listen on 127.0.0.1 port 25 milter { spam, dkim }\n" TAIL, msg, sizeof msg);

	cr_assert_not_null(c, "%s", msg);
	FILE *out = open_memstream(&text, &len);
	rules_dump(c, out);
	fclose(out);
	cr_assert(strstr(text, "listener 1 (line 3): 127.0.0.1 port 25 milter spam, dkim\n") != NULL,
	          "%s", text);
	cr_assert(strstr(text, "milters (2):\n  milter dkim (line 1): \"inet:127.0.0.1:8891\" "
	                 "timeout 30s default tempfail, on listener 1\n  milter spam (line 2): "
	                 "\"unix:/run/spam.sock\" timeout 5s default accept, on listener 1\n")
	          != NULL, "%s", text);
	free(text);
	rules_free(c);
}
