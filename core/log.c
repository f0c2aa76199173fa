/*
 * core/log.c - where log lines go: stderr with a timestamp in the foreground,
 * syslog(LOG_MAIL) otherwise. See core/log.h.
 */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

static int log_foreground = 1;
static int log_verbosity;

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

/* Format one line and write it in one call. */
static void
log_line(int priority, const char *fmt, va_list ap)
{
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	if (!log_foreground) {
		syslog(priority, "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
	fprintf(stderr, "%s %s%s\n", stamp,
	        priority == LOG_WARNING ? "warn: " : "", line);
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
