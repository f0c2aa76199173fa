/*
 * core/metrics_http.c - the OpenMetrics endpoint on the main thread's poll
 * loop. See core/metrics_http.h.
 */
#include "core/metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rules/rules.h"

#define METRICS_HTTP_BODY_MAX 65536

struct metrics_client {
	int fd;                      /* -1: free */
	int64_t deadline_ms;
	char in[METRICS_HTTP_REQUEST_MAX];
	size_t in_len;
	char *out;                   /* the whole response, once the request is read */
	size_t out_len, out_off;
};

struct metrics_http {
	struct daemon *d;
	int fd;
	struct metrics_client c[METRICS_HTTP_CLIENTS];
};

static int64_t
metrics_http_now_ms(void)
{
	return (int64_t)(metrics_now_us() / 1000);
}

int
metrics_http_status(const char *req, size_t len, int *head)
{
	const char *end = NULL;
	for (size_t i = 0; i + 1 < len && end == NULL; i++)
		if (req[i] == '\n' && (req[i + 1] == '\n' ||
		                       (req[i + 1] == '\r' && i + 2 < len && req[i + 2] == '\n')))
			end = req + i;
	*head = 0;
	if (end == NULL)
		return len >= METRICS_HTTP_REQUEST_MAX ? 400 : 0;
	const char *eol = memchr(req, '\n', len);
	size_t line = (size_t)(eol - req);
	if (line > 0 && req[line - 1] == '\r')
		line--;
	char method[8], target[256], version[16];
	char text[300];
	if (line >= sizeof text || memchr(req, '\0', line) != NULL)
		return 400;
	memcpy(text, req, line);
	text[line] = '\0';
	int n = 0;
	if (sscanf(text, "%7s %255s %15s%n", method, target, version, &n) != 3 ||
	    (size_t)n != line || strncmp(version, "HTTP/1.", 7) != 0)
		return 400;
	*head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !*head)
		return 405;
	char *query = strchr(target, '?');
	if (query)
		*query = '\0';
	return strcmp(target, "/metrics") == 0 ? 200 : 404;
}

