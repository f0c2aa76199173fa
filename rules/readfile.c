/*
 * readfile.c owns opening the files a configuration names (the config,
 * its includes, file: tables, pki and ca PEM files): a file is opened
 * without blocking and read only when it is a regular file no larger than
 * the caller's bound, so `include "/some/fifo"` or `table t file:/dev/zero`
 * is refused with a message instead of hanging or filling memory.
 * rules_read_regular() reads such a file whole (db: tables, makemap -U),
 * rules_read_fd() one the caller opened and checked (~/.forward).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/rules_int.h"

/* Open path read-only if it is a regular file of at most max_bytes;
 * returns the descriptor (blocking again, close-on-exec) with its size in
 * *size, or -1 with errno: EISDIR for a folder, EINVAL for any other
 * special file, EFBIG when too large. */
int
rules_open_regular(const char *path, size_t max_bytes, size_t *size)
{
	struct stat st;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (S_ISDIR(st.st_mode))
		e = EISDIR;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((unsigned long long)st.st_size > max_bytes)
		e = EFBIG;
	else if (fcntl(fd, F_SETFL, 0) < 0)
		e = errno;
	else {
		*size = (size_t)st.st_size;
		return fd;
	}
	close(fd);
	errno = e;
	return -1;
}

/* Read all *size bytes of an open file into *out; 0, or -1 with errno
 * (EAGAIN: it changed size while read). The caller closes fd. */
static int
read_whole(int fd, uint8_t **out, size_t *size)
{
	uint8_t *buf, extra;
	size_t got = 0;
	ssize_t n = 0;

	if ((buf = malloc(*size ? *size : 1)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	while (got < *size) {
		if ((n = read(fd, buf + got, *size - got)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	while (got == *size && (n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (got == *size && n == 0) {
		*out = buf;
		return 0;
	}
	free(buf);
	errno = n < 0 ? errno : EAGAIN;
	return -1;
}

/* Call to read a whole file (see rules.h); 0, or -1 with errno. */
int
rules_read_regular(const char *path, size_t max_bytes, uint8_t **out, size_t *size)
{
	int fd, ret, e;

	if ((fd = rules_open_regular(path, max_bytes, size)) < 0)
		return -1;
	ret = read_whole(fd, out, size);
	e = errno;
	close(fd);
	errno = e;
	return ret;
}

/* Call to read a whole file already open (see rules.h); 0, or -1 with
 * errno. */
int
rules_read_fd(int fd, size_t max_bytes, uint8_t **out, size_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || (unsigned long long)st.st_size > max_bytes) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return -1;
	}
	*size = (size_t)st.st_size;
	return read_whole(fd, out, size);
}

/* What to say after rules_open_regular() or rules_read_regular() failed
 * with e. */
const char *
rules_open_error(int e)
{
	if (e == EINVAL)
		return "not a regular file";
	return e == EAGAIN ? "it changed while read" : strerror(e);
}
