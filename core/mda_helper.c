/*
 * core/mda_helper.c - the local-delivery helper process: reads requests from
 * the shards' sockets, forks a child per delivery that becomes the recipient
 * (groups, gid, uid — when the helper is root; or the uid, gid and home a
 * userbase gave) and runs core/mda_run.c,
 * then answers. The child answers itself on success or a delivery failure;
 * the helper answers for a child that died without a word. See
 * core/mda_helper.h.
 */
#include "core/mda_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mda_auth.h"
#include "core/mda_forward.h"
#include "core/mda_run.h"

#define MDA_EXIT_REPLIED 0
#define MDA_EXIT_NO_REPLY 3

struct mda_child {
	pid_t pid;
	int sock;
	uint64_t id;
};

static int
mda_str_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
mda_request_valid(const struct mda_request *r)
{
	if (r->version != MDA_PROTO_VERSION)
		return -1;
	if (r->method < MDA_METHOD_MAILDIR || r->method > MDA_METHOD_FILTER)
		return -1;
	if (!mda_str_ok(r->user, sizeof r->user) || r->user[0] == '\0' ||
	    !mda_str_ok(r->path, sizeof r->path) ||
	    (r->path[0] == '\0' && r->method != MDA_METHOD_FORWARD) ||
	    !mda_str_ok(r->sender, sizeof r->sender) || !mda_str_ok(r->rcpt, sizeof r->rcpt) ||
	    !mda_str_ok(r->dest, sizeof r->dest) || !mda_str_ok(r->hostname, sizeof r->hostname) ||
	    !mda_str_ok(r->group, sizeof r->group) || !mda_str_ok(r->chroot, sizeof r->chroot))
		return -1;
	if (r->method == MDA_METHOD_FILTER)
		return r->chroot[0] == '\0' || r->chroot[0] == '/' ? 0 : -1;
	if (r->method != MDA_METHOD_MDA && r->method != MDA_METHOD_FORWARD &&
	    r->method != MDA_METHOD_AUTH && r->path[0] != '/')
		return -1;   /* folders and mailboxes are absolute by now */
	if (r->junk > 1 || r->mail_group > 1)
		return -1;
	if (r->by_ids > 1 || (r->by_ids && (r->uid == 0 || r->gid == 0 || r->home[0] != '/' ||
	                                    !mda_str_ok(r->home, sizeof r->home))))
		return -1;   /* a userbase never makes root */
	return 0;
}

/* Answer request id; fd >= 0 goes with it (SCM_RIGHTS). */
static void
mda_reply_send_fd(int sock, uint64_t id, enum mda_status st, const char *why, int fd)
{
	struct mda_reply rep;
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(&rep, 0, sizeof rep);
	memset(cbuf, 0, sizeof cbuf);
	rep.version = MDA_PROTO_VERSION;
	rep.status = st;
	rep.id = id;
	snprintf(rep.why, sizeof rep.why, "%s", why);
	struct iovec iov = { &rep, sizeof rep };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		log_warn("delivery helper: reply: %s", strerror(errno));
}

static void
mda_reply_send(int sock, uint64_t id, enum mda_status st, const char *why)
{
	mda_reply_send_fd(sock, id, st, why, -1);
}

/* ~user/.forward as OpenSMTPD opens it: no symlink, a regular file owned
 * by the user and not group or world writable, in a home owned by the
 * user or root that is not group or world writable. Answered at once. */
