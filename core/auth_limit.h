/*
 * core/auth_limit.h - failed SMTP AUTH attempts per client address across
 * every shard, against password guessing: once an address has failures_max
 * failures within window_ms of its first one, it is blocked until that
 * window ends (core/session.c then answers 421 4.7.0 and closes). The
 * window is fixed, from an address's first failure; a success does not
 * clear it. Bounded: at most AUTH_LIMIT_SOURCES_MAX addresses are
 * remembered; when full, the one whose window began first makes room.
 * IPv4 and IPv6 addresses (the port is not part of it); other families
 * are never blocked. Thread-safe (one mutex); the caller passes the clock.
 */
#ifndef CORE_AUTH_LIMIT_H
#define CORE_AUTH_LIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define AUTH_LIMIT_SOURCES_MAX 4096

struct auth_limit;

/* NULL when out of memory. failures_max 0: nobody is ever blocked. */
struct auth_limit *auth_limit_new(unsigned failures_max, uint64_t window_ms);
/* A new limit (smtp limit max-auth-failures, at start and reload); the
 * failures counted so far stay. */
void auth_limit_set_max(struct auth_limit *al, unsigned failures_max);
void auth_limit_free(struct auth_limit *al);
/* 1 when peer is blocked at now_ms, else 0. */
int auth_limit_blocked(struct auth_limit *al, const struct sockaddr_storage *peer,
                       uint64_t now_ms);
/* Count one failure from peer at now_ms; returns 1 when peer is blocked
 * from now on (this failure reached the limit, or it was already), else 0. */
int auth_limit_fail(struct auth_limit *al, const struct sockaddr_storage *peer, uint64_t now_ms);

#endif
