/*
 * test/proto/test_smtp_client_tls.c - STARTTLS and AUTH in the client
 * machine (proto/smtp_client.c), scripted peers
 * (what the client must send, what the server answers) for opportunistic
 * and required STARTTLS, smtps, AUTH PLAIN and LOGIN, refusals that end the
 * session, and credentials never sent without TLS.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/smtp_client.h"
#include "proto/smtp_reply.h"

struct step {
	const char *sent;   /* what the client sent since the last step */
	const char *reply;  /* the server's answer */
};

struct tls_script {
	const char *name;
	int tls;            /* PROTO_CLIENT_TLS_* */
	int on_connect;
	const char *user, *pass;
	const struct step *steps;   /* ends with { NULL, NULL } */
	const char *events;         /* "starttls, ready" ... "closed CODE" */
	const char *closed_text;    /* when set: CLOSED's text */
};

/* Run s: at READY the script ends with QUIT unless the last step answers
 * it; STARTTLS events log "starttls" and the handshake is taken as done. */
static void
run(const struct tls_script *s)
{
	struct proto_client_params p = {
		.helo = "client.example", .tls = s->tls, .tls_on_connect = s->on_connect,
		.auth_user = s->user, .auth_pass = s->pass,
	};
	static struct proto_client c;
	char sent[4096] = "", log[512] = "";
	unsigned step = 0, iter;

	proto_client_init(&c, &p);
	for (iter = 0; iter < 1000; iter++) {
		struct proto_client_event e;
		enum proto_client_event_kind k = proto_client_next(&c, &e);
		char item[PROTO_CLIENT_REPLY_BYTES_MAX + 32];

		item[0] = '\0';
		if (k == PROTO_CEV_SEND) {
			size_t have = strlen(sent);

			cr_assert_lt(have + c.out_len, sizeof(sent));
			memcpy(sent + have, c.out, c.out_len);
			sent[have + c.out_len] = '\0';
			proto_client_out_sent(&c, c.out_len);
			continue;
		}
		if (k == PROTO_CEV_NEED_MORE) {
			cr_assert_not_null(s->steps[step].sent, "%s: waits after the last step, "
			                   "sent \"%s\"", s->name, sent);
			cr_assert_str_eq(sent, s->steps[step].sent, "%s step %u", s->name, step);
			sent[0] = '\0';
			proto_client_feed(&c, s->steps[step].reply, strlen(s->steps[step].reply));
			step++;
			continue;
		}
		if (k == PROTO_CEV_STARTTLS) {
			snprintf(item, sizeof(item), "starttls");
			proto_client_tls_done(&c);
		} else if (k == PROTO_CEV_READY) {
			snprintf(item, sizeof(item), "ready");
			proto_client_quit(&c);
		} else {
			cr_assert_eq(k, PROTO_CEV_CLOSED, "%s: event %d", s->name, k);
			snprintf(item, sizeof(item), "closed %d", e.code);
			if (s->closed_text != NULL)
				cr_expect_str_eq(e.text, s->closed_text, "%s", s->name);
		}
		if (log[0] != '\0')
			strncat(log, ", ", sizeof(log) - strlen(log) - 1);
		strncat(log, item, sizeof(log) - strlen(log) - 1);
		if (k == PROTO_CEV_CLOSED)
			break;
	}
	cr_assert_null(s->steps[step].sent, "%s: stopped before step %u (%s)", s->name, step, log);
	cr_expect_str_eq(sent, "", "%s: sent after the last step", s->name);
	cr_expect_str_eq(log, s->events, "%s: events %s, want %s", s->name, log, s->events);
}

#define GREET { "", "220 mx.example ESMTP\r\n" }
#define EHLO_TLS { "EHLO client.example\r\n", "250-mx.example\r\n250 STARTTLS\r\n" }
#define EHLO_NOTLS { "EHLO client.example\r\n", "250-mx.example\r\n250 8BITMIME\r\n" }
#define STARTTLS_OK { "STARTTLS\r\n", "220 2.0.0 ready\r\n" }
#define QUIT_BYE { "QUIT\r\n", "221 2.0.0 bye\r\n" }
#define END { NULL, NULL }
/* base64 of "\0bob\0s3cret" */
#define PLAIN_BOB "AGJvYgBzM2NyZXQ="

