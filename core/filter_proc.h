/*
 * core/filter_proc.h - a shard's filter processes (smtpd-filters(7)):
 * each shard runs its own instance of every `proc` / `proc-exec` of the
 * configuration it started with, so the lines to and from a process are
 * read and written on that shard's ring and a session's events never
 * leave its shard. Processes are started by the delivery helper
 * (core/filter_spawn.c), never by the shard.
 *
 * filter_proc_start() (the shard's thread, before its loop) starts every
 * instance and waits for each handshake (config|... lines out, register|
 * lines in until register|ready) at most FILTER_PROC_HANDSHAKE_MS; a
 * process that does not finish it is a start-up error. Afterwards an
 * instance that exits (end of file, a write error, a malformed line) fails
 * its pending requests, and is started again after a backoff (1 s,
 * doubling to 60 s, back to 1 s once a handshake completes); its
 * registrations from the last handshake stay known, so a session reaching
 * a phase it registered while it is down is answered 451 4.7.0 (the
 * filter is never skipped).
 *
 * filter_proc_ask() sends one filter request; the answer (or a failure:
 * the timeout, filter_proc_timeout_ms(), or the process's death) comes
 * to req->done on the shard, once. The request must stay in place until
 * then (it is embedded in the session, which counts it in flight).
 * filter_proc_report() writes a report line to every running instance
 * that registered the event. Writes are buffered per instance up to
 * FILTER_PROC_OUT_BYTES_MAX; a report that does not fit is dropped
 * (counted in the log), a request that does not fit fails.
 *
 * A data-line stream (a request with a line callback) is opened with
 * filter_proc_stream_open() and stays pending for the whole message: each
 * filter-dataline with its token comes to req->line; the "." that ends it
 * comes there last, after the request left the pending list. Its lines go
 * out with filter_proc_stream_line(); the timeout runs only once the "."
 * went out (a filter may keep the whole message before it answers), and
 * again from each line it returns. filter_proc_stream_line() returns 1
 * when the instance's output passed FILTER_PROC_OUT_HIGH_BYTES: the
 * caller stops feeding and asks filter_proc_stream_drained(), whose
 * req->drained comes once the output fell under FILTER_PROC_OUT_LOW_BYTES.
 * filter_proc_cancel() takes any request out of the pending list without
 * calling it (the session that embeds it is going away).
 */
#ifndef CORE_FILTER_PROC_H
#define CORE_FILTER_PROC_H

#include <stdint.h>

#include "core/list.h"
#include "proto/filter_proto.h"

struct shard;
struct rules_proc;

#define FILTER_PROC_HANDSHAKE_MS 10000
#define FILTER_PROC_OUT_BYTES_MAX (4u << 20)
#define FILTER_PROC_TIMEOUT_MS_DEFAULT 60000
#define FILTER_PROC_OUT_HIGH_BYTES (1u << 20)  /* a stream's feeder pauses above */
#define FILTER_PROC_OUT_LOW_BYTES (256u << 10) /* and goes on under */

struct filter_req;
/* m: the filter's answer (a filter-result for this token), or NULL when
 * the request failed (timeout, process gone, not running). */
typedef void (*filter_req_done)(struct filter_req *req, const struct proto_filter_msg *m);
/* A data-line stream's line as the filter wrote it (dot-stuffed; "." ends). */
typedef void (*filter_req_line)(struct filter_req *req, const char *line, size_t len);
typedef void (*filter_req_drained)(struct filter_req *req);

struct filter_req {
	struct list_head node;     /* in the instance's pending list */
	uint64_t sid, token;
	uint64_t deadline_ms;
	filter_req_done done;       /* streams: done(req, NULL) on failure only */
	filter_req_line line;       /* NULL: one filter-result answers it */
	filter_req_drained drained;
	int want_drain;
	int pending;
};

/* Start this shard's instances of the daemon's processes; 0, or -1 with
 * sh->setup_message filled. */
int filter_proc_start(struct shard *sh);
/* Once a second: request timeouts, restarts that are due. */
void filter_proc_tick(struct shard *sh);
/* Close every instance (the processes see end of file and leave). */
void filter_proc_free(struct shard *sh);
/* The instance of p on sh, by name; -1 when p is not one of them. */
int filter_proc_find(const struct shard *sh, const struct rules_proc *p);
/* 1 when instance i registered phase (now, or before it went down). */
int filter_proc_wants(const struct shard *sh, int i, enum proto_filter_phase ph);
/* Send a request to instance i (params as proto_filter_request()); 0, or
 * -1 when it is not running or the line does not fit (done is not called). */
int filter_proc_ask(struct shard *sh, int i, struct filter_req *req,
                    enum proto_filter_phase ph, const char *const *params, unsigned n);
/* Open a data-line stream on instance i (req->sid, done, line, drained
 * set); 0, or -1 when it is not running. */
int filter_proc_stream_open(struct shard *sh, int i, struct filter_req *req);
/* One line of the stream (proto_filter_dataline()'s line, len, stuff):
 * 0, 1 when the feeder should wait for drained, -1 when the stream is
 * gone or the line does not fit. */
int filter_proc_stream_line(struct shard *sh, int i, struct filter_req *req, const char *line,
                            size_t len, int stuff);
/* Ask for req->drained once instance i's output is low again. */
void filter_proc_stream_drained(struct shard *sh, int i, struct filter_req *req);
/* Take req out of its instance's pending list, if it is in one. */
void filter_proc_cancel(struct filter_req *req);
/* Report ev of session sid to each instance of procs[0..n) that wants it. */
void filter_proc_report(struct shard *sh, const struct rules_proc *const *procs, unsigned n,
                        enum proto_filter_event ev, uint64_t sid, const char *const *params,
                        unsigned nparams);
/* The request timeout: RINGMTA_FILTER_TIMEOUT_S from the environment
 * (a testing knob), else FILTER_PROC_TIMEOUT_MS_DEFAULT. */
uint64_t filter_proc_timeout_ms(void);

#endif
