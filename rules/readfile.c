/*
 * readfile.c owns opening the files a configuration names (the config,
 * its includes, file: tables, pki and ca PEM files): a file is opened
 * without blocking and read only when it is a regular file no larger than
 * the caller's bound, so `include "/some/fifo"` or `table t file:/dev/zero`
 * is refused with a message instead of hanging or filling memory.
 */
#include <errno.h>
#include <fcntl.h>
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

/* What to say after rules_open_regular() failed with e. */
const char *
rules_open_error(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}
