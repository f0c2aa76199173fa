/*
 * core/mta_block.h - smtpctl pause|resume mta from ADDR for DOMAIN and
 * show mta paused: outbound delivery for a source address and a recipient
 * domain held, envelopes staying queued (not attempted, not bounced) until
 * resumed.
 *
 * ADDR is a source address of a relay action's `src`; an action without
 * `src` lets the system choose, and is paused by the unspecified address
 * (0.0.0.0 or ::). DOMAIN is the recipient's domain, compared without case.
 * An envelope is held while every source its action may use is paused for
 * its domain; a destination routed by MX skips the paused ones of the
 * others when it binds (core/relay_opts.c).
 *
 * The pauses live in memory only, as OpenSMTPD's: a restart forgets them.
 *
 * One set for the process, read-mostly: the main thread makes a new set
 * for each change and publishes it (mta_block_publish()); readers on the
 * shards take it with one atomic load, which is all a check costs while no
 * pause exists (NULL). The set replaced is freed by the main thread once
 * every shard passed a turn (core/control.c's every-shard operation).
 *
 * Pure part (no I/O, for tests): mta_block_parse(), mta_block_set_with(),
 * mta_block_set_without(), mta_block_find().
 */
#ifndef CORE_MTA_BLOCK_H
#define CORE_MTA_BLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

#include "rules/rules.h"

#define MTA_BLOCK_MAX 256
#define MTA_BLOCK_DOMAIN_BYTES 256

struct mta_block {
	struct sockaddr_storage src;   /* port 0; the unspecified address: no src */
	char domain[MTA_BLOCK_DOMAIN_BYTES]; /* lower-cased */
};

struct mta_block_set {
	unsigned n;
	struct mta_block v[];
};

/* ADDR and DOMAIN from smtpctl into b. 0, or -1 with why. */
int mta_block_parse(const char *addr, const char *domain, struct mta_block *b, char *why,
                    size_t cap);
/* A new set: s (may be NULL) with b added. NULL without memory; *err
 * EEXIST when b was there already, ENOSPC at MTA_BLOCK_MAX (nothing made). */
struct mta_block_set *mta_block_set_with(const struct mta_block_set *s,
                                         const struct mta_block *b, int *err);
/* A new set without b (NULL when it becomes empty); *err ENOENT when b was
 * not there, ENOMEM. The result is s itself when nothing changed. */
struct mta_block_set *mta_block_set_without(const struct mta_block_set *s,
                                            const struct mta_block *b, int *err);
/* Is src (NULL: the system's choice) paused for domain in s? */
int mta_block_find(const struct mta_block_set *s, const struct sockaddr_storage *src,
                   const char *domain);
/* The source address as text ("0.0.0.0" ...). */
void mta_block_src_text(const struct mta_block *b, char *out, size_t cap);

/* The set in force (main thread publishes; anyone reads). */
extern _Atomic(struct mta_block_set *) mta_blocks;
/* Main thread: make s the set in force; returns the one it replaced (free
 * it once every shard passed a turn). */
struct mta_block_set *mta_block_publish(struct mta_block_set *s);
/* Is delivery of a recipient in domain by action a held? One load when
 * nothing is paused. */
int mta_block_holds(const struct rules_action *a, const char *domain);
/* Is source src paused for an MX destination's domain? */
int mta_block_src_paused(const struct sockaddr_storage *src, const char *domain);

#endif
