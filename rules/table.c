/*
 * rules/table.c - smtpd.conf tables (table(5)): inline lists { a, b },
 * inline maps { k = v }, and file: tables read once at load time (lines of
 * "key" or "key value", '#' comment lines; db: tables are filled by
 * table_db.c). Keys are kept lowercased, then
 * indexed by rules_tab_finish(): exact keys in a hash set (strset.c), "*S"
 * domain patterns in a second set, address and network keys in a prefix
 * trie per family (nettrie.c). Lookups do no I/O and no allocation and
 * follow OpenSMTPD's table_match(): domains with '*' wildcards
 * (hostname_match), addresses in CIDR networks, mail addresses as
 * user@domain, @domain or user with a "+tag" ignored unless the entry has
 * one. Regex lookups are in table_regex.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rules/rules_int.h"


/* Call to create an empty table; NULL when out of memory. */
struct rules_tab *
rules_tab_new(const char *name, const struct rules_pos *pos)
{
	struct rules_tab *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	snprintf(t->name, sizeof t->name, "%s", name ? name : "");
	t->sub_addr_delim = '+';
	if (pos)
		t->pos = *pos;
	return t;
}

/* See rules_int.h. */
void
rules_tab_clear(struct rules_tab *t)
{
	unsigned i;

	for (i = 0; i < t->n; i++) {
		free(t->e[i].key);
		free(t->e[i].raw);
		free(t->e[i].value);
	}
	rules_tab_regex_free(t);
	free(t->e);
	rules_strset_free(&t->exact);
	rules_strset_free(&t->wild_suffix);
	free(t->wild);
	free(t->wild_other);
	free(t->nets);
	rules_nettrie_free(&t->trie4);
	rules_nettrie_free(&t->trie6);
	t->e = NULL;
	t->n = t->cap = 0;
	t->wild = t->wild_other = NULL;
	t->nets = NULL;
	t->nwild = t->nwild_other = t->nnets = t->nwild_firsts = t->nonnet = 0;
	t->wild_all = 0;
	t->first_nonnet = NULL;
}

/* Call once the table is no longer referenced. */
void
rules_tab_free(struct rules_tab *t)
{
	if (t == NULL)
		return;
	rules_tab_free(atomic_load_explicit(&t->live, memory_order_relaxed));
	rules_tab_clear(t);
	free(t->file_path);
	free(t->db_path);
	free(t->backend);
	free(t);
}

/* Copy s lowercased into out (cap bytes); 0, or -1 if it does not fit. */
static int
tab_lower(char *out, const char *s, size_t cap)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i + 1 >= cap)
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[i] = '\0';
	return 0;
}

/* Call to add an entry written at pos (NULL: unknown); the key is
 * lowercased, the original kept when it differs; 0 or -1 (no memory). */
int
rules_tab_add_at(struct rules_tab *t, const char *key, const char *value,
                 const struct rules_pos *pos)
{
	struct rules_tab_entry *e;
	size_t i;
	int upper = 0;

	if (rules_grow(&t->e, &t->cap, t->n, sizeof *t->e) < 0)
		return -1;
	e = &t->e[t->n];
	memset(e, 0, sizeof *e);
	e->key = strdup(key);
	e->value = value ? strdup(value) : NULL;
	for (i = 0; e->key && e->key[i]; i++)
		upper |= e->key[i] != tolower((unsigned char)e->key[i]);
	e->raw = upper ? strdup(key) : NULL;
	if (e->key == NULL || (value && e->value == NULL) || (upper && e->raw == NULL)) {
		free(e->key);
		free(e->raw);
		free(e->value);
		return -1;
	}
	for (i = 0; e->key[i]; i++)
		e->key[i] = (char)tolower((unsigned char)e->key[i]);
	if (pos) {
		e->line = pos->line;
		e->column = pos->column;
	}
	if (value)
		t->is_map = 1;
	t->n++;
	return 0;
}

/* Call to add an entry with no known place; 0 or -1 (no memory). */
int
rules_tab_add(struct rules_tab *t, const char *key, const char *value)
{
	return rules_tab_add_at(t, key, value, NULL);
}

/* Call per line of a table file (here and in makemap): split it in place
 * into key and value (NULL); 0 blank/comment, 1 entry; *colon says the
 * key was written "key:" and the colon dropped (aliases(5) style). */
