/*
 * proto/smtp_command.h - parsing of one SMTP command line (RFC 5321 4.1): the
 * verb, the MAIL/RCPT path (RFC 5321 4.1.2, RFC 6531 3.3 with SMTPUTF8), the
 * MAIL and RCPT parameters (RFC 1870 SIZE, RFC 6152 and RFC 3030 BODY, RFC
 * 3461 DSN, RFC 6531 SMTPUTF8, RFC 4954 AUTH=), xtext (RFC 3461 4) and UTF-8
 * validity (RFC 3629). Used by proto/smtp_server.c.
 *
 * Every function works on a NUL-terminated line the caller owns (without its
 * CRLF). The parsers cut the line in place (they write NULs into it) and
 * return pointers into it; nothing is allocated, nothing is copied.
 *
 *   proto_cmd_split()       "MAIL FROM:<a@b>" -> verb "MAIL" (length), args
 *   proto_cmd_path()        "FROM:<a@b> SIZE=10" -> addr "a@b", params "SIZE=10"
 *   proto_cmd_mailbox_valid() checks "local@domain" (no <>, no source route)
 *   proto_cmd_params()      "SIZE=10 BODY=8BITMIME" -> struct proto_cmd_params
 *   proto_cmd_xtext_decode() "a+2Bb" -> "a+b"; refuses bad hex and control octets
 *   proto_cmd_utf8_valid()  1 for well-formed UTF-8 (no overlong forms, no
 *                           surrogates, nothing above U+10FFFF)
 *
 * Limits: a path is at most PROTO_PATH_BYTES_MAX octets without its <>
 * (RFC 5321 4.5.3.1.3), a local part PROTO_LOCAL_BYTES_MAX (4.5.3.1.1), a
 * domain PROTO_DOMAIN_BYTES_MAX (4.5.3.1.2), a label 63 (RFC 1035 2.3.4).
 */
#ifndef PROTO_SMTP_COMMAND_H
#define PROTO_SMTP_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_ext.h"

#define PROTO_PATH_BYTES_MAX 256   /* RFC 5321 4.5.3.1.3, without <> */
#define PROTO_LOCAL_BYTES_MAX 64
#define PROTO_DOMAIN_BYTES_MAX 255
#define PROTO_LABEL_BYTES_MAX 63

/* proto_cmd_path() and proto_cmd_mailbox_valid() flags */
#define PROTO_PATH_NULL_OK 0x1        /* "<>" is allowed (MAIL FROM) */
#define PROTO_PATH_POSTMASTER_OK 0x2  /* "<postmaster>" without domain (RCPT, 4.5.1) */
#define PROTO_PATH_UTF8_OK 0x4        /* UTF-8 in local part and domain (RFC 6531 3.3) */

enum proto_cmd_result {
	PROTO_CMD_OK,
	PROTO_CMD_SYNTAX,        /* no "FROM:"/"TO:", no "<" or ">", junk after ">": 501 5.5.4 */
	PROTO_CMD_BAD_PATH,      /* the address inside <> is malformed or too long: 553 */
	PROTO_CMD_BAD_PARAM,     /* a known parameter with a bad value: 501 5.5.4 */
	PROTO_CMD_UNKNOWN_PARAM, /* a parameter we do not offer: 555 5.5.4 */
	PROTO_CMD_DUP_PARAM,     /* a parameter given twice: 501 5.5.4 */
};

/* What the parameters of one MAIL or RCPT said. Strings are decoded from
 * xtext, NUL-terminated, "" when the parameter was absent. */
