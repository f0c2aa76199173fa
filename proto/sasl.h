/*
 * proto/sasl.h - the server side of the SASL mechanisms SMTP AUTH offers
 * (RFC 4954): PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), as a
 * pure exchange: no I/O, no clock, no allocation. It turns the AUTH
 * command's mechanism and initial response, then each response line, into
 * either a challenge to send (334), credentials to check, or a refusal.
 * Checking the credentials is the caller's (core/auth.c).
 *
 *   r = proto_sasl_start(&x, mech, initial, &reply);  // AUTH mech [initial]
 *   while (r == PROTO_SASL_CHALLENGE)                   // answer 334 reply.text
 *       r = proto_sasl_step(&x, line, len, &reply);     // the next line
 *   if (r == PROTO_SASL_CHECK) check x.user / x.pass, then proto_sasl_wipe(&x)
 *   else answer reply.code reply.status reply.text      // exchange over, wiped
 *
 * An initial response of "=" is the empty response (RFC 4954 4). A
 * response line of "*" cancels the exchange: 501 5.7.0 and the state is
 * gone (RFC 4954 4; the CVE-2011-1720 class: nothing of an aborted
 * exchange survives into the next AUTH, which always starts from
 * proto_sasl_start()). Base64 is strict (proto/base64.h); a response that
 * is not, or a PLAIN message without its two NULs, an empty user or
 * password, or a user or password longer than its bound is 501 5.5.2
 * Syntax error, as OpenSMTPD answers a malformed exchange. A user or
 * password holding CR, LF or NUL after decoding is refused the same way
 * (OpenSMTPD's 2026 AUTH line-feed fix: a decoded line end must never reach
 * a log line or a lookup). PLAIN's authorization identity must be empty or
 * equal to the authentication identity (no proxy authorization): any other
 * is 535 5.7.8, which the caller handles as a failed attempt. An unknown
 * mechanism is 504 5.5.4.
 */
#ifndef PROTO_SASL_H
#define PROTO_SASL_H

#include <stddef.h>

#define PROTO_SASL_MECHS "PLAIN LOGIN"        /* for the EHLO AUTH line */
#define PROTO_SASL_USER_BYTES_MAX 255         /* a user name, without NUL */
#define PROTO_SASL_PASS_BYTES_MAX 1023        /* a password, without NUL */
/* PLAIN's message: authzid NUL authcid NUL passwd */
#define PROTO_SASL_MSG_BYTES_MAX (2 * PROTO_SASL_USER_BYTES_MAX + PROTO_SASL_PASS_BYTES_MAX + 2)

enum proto_sasl_result {
	PROTO_SASL_CHALLENGE,  /* answer 334 with reply.text (base64, may be "") */
	PROTO_SASL_CHECK,      /* x.user and x.pass hold the credentials */
	PROTO_SASL_REFUSE,     /* answer reply: the exchange is over and wiped */
};

enum proto_sasl_mech {
	PROTO_SASL_NONE,
	PROTO_SASL_PLAIN,
	PROTO_SASL_LOGIN,
};

struct proto_sasl_reply {
	int code;              /* 334, or the refusal's code */
	const char *status;    /* NULL for 334 */
	const char *text;      /* constant storage */
};

struct proto_sasl {
	enum proto_sasl_mech mech;
	int want_pass;         /* LOGIN: the user came, the password is next */
	char user[PROTO_SASL_USER_BYTES_MAX + 1];
	char pass[PROTO_SASL_PASS_BYTES_MAX + 1];
};

/* AUTH mech [initial] (initial NULL when none). x is reset first. */
enum proto_sasl_result proto_sasl_start(struct proto_sasl *x, const char *mech,
                                        const char *initial, struct proto_sasl_reply *r);
/* One response line (without CRLF) after a CHALLENGE. */
enum proto_sasl_result proto_sasl_step(struct proto_sasl *x, const char *line, size_t len,
                                       struct proto_sasl_reply *r);
/* Forget the exchange and wipe the password (explicit_bzero). */
void proto_sasl_wipe(struct proto_sasl *x);

#endif
