/*
 * proto/smtp_ext.h - the SMTP service extensions by name, one bit each, as
 * both machines use them: the server advertises a set in its EHLO reply
 * (proto_server_params.ext), the client records the set a peer announced
 * (proto_client.ext). Also the DSN (RFC 3461) and BODY (RFC 6152, RFC 3030)
 * values carried by MAIL and RCPT. Constants only.
 */
#ifndef PROTO_SMTP_EXT_H
#define PROTO_SMTP_EXT_H

#define PROTO_EXT_PIPELINING  0x1u    /* RFC 2920 */
#define PROTO_EXT_SIZE        0x2u    /* RFC 1870 */
#define PROTO_EXT_8BITMIME    0x4u    /* RFC 6152 */
#define PROTO_EXT_STARTTLS    0x8u    /* RFC 3207 */
#define PROTO_EXT_ENHANCED    0x10u   /* RFC 2034 ENHANCEDSTATUSCODES */
#define PROTO_EXT_AUTH        0x20u   /* RFC 4954 */
#define PROTO_EXT_DSN         0x40u   /* RFC 3461 */
#define PROTO_EXT_SMTPUTF8    0x80u   /* RFC 6531 */
#define PROTO_EXT_CHUNKING    0x100u  /* RFC 3030 BDAT */
#define PROTO_EXT_BINARYMIME  0x200u  /* RFC 3030, needs CHUNKING */
#define PROTO_EXT_HELP        0x400u  /* RFC 5321 4.1.1.8 */

/* MAIL BODY= (RFC 6152 2, RFC 3030 3) */
#define PROTO_BODY_7BIT       0
#define PROTO_BODY_8BITMIME   1
#define PROTO_BODY_BINARYMIME 2

/* MAIL RET= (RFC 3461 4.3) */
#define PROTO_DSN_RET_NONE    0
#define PROTO_DSN_RET_FULL    1
#define PROTO_DSN_RET_HDRS    2

/* RCPT NOTIFY= (RFC 3461 4.1); 0 means the parameter was not given */
#define PROTO_DSN_NOTIFY_NEVER   0x1u
#define PROTO_DSN_NOTIFY_SUCCESS 0x2u
#define PROTO_DSN_NOTIFY_FAILURE 0x4u
#define PROTO_DSN_NOTIFY_DELAY   0x8u

/* Bounds on the DSN and AUTH= parameter values (RFC 3461 4.2, 4.4; RFC 4954
 * 5), in octets as they appear on the command line (xtext-encoded). */
#define PROTO_ENVID_BYTES_MAX 100
#define PROTO_ORCPT_BYTES_MAX 500
#define PROTO_AUTH_PARAM_BYTES_MAX 500

#endif
