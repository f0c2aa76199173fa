/*
 * test/core/test_mda.c - local delivery methods and the delivery helper, as
 * the user running the tests: maildir files and junk folder, mbox From_
 * lines and >From quoting, mda exit codes and environment (addresses full
 * of shell metacharacters never reach a shell), the helper's protocol
 * including malformed requests, and ~/.forward files the helper opens.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "core/mda_forward.h"
#include "core/mda_helper.h"
#include "core/mda_run.h"
#include "rules/rules.h"

static char dir[] = "/tmp/ringmta-mda-XXXXXX";

static void
setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int
message(const char *text)
{
	int fd = memfd_create("m", 0);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* The one file in path (a maildir's new/), or NULL. */
static char *
only_file(const char *path)
{
	static char name[4096];
	DIR *d = opendir(path);
	if (d == NULL)
		return NULL;
	struct dirent *e;
	int count = 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			snprintf(name, sizeof name, "%s/%s", path, e->d_name);
			count++;
		}
	closedir(d);
	return count == 1 ? name : NULL;
}

static struct mda_env
env(void)
{
	struct passwd *pw = getpwuid(geteuid());
	struct mda_env e = { .sender = "a@example.org", .rcpt = "b@localhost",
	                     .dest = "b+tag@localhost", .user = pw->pw_name,
	                     .home = dir, .shell = "/bin/sh", .hostname = "test.host",
	                     .result_fd = -1 };
	return e;
}

TestSuite(mda, .init = setup, .fini = teardown);

Test(mda, maildir_and_junk)
{
	struct mda_env e = env();
	char why[256], box[256], path[300];
	snprintf(box, sizeof box, "%s/Maildir", dir);
	int fd = message("Subject: hi\n\nhello\n");
	cr_assert_eq(mda_run_maildir(fd, box, 1, &e, why, sizeof why), MDA_OK, "%s", why);
	snprintf(path, sizeof path, "%s/new", box);
	char *f = only_file(path);
	cr_assert_not_null(f);
	cr_expect_str_eq(slurp(f), "Subject: hi\n\nhello\n");
	struct stat st;
	stat(f, &st);
	cr_expect_eq(st.st_mode & 0777, 0600);
	close(fd);
	fd = message("Subject: buy\nX-Spam: Yes\n\nspam\n");
	cr_assert_eq(mda_run_maildir(fd, box, 1, &e, why, sizeof why), MDA_OK, "%s", why);
	snprintf(path, sizeof path, "%s/.Junk/new", box);
	cr_expect_not_null(only_file(path), "junk not filed in .Junk");
	close(fd);
}

