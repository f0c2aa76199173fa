/*
 * core/shard_dns.c - glue between c-ares' socket interest (core/dns.c's
 * watch callback) and poll operations on the shard's ring. A socket slot
 * lives until its last poll completed, even after c-ares let it go, so a
 * completion never points at freed memory. See core/shard_dns.h.
 */
#include "core/shard_dns.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/shard.h"

#define SHARD_DNS_SOCKS_MAX 32

struct shard_dns_sock {
	struct core_op op;
	struct shard_dns *sd;
	int fd;          /* -1: free slot */
	unsigned want;   /* POLLIN | POLLOUT c-ares asks for; 0: let go */
	int armed;       /* a poll is in flight */
};

struct shard_dns {
	struct shard *sh;
	struct dns *dns;
	struct shard_dns_sock socks[SHARD_DNS_SOCKS_MAX];
	unsigned armed;
};

static void shard_dns_poll_complete(struct core_op *op, int res, unsigned flags);

static void
shard_dns_arm(struct shard_dns_sock *s)
{
	struct io_uring_sqe *sqe = shard_sqe(s->sd->sh);
	io_uring_prep_poll_add(sqe, s->fd, s->want);
	io_uring_sqe_set_data(sqe, &s->op);
	s->armed = 1;
	s->sd->armed++;
}

/* c-ares wants fd watched for r/w, or not at all. */
static void
shard_dns_watch(void *arg, int fd, int readable, int writable)
{
	struct shard_dns *sd = arg;
	unsigned want = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
	struct shard_dns_sock *s = NULL, *free_slot = NULL;
	for (unsigned i = 0; i < SHARD_DNS_SOCKS_MAX; i++) {
		if (sd->socks[i].fd == fd && (sd->socks[i].want || sd->socks[i].armed))
			s = &sd->socks[i];
		else if (free_slot == NULL && sd->socks[i].fd < 0)
			free_slot = &sd->socks[i];
	}
	if (s == NULL) {
		if (want == 0)
			return;
		if (free_slot == NULL) {
			log_warn("resolver: more than %d sockets", SHARD_DNS_SOCKS_MAX);
			return;
		}
		s = free_slot;
		s->fd = fd;
		s->sd = sd;
		s->op.complete = shard_dns_poll_complete;
	}
	s->want = want;
	if (s->armed) {
		/* re-armed with the new interest when the cancelled poll returns */
		struct io_uring_sqe *sqe = shard_sqe(sd->sh);
		io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&s->op);
		io_uring_sqe_set_data(sqe, NULL);
	} else if (want) {
		shard_dns_arm(s);
	} else {
		s->fd = -1;
	}
}

static void
shard_dns_poll_complete(struct core_op *op, int res, unsigned flags)
{
	struct shard_dns_sock *s = container_of(op, struct shard_dns_sock, op);
	struct shard_dns *sd = s->sd;
	s->armed = 0;
	sd->armed--;
	int fd = s->fd;
	if (res > 0 && s->want)
		dns_process(sd->dns, fd, res & (POLLIN | POLLERR | POLLHUP), res & POLLOUT);
	else if (res < 0 && res != -ECANCELED && res != -ENOENT)
		log_debug("resolver poll: %s", strerror(-res));
	/* dns_process may have changed the interest through shard_dns_watch */
	if (s->want && s->fd == fd && !s->armed)
		shard_dns_arm(s);
	else if (!s->want && !s->armed)
		s->fd = -1;
}

struct dns *
shard_dns(struct shard *sh)
{
	if (sh->dns != NULL)
		return sh->dns->dns;
	struct shard_dns *sd = calloc(1, sizeof *sd);
	if (sd == NULL)
		return NULL;
	sd->sh = sh;
	for (unsigned i = 0; i < SHARD_DNS_SOCKS_MAX; i++)
		sd->socks[i].fd = -1;
	struct dns_watch w = { shard_dns_watch, sd };
	char err[160];
	const char *servers = getenv("RINGMTA_RESOLVERS");
	sd->dns = dns_new(servers, 25, &w, err, sizeof err);
	if (sd->dns == NULL) {
		log_warn("shard %u: %s", sh->index, err);
		free(sd);
		return NULL;
	}
	sh->dns = sd;
	return sd->dns;
}

void
shard_dns_tick(struct shard *sh)
{
	if (sh->dns != NULL)
		dns_process(sh->dns->dns, -1, 0, 0);
}

int
shard_dns_idle(struct shard *sh)
{
	return sh->dns == NULL || (dns_pending(sh->dns->dns) == 0 && sh->dns->armed == 0);
}

void
shard_dns_free(struct shard *sh)
{
	if (sh->dns == NULL)
		return;
	dns_free(sh->dns->dns);
	free(sh->dns);
	sh->dns = NULL;
}