static void
mda_forward(int sock, const struct mda_request *r)
{
	struct passwd pw, *res = NULL;
	char buf[4096], path[MDA_PATH_BYTES_MAX + 16];
	struct stat home, st;
	if (r->by_ids) {
		pw = (struct passwd){ .pw_uid = r->uid, .pw_dir = (char *)r->home };
	} else if (getpwnam_r(r->user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
		mda_reply_send(sock, r->id, MDA_PERMFAIL, "no such user");
		return;
	}
	if (stat(pw.pw_dir, &home) < 0) {
		mda_reply_send(sock, r->id, errno == ENOENT || errno == ENOTDIR ? MDA_OK : MDA_TEMPFAIL,
		               strerror(errno));
		return;
	}
	const char *bad = mda_forward_unsafe(NULL, &home, pw.pw_uid);
	if (bad != NULL) {
		mda_reply_send(sock, r->id, MDA_PERMFAIL, bad);
		return;
	}
	snprintf(path, sizeof path, "%s/.forward", pw.pw_dir);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		mda_reply_send(sock, r->id, e == ENOENT || e == ENOTDIR ? MDA_OK :
		                            e == ELOOP ? MDA_PERMFAIL : MDA_TEMPFAIL,
		               e == ELOOP ? "a symbolic link" : strerror(e));
		return;
	}
	bad = fstat(fd, &st) < 0 ? "cannot be examined" : mda_forward_unsafe(&st, NULL, pw.pw_uid);
	if (bad != NULL)
		mda_reply_send(sock, r->id, MDA_PERMFAIL, bad);
	else
		mda_reply_send_fd(sock, r->id, MDA_OK, "", fd);
	close(fd);
}

/* In the child: become the user (when root), deliver, answer. */
static void __attribute__((noreturn))
mda_child(int sock, int msg_fd, const struct mda_request *r)
{
	char why[MDA_WHY_BYTES_MAX] = "";
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (r->by_ids) {   /* a userbase user: no passwd entry, no other groups */
		pw = (struct passwd){ .pw_name = (char *)r->user, .pw_uid = r->uid,
		                      .pw_gid = r->gid, .pw_dir = (char *)r->home,
		                      .pw_shell = (char *)"/bin/sh" };
	} else if (getpwnam_r(r->user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
		mda_reply_send(sock, r->id, MDA_PERMFAIL, "no such local user");
		_exit(MDA_EXIT_REPLIED);
	}
	if (geteuid() == 0) {
		gid_t groups[64];
		int n = 64;
		if (r->by_ids || getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
			n = 1, groups[0] = pw.pw_gid;
		struct group *mail = r->method == MDA_METHOD_MBOX || r->mail_group
		                     ? getgrnam("mail") : NULL;
		if (mail != NULL && n < 64)
			groups[n++] = mail->gr_gid;   /* dot-locks in /var/mail */
		if (setgroups((size_t)n, groups) < 0 || setgid(pw.pw_gid) < 0 ||
		    setuid(pw.pw_uid) < 0 || (pw.pw_uid != 0 && setuid(0) == 0)) {
			mda_reply_send(sock, r->id, MDA_TEMPFAIL, "cannot become the recipient user");
			_exit(MDA_EXIT_REPLIED);
		}
	}
	umask(077);
	struct mda_env env = {
		.sender = r->sender, .rcpt = r->rcpt, .dest = r->dest, .user = pw.pw_name,
		.home = pw.pw_dir, .shell = pw.pw_shell, .hostname = r->hostname,
		.sub_addr_delim = r->sub_addr_delim,
		.result_fd = sock,
	};
	enum mda_status st = MDA_TEMPFAIL;
	switch (r->method) {
	case MDA_METHOD_MAILDIR:
		st = mda_run_maildir(msg_fd, r->path, (int)r->junk, &env, why, sizeof why);
		break;
	case MDA_METHOD_MBOX:
		st = mda_run_mbox(msg_fd, r->path, &env, why, sizeof why);
		break;
	case MDA_METHOD_MDA:
		st = mda_run_command(msg_fd, r->path, &env, why, sizeof why);
		break;
	}
	mda_reply_send(sock, r->id, st, why);
	_exit(MDA_EXIT_REPLIED);
}

/* A system user's password (MDA_METHOD_AUTH): checked by a child, so a
 * slow hash never holds up the helper's loop; the child answers. */
static void
mda_auth_fork(int sock, struct mda_request *r, struct mda_child *kids, unsigned *nkids)
{
	char why[MDA_WHY_BYTES_MAX] = "";
	pid_t pid = fork();

	if (pid == 0) {
		enum mda_status st = mda_auth_system(r->user, r->path, why, sizeof why);
		explicit_bzero(r->path, sizeof r->path);
		mda_reply_send(sock, r->id, st, why);
		_exit(MDA_EXIT_REPLIED);
	}
	explicit_bzero(r->path, sizeof r->path);
	if (pid < 0) {
		mda_reply_send(sock, r->id, MDA_TEMPFAIL, "cannot fork");
		return;
	}
	kids[(*nkids)++] = (struct mda_child){ pid, sock, r->id };
}

/* In a filter's child: become user and group (when root), enter chroot,
 * take the socket as stdin and stdout, run the command; never returns. */
static void __attribute__((noreturn))
mda_filter_child(int sock, const struct mda_request *r)
{
	struct passwd pw, *pres = NULL;
	struct group gr, *gres = NULL;
	char buf[4096], gbuf[4096];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);   /* the helper blocks SIGCHLD */
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (geteuid() == 0) {
		if (getpwnam_r(r->user, &pw, buf, sizeof buf, &pres) != 0 || pres == NULL) {
			log_warn("filter: no user %s", r->user);
			_exit(1);
		}
		gid_t gid = pw.pw_gid;
		if (r->group[0] != '\0') {
			if (getgrnam_r(r->group, &gr, gbuf, sizeof gbuf, &gres) != 0 || gres == NULL) {
				log_warn("filter: no group %s", r->group);
				_exit(1);
			}
			gid = gr.gr_gid;
		}
		if (r->chroot[0] != '\0' && (chroot(r->chroot) < 0 || chdir("/") < 0)) {
			log_warn("filter: chroot %s: %s", r->chroot, strerror(errno));
			_exit(1);
		}
		if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0 ||
		    (pw.pw_uid != 0 && setuid(0) == 0)) {
			log_warn("filter: cannot become %s", r->user);
			_exit(1);
		}
	}
	if (dup2(sock, 0) < 0 || dup2(sock, 1) < 0)
		_exit(1);
	execl("/bin/sh", "sh", "-c", r->path, (char *)NULL);
	log_warn("filter: /bin/sh: %s", strerror(errno));
	_exit(127);
}

