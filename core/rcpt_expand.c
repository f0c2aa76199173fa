/*
 * core/rcpt_expand.c - a recipient's deliveries before the 250 (see
 * core/rcpt_expand.h): rules_aliases_expand() with this machine's answers.
 * A local user is one of the action's userbase, else a system user
 * (getpwnam) when smtpd runs as root and the action names no `user`;
 * otherwise every local part is delivered as the action's or the daemon's
 * own user. :include: files are read whole
 * (regular files, at most RCPT_FILE_BYTES_MAX, rules_read_regular()). ~/.forward is read as
 * OpenSMTPD reads it: a regular file (no symlink) owned by the user, in a
 * home owned by the user or root, neither group nor world writable; one
 * that fails a check is ignored with a warning; one the daemon's user may
 * not open (a home closed to others) is opened by the delivery helper
 * (core/mda_forward.c), and when that fails the recipient is answered 451.
 */
#include "core/rcpt_expand.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/mda_forward.h"
#include "core/trace.h"

#define RCPT_FILE_BYTES_MAX (1u << 20)     /* an :include: file */
#define RCPT_FORWARD_BYTES_MAX (64u << 10) /* a ~/.forward */

struct rcpt_ctx {
	const struct daemon *d;
	const struct rcpt_matcher *m;
};

static enum rules_verdict
rcpt_match(void *arg, const char *rcpt, const struct rules_action **action, unsigned *line)
{
	const struct rcpt_ctx *x = arg;
	return x->m->match(x->m->arg, rcpt, action, line);
}

/* 1 when deliveries under a go to system users, looked up by name. */
static int
rcpt_system_users(const struct daemon *d, const struct rules_action *a)
{
	return d->privileged && a->user[0] == '\0';
}

static int
rcpt_user_exists(void *arg, const struct rules_action *a, const char *user)
{
	const struct rcpt_ctx *x = arg;
	struct passwd pw, *res = NULL;
	struct rules_userinfo ui;
	char buf[4096];

	if (a->userbase != NULL) {   /* its users, whoever runs smtpd */
		int r = rules_userinfo_lookup(a, user, &ui);
		if (r < 0)
			log_warn("userbase entry for %s is not uid:gid:/home", user);
		return r;
	}
	if (!rcpt_system_users(x->d, a))
		return 1;
	int e = getpwnam_r(user, &pw, buf, sizeof buf, &res);
	if (res != NULL)
		return 1;
	/* not found is 0 with NULL, or one of these errors (getpwnam_r(3)) */
	return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM ? 0 : -1;
}

/* buf (size bytes, from rules_read_*()) as a NUL-terminated text in
 * *text; 0, or -1 with errno (EILSEQ: it holds a NUL byte). Frees buf. */
static int
rcpt_text(uint8_t *buf, size_t size, char **text)
{
	char *t = realloc(buf, size + 1);
	if (t == NULL) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	t[size] = '\0';
	if (memchr(t, '\0', size) != NULL) {
		free(t);
		errno = EILSEQ;
		return -1;
	}
	*text = t;
	return 0;
}

/* Why a file read by rcpt_text() and rules_read_*() failed with e. */
static const char *
rcpt_read_error(int e)
{
	return e == EILSEQ ? "it holds a NUL byte" : rules_open_error(e);
}

static int
rcpt_read_include(void *arg, const char *path, char **text)
{
	uint8_t *buf;
	size_t size;
	(void)arg;
	if (rules_read_regular(path, RCPT_FILE_BYTES_MAX, &buf, &size) < 0 ||
	    rcpt_text(buf, size, text) < 0) {
		log_warn("alias :include: file %s cannot be read: %s", path, rcpt_read_error(errno));
		return -1;
	}
	return 0;
}

static int
rcpt_read_forward(void *arg, const struct rules_action *a, const char *user, char **text)
{
	const struct rcpt_ctx *x = arg;
	struct passwd pw, *res = NULL;
	struct rules_userinfo ui;
	char buf[4096], path[4200];
	struct stat home, st;

	if (!rcpt_system_users(x->d, a))
		return 0;
	if (a->userbase != NULL) {
		if (rules_userinfo_lookup(a, user, &ui) <= 0)
			return -1;
		pw = (struct passwd){ .pw_name = (char *)user, .pw_uid = ui.uid, .pw_dir = ui.home };
	} else if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
		return -1;
	}
	snprintf(path, sizeof path, "%s/.forward", pw.pw_dir);
	int fd = -1, home_seen = stat(pw.pw_dir, &home) == 0;
	if (!home_seen && errno != EACCES)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (home_seen)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (!home_seen || (fd < 0 && errno == EACCES)) {
		/* a home closed to us: the helper opens it, and checks the home */
		home_seen = 0;
		char why[256];
		int r = mda_forward_open(user, a->userbase ? &ui : NULL, &fd, why, sizeof why);
		if (r == 0)
			return 0;
		if (r == 2) {
			log_warn("%s ignored: %s", path, why);
			return 0;
		}
		if (r < 0) {
			log_warn("%s cannot be read: %s", path, why);
			return -1;   /* 451: never delivered as if it did not exist */
		}
	} else if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		log_warn("%s ignored: %s", path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	const char *bad = mda_forward_unsafe(&st, home_seen ? &home : NULL, pw.pw_uid);
	if (bad != NULL) {
		log_warn("%s ignored: %s", path, bad);
		close(fd);
		return 0;
	}
	uint8_t *raw;
	size_t size;
	int ret = rules_read_fd(fd, RCPT_FORWARD_BYTES_MAX, &raw, &size);
	close(fd);
	if (ret < 0 || rcpt_text(raw, size, text) < 0) {
		log_warn("%s ignored: %s", path, rcpt_read_error(errno));
		return 0;
	}
	return 1;
}

