/*
 * test/core/test_systemd.c - tests for core/systemd.c: socket activation
 * (inherited fds at 3.. in a forked child, the environment as systemd sets
 * it), address matching, notification datagrams read back from a real
 * AF_UNIX socket, and watchdog variable parsing.
 */
#include "core/systemd.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LF_SOCKS_MAX 8

/* What the child saw; written through a pipe, so plain data only. */
struct lf_result {
	int rc;
	unsigned n;
	int env_left;                  /* LISTEN_* variables still set */
	int cloexec[LF_SOCKS_MAX];     /* FD_CLOEXEC on fd 3+i afterwards */
	char err[SYSTEMD_ERROR_BYTES_MAX];
	struct systemd_fd fds[LF_SOCKS_MAX];
};

/* Set or unset one variable; "self" as a LISTEN_PID means getpid(). */
static void
lf_setenv(const char *name, const char *value)
{
	char pid[32];

	if (value == NULL) {
		unsetenv(name);
		return;
	}
	if (strcmp(value, "self") == 0) {
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		value = pid;
	}
	setenv(name, value, 1);
}

/* Child side: place socks at 3.., set the environment, report the result. */
static void __attribute__((noreturn))
lf_child(int wfd, const int *socks, int nsock, const char *pid_env,
    const char *fds_env, const char *names_env)
{
	struct lf_result res;
	struct systemd_fd *fds = NULL;
	int hi[LF_SOCKS_MAX];

	memset(&res, 0, sizeof(res));
	wfd = fcntl(wfd, F_DUPFD, 300);
	for (int i = 0; i < nsock; i++)
		hi[i] = fcntl(socks[i], F_DUPFD, 310);
	for (int fd = 3; fd < 300; fd++)
		close(fd);
	for (int i = 0; i < nsock; i++)
		if (dup2(hi[i], 3 + i) < 0)
			_exit(2);
	lf_setenv("LISTEN_PID", pid_env);
	lf_setenv("LISTEN_FDS", fds_env);
	lf_setenv("LISTEN_FDNAMES", names_env);
	res.rc = systemd_listen_fds(&fds, &res.n);
	snprintf(res.err, sizeof(res.err), "%s", systemd_error());
	res.env_left = getenv("LISTEN_PID") != NULL ||
	    getenv("LISTEN_FDS") != NULL || getenv("LISTEN_FDNAMES") != NULL;
	for (int i = 0; i < nsock; i++)
		res.cloexec[i] = (fcntl(3 + i, F_GETFD) & FD_CLOEXEC) != 0;
	for (unsigned i = 0; i < res.n && i < LF_SOCKS_MAX; i++)
		res.fds[i] = fds[i];
	free(fds);
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	_exit(0);
}

/* Run systemd_listen_fds() in a forked child holding socks as fds 3.. */
static void
lf_run(const int *socks, int nsock, const char *pid_env, const char *fds_env,
    const char *names_env, struct lf_result *res)
{
	int p[2], status;
	size_t got = 0;
	pid_t pid;

	cr_assert(nsock <= LF_SOCKS_MAX);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		lf_child(p[1], socks, nsock, pid_env, fds_env, names_env);
	}
	close(p[1]);
	while (got < sizeof(*res)) {
		ssize_t r = read(p[0], (char *)res + got, sizeof(*res) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed, status %d", status);
	cr_assert_eq(got, sizeof(*res));
}

/* Open a socket of type bound to ip port 0 (listening when stream). */
static int
inet_sock(int family, int type, const char *ip, struct sockaddr_storage *ss,
    socklen_t *len)
{
	int fd = socket(family, type, 0);

	cr_assert(fd >= 0);
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
		*len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)ss, *len) < 0) {
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, 8), 0);
	*len = sizeof(*ss);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)ss, len), 0);
	return fd;
}

