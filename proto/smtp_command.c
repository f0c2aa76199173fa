/*
 * proto/smtp_command.c - owns the syntax of one SMTP command line: splitting
 * the verb from its arguments, the MAIL/RCPT path grammar (RFC 5321 4.1.2,
 * RFC 6531 3.3), the MAIL and RCPT parameters (RFC 1870, RFC 6152, RFC 3030,
 * RFC 3461, RFC 6531, RFC 4954), xtext and UTF-8 validity. Pure functions;
 * the contract is in proto/smtp_command.h.
 */
#include "proto/smtp_command.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* Returns 1 for SP and HTAB, the separators between command words. */
static int
proto_cmd_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Returns 1 for RFC 5321 4.1.2 atext: ALPHA, DIGIT and !#$%&'*+-/=?^_`{|}~;
 * with PROTO_PATH_UTF8_OK also any octet of a UTF-8 sequence (RFC 6531 3.3,
 * the whole address is checked for UTF-8 validity separately). */
static int
proto_cmd_atext(char c, unsigned flags)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	if ((unsigned char)c >= 0x80)
		return (flags & PROTO_PATH_UTF8_OK) != 0;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Returns 1 for Let-dig (RFC 5321 4.1.2): a letter or a digit; with
 * PROTO_PATH_UTF8_OK also a UTF-8 octet (a U-label, RFC 6531 3.3). */
static int
proto_cmd_letdig(char c, unsigned flags)
{
	if ((unsigned char)c >= 0x80)
		return (flags & PROTO_PATH_UTF8_OK) != 0;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Call on a whole line; see proto/smtp_command.h. */
char *
proto_cmd_split(char *line, char **verb, size_t *verb_len)
{
	char *p = line;

	while (proto_cmd_blank(*p))
		p++;
	*verb = p;
	while (*p != '\0' && !proto_cmd_blank(*p))
		p++;
	*verb_len = (size_t)(p - *verb);
	while (proto_cmd_blank(*p))
		p++;
	return p;
}

/* Returns 1 if s[0..n) is a Dot-string: atoms of atext joined by single dots. */
static int
proto_cmd_dot_string(const char *s, size_t n, unsigned flags)
{
	size_t i, atom = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
		} else if (proto_cmd_atext(s[i], flags)) {
			atom++;
		} else {
			return 0;
		}
	}
	return atom > 0;
}

/* Returns 1 if s[0..n) is a Quoted-string: DQUOTE *(qtextSMTP /
 * quoted-pairSMTP) DQUOTE, printable ASCII only (RFC 5321 4.1.2), plus
 * UTF-8 octets in qtext with PROTO_PATH_UTF8_OK (RFC 6531 3.3). */
static int
proto_cmd_quoted_string(const char *s, size_t n, unsigned flags)
{
	size_t i;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			if (++i >= n - 1)
				return 0;
			c = (unsigned char)s[i];
		} else if (c == '"') {
			return 0;
		} else if (c >= 0x80 && (flags & PROTO_PATH_UTF8_OK)) {
			continue;
		}
		if (c < 32 || c > 126)
			return 0;
	}
	return 1;
}

/* Returns 1 if s[0..n) is an address literal: "[" IPv4 "]" or
 * "[IPv6:" IPv6 "]" (RFC 5321 4.1.3). General literals are refused. */