/* MDA_METHOD_FILTER: a socket pair, a child on one end, the other end
 * and the pid back to smtpd. The helper's reaping collects the child. */
static void
mda_filter_start(int sock, const struct mda_request *r)
{
	char why[32];
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		mda_reply_send(sock, r->id, MDA_TEMPFAIL, strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		mda_filter_child(sv[1], r);
	}
	close(sv[1]);
	if (pid < 0) {
		mda_reply_send(sock, r->id, MDA_TEMPFAIL, "cannot fork a filter process");
		close(sv[0]);
		return;
	}
	snprintf(why, sizeof why, "%ld", (long)pid);
	mda_reply_send_fd(sock, r->id, MDA_OK, why, sv[0]);
	close(sv[0]);
}

/* Read one request from sock; start its child, or answer at once.
 * Returns -1 when smtpd closed the socket. */
static int
mda_accept(int sock, struct mda_child *kids, unsigned *nkids)
{
	struct mda_request r;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &r, sizeof r };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	                     .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		return -1;
	if (n < 0)
		return 0;
	int msg_fd = -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&msg_fd, CMSG_DATA(cm), sizeof msg_fd);
	if ((size_t)n == sizeof r && msg_fd < 0 && r.method == MDA_METHOD_FORWARD &&
	    !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && mda_request_valid(&r) == 0) {
		mda_forward(sock, &r);
		return 0;
	}
	if ((size_t)n == sizeof r && msg_fd < 0 && r.method == MDA_METHOD_FILTER &&
	    !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && mda_request_valid(&r) == 0) {
		mda_filter_start(sock, &r);
		return 0;
	}
	if ((size_t)n == sizeof r && msg_fd < 0 && r.method == MDA_METHOD_AUTH &&
	    !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && mda_request_valid(&r) == 0) {
		mda_auth_fork(sock, &r, kids, nkids);
		return 0;
	}
	if ((size_t)n != sizeof r || msg_fd < 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    r.method == MDA_METHOD_FORWARD || r.method == MDA_METHOD_AUTH ||
	    r.method == MDA_METHOD_FILTER ||
	    mda_request_valid(&r) < 0) {
		explicit_bzero(&r, sizeof r);
		log_warn("delivery helper: malformed request refused");
		mda_reply_send(sock, (size_t)n >= sizeof r.version + sizeof r.method + sizeof r.id ? r.id : 0,
		               MDA_PERMFAIL, "malformed delivery request");
		if (msg_fd >= 0)
			close(msg_fd);
		return 0;
	}
	pid_t pid = fork();
	if (pid == 0)
		mda_child(sock, msg_fd, &r);
	close(msg_fd);
	if (pid < 0) {
		mda_reply_send(sock, r.id, MDA_TEMPFAIL, "cannot fork a delivery process");
		return 0;
	}
	kids[(*nkids)++] = (struct mda_child){ pid, sock, r.id };
	return 0;
}

