/*
 * core/listener.h - listening sockets. listener_open() makes, for one shard,
 * a socket per `listen on` address (SO_REUSEPORT, so every shard has its own
 * and the kernel spreads connections), or adopts the fds systemd passed (the
 * same fd on every shard). listener_arm_all() posts a multishot accept for
 * each on the shard's ring; each accepted connection becomes a session.
 */
#ifndef CORE_LISTENER_H
#define CORE_LISTENER_H

#include <sys/socket.h>

struct shard;
struct systemd_fd;
struct rules_config;

/* Inherited fds from socket activation, matched to listen lines; shared by
 * every shard. fds[i] serves config->listeners[i], -1 if none matched. */
struct listener_inherited {
	int *fds;
	unsigned n;
};

/* Fill in sh->listeners: bind new sockets, or use inherited ones. Runs on
 * the main thread before shards start (binding may need privileges).
 * Returns 0, or -1 with a message logged. */
int listener_open(struct shard *sh, const struct rules_config *c,
                  const struct listener_inherited *inh);
/* On the shard's thread: post the accepts. Returns 0 or a negative errno. */
int listener_arm_all(struct shard *sh);
/* Stop accepting: close this shard's sockets (inherited ones stay open in
 * the other shards' hands). */
void listener_close_all(struct shard *sh);
/* Format an address as "1.2.3.4" or "::1" (no port). */
void listener_addr_text(const struct sockaddr *sa, char *buf, size_t cap);

#endif
