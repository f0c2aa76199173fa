/*
 * rules/expand.c - rules_expand(): a maildir path template for one
 * recipient, as smtpd.conf(5) FORMAT SPECIFIERS and OpenSMTPD's
 * mda_expand_format(): a leading ~ is the user's home, %% is %, and
 * %{token[begin:end]:modifier|modifier} with tokens sender, sender.user,
 * sender.domain, rcpt, rcpt.user, rcpt.domain, dest, dest.user,
 * dest.domain, user.username, user.directory, mbox.from (the sender, or
 * MAILER-DAEMON for <>) and mda (the command an mda wrapper wraps),
 * modifiers lowercase, uppercase, strip (drop a +tag) and raw. Characters
 * that could climb out of a folder ("/" and the rest of OpenSMTPD's
 * MAILADDR_ESCAPE) in address parts become ':' unless :raw, and in an mda
 * command every byte a shell could read as syntax does, :raw or not; an
 * address part that expands to "." or ".." is refused. No I/O.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

#define EXPAND_TOKEN_BYTES_MAX 128     /* %{...} (OpenSMTPD MAXTOKENLEN) */
#define EXPAND_VALUE_BYTES_MAX 4096    /* one expanded token */
#define EXPAND_ESCAPE "!#$%&'*/?^`{|}~" /* OpenSMTPD MAILADDR_ESCAPE */

