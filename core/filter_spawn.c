/*
 * core/filter_spawn.c - a filter process asked of the delivery helper
 * (MDA_METHOD_FILTER) over the filter socket. See core/filter_spawn.h.
 */
#include "core/filter_spawn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mda_forward.h"
#include "core/mda_helper.h"
#include "core/mda_run.h"
#include "rules/filter.h"

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static int spawn_fd = -1;
static uint64_t spawn_next_id = 1;

void
filter_spawn_init(int fd)
{
	spawn_fd = fd;
}

void
filter_spawn_close(void)
{
	pthread_mutex_lock(&spawn_lock);
	if (spawn_fd >= 0)
		close(spawn_fd);
	spawn_fd = -1;
	pthread_mutex_unlock(&spawn_lock);
}

int
filter_spawn(const struct rules_proc *p, int *fd, pid_t *pid, char *why, size_t cap)
{
	struct mda_request r;
	struct mda_reply rep;
	int got = -1, ret = -1;

	memset(&r, 0, sizeof r);
	memset(&rep, 0, sizeof rep);
	r.version = MDA_PROTO_VERSION;
	r.method = MDA_METHOD_FILTER;
	snprintf(r.user, sizeof r.user, "%s", p->user[0] ? p->user : RINGMTA_USER);
	snprintf(r.group, sizeof r.group, "%s", p->group);
	snprintf(r.chroot, sizeof r.chroot, "%s", p->chroot);
	if (strlen(p->command) >= sizeof r.path) {
		snprintf(why, cap, "command too long");
		return -1;
	}
	snprintf(r.path, sizeof r.path, "%s", p->command);
	*fd = -1;
	pthread_mutex_lock(&spawn_lock);
	r.id = spawn_next_id++;
	if (mda_ask(spawn_fd, &r, &rep, &got, FILTER_SPAWN_WAIT_MS) == 0) {
		if (rep.status == MDA_OK && got >= 0) {
			*fd = got;
			*pid = (pid_t)strtol(rep.why, NULL, 10);
			ret = 0;
		} else if (got >= 0) {
			close(got);
		}
	}
	pthread_mutex_unlock(&spawn_lock);
	if (ret < 0)
		snprintf(why, cap, "%s", rep.why[0] ? rep.why : "the helper refused");
	return ret;
}
