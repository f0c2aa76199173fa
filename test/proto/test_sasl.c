/*
 * test/proto/test_sasl.c - tests of proto/sasl.c and proto/base64.c: the
 * PLAIN and LOGIN exchanges of SMTP AUTH as transcripts (AUTH's mechanism
 * and initial response, then each response line, rendered as the replies
 * and the credentials they end in), malformed input beside valid input:
 * strict base64, "*" aborts, authzid, CR/LF/NUL in the decoded user or
 * password, every bound at its edge; base64 with RFC 4648's vectors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/sasl.h"

/* base64 of the octets s[0..n). */
static const char *
b64(const void *s, size_t n)
{
	static char out[64][4096];
	static unsigned next;
	char *o = out[next++ % 64];

	cr_assert(proto_base64_encode(s, n, o, sizeof out[0]) >= 0);
	return o;
}

#define B64(lit) b64(lit, sizeof(lit) - 1)

/* Render one result: "334 <text>", "CHECK <user>/<pass>" or "<code> <status>". */
static void
render(enum proto_sasl_result res, const struct proto_sasl *x, const struct proto_sasl_reply *r,
       char *out, size_t cap)
{
	if (res == PROTO_SASL_CHALLENGE)
		snprintf(out, cap, "334 %s", r->text);
	else if (res == PROTO_SASL_CHECK)
		snprintf(out, cap, "CHECK %s/%s", x->user, x->pass);
	else
		snprintf(out, cap, "%d %s", r->code, r->status);
}

struct sasl_case {
	const char *name;
	const char *mech, *initial;      /* initial NULL: none */
	const char *lines[3];            /* response lines, NULL-terminated */
	const char *want;                /* results joined by " | " */
};

/* Run one case; returns the joined results. */
static void
run(const struct sasl_case *c, char *out, size_t cap)
{
	struct proto_sasl x;
	struct proto_sasl_reply r;
	enum proto_sasl_result res = proto_sasl_start(&x, c->mech, c->initial, &r);
	size_t n = 0;

	render(res, &x, &r, out, cap);
	for (unsigned i = 0; res == PROTO_SASL_CHALLENGE && c->lines[i] != NULL; i++) {
		res = proto_sasl_step(&x, c->lines[i], strlen(c->lines[i]), &r);
		n = strlen(out);
		snprintf(out + n, cap - n, " | ");
		render(res, &x, &r, out + n + 3, cap - n - 3);
	}
}

