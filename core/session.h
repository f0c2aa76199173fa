/*
 * core/session.h - an inbound SMTP session on a shard: the socket, its
 * receive and send operations, the proto/ server machine, and the mail
 * transaction (body streamed into the queue, committed and synced before the
 * 250 reply). A session is created by an accept completion and freed at the
 * end of a turn once no operation of it is in flight.
 */
#ifndef CORE_SESSION_H
#define CORE_SESSION_H

#include <stdint.h>

struct shard;

#define SESSION_ERRORS_MAX 10

/* A connection was accepted on listener index li of sh's config. */
void session_accept(struct shard *sh, int fd, unsigned li);
/* Once a second: idle timeouts, re-arm starved receives, shutdown. */
void session_tick(struct shard *sh);
/* End of every turn: free sessions that closed and have nothing in flight. */
void session_end_of_turn(struct shard *sh);
/* The shard stops: say 421 to sessions between transactions. */
void session_shutdown_all(struct shard *sh);

#endif
