/*
 * core/maildir.c - maildir delivery as a chain of ring operations:
 * openat(tmp/NAME) -> write... -> fsync -> close -> renameat(new/NAME) ->
 * openat(new/) -> fsync -> close. Folders are created (mkdir -p) the first
 * time an openat says ENOENT. See core/maildir.h.
 */
#include "core/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/log.h"
#include "core/mda_run.h"
#include "core/shard.h"
#include "queue/queue.h"
#include "rules/rules.h"

enum maildir_step {
	MAILDIR_OPEN,
	MAILDIR_WRITE,
	MAILDIR_FSYNC,
	MAILDIR_CLOSE,
	MAILDIR_RENAME,
	MAILDIR_DIR_OPEN,
	MAILDIR_DIR_FSYNC,
	MAILDIR_DIR_CLOSE,
};

struct maildir_job {
	struct core_op op;
	struct shard *sh;
	struct delivery_item *it;
	enum maildir_step step;
	int fd;
	int made_dirs;
	char *data;
	size_t len, off;
	char dir[RULES_PATH_BYTES_MAX];
	char tmp_path[RULES_PATH_BYTES_MAX + 128];
	char new_path[RULES_PATH_BYTES_MAX + 128];
	char new_dir[RULES_PATH_BYTES_MAX + 8];
};

static atomic_uint_fast64_t maildir_counter;

char *
maildir_render(const char *sender, const char *rcpt, const char *body, size_t body_len,
               size_t *out_len)
{
	size_t head = strlen(sender) + strlen(rcpt) + 64;
	char *out = malloc(head + body_len + 1);
	if (out == NULL)
		return NULL;
	size_t n = (size_t)snprintf(out, head, "Return-Path: <%s>\nDelivered-To: %s\n",
	                            sender, rcpt);
	for (size_t i = 0; i < body_len; i++) {
		if (body[i] == '\r' && i + 1 < body_len && body[i + 1] == '\n')
			continue;
		out[n++] = body[i];
	}
	*out_len = n;
	return out;
}

