/*
 * bench/load_report.h - the load generator's results: totals over every
 * loader, merged histograms and reply tables, printed as a table for people
 * or as one JSON object for scripts. MB is 10^6 bytes; latencies are
 * milliseconds.
 */
#ifndef BENCH_LOAD_REPORT_H
#define BENCH_LOAD_REPORT_H

#include <stdio.h>

#include "bench/load.h"

struct bench_load_totals {
	uint64_t started, ok, rejected, failed, bytes_ok;
	uint64_t conns_opened, conns_failed, errors;
	double elapsed_s;         /* the longest loader: start to last session closed */
	double cpu_user_s, cpu_sys_s;
	const char *ids_path;     /* NULL when not written */
	uint64_t ids_written;
	const char *fatal;        /* why the run was stopped early, or NULL */
	const char *tls_error;    /* the first TLS failure, or NULL */
	const char *tls_desc;     /* "TLSv1.3 TLS_AES_..." of the first handshake, or NULL */
};

/* Sum the live counters of n loaders into t (elapsed and CPU left as they are). */
void bench_load_totals(struct bench_loader *lds, unsigned n, struct bench_load_totals *t);
/* Merge the stats of n loaders into *into (zeroed and initialised first). */
void bench_load_merge(struct bench_loader *lds, unsigned n, struct bench_load_stats *into);
/* The report as aligned text. */
void bench_load_print_text(FILE *f, const struct bench_load_config *cfg,
                           const struct bench_load_totals *t,
                           const struct bench_load_stats *st);
/* The report as one JSON object and a newline. */
void bench_load_print_json(FILE *f, const struct bench_load_config *cfg,
                           const struct bench_load_totals *t,
                           const struct bench_load_stats *st);

#endif
