/*
 * bench/load_report.c - totals, merging and printing of the load
 * generator's results (see bench/load_report.h).
 */
#include "bench/load_report.h"

#include <arpa/inet.h>
#include <string.h>

static const struct { const char *name; double q; } quantiles[] = {
	{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99_9", 0.999}, {"max", 1.0},
};

/* Sum the live counters of n loaders. */
void
bench_load_totals(struct bench_loader *lds, unsigned n, struct bench_load_totals *t)
{
	t->started = t->ok = t->rejected = t->failed = t->bytes_ok = 0;
	t->conns_opened = t->conns_failed = t->errors = 0;
	for (unsigned i = 0; i < n; i++) {
		struct bench_load_live *l = &lds[i].live;
		t->started += atomic_load_explicit(&l->started, memory_order_relaxed);
		t->ok += atomic_load_explicit(&l->ok, memory_order_relaxed);
		t->rejected += atomic_load_explicit(&l->rejected, memory_order_relaxed);
		t->failed += atomic_load_explicit(&l->failed, memory_order_relaxed);
		t->bytes_ok += atomic_load_explicit(&l->bytes_ok, memory_order_relaxed);
		t->conns_opened += atomic_load_explicit(&l->conns_opened, memory_order_relaxed);
		t->conns_failed += atomic_load_explicit(&l->conns_failed, memory_order_relaxed);
		t->errors += atomic_load_explicit(&l->errors, memory_order_relaxed);
	}
}

/* Merge the stats of n loaders. */
void
bench_load_merge(struct bench_loader *lds, unsigned n, struct bench_load_stats *into)
{
	memset(into, 0, sizeof *into);
	for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++)
		bench_hist_init(&into->lat[s]);
	for (unsigned i = 0; i < n; i++) {
		const struct bench_load_stats *st = lds[i].stats;
		for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
			bench_hist_merge(&into->lat[s], &st->lat[s]);
			for (unsigned c = 0; c < 400; c++)
				into->replies[s][c] += st->replies[s][c];
		}
		for (unsigned e = 0; e < BENCH_ERR_COUNT; e++)
			for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++)
				into->errors[e][s] += st->errors[e][s];
		for (unsigned e = 0; e < BENCH_ERRNO_MAX; e++)
			into->connect_errno[e] += st->connect_errno[e];
		into->ids_dropped += st->ids_dropped;
		into->requeued += st->requeued;
	}
}

/* Returns the name of errno e ("ECONNREFUSED"), or "errno N". */
static const char *
bench_errno_name(unsigned e, char *buf, size_t size)
{
	const char *name = e ? strerrorname_np((int)e) : NULL;
	if (name != NULL)
		return name;
	snprintf(buf, size, "errno %u", e);
	return buf;
}

/* Returns messages per second and MB per second. */
static void
bench_load_rates(const struct bench_load_totals *t, double *msgs, double *mb)
{
	*msgs = t->elapsed_s > 0 ? (double)t->ok / t->elapsed_s : 0.0;
	*mb = t->elapsed_s > 0 ? (double)t->bytes_ok / 1e6 / t->elapsed_s : 0.0;
}

/* "starttls" or "implicit" (or "none"). */
static const char *
bench_load_tls_name(int mode)
{
	return mode == BENCH_LOAD_TLS_STARTTLS ? "starttls" :
	       mode == BENCH_LOAD_TLS_IMPLICIT ? "implicit" : "none";
}

