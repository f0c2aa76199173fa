/*
 * proto/linescan.h - finding the next line-end octet (CR or LF) in a run of
 * message text, sixteen octets at a time where the CPU allows. Used by the
 * DATA reader (proto/smtp_body.c) and the client's dot-stuffing
 * (proto/smtp_client.c), which spend their time inside lines.
 */
#ifndef PROTO_LINESCAN_H
#define PROTO_LINESCAN_H

#include <stddef.h>

/* The index of the first '\r' or '\n' in p[0..n), or n when there is none. */
size_t proto_line_end(const char *p, size_t n);

#endif