int
metrics_http_open(struct metrics_http **out, struct daemon *d, const struct rules_config *c)
{
	*out = NULL;
	const struct rules_listener *l = &c->metrics;
	if (l->addr_len == 0)
		return 0;
	struct metrics_http *m = calloc(1, sizeof *m);
	if (m == NULL) {
		log_warn("metrics: out of memory");
		return -1;
	}
	m->d = d;
	for (unsigned i = 0; i < METRICS_HTTP_CLIENTS; i++)
		m->c[i].fd = -1;
	int one = 1;
	m->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (l->addr.ss_family == AF_INET6 &&
	     setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(m->fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0 ||
	    listen(m->fd, 16) < 0) {
		log_warn("%s:%u: metrics listen on %s: %s", c->file, l->line, l->spec, strerror(errno));
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return -1;
	}
	log_info("metrics: listening on %s port %u", l->spec,
	         ntohs(((const struct sockaddr_in *)&l->addr)->sin_port));
	*out = m;
	return 0;
}

unsigned
metrics_http_pollfds(struct metrics_http *m, struct pollfd *p, unsigned cap)
{
	unsigned n = 0;
	if (m == NULL || cap == 0)
		return 0;
	p[n++] = (struct pollfd){ .fd = m->fd, .events = POLLIN };
	for (unsigned i = 0; i < METRICS_HTTP_CLIENTS && n < cap; i++)
		if (m->c[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = m->c[i].fd,
			                          .events = m->c[i].out ? POLLOUT : POLLIN };
	return n;
}

int
metrics_http_timeout_ms(const struct metrics_http *m)
{
	int64_t now = metrics_http_now_ms(), best = -1;
	for (unsigned i = 0; m != NULL && i < METRICS_HTTP_CLIENTS; i++) {
		if (m->c[i].fd < 0)
			continue;
		int64_t left = m->c[i].deadline_ms > now ? m->c[i].deadline_ms - now : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return (int)best;
}

static void
metrics_client_close(struct metrics_client *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

/* The response for status into c->out; the body is the metrics for 200. */
static void
metrics_client_respond(struct metrics_http *m, struct metrics_client *c, int status, int head)
{
	static const char *const reasons[] = { [0] = "OK", [1] = "Bad Request",
	                                       [2] = "Not Found", [3] = "Method Not Allowed" };
	int r = status == 200 ? 0 : status == 400 ? 1 : status == 404 ? 2 : 3;
	char *body = NULL;
	size_t blen = 0;
	if (status == 200) {
		struct metrics_snapshot s;
		daemon_metrics(m->d, &s);
		if ((body = malloc(METRICS_HTTP_BODY_MAX)) != NULL)
			blen = metrics_render(&s, body, METRICS_HTTP_BODY_MAX);
		if (body == NULL || blen >= METRICS_HTTP_BODY_MAX) {
			log_warn("metrics: the text does not fit in %d bytes", METRICS_HTTP_BODY_MAX);
			free(body);
			body = NULL;
			blen = 0;
			status = 500;
		}
	} else {
		body = strdup(status == 404 ? "only /metrics here\n" : "\n");
		blen = body ? strlen(body) : 0;
	}
	char hdr[256];
	int hl = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	                  "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
	                  status == 500 ? "Internal Server Error" : reasons[r],
	                  status == 200 ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
	                                : "text/plain; charset=utf-8", blen);
	size_t send_body = head ? 0 : blen;
	c->out = malloc((size_t)hl + send_body);
	if (c->out == NULL) {
		free(body);
		metrics_client_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)hl);
	if (send_body)
		memcpy(c->out + hl, body, send_body);
	c->out_len = (size_t)hl + send_body;
	free(body);
}

static void
metrics_client_read(struct metrics_http *m, struct metrics_client *c)
{
	ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		metrics_client_close(c);
		return;
	}
	c->in_len += (size_t)r;
	int head;
	int status = metrics_http_status(c->in, c->in_len, &head);
	if (status != 0)
		metrics_client_respond(m, c, status, head);
}

static void
metrics_client_write(struct metrics_client *c)
{
	ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w <= 0 || (c->out_off += (size_t)w) == c->out_len)
		metrics_client_close(c);
}

static void
metrics_http_accept(struct metrics_http *m)
{
	for (;;) {
		int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct metrics_client *c = NULL;
		for (unsigned i = 0; i < METRICS_HTTP_CLIENTS && c == NULL; i++)
			if (m->c[i].fd < 0)
				c = &m->c[i];
		if (c == NULL) {          /* full: the newcomer waits for no one */
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = metrics_http_now_ms() + METRICS_HTTP_TIMEOUT_MS;
	}
}

void
metrics_http_serve(struct metrics_http *m, const struct pollfd *p, unsigned n)
{
	if (m == NULL)
		return;
	int64_t now = metrics_http_now_ms();
	for (unsigned k = 1; k < n; k++) {
		for (unsigned i = 0; i < METRICS_HTTP_CLIENTS; i++) {
			struct metrics_client *c = &m->c[i];
			if (c->fd != p[k].fd || p[k].revents == 0)
				continue;
			if (p[k].revents & (POLLERR | POLLNVAL))
				metrics_client_close(c);
			else if (c->out != NULL)
				metrics_client_write(c);
			else
				metrics_client_read(m, c);
			break;
		}
	}
	for (unsigned i = 0; i < METRICS_HTTP_CLIENTS; i++)
		if (m->c[i].fd >= 0 && m->c[i].deadline_ms <= now)
			metrics_client_close(&m->c[i]);
	if (n > 0 && (p[0].revents & POLLIN))
		metrics_http_accept(m);
}

void
metrics_http_close(struct metrics_http *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < METRICS_HTTP_CLIENTS; i++)
		if (m->c[i].fd >= 0)
			metrics_client_close(&m->c[i]);
	close(m->fd);
	free(m);
}