/* The first line: what was run. */
static void
bench_load_print_setup(FILE *f, const struct bench_load_config *cfg)
{
	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &cfg->target.sin_addr, addr, sizeof addr);
	fprintf(f, "mtaload: %s:%u, %u sessions on %u thread%s, ", addr,
	        ntohs(cfg->target.sin_port), cfg->sessions, cfg->threads,
	        cfg->threads == 1 ? "" : "s");
	if (cfg->rate > 0)
		fprintf(f, "open loop at %.0f msg/s, ", cfg->rate);
	else
		fprintf(f, "closed loop, ");
	if (cfg->messages)
		fprintf(f, "%llu messages, ", (unsigned long long)cfg->messages);
	else
		fprintf(f, "%.1f s, ", (double)cfg->duration_ns / 1e9);
	if (cfg->size.min_bytes == cfg->size.max_bytes)
		fprintf(f, "%llu B each, ", (unsigned long long)cfg->size.min_bytes);
	else
		fprintf(f, "%llu-%llu B uniform, ", (unsigned long long)cfg->size.min_bytes,
		        (unsigned long long)cfg->size.max_bytes);
	fprintf(f, "%u rcpt%s, ", cfg->rcpts, cfg->rcpts == 1 ? "" : "s");
	if (cfg->rcpt_count > 0)
		fprintf(f, "recipients %s for 0..%llu, ", cfg->rcpt_pattern.text,
		        (unsigned long long)cfg->rcpt_count - 1);
	fprintf(f, "pipelining %s, ", cfg->pipelining ? "on" : "off");
	if (cfg->msgs_per_conn)
		fprintf(f, "%llu msg/connection", (unsigned long long)cfg->msgs_per_conn);
	else
		fprintf(f, "unlimited msg/connection");
	if (cfg->tls_mode != BENCH_LOAD_TLS_NONE)
		fprintf(f, ", %s%s", bench_load_tls_name(cfg->tls_mode),
		        cfg->tls_verify ? " (verified)" : "");
	if (cfg->auth)
		fprintf(f, ", AUTH PLAIN as %s", cfg->auth_user);
	if (cfg->proxy_version)
		fprintf(f, ", PROXY v%d from %s %s", cfg->proxy_version, cfg->proxy_src_text,
		        cfg->proxy_random ? "at random" : "in order");
	fprintf(f, "\n");
}

/* Replies by code, one line per stage. */
static void
bench_load_print_replies(FILE *f, const struct bench_load_stats *st)
{
	fprintf(f, "replies:\n");
	for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
		int any = 0;
		for (unsigned c = 0; c < 400; c++) {
			if (st->replies[s][c] == 0)
				continue;
			if (!any)
				fprintf(f, "  %-9s", bench_stage_name(s));
			fprintf(f, " %u x%llu", c + 200, (unsigned long long)st->replies[s][c]);
			any = 1;
		}
		if (any)
			fprintf(f, "\n");
	}
}

/* Errors by kind and stage, and connect errors by errno. */
static void
bench_load_print_errors(FILE *f, const struct bench_load_stats *st, uint64_t total)
{
	char buf[32];
	fprintf(f, "errors: %llu%s", (unsigned long long)total, total ? "\n" : " \n");
	for (unsigned e = 0; e < BENCH_ERR_COUNT; e++)
		for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++)
			if (st->errors[e][s])
				fprintf(f, "  %s at %s x%llu\n", bench_err_name(e), bench_stage_name(s),
				        (unsigned long long)st->errors[e][s]);
	for (unsigned e = 0; e < BENCH_ERRNO_MAX; e++)
		if (st->connect_errno[e])
			fprintf(f, "  connect: %s x%llu\n", bench_errno_name(e, buf, sizeof buf),
			        (unsigned long long)st->connect_errno[e]);
}

/* The report as aligned text. */
void
bench_load_print_text(FILE *f, const struct bench_load_config *cfg,
                      const struct bench_load_totals *t, const struct bench_load_stats *st)
{
	double msgs, mb;
	bench_load_rates(t, &msgs, &mb);
	bench_load_print_setup(f, cfg);
	fprintf(f, "%.3f s: %llu accepted, %llu rejected, %llu failed of %llu started: "
	        "%.1f msg/s, %.2f MB/s\n", t->elapsed_s, (unsigned long long)t->ok,
	        (unsigned long long)t->rejected, (unsigned long long)t->failed,
	        (unsigned long long)t->started, msgs, mb);
	fprintf(f, "connections: %llu opened, %llu failed; mtaload CPU %.2f s user + %.2f s "
	        "system (%.3f ms per message)\n", (unsigned long long)t->conns_opened,
	        (unsigned long long)t->conns_failed, t->cpu_user_s, t->cpu_sys_s,
	        t->ok ? (t->cpu_user_s + t->cpu_sys_s) * 1e3 / (double)t->ok : 0.0);
	fprintf(f, "%-10s %9s", "latency ms", "count");
	for (size_t q = 0; q < sizeof quantiles / sizeof quantiles[0]; q++)
		fprintf(f, " %9s", quantiles[q].name);
	fprintf(f, " %9s\n", "mean");
	for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
		const struct bench_hist *h = &st->lat[s];
		if (h->count == 0)
			continue;
		fprintf(f, "%-10s %9llu", bench_stage_name(s), (unsigned long long)h->count);
		for (size_t q = 0; q < sizeof quantiles / sizeof quantiles[0]; q++)
			fprintf(f, " %9.3f", (double)bench_hist_quantile(h, quantiles[q].q) / 1e6);
		fprintf(f, " %9.3f\n", bench_hist_mean(h) / 1e6);
	}
	bench_load_print_replies(f, st);
	if (st->requeued)
		fprintf(f, "requeued: %llu messages whose MAIL got 4xx after earlier messages on "
		        "the connection were started again on a new one\n",
		        (unsigned long long)st->requeued);
	bench_load_print_errors(f, st, t->errors);
	if (t->tls_desc != NULL)
		fprintf(f, "tls: %s\n", t->tls_desc);
	if (t->tls_error != NULL)
		fprintf(f, "first TLS error: %s\n", t->tls_error);
	if (t->fatal != NULL)
		fprintf(f, "stopped: %s\n", t->fatal);
	if (t->ids_path != NULL)
		fprintf(f, "message ids: %llu written to %s%s\n", (unsigned long long)t->ids_written,
		        t->ids_path, st->ids_dropped ? " (some dropped: --ids-max)" : "");
}

