/*
 * core/mda_run.c - maildir, mbox and mda deliveries, run in a child of the
 * delivery helper as the recipient's user. Blocking I/O is fine here: this
 * process does one delivery and exits. See core/mda_run.h.
 */
#include "core/mda_run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MDA_COMMAND_S_MAX 300     /* an mda command that takes longer is killed */
#define MDA_IO_BYTES 65536

static enum mda_status
mda_fail(char *why, size_t cap, enum mda_status st, const char *what, const char *path, int err)
{
	snprintf(why, cap, "%s %s: %s", what, path, strerror(err));
	return st;
}

/* mkdir -p path with mode 0700. */
static int
mda_mkdirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Copy the whole message from msg_fd to out; returns 0 or -errno. */
static int
mda_copy(int msg_fd, int out)
{
	char buf[MDA_IO_BYTES];
	if (lseek(msg_fd, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(msg_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

int
mda_header_is_junk(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;
	while (p < end && *p != '\n') {          /* an empty line ends the header */
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end;
		if (stop - p >= 7 && strncasecmp(p, "X-Spam:", 7) == 0) {
			const char *v = p + 7;
			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			if (stop - v >= 3 && strncasecmp(v, "yes", 3) == 0)
				return 1;
		}
		p = eol ? eol + 1 : end;
	}
	return 0;
}

/* Is "X-Spam: yes" among the header lines of the message in msg_fd? */
static int
mda_is_junk(int msg_fd)
{
	char buf[MDA_IO_BYTES];
	ssize_t n = pread(msg_fd, buf, sizeof buf, 0);
	return n > 0 && mda_header_is_junk(buf, (size_t)n);
}

/* Can the result still be recorded? No once smtpd's end of the result
 * socket is closed (it was killed): a delivery made now would be made again
 * by the next smtpd. Checked right before a delivery becomes visible; fills
 * why when not. */
static int
mda_result_wanted(const struct mda_env *env, char *why, size_t cap)
{
	struct pollfd p = { .fd = env->result_fd, .events = POLLRDHUP };
	if (env->result_fd < 0 || poll(&p, 1, 0) <= 0 ||
	    !(p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		return 1;
	snprintf(why, cap, "smtpd is gone: delivery abandoned, made again later");
	return 0;
}

enum mda_status
mda_run_maildir(int msg_fd, const char *dir_in, int junk, const struct mda_env *env,
                char *why, size_t cap)
{
	char dir[4096], path[4200], tmp[4400], new_path[4400];
	snprintf(dir, sizeof dir, "%s%s", dir_in, junk && mda_is_junk(msg_fd) ? "/.Junk" : "");
	static const char *const sub[] = { "tmp", "new", "cur" };
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, sub[i]);
		if (mda_mkdirs(path) < 0)
			return mda_fail(why, cap, MDA_TEMPFAIL, "mkdir", path, errno);
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct stat st;
	fstat(msg_fd, &st);
	char name[512];
	snprintf(name, sizeof name, "%lld.M%ldP%dQ0.%s,S=%lld", (long long)tv.tv_sec,
	         (long)tv.tv_usec, (int)getpid(), env->hostname, (long long)st.st_size);
	snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, name);
	snprintf(new_path, sizeof new_path, "%s/new/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return mda_fail(why, cap, MDA_TEMPFAIL, "open", tmp, errno);
	int ret = mda_copy(msg_fd, fd);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && !mda_result_wanted(env, why, cap)) {
		unlink(tmp);
		return MDA_TEMPFAIL;
	}
	if (ret == 0 && rename(tmp, new_path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return mda_fail(why, cap, MDA_TEMPFAIL, "write", tmp, -ret);
	}
	snprintf(path, sizeof path, "%s/new", dir);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	snprintf(why, cap, "Delivered");
	return MDA_OK;
}

/* Take path.lock (O_EXCL), retrying until the deadline; a lock older than
 * the wait is stale and removed. Returns 0, 1 when dot-locking is not
 * possible here (no write access to the folder), or -1 on timeout. */
static int
mda_dotlock(const char *lock, time_t deadline)
{
	for (;;) {
		int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 1;
		if (errno != EEXIST)
			return -1;
		struct stat st;
		if (stat(lock, &st) == 0 && time(NULL) - st.st_mtime > MDA_LOCK_WAIT_S * 10)
			unlink(lock);
		if (time(NULL) >= deadline)
			return -1;
		usleep(100000);
	}
}

/* Write message lines with >From quoting, then a blank line. */
static int
mda_mbox_body(int msg_fd, FILE *out)
{
	char line[8192];
	if (lseek(msg_fd, 0, SEEK_SET) < 0)
		return -errno;
	FILE *in = fdopen(dup(msg_fd), "r");
	if (in == NULL)
		return -errno;
	int at_start = 1, last_nl = 1;
	while (fgets(line, sizeof line, in) != NULL) {
		size_t n = strlen(line);
		if (at_start) {
			const char *p = line;
			while (*p == '>')
				p++;
			if (strncmp(p, "From ", 5) == 0)
				fputc('>', out);
		}
		fwrite(line, 1, n, out);
		at_start = line[n - 1] == '\n';
		last_nl = at_start;
	}
	int err = ferror(in) ? -EIO : 0;
	fclose(in);
	if (!last_nl)
		fputc('\n', out);
	fputc('\n', out);
	return err;
}

enum mda_status
mda_run_mbox(int msg_fd, const char *path, const struct mda_env *env, char *why, size_t cap)
{
	char lock[4200];
	snprintf(lock, sizeof lock, "%s.lock", path);
	time_t deadline = time(NULL) + MDA_LOCK_WAIT_S;
	int dot = mda_dotlock(lock, deadline);
	if (dot < 0)
		return mda_fail(why, cap, MDA_TEMPFAIL, "lock", lock, errno ? errno : ETIMEDOUT);
	enum mda_status st = MDA_TEMPFAIL;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat sb;
	if (fd < 0) {
		st = mda_fail(why, cap, MDA_TEMPFAIL, "open", path, errno);
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    sb.st_nlink != 1) {
		snprintf(why, cap, "%s is not a regular file owned by %s", path, env->user);
		goto out;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	while (fcntl(fd, F_SETLK, &fl) < 0) {
		if (time(NULL) >= deadline) {
			st = mda_fail(why, cap, MDA_TEMPFAIL, "fcntl lock", path, errno);
			goto out;
		}
		usleep(100000);
	}
	if (!mda_result_wanted(env, why, cap))
		goto out;
	off_t before = lseek(fd, 0, SEEK_END);
	FILE *out = fdopen(dup(fd), "a");
	if (out == NULL) {
		st = mda_fail(why, cap, MDA_TEMPFAIL, "fdopen", path, errno);
		goto out;
	}
	time_t now = time(NULL);
	char date[64];
	ctime_r(&now, date);
	date[strcspn(date, "\n")] = '\0';
	fprintf(out, "From %s %s\n", env->sender[0] ? env->sender : "MAILER-DAEMON", date);
	int ret = mda_mbox_body(msg_fd, out);
	if (fflush(out) != 0 && ret == 0)
		ret = -errno;
	if (fclose(out) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret < 0) {
		/* roll back: the mailbox ends where it ended before */
		if (ftruncate(fd, before) < 0)
			snprintf(why, cap, "write %s: %s; and it could not be cut back",
			         path, strerror(-ret));
		else
			mda_fail(why, cap, MDA_TEMPFAIL, "write", path, -ret);
		goto out;
	}
	st = MDA_OK;
	snprintf(why, cap, "Delivered");
out:
	if (fd >= 0)
		close(fd);
	if (dot == 0)
		unlink(lock);
	return st;
}

/* Set one variable of the command's environment. */
static void
mda_setenv(const char *name, const char *value)
{
	setenv(name, value ? value : "", 1);
}

/* In the command's child: environment, stdin, stdout, then the shell. */
static void
mda_exec(int msg_fd, int out_fd, const char *command, const struct mda_env *env)
{
	char local[512], ext[512], domain[512];
	const char *at = strrchr(env->dest, '@');
	size_t llen = at ? (size_t)(at - env->dest) : strlen(env->dest);
	snprintf(local, sizeof local, "%.*s", (int)llen, env->dest);
	snprintf(domain, sizeof domain, "%s", at ? at + 1 : "");
	char *plus = strchr(local, env->sub_addr_delim ? env->sub_addr_delim : '+');
	snprintf(ext, sizeof ext, "%s", plus ? plus + 1 : "");
	clearenv();
	mda_setenv("DOMAIN", domain);
	mda_setenv("EXTENSION", ext);
	mda_setenv("HOME", env->home);
	mda_setenv("LOCAL", local);
	mda_setenv("LOGNAME", env->user);
	mda_setenv("ORIGINAL_RECIPIENT", env->rcpt);
	mda_setenv("PATH", "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin");
	mda_setenv("RECIPIENT", env->dest);
	mda_setenv("SENDER", env->sender);
	mda_setenv("SHELL", env->shell && env->shell[0] ? env->shell : "/bin/sh");
	mda_setenv("USER", env->user);
	if (lseek(msg_fd, 0, SEEK_SET) < 0 || dup2(msg_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(out_fd, 2) < 0)
		_exit(75);
	if (env->home && chdir(env->home) < 0 && chdir("/") < 0)
		_exit(75);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(75);
}

enum mda_status
mda_run_command(int msg_fd, const char *command, const struct mda_env *env, char *why,
                size_t cap)
{
	int p[2];
	if (!mda_result_wanted(env, why, cap))
		return MDA_TEMPFAIL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return mda_fail(why, cap, MDA_TEMPFAIL, "pipe for", "mda", errno);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return mda_fail(why, cap, MDA_TEMPFAIL, "fork for", "mda", errno);
	}
	if (pid == 0)
		mda_exec(msg_fd, p[1], command, env);
	close(p[1]);
	char first[MDA_WHY_BYTES_MAX] = "";
	size_t have = 0;
	time_t deadline = time(NULL) + MDA_COMMAND_S_MAX;
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int left = (int)(deadline - time(NULL));
		if (left <= 0 || poll(&pf, 1, left * 1000) == 0) {
			kill(pid, SIGKILL);
			snprintf(first, sizeof first, "timed out after %d s", MDA_COMMAND_S_MAX);
			break;
		}
		char buf[1024];
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (have < sizeof first - 1) {
			size_t take = (size_t)n < sizeof first - 1 - have ? (size_t)n : sizeof first - 1 - have;
			memcpy(first + have, buf, take);
			have += take;
			first[have] = '\0';
		}
	}
	close(p[0]);
	first[strcspn(first, "\r\n")] = '\0';
	for (char *c = first; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(why, cap, "Delivered");
		return MDA_OK;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	snprintf(why, cap, "mda %s %d%s%s", code < 0 ? "killed by signal" : "exited",
	         code < 0 ? WTERMSIG(status) : code, first[0] ? ": " : "", first);
	return code == 71 || code == 75 || code < 0 ? MDA_TEMPFAIL : MDA_PERMFAIL;
}