static int
proto_cmd_address_literal(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* Returns 1 if s[0..n) is a Domain (sub-domains of Let-dig [Ldh-str], each at
 * most 63 octets, RFC 5321 4.1.2) or an address literal; at most 255 octets. */
static int
proto_cmd_domain(const char *s, size_t n, unsigned flags)
{
	size_t i, label = 0;

	if (n == 0 || n > PROTO_DOMAIN_BYTES_MAX)
		return 0;
	if (s[0] == '[')
		return proto_cmd_address_literal(s, n);
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (proto_cmd_letdig(s[i], flags) || (s[i] == '-' && label > 0)) {
			if (++label > PROTO_LABEL_BYTES_MAX)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && s[n - 1] != '-';
}

/* Call on a mailbox without <>; see proto/smtp_command.h. */
int
proto_cmd_mailbox_valid(const char *addr, unsigned flags)
{
	const char *at;
	size_t local;

	if (addr[0] == '"') {
		at = addr + 1;
		while (*at != '\0' && *at != '"') {
			if (*at == '\\' && at[1] != '\0')
				at++;
			at++;
		}
		if (*at == '"')
			at++;
		if (*at != '@')
			return 0;
	} else {
		at = strchr(addr, '@');
		if (at == NULL)  /* RFC 5321 4.5.1: "postmaster" without domain */
			return (flags & PROTO_PATH_POSTMASTER_OK) &&
			       strcasecmp(addr, "postmaster") == 0;
	}
	local = (size_t)(at - addr);
	if (local == 0 || local > PROTO_LOCAL_BYTES_MAX)
		return 0;
	if (addr[0] == '"' ? !proto_cmd_quoted_string(addr, local, flags)
	                   : !proto_cmd_dot_string(addr, local, flags))
		return 0;
	if ((flags & PROTO_PATH_UTF8_OK) && !proto_cmd_utf8_valid(addr, strlen(addr)))
		return 0;
	return proto_cmd_domain(at + 1, strlen(at + 1), flags);
}

/* Call on the inside of <>: skips a source route "@a,@b:" (RFC 5321 4.1.2
 * A-d-l, ignored per appendix C) after checking its domains. Returns the
 * mailbox after it, or NULL if the route is malformed. */
static char *
proto_cmd_route_skip(char *s)
{
	char *p = s;

	if (*p != '@')
		return s;
	for (;;) {
		char *d = ++p;  /* past '@' */

		while (*p != '\0' && *p != ',' && *p != ':')
			p++;
		if (!proto_cmd_domain(d, (size_t)(p - d), 0))
			return NULL;
		if (*p == ':')
			return p + 1;
		if (*p != ',' || *++p != '@')
			return NULL;
	}
}

/* Returns the closing '>' of a path that starts at s (just after '<'),
 * skipping quoted strings; NULL if there is none. */
static char *
proto_cmd_path_end(char *s)
{
	int quoted = 0;
	char *p;

	for (p = s; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>')
			return p;
	}
	return NULL;
}

/* Call on the arguments of MAIL or RCPT; see proto/smtp_command.h. */
enum proto_cmd_result
proto_cmd_path(char *args, const char *keyword, unsigned flags, char **addr, char **params)
{
	size_t klen = strlen(keyword);
	char *p, *start, *end;

	if (strncasecmp(args, keyword, klen) != 0)
		return PROTO_CMD_SYNTAX;
	p = args + klen;
	while (*p == ' ')  /* "MAIL FROM: <a@b>": not RFC 5321, but common */
		p++;
	if (*p != '<')
		return PROTO_CMD_SYNTAX;
	start = p + 1;
	end = proto_cmd_path_end(start);
	if (end == NULL)  /* an unbalanced quote hides '>': a bad address */
		return strchr(start, '>') != NULL ? PROTO_CMD_BAD_PATH : PROTO_CMD_SYNTAX;
	p = end + 1;
	if (*p != '\0' && !proto_cmd_blank(*p))
		return PROTO_CMD_SYNTAX;
	while (proto_cmd_blank(*p))
		p++;
	*end = '\0';
	if ((size_t)(end - start) > PROTO_PATH_BYTES_MAX)
		return PROTO_CMD_BAD_PATH;
	if (start == end) {
		if (!(flags & PROTO_PATH_NULL_OK))
			return PROTO_CMD_BAD_PATH;
	} else {
		start = proto_cmd_route_skip(start);
		if (start == NULL || !proto_cmd_mailbox_valid(start, flags))
			return PROTO_CMD_BAD_PATH;
	}
	*addr = start;
	*params = p;
	return PROTO_CMD_OK;
}

/* Parses 1 to 20 decimal digits into *v; returns 0 on anything else or on
 * overflow of 64 bits. */
static int
proto_cmd_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || n > (UINT64_MAX - d) / 10)
			return 0;
		n = n * 10 + d;
	}
	*v = n;
	return i > 0;
}