int
rules_tab_split_line(char *line, char **key, char **value, int *colon)
{
	char *p = line, *end;
	size_t klen;

	*colon = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
	                   end[-1] == '\t'))
		*--end = '\0';
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	*value = NULL;
	p += strcspn(p, " \t");
	if (*p == '\0')
		return 1;
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	/* aliases(5) style "key: value" */
	klen = strlen(*key);
	if (klen > 1 && (*key)[klen - 1] == ':') {
		(*key)[klen - 1] = '\0';
		*colon = 1;
	}
	*value = p;
	return 1;
}

/* Call at load time to fill t from a file; errors point at pos; 0 or -1. */
int
rules_tab_load_file(struct rules_tab *t, const char *path, const struct rules_pos *pos,
                    struct rules_error *err)
{
	FILE *f;
	char *line = NULL, *key, *value;
	size_t cap = 0, size, total = 0;
	unsigned lineno = 0;
	ssize_t len;
	int fd, r = 0, colon;

	if ((fd = rules_open_regular(path, RULES_FILE_BYTES_MAX, &size)) < 0)
		return rules_fail(err, pos, "cannot open table file \"%s\": %s", path,
		                  rules_open_error(errno));
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return rules_fail(err, pos, "out of memory");
	}
	free(t->file_path);
	if ((t->file_path = strdup(path)) == NULL) {
		fclose(f);
		return rules_fail(err, pos, "out of memory");
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		total += (size_t)len;
		if (total > RULES_FILE_BYTES_MAX) {
			r = rules_fail(err, pos, "table file \"%s\" grew past %u MiB while read",
			               path, RULES_FILE_BYTES_MAX >> 20);
			break;
		}
		if (memchr(line, '\0', (size_t)len) != NULL) {
			r = rules_fail(err, pos, "table file \"%s\" line %u: NUL byte", path, lineno);
			break;
		}
		if (rules_tab_split_line(line, &key, &value, &colon) == 0)
			continue;
		if (strlen(key) >= RULES_KEY_BYTES_MAX) {
			r = rules_fail(err, pos, "table file \"%s\" line %u: key too long", path,
			               lineno);
			break;
		}
		struct rules_pos at = { .file = NULL, .line = lineno, .column = 0 };
		if (rules_tab_add_at(t, key, value, &at) < 0) {
			r = rules_fail(err, pos, "out of memory");
			break;
		}
	}
	if (r == 0 && ferror(f))
		r = rules_fail(err, pos, "cannot read table file \"%s\": %s", path,
		               strerror(errno));
	free(line);
	fclose(f);
	return r;
}

/* Index a "*S" domain pattern: S (stars collapsed) into the suffix set when
 * it holds no other '*' and its first byte has a group, "*" alone as
 * wild_all, anything else into the scanned list. 0 or -1 (no memory). */
static int
tab_index_wild(struct rules_tab *t, char *k)
{
	char *sfx = k;
	unsigned g;

	while (*sfx == '*')
		sfx++;
	if (sfx == k || strchr(sfx, '*') != NULL) {
		t->wild_other[t->nwild_other++] = k;
		return 0;
	}
	if (*sfx == '\0') {
		t->wild_all = 1;
		return 0;
	}
	for (g = 0; g < t->nwild_firsts && t->wild_firsts[g] != *sfx; g++)
		;
	if (g == t->nwild_firsts) {
		if (g == RULES_WILD_FIRSTS_MAX) {
			t->wild_other[t->nwild_other++] = k;
			return 0;
		}
		t->wild_firsts[t->nwild_firsts++] = *sfx;
	}
	return rules_strset_add(&t->wild_suffix, sfx, 0);
}

/* Put network key k (parsed into n) into its family's trie; 0 or -1. */
static int
tab_index_net(struct rules_tab *t, const struct rules_net *n)
{
	return rules_nettrie_add(n->family == AF_INET ? &t->trie4 : &t->trie6, n->addr, n->bits);
}

/* Call once all entries are in: builds the indexes; 0 or -1 (no memory). */
int
rules_tab_finish(struct rules_tab *t)
{
	unsigned i, nexact = 0;
	size_t n = t->n ? t->n : 1;

	for (i = 0; i < t->n; i++)
		nexact += strchr(t->e[i].key, '*') == NULL;
	if (rules_strset_init(&t->exact, nexact) < 0 ||
	    rules_strset_init(&t->wild_suffix, t->n - nexact) < 0)
		return -1;
	t->wild = calloc(n, sizeof *t->wild);
	t->wild_other = calloc(n, sizeof *t->wild_other);
	t->nets = calloc(n, sizeof *t->nets);
	if (t->wild == NULL || t->wild_other == NULL || t->nets == NULL)
		return -1;
	for (i = 0; i < t->n; i++) {
		char *k = t->e[i].key;

		if (strchr(k, '*') != NULL) {
			t->wild[t->nwild++] = k;
			if (tab_index_wild(t, k) < 0)
				return -1;
		} else if (rules_strset_add(&t->exact, k, i) < 0) {
			return -1;
		}
		if (rules_net_parse(k, &t->nets[t->nnets])) {
			if (tab_index_net(t, &t->nets[t->nnets++]) < 0)
				return -1;
		} else if (strcmp(k, "local") != 0 && t->nonnet++ == 0) {
			t->first_nonnet = k;
		}
	}
	return 0;
}

