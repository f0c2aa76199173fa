/*
 * core/source_limit.h - how many connections each address has open across
 * all shards. Two tables use it: SMTP sessions per client address, for
 * `smtp limit max-sessions-per-source` (a client over the limit is answered
 * 421 4.7.0 and disconnected, as Postfix's
 * smtpd_client_connection_count_limit does; loopback clients are not
 * counted, the caller decides), and relay connections per remote address
 * and port, for `mta limit max-conn-per-host` (core/relay.c: a host serving
 * many domains, routed on several shards, still sees at most that many).
 * Thread-safe: shards call it at accept, connect and close.
 */
#ifndef CORE_SOURCE_LIMIT_H
#define CORE_SOURCE_LIMIT_H

#include <stdint.h>
#include <sys/socket.h>

struct source_limit;

/* A table for up to `sessions` concurrent counted connections, keyed by
 * the address alone, or by address and port when by_port; NULL when out
 * of memory. */
struct source_limit *source_limit_new(unsigned sessions, int by_port);
void source_limit_free(struct source_limit *sl);
/* Count a new session from peer unless it already has max: returns the
 * sessions it had before (admitted when below max; then call leave later),
 * or max when refused. Addresses of other families are admitted uncounted:
 * returns 0 and leave() ignores them. */
unsigned source_limit_enter(struct source_limit *sl, const struct sockaddr_storage *peer,
                            unsigned max);
/* One session from peer ended. */
void source_limit_leave(struct source_limit *sl, const struct sockaddr_storage *peer);
/* A connection to peer was refused at now_ms for its count: those that
 * hold it and sit idle should make room (nothing when peer has none). */
void source_limit_want(struct source_limit *sl, const struct sockaddr_storage *peer,
                       uint64_t now_ms);
/* When a connection to peer was last refused for its count; 0 never
 * (since its count was last 0). */
uint64_t source_limit_wanted(struct source_limit *sl, const struct sockaddr_storage *peer);

#endif
