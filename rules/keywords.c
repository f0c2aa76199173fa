/*
 * rules/keywords.c - the words of smtpd.conf(5): the reserved keywords of
 * OpenSMTPD's parse.y lookup() table (a bare one is a keyword, never a
 * name: "action relay relay" is refused, "action \"relay\" relay" is not),
 * and the "did you mean" hint: the closest entry of a list by edit distance
 * (optimal string alignment: insert, delete, replace, swap two neighbours).
 */
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

#define KEYWORDS_SUGGEST_BYTES_MAX 64  /* longer words get no hint */

/* Sorted for bsearch, as parse.y keeps them. */
static const char *const keywords_reserved[] = {
	"action", "admd", "alias", "any", "auth", "auth-optional", "backup", "bounce", "bypass",
	"ca", "cert", "chain", "chroot", "ciphers", "commit", "compression", "connect", "data",
	"data-line", "dhe", "disconnect", "domain", "ehlo", "encryption", "expand-only",
	"fcrdns", "filter", "for", "forward-only", "from", "group", "helo", "helo-src", "host",
	"hostname", "hostnames", "include", "inet4", "inet6", "junk", "key", "limit", "listen",
	"lmtp", "local", "mail-from", "maildir", "mask-src", "masquerade", "match",
	"max-deferred", "max-message-size", "mbox", "mda", "mta", "mx", "no-dsn", "no-verify",
	"noop", "on", "phase", "pki", "port", "proc", "proc-exec", "protocols", "proxy-v2",
	"queue", "quit", "rcpt-to", "rdns", "received-auth", "recipient", "regex", "reject",
	"relay", "report", "rewrite", "rset", "scheduler", "senders", "smtp", "smtp-in",
	"smtp-out", "smtps", "socket", "src", "srs", "sub-addr-delim", "table", "tag", "tagged",
	"tls", "tls-require", "ttl", "user", "userbase", "verify", "virtual", "warn-interval",
	"wrapper",
};

/* bsearch comparator: a key against a char * element. */
static int
keywords_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* 1 if w is reserved (see rules_int.h). */
int
rules_keyword_reserved(const char *w)
{
	return bsearch(w, keywords_reserved, sizeof keywords_reserved / sizeof keywords_reserved[0],
	               sizeof keywords_reserved[0], keywords_cmp) != NULL;
}

/* Edit distance of a and b (both shorter than the limit). */
static unsigned
keywords_distance(const char *a, const char *b)
{
	unsigned d[KEYWORDS_SUGGEST_BYTES_MAX + 1][KEYWORDS_SUGGEST_BYTES_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned best, c;

	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] != b[j - 1];
			best = d[i - 1][j - 1] + c;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The closest entry of list to w, or NULL (see rules_int.h). */
const char *
rules_suggest(const char *w, const char *const *list)
{
	size_t len = strlen(w);
	unsigned limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best = limit + 1, d;
	const char *hit = NULL;

	if (len == 0 || len >= KEYWORDS_SUGGEST_BYTES_MAX)
		return NULL;
	for (; *list; list++) {
		if (strlen(*list) >= KEYWORDS_SUGGEST_BYTES_MAX || strcmp(*list, w) == 0)
			continue;
		d = keywords_distance(w, *list);
		if (d < best && d < len) {
			best = d;
			hit = *list;
		}
	}
	return hit;
}
