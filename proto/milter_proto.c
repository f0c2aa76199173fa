/*
 * proto/milter_proto.c - milter packets built and replies parsed, no I/O.
 * See proto/milter_proto.h.
 */
#include "proto/milter_proto.h"

#include <string.h>

/* The packet header: length (command octet included) and command. */
static void
milter_head(char *out, size_t body, char cmd)
{
	uint32_t n = (uint32_t)body + 1;

	out[0] = (char)(n >> 24);
	out[1] = (char)(n >> 16);
	out[2] = (char)(n >> 8);
	out[3] = (char)n;
	out[4] = cmd;
}

static void
milter_put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint32_t
milter_get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

int
proto_milter_optneg(char *out, size_t cap, uint32_t actions, uint32_t protocol)
{
	if (cap < 5 + 12)
		return -1;
	milter_head(out, 12, PROTO_MILTER_OPTNEG);
	milter_put32(out + 5, PROTO_MILTER_VERSION);
	milter_put32(out + 9, actions);
	milter_put32(out + 13, protocol);
	return 17;
}

/* Append the NUL-ended string s at out[*at]; 0, or -1 past cap. */
static int
milter_put_str(char *out, size_t cap, size_t *at, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > cap - *at)
		return -1;
	memcpy(out + *at, s, n);
	*at += n;
	return 0;
}

int
proto_milter_strings(char *out, size_t cap, char cmd, const char *const *strs, unsigned n)
{
	size_t at = 5;

	if (cap < 5)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (milter_put_str(out, cap, &at, strs[i] != NULL ? strs[i] : "") < 0)
			return -1;
	if (at > PROTO_MILTER_PACKET_BYTES_MAX)
		return -1;
	milter_head(out, at - 5, cmd);
	return (int)at;
}

int
proto_milter_macros(char *out, size_t cap, char cmd, const char *const *pairs, unsigned n)
{
	size_t at = 6;

	if (cap < 6 || n > PROTO_MILTER_MACROS_MAX)
		return -1;
	out[5] = cmd;
	for (unsigned i = 0; i < n; i++) {
		if (pairs[2 * i + 1] == NULL)
			continue;
		if (milter_put_str(out, cap, &at, pairs[2 * i]) < 0 ||
		    milter_put_str(out, cap, &at, pairs[2 * i + 1]) < 0)
			return -1;
	}
	milter_head(out, at - 5, PROTO_MILTER_MACRO);
	return (int)at;
}

int
proto_milter_connect(char *out, size_t cap, const char *hostname, char family, uint16_t port,
                     const char *addr)
{
	size_t at = 5;

	if (milter_put_str(out, cap, &at, hostname) < 0 || cap - at < 1)
		return -1;
	out[at++] = family;
	if (family != 'U') {
		if (cap - at < 2)
			return -1;
		out[at++] = (char)(port >> 8);
		out[at++] = (char)port;
		if (milter_put_str(out, cap, &at, addr) < 0)
			return -1;
	}
	milter_head(out, at - 5, PROTO_MILTER_CONNECT);
	return (int)at;
}

int
proto_milter_body(char *out, size_t cap, const char *data, size_t len)
{
	if (len > PROTO_MILTER_BODY_CHUNK_BYTES || cap < 5 || len > cap - 5)
		return -1;
	milter_head(out, len, PROTO_MILTER_BODY);
	memcpy(out + 5, data, len);
	return (int)(len + 5);
}

/* The NUL-ended string at p[*at] within end; NULL when it has no NUL. */
static const char *
milter_take_str(const char *p, size_t end, size_t *at)
{
	const char *nul;

	if (*at >= end || (nul = memchr(p + *at, '\0', end - *at)) == NULL)
		return NULL;
	const char *s = p + *at;
	*at = (size_t)(nul - p) + 1;
	return s;
}

/* SMFIR_REPLYCODE's "550 5.7.1 text": a 4xx or 5xx code, then a space or
 * '-' (a multi-line reply: its first line is taken) or the end; a bare CR
 * or LF, or a control, is refused (the text goes into our reply); 0 or -1. */
