/*
 * core/metrics.c - per-shard counters and histograms, their sum, and the
 * OpenMetrics text of a snapshot. See core/metrics.h.
 */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

const uint64_t metrics_bucket_us[METRICS_HISTOGRAMS][METRICS_BUCKETS] = {
	[METRICS_ACCEPT_TO_250] = {
		250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
		1000000, 2000000, 5000000, 10000000, 30000000,
	},
	[METRICS_QUEUE_TO_DELIVERY] = {
		1000, 5000, 10000, 50000, 100000, 250000, 500000, 1000000, 5000000,
		30000000, 60000000, 300000000, 900000000, 3600000000ull, 14400000000ull,
		86400000000ull,
	},
};

static void
metrics_bump(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

void
metrics_observe(struct metrics *m, enum metrics_histogram h, uint64_t us)
{
	unsigned b = 0;
	while (b < METRICS_BUCKETS && us > metrics_bucket_us[h][b])
		b++;
	metrics_bump(&m->hist[h].bucket[b], 1);
	metrics_bump(&m->hist[h].count, 1);
	metrics_bump(&m->hist[h].sum_us, us);
}

uint64_t
metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
metrics_sum(struct metrics_snapshot *s, const struct metrics *m)
{
	for (unsigned k = 0; k < METRICS_COUNTERS; k++)
		s->counter[k] += atomic_load_explicit(&m->counter[k], memory_order_relaxed);
	for (unsigned g = 0; g < METRICS_GAUGES; g++)
		s->gauge[g] += atomic_load_explicit(&m->gauge[g], memory_order_relaxed);
	for (unsigned h = 0; h < METRICS_HISTOGRAMS; h++) {
		for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
			s->bucket[h][b] += atomic_load_explicit(&m->hist[h].bucket[b],
			                                        memory_order_relaxed);
		s->count[h] += atomic_load_explicit(&m->hist[h].count, memory_order_relaxed);
		s->sum_us[h] += atomic_load_explicit(&m->hist[h].sum_us, memory_order_relaxed);
	}
}

struct metrics_out {
	char *p;
	size_t cap, len;
};

static void __attribute__((format(printf, 2, 3)))
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->len < o->cap ? o->p + o->len : NULL,
	                  o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void
metrics_family(struct metrics_out *o, const char *name, const char *type, const char *help)
{
	metrics_printf(o, "# TYPE ringmta_%s %s\n# HELP ringmta_%s %s\n", name, type, name, help);
}

/* Microseconds as seconds, exactly (no float rounding in the text). */
static void
metrics_seconds(struct metrics_out *o, uint64_t us)
{
	uint64_t frac = us % 1000000;
	if (frac == 0) {
		metrics_printf(o, "%llu.0", (unsigned long long)(us / 1000000));
		return;
	}
	char digits[8];
	snprintf(digits, sizeof digits, "%06llu", (unsigned long long)frac);
	for (int i = 5; i > 0 && digits[i] == '0'; i--)
		digits[i] = '\0';
	metrics_printf(o, "%llu.%s", (unsigned long long)(us / 1000000), digits);
}

static void
metrics_histogram(struct metrics_out *o, const struct metrics_snapshot *s,
                  enum metrics_histogram h, const char *name, const char *help)
{
	metrics_family(o, name, "histogram", help);
	uint64_t cum = 0;
	for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
		cum += s->bucket[h][b];
		metrics_printf(o, "ringmta_%s_bucket{le=\"", name);
		metrics_seconds(o, metrics_bucket_us[h][b]);
		metrics_printf(o, "\"} %llu\n", (unsigned long long)cum);
	}
	cum += s->bucket[h][METRICS_BUCKETS];
	metrics_printf(o, "ringmta_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	metrics_printf(o, "ringmta_%s_sum ", name);
	metrics_seconds(o, s->sum_us[h]);
	metrics_printf(o, "\nringmta_%s_count %llu\n", name, (unsigned long long)cum);
}

size_t
metrics_render(const struct metrics_snapshot *s, char *out, size_t cap)
{
	struct metrics_out o = { out, cap, 0 };
	const uint64_t *c = s->counter;
#define U(x) ((unsigned long long)(x))
	metrics_family(&o, "smtp_sessions", "counter", "SMTP sessions accepted, by family.");
	metrics_printf(&o, "ringmta_smtp_sessions_total{family=\"inet4\"} %llu\n"
	               "ringmta_smtp_sessions_total{family=\"inet6\"} %llu\n"
	               "ringmta_smtp_sessions_total{family=\"local\"} %llu\n",
	               U(c[METRICS_SESSIONS_INET4]), U(c[METRICS_SESSIONS_INET6]),
	               U(c[METRICS_SESSIONS_LOCAL]));
	metrics_family(&o, "smtp_sessions_open", "gauge", "SMTP sessions open now.");
	metrics_printf(&o, "ringmta_smtp_sessions_open %lld\n",
	               (long long)(s->gauge[METRICS_SESSIONS_OPEN] > 0
	                           ? s->gauge[METRICS_SESSIONS_OPEN] : 0));
	metrics_family(&o, "tls_handshakes", "counter", "Server-side TLS handshakes, by result.");
	metrics_printf(&o, "ringmta_tls_handshakes_total{result=\"ok\"} %llu\n"
	               "ringmta_tls_handshakes_total{result=\"failed\"} %llu\n",
	               U(c[METRICS_TLS_OK]), U(c[METRICS_TLS_FAILED]));
	metrics_family(&o, "messages_accepted", "counter", "Messages answered 250 after their data.");
	metrics_printf(&o, "ringmta_messages_accepted_total %llu\n", U(c[METRICS_MESSAGES_ACCEPTED]));
	metrics_family(&o, "message_bytes_accepted", "counter", "Bytes of the messages accepted.");
	metrics_printf(&o, "ringmta_message_bytes_accepted_total %llu\n", U(c[METRICS_MESSAGE_BYTES]));
	metrics_family(&o, "recipients", "counter", "RCPT TO answers, by result.");
	metrics_printf(&o, "ringmta_recipients_total{result=\"accepted\"} %llu\n"
	               "ringmta_recipients_total{result=\"refused\"} %llu\n",
	               U(c[METRICS_RCPT_ACCEPTED]), U(c[METRICS_RCPT_REFUSED]));
	metrics_family(&o, "deliveries", "counter", "Delivery attempts, by agent and result.");
	static const char *const results[] = { "ok", "tempfail", "permfail" };
	for (unsigned i = 0; i < 3; i++)
		metrics_printf(&o, "ringmta_deliveries_total{agent=\"mda\",result=\"%s\"} %llu\n",
		               results[i], U(c[METRICS_MDA_OK + i]));
	for (unsigned i = 0; i < 3; i++)
		metrics_printf(&o, "ringmta_deliveries_total{agent=\"mta\",result=\"%s\"} %llu\n",
		               results[i], U(c[METRICS_MTA_OK + i]));
	metrics_family(&o, "deferrals", "counter", "Deliveries deferred, by reason.");
	metrics_printf(&o, "ringmta_deferrals_total{reason=\"remote-4xx\"} %llu\n"
	               "ringmta_deferrals_total{reason=\"connection\"} %llu\n"
	               "ringmta_deferrals_total{reason=\"local\"} %llu\n",
	               U(c[METRICS_DEFER_REPLY]), U(c[METRICS_DEFER_CONNECTION]),
	               U(c[METRICS_MDA_TEMPFAIL]));
	metrics_family(&o, "envelopes_queued", "counter", "Envelopes made durable in the queue.");
	metrics_printf(&o, "ringmta_envelopes_queued_total %llu\n", U(c[METRICS_ENVELOPES_QUEUED]));
	metrics_family(&o, "envelopes_removed", "counter", "Envelopes removed with smtpctl remove.");
	metrics_printf(&o, "ringmta_envelopes_removed_total %llu\n", U(c[METRICS_REMOVED]));
	metrics_family(&o, "reports", "counter", "Delivery reports queued (bounces, delays, successes).");
	metrics_printf(&o, "ringmta_reports_total %llu\n", U(c[METRICS_BOUNCES]));
	metrics_family(&o, "loops", "counter", "Messages refused as a mail loop.");
	metrics_printf(&o, "ringmta_loops_total %llu\n", U(c[METRICS_LOOPS]));
	metrics_family(&o, "envelopes_expired", "counter", "Envelopes that outlived the queue ttl.");
	metrics_printf(&o, "ringmta_envelopes_expired_total %llu\n", U(c[METRICS_EXPIRED]));
	metrics_family(&o, "queue_envelopes", "gauge", "Envelopes in the queue, by state.");
	uint64_t held = s->gauge[METRICS_HELD] > 0 ? (uint64_t)s->gauge[METRICS_HELD] : 0;
	uint64_t inflight = held < s->queue_envelopes ? held : s->queue_envelopes;
	metrics_printf(&o, "ringmta_queue_envelopes{state=\"inflight\"} %llu\n"
	               "ringmta_queue_envelopes{state=\"waiting\"} %llu\n"
	               "ringmta_queue_envelopes{state=\"quarantined\"} %llu\n",
	               U(inflight), U(s->queue_envelopes - inflight), U(s->queue_quarantined));
	metrics_family(&o, "queue_fsyncs", "counter", "Syncs of the queue's write-ahead log.");
	metrics_printf(&o, "ringmta_queue_fsyncs_total %llu\n", U(s->queue_fsyncs));
	metrics_histogram(&o, s, METRICS_ACCEPT_TO_250, "accept_to_250_seconds",
	                  "From the end of a message's data to its 250 (queued and synced).");
	metrics_histogram(&o, s, METRICS_QUEUE_TO_DELIVERY, "queue_to_delivery_seconds",
	                  "From a message's 250 to its delivery, per recipient.");
	metrics_family(&o, "shards", "gauge", "Shards (threads with a ring) running.");
	metrics_printf(&o, "ringmta_shards %u\n", s->shards);
	metrics_family(&o, "start_time_seconds", "gauge", "When smtpd started (unix time).");
	metrics_printf(&o, "ringmta_start_time_seconds %lld\n", (long long)s->start_time);
	metrics_printf(&o, "# EOF\n");
#undef U
	return o.len;
}
