/*
 * core/metrics.h - the numbers an operator watches: counters and latency
 * histograms kept per shard (each written only by its shard's thread,
 * read by the main thread with relaxed atomics: no lock, no shared cache
 * line between shards), summed into a snapshot, and rendered as
 * OpenMetrics text for `metrics listen on` (core/metrics_http.c) and as
 * OpenSMTPD-style pairs for `smtpctl show stats` (core/control.c).
 * Rendering is pure: metrics_render() writes into a buffer, no I/O.
 */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_counter {
	METRICS_SESSIONS_INET4,         /* SMTP sessions accepted, by family */
	METRICS_SESSIONS_INET6,
	METRICS_SESSIONS_LOCAL,         /* sendmail/smtpctl submissions */
	METRICS_TLS_OK,                 /* server-side handshakes */
	METRICS_TLS_FAILED,
	METRICS_MESSAGES_ACCEPTED,      /* 250 after DATA or BDAT LAST */
	METRICS_MESSAGE_BYTES,
	METRICS_RCPT_ACCEPTED,
	METRICS_RCPT_REFUSED,
	METRICS_MDA_OK,                 /* local delivery attempts by result */
	METRICS_MDA_TEMPFAIL,
	METRICS_MDA_PERMFAIL,
	METRICS_MTA_OK,                 /* relay attempts by result */
	METRICS_MTA_TEMPFAIL,
	METRICS_MTA_PERMFAIL,
	METRICS_EXPIRED,                /* envelopes that outlived their ttl */
	METRICS_ENVELOPES_QUEUED,       /* envelopes made durable (SMTP and local) */
	METRICS_REMOVED,                /* envelopes smtpctl remove took away */
	METRICS_BOUNCES,                /* reports queued: bounces, delays, successes */
	METRICS_LOOPS,                  /* messages refused as a mail loop */
	METRICS_DEFER_REPLY,            /* relay deferred by a 4xx reply */
	METRICS_DEFER_CONNECTION,       /* relay deferred without one: connect, DNS,
	                                 * TLS, a dropped connection */
	METRICS_COUNTERS
};

enum metrics_gauge {
	METRICS_SESSIONS_OPEN,          /* SMTP sessions open now */
	METRICS_HELD,                   /* envelopes a shard holds: attempted or reported */
	METRICS_GAUGES
};

enum metrics_histogram {
	METRICS_ACCEPT_TO_250,          /* end of data received -> 250 sent */
	METRICS_QUEUE_TO_DELIVERY,      /* 250 -> delivered (first or later attempt) */
	METRICS_HISTOGRAMS
};

#define METRICS_BUCKETS 16             /* upper bounds in metrics_bucket_us[], then +Inf */

extern const uint64_t metrics_bucket_us[METRICS_HISTOGRAMS][METRICS_BUCKETS];

struct metrics_hist {
	_Atomic uint64_t bucket[METRICS_BUCKETS + 1];   /* not cumulative; last: +Inf */
	_Atomic uint64_t count, sum_us;
};

struct metrics {
	_Atomic uint64_t counter[METRICS_COUNTERS];
	_Atomic int64_t gauge[METRICS_GAUGES];
	struct metrics_hist hist[METRICS_HISTOGRAMS];
};

/* The sum of every shard's metrics and the daemon-wide gauges. */
struct metrics_snapshot {
	uint64_t counter[METRICS_COUNTERS];
	int64_t gauge[METRICS_GAUGES];
	uint64_t bucket[METRICS_HISTOGRAMS][METRICS_BUCKETS + 1];
	uint64_t count[METRICS_HISTOGRAMS], sum_us[METRICS_HISTOGRAMS];
	uint64_t queue_envelopes;       /* every envelope on disk */
	uint64_t queue_quarantined;
	uint64_t queue_fsyncs;
	unsigned shards;
	int64_t start_time;             /* unix seconds */
};

/* On the owning shard's thread only (single writer: no atomic add). */
static inline void
metrics_add(struct metrics *m, enum metrics_counter k, uint64_t n)
{
	atomic_store_explicit(&m->counter[k],
	                      atomic_load_explicit(&m->counter[k], memory_order_relaxed) + n,
	                      memory_order_relaxed);
}
static inline void
metrics_gauge_add(struct metrics *m, enum metrics_gauge g, int64_t delta)
{
	atomic_store_explicit(&m->gauge[g],
	                      atomic_load_explicit(&m->gauge[g], memory_order_relaxed) + delta,
	                      memory_order_relaxed);
}
void metrics_observe(struct metrics *m, enum metrics_histogram h, uint64_t us);
/* A monotonic clock in microseconds, for latencies. */
uint64_t metrics_now_us(void);

/* Add m into s (from any thread). */
void metrics_sum(struct metrics_snapshot *s, const struct metrics *m);
/* s as OpenMetrics text (ending "# EOF\n"); returns the length, or the
 * length it needs when that is cap or more (nothing cut silently). */
size_t metrics_render(const struct metrics_snapshot *s, char *out, size_t cap);

#endif
