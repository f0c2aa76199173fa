/*
 * core/relay.h - relaying to a smart host: per shard, a pool of outbound
 * SMTP connections per destination (host:port), reused for message after
 * message, pipelining when the peer offers it (the protocol is
 * proto/smtp_client.c). Envelopes of one message bound for one destination go
 * in one transaction. Results go back through delivery_result(). The
 * `mta limit` keys (core/mta_limit.h) cap and space its connections and
 * transactions; an address that fails is skipped for a growing while
 * (core/route_backoff.h).
 */
#ifndef CORE_RELAY_H
#define CORE_RELAY_H

#include <stdint.h>

struct shard;
struct delivery_item;
struct rules_action;

#define RELAY_TXN_RCPT_MAX 100
#define RELAY_TIMER_MS_MAX 200        /* a waiting rate or delay looks again */
#define RELAY_HOST_WAIT_MS 50         /* a host at max-conn-per-host looks again */
#define RELAY_REPLY_MS_MAX 300000     /* RFC 5321 4.5.3.2: at least 5 minutes */
#define RELAY_CONNECT_MS_MAX 30000
#define RELAY_ROUTE_MS_MAX 300000      /* how long an MX answer is used */

int relay_init(struct shard *sh);
/* Queue it for its destination; a connection picks it up. */
void relay_enqueue(struct shard *sh, struct delivery_item *it, const struct rules_action *a);
/* End of every turn: hand newly queued work to connections. */
void relay_end_of_turn(struct shard *sh);
/* Once a second: idle connections, timeouts, stopping. */
void relay_tick(struct shard *sh);
/* True when the shard has no relay connection open. */
int relay_idle(struct shard *sh);
/* smtpctl show routes|hosts|relays (kind CTL_MTA_SHOW_*), on the shard:
 * one RECORD frame per route (an address of a destination), host or
 * destination this shard owns, appended to out. */
struct ctl_buf;
void relay_ctl_show(struct shard *sh, unsigned kind, struct ctl_buf *out);
/* smtpctl resume route RELAY.N, on the shard: when this shard owns the
 * destination with id relay and it has an address number route (1-based),
 * that route's backoff is cleared and what waits for the destination is
 * looked at again this turn; returns 1, else 0. */
int relay_ctl_resume_route(struct shard *sh, uint64_t relay, unsigned route);
/* Leaving the loop: close everything at once (items stay queued on disk). */
void relay_shutdown(struct shard *sh);

#endif
