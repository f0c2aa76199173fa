/*
 * proto/smtp_reply.h - reading SMTP replies on the client side, one line at
 * a time (RFC 5321 4.2, 4.2.1): "ddd-text" continues a multi-line reply,
 * "ddd text" (or a bare "ddd") ends it; and the EHLO keyword lines that
 * announce extensions (RFC 5321 4.1.1.1). Pure functions over the bytes
 * given: no state, no allocation. The caller strips the CRLF.
 *
 *   proto_reply_line(line, len, &code) -> PROTO_REPLY_LAST, _MORE or _BAD
 *   proto_reply_ehlo_keyword(text, len, &size_max) -> a PROTO_EXT_* bit or 0
 *   proto_reply_auth_mechs(text, len) -> PROTO_AUTH_MECH_* bits of an AUTH line
 */
#ifndef PROTO_SMTP_REPLY_H
#define PROTO_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

enum proto_reply_line_kind {
	PROTO_REPLY_BAD = -1, /* not "ddd", "ddd text" or "ddd-text" */
	PROTO_REPLY_MORE = 0, /* "ddd-text": more lines follow */
	PROTO_REPLY_LAST = 1, /* "ddd text" or "ddd": the reply is complete */
};

/* Classify one reply line (without its CRLF); sets *code (200..599) unless
 * the line is bad. The text starts at line + 4 when len > 3. */
enum proto_reply_line_kind proto_reply_line(const char *line, size_t len, int *code);

/* Name the extension announced by one EHLO keyword line (the text after
 * "250-" or "250 "); returns its PROTO_EXT_* bit, 0 for one we do not use.
 * For SIZE sets *size_max to the announced limit (0 when absent or not a
 * number: no fixed limit, RFC 1870 4). */
unsigned proto_reply_ehlo_keyword(const char *text, size_t len, uint64_t *size_max);

/* The SASL mechanisms the client can use, as listed by an "AUTH" (or the
 * older "AUTH=") EHLO line (RFC 4954 3): the text after "250-". */
#define PROTO_AUTH_MECH_PLAIN 0x1u   /* RFC 4616 */
#define PROTO_AUTH_MECH_LOGIN 0x2u   /* draft-murchison-sasl-login */
unsigned proto_reply_auth_mechs(const char *text, size_t len);

#endif
