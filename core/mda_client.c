/*
 * core/mda_client.c - requests to the delivery helper from a shard: the
 * message rendered into a memfd, the request and the fd sent in one sendmsg
 * on the ring, the answer matched by id. See core/mda_client.h.
 */
#include "core/mda_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/log.h"
#include "core/maildir.h"
#include "core/mda_run.h"
#include "core/shard.h"
#include "queue/queue.h"
#include "rules/rules.h"

struct mda_job {
	struct list_head node;
	struct mda_client *m;
	struct core_op send_op;
	struct delivery_item *it;
	struct mda_request req;
	struct msghdr mh;
	struct iovec iov;
	char cbuf[CMSG_SPACE(sizeof(int))];
	int memfd;
	int sent;
};

struct mda_client {
	struct shard *sh;
	int fd;
	struct core_op recv_op;
	int receiving;
	struct mda_reply reply;
	struct list_head jobs;
	unsigned pending;
	uint64_t next_id;
};

static void mda_client_recv_complete(struct core_op *op, int res, unsigned flags);
static void mda_client_send_complete(struct core_op *op, int res, unsigned flags);

int
mda_client_init(struct shard *sh, int fd)
{
	struct mda_client *m = calloc(1, sizeof *m);
	if (m == NULL)
		return -ENOMEM;
	m->sh = sh;
	m->fd = fd;
	m->recv_op.complete = mda_client_recv_complete;
	m->next_id = 1;
	list_init(&m->jobs);
	sh->mda = m;
	return 0;
}

unsigned
mda_client_pending(struct shard *sh)
{
	return sh->mda ? sh->mda->pending : 0;
}

static void
mda_client_recv_arm(struct mda_client *m)
{
	if (m->receiving)
		return;
	struct io_uring_sqe *sqe = shard_sqe(m->sh);
	io_uring_prep_recv(sqe, m->fd, &m->reply, sizeof m->reply, 0);
	io_uring_sqe_set_data(sqe, &m->recv_op);
	m->receiving = 1;
}

static void
mda_job_finish(struct mda_client *m, struct mda_job *j, enum mda_status st, const char *why)
{
	list_del(&j->node);
	m->pending--;
	delivery_result(m->sh, j->it, st == MDA_OK ? DELIVERY_OK :
	                                st == MDA_PERMFAIL ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL,
	                why, j->req.user);
	if (j->memfd >= 0)
		close(j->memfd);
	if (j->sent)
		free(j);
	else
		j->it = NULL;   /* the send is still in flight: freed when it completes */
}

static void
mda_client_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct mda_client *m = container_of(op, struct mda_client, recv_op);
	m->receiving = 0;
	if (res == (int)sizeof m->reply && m->reply.version == MDA_PROTO_VERSION) {
		struct list_head *pos, *tmp;
		m->reply.why[sizeof m->reply.why - 1] = '\0';
		list_for_each_safe(pos, tmp, &m->jobs) {
			struct mda_job *j = container_of(pos, struct mda_job, node);
			if (j->req.id == m->reply.id) {
				mda_job_finish(m, j, (enum mda_status)m->reply.status, m->reply.why);
				break;
			}
		}
	} else if (res <= 0 && res != -EINTR && res != -EAGAIN) {
		/* the helper is gone: everything out fails for now */
		log_warn("delivery helper: %s", res == 0 ? "closed" : strerror(-res));
		while (!list_empty(&m->jobs))
			mda_job_finish(m, container_of(m->jobs.next, struct mda_job, node),
			               MDA_TEMPFAIL, "delivery helper unavailable");
		return;
	}
	if (m->pending > 0)
		mda_client_recv_arm(m);
}

