/*
 * proto/smtp_reply.c - owns the syntax of SMTP reply lines as a client reads
 * them (RFC 5321 4.2) and of the EHLO keyword lines (RFC 5321 4.1.1.1,
 * RFC 2920, RFC 1870, RFC 6152, RFC 3207, RFC 2034, RFC 4954, RFC 3461,
 * RFC 6531, RFC 3030).
 */
#include "proto/smtp_reply.h"

#include "proto/smtp_client.h"

/* Call on a line without CRLF; returns LAST, MORE or BAD (RFC 5321 4.2:
 * Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *              Reply-code [ SP textstring ] CRLF,
 * Reply-code = %x32-35 %x30-35 %x30-39). */
enum proto_reply_line_kind
proto_reply_line(const char *line, size_t len, int *code)
{
	if (len < 3)
		return PROTO_REPLY_BAD;
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    line[2] < '0' || line[2] > '9')
		return PROTO_REPLY_BAD;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3 || line[3] == ' ')
		return PROTO_REPLY_LAST;
	if (line[3] == '-')
		return PROTO_REPLY_MORE;
	return PROTO_REPLY_BAD;
}

/* Call to compare an EHLO keyword; returns 1 when text[0..len) is kw
 * (ASCII, case-insensitive, RFC 5321 2.4). */
static int
reply_keyword_is(const char *text, size_t len, const char *kw)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char a = text[i], b = kw[i];

		if (b == '\0')
			return 0;
		if (a >= 'a' && a <= 'z')
			a = (char)(a - 'a' + 'A');
		if (a != b)
			return 0;
	}
	return kw[len] == '\0';
}

/* Call with the digits after "SIZE "; returns the limit, 0 when absent,
 * malformed or out of range (then the peer's limit is unknown). */
static uint64_t
reply_size_value(const char *p, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return v;
}

/* Call on the text of one EHLO line after the first; returns the
 * PROTO_EXT_* bit it announces or 0 (ehlo-line = ehlo-keyword *( SP /
 * "=" ehlo-param ), RFC 5321 4.1.1.1; "AUTH=" is the pre-RFC 4954 form). */
unsigned
proto_reply_ehlo_keyword(const char *text, size_t len, uint64_t *size_max)
{
	size_t kw = 0, rest;

	while (kw < len && text[kw] != ' ' && text[kw] != '=')
		kw++;
	rest = kw < len ? kw + 1 : len;
	if (reply_keyword_is(text, kw, "PIPELINING"))
		return PROTO_EXT_PIPELINING;
	if (reply_keyword_is(text, kw, "SIZE")) {
		size_t end = rest;

		while (end < len && text[end] != ' ')
			end++;
		*size_max = reply_size_value(text + rest, end - rest);
		return PROTO_EXT_SIZE;
	}
	if (reply_keyword_is(text, kw, "8BITMIME"))
		return PROTO_EXT_8BITMIME;
	if (reply_keyword_is(text, kw, "STARTTLS"))
		return PROTO_EXT_STARTTLS;
	if (reply_keyword_is(text, kw, "ENHANCEDSTATUSCODES"))
		return PROTO_EXT_ENHANCED;
	if (reply_keyword_is(text, kw, "AUTH"))
		return PROTO_EXT_AUTH;
	if (reply_keyword_is(text, kw, "DSN"))
		return PROTO_EXT_DSN;
	if (reply_keyword_is(text, kw, "SMTPUTF8"))
		return PROTO_EXT_SMTPUTF8;
	if (reply_keyword_is(text, kw, "CHUNKING"))
		return PROTO_EXT_CHUNKING;
	if (reply_keyword_is(text, kw, "BINARYMIME"))
		return PROTO_EXT_BINARYMIME;
	return 0;
}

/* Call on an EHLO line whose keyword is AUTH; returns the PROTO_AUTH_MECH_*
 * bits of the mechanisms it lists, separated by spaces (or '=' after the
 * keyword in the pre-RFC 4954 form). */
unsigned
proto_reply_auth_mechs(const char *text, size_t len)
{
	unsigned mechs = 0;
	size_t i = 4, start;   /* past "AUTH" */

	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '='))
			i++;
		start = i;
		while (i < len && text[i] != ' ')
			i++;
		if (reply_keyword_is(text + start, i - start, "PLAIN"))
			mechs |= PROTO_AUTH_MECH_PLAIN;
		else if (reply_keyword_is(text + start, i - start, "LOGIN"))
			mechs |= PROTO_AUTH_MECH_LOGIN;
	}
	return mechs;
}