/* A child ended: answer for it if it could not. */
static void
mda_reap(struct mda_child *kids, unsigned *nkids)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < *nkids; i++) {
			if (kids[i].pid != pid)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != MDA_EXIT_REPLIED)
				mda_reply_send(kids[i].sock, kids[i].id, MDA_TEMPFAIL,
				               "delivery process died");
			kids[i] = kids[--*nkids];
			break;
		}
	}
}

static void __attribute__((noreturn))
mda_helper_main(int *socks, unsigned n)
{
	static struct mda_child kids[MDA_CHILDREN_MAX];
	unsigned nkids = 0;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	prctl(PR_SET_PDEATHSIG, SIGTERM);     /* smtpd gone: so is the helper */
	prctl(PR_SET_NAME, "smtpd-mda");
	struct pollfd pf[MDA_SOCKETS_MAX + 1];
	unsigned open_socks = n;
	for (;;) {
		unsigned np = 0;
		pf[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (unsigned i = 0; i < n; i++)
			pf[np++] = (struct pollfd){ .fd = socks[i],   /* -1: closed, ignored */
			                            .events = nkids < MDA_CHILDREN_MAX ? POLLIN : 0 };
		if (poll(pf, np, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) < 0 && errno != EAGAIN)
				_exit(1);
			mda_reap(kids, &nkids);
		}
		for (unsigned i = 1; i < np; i++) {
			int gone = 0;
			if ((pf[i].revents & POLLIN) && nkids < MDA_CHILDREN_MAX)
				gone = mda_accept(pf[i].fd, kids, &nkids) < 0;
			else if (pf[i].revents & (POLLHUP | POLLERR | POLLNVAL))
				gone = 1;
			if (gone && socks[i - 1] >= 0) {
				close(socks[i - 1]);
				socks[i - 1] = -1;
				if (--open_socks == 0)
					_exit(0);   /* smtpd closed every end: it is stopping */
			}
		}
	}
}

pid_t
mda_helper_start(unsigned nsockets, int *fds, char *err, size_t cap)
{
	int helper_ends[MDA_SOCKETS_MAX];
	if (nsockets == 0 || nsockets > MDA_SOCKETS_MAX) {
		snprintf(err, cap, "delivery helper: bad socket count %u", nsockets);
		return -1;
	}
	for (unsigned i = 0; i < nsockets; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			snprintf(err, cap, "delivery helper: socketpair: %s", strerror(errno));
			return -1;
		}
		fds[i] = sv[0];
		helper_ends[i] = sv[1];
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, cap, "delivery helper: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		for (unsigned i = 0; i < nsockets; i++)
			close(fds[i]);
		mda_helper_main(helper_ends, nsockets);
	}
	for (unsigned i = 0; i < nsockets; i++)
		close(helper_ends[i]);
	return pid;
}
