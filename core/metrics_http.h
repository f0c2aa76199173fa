/*
 * core/metrics_http.h - the OpenMetrics endpoint (`metrics listen on ADDR
 * port N` in smtpd.conf; off when absent): a small HTTP/1.x server on the
 * main thread's poll loop, like the control socket. GET (or HEAD)
 * /metrics answers the sum of every shard's metrics (core/metrics.h) as
 * application/openmetrics-text; another path is 404, another method 405,
 * a malformed or oversized request 400. One request per connection, at
 * most METRICS_HTTP_CLIENTS at once, each closed after
 * METRICS_HTTP_TIMEOUT_MS: a slow or silent client costs nothing else.
 *
 * Use from core/daemon.c (main thread only):
 *   metrics_http_open()    before privileges are dropped (binds)
 *   metrics_http_pollfds() / metrics_http_serve() in every poll turn, with
 *   metrics_http_timeout_ms() folded into the poll timeout
 *   metrics_http_close()
 */
#ifndef CORE_METRICS_HTTP_H
#define CORE_METRICS_HTTP_H

#include <stddef.h>

struct daemon;
struct metrics_http;
struct pollfd;
struct rules_config;

#define METRICS_HTTP_CLIENTS 16
#define METRICS_HTTP_POLLFDS (METRICS_HTTP_CLIENTS + 1)
#define METRICS_HTTP_TIMEOUT_MS 5000
#define METRICS_HTTP_REQUEST_MAX 4096

/* NULL (and 0) when c has no metrics listener; -1 when it cannot listen
 * (logged). */
int metrics_http_open(struct metrics_http **m, struct daemon *d, const struct rules_config *c);
unsigned metrics_http_pollfds(struct metrics_http *m, struct pollfd *p, unsigned cap);
void metrics_http_serve(struct metrics_http *m, const struct pollfd *p, unsigned n);
/* Milliseconds until the next client deadline, -1 with no client. */
int metrics_http_timeout_ms(const struct metrics_http *m);
void metrics_http_close(struct metrics_http *m);
/* The status for the request bytes read so far (no I/O): 0 while the
 * header is incomplete, else 200, 400, 404 or 405; *head set for HEAD. */
int metrics_http_status(const char *req, size_t len, int *head);

#endif
