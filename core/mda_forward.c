/*
 * core/mda_forward.c - ~/.forward files opened by the delivery helper for
 * the threads that expand recipients: one request at a time over a
 * dedicated socket, answers matched by id (a late answer to a request
 * that timed out is read and dropped with its descriptor). See
 * core/mda_forward.h.
 */
#include "core/mda_forward.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/mda_helper.h"
#include "core/mda_run.h"
#include "rules/rules.h"

static pthread_mutex_t forward_lock = PTHREAD_MUTEX_INITIALIZER;
static int forward_fd = -1;
static uint64_t forward_next_id = 1;

const char *
mda_forward_unsafe(const struct stat *file, const struct stat *home, uid_t uid)
{
	if (file != NULL && !S_ISREG(file->st_mode))
		return "not a regular file";
	if (file != NULL && file->st_uid != uid)
		return "not owned by the user";
	if (file != NULL && (file->st_mode & 022))
		return "group or world writable";
	if (home != NULL && home->st_uid != uid && home->st_uid != 0)
		return "home not owned by the user";
	if (home != NULL && (home->st_mode & 022))
		return "home group or world writable";
	return NULL;
}

void
mda_forward_init(int fd)
{
	forward_fd = fd;
}

void
mda_forward_close(void)
{
	pthread_mutex_lock(&forward_lock);
	if (forward_fd >= 0)
		close(forward_fd);
	forward_fd = -1;
	pthread_mutex_unlock(&forward_lock);
}

static long
forward_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One answer from the helper on sock into rep, its descriptor (or -1) in
 * *fd; 0, or -1 on timeout or a broken socket. */
static int
forward_receive(int sock, struct mda_reply *rep, int *fd, long deadline_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { rep, sizeof *rep };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	                     .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	long left = deadline_ms - forward_now_ms();
	if (left <= 0 || poll(&p, 1, (int)left) <= 0)
		return -1;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n <= 0)
		return -1;
	*fd = -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	if ((size_t)n != sizeof *rep || rep->version != MDA_PROTO_VERSION) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		rep->id = 0;   /* not an answer to anything: read on */
	}
	rep->why[sizeof rep->why - 1] = '\0';
	return 0;
}

/* See mda_forward.h. */
int
mda_ask(int sock, const struct mda_request *r, struct mda_reply *rep, int *fd, long wait_ms)
{
	*fd = -1;
	if (sock < 0) {
		snprintf(rep->why, sizeof rep->why, "no delivery helper");
		return -1;
	}
	if (send(sock, r, sizeof *r, MSG_NOSIGNAL) != (ssize_t)sizeof *r) {
		snprintf(rep->why, sizeof rep->why, "delivery helper: %s", strerror(errno));
		return -1;
	}
	long deadline = forward_now_ms() + wait_ms;
	int got;
	while (forward_receive(sock, rep, &got, deadline) == 0) {
		if (rep->id == r->id) {
			*fd = got;
			return 0;
		}
		if (got >= 0)   /* late, for a request that gave up */
			close(got);
	}
	snprintf(rep->why, sizeof rep->why, "delivery helper did not answer in %ld ms", wait_ms);
	return -1;
}

int
mda_forward_open(const char *user, const struct rules_userinfo *ui, int *fd, char *why,
                 size_t cap)
{
	struct mda_request r;
	struct mda_reply rep;
	int got, ret = -1;

	memset(&r, 0, sizeof r);
	r.version = MDA_PROTO_VERSION;
	r.method = MDA_METHOD_FORWARD;
	snprintf(r.user, sizeof r.user, "%s", user);
	if (ui != NULL) {
		r.by_ids = 1;
		r.uid = ui->uid;
		r.gid = ui->gid;
		snprintf(r.home, sizeof r.home, "%s", ui->home);
	}
	*fd = -1;
	pthread_mutex_lock(&forward_lock);
	r.id = forward_next_id++;
	if (mda_ask(forward_fd, &r, &rep, &got, MDA_FORWARD_WAIT_MS) == 0) {
		if (rep.status == MDA_OK) {
			*fd = got;
			ret = got >= 0 ? 1 : 0;
		} else {
			if (got >= 0)
				close(got);
			ret = rep.status == MDA_PERMFAIL ? 2 : -1;
		}
	}
	pthread_mutex_unlock(&forward_lock);
	snprintf(why, cap, "%s", rep.why);
	return ret;
}
