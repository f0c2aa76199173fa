/*
 * core/listener.c - listening sockets per shard and their multishot accepts.
 * See core/listener.h.
 */
#include "core/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/session.h"
#include "core/shard.h"
#include "rules/rules.h"

void
listener_addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)cap);
	} else {
		snprintf(buf, cap, "local");
	}
}

static unsigned
listener_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* A new SO_REUSEPORT socket bound to one listen line's address. */
static int
listener_bind(const struct rules_listener *l)
{
	char text[64];
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("listen on %s: socket: %s", l->spec, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	/* accepted sockets inherit it: no reply waits on Nagle + delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		listener_addr_text((const struct sockaddr *)&l->addr, text, sizeof text);
		log_warn("listen on %s port %u (line %u): %s", text,
		         listener_port(&l->addr), l->line, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
listener_open(struct shard *sh, const struct rules_config *c,
              const struct listener_inherited *inh)
{
	sh->listeners = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *sh->listeners);
	if (sh->listeners == NULL)
		return -1;
	sh->nlisteners = 0;
	for (unsigned i = 0; i < c->nlisteners; i++) {
		int fd;
		if (inh != NULL && inh->n > 0) {
			if (inh->fds[i] < 0)
				continue;   /* activated: only what systemd passed */
			fd = inh->fds[i];
			/* accepted sockets inherit it: no reply waits on Nagle */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		} else {
			fd = listener_bind(&c->listeners[i]);
			if (fd < 0)
				return -1;
		}
		struct shard_listener *l = &sh->listeners[sh->nlisteners++];
		l->shard = sh;
		l->fd = fd;
		l->index = i;
		l->owned = inh == NULL || inh->n == 0;
	}
	return 0;
}

static void listener_accept_complete(struct core_op *op, int res, unsigned flags);

static void
listener_arm(struct shard *sh, struct shard_listener *l)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->accept_op);
	l->armed = 1;
}

int
listener_arm_all(struct shard *sh)
{
	for (unsigned i = 0; i < sh->nlisteners; i++) {
		sh->listeners[i].accept_op.complete = listener_accept_complete;
		listener_arm(sh, &sh->listeners[i]);
	}
	return 0;
}

/* A connection arrived (or the accept ended: re-arm unless stopping). */
static void
listener_accept_complete(struct core_op *op, int res, unsigned flags)
{
	struct shard_listener *l = container_of(op, struct shard_listener, accept_op);
	struct shard *sh = l->shard;
	if (!(flags & IORING_CQE_F_MORE))
		l->armed = 0;
	if (res >= 0) {
		if (sh->stopping) {
			close(res);
		} else {
			session_accept(sh, res, l->index);
		}
	} else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
		log_warn("accept: %s", strerror(-res));
	}
	if (!l->armed && !sh->stopping && l->fd >= 0)
		listener_arm(sh, l);
}

void
listener_close_all(struct shard *sh)
{
	for (unsigned i = 0; i < sh->nlisteners; i++) {
		struct shard_listener *l = &sh->listeners[i];
		if (l->fd < 0)
			continue;
		struct io_uring_sqe *sqe = shard_sqe(sh);
		io_uring_prep_cancel(sqe, &l->accept_op, 0);
		io_uring_sqe_set_data(sqe, NULL);
		/* an inherited fd is shared: the main thread closes it at exit */
		if (l->owned)
			close(l->fd);
		l->fd = -1;
	}
}