Test(systemd_listen, three_named_sockets)
{
	struct sockaddr_storage tcp, udp, un;
	socklen_t tcp_len, udp_len, un_len;
	struct sockaddr_un *sun = (struct sockaddr_un *)&un;
	struct lf_result res;
	int socks[3];

	socks[0] = inet_sock(AF_INET, SOCK_STREAM, "127.0.0.1", &tcp, &tcp_len);
	socks[1] = inet_sock(AF_INET, SOCK_DGRAM, "127.0.0.1", &udp, &udp_len);
	socks[2] = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&un, 0, sizeof(un));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "ringmta-test-lf-%d", (int)getpid());
	un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun->sun_path + 1));
	cr_assert_eq(bind(socks[2], (struct sockaddr *)&un, un_len), 0);
	cr_assert_eq(listen(socks[2], 4), 0);

	lf_run(socks, 3, "self", "3", "smtp:dgram:control", &res);
	cr_assert_eq(res.rc, 0, "rc %d: %s", res.rc, res.err);
	cr_assert_eq(res.n, 3);
	cr_expect_eq(res.env_left, 0, "LISTEN_* still set after the call");
	const char *want_names[] = {"smtp", "dgram", "control"};
	int want_type[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_STREAM};
	int want_listening[] = {1, 0, 1};
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(res.fds[i].fd, 3 + i, "fd %d: got %d", i,
		    res.fds[i].fd);
		cr_expect_str_eq(res.fds[i].name, want_names[i]);
		cr_expect_eq(res.fds[i].type, want_type[i], "fd %d type got "
		    "%d want %d", i, res.fds[i].type, want_type[i]);
		cr_expect_eq(res.fds[i].listening, want_listening[i],
		    "fd %d listening got %d", i, res.fds[i].listening);
		cr_expect(res.cloexec[i], "fd %d has no FD_CLOEXEC", 3 + i);
	}
	cr_expect(systemd_fd_match(&res.fds[0], NULL, (struct sockaddr *)&tcp,
	    tcp_len), "tcp address not recorded");
	cr_expect(systemd_fd_match(&res.fds[1], NULL, (struct sockaddr *)&udp,
	    udp_len), "udp address not recorded");
	cr_expect(systemd_fd_match(&res.fds[2], NULL, (struct sockaddr *)&un,
	    un_len), "unix address not recorded");
	cr_expect(!systemd_fd_match(&res.fds[0], NULL, (struct sockaddr *)&udp,
	    udp_len), "tcp fd matched the udp port");
	for (int i = 0; i < 3; i++)
		close(socks[i]);
}

Test(systemd_listen, ipv6_socket_address)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct lf_result res;
	int fd = inet_sock(AF_INET6, SOCK_STREAM, "::1", &ss, &len);

	if (fd < 0)
		cr_skip_test("no IPv6 loopback here");
	lf_run(&fd, 1, "self", "1", "submission", &res);
	cr_assert_eq(res.rc, 0, "rc %d: %s", res.rc, res.err);
	cr_assert_eq(res.n, 1);
	cr_expect_eq(res.fds[0].addr.ss_family, AF_INET6);
	cr_expect(systemd_fd_match(&res.fds[0], "other",
	    (struct sockaddr *)&ss, len));
	close(fd);
}

Test(systemd_listen, not_for_this_process)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct lf_result res;
	char parent[32];
	int fd = inet_sock(AF_INET, SOCK_STREAM, "127.0.0.1", &ss, &len);

	/* The test process's pid is not the child's. */
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	lf_run(&fd, 1, parent, "1", "smtp", &res);
	cr_expect_eq(res.rc, 0);
	cr_expect_eq(res.n, 0, "got %u fds for another pid", res.n);
	cr_expect_eq(res.env_left, 0);
	cr_expect_eq(res.cloexec[0], 0, "fd 3 touched although not ours");

	lf_run(&fd, 1, NULL, "1", "smtp", &res);
	cr_expect_eq(res.rc, 0);
	cr_expect_eq(res.n, 0, "got %u fds without LISTEN_PID", res.n);
	cr_expect_eq(res.env_left, 0);
	close(fd);
}

