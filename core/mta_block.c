/*
 * core/mta_block.c - the pauses of smtpctl pause mta from ADDR for DOMAIN:
 * the set, its copy-on-write changes and the checks. See core/mta_block.h.
 */
#include "core/mta_block.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Atomic(struct mta_block_set *) mta_blocks;

int
mta_block_parse(const char *addr, const char *domain, struct mta_block *b, char *why, size_t cap)
{
	memset(b, 0, sizeof *b);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&b->src;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&b->src;
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		snprintf(why, cap, "invalid source address: %.64s (an IPv4 or IPv6 address)", addr);
		return -1;
	}
	size_t n = strlen(domain);
	if (n == 0 || n >= sizeof b->domain || domain[0] == '.' ||
	    strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
	        != n) {
		snprintf(why, cap, "invalid domain: %.64s", domain);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		b->domain[i] = (char)tolower((unsigned char)domain[i]);
	return 0;
}

/* Same address (family and address bytes; ports are 0)? */
static int
mta_block_same_src(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

/* The unspecified address: a pause of the system's choice of source. */
static int
mta_block_any(const struct sockaddr_storage *s)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	if (s->ss_family == AF_INET)
		return ((const struct sockaddr_in *)s)->sin_addr.s_addr == htonl(INADDR_ANY);
	return s->ss_family == AF_INET6 &&
	       memcmp(&((const struct sockaddr_in6 *)s)->sin6_addr, &any6, 16) == 0;
}

static int
mta_block_index(const struct mta_block_set *s, const struct mta_block *b)
{
	for (unsigned i = 0; s != NULL && i < s->n; i++)
		if (mta_block_same_src(&s->v[i].src, &b->src) &&
		    strcmp(s->v[i].domain, b->domain) == 0)
			return (int)i;
	return -1;
}

struct mta_block_set *
mta_block_set_with(const struct mta_block_set *s, const struct mta_block *b, int *err)
{
	unsigned n = s ? s->n : 0;
	*err = 0;
	if (mta_block_index(s, b) >= 0) {
		*err = EEXIST;
		return NULL;
	}
	if (n >= MTA_BLOCK_MAX) {
		*err = ENOSPC;
		return NULL;
	}
	struct mta_block_set *t = malloc(sizeof *t + (n + 1) * sizeof t->v[0]);
	if (t == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	if (n > 0)
		memcpy(t->v, s->v, n * sizeof t->v[0]);
	t->v[n] = *b;
	t->n = n + 1;
	return t;
}

struct mta_block_set *
mta_block_set_without(const struct mta_block_set *s, const struct mta_block *b, int *err)
{
	int i = mta_block_index(s, b);
	*err = 0;
	if (i < 0) {
		*err = ENOENT;
		return (struct mta_block_set *)s;
	}
	if (s->n == 1)
		return NULL;
	struct mta_block_set *t = malloc(sizeof *t + (s->n - 1) * sizeof t->v[0]);
	if (t == NULL) {
		*err = ENOMEM;
		return (struct mta_block_set *)s;
	}
	t->n = 0;
	for (unsigned k = 0; k < s->n; k++)
		if ((int)k != i)
			t->v[t->n++] = s->v[k];
	return t;
}

int
mta_block_find(const struct mta_block_set *s, const struct sockaddr_storage *src,
               const char *domain)
{
	for (unsigned i = 0; s != NULL && i < s->n; i++) {
		const struct mta_block *b = &s->v[i];
		if (strcasecmp(b->domain, domain) != 0)
			continue;
		if (src == NULL ? mta_block_any(&b->src) : mta_block_same_src(&b->src, src))
			return 1;
	}
	return 0;
}

void
mta_block_src_text(const struct mta_block *b, char *out, size_t cap)
{
	const void *a = b->src.ss_family == AF_INET
	                ? (const void *)&((const struct sockaddr_in *)&b->src)->sin_addr
	                : (const void *)&((const struct sockaddr_in6 *)&b->src)->sin6_addr;
	if (inet_ntop(b->src.ss_family, a, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "?");
}

struct mta_block_set *
mta_block_publish(struct mta_block_set *s)
{
	return atomic_exchange_explicit(&mta_blocks, s, memory_order_acq_rel);
}

int
mta_block_holds(const struct rules_action *a, const char *domain)
{
	const struct mta_block_set *s = atomic_load_explicit(&mta_blocks, memory_order_acquire);
	if (s == NULL || a == NULL || a->kind != RULES_ACTION_RELAY)
		return 0;
	if (a->nrelay_src == 0)
		return mta_block_find(s, NULL, domain);
	for (unsigned i = 0; i < a->nrelay_src; i++)
		if (!mta_block_find(s, &a->relay_src[i], domain))
			return 0;
	return 1;
}

int
mta_block_src_paused(const struct sockaddr_storage *src, const char *domain)
{
	const struct mta_block_set *s = atomic_load_explicit(&mta_blocks, memory_order_acquire);
	return s != NULL && mta_block_find(s, src, domain);
}
