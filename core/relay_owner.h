/*
 * core/relay_owner.h - which shard owns a next hop. Pure: no I/O.
 *
 * The outbound work for a next hop (its queue, connections, limits and
 * backoff: core/relay.c) lives on one shard, chosen by a hash of the next
 * hop's key, so that state needs no lock.
 *
 *   relay_owner_key()    the key of an action's next hop for a recipient:
 *                        "mx:DOMAIN" (relay without host: the recipient's
 *                        domain, lower-cased), "host:HOST:PORT" (a smart
 *                        host, lower-cased) or "lmtp:PATH|HOST:PORT";
 *                        written into key (cap bytes, cut if longer)
 *   relay_owner_shard()  the shard of a key among nshards (>= 1): FNV-1a
 */
#ifndef CORE_RELAY_OWNER_H
#define CORE_RELAY_OWNER_H

#include <stddef.h>

struct rules_action;

#define RELAY_OWNER_KEY_BYTES 320

void relay_owner_key(const struct rules_action *a, const char *rcpt, char *key, size_t cap);
unsigned relay_owner_shard(const char *key, unsigned nshards);

#endif
