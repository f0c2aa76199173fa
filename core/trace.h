/*
 * core/trace.h - smtpctl trace|untrace SUBSYSTEM: extra log lines per
 * subsystem, turned on and off at run time (the bits are ctl/ctl_proto.h's
 * CTL_TRACE_*, OpenSMTPD's names).
 *
 * One process-wide mask, written by the main thread (control requests),
 * read by every thread with a relaxed load: a trace point that is off costs
 * that load and a test, nothing else (no lock, no call). Lines go out with
 * log_info() as "trace SUBSYSTEM: ...", so they reach the log whatever the
 * verbosity.
 *
 *   trace_set(bits, on)   main thread: turn bits on or off; the new mask
 *   TRACE_ON(bit)         is that subsystem traced now?
 *   TRACE(bit, fmt, ...)  log the line only when it is
 */
#ifndef CORE_TRACE_H
#define CORE_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "ctl/ctl_proto.h"

extern atomic_uint trace_mask;

#define TRACE_ON(bit) \
	((atomic_load_explicit(&trace_mask, memory_order_relaxed) & (bit)) != 0)
#define TRACE(bit, ...) \
	do { \
		if (TRACE_ON(bit)) \
			log_info(__VA_ARGS__); \
	} while (0)

uint32_t trace_set(uint32_t bits, int on);

/* Log each line of an SMTP dialogue as "trace WORD: ID ARROW LINE".
 * client_lines: the lines an SMTP client sends, so a line that is not a
 * command (a SASL response) shows as "(hidden)", AUTH's initial response as
 * ****, and the lines after DATA or a BDAT command (a body) are left out.
 * Lines cut at 512 bytes, bytes outside printable ASCII shown as '?', at
 * most 64 lines per call. */
void trace_dialogue(const char *word, uint64_t id, const char *arrow, const char *data,
                    size_t len, int client_lines);

/* The SMTP dialogue (core/session_trace.c), when trace smtp is on: the
 * command lines in data (what a client sent, cut at the first line of a
 * message body or BDAT chunk; SASL responses hidden) or the reply lines. */
struct session;
void session_trace_in(const struct session *s, const char *data, size_t len);
void session_trace_out(const struct session *s, const char *data, size_t len);

#endif
