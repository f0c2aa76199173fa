/*
 * proto/proxy.h - the PROXY protocol header a load balancer (HAProxy, a
 * cloud balancer) sends before the SMTP session, versions 1 (text) and 2
 * (binary), as in HAProxy's proxy-protocol.txt. Pure and incremental: no
 * I/O, no allocation; the caller owns the struct proto_proxy.
 *
 *   proto_proxy_init(&pp);
 *   r = proto_proxy_feed(&pp, buf, len, &used);
 *   PROTO_PROXY_NEED_MORE  all len bytes were header: read more, feed again
 *   PROTO_PROXY_DONE       the header ended after used bytes; buf[used..len)
 *                          is the start of the SMTP session. pp.local says
 *                          whether pp.src/pp.dst hold the client's addresses
 *                          (0) or the socket's own must be kept (1: v2 LOCAL,
 *                          v1 UNKNOWN, v2 UNSPEC or UNIX family)
 *   PROTO_PROXY_ERROR      malformed: close the connection (used is 0)
 *
 * Strict: v1 is exactly "PROXY" SP ("TCP4" / "TCP6") SP src SP dst SP sport
 * SP dport CRLF, or "PROXY UNKNOWN" [SP printable text] CRLF, at most
 * PROTO_PROXY_V1_BYTES_MAX octets; addresses as inet_pton() reads them,
 * ports 0..65535 without leading zeros. v2 is the 12-octet signature,
 * version 2, command LOCAL or PROXY, family UNSPEC/INET/INET6/UNIX with
 * STREAM transport (UNSPEC with UNSPEC), a length that holds the addresses,
 * and TLVs (type, 16-bit length, value) that fill the rest exactly; TLVs
 * are skipped, never stored. Anything else, or a byte that can start
 * neither version, is an error at once.
 */
#ifndef PROTO_PROXY_H
#define PROTO_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROTO_PROXY_V1_BYTES_MAX 107   /* with CRLF */
#define PROTO_PROXY_V2_HEAD_BYTES 16   /* signature, ver/cmd, family, length */
#define PROTO_PROXY_V2_ADDR_BYTES_MAX 216  /* AF_UNIX: two 108-octet paths */

enum proto_proxy_result {
	PROTO_PROXY_ERROR = -1,
	PROTO_PROXY_NEED_MORE = 0,
	PROTO_PROXY_DONE = 1,
};

struct proto_proxy {
	int state;
	unsigned char buf[PROTO_PROXY_V2_HEAD_BYTES + PROTO_PROXY_V2_ADDR_BYTES_MAX];
	size_t len;              /* octets collected in buf */
	size_t need;             /* v2: octets of head + addresses to collect */
	uint32_t rest;           /* v2: octets of TLVs still to walk */
	uint32_t tlv_value;      /* v2: octets of the current TLV value to skip */
	unsigned tlv_head;       /* v2: octets of the current TLV head seen (0..2) */
	int opaque;              /* v2: LOCAL or UNSPEC: the block is skipped unread */
	/* the result */
	int version;             /* 1 or 2 */
	int local;               /* keep the socket's own addresses */
	struct sockaddr_storage src, dst;
};

/* Call before the first feed. */
void proto_proxy_init(struct proto_proxy *p);
/* Call with bytes read from the connection; sets *used to how many of them
 * were header. Returns NEED_MORE, DONE or ERROR (see above); after DONE or
 * ERROR it returns the same again and uses nothing. */
enum proto_proxy_result proto_proxy_feed(struct proto_proxy *p, const void *buf, size_t len,
                                         size_t *used);

#endif