struct proto_cmd_params {
	uint64_t size;            /* MAIL SIZE= (RFC 1870 6), 0 when absent */
	int body;                 /* MAIL BODY=: PROTO_BODY_* */
	int smtputf8;             /* MAIL SMTPUTF8 (RFC 6531 3.4) */
	int ret;                  /* MAIL RET=: PROTO_DSN_RET_* */
	unsigned notify;          /* RCPT NOTIFY=: PROTO_DSN_NOTIFY_* bits, 0 when absent */
	int has_auth;             /* MAIL AUTH= was given (auth may be "<>") */
	char envid[PROTO_ENVID_BYTES_MAX + 1];       /* MAIL ENVID= */
	char orcpt[PROTO_ORCPT_BYTES_MAX + 1];       /* RCPT ORCPT=: "addr-type;decoded" */
	char auth[PROTO_AUTH_PARAM_BYTES_MAX + 1];   /* MAIL AUTH= (RFC 4954 5) */
	char keyword[24];         /* UNKNOWN/BAD/DUP: the keyword, printable, cut */
	const char *why;          /* BAD/DUP: a short reason for the reply text */
};

/* Split a command line into its verb and arguments. Blanks (SP, HTAB) before
 * the verb are skipped. Sets *verb and *verb_len (the verb is not
 * NUL-terminated; 0 for an empty line); returns the arguments with leading
 * blanks skipped (never NULL, "" when none). Does not modify the line. */
char *proto_cmd_split(char *line, char **verb, size_t *verb_len);

/* Parse the argument of MAIL ("FROM:") or RCPT ("TO:"): keyword
 * (case-insensitive), optional spaces, "<" path ">", then blanks and the
 * parameters. A source route "@a,@b:" is checked and skipped (RFC 5321
 * 4.1.2, appendix C). On PROTO_CMD_OK *addr is the mailbox ("" for <>) and
 * *params the parameters ("" when none), both NUL-terminated inside args. */
enum proto_cmd_result proto_cmd_path(char *args, const char *keyword, unsigned flags,
                                     char **addr, char **params);

/* Returns 1 if addr is a valid RFC 5321 Mailbox: Dot-string or Quoted-string
 * local part, "@", a domain name or an address literal ([1.2.3.4],
 * [IPv6:...]), within the length limits; with PROTO_PATH_POSTMASTER_OK a bare
 * "postmaster" (any case) is also valid. Returns 0 otherwise. */
int proto_cmd_mailbox_valid(const char *addr, unsigned flags);

/* Parse the parameters of MAIL (is_rcpt 0) or RCPT (is_rcpt 1) into *out.
 * ext is the PROTO_EXT_* set the server offers: a parameter is known only
 * when its extension is offered (SIZE, BODY=8BITMIME with 8BITMIME,
 * BODY=BINARYMIME with BINARYMIME and CHUNKING, SMTPUTF8, RET/ENVID/NOTIFY/
 * ORCPT with DSN, AUTH= with AUTH). Keywords and enumerated values are
 * case-insensitive. Returns PROTO_CMD_OK, _BAD_PARAM (bad value, bad xtext,
 * too long), _DUP_PARAM or _UNKNOWN_PARAM. Cuts params in place. */
enum proto_cmd_result proto_cmd_params(char *params, unsigned ext, int is_rcpt,
                                       struct proto_cmd_params *out);

/* The MAIL parameters as before DSN: SIZE and BODY=7BIT|8BITMIME only.
 * Sets *size (0 when absent) and *body8. */
enum proto_cmd_result proto_cmd_mail_params(char *params, uint64_t *size, int *body8);

/* Decode the xtext s (RFC 3461 4: printable ASCII except "+" and "=", and
 * "+" two hex digits) into out, at most out_max - 1 octets, NUL-terminated.
 * Decoded octets must be printable ASCII or SP: a control octet (CR, LF,
 * NUL ...) or an 8-bit one is refused. Returns the decoded length, or -1
 * on bad syntax, a refused octet or no room. */
int proto_cmd_xtext_decode(const char *s, char *out, size_t out_max);

/* Returns 1 if s[0..n) is well-formed UTF-8 (RFC 3629 4), else 0. */
int proto_cmd_utf8_valid(const char *s, size_t n);

#endif
