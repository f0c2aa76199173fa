/*
 * rules/nettrie.c - the networks of a source table as a binary prefix trie,
 * one per address family: a lookup walks the address bit by bit from the
 * root and answers 1 as soon as it passes the end of an inserted network,
 * so the cost is bounded by the address width (32 or 128 steps), not by
 * the number of networks. "Any match" is all a table needs, so a network
 * inside one already present adds nothing. Nodes live in one array
 * (indexes, not pointers); the trie is read-only after the load.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

#define NETTRIE_NODES_MAX (1u << 26)

/* Bit i (0 = most significant of addr[0]) of an address. */
static unsigned
nettrie_bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1u;
}

/* A fresh node into *idx; 0, or -1 when out of memory. */
static int
nettrie_node_new(struct rules_nettrie *t, uint32_t *idx)
{
	struct rules_nettrie_node *n;

	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 64;
		if (cap > NETTRIE_NODES_MAX || (n = realloc(t->nodes, cap * sizeof *n)) == NULL)
			return -1;
		t->nodes = n;
		t->cap = cap;
	}
	memset(&t->nodes[t->n], 0, sizeof t->nodes[t->n]);
	*idx = t->n++;
	return 0;
}

/* Call at load time: add the first bits of addr; 0, or -1 (out of memory). */
int
rules_nettrie_add(struct rules_nettrie *t, const uint8_t *addr, unsigned bits)
{
	uint32_t cur = 0, next;

	if (t->n == 0 && nettrie_node_new(t, &cur) < 0)
		return -1; /* the root is node 0: a child index is never 0 */
	for (unsigned i = 0; i < bits; i++) {
		unsigned b = nettrie_bit(addr, i);
		if (t->nodes[cur].end)
			return 0; /* a wider network already holds this one */
		if ((next = t->nodes[cur].child[b]) == 0) {
			if (nettrie_node_new(t, &next) < 0)
				return -1;
			t->nodes[cur].child[b] = next;
		}
		cur = next;
	}
	t->nodes[cur].end = 1;
	return 0;
}

/* 1 if an address of `bits` bits lies in one of the networks. */
int
rules_nettrie_has(const struct rules_nettrie *t, const uint8_t *addr, unsigned bits)
{
	uint32_t cur = 0;

	if (t->n == 0)
		return 0;
	for (unsigned i = 0;; i++) {
		if (t->nodes[cur].end)
			return 1;
		if (i == bits || (cur = t->nodes[cur].child[nettrie_bit(addr, i)]) == 0)
			return 0;
	}
}

/* Call when the table goes. */
void
rules_nettrie_free(struct rules_nettrie *t)
{
	free(t->nodes);
	memset(t, 0, sizeof *t);
}
