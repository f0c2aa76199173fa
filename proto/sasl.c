/*
 * proto/sasl.c - the PLAIN and LOGIN exchanges of SMTP AUTH, decoded and
 * checked with no I/O (see proto/sasl.h).
 */
#include "proto/sasl.h"

#include <string.h>
#include <strings.h>

#include "proto/base64.h"

#define SASL_LOGIN_USER "VXNlcm5hbWU6"   /* "Username:" */
#define SASL_LOGIN_PASS "UGFzc3dvcmQ6"   /* "Password:" */

/* See proto/sasl.h. */
void
proto_sasl_wipe(struct proto_sasl *x)
{
	explicit_bzero(x, sizeof *x);
}

/* Wipe x and fill r with a refusal. Returns PROTO_SASL_REFUSE. */
static enum proto_sasl_result
sasl_refuse(struct proto_sasl *x, struct proto_sasl_reply *r, int code, const char *status,
            const char *text)
{
	proto_sasl_wipe(x);
	r->code = code;
	r->status = status;
	r->text = text;
	return PROTO_SASL_REFUSE;
}

static enum proto_sasl_result
sasl_syntax(struct proto_sasl *x, struct proto_sasl_reply *r)
{
	return sasl_refuse(x, r, 501, "5.5.2", "Syntax error");
}

/* Fill r with a 334 challenge. Returns PROTO_SASL_CHALLENGE. */
static enum proto_sasl_result
sasl_challenge(struct proto_sasl_reply *r, const char *text)
{
	r->code = 334;
	r->status = NULL;
	r->text = text;
	return PROTO_SASL_CHALLENGE;
}

/* 1 when p[0..n) is fit to be a user name or password: not empty, at most
 * max octets, no CR, LF or NUL. */
static int
sasl_part_ok(const unsigned char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n')
			return 0;
	return 1;
}

/* Copy a checked part into dst (NUL-terminated). */
static void
sasl_part_copy(char *dst, const unsigned char *p, size_t n)
{
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* PLAIN's message, RFC 4616 2: [authzid] NUL authcid NUL passwd. */
static enum proto_sasl_result
sasl_plain(struct proto_sasl *x, const unsigned char *m, size_t n, struct proto_sasl_reply *r)
{
	const unsigned char *nul1 = memchr(m, '\0', n), *user, *nul2, *pass;
	size_t zlen, ulen, plen;

	if (nul1 == NULL)
		return sasl_syntax(x, r);
	zlen = (size_t)(nul1 - m);
	user = nul1 + 1;
	if ((nul2 = memchr(user, '\0', n - zlen - 1)) == NULL)
		return sasl_syntax(x, r);
	ulen = (size_t)(nul2 - user);
	pass = nul2 + 1;
	plen = n - zlen - ulen - 2;
	/* a third NUL lands in the password and is refused there */
	if (!sasl_part_ok(user, ulen, PROTO_SASL_USER_BYTES_MAX) ||
	    !sasl_part_ok(pass, plen, PROTO_SASL_PASS_BYTES_MAX))
		return sasl_syntax(x, r);
	if (zlen != 0 && (zlen != ulen || memcmp(m, user, ulen) != 0))
		return sasl_refuse(x, r, 535, "5.7.8", "Authentication failed");
	sasl_part_copy(x->user, user, ulen);
	sasl_part_copy(x->pass, pass, plen);
	return PROTO_SASL_CHECK;
}

/* One base64 response (text[0..len)) for the exchange at its step. */
static enum proto_sasl_result
sasl_response(struct proto_sasl *x, const char *text, size_t len, struct proto_sasl_reply *r)
{
	unsigned char m[PROTO_SASL_MSG_BYTES_MAX];
	enum proto_sasl_result res;
	int n = proto_base64_decode(text, len, m, sizeof m);

	if (n < 0)
		return sasl_syntax(x, r);
	if (x->mech == PROTO_SASL_PLAIN) {
		res = sasl_plain(x, m, (size_t)n, r);
	} else if (!x->want_pass) {
		if (!sasl_part_ok(m, (size_t)n, PROTO_SASL_USER_BYTES_MAX)) {
			res = sasl_syntax(x, r);
		} else {
			sasl_part_copy(x->user, m, (size_t)n);
			x->want_pass = 1;
			res = sasl_challenge(r, SASL_LOGIN_PASS);
		}
	} else if (!sasl_part_ok(m, (size_t)n, PROTO_SASL_PASS_BYTES_MAX)) {
		res = sasl_syntax(x, r);
	} else {
		sasl_part_copy(x->pass, m, (size_t)n);
		res = PROTO_SASL_CHECK;
	}
	explicit_bzero(m, sizeof m);
	return res;
}

/* See proto/sasl.h. */
enum proto_sasl_result
proto_sasl_start(struct proto_sasl *x, const char *mech, const char *initial,
                 struct proto_sasl_reply *r)
{
	proto_sasl_wipe(x);
	if (strcasecmp(mech, "PLAIN") == 0)
		x->mech = PROTO_SASL_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		x->mech = PROTO_SASL_LOGIN;
	else
		return sasl_refuse(x, r, 504, "5.5.4", "Mechanism not supported");
	if (initial == NULL)
		return sasl_challenge(r, x->mech == PROTO_SASL_PLAIN ? "" : SASL_LOGIN_USER);
	if (strcmp(initial, "=") == 0)   /* RFC 4954 4: a zero-length initial response */
		initial = "";
	return proto_sasl_step(x, initial, strlen(initial), r);
}

/* See proto/sasl.h. */
enum proto_sasl_result
proto_sasl_step(struct proto_sasl *x, const char *line, size_t len, struct proto_sasl_reply *r)
{
	if (x->mech == PROTO_SASL_NONE)
		return sasl_refuse(x, r, 503, "5.5.1", "Invalid command: No AUTH in progress");
	if (len == 1 && line[0] == '*')   /* RFC 4954 4: the client cancels */
		return sasl_refuse(x, r, 501, "5.7.0", "Authentication aborted");
	return sasl_response(x, line, len, r);
}
