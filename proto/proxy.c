/*
 * proto/proxy.c - owns the parsing of the PROXY protocol header, versions 1
 * and 2 (HAProxy's proxy-protocol.txt): signature detection, the v1 text
 * line, the v2 fixed header, address block and TLV walk. Contract in
 * proto/proxy.h.
 */
#include "proto/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

enum proto_proxy_state {
	PROXY_DETECT,   /* nothing seen yet */
	PROXY_V1,       /* collecting the text line */
	PROXY_V2_HEAD,  /* collecting signature and fixed header */
	PROXY_V2_ADDR,  /* collecting the address block */
	PROXY_V2_TLV,   /* walking the TLVs */
	PROXY_DONE,
	PROXY_ERROR,
};

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char proxy_v1_sig[] = "PROXY ";

/* Call before the first feed. */
void
proto_proxy_init(struct proto_proxy *p)
{
	memset(p, 0, sizeof(*p));
	p->state = PROXY_DETECT;
}

/* Parses a port: 1 to 5 digits, no leading zero, at most 65535. Returns 0
 * and sets *port (network order), or -1. */
static int
proxy_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5 || (i == 1 && s[0] == '0'))
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v > 65535)
		return -1;
	*port = htons((uint16_t)v);
	return 0;
}

/* Fill a sockaddr of family af from text address a and port text pt.
 * Returns 0 or -1. */