Test(smtp_client_tls, opportunistic_starttls_when_offered)
{
	static const struct step steps[] = {
		GREET, EHLO_TLS, STARTTLS_OK,
		{ "EHLO client.example\r\n", "250-mx.example\r\n250 PIPELINING\r\n" },
		QUIT_BYE, END,
	};
	static const struct tls_script s = {
		"opportunistic", PROTO_CLIENT_TLS_OPPORTUNISTIC, 0, NULL, NULL, steps,
		"starttls, ready, closed 221", NULL,
	};
	run(&s);
}

Test(smtp_client_tls, opportunistic_goes_plain_when_not_offered_or_refused)
{
	static const struct step none[] = { GREET, EHLO_NOTLS, QUIT_BYE, END };
	static const struct step refused[] = {
		GREET, EHLO_TLS, { "STARTTLS\r\n", "454 4.7.0 TLS not available\r\n" }, QUIT_BYE, END,
	};
	static const struct tls_script s1 = {
		"not offered", PROTO_CLIENT_TLS_OPPORTUNISTIC, 0, NULL, NULL, none,
		"ready, closed 221", NULL,
	};
	static const struct tls_script s2 = {
		"refused", PROTO_CLIENT_TLS_OPPORTUNISTIC, 0, NULL, NULL, refused,
		"ready, closed 221", NULL,
	};
	run(&s1);
	run(&s2);
}

Test(smtp_client_tls, no_tls_never_asks)
{
	static const struct step steps[] = { GREET, EHLO_TLS, QUIT_BYE, END };
	static const struct tls_script s = {
		"notls", PROTO_CLIENT_TLS_NONE, 0, NULL, NULL, steps, "ready, closed 221", NULL,
	};
	run(&s);
}

Test(smtp_client_tls, required_ends_the_session_without_tls)
{
	static const struct step none[] = { GREET, EHLO_NOTLS, QUIT_BYE, END };
	static const struct step refused[] = {
		GREET, EHLO_TLS, { "STARTTLS\r\n", "454 4.7.0 TLS not available\r\n" }, QUIT_BYE, END,
	};
	static const struct step helo[] = {
		GREET, { "EHLO client.example\r\n", "502 5.5.2 no\r\n" },
		{ "HELO client.example\r\n", "250 mx.example\r\n" }, QUIT_BYE, END,
	};
	static const struct tls_script s1 = {
		"required, not offered", PROTO_CLIENT_TLS_REQUIRED, 0, NULL, NULL, none,
		"closed 0", "TLS required, but the server does not offer STARTTLS",
	};
	static const struct tls_script s2 = {
		"required, refused", PROTO_CLIENT_TLS_REQUIRED, 0, NULL, NULL, refused,
		"closed 0", "TLS required, but STARTTLS was refused: 454 4.7.0 TLS not available",
	};
	static const struct tls_script s3 = {
		"required, HELO only", PROTO_CLIENT_TLS_REQUIRED, 0, NULL, NULL, helo,
		"closed 0", "TLS required, but the server does not offer STARTTLS",
	};
	run(&s1);
	run(&s2);
	run(&s3);
}

Test(smtp_client_tls, bytes_after_the_220_are_dropped)
{
	/* RFC 3207 5 (CVE-2011-0411 on the client side): a reply injected in
	 * plain text behind the 220 must not answer the EHLO sent under TLS */
	static const struct step steps[] = {
		GREET, EHLO_TLS,
		{ "STARTTLS\r\n", "220 2.0.0 ready\r\n250-evil.example\r\n250 AUTH PLAIN\r\n" },
		{ "EHLO client.example\r\n", "250 mx.example\r\n" },
		QUIT_BYE, END,
	};
	static const struct tls_script s = {
		"injection", PROTO_CLIENT_TLS_REQUIRED, 0, NULL, NULL, steps,
		"starttls, ready, closed 221", NULL,
	};
	run(&s);
}

Test(smtp_client_tls, auth_plain_after_starttls)
{
	static const struct step steps[] = {
		GREET, EHLO_TLS, STARTTLS_OK,
		{ "EHLO client.example\r\n", "250-mx.example\r\n250-AUTH LOGIN PLAIN\r\n250 SIZE\r\n" },
		{ "AUTH PLAIN " PLAIN_BOB "\r\n", "235 2.7.0 ok\r\n" },
		QUIT_BYE, END,
	};
	static const struct tls_script s = {
		"plain", PROTO_CLIENT_TLS_REQUIRED, 0, "bob", "s3cret", steps,
		"starttls, ready, closed 221", NULL,
	};
	run(&s);
}