Test(systemd_listen, malformed_variables)
{
	static const struct {
		const char *pid, *fds, *names;
		int want;
	} cases[] = {
		{"self", "abc", NULL, -EINVAL},
		{"self", "-1", NULL, -EINVAL},
		{"self", "", NULL, -EINVAL},
		{"self", "0", NULL, -EINVAL},
		{"self", " 1", NULL, -EINVAL},
		{"self", "1x", NULL, -EINVAL},
		{"self", "99999999999999999999999", NULL, -EINVAL},
		{"self", "65", NULL, -E2BIG},
		{"self", "4294967295", NULL, -E2BIG},
		{"abc", "1", NULL, -EINVAL},
		{"-5", "1", NULL, -EINVAL},
		{"0", "1", NULL, -EINVAL},
		{"self", "2", NULL, -EBADF},      /* only fd 3 is open */
		{"self", "1", "bad\tname", -EINVAL},
	};
	struct sockaddr_storage ss;
	socklen_t len;
	struct lf_result res;
	int fd = inet_sock(AF_INET, SOCK_STREAM, "127.0.0.1", &ss, &len);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lf_run(&fd, 1, cases[i].pid, cases[i].fds, cases[i].names,
		    &res);
		cr_expect_eq(res.rc, cases[i].want, "LISTEN_PID=%s LISTEN_FDS"
		    "=%s: got %d, want %d", cases[i].pid, cases[i].fds,
		    res.rc, cases[i].want);
		cr_expect_eq(res.n, 0);
		cr_expect_neq(res.err[0], '\0', "no message for %s",
		    cases[i].fds);
		cr_expect_eq(res.env_left, 0, "variables kept after error");
	}
	close(fd);
}

Test(systemd_listen, long_name_and_not_a_socket)
{
	char names[400];
	struct sockaddr_storage ss;
	socklen_t len;
	struct lf_result res;
	int p[2], socks[2];

	socks[0] = inet_sock(AF_INET, SOCK_STREAM, "127.0.0.1", &ss, &len);
	memset(names, 'a', 300);
	names[300] = '\0';
	lf_run(socks, 1, "self", "1", names, &res);
	cr_expect_eq(res.rc, -EINVAL, "300-byte name: got %d", res.rc);
	socks[1] = socks[0];
	lf_run(socks, 2, "self", "2", "ok:bad\x01", &res);
	cr_expect_eq(res.rc, -EINVAL, "control byte in name: got %d", res.rc);
	cr_expect(strstr(res.err, "name 1") != NULL, "message: %s", res.err);
	/* Names beyond LISTEN_FDS are ignored, not checked. */
	lf_run(socks, 1, "self", "1", "ok:bad\x01", &res);
	cr_expect_eq(res.rc, 0, "extra bad name: got %d", res.rc);
	memset(names, 'a', 255);
	names[255] = '\0';
	lf_run(socks, 1, "self", "1", names, &res);
	cr_expect_eq(res.rc, 0, "255-byte name: got %d", res.rc);
	cr_expect_eq(strlen(res.fds[0].name), 255);

	cr_assert_eq(pipe(p), 0);
	socks[1] = p[0];
	lf_run(socks, 2, "self", "2", "smtp:fifo", &res);
	cr_expect_eq(res.rc, -ENOTSOCK, "pipe as fd 4: got %d", res.rc);
	cr_expect(strstr(res.err, "fd 4") != NULL, "message: %s", res.err);
	close(p[0]);
	close(p[1]);
	close(socks[0]);
}

Test(systemd_listen, name_count_mismatch)
{
	static const struct {
		const char *names;
		const char *want[3];
	} cases[] = {
		{NULL, {"unknown", "unknown", "unknown"}},
		{"", {"unknown", "unknown", "unknown"}},
		{"smtp", {"smtp", "unknown", "unknown"}},
		{"smtp::submission", {"smtp", "unknown", "submission"}},
		{"a:b:c:d:e", {"a", "b", "c"}},
		{"smtp:smtps", {"smtp", "smtps", "unknown"}},
	};
	struct sockaddr_storage ss;
	socklen_t len;
	struct lf_result res;
	int socks[3];

	for (int i = 0; i < 3; i++)
		socks[i] = inet_sock(AF_INET, SOCK_STREAM, "127.0.0.1", &ss,
		    &len);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		lf_run(socks, 3, "self", "3", cases[c].names, &res);
		cr_assert_eq(res.rc, 0, "%s: rc %d", cases[c].names, res.rc);
		cr_assert_eq(res.n, 3);
		for (int i = 0; i < 3; i++)
			cr_expect_str_eq(res.fds[i].name, cases[c].want[i],
			    "LISTEN_FDNAMES=%s fd %d: got %s, want %s",
			    cases[c].names, i, res.fds[i].name,
			    cases[c].want[i]);
	}
	for (int i = 0; i < 3; i++)
		close(socks[i]);
}