/* Returns 1 if s is an esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT /
 * "-") (RFC 5321 4.1.2). */
static int
proto_cmd_param_keyword(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!proto_cmd_letdig(s[i], 0) && (s[i] != '-' || i == 0))
			return 0;
	return i > 0;
}

/* Returns 1 if s is an esmtp-value: 1*(%d33-60 / %d62-126), printable
 * ASCII without SP and "=" (RFC 5321 4.1.2). */
static int
proto_cmd_param_value(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 || s[i] == '=')
			return 0;
	return i > 0;
}

/* Returns the value of one hex digit, or -1. */
static int
proto_cmd_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')  /* RFC 3461 says upper case; lower is harmless */
		return c - 'a' + 10;
	return -1;
}

/* Call on an xtext value; see proto/smtp_command.h. */
int
proto_cmd_xtext_decode(const char *s, char *out, size_t out_max)
{
	size_t n = 0;

	if (out_max == 0)
		return -1;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 33 || c > 126 || c == '=')  /* RFC 3461 4: xchar */
			return -1;
		if (c == '+') {  /* hexchar: "+" 2HEXDIG */
			int hi = proto_cmd_hex(s[1]), lo = hi < 0 ? -1 : proto_cmd_hex(s[2]);

			if (lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			s += 2;
			/* Exim CVE-2020-28021 class: no CR, LF, NUL or 8-bit smuggled in */
			if (c < 32 || c > 126)
				return -1;
		}
		if (n + 1 >= out_max)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

/* Call on bytes that may be UTF-8; see proto/smtp_command.h. */
int
proto_cmd_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, min, cp, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, min = 0x80, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, min = 0x800, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, min = 0x10000, cp = c & 0x07;
		else
			return 0;  /* continuation byte, C0/C1 overlong lead, or > U+10FFFF */
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* ---- parameters: one parser per keyword, 0 on success, -1 with out->why ---- */

/* SIZE=digits (RFC 1870 6). */
static int
proto_cmd_p_size(char *val, unsigned ext, struct proto_cmd_params *out)
{
	(void)ext;
	if (val == NULL || !proto_cmd_u64(val, &out->size)) {
		out->why = "must be a number";
		return -1;
	}
	return 0;
}

/* BODY=7BIT|8BITMIME (RFC 6152 2), BODY=BINARYMIME (RFC 3030 3: only with
 * CHUNKING, the body then comes in BDAT). */
static int
proto_cmd_p_body(char *val, unsigned ext, struct proto_cmd_params *out)
{
	if (val != NULL && strcasecmp(val, "7BIT") == 0)
		out->body = PROTO_BODY_7BIT;
	else if (val != NULL && strcasecmp(val, "8BITMIME") == 0)
		out->body = PROTO_BODY_8BITMIME;
	else if (val != NULL && strcasecmp(val, "BINARYMIME") == 0 &&
	         (ext & PROTO_EXT_BINARYMIME) && (ext & PROTO_EXT_CHUNKING))
		out->body = PROTO_BODY_BINARYMIME;
	else {
		out->why = "must be 7BIT or 8BITMIME";
		return -1;
	}
	return 0;
}

/* SMTPUTF8, no value (RFC 6531 3.4). */
static int
proto_cmd_p_smtputf8(char *val, unsigned ext, struct proto_cmd_params *out)
{
	(void)ext;
	if (val != NULL) {
		out->why = "takes no value";
		return -1;
	}
	out->smtputf8 = 1;
	return 0;
}

/* RET=FULL|HDRS (RFC 3461 4.3). */
static int
proto_cmd_p_ret(char *val, unsigned ext, struct proto_cmd_params *out)
{
	(void)ext;
	if (val != NULL && strcasecmp(val, "FULL") == 0)
		out->ret = PROTO_DSN_RET_FULL;
	else if (val != NULL && strcasecmp(val, "HDRS") == 0)
		out->ret = PROTO_DSN_RET_HDRS;
	else {
		out->why = "must be FULL or HDRS";
		return -1;
	}
	return 0;
}

/* ENVID=xtext, at most 100 characters (RFC 3461 4.4). */
static int
proto_cmd_p_envid(char *val, unsigned ext, struct proto_cmd_params *out)
{
	(void)ext;
	if (val == NULL || strlen(val) > PROTO_ENVID_BYTES_MAX ||
	    proto_cmd_xtext_decode(val, out->envid, sizeof(out->envid)) <= 0) {
		out->envid[0] = '\0';
		out->why = "must be xtext of at most 100 characters";
		return -1;
	}
	return 0;
}

/* AUTH=xtext mailbox or "<>" (RFC 4954 5), bounded. */
static int
proto_cmd_p_auth(char *val, unsigned ext, struct proto_cmd_params *out)
{
	(void)ext;
	if (val == NULL || strlen(val) > PROTO_AUTH_PARAM_BYTES_MAX ||
	    proto_cmd_xtext_decode(val, out->auth, sizeof(out->auth)) <= 0) {
		out->auth[0] = '\0';
		out->why = "must be xtext of at most 500 characters";
		return -1;
	}
	out->has_auth = 1;
	return 0;
}

/* NOTIFY=NEVER, or a list of SUCCESS, FAILURE, DELAY, each at most once
 * (RFC 3461 4.1). */
static int
proto_cmd_p_notify(char *val, unsigned ext, struct proto_cmd_params *out)
{
	static const char *const names[] = { "NEVER", "SUCCESS", "FAILURE", "DELAY" };
	char *p = val, *item;
	unsigned bit, i;

	(void)ext;
	out->why = "must be NEVER or a list of SUCCESS, FAILURE, DELAY";
	if (val == NULL)
		return -1;
	while ((item = strsep(&p, ",")) != NULL) {
		for (i = 0, bit = 0; i < 4; i++)
			if (strcasecmp(item, names[i]) == 0)
				bit = 1u << i;  /* PROTO_DSN_NOTIFY_* in this order */
		if (bit == 0 || (out->notify & bit))
			return -1;
		out->notify |= bit;
	}
	if ((out->notify & PROTO_DSN_NOTIFY_NEVER) && out->notify != PROTO_DSN_NOTIFY_NEVER)
		return -1;
	out->why = NULL;
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2): at most 500 characters; stored as
 * "addr-type;decoded". */
static int
proto_cmd_p_orcpt(char *val, unsigned ext, struct proto_cmd_params *out)
{
	char *semi = val != NULL ? strchr(val, ';') : NULL;
	size_t type_len;

	(void)ext;
	out->why = "must be addr-type;xtext of at most 500 characters";
	if (semi == NULL || strlen(val) > PROTO_ORCPT_BYTES_MAX)
		return -1;
	type_len = (size_t)(semi - val);
	*semi = '\0';
	if (!proto_cmd_dot_string(val, type_len, 0) ||
	    proto_cmd_xtext_decode(semi + 1, out->orcpt + type_len + 1,
	                           sizeof(out->orcpt) - type_len - 1) <= 0) {
		out->orcpt[0] = '\0';
		return -1;
	}
	memcpy(out->orcpt, val, type_len);
	out->orcpt[type_len] = ';';
	out->why = NULL;
	return 0;
}

struct proto_cmd_param_def {
	const char *keyword;
	unsigned ext;   /* the extension that defines it */
	int is_rcpt;    /* 0: a MAIL parameter, 1: a RCPT parameter */
	int (*parse)(char *val, unsigned ext, struct proto_cmd_params *out);
};

static const struct proto_cmd_param_def proto_cmd_param_defs[] = {
	{ "SIZE", PROTO_EXT_SIZE, 0, proto_cmd_p_size },
	{ "BODY", PROTO_EXT_8BITMIME, 0, proto_cmd_p_body },
	{ "SMTPUTF8", PROTO_EXT_SMTPUTF8, 0, proto_cmd_p_smtputf8 },
	{ "RET", PROTO_EXT_DSN, 0, proto_cmd_p_ret },
	{ "ENVID", PROTO_EXT_DSN, 0, proto_cmd_p_envid },
	{ "AUTH", PROTO_EXT_AUTH, 0, proto_cmd_p_auth },
	{ "NOTIFY", PROTO_EXT_DSN, 1, proto_cmd_p_notify },
	{ "ORCPT", PROTO_EXT_DSN, 1, proto_cmd_p_orcpt },
};

/* Copy a keyword for the reply text: printable, at most sizeof(out->keyword) - 1. */
static void
proto_cmd_keyword_copy(struct proto_cmd_params *out, const char *kw)
{
	size_t i;

	for (i = 0; kw[i] != '\0' && i + 1 < sizeof(out->keyword); i++)
		out->keyword[i] = (unsigned char)kw[i] > ' ' && (unsigned char)kw[i] < 127 ? kw[i]
		                                                                            : '?';
	out->keyword[i] = '\0';
}

/* Run one "keyword[=value]" through the table. Returns a result code. */
static enum proto_cmd_result
proto_cmd_param_one(char *kw, unsigned ext, int is_rcpt, unsigned *seen,
                    struct proto_cmd_params *out)
{
	char *val = strchr(kw, '=');
	size_t i;

	if (val != NULL)
		*val++ = '\0';
	proto_cmd_keyword_copy(out, kw);
	if (!proto_cmd_param_keyword(kw) || (val != NULL && !proto_cmd_param_value(val))) {
		out->why = "malformed";
		return PROTO_CMD_BAD_PARAM;
	}
	for (i = 0; i < sizeof(proto_cmd_param_defs) / sizeof(proto_cmd_param_defs[0]); i++) {
		const struct proto_cmd_param_def *d = &proto_cmd_param_defs[i];

		if (d->is_rcpt != is_rcpt || !(ext & d->ext) || strcasecmp(kw, d->keyword) != 0)
			continue;
		if (*seen & (1u << i)) {  /* RFC 5321 4.1.2: each parameter at most once */
			out->why = "given twice";
			return PROTO_CMD_DUP_PARAM;
		}
		*seen |= 1u << i;
		return d->parse(val, ext, out) == 0 ? PROTO_CMD_OK : PROTO_CMD_BAD_PARAM;
	}
	return PROTO_CMD_UNKNOWN_PARAM;
}

/* Call on what proto_cmd_path() left in *params; see proto/smtp_command.h. */
enum proto_cmd_result
proto_cmd_params(char *params, unsigned ext, int is_rcpt, struct proto_cmd_params *out)
{
	char *p = params;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		char *kw = p;
		enum proto_cmd_result r;

		while (*p != '\0' && !proto_cmd_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		while (proto_cmd_blank(*p))
			p++;
		r = proto_cmd_param_one(kw, ext, is_rcpt, &seen, out);
		if (r != PROTO_CMD_OK)
			return r;
	}
	out->keyword[0] = '\0';
	return PROTO_CMD_OK;
}

/* Call on MAIL parameters when only SIZE and BODY=7BIT|8BITMIME are known. */
enum proto_cmd_result
proto_cmd_mail_params(char *params, uint64_t *size, int *body8)
{
	struct proto_cmd_params out;
	enum proto_cmd_result r;

	r = proto_cmd_params(params, PROTO_EXT_SIZE | PROTO_EXT_8BITMIME, 0, &out);
	*size = out.size;
	*body8 = out.body == PROTO_BODY_8BITMIME;
	return r;
}
