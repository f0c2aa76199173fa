/*
 * core/log.h - the daemon's log: OpenSMTPD's maillog lines, to stderr in the
 * foreground (-d) or to syslog (facility mail) when daemonised; with
 * `-l stdout|stderr|FILE` in the maillog format ("Nov 23 10:00:00 host
 * smtpd[pid]: ...") to that stream or file (containers, no syslog), with
 * `-l syslog` to syslog even with -d.
 *
 * log_init() once, before threads start; then log_info()/log_warn()/
 * log_debug() from any thread (each line is written with one call, so lines
 * from shards never interleave). log_debug() prints only with -v. In the
 * foreground a shard thread calls log_batch_begin() once and
 * log_batch_flush() at the end of every ring turn: its lines of the turn go
 * out in one write.
 * Session lines follow OpenSMTPD: "%016llx smtp connected address=... host=...",
 * the session id first, so existing log tools keep working.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(int foreground, int verbose);
/* -l TARGET: "syslog", "stdout", "stderr" or an absolute file path, opened
 * now (as root, before the privilege drop) for appending. After log_init(),
 * before threads. 0, or -1 with err. */
int log_to(const char *target, const char *hostname, char *err, size_t cap);
/* After a fork: lines name this process's pid. */
void log_pid_changed(void);
/* SIGHUP: open the -l file again (after a rotation moved it away); a
 * failure keeps the old one (logged). 0 or -1. */
int log_reopen(void);
int log_verbose(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_batch_begin(void);
void log_batch_flush(void);
/* Print "smtpd: message" to stderr and exit(1); for start-up errors. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