Test(mda, junk_is_decided_by_the_header_only)
{
	static const struct { const char *msg; int junk; } cases[] = {
		{ "X-Spam: yes\n\nbody\n", 1 },
		{ "Subject: a\nx-spam:\tYES please\n\n", 1 },
		{ "Subject: a\nX-Spam: no\n\n", 0 },
		{ "Subject: a\n\nX-Spam: yes\n", 0 },          /* in the body */
		{ "Subject: a\nX-Spam-Flag: yes\n\n", 0 },
		{ "X-Spam: ye", 0 },                            /* cut short */
		{ "X-Spam: yes", 1 },                           /* no line end */
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(mda_header_is_junk(cases[i].msg, strlen(cases[i].msg)), cases[i].junk,
		             "%s", cases[i].msg);
}

/* smtpd gone (its end of the result socket closed): nothing is delivered,
 * by any method, and the maildir's tmp/ is left clean. */
Test(mda, no_delivery_once_nobody_can_record_it)
{
	struct mda_env e = env();
	char why[256], box[256], path[300];
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	e.result_fd = sv[0];
	snprintf(box, sizeof box, "%s/Maildir", dir);
	int fd = message("Subject: hi\n\nhello\n");
	cr_assert_eq(mda_run_maildir(fd, box, 0, &e, why, sizeof why), MDA_OK, "%s", why);
	close(fd);
	close(sv[1]);   /* smtpd is killed */
	fd = message("Subject: late\n\nlate\n");
	cr_expect_eq(mda_run_maildir(fd, box, 0, &e, why, sizeof why), MDA_TEMPFAIL);
	cr_expect_str_eq(why, "smtpd is gone: delivery abandoned, made again later");
	close(fd);
	snprintf(path, sizeof path, "%s/new", box);
	cr_expect_not_null(only_file(path), "only the first message is in new/");
	snprintf(path, sizeof path, "%s/tmp", box);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL)
		cr_expect(de->d_name[0] == '.', "left in tmp/: %s", de->d_name);
	if (d != NULL)
		closedir(d);
	snprintf(box, sizeof box, "%s/mbox", dir);
	fd = message("Subject: late\n\nlate\n");
	cr_expect_eq(mda_run_mbox(fd, box, &e, why, sizeof why), MDA_TEMPFAIL);
	cr_expect_eq(access(box, F_OK) == 0 ? (int)strlen(slurp(box)) : 0, 0, "mbox written");
	close(fd);
	snprintf(path, sizeof path, "touch %s/ran", dir);
	fd = message("x\n");
	cr_expect_eq(mda_run_command(fd, path, &e, why, sizeof why), MDA_TEMPFAIL);
	snprintf(path, sizeof path, "%s/ran", dir);
	cr_expect_neq(access(path, F_OK), 0, "the command ran");
	close(fd);
	close(sv[0]);
}

/* A write that fails halfway (the file-size limit, in a child) leaves the
 * mailbox exactly as it was, and the delivery is retried later. */
Test(mda, mbox_partial_write_is_rolled_back)
{
	struct mda_env e = env();
	char why[256], box[256];
	snprintf(box, sizeof box, "%s/mbox", dir);
	int fd = message("Subject: first\n\nfits\n");
	cr_assert_eq(mda_run_mbox(fd, box, &e, why, sizeof why), MDA_OK, "%s", why);
	close(fd);
	char before[4096];
	snprintf(before, sizeof before, "%s", slurp(box));
	static char big[200000];
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "Subject: big\n\n", 14);
	for (size_t i = 100; i < sizeof big - 1; i += 100)
		big[i] = '\n';
	fd = message(big);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit lim = { 65536, 65536 };
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(2);
		_exit(mda_run_mbox(fd, box, &e, why, sizeof why) == MDA_TEMPFAIL ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "not a temporary failure");
	cr_expect_str_eq(slurp(box), before, "the mailbox kept part of the message");
	close(fd);
}

Test(mda, mbox_from_line_and_quoting)
{
	struct mda_env e = env();
	char why[256], box[256];
	snprintf(box, sizeof box, "%s/mbox", dir);
	int fd = message("Subject: q\n\nFrom here\n>From there\nno newline at end");
	cr_assert_eq(mda_run_mbox(fd, box, &e, why, sizeof why), MDA_OK, "%s", why);
	close(fd);
	e.sender = "";
	fd = message("Subject: second\n\nbody\n");
	cr_assert_eq(mda_run_mbox(fd, box, &e, why, sizeof why), MDA_OK, "%s", why);
	close(fd);
	const char *got = slurp(box);
	cr_expect(strncmp(got, "From a@example.org ", 19) == 0, "%s", got);
	cr_expect(strstr(got, "\n>From here\n>>From there\nno newline at end\n\n") != NULL, "%s", got);
	cr_expect(strstr(got, "\nFrom MAILER-DAEMON ") != NULL, "%s", got);
	char lock[300];
	snprintf(lock, sizeof lock, "%s.lock", box);
	cr_expect_neq(access(lock, F_OK), 0, "the dot-lock was left behind");
}

