/*
 * core/mda_deliver.c - `smtpd --deliver`: maildir and mbox deliveries as a
 * command that an mda wrapper can run, and the quoted command line the
 * shard puts in the wrapper's %{mda}. See core/mda_deliver.h.
 */
#include "core/mda_deliver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/mda_run.h"

/* Append s to out (at *len) in single quotes, ' written as '\''.
 * Returns 0, or -1 when it does not fit. */
static int
mda_deliver_quote(char *out, size_t cap, size_t *len, const char *s)
{
	size_t n = *len;
	if (n + 2 > cap)
		return -1;
	if (n > 0)
		out[n++] = ' ';
	out[n++] = '\'';
	for (; *s; s++) {
		const char *piece = *s == '\'' ? "'\\''" : NULL;
		size_t plen = piece ? 4 : 1;
		if (n + plen + 2 > cap)
			return -1;
		if (piece)
			memcpy(out + n, piece, plen);
		else
			out[n] = *s;
		n += plen;
	}
	out[n++] = '\'';
	out[n] = '\0';
	*len = n;
	return 0;
}

int
mda_deliver_command(char *out, size_t cap, const char *exe, enum mda_method method,
                    int junk, const char *path)
{
	const char *words[6];
	unsigned n = 0;
	words[n++] = exe;
	words[n++] = "--deliver";
	words[n++] = method == MDA_METHOD_MBOX ? "mbox" : "maildir";
	if (method == MDA_METHOD_MAILDIR && junk)
		words[n++] = "--junk";
	words[n++] = "--";
	words[n++] = path;
	size_t len = 0;
	if (cap == 0)
		return -1;
	out[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		if (mda_deliver_quote(out, cap, &len, words[i]) < 0)
			return -1;
	return 0;
}

/* Standard input as a file that can be read twice (maildir's junk check,
 * then the copy): itself when it seeks, else a memfd copy. -1 on error. */
static int
mda_deliver_input(void)
{
	if (lseek(0, 0, SEEK_CUR) >= 0)
		return 0;
	int fd = memfd_create("message", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[65536];
	for (;;) {
		ssize_t r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return fd;
		if (r < 0)
			break;
		ssize_t off = 0;
		while (off < r) {
			ssize_t w = write(fd, buf + off, (size_t)(r - off));
			if (w < 0 && errno != EINTR)
				goto fail;
			off += w > 0 ? w : 0;
		}
	}
fail:
	close(fd);
	return -1;
}

static const char *
mda_deliver_env(const char *name)
{
	const char *v = getenv(name);
	return v ? v : "";
}

int
mda_deliver_main(int argc, char **argv)
{
	int junk = 0, i = 2;
	if (argc < 3 || (strcmp(argv[1], "maildir") != 0 && strcmp(argv[1], "mbox") != 0)) {
		fprintf(stderr, "usage: smtpd --deliver maildir [--junk] [--] DIR\n"
		                "       smtpd --deliver mbox [--] FILE\n");
		return 64;
	}
	int mbox = strcmp(argv[1], "mbox") == 0;
	if (!mbox && strcmp(argv[i], "--junk") == 0)
		junk = 1, i++;
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i != argc - 1 || argv[i][0] != '/') {
		fprintf(stderr, "smtpd --deliver: one absolute %s path expected\n",
		        mbox ? "mailbox" : "maildir");
		return 64;
	}
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	struct mda_env env = {
		.sender = mda_deliver_env("SENDER"), .rcpt = mda_deliver_env("ORIGINAL_RECIPIENT"),
		.dest = mda_deliver_env("RECIPIENT"), .user = mda_deliver_env("USER"),
		.home = mda_deliver_env("HOME"), .shell = mda_deliver_env("SHELL"),
		.hostname = host, .result_fd = -1,
	};
	int fd = mda_deliver_input();
	if (fd < 0) {
		printf("cannot read the message: %s\n", strerror(errno));
		return 75;
	}
	char why[MDA_WHY_BYTES_MAX] = "";
	enum mda_status st = mbox ? mda_run_mbox(fd, argv[i], &env, why, sizeof why)
	                          : mda_run_maildir(fd, argv[i], junk, &env, why, sizeof why);
	if (st != MDA_OK)
		printf("%s\n", why);
	return st == MDA_OK ? 0 : st == MDA_TEMPFAIL ? 75 : 1;
}
