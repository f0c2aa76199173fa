/*
 * test/proto/test_filter_proto.c - tests of proto/filter_proto.c: the
 * handshake, report and filter request lines smtpd writes (escaping,
 * bounds), and the lines a filter writes back, well-formed and malformed,
 * as a table of transcripts with the parse rendered to one string.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/filter_proto.h"

static const struct proto_filter_ts ts = { 1576146008, 6099 };

Test(filter_proto, config_handshake)
{
	char out[512];
	int n = proto_filter_config(out, sizeof out, "7.4.0", 300);

	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "config|smtpd-version|7.4.0\nconfig|protocol|0.7\n"
	                 "config|smtp-session-timeout|300\nconfig|subsystem|smtp-in\n"
	                 "config|ready\n");
	cr_assert_eq(proto_filter_config(out, 40, "7.4.0", 300), -1, "a short buffer is -1");
}

Test(filter_proto, report_link_connect)
{
	char out[512];
	const char *p[] = { "mail.example.org", "pass", "192.0.2.1:33174", "127.0.0.1:25" };
	int n = proto_filter_report(out, sizeof out, &ts, PROTO_FEV_LINK_CONNECT,
	                            0x7641df9771b4ed00ull, p, 4);

	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "report|0.7|1576146008.006099|smtp-in|link-connect|7641df9771b4ed00|"
	                 "mail.example.org|pass|192.0.2.1:33174|127.0.0.1:25\n");
}

Test(filter_proto, report_without_params)
{
	char out[128];
	int n = proto_filter_report(out, sizeof out, &ts, PROTO_FEV_LINK_DISCONNECT, 1, NULL, 0);

	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "report|0.7|1576146008.006099|smtp-in|link-disconnect|"
	                 "0000000000000001\n");
}

Test(filter_proto, escaping)
{
	char out[256];
	/* a control character anywhere and '|' before the last field become
	 * '?'; the last field keeps its '|' */
	const char *p[] = { "a|b\r\nc", "x|y\tz" };
	int n = proto_filter_request(out, sizeof out, &ts, PROTO_FPHASE_MAIL_FROM, 2, 3, p, 2);

	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert_str_eq(out, "filter|0.7|1576146008.006099|smtp-in|mail-from|0000000000000002|"
	                 "0000000000000003|a?b??c|x|y?z\n");
	cr_assert_eq(memchr(out, '\n', (size_t)n - 1), NULL, "one line");
}

Test(filter_proto, request_bounds)
{
	static char big[PROTO_FILTER_LINE_BYTES_MAX + 10];
	static char out[2 * PROTO_FILTER_LINE_BYTES_MAX];
	const char *p[] = { big };

	memset(big, 'a', sizeof big - 1);
	cr_assert_eq(proto_filter_request(out, sizeof out, &ts, PROTO_FPHASE_DATA_LINE, 1, 2, p, 1),
	             -1, "a line over the limit is refused");
	cr_assert_eq(proto_filter_request(out, 20, &ts, PROTO_FPHASE_DATA, 1, 2, NULL, 0), -1);
	struct proto_filter_ts bad = { 1, 1000000 };
	cr_assert_eq(proto_filter_request(out, sizeof out, &bad, PROTO_FPHASE_DATA, 1, 2, NULL, 0),
	             -1, "microseconds above 999999");
}