Test(mda, mbox_refuses_a_symlink)
{
	struct mda_env e = env();
	char why[256], box[256], target[256];
	snprintf(box, sizeof box, "%s/mbox", dir);
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	cr_assert_eq(symlink(target, box), 0);
	int fd = message("Subject: x\n\ny\n");
	cr_expect_neq(mda_run_mbox(fd, box, &e, why, sizeof why), MDA_OK);
	cr_expect_neq(access(target, F_OK), 0, "wrote through a symlink");
	close(fd);
}

Test(mda, command_exit_codes_and_environment)
{
	struct mda_env e = env();
	char why[512], cmd[512], out[300];
	snprintf(out, sizeof out, "%s/out", dir);
	/* the environment carries the addresses; the command line never does */
	e.sender = "x`touch /tmp/pwned-ringmta`$(id)@example.org";
	snprintf(cmd, sizeof cmd,
	         "cat > %s.body; printf '%%s|%%s|%%s|%%s|%%s' \"$SENDER\" \"$RECIPIENT\" "
	         "\"$EXTENSION\" \"$LOCAL\" \"$DOMAIN\" > %s", out, out);
	int fd = message("Subject: m\n\nbody\n");
	cr_assert_eq(mda_run_command(fd, cmd, &e, why, sizeof why), MDA_OK, "%s", why);
	cr_expect_str_eq(slurp(out), "x`touch /tmp/pwned-ringmta`$(id)@example.org|"
	                             "b+tag@localhost|tag|b+tag|localhost");
	cr_expect_neq(access("/tmp/pwned-ringmta", F_OK), 0);
	struct {
		const char *cmd;
		enum mda_status want;
		const char *why;
	} cases[] = {
		{ "exit 75", MDA_TEMPFAIL, "exited 75" },
		{ "exit 71", MDA_TEMPFAIL, "exited 71" },
		{ "echo 'no such folder' >&2; exit 1", MDA_PERMFAIL, "exited 1: no such folder" },
		{ "kill -9 $$", MDA_TEMPFAIL, "killed by signal 9" },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum mda_status st = mda_run_command(fd, cases[i].cmd, &e, why, sizeof why);
		cr_expect_eq(st, cases[i].want, "%s: got %d (%s)", cases[i].cmd, st, why);
		cr_expect(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].cmd, why);
	}
	close(fd);
}

static struct mda_reply
ask(int sock, const struct mda_request *r, int with_fd)
{
	int fd = message("Subject: helper\n\nvia the helper\n");
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)r, sizeof *r };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (with_fd) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	cr_assert_eq(sendmsg(sock, &mh, 0), (ssize_t)sizeof *r);
	close(fd);
	struct mda_reply rep;
	cr_assert_eq(recv(sock, &rep, sizeof rep, 0), (ssize_t)sizeof rep);
	return rep;
}

