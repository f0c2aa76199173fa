/*
 * core/filter_spawn.h - filter processes (smtpd-filters(7)) started by the
 * delivery helper, never by a shard: one request at a time over a socket
 * of its own (shared by every thread under a mutex), answered within
 * FILTER_SPAWN_WAIT_MS with the daemon's end of the process's stdin and
 * stdout (an AF_UNIX stream socket) and its pid. The helper forks, becomes
 * the proc's user (default: the daemon's user, RINGMTA_USER) and group,
 * enters its chroot, and runs the command by /bin/sh -c; it reaps the
 * process when it exits (the daemon sees end of file).
 */
#ifndef CORE_FILTER_SPAWN_H
#define CORE_FILTER_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define FILTER_SPAWN_WAIT_MS 2000

struct rules_proc;

/* Take the smtpd end of the helper's filter socket (before threads). */
void filter_spawn_init(int fd);
/* Close it at shutdown. */
void filter_spawn_close(void);
/* Start p: 0 with *fd (close-on-exec, blocking) and *pid, or -1 with why. */
int filter_spawn(const struct rules_proc *p, int *fd, pid_t *pid, char *why, size_t cap);

#endif
