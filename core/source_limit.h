/*
 * core/source_limit.h - how many SMTP sessions each client address has open
 * across all shards, for `smtp limit max-sessions-per-source` (a client over
 * the limit is answered 421 4.7.0 and disconnected, as Postfix's
 * smtpd_client_connection_count_limit does). Loopback clients are not
 * counted (the caller decides). Thread-safe: shards call it at accept and at
 * the end of a session.
 */
#ifndef CORE_SOURCE_LIMIT_H
#define CORE_SOURCE_LIMIT_H

#include <sys/socket.h>

struct source_limit;

/* A table for up to `sessions` concurrent counted sessions; NULL when out
 * of memory. */
struct source_limit *source_limit_new(unsigned sessions);
void source_limit_free(struct source_limit *sl);
/* Count a new session from peer unless it already has max: returns the
 * sessions it had before (admitted when below max; then call leave later),
 * or max when refused. Addresses of other families are admitted uncounted:
 * returns 0 and leave() ignores them. */
unsigned source_limit_enter(struct source_limit *sl, const struct sockaddr_storage *peer,
                            unsigned max);
/* One session from peer ended. */
void source_limit_leave(struct source_limit *sl, const struct sockaddr_storage *peer);

#endif
