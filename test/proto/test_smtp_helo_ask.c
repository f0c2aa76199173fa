/*
 * test/proto/test_smtp_helo_ask.c - params.ask_helo: HELO and EHLO become
 * a question (the daemon's builtin filters decide them); a 2xx answer
 * sends the machine's own greeting lines, a refusal is said and leaves
 * the client ungreeted; proto_server_close_with() says a last reply and
 * closes, in place of the banner too.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/smtp_server.h"

static struct proto_server srv;

static void
ask_init(void)
{
	struct proto_server_params p = { .hostname = "mx.example.org", .ask_helo = 1 };

	proto_server_init(&srv, &p);
}

/* Feed line, return the next event (the output stays in srv.out). */
static enum proto_event_kind
ask_feed(const char *line, struct proto_event *ev)
{
	proto_server_feed(&srv, line, strlen(line));
	return proto_server_next(&srv, ev);
}

Test(smtp_helo_ask, refusal_then_greeting)
{
	struct proto_event ev;

	ask_init();
	cr_assert_eq(ask_feed("EHLO bad.example\r\n", &ev), PROTO_EV_HELO);
	cr_expect_str_eq(ev.helo, "bad.example");
	cr_expect_eq(ev.esmtp, 1);
	cr_expect_eq(srv.out_len, 0, "nothing said before the answer");
	proto_server_answer(&srv, 550, NULL, "5.7.1 Bad EHLO");
	cr_assert_eq(proto_server_next(&srv, &ev), PROTO_EV_NEED_MORE);
	cr_expect_eq(ask_feed("MAIL FROM:<a@b.example>\r\n", &ev), PROTO_EV_NEED_MORE,
	             "not greeted: MAIL is a sequence error");
	cr_expect(strstr(srv.out, "550 5.7.1 Bad EHLO\r\n503 ") == srv.out, "got %s", srv.out);
	proto_server_out_sent(&srv, srv.out_len);
	cr_assert_eq(ask_feed("HELO good.example\r\n", &ev), PROTO_EV_HELO);
	cr_expect_eq(ev.esmtp, 0);
	proto_server_answer(&srv, 250, NULL, "ignored");
	static const char want[] = "250 mx.example.org Hello good.example\r\n";
	cr_expect(srv.out_len == sizeof want - 1 && memcmp(srv.out, want, sizeof want - 1) == 0,
	          "got %.*s", (int)srv.out_len, srv.out);
	cr_expect_eq(srv.state, PROTO_S_HELO);
}

Test(smtp_helo_ask, close_with_replaces_the_banner)
{
	struct proto_event ev;

	ask_init();
	proto_server_close_with(&srv, 554, "5.7.1", "No service");
	cr_expect(srv.out_len == 22 && memcmp(srv.out, "554 5.7.1 No service\r\n", 22) == 0,
	          "got %.*s", (int)srv.out_len, srv.out);
	cr_expect_eq(proto_server_next(&srv, &ev), PROTO_EV_CLOSE);
}
