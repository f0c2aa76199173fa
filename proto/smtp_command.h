/*
 * proto/smtp_command.h - parsing of one SMTP command line (RFC 5321 4.1): the
 * verb, the MAIL/RCPT path (RFC 5321 4.1.2) and the MAIL parameters (RFC 1870
 * SIZE, RFC 6152 BODY). Used by proto/smtp_server.c.
 *
 * Every function works on a NUL-terminated line the caller owns (without its
 * CRLF). The parsers cut the line in place (they write NULs into it) and
 * return pointers into it; nothing is allocated, nothing is copied.
 *
 *   proto_cmd_split()       "MAIL FROM:<a@b>" -> verb "MAIL" (length), args
 *   proto_cmd_path()        "FROM:<a@b> SIZE=10" -> addr "a@b", params "SIZE=10"
 *   proto_cmd_mailbox_valid() checks "local@domain" (no <>, no source route)
 *   proto_cmd_mail_params() "SIZE=10 BODY=8BITMIME" -> size 10, body8 1
 *
 * Limits: a path is at most PROTO_PATH_BYTES_MAX octets without its <>
 * (RFC 5321 4.5.3.1.3), a local part PROTO_LOCAL_BYTES_MAX (4.5.3.1.1), a
 * domain PROTO_DOMAIN_BYTES_MAX (4.5.3.1.2), a label 63 (RFC 1035 2.3.4).
 */
#ifndef PROTO_SMTP_COMMAND_H
#define PROTO_SMTP_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_server.h"

#define PROTO_LOCAL_BYTES_MAX 64
#define PROTO_DOMAIN_BYTES_MAX 255
#define PROTO_LABEL_BYTES_MAX 63

/* proto_cmd_path() and proto_cmd_mailbox_valid() flags */
#define PROTO_PATH_NULL_OK 0x1        /* "<>" is allowed (MAIL FROM) */
#define PROTO_PATH_POSTMASTER_OK 0x2  /* "<postmaster>" without domain (RCPT, 4.5.1) */

enum proto_cmd_result {
	PROTO_CMD_OK,
	PROTO_CMD_SYNTAX,        /* no "FROM:"/"TO:", no "<" or ">", junk after ">": 501 5.5.4 */
	PROTO_CMD_BAD_PATH,      /* the address inside <> is malformed or too long: 553 */
	PROTO_CMD_BAD_PARAM,     /* a known parameter with a bad value: 501 5.5.4 */
	PROTO_CMD_UNKNOWN_PARAM, /* a parameter we do not offer: 555 5.5.4 */
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

/* Parse MAIL parameters: SIZE=digits (RFC 1870 6), BODY=7BIT|8BITMIME
 * (RFC 6152 2); keywords and BODY values are case-insensitive. Sets *size
 * (0 when absent) and *body8. Returns PROTO_CMD_OK, PROTO_CMD_BAD_PARAM or
 * PROTO_CMD_UNKNOWN_PARAM. Cuts params in place. */
enum proto_cmd_result proto_cmd_mail_params(char *params, uint64_t *size, int *body8);

#endif