/* See rules_int.h. */
const char *
rules_tab_value(const struct rules_tab *t, const char *key)
{
	char buf[RULES_KEY_BYTES_MAX];
	struct rules_key k;
	long ix;

	if (rules_key_prepare(&k, key, buf, sizeof buf) < 0)
		return NULL;
	t = rules_tab_current(t);
	ix = rules_strset_index(&t->exact, k.s, k.len, k.hash);
	return ix < 0 ? NULL : t->e[ix].value;
}

/* OpenSMTPD util.c hostname_match(): '*' skips up to the next pattern byte. */
int
rules_hostname_match(const char *host, const char *pattern)
{
	while (*pattern != '\0' && *host != '\0') {
		if (*pattern == '*') {
			while (*pattern == '*')
				pattern++;
			while (*host != '\0' &&
			       tolower((unsigned char)*host) != tolower((unsigned char)*pattern))
				host++;
			continue;
		}
		if (tolower((unsigned char)*pattern) != tolower((unsigned char)*host))
			return 0;
		pattern++;
		host++;
	}
	return *host == '\0' && *pattern == '\0';
}

/* 1 if the exact lowercased key is in the table. */
static int
tab_has(const struct rules_tab *t, const char *key)
{
	return rules_strset_has(&t->exact, key);
}

/* The "*S" patterns against a lowercased domain: hostname_match() lets '*'
 * skip to the first byte equal to S[0], then the rest must be S exactly,
 * so each group is one probe of the suffix set at that byte. */
static int
tab_match_wild(const struct rules_tab *t, const char *key)
{
	unsigned i;
	const char *p;

	if (t->wild_all && key[0] != '\0')
		return 1;
	for (i = 0; i < t->nwild_firsts; i++)
		if ((p = strchr(key, t->wild_firsts[i])) != NULL && rules_strset_has(&t->wild_suffix, p))
			return 1;
	for (i = 0; i < t->nwild_other; i++)
		if (rules_hostname_match(key, t->wild_other[i]))
			return 1;
	return 0;
}

/* Call with a key from rules_key_prepare(): exact, then the '*' patterns. */
int
rules_tab_match_domain_key(const struct rules_tab *t, const struct rules_key *k)
{
	t = rules_tab_current(t);
	if (rules_strset_has_hashed(&t->exact, k->s, k->len, k->hash))
		return 1;
	return t->nwild > 0 && tab_match_wild(t, k->s);
}

/* Call once per query string: lowercase s into buf and hash it; 0 or -1. */
int
rules_key_prepare(struct rules_key *k, const char *s, char *buf, size_t cap)
{
	if (tab_lower(buf, s, cap) < 0)
		return -1;
	k->s = buf;
	k->len = strlen(buf);
	k->hash = rules_strset_hash(buf, k->len);
	return 0;
}

/* Does the table entry "user@domain", "@domain" or "user" match addr?
 * (OpenSMTPD mailaddr_match; a tag in addr is ignored unless e has one). */
static int
tab_mailaddr_entry(const char *addr, const char *e, char delim)
{
	const char *at = strrchr(addr, '@'), *eat = strrchr(e, '@');
	const char *dom = at ? at + 1 : "", *edom = eat ? eat + 1 : "";
	size_t ulen = at ? (size_t)(at - addr) : strlen(addr);
	size_t eulen = eat ? (size_t)(eat - e) : strlen(e);
	const char *tag;

	if (eulen == 0 && *edom == '\0')
		return 1;
	if (*edom && !rules_hostname_match(dom, edom))
		return 0;
	if (eulen == 0)
		return 1;
	if (memchr(e, delim, eulen) == NULL && (tag = memchr(addr, delim, ulen)) != NULL)
		ulen = (size_t)(tag - addr);
	return ulen == eulen && strncasecmp(addr, e, ulen) == 0;
}

/* Exact probes for key (lowercased): the address with and without its tag,
 * "@domain", the user alone, the catch-all "@". */
