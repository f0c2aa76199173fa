/*
 * rules/strset.c - an immutable-after-build set of strings for table
 * lookups: open addressing with linear probing, at most half full, each
 * slot keeping the key's 64-bit hash beside the pointer so a probe compares
 * strings only when the hashes agree. The set does not own the strings (a
 * table's entries do). Keys go in lowercased and lookups come lowercased,
 * so the hash is over the bytes as they are. Each key carries the index its
 * owner gave it (a table's entry number), so a lookup can lead back to the
 * entry's value. rules_strset_has() and rules_strset_index() read only:
 * every shard may probe the same set at once.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

#define STRSET_SLOTS_MIN 8u
#define STRSET_SLOTS_MAX (1u << 30)

/* FNV-1a over len bytes of s, folded so the low bits mix the high ones. */
uint64_t
rules_strset_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

/* Call before adding up to n keys; 0, or -1 (out of memory or too many). */
int
rules_strset_init(struct rules_strset *s, unsigned n)
{
	unsigned cap = STRSET_SLOTS_MIN;

	memset(s, 0, sizeof *s);
	while (cap < 2u * n) {
		if (cap >= STRSET_SLOTS_MAX)
			return -1;
		cap *= 2;
	}
	s->slot = calloc(cap, sizeof *s->slot);
	s->hash = calloc(cap, sizeof *s->hash);
	s->ix = calloc(cap, sizeof *s->ix);
	if (s->slot == NULL || s->hash == NULL || s->ix == NULL) {
		rules_strset_free(s);
		return -1;
	}
	s->mask = cap - 1;
	s->cap_keys = n;
	return 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
strset_find(const struct rules_strset *s, const char *key, size_t len, uint64_t h)
{
	size_t i = (size_t)h & s->mask;

	while (s->slot[i] != NULL) {
		if (s->hash[i] == h && strncmp(s->slot[i], key, len) == 0 && s->slot[i][len] == '\0')
			return i;
		i = (i + 1) & s->mask;
	}
	return i;
}

/* Call while building: add key (kept by pointer) with its owner's index
 * ix; a duplicate is ignored (the first keeps its index). 0, or -1 when
 * more keys come than rules_strset_init() was told. */
int
rules_strset_add(struct rules_strset *s, const char *key, unsigned ix)
{
	size_t len = strlen(key);
	uint64_t h = rules_strset_hash(key, len);
	size_t i = strset_find(s, key, len, h);

	if (s->slot[i] != NULL)
		return 0;
	if (s->n >= s->cap_keys)
		return -1;
	s->slot[i] = key;
	s->hash[i] = h;
	s->ix[i] = ix;
	s->n++;
	return 0;
}

/* 1 if the len bytes at key (hash h from rules_strset_hash) are a member. */
int
rules_strset_has_hashed(const struct rules_strset *s, const char *key, size_t len, uint64_t h)
{
	if (s->n == 0)
		return 0;
	return s->slot[strset_find(s, key, len, h)] != NULL;
}

/* 1 if the string key is a member. */
int
rules_strset_has(const struct rules_strset *s, const char *key)
{
	size_t len = strlen(key);

	return rules_strset_has_hashed(s, key, len, rules_strset_hash(key, len));
}

/* The index the len bytes at key (hash h) were added with, or -1 when
 * they are not a member. */
long
rules_strset_index(const struct rules_strset *s, const char *key, size_t len, uint64_t h)
{
	size_t i;

	if (s->n == 0)
		return -1;
	i = strset_find(s, key, len, h);
	return s->slot[i] != NULL ? (long)s->ix[i] : -1;
}

/* Call when the table goes; the strings themselves are not freed. */
void
rules_strset_free(struct rules_strset *s)
{
	free(s->slot);
	free(s->hash);
	free(s->ix);
	memset(s, 0, sizeof *s);
}
