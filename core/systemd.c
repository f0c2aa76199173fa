/*
 * core/systemd.c - owns the daemon's side of the systemd protocols: the
 * inherited listening sockets (sd_listen_fds(3)), the notification socket
 * (sd_notify(3)) and the watchdog interval (sd_watchdog_enabled(3)).
 * Implemented here from the documented environment-variable protocol; no
 * libsystemd. The contract is in core/systemd.h.
 */
#include "core/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int systemd_fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int systemd_notify_va(const char *prefix, int oneline, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));
static int systemd_notify_with(const char *prefix, int oneline,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static char systemd_errbuf[SYSTEMD_ERROR_BYTES_MAX];

static int systemd_notify_fd = -1;
static struct sockaddr_un systemd_notify_addr;
static socklen_t systemd_notify_addr_len;

/* Record a failure for systemd_error(); returns err (a negative errno). */
static int
systemd_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(systemd_errbuf, sizeof(systemd_errbuf), fmt, ap);
	va_end(ap);
	return err;
}

/* Call after any failing systemd_* call; returns its message ("" if none). */
const char *
systemd_error(void)
{
	return systemd_errbuf;
}

/*
 * Parse a decimal number made of digits only (no sign, no space) that is at
 * most max; returns 0, or -EINVAL when empty, malformed or too large.
 */
static int
systemd_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Copy name i of the colon-separated list names (NULL: none) into out. */
static int
systemd_fdname(const char *names, unsigned i, char *out)
{
	const char *p = names, *end;
	size_t len;

	strcpy(out, "unknown");
	if (names == NULL)
		return 0;
	for (unsigned k = i; k > 0 && p != NULL; k--) {
		p = strchr(p, ':');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return 0;            /* fewer names than fds */
	end = strchrnul(p, ':');
	len = (size_t)(end - p);
	if (len == 0)
		return 0;
	if (len >= SYSTEMD_FDNAME_BYTES_MAX)
		return systemd_fail(-EINVAL, "LISTEN_FDNAMES: name %u longer "
		    "than %d bytes", i, SYSTEMD_FDNAME_BYTES_MAX - 1);
	for (size_t k = 0; k < len; k++)
		if (p[k] < 0x20 || p[k] > 0x7e)
			return systemd_fail(-EINVAL, "LISTEN_FDNAMES: name "
			    "%u has a non-printable byte", i);
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* Describe inherited fd into out and set FD_CLOEXEC; returns 0 or -errno. */
static int
systemd_fd_probe(int fd, struct systemd_fd *out)
{
	struct stat st;
	socklen_t len;
	int flags;

	out->fd = fd;
	if (fstat(fd, &st) < 0)
		return systemd_fail(-errno, "inherited fd %d: %s", fd,
		    strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return systemd_fail(-ENOTSOCK, "inherited fd %d is not a socket",
		    fd);
	len = sizeof(out->type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &out->type, &len) < 0)
		return systemd_fail(-errno, "fd %d: SO_TYPE: %s", fd,
		    strerror(errno));
	len = sizeof(out->listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &out->listening,
	    &len) < 0)
		out->listening = 0;  /* datagram sockets may refuse it */
	out->listening = out->listening != 0;
	out->addr_len = sizeof(out->addr);
	if (getsockname(fd, (struct sockaddr *)&out->addr, &out->addr_len) < 0)
		return systemd_fail(-errno, "fd %d: getsockname: %s", fd,
		    strerror(errno));
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return systemd_fail(-errno, "fd %d: FD_CLOEXEC: %s", fd,
		    strerror(errno));
	return 0;
}

/*
 * Read LISTEN_PID and LISTEN_FDS into *count (0: not for this process);
 * returns 0 or -EINVAL/-E2BIG.
 */
static int
systemd_listen_count(const char *pid_s, const char *fds_s, unsigned *count)
{
	uint64_t pid, n;

	*count = 0;
	if (pid_s == NULL)
		return 0;
	if (systemd_parse_u64(pid_s, INT32_MAX, &pid) < 0 || pid == 0)
		return systemd_fail(-EINVAL, "LISTEN_PID=%s is not a pid",
		    pid_s);
	if (pid != (uint64_t)getpid() || fds_s == NULL)
		return 0;
	/* sd_listen_fds(3) refuses 0 and negative counts as well. */
	if (systemd_parse_u64(fds_s, UINT32_MAX, &n) < 0 || n == 0)
		return systemd_fail(-EINVAL, "LISTEN_FDS=%s is not a positive "
		    "count", fds_s);
	if (n > SYSTEMD_LISTEN_FDS_MAX)
		return systemd_fail(-E2BIG, "LISTEN_FDS=%s: more than %d "
		    "sockets", fds_s, SYSTEMD_LISTEN_FDS_MAX);
	*count = (unsigned)n;
	return 0;
}

/* Call once at start-up; returns 0 (*n = 0 when not activated) or -errno. */
int
systemd_listen_fds(struct systemd_fd **fds, unsigned *n)
{
	const char *names = getenv("LISTEN_FDNAMES");
	struct systemd_fd *v = NULL;
	unsigned count = 0;
	int r;

	*fds = NULL;
	*n = 0;
	r = systemd_listen_count(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
	    &count);
	if (r == 0 && count > 0) {
		v = calloc(count, sizeof(*v));
		if (v == NULL)
			r = systemd_fail(-ENOMEM, "out of memory");
	}
	for (unsigned i = 0; r == 0 && i < count; i++) {
		r = systemd_fdname(names, i, v[i].name);
		if (r == 0)
			r = systemd_fd_probe(SYSTEMD_LISTEN_FDS_START + (int)i,
			    &v[i]);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (r < 0) {
		free(v);
		return r;
	}
	*fds = v;
	*n = count;
	return 0;
}

/*
 * Return the IPv4 address an AF_INET or IPv4-mapped AF_INET6 address
 * carries, with its port; 0 when it has none.
 */
static int
systemd_as_ipv4(const struct sockaddr *sa, socklen_t len, struct in_addr *a,
    in_port_t *port)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET && len >= sizeof(*in4)) {
		*a = in4->sin_addr;
		*port = in4->sin_port;
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(*in6) &&
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memcpy(&a->s_addr, &in6->sin6_addr.s6_addr[12], 4);
		*port = in6->sin6_port;
		return 1;
	}
	return 0;
}