static int
proxy_v1_addr(int af, const char *a, const char *pt, struct sockaddr_storage *out)
{
	uint16_t port;

	if (proxy_port(pt, &port) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = port;
		return inet_pton(AF_INET, a, &sin->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = port;
	return inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* Parse the whole v1 line in p->buf (CRLF cut, NUL-terminated). Returns 0
 * or -1. */
static int
proxy_v1_parse(struct proto_proxy *p)
{
	char *f[6], *s = (char *)p->buf + strlen(proxy_v1_sig);
	int af, n = 0;

	p->version = 1;
	if (strncmp(s, "UNKNOWN", 7) == 0 && (s[7] == '\0' || s[7] == ' ')) {
		p->local = 1;  /* the receiver ignores the rest of the line */
		return 0;
	}
	if (strncmp(s, "TCP4 ", 5) == 0)
		af = AF_INET;
	else if (strncmp(s, "TCP6 ", 5) == 0)
		af = AF_INET6;
	else
		return -1;
	s += 5;
	for (;;) {  /* exactly four fields, single spaces */
		f[n++] = s;
		s = strchr(s, ' ');
		if (s == NULL || n == 4)
			break;
		*s++ = '\0';
	}
	if (n != 4 || s != NULL)
		return -1;
	if (proxy_v1_addr(af, f[0], f[2], &p->src) < 0 || proxy_v1_addr(af, f[1], f[3], &p->dst) < 0)
		return -1;
	return 0;
}

/* Take one v1 octet. Returns NEED_MORE, DONE or ERROR. */
static int
proxy_v1_byte(struct proto_proxy *p, unsigned char c)
{
	if (p->len < sizeof(proxy_v1_sig) - 1) {
		if (c != (unsigned char)proxy_v1_sig[p->len])
			return PROTO_PROXY_ERROR;
	} else if (c == '\n') {
		if (p->buf[p->len - 1] != '\r')
			return PROTO_PROXY_ERROR;
		p->buf[p->len - 1] = '\0';
		return proxy_v1_parse(p) == 0 ? PROTO_PROXY_DONE : PROTO_PROXY_ERROR;
	} else if ((c < 32 || c > 126) && c != '\r') {
		return PROTO_PROXY_ERROR;
	} else if (p->len > 0 && p->buf[p->len - 1] == '\r') {
		return PROTO_PROXY_ERROR;  /* a CR not followed by LF */
	}
	if (p->len + 1 >= PROTO_PROXY_V1_BYTES_MAX)  /* no room left for the LF */
		return PROTO_PROXY_ERROR;
	p->buf[p->len++] = c;
	return PROTO_PROXY_NEED_MORE;
}

/* The 16-octet v2 head is in buf: check it and size the address block.
 * Returns NEED_MORE or ERROR. */
static int
proxy_v2_head(struct proto_proxy *p)
{
	unsigned ver_cmd = p->buf[12], fam = p->buf[13] >> 4, tr = p->buf[13] & 0x0f;
	uint32_t len = (uint32_t)p->buf[14] << 8 | p->buf[15];
	uint32_t addr = 0;

	p->version = 2;
	if ((ver_cmd & 0xf0) != 0x20 || (ver_cmd & 0x0f) > 1)
		return PROTO_PROXY_ERROR;
	if ((ver_cmd & 0x0f) == 0 || (fam == 0 && tr == 0)) {
		p->opaque = 1;  /* LOCAL (family ignored) or UNSPEC: the block is skipped */
		p->local = 1;
	} else if (tr != 1) {  /* SMTP runs over a stream */
		return PROTO_PROXY_ERROR;
	} else if (fam == 1) {
		addr = 12;
	} else if (fam == 2) {
		addr = 36;
	} else if (fam == 3) {
		addr = 216;  /* AF_UNIX paths: read, not used */
		p->local = 1;
	} else {
		return PROTO_PROXY_ERROR;
	}
	if (len < addr)
		return PROTO_PROXY_ERROR;
	p->need = PROTO_PROXY_V2_HEAD_BYTES + addr;
	p->rest = len - addr;
	p->state = addr > 0 ? PROXY_V2_ADDR : PROXY_V2_TLV;
	return PROTO_PROXY_NEED_MORE;
}

/* The v2 address block is in buf: fill src and dst. */
static void
proxy_v2_addr(struct proto_proxy *p)
{
	const unsigned char *a = p->buf + PROTO_PROXY_V2_HEAD_BYTES;

	memset(&p->src, 0, sizeof(p->src));
	memset(&p->dst, 0, sizeof(p->dst));
	p->state = PROXY_V2_TLV;
	if (p->local)
		return;
	if (p->need == PROTO_PROXY_V2_HEAD_BYTES + 12) {
		struct sockaddr_in *s = (struct sockaddr_in *)&p->src, *d = (struct sockaddr_in *)&p->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&p->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&p->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
}

/* Walk TLVs in b[0..n): type (1), length (2, big endian), value. LOCAL
 * blocks are opaque. Returns how many octets it took; sets the state to
 * DONE at the end, ERROR when a TLV runs past the block. */
static size_t
proxy_v2_tlv(struct proto_proxy *p, const unsigned char *b, size_t n)
{
	size_t i = 0, k;

	while (p->rest > 0 && i < n) {
		if (p->opaque) {
			k = n - i < p->rest ? n - i : p->rest;
		} else if (p->tlv_head == 0 && p->tlv_value > 0) {
			k = n - i < p->tlv_value ? n - i : p->tlv_value;
			p->tlv_value -= (uint32_t)k;
		} else {
			k = 1;
			if (p->tlv_head == 1)
				p->tlv_value = (uint32_t)b[i] << 8;
			else if (p->tlv_head == 2)
				p->tlv_value |= b[i];
			p->tlv_head = (p->tlv_head + 1) % 3;
			if (p->tlv_head == 0 && p->tlv_value > p->rest - 1) {
				p->state = PROXY_ERROR;  /* the value would run past the block */
				return i;
			}
		}
		p->rest -= (uint32_t)k;
		i += k;
	}
	if (p->rest == 0)
		p->state = p->tlv_head == 0 && p->tlv_value == 0 ? PROXY_DONE : PROXY_ERROR;
	return i;
}

/* Take v2 octets into the head or address block. Returns how many. */
static size_t
proxy_v2_collect(struct proto_proxy *p, const unsigned char *b, size_t n)
{
	size_t want = (p->state == PROXY_V2_HEAD ? PROTO_PROXY_V2_HEAD_BYTES : p->need) - p->len;
	size_t k = n < want ? n : want, i;

	for (i = 0; i < k; i++) {
		if (p->len < sizeof(proxy_v2_sig) && b[i] != proxy_v2_sig[p->len]) {
			p->state = PROXY_ERROR;
			return i;
		}
		p->buf[p->len++] = b[i];
	}
	if (p->state == PROXY_V2_HEAD && p->len == PROTO_PROXY_V2_HEAD_BYTES) {
		if (proxy_v2_head(p) == PROTO_PROXY_ERROR)
			p->state = PROXY_ERROR;
	} else if (p->state == PROXY_V2_ADDR && p->len == p->need) {
		proxy_v2_addr(p);
	}
	if (p->state == PROXY_V2_TLV && p->rest == 0)
		p->state = PROXY_DONE;
	return k;
}

/* Call with connection bytes; see proto/proxy.h. */
enum proto_proxy_result
proto_proxy_feed(struct proto_proxy *p, const void *buf, size_t len, size_t *used)
{
	const unsigned char *b = buf;
	size_t i = 0;
	int r;

	*used = 0;
	while (i < len && p->state != PROXY_DONE && p->state != PROXY_ERROR) {
		if (p->state == PROXY_DETECT)
			p->state = b[i] == proxy_v1_sig[0] ? PROXY_V1 : PROXY_V2_HEAD;
		if (p->state == PROXY_V1) {
			r = proxy_v1_byte(p, b[i++]);
			if (r != PROTO_PROXY_NEED_MORE)
				p->state = r == PROTO_PROXY_DONE ? PROXY_DONE : PROXY_ERROR;
		} else if (p->state == PROXY_V2_TLV) {
			i += proxy_v2_tlv(p, b + i, len - i);
		} else {
			i += proxy_v2_collect(p, b + i, len - i);
		}
	}
	if (p->state == PROXY_ERROR)
		return PROTO_PROXY_ERROR;
	*used = i;
	return p->state == PROXY_DONE ? PROTO_PROXY_DONE : PROTO_PROXY_NEED_MORE;
}
