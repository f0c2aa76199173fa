/*
 * core/log.c - where log lines go: stderr with a timestamp in the foreground,
 * syslog(LOG_MAIL) otherwise, or with -l a file, stdout or stderr in the
 * maillog format; when written to a file descriptor, a shard thread's lines
 * are gathered for the rest of its ring turn and written with one write(2).
 * See core/log.h.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_BYTES 2048
#define LOG_BATCH_BYTES (8 * LOG_LINE_BYTES)
#define LOG_STAMP_BYTES 32

static int log_foreground = 1;   /* written to log_fd, not syslog */
static int log_verbosity;
static int log_fd = STDERR_FILENO;
static int log_maillog;          /* -l: "host smtpd[pid]: " after the time */
static char log_prefix[300];
static char log_path[4096];      /* -l FILE, for log_reopen() */
static char log_host[256];

/* This thread's gathered lines (log_batch_begin() turns gathering on). */
static __thread struct {
	int on;
	size_t len;
	char buf[LOG_BATCH_BYTES];
} log_batch;

/* This thread's last timestamp, remade when the second changes. */
static __thread struct {
	time_t sec;
	char text[LOG_STAMP_BYTES];
} log_stamp;

/* Call once at start-up, before any thread logs. */
void
log_init(int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbosity = verbose;
	if (!foreground)
		openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* The maillog prefix with this process's pid. */
static void
log_prefix_make(void)
{
	snprintf(log_prefix, sizeof log_prefix, "%s smtpd[%d]: ", log_host, (int)getpid());
}

int
log_to(const char *target, const char *hostname, char *err, size_t cap)
{
	snprintf(log_host, sizeof log_host, "%s", hostname);
	if (strcmp(target, "syslog") == 0) {
		log_foreground = 0;
		openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
		return 0;
	}
	log_foreground = 1;
	log_maillog = 1;
	log_prefix_make();
	if (strcmp(target, "stderr") == 0 || strcmp(target, "stdout") == 0) {
		log_fd = target[3] == 'o' ? STDOUT_FILENO : STDERR_FILENO;
		return 0;
	}
	if (target[0] != '/' || strlen(target) >= sizeof log_path) {
		snprintf(err, cap, "-l wants syslog, stdout, stderr or an absolute file path, not "
		         "\"%.200s\"", target);
		return -1;
	}
	int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, cap, "log file %s: %s", target, strerror(errno));
		return -1;
	}
	log_fd = fd;
	snprintf(log_path, sizeof log_path, "%s", target);
	return 0;
}

void
log_pid_changed(void)
{
	if (log_maillog)
		log_prefix_make();
}

int
log_reopen(void)
{
	if (log_path[0] == '\0')
		return 0;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_warn("log file %s: %s (still writing to the one open)", log_path,
		         strerror(errno));
		return -1;
	}
	/* dup3 swaps it under every thread at once: a line goes to one or the other */
	if (dup3(fd, log_fd, O_CLOEXEC) < 0) {
		log_warn("log file %s: %s", log_path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Returns nonzero when -v was given. */
int
log_verbose(void)
{
	return log_verbosity;
}

/* Write all of buf to stderr; a failure drops the lines (nowhere to say so). */
static void
log_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(log_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Gather this thread's foreground lines until log_batch_flush(); for a shard
 * thread, whose turn ends with a flush. */
void
log_batch_begin(void)
{
	log_batch.on = 1;
	log_batch.len = 0;
}

/* Write the lines gathered so far, in one call. */
void
log_batch_flush(void)
{
	if (log_batch.len > 0)
		log_write_all(log_batch.buf, log_batch.len);
	log_batch.len = 0;
}

/* "Nov 22 17:19:24", made once a second per thread. */
static const char *
log_stamp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != log_stamp.sec || log_stamp.text[0] == '\0') {
		struct tm tm;
		localtime_r(&ts.tv_sec, &tm);
		strftime(log_stamp.text, sizeof log_stamp.text, "%b %e %H:%M:%S", &tm);
		log_stamp.sec = ts.tv_sec;
	}
	return log_stamp.text;
}

/* Format one line; write it in one call, or gather it for the turn's write. */
static void
log_line(int priority, const char *fmt, va_list ap)
{
	char line[LOG_LINE_BYTES + LOG_STAMP_BYTES + sizeof log_prefix + 8];
	if (!log_foreground) {
		vsnprintf(line, LOG_LINE_BYTES, fmt, ap);
		syslog(priority, "%s", line);
		return;
	}
	int head = snprintf(line, LOG_STAMP_BYTES + sizeof log_prefix + 8, "%s %s%s",
	                    log_stamp_now(), log_maillog ? log_prefix : "",
	                    priority == LOG_WARNING ? "warn: " : "");
	int body = vsnprintf(line + head, LOG_LINE_BYTES, fmt, ap);
	size_t len = (size_t)head + (body < 0 ? 0 : body >= LOG_LINE_BYTES ?
	                                           LOG_LINE_BYTES - 1 : (size_t)body);
	line[len++] = '\n';
	if (!log_batch.on) {
		log_write_all(line, len);
		return;
	}
	if (log_batch.len + len > sizeof log_batch.buf)
		log_batch_flush();
	memcpy(log_batch.buf + log_batch.len, line, len);
	log_batch.len += len;
}

/* One preformatted warning line (for log_fatal()). */
static void
log_line_text(const char *text)
{
	log_warn("%s", text);
	log_batch_flush();
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	if (!log_verbosity)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("smtpd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (!log_foreground) {
		va_start(ap, fmt);
		vsyslog(LOG_ERR, fmt, ap);
		va_end(ap);
	} else if (log_fd != STDERR_FILENO) {
		char line[LOG_LINE_BYTES];
		va_start(ap, fmt);
		vsnprintf(line, sizeof line, fmt, ap);
		va_end(ap);
		log_line_text(line);
	}
	exit(1);
}