/* Fill an inherited-fd record with name and address ip:port. */
static void
fake_fd(struct systemd_fd *fd, const char *name, const char *ip, int port)
{
	memset(fd, 0, sizeof(*fd));
	snprintf(fd->name, sizeof(fd->name), "%s", name);
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&fd->addr;
		a->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
		a->sin6_port = htons((uint16_t)port);
		fd->addr_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&fd->addr;
		a->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
		a->sin_port = htons((uint16_t)port);
		fd->addr_len = sizeof(*a);
	}
}

Test(systemd_match, by_name_and_address)
{
	static const struct {
		const char *fd_name, *fd_ip;
		int fd_port;
		const char *name, *ip;   /* ip NULL: match by name only */
		int port, want;
	} cases[] = {
		{"smtp", "127.0.0.1", 25, "smtp", NULL, 0, 1},
		{"smtp", "127.0.0.1", 25, "submission", NULL, 0, 0},
		{"unknown", "127.0.0.1", 25, "unknown", NULL, 0, 0},
		{"smtp", "127.0.0.1", 25, "other", "127.0.0.1", 25, 1},
		{"smtp", "127.0.0.1", 25, NULL, "127.0.0.1", 587, 0},
		{"smtp", "127.0.0.1", 25, NULL, "127.0.0.2", 25, 0},
		{"smtp", "0.0.0.0", 25, NULL, "0.0.0.0", 25, 1},
		{"x", "::ffff:127.0.0.1", 25, NULL, "127.0.0.1", 25, 1},
		{"x", "127.0.0.1", 25, NULL, "::ffff:127.0.0.1", 25, 1},
		{"x", "::ffff:127.0.0.1", 25, NULL, "127.0.0.1", 26, 0},
		{"x", "::1", 25, NULL, "127.0.0.1", 25, 0},
		{"x", "::1", 587, NULL, "::1", 587, 1},
		{"x", "::1", 587, NULL, "::2", 587, 0},
		{"x", "::", 25, NULL, "0.0.0.0", 25, 0},
		{"x", "::1", 25, "x", "::2", 25, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct systemd_fd fd, want;
		const struct sockaddr *sa = NULL;
		socklen_t len = 0;
		int got;

		fake_fd(&fd, cases[i].fd_name, cases[i].fd_ip,
		    cases[i].fd_port);
		if (cases[i].ip != NULL) {
			fake_fd(&want, "", cases[i].ip, cases[i].port);
			sa = (const struct sockaddr *)&want.addr;
			len = want.addr_len;
		}
		got = systemd_fd_match(&fd, cases[i].name, sa, len);
		cr_expect_eq(got, cases[i].want, "case %zu fd %s %s:%d vs "
		    "%s %s:%d: got %d, want %d", i, cases[i].fd_name,
		    cases[i].fd_ip, cases[i].fd_port, cases[i].name,
		    cases[i].ip, cases[i].port, got, cases[i].want);
	}
}

Test(systemd_match, unix_paths)
{
	struct systemd_fd fd;
	struct sockaddr_un a, b;
	socklen_t alen, blen;

	memset(&fd, 0, sizeof(fd));
	strcpy(fd.name, "unknown");
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "/run/ringmta/smtpd.sock");
	/* The kernel reports the path with its NUL; a caller may omit it. */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(a.sun_path) + 1);
	memcpy(&fd.addr, &a, sizeof(a));
	fd.addr_len = alen;
	b = a;
	blen = alen - 1;
	cr_expect(systemd_fd_match(&fd, NULL, (struct sockaddr *)&b, blen));
	strcpy(b.sun_path, "/run/ringmta/smtpd.sock2");
	blen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(b.sun_path) + 1);
	cr_expect(!systemd_fd_match(&fd, NULL, (struct sockaddr *)&b, blen));
	cr_expect(!systemd_fd_match(&fd, NULL, NULL, 0));
}

/* A datagram socket to receive notifications, bound in a temp dir. */
struct notify_sink {
	int fd;
	char dir[64];
	char path[128];
};

