/*
 * core/systemd.h - systemd integration without libsystemd: socket activation
 * (sd_listen_fds(3) protocol), readiness and status notification
 * (sd_notify(3) protocol) and the service watchdog.
 *
 * Socket activation:
 *
 *   struct systemd_fd *fds;
 *   unsigned n;
 *   if (systemd_listen_fds(&fds, &n) < 0)
 *       fatal("%s", systemd_error());
 *   for each `listen on` line: the fd i with systemd_fd_match(&fds[i], name,
 *       addr, len) is used instead of binding a new socket;
 *   free(fds);
 *
 *   systemd_listen_fds() reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES,
 *   checks that fds 3 .. 3+n-1 are sockets, sets FD_CLOEXEC on each and
 *   unsets the three variables (always, so no child sees them). It returns 0
 *   with *n = 0 and *fds = NULL when the process was not activated (no
 *   LISTEN_PID, or LISTEN_PID names another process). A malformed variable, a
 *   count above SYSTEMD_LISTEN_FDS_MAX, or an inherited fd that is closed or
 *   not a socket gives a negative errno and a message in systemd_error(); the
 *   inherited fds are then left as they are. The caller frees *fds with
 *   free() and owns the fds in it (closing those it does not use).
 *
 *   LISTEN_FDNAMES is optional. A missing or empty name is "unknown" (what
 *   systemd itself passes when it has none); if the list has fewer names than
 *   fds the rest are "unknown", extra names are ignored. An "unknown" fd never
 *   matches by name, only by address. A name must be printable ASCII and at
 *   most SYSTEMD_FDNAME_BYTES_MAX - 1 bytes (systemd's own limit), otherwise
 *   the variable is malformed.
 *
 * Notification:
 *
 *   systemd_notify_init();                     // once, early, before fork/exec
 *   systemd_notify_ready("accepting on 127.0.0.1:25");
 *   on SIGHUP: systemd_notify_reloading(); reload; systemd_notify_ready(NULL);
 *   every systemd_watchdog_usec()/2: systemd_notify_watchdog();
 *   on shutdown: systemd_notify_stopping();
 *
 *   systemd_notify_init() reads NOTIFY_SOCKET (a path, or an abstract name
 *   when it starts with '@'), opens an AF_UNIX datagram socket with
 *   SOCK_CLOEXEC and unsets NOTIFY_SOCKET so children never see it. Without
 *   NOTIFY_SOCKET every notify call is a no-op returning 0. A malformed value
 *   gives a negative errno and a message in systemd_error(). Calling it again
 *   while configured does nothing; systemd_notify_close() forgets the socket.
 *   A send is a blocking sendto() with MSG_NOSIGNAL (systemd reads its
 *   notification socket promptly; sd_notify() does the same). Status text
 *   has its newlines replaced by spaces so it cannot add assignments.
 *
 * Watchdog: systemd_watchdog_usec() returns WATCHDOG_USEC when WATCHDOG_PID
 * is absent or equals getpid(), otherwise (or when malformed) 0 meaning no
 * watchdog; it unsets both variables, so call it once at start-up.
 *
 * Threads: systemd_listen_fds(), systemd_notify_init() and
 * systemd_watchdog_usec() are for start-up, in the main thread, before other
 * threads exist (they change the environment). The notify calls share one
 * socket and may be called from one thread at a time. systemd_error() points
 * at a static buffer overwritten by the next failing call.
 */
#ifndef CORE_SYSTEMD_H
#define CORE_SYSTEMD_H

#include <stdint.h>
#include <sys/socket.h>

#define SYSTEMD_LISTEN_FDS_START 3    /* SD_LISTEN_FDS_START */
#define SYSTEMD_LISTEN_FDS_MAX 64     /* inherited sockets accepted at most */
#define SYSTEMD_FDNAME_BYTES_MAX 256  /* systemd FDNAME_MAX (255) + NUL */
#define SYSTEMD_STATE_BYTES_MAX 4096  /* one notification datagram */
#define SYSTEMD_ERROR_BYTES_MAX 256

/* One inherited socket, as systemd_listen_fds() found it. */
struct systemd_fd {
	int fd;                             /* 3 .. 3+n-1 */
	char name[SYSTEMD_FDNAME_BYTES_MAX]; /* FileDescriptorName=, or "unknown" */
	int type;                           /* SO_TYPE: SOCK_STREAM, SOCK_DGRAM, ... */
	int listening;                      /* 1 when SO_ACCEPTCONN is set */
	struct sockaddr_storage addr;       /* getsockname() */
	socklen_t addr_len;
};

int systemd_listen_fds(struct systemd_fd **fds, unsigned *n);
int systemd_fd_match(const struct systemd_fd *fd, const char *name,
    const struct sockaddr *addr, socklen_t len);

int systemd_notify_init(void);
void systemd_notify_close(void);
int systemd_notify(const char *state);
int systemd_notifyf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int systemd_notify_ready(const char *status);
int systemd_notify_reloading(void);
int systemd_notify_stopping(void);
int systemd_notify_status(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int systemd_notify_watchdog(void);

uint64_t systemd_watchdog_usec(void);

const char *systemd_error(void);

#endif
