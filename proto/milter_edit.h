/*
 * proto/milter_edit.h - a message as milters see it and change it, without
 * I/O: its header fields one by one (the values as libmilter hands them,
 * line ends as "\n"), and the end-of-message modifications of
 * proto/milter_proto.h applied to it (add, insert, change or delete a
 * header field; replace the body).
 *
 * A message is its octets with CRLF line ends: the header block, an empty
 * line, the body (a message without an empty line is all header). Nothing
 * is allocated here: proto_milter_edit() writes the changed message into
 * the caller's out (at least proto_milter_edit_bound() octets) and returns
 * its length, or -1 when cap is too small. A header value or body from a
 * milter has each bare "\n" written as CRLF, so the message keeps its line
 * ends whatever the milter sent.
 */
#ifndef PROTO_MILTER_EDIT_H
#define PROTO_MILTER_EDIT_H

#include <stddef.h>

#include "proto/milter_proto.h"

/* One header field; the pointers point into the message. */
struct proto_milter_field {
	const char *name;
	size_t name_len;
	const char *value;          /* after the ':', its line ends included */
	size_t value_len;           /* without the field's final CRLF */
	size_t off, len;            /* the whole field, final CRLF included */
};

/* The length of the header block (up to the empty line, excluded) and
 * where the body starts (after the empty line; len when there is none). */
void proto_milter_split(const char *msg, size_t len, size_t *hdr_len, size_t *body_off);
/* The field at *pos (start at 0) within the header block: 1 with *f
 * filled and *pos moved past it, 0 at its end. A line that is not a field
 * (no ':') is skipped. */
int proto_milter_field_next(const char *msg, size_t hdr_len, size_t *pos,
                            struct proto_milter_field *f);
/* The field's value as SMFIC_HEADER carries it: CRLF as "\n", the first
 * space after the ':' left out unless leadspc (SMFIP_HDR_LEADSPC); into
 * out (NUL-ended); its length, or -1 when it does not fit. */
long proto_milter_field_value(const struct proto_milter_field *f, int leadspc, char *out,
                              size_t cap);
/* Octets out needs for edit on a message of len octets. */
size_t proto_milter_edit_bound(size_t len, const struct proto_milter_msg *edit);
/* Apply edit (ADDHEADER: after the last field; INSHEADER: before field
 * index, counting from 0, at the end past the last; CHGHEADER: the
 * index-th field called name, counting from 1 (0 as 1), an empty value
 * deletes it, a missing one is added as ADDHEADER does; REPLBODY: the
 * body becomes data). Other replies leave the message as it is. */
long proto_milter_edit(const char *msg, size_t len, const struct proto_milter_msg *edit,
                       int leadspc, char *out, size_t cap);

#endif
