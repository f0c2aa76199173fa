/*
 * core/relay_show.c - what smtpctl show routes, show hosts and show relays
 * print about the relay destinations a shard owns (core/relay.c), as
 * RECORD frames of key/value strings (ctl/ctl_proto.h), and smtpctl resume
 * route. Runs on the shard, from core/control.c's operation on every
 * shard.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/relay_int.h"
#include "ctl/ctl_proto.h"

#define RELAY_SHOW_FIELDS 12

/* Seconds from ms milliseconds, rounded up, as text ("-" for none). */
static void
relay_show_secs(uint64_t ms, char *buf, size_t cap)
{
	if (ms == 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%llus", (unsigned long long)((ms + 999) / 1000));
}

/* Connections of d to address i, open or opening. */
static unsigned
relay_show_conns(const struct relay_dest *d, unsigned i)
{
	unsigned n = 0;
	const struct list_head *pos;
	for (pos = d->conns.next; pos != &d->conns; pos = pos->next) {
		const struct relay_conn *c = container_of(pos, struct relay_conn, node);
		n += c->addr_len == d->addrs[i].len && memcmp(&c->addr, &d->addrs[i].addr,
		                                              c->addr_len) == 0;
	}
	return n;
}

static void
relay_show_addr(const struct dns_addr *a, char *buf, size_t cap)
{
	char text[64];
	if (a->addr.ss_family == AF_UNIX) {
		snprintf(buf, cap, "%s", a->host);
		return;
	}
	listener_addr_text((const struct sockaddr *)&a->addr, text, sizeof text);
	snprintf(buf, cap, "%s [%s]:%u", a->host, text,
	         ntohs(((const struct sockaddr_in *)&a->addr)->sin_port));
}

/* One route: an address of d. */
static void
relay_show_route(struct shard *sh, const struct relay_dest *d, unsigned i, struct ctl_buf *out)
{
	const struct relay_route *r = &d->routes[i];
	char id[24], route[RULES_HOST_BYTES_MAX + 96], flags[8], nconn[16], queued[16];
	char failures[16], timeout[24], conns[24];
	int off = route_backoff_active(&r->backoff, sh->now_ms);
	snprintf(id, sizeof id, "%016llx.%u", (unsigned long long)d->id, i + 1);
	relay_show_addr(&d->addrs[i], route, sizeof route);
	snprintf(flags, sizeof flags, "%c%c%c", r->conns == 0 ? 'N' : '-', off ? 'D' : '-',
	         d->queued > 0 ? 'Q' : '-');
	snprintf(nconn, sizeof nconn, "%u", relay_show_conns(d, i));
	snprintf(queued, sizeof queued, "%u", d->queued);
	snprintf(failures, sizeof failures, "%u", r->backoff.failures);
	snprintf(conns, sizeof conns, "%llu", r->conns);
	relay_show_secs(off ? r->backoff.until_ms - sh->now_ms : 0, timeout, sizeof timeout);
	const char *kv[2 * RELAY_SHOW_FIELDS] = {
		"id", id, "route", route, "flags", flags, "destination", d->name,
		"nconn", nconn, "connections", conns, "queued", queued, "penalty", failures,
		"timeout", timeout, "error", r->backoff.why,
	};
	ctl_encode(out, CTL_RECORD, 0, 0, kv, 20, NULL, 0);
}

/* One destination (OpenSMTPD's relay). */
static void
relay_show_relay(struct shard *sh, const struct relay_dest *d, struct ctl_buf *out)
{
	char id[24], nconn[16], window[16], queued[16], sent[24], routes[16], lastconn[24];
	char off[16];
	unsigned noff = 0;
	for (unsigned i = 0; i < d->naddrs; i++)
		noff += route_backoff_active(&d->routes[i].backoff, sh->now_ms);
	snprintf(id, sizeof id, "%016llx", (unsigned long long)d->id);
	snprintf(nconn, sizeof nconn, "%u", d->nconns);
	snprintf(window, sizeof window, "%u", mta_window_allowed(&d->window, &d->lim));
	snprintf(queued, sizeof queued, "%u", d->queued);
	snprintf(sent, sizeof sent, "%llu", d->sent);
	snprintf(routes, sizeof routes, "%u", d->naddrs);
	snprintf(off, sizeof off, "%u", noff);
	relay_show_secs(d->last_conn_ms ? sh->now_ms - d->last_conn_ms + 1 : 0, lastconn,
	                sizeof lastconn);
	const char *kv[2 * RELAY_SHOW_FIELDS] = {
		"id", id, "relay", d->name, "nconn", nconn, "window", window, "queued", queued,
		"sent", sent, "routes", routes, "backoff", off, "lastconn", lastconn,
		"error", d->last_error,
	};
	ctl_encode(out, CTL_RECORD, 0, 0, kv, 20, NULL, 0);
}

/* One host: an address of d, by name. */
static void
relay_show_host(struct shard *sh, const struct relay_dest *d, unsigned i, struct ctl_buf *out)
{
	const struct relay_route *r = &d->routes[i];
	char addr[RULES_HOST_BYTES_MAX + 96], nconn[16], lastconn[24];
	relay_show_addr(&d->addrs[i], addr, sizeof addr);
	snprintf(nconn, sizeof nconn, "%u", relay_show_conns(d, i));
	relay_show_secs(r->conns ? sh->now_ms - r->last_conn_ms + 1 : 0, lastconn, sizeof lastconn);
	const char *kv[2 * RELAY_SHOW_FIELDS] = {
		"host", addr, "destination", d->name, "nconn", nconn, "lastconn", lastconn,
	};
	ctl_encode(out, CTL_RECORD, 0, 0, kv, 8, NULL, 0);
}

void
relay_ctl_show(struct shard *sh, unsigned kind, struct ctl_buf *out)
{
	const struct list_head *pos;
	for (pos = sh->relay->dests.next; pos != &sh->relay->dests; pos = pos->next) {
		const struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (kind == CTL_MTA_SHOW_RELAYS) {
			relay_show_relay(sh, d, out);
			continue;
		}
		for (unsigned i = 0; i < d->naddrs; i++) {
			if (kind == CTL_MTA_SHOW_ROUTES)
				relay_show_route(sh, d, i, out);
			else
				relay_show_host(sh, d, i, out);
		}
	}
}

int
relay_ctl_resume_route(struct shard *sh, uint64_t relay, unsigned route)
{
	struct list_head *pos;
	for (pos = sh->relay->dests.next; pos != &sh->relay->dests; pos = pos->next) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->id != relay || route == 0 || route > d->naddrs)
			continue;
		route_backoff_ok(&d->routes[route - 1].backoff);
		d->routes[route - 1].backoff.why[0] = '\0';
		log_info("mta route resumed relay=%s route=%u", d->name, route);
		if (d->head != NULL) {
			d->kick = 1;
			sh->relay->kick = 1;
		}
		return 1;
	}
	return 0;
}