/* A JSON string with the characters JSON needs escaped. */
static void
bench_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A JSON string, or null for NULL. */
static void
bench_json_or_null(FILE *f, const char *s)
{
	if (s != NULL)
		bench_json_string(f, s);
	else
		fprintf(f, "null");
}

/* "latency_ms": {stage: {count, p50, ..., mean}}. */
static void
bench_load_json_latency(FILE *f, const struct bench_load_stats *st)
{
	fprintf(f, "\"latency_ms\":{");
	const char *sep = "";
	for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
		const struct bench_hist *h = &st->lat[s];
		if (h->count == 0)
			continue;
		fprintf(f, "%s\"%s\":{\"count\":%llu", sep, bench_stage_name(s),
		        (unsigned long long)h->count);
		for (size_t q = 0; q < sizeof quantiles / sizeof quantiles[0]; q++)
			fprintf(f, ",\"%s\":%.4f", quantiles[q].name,
			        (double)bench_hist_quantile(h, quantiles[q].q) / 1e6);
		fprintf(f, ",\"mean\":%.4f}", bench_hist_mean(h) / 1e6);
		sep = ",";
	}
	fprintf(f, "}");
}

/* "replies": {stage: {code: n}}. */
static void
bench_load_json_replies(FILE *f, const struct bench_load_stats *st)
{
	fprintf(f, "\"replies\":{");
	const char *sep = "";
	for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
		int open = 0;
		for (unsigned c = 0; c < 400; c++) {
			if (st->replies[s][c] == 0)
				continue;
			if (!open)
				fprintf(f, "%s\"%s\":{", sep, bench_stage_name(s));
			fprintf(f, "%s\"%u\":%llu", open ? "," : "", c + 200,
			        (unsigned long long)st->replies[s][c]);
			open = 1;
			sep = ",";
		}
		if (open)
			fprintf(f, "}");
	}
	fprintf(f, "}");
}

/* "errors": {kind: {stage: n}}, "connect_errors": {ENAME: n}. */
static void
bench_load_json_errors(FILE *f, const struct bench_load_stats *st)
{
	char buf[32];
	fprintf(f, "\"errors\":{");
	const char *sep = "";
	for (unsigned e = 0; e < BENCH_ERR_COUNT; e++) {
		int open = 0;
		for (unsigned s = 0; s < BENCH_STAGE_COUNT; s++) {
			if (st->errors[e][s] == 0)
				continue;
			if (!open)
				fprintf(f, "%s\"%s\":{", sep, bench_err_name(e));
			fprintf(f, "%s\"%s\":%llu", open ? "," : "", bench_stage_name(s),
			        (unsigned long long)st->errors[e][s]);
			open = 1;
			sep = ",";
		}
		if (open)
			fprintf(f, "}");
	}
	fprintf(f, "},\"connect_errors\":{");
	sep = "";
	for (unsigned e = 0; e < BENCH_ERRNO_MAX; e++) {
		if (st->connect_errno[e] == 0)
			continue;
		fprintf(f, "%s\"%s\":%llu", sep, bench_errno_name(e, buf, sizeof buf),
		        (unsigned long long)st->connect_errno[e]);
		sep = ",";
	}
	fprintf(f, "}");
}

