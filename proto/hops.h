/*
 * proto/hops.h - counting the Received: header fields of a message as its
 * body streams in, for mail loop detection (RFC 5321 6.3: a message that has
 * passed through too many relays is refused; OpenSMTPD and Postfix stop at
 * 100). Pure: no I/O, any cut of the input gives the same count.
 */
#ifndef PROTO_HOPS_H
#define PROTO_HOPS_H

#include <stddef.h>

#define PROTO_HOPS_MAX 100   /* this many Received: fields is a loop */

struct proto_hops {
	unsigned count;          /* Received: fields seen in the header */
	unsigned char state;     /* where the scan is (proto/hops.c) */
	unsigned char matched;   /* octets of "received:" matched so far */
};

/* Start counting a new message (at DATA). */
void proto_hops_begin(struct proto_hops *h);
/* Feed message octets as stored (dot-unstuffed, CRLF line ends; a bare LF
 * counts as a line end too). The scan stops at the header's end. */
void proto_hops_feed(struct proto_hops *h, const char *data, size_t len);

#endif