/* Bind sink; abstract when abstract != 0. Sets NOTIFY_SOCKET to it. */
static void
sink_open(struct notify_sink *s, int abstract)
{
	struct sockaddr_un sun;
	socklen_t len;
	char env[130];

	memset(s, 0, sizeof(*s));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(s->fd >= 0);
	if (abstract) {
		snprintf(s->path, sizeof(s->path), "ringmta-test-notify-%d",
		    (int)getpid());
		memcpy(sun.sun_path + 1, s->path, strlen(s->path));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		    strlen(s->path));
		snprintf(env, sizeof(env), "@%s", s->path);
	} else {
		strcpy(s->dir, "/tmp/ringmta-notify-XXXXXX");
		cr_assert(mkdtemp(s->dir) != NULL);
		snprintf(s->path, sizeof(s->path), "%s/notify", s->dir);
		strcpy(sun.sun_path, s->path);
		len = sizeof(sun);
		snprintf(env, sizeof(env), "%s", s->path);
	}
	cr_assert_eq(bind(s->fd, (struct sockaddr *)&sun, len), 0,
	    "bind: %s", strerror(errno));
	setenv("NOTIFY_SOCKET", env, 1);
}

/* Read the next datagram into buf; returns its length, -1 when none. */
static ssize_t
sink_read(struct notify_sink *s, char *buf, size_t size)
{
	ssize_t r = recv(s->fd, buf, size - 1, MSG_DONTWAIT);

	if (r >= 0)
		buf[r] = '\0';
	return r;
}

/* Close the sink and remove its socket file and temp dir. */
static void
sink_close(struct notify_sink *s)
{
	close(s->fd);
	if (s->dir[0] != '\0') {
		unlink(s->path);
		rmdir(s->dir);
	}
}

/* Expect the next datagram to be exactly want. */
static void
sink_expect(struct notify_sink *s, const char *want)
{
	char buf[SYSTEMD_STATE_BYTES_MAX + 1];

	cr_assert(sink_read(s, buf, sizeof(buf)) >= 0, "no datagram, want "
	    "\"%s\"", want);
	cr_expect_str_eq(buf, want, "got \"%s\", want \"%s\"", buf, want);
}

/* Return CLOCK_MONOTONIC now in microseconds. */
static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Send the whole life cycle of states and check each datagram's text. */
static void
notify_sequence(struct notify_sink *s)
{
	char buf[SYSTEMD_STATE_BYTES_MAX + 1];
	unsigned long long usec;
	uint64_t before, after;
	int used;

	cr_assert_eq(systemd_notify_init(), 0, "%s", systemd_error());
	cr_expect_null(getenv("NOTIFY_SOCKET"), "NOTIFY_SOCKET left set");
	cr_expect_eq(systemd_notify_ready("accepting on 127.0.0.1:25"), 0);
	sink_expect(s, "READY=1\nSTATUS=accepting on 127.0.0.1:25");
	cr_expect_eq(systemd_notify_ready(NULL), 0);
	sink_expect(s, "READY=1");
	cr_expect_eq(systemd_notify_status("%d sessions", 12), 0);
	sink_expect(s, "STATUS=12 sessions");
	cr_expect_eq(systemd_notify_status("two\nlines\r"), 0);
	sink_expect(s, "STATUS=two lines ");
	cr_expect_eq(systemd_notify_watchdog(), 0);
	sink_expect(s, "WATCHDOG=1");
	cr_expect_eq(systemd_notify_stopping(), 0);
	sink_expect(s, "STOPPING=1");
	cr_expect_eq(systemd_notifyf("ERRNO=%d", 5), 0);
	sink_expect(s, "ERRNO=5");

	before = mono_usec();
	cr_expect_eq(systemd_notify_reloading(), 0);
	after = mono_usec();
	cr_assert(sink_read(s, buf, sizeof(buf)) >= 0, "no RELOADING");
	cr_assert_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec,
	    &used), 1, "got \"%s\"", buf);
	cr_expect_eq((size_t)used, strlen(buf), "trailing text in \"%s\"", buf);
	cr_expect(usec >= before && usec <= after, "MONOTONIC_USEC %llu not "
	    "in [%llu, %llu]", usec, (unsigned long long)before,
	    (unsigned long long)after);
	cr_expect_lt(sink_read(s, buf, sizeof(buf)), 0, "extra datagram");
	systemd_notify_close();
}

Test(systemd_notify, path_socket)
{
	struct notify_sink s;

	sink_open(&s, 0);
	notify_sequence(&s);
	sink_close(&s);
}

Test(systemd_notify, abstract_socket)
{
	struct notify_sink s;

	sink_open(&s, 1);
	notify_sequence(&s);
	sink_close(&s);
}