/* mkdir -p dir, then dir/tmp, dir/new, dir/cur. Returns 0 or -errno. */
static int
maildir_make_dirs(const char *dir)
{
	char path[RULES_PATH_BYTES_MAX + 8];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	static const char *const sub[] = { "tmp", "new", "cur" };
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, sub[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

static void
maildir_finish(struct maildir_job *j, enum delivery_status st, const char *stat)
{
	struct shard *sh = j->sh;
	if (j->fd >= 0)
		close(j->fd);
	if (st != DELIVERY_OK && j->step >= MAILDIR_WRITE && j->step <= MAILDIR_RENAME)
		unlink(j->tmp_path);
	sh->maildir_inflight--;
	delivery_result(sh, j->it, st, stat, sh->daemon->user_name);
	free(j->data);
	free(j);
}

static void
maildir_fail(struct maildir_job *j, const char *what, int err)
{
	char stat[QUEUE_ERROR_BYTES_MAX];
	snprintf(stat, sizeof stat, "Error (%s %s: %s)", what, j->dir, strerror(err));
	maildir_finish(j, DELIVERY_TEMPFAIL, stat);
}

/* Queue the SQE for the job's current step. */
static void
maildir_submit(struct maildir_job *j)
{
	struct io_uring_sqe *sqe = shard_sqe(j->sh);
	switch (j->step) {
	case MAILDIR_OPEN:
		io_uring_prep_openat(sqe, AT_FDCWD, j->tmp_path,
		                     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		break;
	case MAILDIR_WRITE:
		io_uring_prep_write(sqe, j->fd, j->data + j->off, (unsigned)(j->len - j->off),
		                    (uint64_t)j->off);
		break;
	case MAILDIR_FSYNC:
	case MAILDIR_DIR_FSYNC:
		io_uring_prep_fsync(sqe, j->fd, 0);
		break;
	case MAILDIR_CLOSE:
	case MAILDIR_DIR_CLOSE:
		io_uring_prep_close(sqe, j->fd);
		break;
	case MAILDIR_RENAME:
		io_uring_prep_renameat(sqe, AT_FDCWD, j->tmp_path, AT_FDCWD, j->new_path, 0);
		break;
	case MAILDIR_DIR_OPEN:
		io_uring_prep_openat(sqe, AT_FDCWD, j->new_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		break;
	}
	io_uring_sqe_set_data(sqe, &j->op);
}

/* One step finished: check it and move on. */
static void
maildir_complete(struct core_op *op, int res, unsigned flags)
{
	struct maildir_job *j = container_of(op, struct maildir_job, op);
	static const char *const names[] = { "open", "write", "fsync", "close", "rename",
	                                     "open", "fsync", "close" };
	if (res == -EINTR || res == -EAGAIN) {
		maildir_submit(j);
		return;
	}
	if (res == -ENOENT && j->step == MAILDIR_OPEN && !j->made_dirs) {
		j->made_dirs = 1;
		int ret = maildir_make_dirs(j->dir);
		if (ret < 0) {
			maildir_fail(j, "mkdir", -ret);
			return;
		}
		maildir_submit(j);
		return;
	}
	if (res < 0) {
		maildir_fail(j, names[j->step], -res);
		return;
	}
	switch (j->step) {
	case MAILDIR_OPEN:
	case MAILDIR_DIR_OPEN:
		j->fd = res;
		break;
	case MAILDIR_WRITE:
		j->off += (size_t)res;
		if (res == 0) {
			maildir_fail(j, "write", EIO);
			return;
		}
		if (j->off < j->len) {
			maildir_submit(j);
			return;
		}
		break;
	case MAILDIR_CLOSE:
	case MAILDIR_DIR_CLOSE:
		j->fd = -1;
		break;
	default:
		break;
	}
	if (j->step == MAILDIR_DIR_CLOSE) {
		maildir_finish(j, DELIVERY_OK, "Delivered");
		return;
	}
	j->step++;
	maildir_submit(j);
}

/* Work out the folder (its .Junk for junk) and the unique names:
 * time.MusecPpidQn.host. */
static int
maildir_paths(struct maildir_job *j, const struct rules_action *a, int junk)
{
	struct rules_expand_ctx ctx = {
		.sender = j->it->env.sender,
		.rcpt = j->it->env.rcpt,
		.dest = j->it->env.dest,
		.user_name = j->sh->daemon->user_name,
		.user_home = j->sh->daemon->user_home,
		.sub_addr_delim = j->sh->config->sub_addr_delim,
	};
	const char *tmpl = a->path[0] ? a->path : "~/Maildir";
	if (rules_expand(tmpl, &ctx, j->dir, sizeof j->dir) < 0)
		return -1;
	if (junk && strlen(j->dir) + sizeof "/.Junk" > sizeof j->dir)
		return -1;
	if (junk)
		strcat(j->dir, "/.Junk");
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned long long q = atomic_fetch_add(&maildir_counter, 1);
	char name[256];
	snprintf(name, sizeof name, "%lld.M%ldP%dQ%llu.%s,S=%zu", (long long)tv.tv_sec,
	         (long)tv.tv_usec, (int)getpid(), q, j->sh->daemon->hostname, j->len);
	snprintf(j->tmp_path, sizeof j->tmp_path, "%s/tmp/%s", j->dir, name);
	snprintf(j->new_path, sizeof j->new_path, "%s/new/%s", j->dir, name);
	snprintf(j->new_dir, sizeof j->new_dir, "%s/new", j->dir);
	return 0;
}

void
maildir_deliver(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	struct maildir_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL, "Error (out of memory)", NULL);
		return;
	}
	j->sh = sh;
	j->it = it;
	j->fd = -1;
	j->op.complete = maildir_complete;
	sh->maildir_inflight++;
	char *body = NULL;
	size_t body_len = 0;
	int ret = queue_body_read(sh->daemon->queue, (uint32_t)(it->env.id >> 32),
	                          it->env.body_size, &body, &body_len);
	if (ret < 0) {
		maildir_fail(j, "queue read", -ret);
		return;
	}
	j->data = maildir_render(it->env.sender, it->env.dest, body, body_len, &j->len);
	free(body);
	if (j->data == NULL) {
		maildir_fail(j, "render", ENOMEM);
		return;
	}
	if (maildir_paths(j, a, a->junk && mda_header_is_junk(j->data, j->len)) < 0) {
		maildir_finish(j, DELIVERY_PERMFAIL, "Error (maildir path does not expand)");
		return;
	}
	j->step = MAILDIR_OPEN;
	maildir_submit(j);
}