/* One parse rendered: "ERROR" or kind and fields. */
static void
render(const char *line, char *out, size_t cap)
{
	struct proto_filter_msg m;

	if (proto_filter_parse(line, strlen(line), &m) < 0) {
		snprintf(out, cap, "ERROR");
		return;
	}
	switch (m.kind) {
	case PROTO_FMSG_REGISTER_REPORT:
		snprintf(out, cap, "report %d", m.index);
		break;
	case PROTO_FMSG_REGISTER_FILTER:
		snprintf(out, cap, "filter %d", m.index);
		break;
	case PROTO_FMSG_REGISTER_READY:
		snprintf(out, cap, "ready");
		break;
	case PROTO_FMSG_RESULT:
		snprintf(out, cap, "result %" PRIx64 " %" PRIx64 " %d %u [%.*s]", m.sid, m.token,
		         (int)m.decision, m.code, (int)m.param_len, m.param);
		break;
	case PROTO_FMSG_DATALINE:
		snprintf(out, cap, "dataline %" PRIx64 " %" PRIx64 " [%.*s]", m.sid, m.token,
		         (int)m.param_len, m.param);
		break;
	case PROTO_FMSG_REPORT:
		snprintf(out, cap, "own-report %" PRIx64 " [%.*s]", m.sid, (int)m.param_len, m.param);
		break;
	}
}

static const struct {
	const char *line, *want;
} transcript[] = {
	{ "register|report|smtp-in|link-connect", "report 0" },
	{ "register|report|smtp-in|timeout", "report 18" },
	{ "register|report|smtp-in|*", "report -1" },
	{ "register|report|smtp-in|no-such-event", "report -2" },
	{ "register|filter|smtp-in|mail-from", "filter 5" },
	{ "register|filter|smtp-in|data-line", "filter 8" },
	{ "register|filter|smtp-in|commit", "filter 14" },
	{ "register|filter|smtp-in|bogus", "filter -2" },
	{ "register|ready", "ready" },
	{ "register|filter|smtp-out|connect", "ERROR" },
	{ "register|filter|smtp-in|", "ERROR" },
	{ "register|filter|smtp-in|a|b", "ERROR" },
	{ "register|other|smtp-in|connect", "ERROR" },
	{ "register|ready|now", "ERROR" },
	{ "filter-result|7641df9771b4ed00|1ef1c203cc576e5d|proceed",
	  "result 7641df9771b4ed00 1ef1c203cc576e5d 0 0 []" },
	{ "filter-result|1|2|junk", "result 1 2 1 0 []" },
	{ "filter-result|1|2|reject|550 nope", "result 1 2 2 550 [nope]" },
	{ "filter-result|1|2|reject|550 5.7.1 no | way", "result 1 2 2 550 [5.7.1 no | way]" },
	{ "filter-result|1|2|reject|421", "result 1 2 2 421 []" },
	{ "filter-result|1|2|disconnect|421 bye", "result 1 2 3 421 [bye]" },
	{ "filter-result|1|2|rewrite|<a@b.example>", "result 1 2 4 0 [<a@b.example>]" },
	{ "filter-result|1|2|report|seen it", "result 1 2 5 0 [seen it]" },
	{ "filter-result|1|2|reject|250 ok", "ERROR" },
	{ "filter-result|1|2|reject|55 short", "ERROR" },
	{ "filter-result|1|2|reject|550nope", "ERROR" },
	{ "filter-result|1|2|reject", "ERROR" },
	{ "filter-result|1|2|rewrite", "ERROR" },
	{ "filter-result|1|2|proceed|extra", "ERROR" },
	{ "filter-result|1|2|maybe", "ERROR" },
	{ "filter-result|xyz|2|proceed", "ERROR" },
	{ "filter-result|1|12345678901234567|proceed", "ERROR" },
	{ "filter-result||2|proceed", "ERROR" },
	{ "filter-result|1|2", "ERROR" },
	{ "filter-dataline|1|2|Subject: hi", "dataline 1 2 [Subject: hi]" },
	{ "filter-dataline|1|2|", "dataline 1 2 []" },
	{ "filter-dataline|1|2|.", "dataline 1 2 [.]" },
	{ "filter-dataline|1|2|a|b", "dataline 1 2 [a|b]" },
	{ "filter-dataline|1|2", "ERROR" },
	{ "report|0.7|1576146008.006099|smtp-in|abc|spam score 3",
	  "own-report abc [spam score 3]" },
	{ "report|0.7|1576146008.006099|smtp-out|abc|x", "ERROR" },
	{ "hello", "ERROR" },
	{ "", "ERROR" },
	{ "filter-result|1|2|proceed\r", "ERROR" },
};