/* The request went out (or not): the helper holds its own copy of the fd. */
static void
mda_client_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct mda_job *j = container_of(op, struct mda_job, send_op);
	j->sent = 1;
	if (j->memfd >= 0) {
		close(j->memfd);
		j->memfd = -1;
	}
	if (j->it == NULL) {   /* already answered: the helper went away */
		free(j);
		return;
	}
	if (res < 0)
		mda_job_finish(j->m, j, MDA_TEMPFAIL, "cannot reach the delivery helper");
}

/* The message as the mailbox gets it, in an anonymous file. */
static int
mda_client_memfd(struct shard *sh, const struct delivery_item *it)
{
	char *body = NULL, *out;
	size_t body_len = 0, out_len = 0;
	if (queue_body_read(sh->daemon->queue, (uint32_t)(it->env.id >> 32), it->env.body_size,
	                    &body, &body_len) < 0)
		return -EIO;
	out = maildir_render(it->env.sender, it->env.dest, body, body_len, &out_len);
	free(body);
	if (out == NULL)
		return -ENOMEM;
	int fd = memfd_create("ringmta-message", MFD_CLOEXEC);
	int ret = fd < 0 ? -errno : 0;
	for (size_t off = 0; ret == 0 && off < out_len;) {
		ssize_t n = write(fd, out + off, out_len - off);
		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	free(out);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

void
mda_client_deliver(struct shard *sh, struct delivery_item *it, enum mda_method method,
                   const char *user, const struct rules_userinfo *ui, const char *path,
                   int junk, int mail_group)
{
	struct mda_client *m = sh->mda;
	struct mda_job *j = m ? calloc(1, sizeof *j) : NULL;
	if (j == NULL) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL, "Error (no delivery helper)", NULL);
		return;
	}
	j->m = m;
	j->it = it;
	j->send_op.complete = mda_client_send_complete;
	j->memfd = mda_client_memfd(sh, it);
	struct mda_request *r = &j->req;
	r->version = MDA_PROTO_VERSION;
	r->method = method;
	r->id = m->next_id++;
	r->junk = (uint32_t)junk;
	r->mail_group = (uint32_t)(mail_group || method == MDA_METHOD_MBOX);
	snprintf(r->user, sizeof r->user, "%s", user);
	if (ui != NULL) {
		r->by_ids = 1;
		r->uid = ui->uid;
		r->gid = ui->gid;
		snprintf(r->home, sizeof r->home, "%s", ui->home);
	}
	snprintf(r->path, sizeof r->path, "%s", path);
	snprintf(r->sender, sizeof r->sender, "%s", it->env.sender);
	snprintf(r->rcpt, sizeof r->rcpt, "%s", it->env.rcpt);
	snprintf(r->dest, sizeof r->dest, "%s", it->env.dest);
	snprintf(r->hostname, sizeof r->hostname, "%s", sh->daemon->hostname);
	r->sub_addr_delim = sh->config->sub_addr_delim;
	list_add_tail(&m->jobs, &j->node);
	m->pending++;
	if (j->memfd < 0) {
		j->sent = 1;
		mda_job_finish(m, j, MDA_TEMPFAIL, "cannot read the message from the queue");
		return;
	}
	j->iov = (struct iovec){ r, sizeof *r };
	j->mh = (struct msghdr){ .msg_iov = &j->iov, .msg_iovlen = 1,
	                         .msg_control = j->cbuf, .msg_controllen = sizeof j->cbuf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&j->mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &j->memfd, sizeof(int));
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_sendmsg(sqe, m->fd, &j->mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &j->send_op);
	mda_client_recv_arm(m);
}

void
mda_client_free(struct shard *sh)
{
	struct mda_client *m = sh->mda;
	if (m == NULL)
		return;
	while (!list_empty(&m->jobs)) {
		struct mda_job *j = container_of(m->jobs.next, struct mda_job, node);
		list_del(&j->node);
		if (j->memfd >= 0)
			close(j->memfd);
		free(j->it);      /* still queued on disk */
		free(j);
	}
	close(m->fd);
	free(m);
	sh->mda = NULL;
}