Test(mda, helper_delivers_and_refuses_malformed_requests)
{
	int fds[2];
	char err[128];
	pid_t pid = mda_helper_start(2, fds, err, sizeof err);
	cr_assert(pid > 0, "%s", err);
	struct mda_request r;
	memset(&r, 0, sizeof r);
	r.version = MDA_PROTO_VERSION;
	r.method = MDA_METHOD_MAILDIR;
	r.id = 42;
	snprintf(r.user, sizeof r.user, "%s", getpwuid(geteuid())->pw_name);
	snprintf(r.path, sizeof r.path, "%s/viahelper", dir);
	snprintf(r.sender, sizeof r.sender, "a@example.org");
	snprintf(r.rcpt, sizeof r.rcpt, "b@localhost");
	snprintf(r.dest, sizeof r.dest, "b@localhost");
	snprintf(r.hostname, sizeof r.hostname, "test.host");
	struct mda_reply rep = ask(fds[1], &r, 1);
	cr_expect_eq(rep.id, 42);
	cr_expect_eq(rep.status, MDA_OK, "%s", rep.why);
	char path[300];
	snprintf(path, sizeof path, "%s/viahelper/new", dir);
	cr_expect_not_null(only_file(path));

	struct mda_request bad = r;
	bad.id = 43;
	snprintf(bad.path, sizeof bad.path, "relative/path");
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL);
	bad = r;
	bad.id = 44;
	bad.sender[0] = '\n';
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL, "a control character got through");
	bad = r;
	bad.id = 45;
	rep = ask(fds[0], &bad, 0);   /* no message fd */
	cr_expect_eq(rep.status, MDA_PERMFAIL);
	bad = r;
	bad.id = 46;
	snprintf(bad.user, sizeof bad.user, "no-such-user-ringmta");
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL, "%s", rep.why);
	cr_expect_str_eq(rep.why, "no such local user");
	/* a userbase user: ids and home, never root */
	bad = r;
	bad.id = 47;
	bad.by_ids = 1;
	bad.uid = 0;
	bad.gid = 100;
	snprintf(bad.home, sizeof bad.home, "/home/x");
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL, "a userbase made root");
	bad.id = 48;
	bad.uid = 100;
	bad.home[0] = '\0';
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL, "a userbase user without a home");
	bad = r;
	bad.id = 49;
	bad.version = 1;
	rep = ask(fds[0], &bad, 1);
	cr_expect_eq(rep.status, MDA_PERMFAIL, "an older request");

	close(fds[0]);
	close(fds[1]);
	int status;
	cr_expect_eq(waitpid(pid, &status, 0), pid);   /* it leaves when smtpd does */
}

/* Write text to dir/home/.forward with mode, owned by uid. */
static void
forward_file(const char *home, const char *text, mode_t mode, uid_t uid)
{
	char path[300];
	snprintf(path, sizeof path, "%s/.forward", home);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchown(fd, uid, (gid_t)-1), 0);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The helper opens a ~/.forward with OpenSMTPD's checks and passes it back
 * open; unsafe ones are refused with the reason, a missing one is none. */
Test(mda, helper_opens_forward_files_with_the_checks)
{
	int fds[2];
	char err[128], why[256], home[300], buf[64];
	pid_t pid = mda_helper_start(2, fds, err, sizeof err);
	cr_assert(pid > 0, "%s", err);
	mda_forward_init(fds[1]);
	uid_t uid = geteuid() ? geteuid() : 4242;   /* a userbase never names root */
	struct rules_userinfo ui = { .uid = (uint32_t)uid, .gid = 4242 };
	snprintf(home, sizeof home, "%s/home", dir);
	snprintf(ui.home, sizeof ui.home, "%s", home);
	cr_assert_eq(mkdir(home, 0700), 0);
	cr_assert_eq(chown(home, uid, (gid_t)-1), 0);
	int fd = -1;

	cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 0, "%s", why);
	forward_file(home, "bob@example.org\n", 0600, uid);
	cr_assert_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 1, "%s", why);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	cr_assert(n > 0);
	buf[n] = '\0';
	cr_expect_str_eq(buf, "bob@example.org\n");

	forward_file(home, "x\n", 0622, uid);
	cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 2);
	cr_expect_str_eq(why, "group or world writable");
	if (geteuid() == 0) {
		forward_file(home, "x\n", 0600, 4343);
		cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 2);
		cr_expect_str_eq(why, "not owned by the user");
	}
	char path[320], target[320];
	snprintf(path, sizeof path, "%s/.forward", home);
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	unlink(path);
	cr_assert_eq(symlink(target, path), 0);
	cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 2);
	cr_expect_str_eq(why, "a symbolic link");
	cr_expect_eq(chmod(home, 0777), 0);
	cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), 2);
	cr_expect_str_eq(why, "home group or world writable");
	cr_expect_eq(mda_forward_open("no-such-user-ringmta", NULL, &fd, why, sizeof why), 2);

	close(fds[0]);
	mda_forward_close();
	int status;
	cr_expect_eq(waitpid(pid, &status, 0), pid);
	cr_expect_eq(mda_forward_open("vuser", &ui, &fd, why, sizeof why), -1, "helper gone");
}