Test(smtp_client_tls, auth_login_on_smtps)
{
	static const struct step steps[] = {
		GREET,
		{ "EHLO client.example\r\n", "250-mx.example\r\n250 AUTH=LOGIN\r\n" },
		{ "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n" },
		{ "Ym9i\r\n", "334 UGFzc3dvcmQ6\r\n" },
		{ "czNjcmV0\r\n", "235 2.7.0 ok\r\n" },
		QUIT_BYE, END,
	};
	static const struct tls_script s = {
		"login", PROTO_CLIENT_TLS_NONE, 1, "bob", "s3cret", steps, "ready, closed 221", NULL,
	};
	run(&s);
}

Test(smtp_client_tls, auth_refusals_end_the_session)
{
	static const struct step bad[] = {
		GREET, { "EHLO client.example\r\n", "250-mx.example\r\n250 AUTH PLAIN\r\n" },
		{ "AUTH PLAIN " PLAIN_BOB "\r\n", "535 5.7.8 Authentication credentials invalid\r\n" },
		QUIT_BYE, END,
	};
	static const struct step later[] = {
		GREET, { "EHLO client.example\r\n", "250-mx.example\r\n250 AUTH PLAIN\r\n" },
		{ "AUTH PLAIN " PLAIN_BOB "\r\n", "454 4.7.0 Temporary authentication failure\r\n" },
		QUIT_BYE, END,
	};
	static const struct step nomech[] = {
		GREET, { "EHLO client.example\r\n", "250-mx.example\r\n250 AUTH CRAM-MD5\r\n" },
		QUIT_BYE, END,
	};
	static const struct step noauth[] = { GREET, EHLO_NOTLS, QUIT_BYE, END };
	static const struct tls_script s1 = {
		"535", PROTO_CLIENT_TLS_NONE, 1, "bob", "s3cret", bad,
		"closed 535", "535 5.7.8 Authentication credentials invalid",
	};
	static const struct tls_script s2 = {
		"454", PROTO_CLIENT_TLS_NONE, 1, "bob", "s3cret", later,
		"closed 454", "454 4.7.0 Temporary authentication failure",
	};
	static const struct tls_script s3 = {
		"no mechanism", PROTO_CLIENT_TLS_NONE, 1, "bob", "s3cret", nomech,
		"closed 0", "the server offers neither AUTH PLAIN nor AUTH LOGIN",
	};
	static const struct tls_script s4 = {
		"no AUTH", PROTO_CLIENT_TLS_NONE, 1, "bob", "s3cret", noauth,
		"closed 0", "the server does not offer AUTH",
	};
	run(&s1);
	run(&s2);
	run(&s3);
	run(&s4);
}

Test(smtp_client_tls, credentials_never_go_without_tls)
{
	/* opportunistic with credentials: STARTTLS refused or not offered, the
	 * server offers AUTH PLAIN in plain text, and the client only says QUIT */
	static const struct step refused[] = {
		GREET, { "EHLO client.example\r\n", "250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n" },
		{ "STARTTLS\r\n", "454 4.7.0 TLS not available\r\n" }, QUIT_BYE, END,
	};
	static const struct step none[] = {
		GREET, { "EHLO client.example\r\n", "250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n" },
		QUIT_BYE, END,
	};
	static const struct tls_script s1 = {
		"refused", PROTO_CLIENT_TLS_OPPORTUNISTIC, 0, "bob", "s3cret", refused,
		"closed 0", "not sending credentials without TLS",
	};
	static const struct tls_script s2 = {
		"not offered", PROTO_CLIENT_TLS_OPPORTUNISTIC, 0, "bob", "s3cret", none,
		"closed 0", "not sending credentials without TLS",
	};
	static const struct tls_script s3 = {
		"never", PROTO_CLIENT_TLS_NONE, 0, "bob", "s3cret", none,
		"closed 0", "not sending credentials without TLS",
	};
	run(&s1);
	run(&s2);
	run(&s3);
}

Test(smtp_client_tls, auth_mechanisms_from_ehlo)
{
	static const struct { const char *line; unsigned want; } cases[] = {
		{ "AUTH PLAIN LOGIN", PROTO_AUTH_MECH_PLAIN | PROTO_AUTH_MECH_LOGIN },
		{ "AUTH=LOGIN", PROTO_AUTH_MECH_LOGIN },
		{ "auth cram-md5 plain", PROTO_AUTH_MECH_PLAIN },
		{ "AUTH PLAINX LOGINS", 0 },
		{ "AUTH", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = proto_reply_auth_mechs(cases[i].line, strlen(cases[i].line));
		cr_expect_eq(got, cases[i].want, "%s: got %u want %u", cases[i].line, got,
		             cases[i].want);
	}
}