static int
milter_parse_code(const char *s, struct proto_milter_msg *r)
{
	const char *c;

	if ((s[0] != '4' && s[0] != '5') || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9' || (s[3] != ' ' && s[3] != '-' && s[3] != '\0'))
		return -1;
	r->code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
	          (unsigned)(s[2] - '0');
	r->text = s[3] ? s + 4 : s + 3;
	for (c = r->text; *c && *c != '\r'; c++)
		if ((unsigned char)*c < ' ' && *c != '\t')
			return -1;
	r->text_len = (size_t)(c - r->text);
	if (*c == '\r' && (c[1] != '\n' || s[3] != '-'))
		return -1;   /* CRLF only between the lines of a multi-line reply */
	return 0;
}

/* The data of reply r->cmd in p[0..n): 0, or -1 with r->error. */
static int
milter_parse_data(const char *p, size_t n, struct proto_milter_msg *r)
{
	size_t at = 0;

	switch (r->cmd) {
	case PROTO_MILTER_R_OPTNEG:
		if (n < 12)
			return r->error = "OPTNEG shorter than 12 octets", -1;
		r->version = milter_get32(p);
		r->actions = milter_get32(p + 4);
		r->protocol = milter_get32(p + 8);
		return 0;   /* symbol lists after it: ignored, we send our own */
	case PROTO_MILTER_R_ACCEPT:
	case PROTO_MILTER_R_CONTINUE:
	case PROTO_MILTER_R_DISCARD:
	case PROTO_MILTER_R_REJECT:
	case PROTO_MILTER_R_TEMPFAIL:
	case PROTO_MILTER_R_SKIP:
	case PROTO_MILTER_R_PROGRESS:
		return 0;
	case PROTO_MILTER_R_REPLBODY:
		r->data = p;
		r->data_len = n;
		return 0;
	case PROTO_MILTER_R_REPLYCODE:
		if ((r->text = milter_take_str(p, n, &at)) == NULL || milter_parse_code(r->text, r) < 0)
			return r->error = "REPLYCODE without a 4xx or 5xx code on one line", -1;
		return 0;
	case PROTO_MILTER_R_INSHEADER:
	case PROTO_MILTER_R_CHGHEADER:
		if (n < 4)
			return r->error = "header index cut short", -1;
		r->index = milter_get32(p);
		at = 4;
		/* fall through */
	case PROTO_MILTER_R_ADDHEADER:
		if ((r->name = milter_take_str(p, n, &at)) == NULL ||
		    (r->value = milter_take_str(p, n, &at)) == NULL || r->name[0] == '\0')
			return r->error = "header without a name and a value", -1;
		for (const char *c = r->name; *c; c++)
			if (*c <= ' ' || *c == ':' || *c == 127)
				return r->error = "header name with a space, ':' or a control", -1;
		return 0;
	case PROTO_MILTER_R_ADDRCPT:
	case PROTO_MILTER_R_DELRCPT:
	case PROTO_MILTER_R_QUARANTINE:
	case PROTO_MILTER_R_ADDRCPT_PAR:
	case PROTO_MILTER_R_CHGFROM:
		if ((r->name = milter_take_str(p, n, &at)) == NULL)
			return r->error = "string without its NUL", -1;
		if (r->cmd == PROTO_MILTER_R_ADDRCPT_PAR || r->cmd == PROTO_MILTER_R_CHGFROM)
			r->value = milter_take_str(p, n, &at);   /* optional arguments */
		return 0;
	default:
		return r->error = "unknown reply", -1;
	}
}

long
proto_milter_parse(const char *in, size_t len, struct proto_milter_msg *r)
{
	uint32_t n;

	memset(r, 0, sizeof *r);
	if (len < 4)
		return 0;
	n = milter_get32(in);
	if (n == 0 || n > PROTO_MILTER_PACKET_BYTES_MAX) {
		r->error = n == 0 ? "a packet of length 0" : "a packet over the size limit";
		return -1;
	}
	if (len - 4 < n)
		return 0;
	r->cmd = in[4];
	if (milter_parse_data(in + 5, n - 1, r) < 0)
		return -1;
	return (long)n + 4;
}

int
proto_milter_optneg_check(const struct proto_milter_msg *r, uint32_t actions, uint32_t protocol,
                          const char **why)
{
	if (r->cmd != PROTO_MILTER_R_OPTNEG)
		return *why = "the first reply is not OPTNEG", -1;
	if (r->version < 2 || r->version > PROTO_MILTER_VERSION)
		return *why = "a protocol version ringmta does not speak", -1;
	if (r->actions & ~actions)
		return *why = "actions ringmta did not offer", -1;
	if (r->protocol & ~protocol)
		return *why = "protocol steps ringmta did not offer", -1;
	return 0;
}

int
proto_milter_sends(uint32_t protocol, enum proto_milter_step step)
{
	static const uint32_t skip[] = {
		[PROTO_MILTER_STEP_CONNECT] = PROTO_MILTER_P_NOCONNECT,
		[PROTO_MILTER_STEP_HELO] = PROTO_MILTER_P_NOHELO,
		[PROTO_MILTER_STEP_MAIL] = PROTO_MILTER_P_NOMAIL,
		[PROTO_MILTER_STEP_RCPT] = PROTO_MILTER_P_NORCPT,
		[PROTO_MILTER_STEP_DATA] = PROTO_MILTER_P_NODATA,
		[PROTO_MILTER_STEP_HEADER] = PROTO_MILTER_P_NOHDRS,
		[PROTO_MILTER_STEP_EOH] = PROTO_MILTER_P_NOEOH,
		[PROTO_MILTER_STEP_BODY] = PROTO_MILTER_P_NOBODY,
		[PROTO_MILTER_STEP_EOM] = 0,
	};
	return (protocol & skip[step]) == 0;
}

int
proto_milter_replies(uint32_t protocol, enum proto_milter_step step)
{
	static const uint32_t nr[] = {
		[PROTO_MILTER_STEP_CONNECT] = PROTO_MILTER_P_NR_CONN,
		[PROTO_MILTER_STEP_HELO] = PROTO_MILTER_P_NR_HELO,
		[PROTO_MILTER_STEP_MAIL] = PROTO_MILTER_P_NR_MAIL,
		[PROTO_MILTER_STEP_RCPT] = PROTO_MILTER_P_NR_RCPT,
		[PROTO_MILTER_STEP_DATA] = PROTO_MILTER_P_NR_DATA,
		[PROTO_MILTER_STEP_HEADER] = PROTO_MILTER_P_NR_HDR,
		[PROTO_MILTER_STEP_EOH] = PROTO_MILTER_P_NR_EOH,
		[PROTO_MILTER_STEP_BODY] = PROTO_MILTER_P_NR_BODY,
		[PROTO_MILTER_STEP_EOM] = 0,
	};
	return (protocol & nr[step]) == 0;
}

int
proto_milter_is_final(char cmd)
{
	return cmd != '\0' && strchr("acrtdys", cmd) != NULL;
}