Test(filter_proto, parse_transcript)
{
	char got[256];

	for (size_t i = 0; i < sizeof transcript / sizeof transcript[0]; i++) {
		render(transcript[i].line, got, sizeof got);
		cr_expect_str_eq(got, transcript[i].want, "\"%s\": got %s, want %s",
		                 transcript[i].line, got, transcript[i].want);
	}
}

Test(filter_proto, parse_refuses_nul_and_long_lines)
{
	static char big[PROTO_FILTER_LINE_BYTES_MAX + 2];
	struct proto_filter_msg m;
	const char nul[] = "filter-result|1|2|proceed\0x";

	cr_assert_eq(proto_filter_parse(nul, sizeof nul - 1, &m), -1);
	memcpy(big, "filter-dataline|1|2|", 20);
	memset(big + 20, 'a', sizeof big - 20);
	cr_assert_eq(proto_filter_parse(big, sizeof big, &m), -1);
	cr_assert_eq(proto_filter_parse(big, PROTO_FILTER_LINE_BYTES_MAX, &m), 0);
}

Test(filter_proto, dataline_unstuff)
{
	const char *o;
	size_t n;

	cr_assert_eq(proto_filter_dataline_unstuff(".", 1, &o, &n), 1, "the end");
	cr_assert_eq(proto_filter_dataline_unstuff("..", 2, &o, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(o[0], '.');
	cr_assert_eq(proto_filter_dataline_unstuff("..x", 3, &o, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(proto_filter_dataline_unstuff("abc", 3, &o, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(proto_filter_dataline_unstuff("", 0, &o, &n), 0);
	cr_assert_eq(n, 0);
}

Test(filter_proto, names)
{
	cr_assert_str_eq(proto_filter_phase_name(PROTO_FPHASE_DATA_LINE), "data-line");
	cr_assert_str_eq(proto_filter_event_name(PROTO_FEV_TX_COMMIT), "tx-commit");
	cr_assert_eq(proto_filter_phase_find("rcpt-to", 7), PROTO_FPHASE_RCPT_TO);
	cr_assert_eq(proto_filter_event_find("tx-mail", 7), PROTO_FEV_TX_MAIL);
	cr_assert_eq(proto_filter_event_find("tx-mai", 6), -1);
}

Test(filter_proto, dataline_request_stuffs_the_message_lines)
{
	static const struct {
		const char *line;
		int stuff;
		const char *want;
	} t[] = {
		{ "Subject: hi", 1, "Subject: hi" },
		{ ".hidden", 1, "..hidden" },       /* RFC 5321 4.5.2, as SMTP carried it */
		{ ".", 1, ".." },                  /* a lone dot of the message is not the end */
		{ "", 1, "" },
		{ "\tfolded | with bars", 1, "\tfolded | with bars" }, /* tab and '|' kept */
		{ "..as returned", 0, "..as returned" },  /* a filter's line, forwarded */
		{ ".", 0, "." },                   /* the end */
		{ "a\rb", 1, "a?b" },
	};
	char out[256], want[256];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int n = proto_filter_dataline(out, sizeof out, &ts, 0xab, 0x1f, t[i].line,
		                              strlen(t[i].line), t[i].stuff);
		cr_assert_gt(n, 0, "\"%s\"", t[i].line);
		out[n] = '\0';
		snprintf(want, sizeof want, "filter|0.7|1576146008.006099|smtp-in|data-line|"
		         "00000000000000ab|000000000000001f|%s\n", t[i].want);
		cr_expect_str_eq(out, want, "\"%s\": got %s", t[i].line, out);
	}
	const char nul[] = "x\0y";
	int n = proto_filter_dataline(out, sizeof out, &ts, 1, 2, nul, 3, 1);
	cr_assert_gt(n, 4);
	cr_assert_eq(memcmp(out + n - 4, "x?y\n", 4), 0, "NUL cannot cross");
}

Test(filter_proto, dataline_request_bounds)
{
	static char line[PROTO_FILTER_DATALINE_BYTES_MAX + 1];
	static char out[PROTO_FILTER_LINE_BYTES_MAX + 1];

	memset(line, 'x', sizeof line);
	cr_assert_gt(proto_filter_dataline(out, sizeof out, &ts, 1, 2, line,
	                                   PROTO_FILTER_DATALINE_BYTES_MAX, 1), 0,
	             "the longest line the server accepts fits, stuffed or not");
	line[0] = '.';
	cr_assert_gt(proto_filter_dataline(out, sizeof out, &ts, 1, 2, line,
	                                   PROTO_FILTER_DATALINE_BYTES_MAX, 1), 0);
	cr_assert_eq(proto_filter_dataline(out, sizeof out, &ts, 1, 2, line, sizeof line, 1), -1);
	cr_assert_eq(proto_filter_dataline(out, 90, &ts, 1, 2, line, 20, 1), -1, "short buffer");
}

/* Lines cut from feeds, collected as "[line]" strings. */
struct collected {
	char s[512];
	int stop_at;   /* emit returns -1 at this line (1-based), 0: never */
	int count;
};

static int
collect(void *arg, const char *line, size_t len)
{
	struct collected *c = arg;
	size_t used = strlen(c->s);

	c->count++;
	snprintf(c->s + used, sizeof c->s - used, "[%.*s]", (int)len, line);
	return c->count == c->stop_at ? -1 : 0;
}

Test(filter_proto, lines_any_cut_gives_the_same_lines)
{
	static struct proto_filter_lines b;
	const char msg[] = "Subject: a\r\n\tfolded\r\n\r\nbody\nbare lf\r\nlast";
	const char *want = "[Subject: a][\tfolded][][body][bare lf][last]";
	size_t total = sizeof msg - 1;

	for (size_t cut = 1; cut <= total; cut++) {
		struct collected c = { "", 0, 0 };
		b.len = 0;
		for (size_t off = 0; off < total; off += cut) {
			size_t n = total - off < cut ? total - off : cut;
			cr_assert_eq(proto_filter_lines_feed(&b, msg + off, n, collect, &c), 0);
		}
		cr_assert_eq(proto_filter_lines_end(&b, collect, &c), 0);
		cr_expect_str_eq(c.s, want, "cut %zu: got %s", cut, c.s);
	}
}

Test(filter_proto, lines_stop_and_overlong)
{
	static struct proto_filter_lines b;
	static char big[PROTO_FILTER_DATALINE_BYTES_MAX + 8];
	struct collected c = { "", 2, 0 };

	cr_assert_eq(proto_filter_lines_feed(&b, "a\r\nb\r\nc\r\n", 9, collect, &c), -1,
	             "emit's -1 stops the feed");
	cr_assert_str_eq(c.s, "[a][b]");
	memset(big, 'y', sizeof big);
	b.len = 0;
	struct collected d = { "", 0, 0 };
	cr_assert_eq(proto_filter_lines_feed(&b, big, sizeof big, collect, &d), -2);
	b.len = 0;
	big[PROTO_FILTER_DATALINE_BYTES_MAX] = '\r';
	big[PROTO_FILTER_DATALINE_BYTES_MAX + 1] = '\n';
	cr_assert_eq(proto_filter_lines_feed(&b, big, PROTO_FILTER_DATALINE_BYTES_MAX + 2, collect,
	                                     &d), 0, "the longest line passes");
	cr_assert_eq(d.count, 1);
	big[PROTO_FILTER_DATALINE_BYTES_MAX] = 'y';
	big[PROTO_FILTER_DATALINE_BYTES_MAX + 1] = '\n';
	cr_assert_eq(proto_filter_lines_feed(&b, big, PROTO_FILTER_DATALINE_BYTES_MAX + 2, collect,
	                                     &d), -2, "one octet more is refused");
}