Test(sasl, transcripts)
{
	char longuser[PROTO_SASL_USER_BYTES_MAX + 2], longpass[PROTO_SASL_PASS_BYTES_MAX + 2];
	char msg[2048], want_user[64 + PROTO_SASL_PASS_BYTES_MAX + PROTO_SASL_USER_BYTES_MAX];

	memset(longuser, 'u', sizeof longuser - 1);
	longuser[sizeof longuser - 1] = '\0';
	memset(longpass, 'p', sizeof longpass - 1);
	longpass[sizeof longpass - 1] = '\0';
	const struct sasl_case cases[] = {
		{ "plain initial", "PLAIN", B64("\0alice\0secret"), { NULL }, "CHECK alice/secret" },
		{ "plain lower case mech", "plain", B64("\0alice\0secret"), { NULL },
		  "CHECK alice/secret" },
		{ "plain no initial", "PLAIN", NULL, { B64("\0alice\0secret"), NULL },
		  "334  | CHECK alice/secret" },
		{ "plain authzid = authcid", "PLAIN", B64("alice\0alice\0secret"), { NULL },
		  "CHECK alice/secret" },
		{ "plain other authzid", "PLAIN", B64("bob\0alice\0secret"), { NULL }, "535 5.7.8" },
		{ "plain authzid prefix", "PLAIN", B64("alic\0alice\0secret"), { NULL }, "535 5.7.8" },
		{ "plain = is empty", "PLAIN", "=", { NULL }, "501 5.5.2" },
		{ "plain empty line", "PLAIN", NULL, { "", NULL }, "334  | 501 5.5.2" },
		{ "plain one NUL", "PLAIN", B64("\0alicesecret"), { NULL }, "501 5.5.2" },
		{ "plain no NUL", "PLAIN", B64("alice"), { NULL }, "501 5.5.2" },
		{ "plain empty user", "PLAIN", B64("\0\0secret"), { NULL }, "501 5.5.2" },
		{ "plain empty pass", "PLAIN", B64("\0alice\0"), { NULL }, "501 5.5.2" },
		{ "plain NUL in pass", "PLAIN", B64("\0alice\0sec\0ret"), { NULL }, "501 5.5.2" },
		{ "plain LF in user", "PLAIN", B64("\0ali\nce\0secret"), { NULL }, "501 5.5.2" },
		{ "plain CR in user", "PLAIN", B64("\0ali\rce\0secret"), { NULL }, "501 5.5.2" },
		{ "plain LF in pass", "PLAIN", B64("\0alice\0sec\nret"), { NULL }, "501 5.5.2" },
		{ "plain abort", "PLAIN", NULL, { "*", NULL }, "334  | 501 5.7.0" },
		{ "plain abort initial", "PLAIN", "*", { NULL }, "501 5.7.0" },
		{ "plain bad base64 char", "PLAIN", "AGFsaWNlAHNlY3JldA=!", { NULL }, "501 5.5.2" },
		{ "plain base64 unpadded", "PLAIN", "AGFsaWNlAHNlY3JldA", { NULL }, "501 5.5.2" },
		{ "plain base64 space", "PLAIN", "AGFsaWNl AHNlY3JldA==", { NULL }, "501 5.5.2" },
		{ "plain base64 mid padding", "PLAIN", "AA==AGFsaWNlAHNlY3JldA==", { NULL },
		  "501 5.5.2" },
		{ "plain base64 left-over bits", "PLAIN", "AGFsaWNlAHNlY3JldB==", { NULL },
		  "501 5.5.2" },
		{ "login", "LOGIN", NULL, { B64("alice"), B64("secret"), NULL },
		  "334 VXNlcm5hbWU6 | 334 UGFzc3dvcmQ6 | CHECK alice/secret" },
		{ "login initial", "LOGIN", B64("alice"), { B64("secret"), NULL },
		  "334 UGFzc3dvcmQ6 | CHECK alice/secret" },
		{ "login abort at user", "LOGIN", NULL, { "*", NULL }, "334 VXNlcm5hbWU6 | 501 5.7.0" },
		{ "login abort at pass", "LOGIN", NULL, { B64("alice"), "*", NULL },
		  "334 VXNlcm5hbWU6 | 334 UGFzc3dvcmQ6 | 501 5.7.0" },
		{ "login LF in user", "LOGIN", B64("alice\nx"), { NULL }, "501 5.5.2" },
		{ "login NUL in user", "LOGIN", B64("alice\0x"), { NULL }, "501 5.5.2" },
		{ "login CR in pass", "LOGIN", B64("alice"), { B64("sec\r"), NULL },
		  "334 UGFzc3dvcmQ6 | 501 5.5.2" },
		{ "login empty user", "LOGIN", "=", { NULL }, "501 5.5.2" },
		{ "login bad base64", "LOGIN", NULL, { "YWxpY2U", NULL },
		  "334 VXNlcm5hbWU6 | 501 5.5.2" },
		{ "unknown mech", "CRAM-MD5", NULL, { NULL }, "504 5.5.4" },
		{ "user at bound", "LOGIN", b64(longuser, PROTO_SASL_USER_BYTES_MAX), { "*", NULL },
		  "334 UGFzc3dvcmQ6 | 501 5.7.0" },
		{ "user over bound", "LOGIN", b64(longuser, PROTO_SASL_USER_BYTES_MAX + 1), { NULL },
		  "501 5.5.2" },
		{ "pass over bound", "LOGIN", B64("alice"),
		  { b64(longpass, PROTO_SASL_PASS_BYTES_MAX + 1), NULL },
		  "334 UGFzc3dvcmQ6 | 501 5.5.2" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(&cases[i], msg, sizeof msg);
		cr_expect_str_eq(msg, cases[i].want, "%s: got \"%s\", want \"%s\"", cases[i].name,
		                 msg, cases[i].want);
	}
	/* the longest PLAIN message: user and password at their bounds */
	size_t ul = PROTO_SASL_USER_BYTES_MAX, pl = PROTO_SASL_PASS_BYTES_MAX;
	char m[PROTO_SASL_MSG_BYTES_MAX];
	memcpy(m, longuser, ul);
	m[ul] = '\0';
	memcpy(m + ul + 1, longuser, ul);
	m[2 * ul + 1] = '\0';
	memcpy(m + 2 * ul + 2, longpass, pl);
	struct sasl_case big = { "plain at bounds", "PLAIN", b64(m, sizeof m), { NULL }, NULL };
	run(&big, msg, sizeof msg);
	snprintf(want_user, sizeof want_user, "CHECK %.*s/%.*s", (int)ul, longuser, (int)pl, longpass);
	cr_expect_str_eq(msg, want_user);
}

/* After an abort nothing of the exchange is left (CVE-2011-1720 class):
 * a response line without a new AUTH is refused, the user is wiped. */
Test(sasl, abort_resets_state)
{
	struct proto_sasl x;
	struct proto_sasl_reply r;
	const char *user = B64("alice");

	cr_assert_eq(proto_sasl_start(&x, "LOGIN", user, &r), PROTO_SASL_CHALLENGE);
	cr_assert_str_eq(x.user, "alice");
	cr_assert_eq(proto_sasl_step(&x, "*", 1, &r), PROTO_SASL_REFUSE);
	cr_expect_eq(r.code, 501);
	cr_expect_str_eq(x.user, "");
	cr_expect_eq(x.mech, PROTO_SASL_NONE);
	const char *pass = B64("secret");
	cr_expect_eq(proto_sasl_step(&x, pass, strlen(pass), &r), PROTO_SASL_REFUSE);
	cr_expect_eq(r.code, 503);
	/* a refusal of any kind wipes too */
	cr_assert_eq(proto_sasl_start(&x, "LOGIN", user, &r), PROTO_SASL_CHALLENGE);
	cr_assert_eq(proto_sasl_step(&x, "!!!!", 4, &r), PROTO_SASL_REFUSE);
	cr_expect_str_eq(x.user, "");
}

Test(base64, rfc4648_vectors)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
	                                   "Zm9vYmFy" };
	char e[16];
	unsigned char d[16];

	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		cr_expect_eq(proto_base64_encode(plain[i], strlen(plain[i]), e, sizeof e),
		             (int)strlen(enc[i]));
		cr_expect_str_eq(e, enc[i]);
		int n = proto_base64_decode(enc[i], strlen(enc[i]), d, sizeof d);
		cr_expect_eq(n, (int)strlen(plain[i]), "%s", enc[i]);
		cr_expect(n >= 0 && memcmp(d, plain[i], (size_t)n) == 0);
	}
	cr_expect_eq(proto_base64_encode("foobar", 6, e, 8), -1, "no room for the NUL");
	cr_expect_eq(proto_base64_encode("foobar", 6, e, 9), 8);
}

Test(base64, malformed_refused)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "=Zg=", "Zg==Zg==", "Zh==", "Zm9=", "Zm9v\n", " Zm9v",
		"Zm9v YmFy", "Zm-v", "Zm_v", "Zm9\0",
	};
	unsigned char d[16];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(proto_base64_decode(bad[i], strlen(bad[i]) ? strlen(bad[i]) : 4, d,
		                                 sizeof d), -1, "\"%s\" decoded", bad[i]);
	cr_expect_eq(proto_base64_decode("Zm9vYmFy", 8, d, 5), -1, "no room");
	cr_expect_eq(proto_base64_encode("foo", 3, (char *)d, 4), -1, "no room for the NUL");
}