/* "config": what was run. */
static void
bench_load_json_config(FILE *f, const struct bench_load_config *cfg)
{
	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &cfg->target.sin_addr, addr, sizeof addr);
	fprintf(f, "\"target\":\"%s:%u\",\"config\":{\"sessions\":%u,\"threads\":%u,"
	        "\"messages\":%llu,\"duration_s\":%.3f,\"msgs_per_conn\":%llu,"
	        "\"size_min\":%llu,\"size_max\":%llu,\"rcpts\":%u,\"pipelining\":%s,"
	        "\"rate\":%.3f,\"timeout_s\":%.3f,\"run_id\":", addr, ntohs(cfg->target.sin_port),
	        cfg->sessions, cfg->threads, (unsigned long long)cfg->messages,
	        (double)cfg->duration_ns / 1e9, (unsigned long long)cfg->msgs_per_conn,
	        (unsigned long long)cfg->size.min_bytes, (unsigned long long)cfg->size.max_bytes,
	        cfg->rcpts, cfg->pipelining ? "true" : "false", cfg->rate,
	        (double)cfg->timeout_ns / 1e9);
	bench_json_string(f, cfg->run_id);
	fprintf(f, ",\"from\":");
	bench_json_string(f, cfg->from);
	fprintf(f, ",\"to\":");
	bench_json_string(f, cfg->to);
	fprintf(f, ",\"rcpt_pattern\":");
	if (cfg->rcpt_count > 0) {
		bench_json_string(f, cfg->rcpt_pattern.text);
		fprintf(f, ",\"rcpt_count\":%llu", (unsigned long long)cfg->rcpt_count);
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\"tls\":");
	if (cfg->tls_mode != BENCH_LOAD_TLS_NONE)
		fprintf(f, "\"%s\",\"tls_verify\":%s", bench_load_tls_name(cfg->tls_mode),
		        cfg->tls_verify ? "true" : "false");
	else
		fprintf(f, "null");
	fprintf(f, ",\"auth\":");
	if (cfg->auth)
		bench_json_string(f, cfg->auth_user);
	else
		fprintf(f, "null");
	if (cfg->proxy_version) {
		fprintf(f, ",\"proxy\":\"v%d\",\"proxy_src\":", cfg->proxy_version);
		bench_json_string(f, cfg->proxy_src_text);
		fprintf(f, ",\"proxy_order\":\"%s\"", cfg->proxy_random ? "random" : "sequential");
	} else {
		fprintf(f, ",\"proxy\":null");
	}
	fprintf(f, "}");
}

/* The report as one JSON object and a newline. */
void
bench_load_print_json(FILE *f, const struct bench_load_config *cfg,
                      const struct bench_load_totals *t, const struct bench_load_stats *st)
{
	double msgs, mb;
	bench_load_rates(t, &msgs, &mb);
	fprintf(f, "{\"tool\":\"mtaload\",");
	bench_load_json_config(f, cfg);
	fprintf(f, ",\"elapsed_s\":%.6f,\"messages\":{\"started\":%llu,\"accepted\":%llu,"
	        "\"rejected\":%llu,\"failed\":%llu},\"bytes_accepted\":%llu,"
	        "\"msgs_per_s\":%.2f,\"mb_per_s\":%.3f,\"connections\":{\"opened\":%llu,"
	        "\"failed\":%llu},\"cpu_s\":{\"user\":%.3f,\"system\":%.3f},\"errors_total\":%llu,",
	        t->elapsed_s, (unsigned long long)t->started, (unsigned long long)t->ok,
	        (unsigned long long)t->rejected, (unsigned long long)t->failed,
	        (unsigned long long)t->bytes_ok, msgs, mb, (unsigned long long)t->conns_opened,
	        (unsigned long long)t->conns_failed, t->cpu_user_s, t->cpu_sys_s,
	        (unsigned long long)t->errors);
	bench_load_json_latency(f, st);
	fprintf(f, ",");
	bench_load_json_replies(f, st);
	fprintf(f, ",");
	bench_load_json_errors(f, st);
	fprintf(f, ",\"tls\":");
	bench_json_or_null(f, t->tls_desc);
	fprintf(f, ",\"tls_error\":");
	bench_json_or_null(f, t->tls_error);
	fprintf(f, ",\"fatal\":");
	bench_json_or_null(f, t->fatal);
	fprintf(f, ",\"ids_file\":");
	if (t->ids_path != NULL)
		bench_json_string(f, t->ids_path);
	else
		fprintf(f, "null");
	fprintf(f, ",\"ids_written\":%llu,\"ids_dropped\":%llu,\"requeued\":%llu}\n",
	        (unsigned long long)t->ids_written, (unsigned long long)st->ids_dropped,
	        (unsigned long long)st->requeued);
}