Test(systemd_notify, not_configured_sends_nothing)
{
	struct notify_sink s;
	char buf[64];

	sink_open(&s, 0);
	unsetenv("NOTIFY_SOCKET");
	cr_expect_eq(systemd_notify_init(), 0);
	cr_expect_eq(systemd_notify_ready("up"), 0);
	cr_expect_eq(systemd_notify_watchdog(), 0);
	cr_expect_eq(systemd_notify_reloading(), 0);
	cr_expect_eq(systemd_notify_status("x"), 0);
	cr_expect_lt(sink_read(&s, buf, sizeof(buf)), 0,
	    "unconfigured notify sent \"%s\"", buf);

	/* After close, a configured instance stops sending too. */
	setenv("NOTIFY_SOCKET", s.path, 1);
	cr_assert_eq(systemd_notify_init(), 0);
	systemd_notify_close();
	cr_expect_eq(systemd_notify("READY=1"), 0);
	cr_expect_lt(sink_read(&s, buf, sizeof(buf)), 0,
	    "closed notify sent \"%s\"", buf);
	sink_close(&s);
}

Test(systemd_notify, malformed_socket_variable)
{
	static const struct {
		const char *value;
		int want;
	} cases[] = {
		{"relative/notify", -EAFNOSUPPORT},
		{"vsock:2:1234", -EAFNOSUPPORT},
		{"", -EAFNOSUPPORT},
		{"@", -EINVAL},
		{"/", -EINVAL},
	};
	char longpath[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("NOTIFY_SOCKET", cases[i].value, 1);
		int got = systemd_notify_init();
		cr_expect_eq(got, cases[i].want, "NOTIFY_SOCKET=\"%s\": got "
		    "%d, want %d", cases[i].value, got, cases[i].want);
		cr_expect_null(getenv("NOTIFY_SOCKET"));
		cr_expect_eq(systemd_notify("READY=1"), 0);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	cr_expect_eq(systemd_notify_init(), -ENAMETOOLONG);
	cr_expect_neq(systemd_error()[0], '\0');
}

Test(systemd_notify, receiver_gone_and_too_long)
{
	struct notify_sink s;
	char big[SYSTEMD_STATE_BYTES_MAX + 10], buf[64];

	sink_open(&s, 0);
	cr_assert_eq(systemd_notify_init(), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_expect_eq(systemd_notify_status("%s", big), -EMSGSIZE);
	cr_expect_lt(sink_read(&s, buf, sizeof(buf)), 0, "sent a cut state");
	sink_close(&s);
	int r = systemd_notify_ready(NULL);
	cr_expect_lt(r, 0, "send to a removed socket: got %d", r);
	cr_expect(strstr(systemd_error(), "notify") != NULL, "message: %s",
	    systemd_error());
	systemd_notify_close();
}

Test(systemd_watchdog, variables)
{
	char self[32], other[32];
	const struct {
		const char *pid, *usec;
		uint64_t want;
	} cases[] = {
		{NULL, "30000000", 30000000},
		{self, "30000000", 30000000},
		{other, "30000000", 0},
		{"abc", "30000000", 0},
		{NULL, NULL, 0},
		{self, NULL, 0},
		{NULL, "0", 0},
		{NULL, "", 0},
		{NULL, "abc", 0},
		{NULL, "-1", 0},
		{NULL, "15s", 0},
		{NULL, "18446744073709551615", 0},  /* USEC_INFINITY */
		{NULL, "18446744073709551614", 18446744073709551614u},
		{NULL, "99999999999999999999", 0},
	};

	snprintf(self, sizeof(self), "%d", (int)getpid());
	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lf_setenv("WATCHDOG_PID", cases[i].pid);
		lf_setenv("WATCHDOG_USEC", cases[i].usec);
		uint64_t got = systemd_watchdog_usec();
		cr_expect_eq(got, cases[i].want, "WATCHDOG_PID=%s "
		    "WATCHDOG_USEC=%s: got %llu, want %llu",
		    cases[i].pid ? cases[i].pid : "(unset)",
		    cases[i].usec ? cases[i].usec : "(unset)",
		    (unsigned long long)got,
		    (unsigned long long)cases[i].want);
		cr_expect_null(getenv("WATCHDOG_PID"));
		cr_expect_null(getenv("WATCHDOG_USEC"));
	}
}