/* Append one delivery unless the list has it; 1 added, 0 there, -1 memory. */
static int
rcpt_list_add(struct rcpt_list *list, const struct rcpt_delivery *r)
{
	for (unsigned i = 0; i < list->n; i++) {
		const struct rcpt_delivery *o = &list->v[i];
		if (o->mda_kind == r->mda_kind && strcmp(o->action, r->action) == 0 &&
		    strcmp(o->mda_user, r->mda_user) == 0 && strcmp(o->mda_exec, r->mda_exec) == 0 &&
		    (r->mda_user[0] != '\0' || r->mda_exec[0] != '\0' ||
		     strcasecmp(o->dest, r->dest) == 0))
			return 0;
	}
	if (list->n == list->cap) {
		unsigned cap = list->cap ? list->cap * 2 : 8;
		struct rcpt_delivery *v = realloc(list->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n++] = *r;
	return 1;
}

/* Append the delivery of rcpt to dest by action a (kind, user and exec
 * from an expansion); as rcpt_list_add(). */
static int
rcpt_add(struct rcpt_list *list, const char *rcpt, const char *dest,
         const struct rules_action *a, uint8_t kind, const char *user, const char *exec,
         uint8_t dsn_notify, const char *dsn_orcpt)
{
	struct rcpt_delivery r;

	memset(&r, 0, sizeof r);
	snprintf(r.addr, sizeof r.addr, "%s", rcpt);
	snprintf(r.dest, sizeof r.dest, "%s", dest);
	snprintf(r.action, sizeof r.action, "%s", a->name);
	r.ttl_s = a->ttl_s;
	r.mda_kind = kind;
	snprintf(r.mda_user, sizeof r.mda_user, "%s", user);
	snprintf(r.mda_exec, sizeof r.mda_exec, "%s", exec);
	r.dsn_notify = dsn_notify;
	snprintf(r.dsn_orcpt, sizeof r.dsn_orcpt, "%s", dsn_orcpt ? dsn_orcpt : "");
	return rcpt_list_add(list, &r);
}

static void
rcpt_out_of_memory(struct rules_alias_result *res)
{
	res->code = 452;
	snprintf(res->status, sizeof res->status, "4.3.1");
	snprintf(res->text, sizeof res->text, "Insufficient system resources");
	snprintf(res->why, sizeof res->why, "out of memory");
}

int
rcpt_expand(const struct daemon *d, const struct rules_config *c, const char *rcpt,
            const struct rules_action *a, const struct rcpt_matcher *m, uint8_t dsn_notify,
            const char *dsn_orcpt, struct rcpt_list *list, struct rules_alias_result *res)
{
	struct rcpt_ctx x = { .d = d, .m = m };
	struct rules_alias_ops ops = {
		.arg = &x, .match = rcpt_match, .user_exists = rcpt_user_exists,
		.read_include = rcpt_read_include,
		.read_forward = d->privileged ? rcpt_read_forward : NULL,
	};

	if (!rules_action_expands(a, d->privileged)) {   /* relayed, or one user for all */
		int ret = rcpt_add(list, rcpt, rcpt, a, QUEUE_MDA_ACTION, "", "", dsn_notify,
		                   dsn_orcpt);
		if (ret < 0)
			rcpt_out_of_memory(res);
		return ret;
	}
	if (rules_aliases_expand(c, rcpt, a, &ops, res) < 0) {
		TRACE(CTL_TRACE_EXPAND, "trace expand: <%s> action=%s refused: %u %s (%s)", rcpt,
		      a->name, res->code, res->text, res->why);
		return -1;
	}
	int added = 0;
	for (unsigned i = 0; i < res->ndests; i++) {
		const struct rules_dest *dd = &res->dests[i];
		TRACE(CTL_TRACE_EXPAND, "trace expand: <%s> -> %s%s%s action=%s user=%s", rcpt,
		      dd->kind == RULES_DEST_FILE ? "file " : dd->kind == RULES_DEST_COMMAND ?
		      "command " : "", dd->kind == RULES_DEST_COMMAND ? dd->exec : dd->address,
		      "", dd->action != NULL ? dd->action->name : "-", dd->user);
		uint8_t kind = dd->kind == RULES_DEST_FILE ? QUEUE_MDA_FILE :
		               dd->kind == RULES_DEST_COMMAND ? QUEUE_MDA_COMMAND : QUEUE_MDA_ACTION;
		int ret = rcpt_add(list, rcpt, dd->address, dd->action, kind, dd->user, dd->exec,
		                   dsn_notify, dsn_orcpt);
		if (ret < 0) {
			list->n -= (unsigned)added;   /* none of this recipient's stay */
			rules_alias_result_free(res);
			rcpt_out_of_memory(res);
			return -1;
		}
		added += ret;
	}
	rules_alias_result_free(res);
	return added;
}

void
rcpt_delivery_apply(const struct rcpt_delivery *r, struct queue_envelope *e)
{
	snprintf(e->rcpt, sizeof e->rcpt, "%s", r->addr);
	snprintf(e->dest, sizeof e->dest, "%s", r->dest);
	e->mda_kind = r->mda_kind;
	memcpy(e->mda_user, r->mda_user, sizeof e->mda_user);
	memcpy(e->mda_exec, r->mda_exec, sizeof e->mda_exec);
	e->dsn_notify = r->dsn_notify;
	memcpy(e->dsn_orcpt, r->dsn_orcpt, sizeof e->dsn_orcpt);
}

void
rcpt_list_free(struct rcpt_list *list)
{
	free(list->v);
	memset(list, 0, sizeof *list);
}
