/*
 * bench/sink_auth.c - AUTH on sink sessions (RFC 4954): PLAIN (RFC 4616,
 * with an initial response or after "334 ") and LOGIN (username and
 * password after two 334 prompts). Any credentials are taken; a response
 * that is not valid base64, or a PLAIN message without NULs, gets 501 and
 * is counted as bad. "*" cancels (501).
 */
#include <string.h>
#include <strings.h>

#include "bench/saslplain.h"
#include "bench/sink_int.h"

#define SINK_AUTH_OK "235 2.7.0 Authentication successful\r\n"

/* A decoded PLAIN response. */
static const char *
ssession_auth_plain(struct bench_ssession *s, const char *b64)
{
	char user[BENCH_AUTH_PART_BYTES_MAX + 1];
	s->auth_step = SINK_AUTH_NONE;
	if (bench_auth_plain_decode(b64, user, sizeof user) < 0) {
		sink_count(&s->sk->ctr.auth_bad, 1);
		return "501 5.5.2 Error: malformed PLAIN response\r\n";
	}
	s->authed = 1;
	sink_count(&s->sk->ctr.auth_ok, 1);
	return SINK_AUTH_OK;
}

/* Is text base64 of at most 255 bytes? */
static int
sink_auth_b64_ok(const char *text)
{
	unsigned char buf[BENCH_AUTH_PART_BYTES_MAX];
	return bench_b64_decode(text, strlen(text), buf, sizeof buf) >= 0;
}

const char *
ssession_auth(struct bench_ssession *s, const char *arg)
{
	if (!s->sk->cfg->auth)
		return "502 5.5.2 Error: command not recognized\r\n";
	if (s->authed)
		return "503 5.5.1 Error: already authenticated\r\n";
	if (s->has_mail)
		return "503 5.5.1 Error: AUTH during a mail transaction\r\n";
	size_t mlen = strcspn(arg, " ");
	const char *initial = arg[mlen] == ' ' ? arg + mlen + 1 : NULL;
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		if (initial != NULL)
			return ssession_auth_plain(s, initial);
		s->auth_step = SINK_AUTH_PLAIN;
		return "334 \r\n";
	}
	if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		if (initial != NULL) {
			if (!sink_auth_b64_ok(initial)) {
				sink_count(&s->sk->ctr.auth_bad, 1);
				return "501 5.5.2 Error: malformed username\r\n";
			}
			s->auth_step = SINK_AUTH_LOGIN_PASS;
			return "334 UGFzc3dvcmQ6\r\n";
		}
		s->auth_step = SINK_AUTH_LOGIN_USER;
		return "334 VXNlcm5hbWU6\r\n";
	}
	return "504 5.5.4 Error: unrecognized authentication type\r\n";
}

const char *
ssession_auth_line(struct bench_ssession *s, const char *line)
{
	int step = s->auth_step;
	if (strcmp(line, "*") == 0) {
		s->auth_step = SINK_AUTH_NONE;
		return "501 5.7.0 Authentication cancelled\r\n";
	}
	if (step == SINK_AUTH_PLAIN)
		return ssession_auth_plain(s, line);
	if (!sink_auth_b64_ok(line)) {
		s->auth_step = SINK_AUTH_NONE;
		sink_count(&s->sk->ctr.auth_bad, 1);
		return "501 5.5.2 Error: cannot decode the response\r\n";
	}
	if (step == SINK_AUTH_LOGIN_USER) {
		s->auth_step = SINK_AUTH_LOGIN_PASS;
		return "334 UGFzc3dvcmQ6\r\n";
	}
	s->auth_step = SINK_AUTH_NONE;
	s->authed = 1;
	sink_count(&s->sk->ctr.auth_ok, 1);
	return SINK_AUTH_OK;
}
