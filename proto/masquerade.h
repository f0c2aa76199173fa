/*
 * proto/masquerade.h - `senders <table> masquerade` (smtpd.conf(5)): the
 * From: header of a message rewritten to the envelope sender the session
 * gave (and the senders table allowed), as a stream filter over the
 * message's octets as they arrive (dot-unstuffed, CRLF or LF line ends).
 * A display name stays ("Alice <x@y>" becomes "Alice <sender>"), anything
 * else in the field goes; every From: field of the header is rewritten,
 * folded ones included; the body passes untouched. A header line or field
 * longer than PROTO_MASQ_FIELD_MAX passes as it is. Pure: the output goes
 * to a callback, no I/O, no allocation.
 */
#ifndef PROTO_MASQUERADE_H
#define PROTO_MASQUERADE_H

#include <stddef.h>

#define PROTO_MASQ_FIELD_MAX 4096
#define PROTO_MASQ_ADDR_MAX 256

typedef int (*proto_masq_emit)(void *arg, const char *data, size_t len);

struct proto_masq {
	char addr[PROTO_MASQ_ADDR_MAX];  /* the sender to put in From: */
	char field[PROTO_MASQ_FIELD_MAX]; /* the header field held back */
	size_t len;
	char line[PROTO_MASQ_FIELD_MAX]; /* the header line being read */
	size_t line_len;
	int in_body;                     /* past the empty line */
	int overflow;                    /* this field passes as it is */
	int line_overflow;               /* this line passes as it is */
};

/* Start a message whose From: becomes addr. */
void proto_masq_begin(struct proto_masq *m, const char *addr);
/* Feed octets; what is decided goes to emit. Returns 0, or emit's
 * negative answer. */
int proto_masq_feed(struct proto_masq *m, const char *data, size_t len, proto_masq_emit emit,
                    void *arg);
/* The end of the message: what is still held goes out. */
int proto_masq_end(struct proto_masq *m, proto_masq_emit emit, void *arg);

#endif