/* Copy the user (part 0) or domain (part 1) of addr into out; 0 or -1. */
static int
expand_part(const char *addr, int part, char *out, size_t cap)
{
	const char *at;
	int n;

	if (addr == NULL)
		return -1;
	at = strrchr(addr, '@');
	if (part == 0)
		n = snprintf(out, cap, "%.*s", at ? (int)(at - addr) : (int)strlen(addr), addr);
	else
		n = snprintf(out, cap, "%s", at ? at + 1 : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The raw value of a token name; *escape says whether it is an address part. */
static int
expand_value(const char *name, const struct rules_expand_ctx *x, char *out, size_t cap,
             int *escape)
{
	static const struct { const char *name; int which, part; } tokens[] = {
		{ "rcpt", 0, -1 }, { "rcpt.user", 0, 0 }, { "rcpt.domain", 0, 1 },
		{ "dest", 1, -1 }, { "dest.user", 1, 0 }, { "dest.domain", 1, 1 },
		{ "sender", 2, -1 }, { "sender.user", 2, 0 }, { "sender.domain", 2, 1 },
		{ "mbox.from", 3, -1 },
	};
	const char *src;
	size_t i;

	*escape = 1;
	if (strcasecmp(name, "mda") == 0) {
		*escape = 0;   /* a command from smtpd.conf or an alias, already expanded */
		if (x->mda == NULL || strlen(x->mda) >= cap)
			return -1;
		memcpy(out, x->mda, strlen(x->mda) + 1);
		return 0;
	}
	if (strcasecmp(name, "user.username") == 0 || strcasecmp(name, "user.directory") == 0) {
		src = name[5] == 'u' || name[5] == 'U' ? x->user_name : x->user_home;
		*escape = name[5] == 'u' || name[5] == 'U';
		if (src == NULL || strlen(src) >= cap)
			return -1;
		memcpy(out, src, strlen(src) + 1);
		return 0;
	}
	for (i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
		if (strcasecmp(name, tokens[i].name) != 0)
			continue;
		src = tokens[i].which == 0 ? x->rcpt : tokens[i].which == 1 ? x->dest : x->sender;
		if (tokens[i].which == 3 && src != NULL && src[0] == '\0')
			src = "MAILER-DAEMON";
		if (tokens[i].part >= 0)
			return expand_part(src, tokens[i].part, out, cap);
		if (src == NULL || strlen(src) >= cap)
			return -1;
		memcpy(out, src, strlen(src) + 1);
		return 0;
	}
	return -1;
}

/* Apply one modifier in place; 0 or -1 if unknown. */
static int
expand_modifier(char *v, const char *mod, char delim)
{
	char *tag, *at;
	size_t i;

	if (strcasecmp(mod, "lowercase") == 0 || strcasecmp(mod, "uppercase") == 0) {
		for (i = 0; v[i]; i++)
			v[i] = (char)(mod[0] == 'l' || mod[0] == 'L' ? tolower((unsigned char)v[i]) :
			                                               toupper((unsigned char)v[i]));
		return 0;
	}
	if (strcasecmp(mod, "strip") == 0) {
		if ((tag = strchr(v, delim)) != NULL) {
			if ((at = strchr(tag, '@')) != NULL)
				memmove(tag, at, strlen(at) + 1);
			else
				*tag = '\0';
		}
		return 0;
	}
	return -1;
}

/* Parse "[b]" or "[b:e]" into offsets (e inclusive); 0 or -1. */
static int
expand_slice(const char *s, long *begin, long *end)
{
	char *p;

	*begin = 0;
	*end = EXPAND_VALUE_BYTES_MAX;
	if (*s != ':') {
		*begin = strtol(s, &p, 10);
		if (p == s)
			return -1;
		s = p;
		if (*s == '\0') {
			*end = *begin;
			return 0;
		}
	}
	if (*s++ != ':')
		return -1;
	if (*s == '\0')
		return 0;
	*end = strtol(s, &p, 10);
	return p == s || *p != '\0' ? -1 : 0;
}

/* Cut v to [begin, end] as OpenSMTPD does (negatives count from the end). */
static int
expand_cut(char *v, long begin, long end)
{
	long len = (long)strlen(v);

	if (len == 0)
		return 0;
	if (begin >= len)
		return -1;
	if (end >= len)
		end = len - 1;
	if (begin < 0)
		begin += len;
	if (end < 0)
		end += len - 1;
	if (begin < 0 || end < 0 || end < begin)
		return -1;
	memmove(v, v + begin, (size_t)(end - begin + 1));
	v[end - begin + 1] = '\0';
	return 0;
}

/* Split token into name, optional slice and modifiers; apply all to out. */
static int
expand_token(char *tok, const struct rules_expand_ctx *x, char *out, size_t cap)
{
	char *lb = strchr(tok, '['), *rb = strchr(tok, ']'), *mods, *next;
	long begin = 0, end = EXPAND_VALUE_BYTES_MAX;
	int escape, raw = 0;
	size_t i;

	if (lb && rb) {
		if (rb < lb || rb - lb <= 1)
			return -1;
		*lb = *rb = '\0';
		if (expand_slice(lb + 1, &begin, &end) < 0)
			return -1;
		mods = strchr(rb + 1, ':');
	} else {
		mods = strchr(tok, ':');
	}
	if (mods)
		*mods++ = '\0';
	if (expand_value(tok, x, out, cap, &escape) < 0)
		return -1;
	for (; mods; mods = next) {
		if ((next = strchr(mods, '|')) != NULL)
			*next++ = '\0';
		if (strcasecmp(mods, "raw") == 0)
			raw = 1;
		else if (expand_modifier(out, mods, x->sub_addr_delim ? x->sub_addr_delim : '+') < 0)
			return -1;
	}
	/* :raw keeps a path's characters; a shell never sees them raw (the
	 * command has them raw in its environment) */
	for (i = 0; escape && out[i]; i++)
		if ((!raw && strchr(EXPAND_ESCAPE, out[i])) ||
		    (x->for_shell && !isalnum((unsigned char)out[i]) && !strchr("@.+_=,-", out[i])))
			out[i] = ':';
	if (expand_cut(out, begin, end) < 0)
		return -1;
	return escape && (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) ? -1 : 0;
}

/* Append n bytes of s to out at *len; -1 if it does not fit. */
static int
expand_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* Expand a maildir template for one recipient; 0, or -1 (see rules.h). */
int
rules_expand(const char *tmpl, const struct rules_expand_ctx *x, char *out, size_t cap)
{
	char tok[EXPAND_TOKEN_BYTES_MAX], val[EXPAND_VALUE_BYTES_MAX];
	const char *p = tmpl, *close;
	size_t len = 0;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		if (x->user_home == NULL || expand_put(out, cap, &len, x->user_home,
		                                       strlen(x->user_home)) < 0)
			return -1;
		p++;
	} else if (p[0] == '~') {
		return -1;
	}
	while (*p) {
		if (p[0] == '%' && p[1] == '%') {
			if (expand_put(out, cap, &len, "%", 1) < 0)
				return -1;
			p += 2;
		} else if (p[0] == '%' && p[1] == '{') {
			if ((close = strchr(p + 2, '}')) == NULL ||
			    (size_t)(close - p - 2) >= sizeof tok)
				return -1;
			memcpy(tok, p + 2, (size_t)(close - p - 2));
			tok[close - p - 2] = '\0';
			if (expand_token(tok, x, val, sizeof val) < 0 ||
			    expand_put(out, cap, &len, val, strlen(val)) < 0)
				return -1;
			p = close + 1;
		} else {
			if (expand_put(out, cap, &len, p, 1) < 0)
				return -1;
			p++;
		}
	}
	return 0;
}

/* Tokens of smtpd.conf(5) FORMAT SPECIFIERS; implemented: rules_expand() has it. */
static const struct {
	const char *name;
	int implemented;
} expand_tokens[] = {
	{ "sender", 1 }, { "sender.user", 1 }, { "sender.domain", 1 },
	{ "rcpt", 1 }, { "rcpt.user", 1 }, { "rcpt.domain", 1 },
	{ "dest", 1 }, { "dest.user", 1 }, { "dest.domain", 1 },
	{ "user.username", 1 }, { "user.directory", 1 }, { "mbox.from", 1 }, { "mda", 1 },
};
static const char *const expand_token_names[] = {
	"sender", "sender.user", "sender.domain", "rcpt", "rcpt.user", "rcpt.domain", "dest",
	"dest.user", "dest.domain", "user.username", "user.directory", "mbox.from", "mda", NULL,
};
static const char *const expand_modifiers[] = {
	"lowercase", "uppercase", "strip", "raw", NULL,
};

/* Check the modifiers "a|b" of one token; 0 or -1 with msg. */
static int
expand_check_mods(char *mods, char *msg, size_t cap)
{
	char *next;
	const char *hint;

	for (; mods; mods = next) {
		if ((next = strchr(mods, '|')) != NULL)
			*next++ = '\0';
		if (strcasecmp(mods, "raw") == 0)
			continue;
		if (expand_modifier((char[]){ "" }, mods, '+') == 0)
			continue;
		hint = rules_suggest(mods, expand_modifiers);
		snprintf(msg, cap, "unknown format modifier \"%.40s\"%s%s%s", mods,
		         hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
		return -1;
	}
	return 0;
}

/* Check one token "name[b:e]:mods"; 0, 1 (not implemented), or -1 with msg. */
static int
expand_check_token(char *tok, char *msg, size_t cap)
{
	char *lb = strchr(tok, '['), *rb = strchr(tok, ']'), *mods;
	const char *hint;
	long begin, end;
	int r = -1;
	size_t i;

	if ((lb == NULL) != (rb == NULL) || (lb && (rb < lb || rb - lb <= 1))) {
		snprintf(msg, cap, "invalid slice in format \"%%{%.60s}\"", tok);
		return -1;
	}
	if (lb) {
		*rb = '\0';
		if (expand_slice(lb + 1, &begin, &end) < 0) {
			snprintf(msg, cap, "invalid slice \"[%.40s]\" in a format", lb + 1);
			return -1;
		}
		*lb = '\0';
		mods = strchr(rb + 1, ':');
	} else {
		mods = strchr(tok, ':');
	}
	if (mods)
		*mods++ = '\0';
	for (i = 0; i < sizeof expand_tokens / sizeof expand_tokens[0]; i++)
		if (strcasecmp(tok, expand_tokens[i].name) == 0)
			r = !expand_tokens[i].implemented;
	if (r < 0) {
		hint = rules_suggest(tok, expand_token_names);
		snprintf(msg, cap, "unknown format token \"%%{%.40s}\"%s%s%s", tok,
		         hint ? "; did you mean \"%{" : "", hint ? hint : "", hint ? "}\"?" : "");
		return -1;
	}
	if (expand_check_mods(mods, msg, cap) < 0)
		return -1;
	return r;
}

/* Check a template without expanding it (see rules_int.h). */
int
rules_expand_check(const char *tmpl, const char **bad, char *msg, size_t cap)
{
	char tok[EXPAND_TOKEN_BYTES_MAX];
	const char *p = tmpl, *close;
	int r = 0, t;

	*bad = NULL;
	while ((p = strchr(p, '%')) != NULL) {
		if (p[1] != '{') {
			p += p[1] == '%' ? 2 : 1;
			continue;
		}
		if ((close = strchr(p + 2, '}')) == NULL) {
			snprintf(msg, cap, "unterminated \"%%{\" in a format");
			*bad = p;
			return -1;
		}
		if ((size_t)(close - p - 2) >= sizeof tok) {
			snprintf(msg, cap, "format token too long");
			*bad = p;
			return -1;
		}
		memcpy(tok, p + 2, (size_t)(close - p - 2));
		tok[close - p - 2] = '\0';
		if ((t = expand_check_token(tok, msg, cap)) < 0) {
			*bad = p;
			return -1;
		}
		if (t > 0 && r == 0) {
			*bad = p;
			r = 1;
		}
		p = close + 1;
	}
	return r;
}
