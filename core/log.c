/*
 * core/log.c - where log lines go: stderr with a timestamp in the foreground,
 * syslog(LOG_MAIL) otherwise; in the foreground a shard thread's lines are
 * gathered for the rest of its ring turn and written with one write(2).
 * See core/log.h.
 */
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_BYTES 2048
#define LOG_BATCH_BYTES (8 * LOG_LINE_BYTES)
#define LOG_STAMP_BYTES 32

static int log_foreground = 1;
static int log_verbosity;

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
		ssize_t n = write(STDERR_FILENO, buf, len);
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
	char line[LOG_LINE_BYTES + LOG_STAMP_BYTES + 8];
	if (!log_foreground) {
		vsnprintf(line, LOG_LINE_BYTES, fmt, ap);
		syslog(priority, "%s", line);
		return;
	}
	int head = snprintf(line, LOG_STAMP_BYTES + 8, "%s %s", log_stamp_now(),
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
	}
	exit(1);
}