static int
tab_mailaddr_exact(const struct rules_tab *t, const char *key)
{
	char probe[RULES_KEY_BYTES_MAX + 2];
	const char *at = strrchr(key, '@');
	size_t ulen = at ? (size_t)(at - key) : strlen(key);
	const char *tag = memchr(key, t->sub_addr_delim, ulen);
	size_t slen = tag ? (size_t)(tag - key) : ulen;

	if (tab_has(t, key) || tab_has(t, "@"))
		return 1;
	snprintf(probe, sizeof probe, "%.*s%s", (int)slen, key, at ? at : "");
	if (tag && tab_has(t, probe))
		return 1;
	if (at && tab_has(t, at))
		return 1;
	snprintf(probe, sizeof probe, "%.*s", (int)ulen, key);
	if (at && tab_has(t, probe))
		return 1;
	snprintf(probe, sizeof probe, "%.*s", (int)slen, key);
	return at && tag && tab_has(t, probe);
}

/* Mail address lookup: exact probes, then the entries with '*'. */
static int
tab_match_mailaddr(const struct rules_tab *t, const char *key)
{
	unsigned i;

	if (tab_mailaddr_exact(t, key))
		return 1;
	for (i = 0; i < t->nwild; i++)
		if (tab_mailaddr_entry(key, t->wild[i], t->sub_addr_delim))
			return 1;
	return 0;
}

/* Call from rules_match(): 1 match, 0 no match, -1 key too long. */
int
rules_tab_match(const struct rules_tab *t, enum rules_lookup kind, const char *key)
{
	char lkey[RULES_KEY_BYTES_MAX];
	struct rules_key k;

	if (rules_key_prepare(&k, key, lkey, sizeof lkey) < 0)
		return -1;
	t = rules_tab_current(t);
	switch (kind) {
	case RULES_LOOKUP_STRING:
		return tab_has(t, lkey);
	case RULES_LOOKUP_DOMAIN:
		return rules_tab_match_domain_key(t, &k);
	case RULES_LOOKUP_MAILADDR:
		return tab_match_mailaddr(t, lkey);
	case RULES_LOOKUP_NETADDR:
		return tab_has(t, lkey);
	}
	return -1;
}

/* Call for "from src": 1 if sa is in one of the networks (NULL: "local"). */
int
rules_tab_match_addr(const struct rules_tab *t, const struct sockaddr *sa)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	t = rules_tab_current(t);
	if (sa == NULL)
		return tab_has(t, "local");
	if (sa->sa_family == AF_INET)
		return rules_nettrie_has(&t->trie4, (const uint8_t *)&in4->sin_addr, 32);
	if (sa->sa_family != AF_INET6)
		return 0;
	if (rules_nettrie_has(&t->trie6, in6->sin6_addr.s6_addr, 128))
		return 1;
	/* a v4-mapped client is in the IPv4 networks too */
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
	       rules_nettrie_has(&t->trie4, in6->sin6_addr.s6_addr + 12, 32);
}

/* Call to parse "1.2.3.4", "10.0.0.0/8", "::1", "[2001:db8::]/32"; 1 or 0. */
int
rules_net_parse(const char *s, struct rules_net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *addr = buf, *end;
	unsigned long bits;

	if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
		return 0;
	memset(n, 0, sizeof *n);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (*addr == '[' && (end = strchr(addr, ']')) != NULL && end[1] == '\0') {
		*end = '\0';
		addr++;
	}
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else {
		return 0;
	}
	if (slash == NULL)
		return 1;
	if (!isdigit((unsigned char)*slash))
		return 0;
	errno = 0;
	bits = strtoul(slash, &end, 10);
	if (*end != '\0' || errno || bits > n->bits)
		return 0;
	n->bits = (unsigned)bits;
	return 1;
}

/* Compare the first bits of two byte strings. */
static int
net_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff00 >> rest);
	return (a[full] & mask) == (b[full] & mask);
}

/* Call with a client address: 1 if it lies in n (v4-mapped v6 counts as v4). */
int
rules_net_contains(const struct rules_net *n, const struct sockaddr *sa)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET && n->family == AF_INET)
		return net_prefix_equal((const uint8_t *)&in4->sin_addr, n->addr, n->bits);
	if (sa->sa_family != AF_INET6)
		return 0;
	if (n->family == AF_INET6)
		return net_prefix_equal(in6->sin6_addr.s6_addr, n->addr, n->bits);
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return net_prefix_equal(in6->sin6_addr.s6_addr + 12, n->addr, n->bits);
	return 0;
}