/* Compare two socket addresses (IPv4-mapped equals IPv4); returns 1 if same. */
static int
systemd_addr_equal(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr *b, socklen_t blen)
{
	struct in_addr a4, b4;
	in_port_t ap, bp;

	if (alen < sizeof(sa_family_t) || blen < sizeof(sa_family_t))
		return 0;
	if (systemd_as_ipv4(a, alen, &a4, &ap) &&
	    systemd_as_ipv4(b, blen, &b4, &bp))
		return a4.s_addr == b4.s_addr && ap == bp;
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		if (alen < sizeof(*x) || blen < sizeof(*y))
			return 0;
		return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
		    x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id;
	}
	if (a->sa_family == AF_UNIX) {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		const char *x = ((const struct sockaddr_un *)a)->sun_path;
		const char *y = ((const struct sockaddr_un *)b)->sun_path;
		size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
		size_t xl = alen - off, yl = blen - off;

		xl = xl < max ? xl : max;
		yl = yl < max ? yl : max;

		/* A path may or may not count its NUL; an abstract name not. */
		if (xl > 0 && x[0] != '\0')
			xl = strnlen(x, xl);
		if (yl > 0 && y[0] != '\0')
			yl = strnlen(y, yl);
		return xl == yl && memcmp(x, y, xl) == 0;
	}
	return 0;
}

/*
 * Call to pair an inherited socket with a `listen on` line; returns 1 when
 * fd's name is name (never for "unknown") or its address is addr, else 0.
 */
int
systemd_fd_match(const struct systemd_fd *fd, const char *name,
    const struct sockaddr *addr, socklen_t len)
{
	if (name != NULL && strcmp(fd->name, "unknown") != 0 &&
	    strcmp(fd->name, name) == 0)
		return 1;
	if (addr != NULL &&
	    systemd_addr_equal((const struct sockaddr *)&fd->addr,
	    fd->addr_len, addr, len))
		return 1;
	return 0;
}

/* Turn NOTIFY_SOCKET's value into an address; returns 0 or -errno. */
static int
systemd_notify_parse(const char *e, struct sockaddr_un *sun, socklen_t *len)
{
	size_t l = strlen(e);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (e[0] != '/' && e[0] != '@')
		return systemd_fail(-EAFNOSUPPORT, "NOTIFY_SOCKET=%s is neither "
		    "a path nor an abstract name", e);
	if (l < 2)
		return systemd_fail(-EINVAL, "NOTIFY_SOCKET=%s is empty", e);
	if (l >= sizeof(sun->sun_path))
		return systemd_fail(-ENAMETOOLONG, "NOTIFY_SOCKET is longer "
		    "than %zu bytes", sizeof(sun->sun_path) - 1);
	memcpy(sun->sun_path, e, l);
	if (e[0] == '@') {
		sun->sun_path[0] = '\0';  /* abstract: no NUL at the end */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + 1);
	}
	return 0;
}

