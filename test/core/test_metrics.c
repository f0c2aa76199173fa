/*
 * test/core/test_metrics.c - the metrics a shard keeps and their
 * OpenMetrics text: histogram buckets (cumulative in the text, +Inf, sum
 * and count), per-shard sums, a buffer too small said so, and the HTTP
 * request line the endpoint accepts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "core/metrics_http.h"

static struct metrics shard_a, shard_b;

Test(metrics, histograms_and_counters_sum_over_shards)
{
	memset(&shard_a, 0, sizeof shard_a);
	memset(&shard_b, 0, sizeof shard_b);
	metrics_add(&shard_a, METRICS_MDA_OK, 2);
	metrics_add(&shard_b, METRICS_MDA_OK, 3);
	metrics_add(&shard_b, METRICS_MTA_TEMPFAIL, 1);
	metrics_gauge_add(&shard_a, METRICS_SESSIONS_OPEN, 2);
	metrics_gauge_add(&shard_b, METRICS_SESSIONS_OPEN, -1);
	metrics_observe(&shard_a, METRICS_ACCEPT_TO_250, 200);       /* <= 0.00025 */
	metrics_observe(&shard_b, METRICS_ACCEPT_TO_250, 1500);      /* <= 0.002 */
	metrics_observe(&shard_b, METRICS_ACCEPT_TO_250, 99000000);  /* +Inf */
	struct metrics_snapshot s = { .queue_envelopes = 7, .shards = 2, .start_time = 1700000000 };
	s.gauge[METRICS_HELD] = 0;
	metrics_sum(&s, &shard_a);
	metrics_sum(&s, &shard_b);
	cr_expect_eq(s.counter[METRICS_MDA_OK], 5);
	cr_expect_eq(s.gauge[METRICS_SESSIONS_OPEN], 1);
	static char text[65536];
	size_t n = metrics_render(&s, text, sizeof text);
	cr_assert_lt(n, sizeof text);
	cr_expect_eq(strlen(text), n);
	static const char *const want[] = {
		"ringmta_deliveries_total{agent=\"mda\",result=\"ok\"} 5\n",
		"ringmta_deliveries_total{agent=\"mta\",result=\"tempfail\"} 1\n",
		"ringmta_smtp_sessions_open 1\n",
		"ringmta_accept_to_250_seconds_bucket{le=\"0.00025\"} 1\n",
		"ringmta_accept_to_250_seconds_bucket{le=\"0.001\"} 1\n",
		"ringmta_accept_to_250_seconds_bucket{le=\"0.002\"} 2\n",
		"ringmta_accept_to_250_seconds_bucket{le=\"30.0\"} 2\n",
		"ringmta_accept_to_250_seconds_bucket{le=\"+Inf\"} 3\n",
		"ringmta_accept_to_250_seconds_sum 99.0017\n",
		"ringmta_accept_to_250_seconds_count 3\n",
		"ringmta_queue_envelopes{state=\"waiting\"} 7\n",
		"ringmta_start_time_seconds 1700000000\n",
		"# TYPE ringmta_deliveries counter\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect_not_null(strstr(text, want[i]), "missing %s", want[i]);
	cr_expect_str_eq(text + n - 6, "# EOF\n");
	char small[100];
	size_t need = metrics_render(&s, small, sizeof small);
	cr_expect_eq(need, n, "a short buffer must say how much is needed");
}

Test(metrics, http_request_lines)
{
	static const struct { const char *req; int status, head; } cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 0 },
		{ "GET /metrics?x=1 HTTP/1.0\n\n", 200, 0 },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", 200, 1 },
		{ "GET / HTTP/1.1\r\n\r\n", 404, 0 },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 405, 0 },
		{ "GET /metrics\r\n\r\n", 400, 0 },
		{ "GET /metrics HTTP/2\r\n\r\n", 400, 0 },
		{ "GET /metrics HTTP/1.1 extra\r\n\r\n", 400, 0 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, 0 },   /* not complete yet */
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int head = -1;
		cr_expect_eq(metrics_http_status(cases[i].req, strlen(cases[i].req), &head),
		             cases[i].status, "%s", cases[i].req);
		if (cases[i].status == 200)
			cr_expect_eq(head, cases[i].head, "%s", cases[i].req);
	}
	static char big[METRICS_HTTP_REQUEST_MAX];
	memset(big, 'a', sizeof big);
	int head;
	cr_expect_eq(metrics_http_status(big, sizeof big, &head), 400, "an endless header");
}
