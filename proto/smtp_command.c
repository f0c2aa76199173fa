/*
 * proto/smtp_command.c - owns the syntax of one SMTP command line: splitting
 * the verb from its arguments, the MAIL/RCPT path grammar (RFC 5321 4.1.2)
 * and the MAIL parameters (RFC 1870, RFC 6152). Pure functions; the contract
 * is in proto/smtp_command.h.
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

/* Returns 1 for RFC 5321 4.1.2 atext: ALPHA, DIGIT and !#$%&'*+-/=?^_`{|}~. */
static int
proto_cmd_atext(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Returns 1 for Let-dig (RFC 5321 4.1.2): a letter or a digit. */
static int
proto_cmd_letdig(char c)
{
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
proto_cmd_dot_string(const char *s, size_t n)
{
	size_t i, atom = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
		} else if (proto_cmd_atext(s[i])) {
			atom++;
		} else {
			return 0;
		}
	}
	return atom > 0;
}

/* Returns 1 if s[0..n) is a Quoted-string: DQUOTE *(qtextSMTP /
 * quoted-pairSMTP) DQUOTE, printable ASCII only (RFC 5321 4.1.2). */
static int
proto_cmd_quoted_string(const char *s, size_t n)
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
proto_cmd_domain(const char *s, size_t n)
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
		} else if (proto_cmd_letdig(s[i]) || (s[i] == '-' && label > 0)) {
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
	if (addr[0] == '"' ? !proto_cmd_quoted_string(addr, local)
	                   : !proto_cmd_dot_string(addr, local))
		return 0;
	return proto_cmd_domain(at + 1, strlen(at + 1));
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
		if (!proto_cmd_domain(d, (size_t)(p - d)))
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

/* Returns 1 if every octet of s is esmtp-keyword/value material: printable
 * ASCII without SP (RFC 5321 4.1.2 esmtp-param). */
static int
proto_cmd_param_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
			return 0;
	return 1;
}

/* Call on what proto_cmd_path() left in *params; see proto/smtp_command.h. */
enum proto_cmd_result
proto_cmd_mail_params(char *params, uint64_t *size, int *body8)
{
	char *p = params;

	*size = 0;
	*body8 = 0;
	while (*p != '\0') {
		char *kw = p, *val;

		while (*p != '\0' && !proto_cmd_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		while (proto_cmd_blank(*p))
			p++;
		if (!proto_cmd_param_printable(kw))
			return PROTO_CMD_BAD_PARAM;
		val = strchr(kw, '=');
		if (val != NULL)
			*val++ = '\0';
		if (strcasecmp(kw, "SIZE") == 0) {  /* RFC 1870 6 */
			if (val == NULL || !proto_cmd_u64(val, size))
				return PROTO_CMD_BAD_PARAM;
		} else if (strcasecmp(kw, "BODY") == 0) {  /* RFC 6152 2 */
			if (val != NULL && strcasecmp(val, "7BIT") == 0)
				*body8 = 0;
			else if (val != NULL && strcasecmp(val, "8BITMIME") == 0)
				*body8 = 1;
			else
				return PROTO_CMD_BAD_PARAM;
		} else {
			return PROTO_CMD_UNKNOWN_PARAM;
		}
	}
	return PROTO_CMD_OK;
}