/* Call once at start-up, before forking; returns 0 (also unconfigured). */
int
systemd_notify_init(void)
{
	const char *e;
	int r;

	if (systemd_notify_fd >= 0)
		return 0;
	e = getenv("NOTIFY_SOCKET");
	if (e == NULL)
		return 0;
	r = systemd_notify_parse(e, &systemd_notify_addr,
	    &systemd_notify_addr_len);
	unsetenv("NOTIFY_SOCKET");
	if (r < 0)
		return r;
	systemd_notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (systemd_notify_fd < 0)
		return systemd_fail(-errno, "notify socket: %s",
		    strerror(errno));
	return 0;
}

/* Call to stop notifying (at exit, or before a new init); no return. */
void
systemd_notify_close(void)
{
	if (systemd_notify_fd >= 0)
		close(systemd_notify_fd);
	systemd_notify_fd = -1;
	systemd_notify_addr_len = 0;
}

/* Send one state datagram; returns 0 (also unconfigured) or -errno. */
int
systemd_notify(const char *state)
{
	ssize_t w;
	size_t len = strlen(state);

	if (systemd_notify_fd < 0)
		return 0;
	do {
		w = sendto(systemd_notify_fd, state, len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&systemd_notify_addr,
		    systemd_notify_addr_len);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return systemd_fail(-errno, "notify: %s", strerror(errno));
	return 0;
}

/* printf into one bounded state string, then send; returns 0 or -errno. */
static int
systemd_notify_va(const char *prefix, int oneline, const char *fmt,
    va_list ap)
{
	char buf[SYSTEMD_STATE_BYTES_MAX];
	size_t plen = strlen(prefix);
	int r;

	if (systemd_notify_fd < 0)
		return 0;
	if (plen >= sizeof(buf))
		return systemd_fail(-EMSGSIZE, "notify: state too long");
	memcpy(buf, prefix, plen);
	r = vsnprintf(buf + plen, sizeof(buf) - plen, fmt, ap);
	if (r < 0 || (size_t)r >= sizeof(buf) - plen)
		return systemd_fail(-EMSGSIZE, "notify: state longer than %d "
		    "bytes", SYSTEMD_STATE_BYTES_MAX - 1);
	if (oneline)
		for (char *p = buf + plen; *p != '\0'; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	return systemd_notify(buf);
}

/* Send prefix and a printf-formatted tail; returns 0 or -errno. */
static int
systemd_notify_with(const char *prefix, int oneline, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = systemd_notify_va(prefix, oneline, fmt, ap);
	va_end(ap);
	return r;
}

/* Send a printf-formatted state; returns 0 or -errno. */
int
systemd_notifyf(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = systemd_notify_va("", 0, fmt, ap);
	va_end(ap);
	return r;
}

/* Call when serving (after start or reload); status may be NULL. */
int
systemd_notify_ready(const char *status)
{
	if (status == NULL)
		return systemd_notify("READY=1");
	return systemd_notify_with("READY=1\nSTATUS=", 1, "%s", status);
}

/* Call when a reload begins (Type=notify-reload, systemd 253); 0 or -errno. */
int
systemd_notify_reloading(void)
{
	struct timespec ts;
	uint64_t usec;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	return systemd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)usec);
}

/* Call when shutdown begins; returns 0 or -errno. */
int
systemd_notify_stopping(void)
{
	return systemd_notify("STOPPING=1");
}

/* Call to show a one-line status in systemctl status; returns 0 or -errno. */
int
systemd_notify_status(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = systemd_notify_va("STATUS=", 1, fmt, ap);
	va_end(ap);
	return r;
}

/* Call every half watchdog interval; returns 0 or -errno. */
int
systemd_notify_watchdog(void)
{
	return systemd_notify("WATCHDOG=1");
}

/* Call once at start-up; returns the watchdog interval in µs, 0 for none. */
uint64_t
systemd_watchdog_usec(void)
{
	const char *pid_s = getenv("WATCHDOG_PID");
	const char *usec_s = getenv("WATCHDOG_USEC");
	uint64_t pid, usec = 0;

	if (pid_s != NULL && (systemd_parse_u64(pid_s, INT32_MAX, &pid) < 0 ||
	    pid != (uint64_t)getpid()))
		usec_s = NULL;
	/* sd_watchdog_enabled(3): 0 and USEC_INFINITY are not intervals. */
	if (usec_s != NULL &&
	    systemd_parse_u64(usec_s, UINT64_MAX - 1, &usec) < 0)
		usec = 0;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	return usec;
}
