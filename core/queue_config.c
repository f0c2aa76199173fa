/*
 * core/queue_config.c - what smtpd.conf says about the queue, turned into
 * struct queue_options at start: path, compression, encryption with its
 * key, ttl; the key read from standard input when the file does not hold
 * it (queue encryption, or with stdin or -), as OpenSMTPD does; and what a
 * reload cannot change. The key is never logged or printed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/main.h"
#include "queue/queue.h"
#include "rules/rules.h"

_Static_assert(RULES_QUEUE_KEY_BYTES == QUEUE_KEY_BYTES, "one key size");

/* A line of standard input longer than this is not a key. */
#define QUEUE_KEY_LINE_BYTES_MAX 256

/* Read one line of standard input into line (cap bytes, NUL-terminated,
 * without its "\n"), echo off and a prompt when it is a terminal. Returns
 * its length, or -1 at end of input or on a read error. */
static ssize_t
queue_key_line(char *line, size_t cap)
{
	struct termios saved, quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	size_t n = 0;
	char c;

	if (tty) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		fputs("queue key: ", stderr);
	}
	ssize_t r;
	while ((r = read(STDIN_FILENO, &c, 1)) == 1 || (r < 0 && errno == EINTR)) {
		if (r < 0)
			continue;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			line[n] = c;
		n++;   /* counted past cap: too long, refused below */
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	line[n < cap ? n : cap - 1] = '\0';
	if (r <= 0 && n == 0)
		return -1;
	return (ssize_t)n;
}

/* See core/main.h. */
int
main_queue_key_read(struct rules_config *c, char *err, size_t cap)
{
	char line[QUEUE_KEY_LINE_BYTES_MAX];

	if (!c->queue_encryption || !c->queue_key_stdin)
		return 0;
	ssize_t n = queue_key_line(line, sizeof line);
	if (n < 0) {
		snprintf(err, cap, "%s: queue encryption: no key on standard input (one line of "
		         "%d octets)", c->file, RULES_QUEUE_KEY_BYTES);
		return -1;
	}
	if (n != RULES_QUEUE_KEY_BYTES) {
		explicit_bzero(line, sizeof line);
		snprintf(err, cap, "%s: queue encryption: the key read from standard input is "
		         "%zd octets, it must be %d", c->file, n, RULES_QUEUE_KEY_BYTES);
		return -1;
	}
	memcpy(c->queue_key, line, RULES_QUEUE_KEY_BYTES);
	explicit_bzero(line, sizeof line);
	c->queue_key_stdin = 0;
	return 0;
}

/* See core/main.h. */
void
main_queue_options(const struct rules_config *c, struct queue_options *qo)
{
	memset(qo, 0, sizeof *qo);
	qo->backend = "rocksdb";
	qo->path = c->queue_path;
	/* safe to turn on or off for a queue holding mail (store_rocksdb.c) */
	qo->compression = c->queue_compression;
	qo->ttl_s = c->queue_ttl_s;
	qo->encryption = c->queue_encryption;
	memcpy(qo->encryption_key, c->queue_key, sizeof qo->encryption_key);
}

/* See core/main.h. */
int
main_queue_fixed_changed(const struct rules_config *cur, const struct rules_config *next)
{
	return strcmp(cur->queue_path, next->queue_path) != 0 ||
	       cur->queue_compression != next->queue_compression ||
	       cur->queue_encryption != next->queue_encryption;
}
