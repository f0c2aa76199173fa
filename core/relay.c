/*
 * core/relay.c - outbound SMTP to a smart host or the MX of a domain on the
 * shard's ring, and LMTP to a server on host:port or a UNIX socket (the
 * `lmtp` action: one answer per recipient after the data): the
 * destination queues, the connection pool, and the glue between socket
 * operations and proto/smtp_client.c: which TLS and credentials a
 * connection uses, and what a failure before the first transaction does
 * to the destination's queue. TLS itself is core/relay_tls.c. See
 * core/relay.h.
 */
#include "core/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/listener.h"
#include "core/local.h"
#include "core/log.h"
#include "core/mta_tls.h"
#include "core/relay_int.h"
#include "core/source_limit.h"
#include "core/relay_owner.h"
#include "core/shard.h"
#include "core/shard_dns.h"
#include "core/dns.h"
#include "core/trace.h"
#include "proto/smtp_client.h"
#include "queue/queue.h"
#include "rules/rules.h"


int
relay_init(struct shard *sh)
{
	sh->relay = calloc(1, sizeof *sh->relay);
	if (sh->relay == NULL)
		return -ENOMEM;
	list_init(&sh->relay->dests);
	list_init(&sh->relay->dead);
	for (unsigned i = 0; i < DAEMON_SHARDS_MAX; i++)
		sh->relay->out[i].tail = &sh->relay->out[i].head;
	sh->relay->sh = sh;
	return 0;
}

int
relay_idle(struct shard *sh)
{
	return sh->relay->nconns == 0;
}

static void relay_dest_set_addrs(struct relay_dest *d, const struct dns_addr *addrs,
                                 unsigned n);

/* A smart host's addresses: numeric needs no lookup; a name goes to the
 * system resolver (blocking, once per destination per shard). */
static int
relay_dest_resolve_host(struct relay_dest *d)
{
	if (d->host[0] == '/') {   /* an LMTP server's socket */
		struct sockaddr_un *sun = (struct sockaddr_un *)&d->addrs[0].addr;
		memset(sun, 0, sizeof *sun);
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof sun->sun_path, "%s", d->host);
		d->addrs[0].len = (socklen_t)sizeof *sun;
		snprintf(d->addrs[0].host, sizeof d->addrs[0].host, "%s", d->host);
		relay_dest_set_addrs(d, d->addrs, 1);
		return 0;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", d->port);
	hints.ai_flags = AI_NUMERICHOST;
	int ret = getaddrinfo(d->host, port, &hints, &res);
	if (ret != 0) {
		hints.ai_flags = 0;
		ret = getaddrinfo(d->host, port, &hints, &res);
	}
	if (ret != 0 || res == NULL)
		return -1;
	struct dns_addr addrs[DNS_ADDRS_MAX];
	unsigned n = 0;
	memset(addrs, 0, sizeof addrs);
	for (struct addrinfo *ai = res; ai && n < DNS_ADDRS_MAX; ai = ai->ai_next) {
		struct dns_addr *a = &addrs[n++];
		memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
		a->len = ai->ai_addrlen;
		snprintf(a->host, sizeof a->host, "%s", d->host);
	}
	freeaddrinfo(res);
	relay_dest_set_addrs(d, addrs, n);
	return 0;
}

/* Do d's TLS settings and credentials' label match action a's (NULL: an
 * LMTP destination, which has none)? */
static int
relay_dest_tls_is(const struct relay_dest *d, const struct rules_action *a)
{
	if (a == NULL || a->kind != RULES_ACTION_RELAY)
		return d->tls == RULES_RELAY_TLS_NO && d->label[0] == '\0';
	return d->tls == a->relay_tls && d->tls_verify == a->relay_tls_verify &&
	       strcmp(d->tls_ca, a->relay_ca) == 0 && strcasecmp(d->tls_pki, a->relay_pki) == 0 &&
	       strcmp(d->tls_ciphers, a->relay_ciphers) == 0 &&
	       d->tls_protocols == a->relay_protocols && strcmp(d->label, a->relay_label) == 0;
}

static struct relay_dest *
relay_dest_find(struct shard *sh, int mx, enum relay_lmtp lmtp, const char *host,
                uint16_t port, const struct rules_action *a)
{
	/* an action with session options has connections of its own */
	const char *action = a != NULL && a->kind == RULES_ACTION_RELAY &&
	                     rules_relay_session_opts(a) ? a->name : "";
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->relay->dests) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->mx == mx && d->lmtp == lmtp && d->port == port &&
		    (host[0] == '/' ? strcmp(d->host, host) : strcasecmp(d->host, host)) == 0 &&
		    relay_dest_tls_is(d, a) && strcmp(d->action, action) == 0)
			return d;
	}
	struct relay_dest *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->mx = mx;
	d->lmtp = lmtp;
	d->tls = RULES_RELAY_TLS_NO;
	if (a != NULL && a->kind == RULES_ACTION_RELAY) {
		d->tls = a->relay_tls;
		d->tls_verify = a->relay_tls_verify;
		snprintf(d->tls_ca, sizeof d->tls_ca, "%s", a->relay_ca);
		snprintf(d->tls_pki, sizeof d->tls_pki, "%s", a->relay_pki);
		snprintf(d->tls_ciphers, sizeof d->tls_ciphers, "%s", a->relay_ciphers);
		d->tls_protocols = a->relay_protocols;
		snprintf(d->label, sizeof d->label, "%s", a->relay_label);
	}
	snprintf(d->host, sizeof d->host, "%s", host);
	snprintf(d->action, sizeof d->action, "%s", action);
	d->id = daemon_id_new(sh->daemon);
	d->port = port;
	snprintf(d->name, sizeof d->name, mx ? "MX of %s" : "%s", host);
	list_init(&d->conns);
	list_add_tail(&sh->relay->dests, &d->node);
	return d;
}

/* Fail every queued item of d with st (the destination cannot be reached,
 * or does not exist). */
void
relay_dest_fail_queued(struct shard *sh, struct relay_dest *d, enum delivery_status st,
                       const char *stat)
{
	while (d->head != NULL) {
		struct delivery_item *it = d->head;
		d->head = it->next;
		d->queued--;
		delivery_result(sh, it, st, stat, d->name);
	}
	d->tail = NULL;
}

static void relay_dest_kick(struct shard *sh, struct relay_dest *d);

static int
relay_addr_same(const struct sockaddr_storage *a, socklen_t alen,
                const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* A new route for d: an address it had keeps its backoff and counts. */
static void
relay_dest_set_addrs(struct relay_dest *d, const struct dns_addr *addrs, unsigned n)
{
	struct relay_route routes[DNS_ADDRS_MAX];
	memset(routes, 0, sizeof routes);
	for (unsigned i = 0; i < n && i < DNS_ADDRS_MAX; i++)
		for (unsigned j = 0; j < d->naddrs; j++)
			if (relay_addr_same(&addrs[i].addr, addrs[i].len, &d->addrs[j].addr,
			                    d->addrs[j].len))
				routes[i] = d->routes[j];
	if (addrs != d->addrs)
		memcpy(d->addrs, addrs, n * sizeof addrs[0]);
	memcpy(d->routes, routes, sizeof routes);
	d->naddrs = n;
}

/* The route of c's address (NULL when the route changed meanwhile). */
static struct relay_route *
relay_conn_route(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	for (unsigned i = 0; i < d->naddrs; i++)
		if (relay_addr_same(&c->addr, c->addr_len, &d->addrs[i].addr, d->addrs[i].len))
			return &d->routes[i];
	return NULL;
}

/* c's route failed (connect, greeting, a stall before the first
 * transaction): it is skipped for a while, and the destination's slow
 * start allows one connection fewer. A route no longer in the
 * destination's list counts for neither. */
static void
relay_route_failed(struct relay_conn *c, const char *why)
{
	struct relay_route *r = relay_conn_route(c);
	snprintf(c->dest->last_error, sizeof c->dest->last_error, "%s", why);
	if (r == NULL)
		return;
	mta_window_failure(&c->dest->window);
	uint64_t ms = route_backoff_failed(&r->backoff, c->sh->now_ms, why);
	log_info("%016llx mta route backoff relay=%s failures=%u delay=%llus: %s",
	         (unsigned long long)c->id, c->via, r->backoff.failures,
	         (unsigned long long)(ms / 1000), why);
}

static void
relay_timer_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_pool *p = container_of(op, struct relay_pool, timer_op);
	struct list_head *pos, *tmp;
	p->timer_armed = 0;
	list_for_each_safe(pos, tmp, &p->dests) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->head != NULL) {
			d->kick = 1;
			p->kick = 1;
		}
	}
}

/* Look at the destinations again in ms (at most RELAY_TIMER_MS_MAX). */
static void
relay_timer_arm(struct shard *sh, uint64_t ms)
{
	struct relay_pool *p = sh->relay;
	if (p->timer_armed || sh->stopping)
		return;
	if (ms > RELAY_TIMER_MS_MAX)
		ms = RELAY_TIMER_MS_MAX;
	p->timer_ts.tv_sec = 0;
	p->timer_ts.tv_nsec = (long long)(ms ? ms : 1) * 1000000LL;
	p->timer_op.complete = relay_timer_complete;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_timeout(sqe, &p->timer_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &p->timer_op);
	p->timer_armed = 1;
}

/* The MX answer for d's domain came (on the shard's thread). */
static void
relay_dest_routed(void *arg, const struct dns_route *r)
{
	struct relay_dest *d = arg;
	d->resolving = 0;
	if (r->status != DNS_OK) {
		char stat[QUEUE_ERROR_BYTES_MAX];
		snprintf(stat, sizeof stat, "Error (%s)", r->error);
		d->naddrs = 0;
		relay_dest_fail_queued(d->owner, d, r->status == DNS_PERMFAIL ? DELIVERY_PERMFAIL
		                                                               : DELIVERY_TEMPFAIL, stat);
		return;
	}
	struct dns_addr addrs[DNS_ADDRS_MAX];
	unsigned n = r->naddrs;
	memcpy(addrs, r->addrs, n * sizeof addrs[0]);
	if (relay_dest_backup(d->owner, d, addrs, &n) < 0) {
		char stat[QUEUE_ERROR_BYTES_MAX];
		snprintf(stat, sizeof stat, "Error (%s: we are its most preferred MX host, none to "
		         "back up to)", d->name);
		d->naddrs = 0;
		relay_dest_fail_queued(d->owner, d, DELIVERY_TEMPFAIL, stat);
		return;
	}
	relay_dest_set_addrs(d, addrs, n);
	d->route_expires_ms = d->owner->now_ms + RELAY_ROUTE_MS_MAX;
	relay_dest_kick(d->owner, d);
}

/* Make sure d has addresses; returns 0 when it has them now, 1 when an MX
 * lookup is on its way (relay_dest_routed() continues), -1 on failure
 * (queued items already failed). */
static int
relay_dest_route(struct shard *sh, struct relay_dest *d)
{
	if (d->naddrs > 0 && sh->now_ms < d->route_expires_ms)
		return 0;
	if (!d->mx) {
		if (relay_dest_resolve_host(d) < 0) {
			relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL,
			                       "Error (cannot resolve relay host)");
			return -1;
		}
		d->route_expires_ms = sh->now_ms + RELAY_ROUTE_MS_MAX;
		return 0;
	}
	if (d->resolving)
		return 1;
	struct dns *dns = shard_dns(sh);
	if (dns == NULL) {
		relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL, "Error (no resolver)");
		return -1;
	}
	d->resolving = 1;
	d->owner = sh;
	dns_route(dns, d->host, relay_dest_routed, d);
	return 1;   /* relay_dest_routed() kicks the destination */
}

static void relay_connect_complete(struct core_op *op, int res, unsigned flags);
static void relay_recv_complete(struct core_op *op, int res, unsigned flags);
static void relay_send_complete(struct core_op *op, int res, unsigned flags);

/* Which address of d the next connection goes to: the first not in
 * backoff sets the preference, and among the addresses of that preference
 * the first past conn-delay-host/route and under max-conn-per-host/route.
 * The connection count is the daemon's for that address and port, over
 * every destination and shard (daemon->relay_hosts): a host serving many
 * domains sees no more than the limit. The chosen address is counted
 * here; relay_conn_close(), or relay_conn_open() when it fails before
 * connecting, gives it back. Returns its index, -1 when none may take one
 * now (*wait_ms > 0: look again then), -2 when every address is in
 * backoff. */
static int
relay_pick_addr(struct shard *sh, struct relay_dest *d, uint64_t *wait_ms)
{
	uint64_t now = sh->now_ms;
	int found = 0;
	unsigned pref = 0;
	*wait_ms = 0;
	for (unsigned i = 0; i < d->naddrs; i++) {
		const struct relay_route *r = &d->routes[i];
		if (route_backoff_active(&r->backoff, now))
			continue;
		if (!found) {
			found = 1;
			pref = d->addrs[i].preference;
		}
		if (d->addrs[i].preference != pref)
			break;
		uint64_t since = now - r->last_conn_ms;
		if (r->conns > 0 && since < d->lim.conn_delay_addr_ms) {
			uint64_t w = d->lim.conn_delay_addr_ms - since;
			if (*wait_ms == 0 || w < *wait_ms)
				*wait_ms = w;
			continue;
		}
		if (source_limit_enter(sh->daemon->relay_hosts, &d->addrs[i].addr,
		                       d->lim.conns_per_addr) >= d->lim.conns_per_addr) {
			/* a connection closing elsewhere (another destination,
			 * another shard) makes room without telling us; one
			 * sitting idle there closes at its next tick */
			source_limit_want(sh->daemon->relay_hosts, &d->addrs[i].addr, now);
			if (*wait_ms == 0 || RELAY_HOST_WAIT_MS < *wait_ms)
				*wait_ms = RELAY_HOST_WAIT_MS;
			continue;
		}
		return (int)i;
	}
	return found ? -1 : -2;
}

/* Every address of d is in backoff: what waits fails for now, with the
 * reason, unless a connection is still open to take it. */
static void
relay_dest_all_backoff(struct shard *sh, struct relay_dest *d)
{
	char stat[QUEUE_ERROR_BYTES_MAX];
	uint64_t until = 0;
	for (unsigned i = 0; i < d->naddrs; i++)
		if (until == 0 || d->routes[i].backoff.until_ms < until)
			until = d->routes[i].backoff.until_ms;
	if (d->nconns > 0)
		return;
	snprintf(stat, sizeof stat, "Error (%s: every route in backoff for %llus more, "
	         "last error: %s)", d->name,
	         (unsigned long long)((until > sh->now_ms ? until - sh->now_ms : 0) + 999) / 1000,
	         d->last_error[0] ? d->last_error : "unknown");
	relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL, stat);
}

/* Open one more connection to d, to the address relay_pick_addr() chose,
 * once conn-delay-domain/relay has passed. */
static void
relay_conn_open(struct shard *sh, struct relay_dest *d)
{
	uint64_t wait;
	d->owner = sh;
	if (relay_dest_route(sh, d) != 0)
		return;
	if (d->last_conn_ms != 0 && sh->now_ms - d->last_conn_ms < d->lim.conn_delay_dest_ms) {
		relay_timer_arm(sh, d->lim.conn_delay_dest_ms - (sh->now_ms - d->last_conn_ms));
		return;
	}
	int i = relay_pick_addr(sh, d, &wait);
	if (i == -2) {
		relay_dest_all_backoff(sh, d);
		return;
	}
	if (i < 0) {
		if (wait > 0)
			relay_timer_arm(sh, wait);
		return;
	}
	const struct dns_addr *a = &d->addrs[i];
	struct relay_conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		source_limit_leave(sh->daemon->relay_hosts, &a->addr);
		return;
	}
	memcpy(&c->addr, &a->addr, a->len);
	c->addr_len = a->len;
	snprintf(c->peer_host, sizeof c->peer_host, "%s", a->host);
	c->fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c);
		source_limit_leave(sh->daemon->relay_hosts, &a->addr);
		relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL, "Error (socket)");
		return;
	}
	c->dest = d;
	c->sh = sh;
	char why[RULES_HOST_BYTES_MAX + 96];
	if (relay_conn_bind(c, &a->addr, why, sizeof why) < 0) {
		char stat[QUEUE_ERROR_BYTES_MAX];
		log_info("mta error reason=src relay=%s: %s", d->name, why);
		close(c->fd);
		free(c);
		source_limit_leave(sh->daemon->relay_hosts, &a->addr);
		snprintf(stat, sizeof stat, "Error (%s)", why);
		relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL, stat);
		return;
	}
	if (a->addr.ss_family == AF_UNIX) {
		snprintf(c->via, sizeof c->via, "%s", d->host);
	} else {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		char text[64];
		listener_addr_text((const struct sockaddr *)&a->addr, text, sizeof text);
		snprintf(c->via, sizeof c->via, "%s [%s]:%u", a->host, text,
		         ntohs(((const struct sockaddr_in *)&a->addr)->sin_port));
	}
	if (d->lmtp == RELAY_LMTP_USER &&
	    (c->lmtp_users = calloc(RELAY_TXN_RCPT_MAX, sizeof *c->lmtp_users)) == NULL) {
		close(c->fd);
		free(c);
		source_limit_leave(sh->daemon->relay_hosts, &a->addr);
		relay_dest_fail_queued(sh, d, DELIVERY_TEMPFAIL, "Error (out of memory)");
		return;
	}
	c->dest = d;
	c->sh = sh;
	c->id = daemon_id_new(sh->daemon);
	c->connect_op.complete = relay_connect_complete;
	c->recv_op.complete = relay_recv_complete;
	c->send_op.complete = relay_send_complete;
	c->last_active_ms = sh->now_ms;
	d->last_conn_ms = d->routes[i].last_conn_ms = sh->now_ms;
	d->routes[i].conns++;
	list_add_tail(&d->conns, &c->node);
	d->nconns++;
	d->nconnecting++;
	sh->relay->nconns++;
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addr_len);
	io_uring_sqe_set_data(sqe, &c->connect_op);
	c->inflight++;
}

/* Start a transaction on c with the next message queued for its destination:
 * the head item and the items right behind it from the same message. */
static int
relay_take_work(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	if (d->head == NULL)
		return 0;
	uint64_t wait = mta_rate_wait(&d->rate, &d->lim, c->sh->now_ms);
	if (wait > 0) {   /* max-rate: the timer kicks the destination again */
		relay_timer_arm(c->sh, wait);
		return 0;
	}
	uint32_t msgid = (uint32_t)(d->head->env.id >> 32);
	relay_txn_sender(c, &d->head->env);
	c->nitems = 0;
	/* one transaction: the message's items with the same MAIL FROM (srs
	 * rewrites only forwarded ones) */
	while (d->head != NULL && c->nitems < RELAY_TXN_RCPT_MAX &&
	       (uint32_t)(d->head->env.id >> 32) == msgid &&
	       (c->nitems == 0 || relay_env_same_sender(c, &d->head->env))) {
		struct delivery_item *it = d->head;
		d->head = it->next;
		d->queued--;
		it->next = NULL;
		c->rcpts[c->nitems] = it->env.dest;
		if (c->lmtp_users != NULL) {   /* the user an alias or virtual entry named */
			if (it->env.mda_user[0] != '\0')
				snprintf(c->lmtp_users[c->nitems], sizeof c->lmtp_users[0], "%s",
				         it->env.mda_user);
			else
				local_user_of(it->env.dest, c->sh->config->sub_addr_delim,
				              c->lmtp_users[c->nitems], sizeof c->lmtp_users[0]);
			c->rcpts[c->nitems] = c->lmtp_users[c->nitems];
		}
		c->notify[c->nitems] = it->env.dsn_notify;
		c->orcpt[c->nitems] = it->env.dsn_orcpt;
		c->rcpt_code[c->nitems] = 0;
		c->items[c->nitems++] = it;
	}
	if (d->head == NULL)
		d->tail = NULL;
	int ret = queue_body_read(c->sh->daemon->queue, msgid, c->items[0]->env.body_size,
	                          &c->body, &c->body_len);
	if (ret < 0) {
		for (unsigned i = 0; i < c->nitems; i++)
			delivery_result(c->sh, c->items[i], DELIVERY_TEMPFAIL,
			                "Error (queue read failed)", c->via);
		c->nitems = 0;
		return relay_take_work(c);
	}
	c->body_off = 0;
	c->mails++;
	d->sent++;
	mta_rate_take(&d->rate, &d->lim, c->sh->now_ms);
	const struct queue_envelope *first = &c->items[0]->env;
	c->dsn = (struct proto_client_dsn){
		.ret = first->dsn_ret, .envid = first->dsn_envid,
		.notify = c->notify, .orcpt = c->orcpt,
	};
	c->mail_opts = (struct proto_client_mail_opts){
		.body = first->body, .smtputf8 = first->smtputf8, .dsn = &c->dsn,
	};
	if (proto_client_mail_opts(&c->pc, c->sender, c->rcpts, c->nitems,
	                           c->body_len, &c->mail_opts) < 0) {
		for (unsigned i = 0; i < c->nitems; i++)
			delivery_result(c->sh, c->items[i], DELIVERY_PERMFAIL,
			                "Error (address or MAIL parameter not valid for SMTP)", c->via);
		c->nitems = 0;
		free(c->body);
		c->body = NULL;
		return 0;
	}
	return 1;
}

/* The transaction ended with code/text (text starts with the code, as the
 * peer said it; code 0 is a local error): report every recipient, those
 * refused at RCPT with their own answer. */
void
relay_finish_items(struct relay_conn *c, int code, const char *text)
{
	char stat[QUEUE_ERROR_BYTES_MAX];
	if (code > 0)
		snprintf(stat, sizeof stat, "%s", text);
	else
		snprintf(stat, sizeof stat, "Error (%s)", text);
	for (unsigned i = 0; i < c->nitems; i++) {
		int rc = c->rcpt_code[i] ? c->rcpt_code[i] : code;
		enum delivery_status st = rc >= 200 && rc < 300 ? DELIVERY_OK :
		                          rc >= 500 ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL;
		if (c->items[i] != NULL) {
			/* the DSN parameters went on: the peer reports success */
			c->items[i]->peer_dsn = (c->pc.ext & PROTO_EXT_DSN) != 0;
			delivery_result(c->sh, c->items[i], st,
			                c->rcpt_code[i] ? c->rcpt_stat[i] : stat,
			                c->via_tls[0] ? c->via_tls : c->via);
		}
		c->items[i] = NULL;
	}
	c->nitems = 0;
	free(c->body);
	c->body = NULL;
	c->in_body = 0;
}

static void
relay_flush(struct relay_conn *c)
{
	if (c->tls != NULL) {
		relay_tls_flush(c);
		return;
	}
	if (c->sending || c->pc.out_len == 0 || c->closing)
		return;
	struct io_uring_sqe *sqe = shard_sqe(c->sh);
	io_uring_prep_send(sqe, c->fd, c->pc.out, c->pc.out_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->send_op);
	c->sending = 1;
	c->inflight++;
}

void
relay_recv_arm(struct relay_conn *c)
{
	if (c->receiving || c->closing)
		return;
	struct io_uring_sqe *sqe = shard_sqe(c->sh);
	io_uring_prep_recv(sqe, c->fd, c->inbuf, sizeof c->inbuf, 0);
	io_uring_sqe_set_data(sqe, &c->recv_op);
	c->receiving = 1;
	c->inflight++;
}

/* Feed body bytes while c->pc.out has room; end the body when all went. */
static int
relay_feed_body(struct relay_conn *c)
{
	if (c->body_off < c->body_len)
		c->body_off += proto_client_body(&c->pc, c->body + c->body_off,
		                                 c->body_len - c->body_off);
	if (c->body_off < c->body_len)
		return 0;
	proto_client_body_end(&c->pc);
	c->in_body = 0;
	return 1;
}

int
relay_dest_next_route(struct relay_conn *c, const char *why)
{
	const struct relay_dest *d = c->dest;
	uint64_t now = c->sh->now_ms;
	int other = 0;
	for (unsigned i = 0; i < d->naddrs && !other; i++)
		other = !relay_addr_same(&c->addr, c->addr_len, &d->addrs[i].addr, d->addrs[i].len) &&
		        !route_backoff_active(&d->routes[i].backoff, now);
	if (!other)
		return 0;
	const struct relay_route *r = relay_conn_route(c);
	if (r == NULL || !route_backoff_active(&r->backoff, now))
		relay_route_failed(c, why);
	log_info("%016llx mta next route relay=%s: the next address of %s is tried",
	         (unsigned long long)c->id, c->via, d->name);
	return 1;
}

/* The session ended before its first transaction (greeting refused, TLS
 * or AUTH failed): the destination's next address not in backoff gets
 * what waits; with none left, what waits fails with it, so no new
 * connection repeats it at once; a refused AUTH (535) for good. */
void
relay_session_failed(struct relay_conn *c, int code, const char *text)
{
	char stat[QUEUE_ERROR_BYTES_MAX];
	int auth_refused = c->pc.abort_code != 0;
	if (code > 0)
		snprintf(stat, sizeof stat, "%s", text);
	else
		snprintf(stat, sizeof stat, "Error (%s: %s)", c->via, text);
	log_info("%016llx mta error reason=%s relay=%s: %s", (unsigned long long)c->id,
	         auth_refused ? "auth" : "session", c->via, text);
	if (!auth_refused) {
		relay_route_failed(c, stat);
		if (relay_dest_next_route(c, stat))
			return;
	}
	relay_dest_fail_queued(c->sh, c->dest, auth_refused && code >= 500 ? DELIVERY_PERMFAIL
	                                                                   : DELIVERY_TEMPFAIL,
	                       stat);
}

/* Drive the client machine until it needs the network. */
void
relay_pump(struct relay_conn *c)
{
	while (!c->closing && !c->tls_handshaking) {
		if (c->in_body && !c->sending && !relay_feed_body(c)) {
			relay_flush(c);
			return;
		}
		if (c->in_body) {
			relay_flush(c);
			return;
		}
		struct proto_client_event ev;
		enum proto_client_event_kind kind = proto_client_next(&c->pc, &ev);
		if (kind == PROTO_CEV_STARTTLS) {
			if (relay_tls_start(c) < 0) {
				relay_session_failed(c, 0, "cannot start TLS (no context or no memory)");
				relay_conn_close(c, NULL);
			}
			return;
		}
		if (kind == PROTO_CEV_LMTP_RCPT) {
			/* this recipient's own result, kept over TXN_DONE's */
			if (ev.index < c->nitems) {
				c->rcpt_code[ev.index] = ev.code;
				snprintf(c->rcpt_stat[ev.index], sizeof c->rcpt_stat[ev.index], "%s",
				         ev.text);
			}
			continue;
		}
		switch (kind) {
		case PROTO_CEV_NEED_MORE:
			if (c->tls != NULL) {
				int r = relay_tls_read(c);
				if (r > 0)
					continue;
				if (r < 0)
					return;
			}
			relay_flush(c);
			relay_recv_arm(c);
			return;
		case PROTO_CEV_SEND:
			relay_flush(c);
			return;
		case PROTO_CEV_READY:
			if (!c->ready_once) {
				struct relay_route *r = relay_conn_route(c);
				if (r != NULL)
					route_backoff_ok(&r->backoff);
			}
			c->ready_once = 1;
			if (c->mails >= c->dest->lim.mails_per_session && c->dest->head != NULL) {
				/* session-mail-max: another connection takes the rest */
				proto_client_quit(&c->pc);
				c->dest->kick = 1;
				c->sh->relay->kick = 1;
				break;
			}
			if (c->sh->stopping || !relay_take_work(c)) {
				if (c->sh->stopping) {
					proto_client_quit(&c->pc);
					break;
				}
				/* idle: listen, so a peer that hangs up is noticed;
				 * relay_tick says QUIT after a while */
				relay_recv_arm(c);
				return;
			}
			break;
		case PROTO_CEV_RCPT:
			if (ev.index < c->nitems && (ev.code < 200 || ev.code >= 300)) {
				c->rcpt_code[ev.index] = ev.code;
				snprintf(c->rcpt_stat[ev.index], sizeof c->rcpt_stat[ev.index], "%s",
				         ev.text);
			}
			break;
		case PROTO_CEV_BODY:
			c->in_body = 1;
			break;
		case PROTO_CEV_TXN_DONE:
			if (ev.code >= 200 && ev.code < 300)
				mta_window_success(&c->dest->window, &c->dest->lim, c->dest->nconns);
			relay_finish_items(c, ev.code, ev.text);
			c->last_active_ms = c->sh->now_ms;
			break;
		case PROTO_CEV_CLOSED:
			if (!c->ready_once)
				relay_session_failed(c, ev.code, ev.text ? ev.text : "connection closed");
			if (ev.code >= 400 && ev.code < 500)
				relay_finish_items(c, ev.code, ev.text);
			else
				relay_finish_items(c, 0, ev.text ? ev.text : "connection closed");
			relay_conn_close(c, NULL);
			return;
		}
	}
}

/* What the client machine does about TLS and AUTH on c: never on LMTP
 * or smtp+notls://; opportunistic STARTTLS unless it failed with this
 * destination lately (then plain text for a while, as OpenSMTPD and
 * Postfix retry); required for smtp+tls:// and `tls`; smtps:// from the
 * start. Credentials whenever the destination has them. */
static void
relay_client_tls_params(struct relay_conn *c, struct proto_client_params *p)
{
	struct relay_dest *d = c->dest;
	if (d->lmtp != RELAY_SMTP)
		return;
	switch (d->tls) {
	case RULES_RELAY_TLS_NO:
		break;
	case RULES_RELAY_TLS_OPPORTUNISTIC:
		if (d->label[0] != '\0' || c->sh->now_ms >= d->tls_plain_until_ms)
			p->tls = PROTO_CLIENT_TLS_OPPORTUNISTIC;
		break;
	case RULES_RELAY_TLS_STARTTLS:
		p->tls = PROTO_CLIENT_TLS_REQUIRED;
		break;
	case RULES_RELAY_TLS_SMTPS:
		p->tls_on_connect = 1;
		break;
	}
	if (d->label[0] != '\0') {
		p->auth_user = d->auth_user;
		p->auth_pass = d->auth_pass;
	}
}

static void
relay_connect_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, connect_op);
	struct relay_dest *d = c->dest;
	c->inflight--;
	d->nconnecting--;
	if (res < 0) {
		char why[128];
		snprintf(why, sizeof why, "%s: %s", c->via, strerror(-res));
		log_info("%016llx mta error reason=connect relay=%s: %s", (unsigned long long)c->id,
		         c->via, strerror(-res));
		/* the address is skipped for a while; the next connection
		 * tries another, or what waits fails for now when every
		 * address is in backoff (relay_conn_open()) */
		relay_route_failed(c, why);
		relay_conn_close(c, NULL);
		return;
	}
	c->connected = 1;
	c->last_active_ms = c->connected_ms = c->sh->now_ms;
	log_info("%016llx mta connected relay=%s", (unsigned long long)c->id, c->via);
	relay_conn_helo(c);
	struct proto_client_params p = { .helo = c->helo,
	                                 .lmtp = c->dest->lmtp != RELAY_SMTP };
	relay_client_tls_params(c, &p);
	proto_client_init(&c->pc, &p);
	if (p.tls_on_connect) {
		if (relay_tls_start(c) < 0) {
			relay_session_failed(c, 0, "cannot start TLS (no context or no memory)");
			relay_conn_close(c, NULL);
		}
		return;
	}
	relay_pump(c);
}

static void
relay_recv_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, recv_op);
	c->inflight--;
	c->receiving = 0;
	if (c->closing) {
		relay_conn_close(c, NULL);
		return;
	}
	if (res <= 0) {
		const char *why = res == 0 ? "connection closed by peer" : strerror(-res);
		if (c->tls_handshaking) {
			relay_tls_failed(c, why);
			return;
		}
		if (!c->ready_once)
			relay_session_failed(c, 0, why);
		relay_finish_items(c, 0, why);
		relay_conn_close(c, NULL);
		return;
	}
	c->last_active_ms = c->sh->now_ms;
	if (c->tls != NULL) {
		relay_tls_input(c, c->inbuf, (size_t)res);
		return;
	}
	if (TRACE_ON(CTL_TRACE_TRANSFER))
		trace_dialogue("transfer", c->id, "<<<", c->inbuf, (size_t)res, 0);
	proto_client_feed(&c->pc, c->inbuf, (size_t)res);
	relay_pump(c);
}

static void
relay_send_complete(struct core_op *op, int res, unsigned flags)
{
	struct relay_conn *c = container_of(op, struct relay_conn, send_op);
	c->inflight--;
	c->sending = 0;
	if (c->closing) {
		relay_conn_close(c, NULL);
		return;
	}
	if (res < 0) {
		relay_finish_items(c, 0, strerror(-res));
		relay_conn_close(c, NULL);
		return;
	}
	if (c->tls_sending) {
		c->tls_sending = 0;
		relay_tls_sent(c, res);
		return;
	}
	if (TRACE_ON(CTL_TRACE_TRANSFER) && !c->in_body)
		trace_dialogue("transfer", c->id, ">>>", c->pc.out, (size_t)res, 1);
	proto_client_out_sent(&c->pc, (size_t)res);
	if (c->tls != NULL) {   /* STARTTLS went out as the handshake started */
		relay_tls_flush(c);
		if (c->tls_handshaking)
			return;
	}
	relay_pump(c);
}

/* Close (once nothing is in flight); the destination may open another. */
void
relay_conn_close(struct relay_conn *c, const char *why)
{
	struct shard *sh = c->sh;
	if (!c->closing) {
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
		relay_finish_items(c, 0, why ? why : "connection closed");
	}
	if (c->inflight > 0)
		return;
	struct relay_dest *d = c->dest;
	list_del(&c->node);
	d->nconns--;
	sh->relay->nconns--;
	source_limit_leave(sh->daemon->relay_hosts, &c->addr);
	close(c->fd);
	relay_tls_free(c);
	free(c->body);
	free(c->lmtp_users);
	free(c);
	if (d->nconns == 0 && d->head == NULL)
		d->window = (struct mta_window){ 0 };   /* idle: the next burst starts slowly */
	if (d->head != NULL && !sh->stopping && d->nconns == 0)
		relay_conn_open(sh, d);
}

/* Give the next message to an idle connection, or open one. */
static void
relay_dest_kick(struct shard *sh, struct relay_dest *d)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &d->conns) {
		struct relay_conn *c = container_of(pos, struct relay_conn, node);
		if (d->head == NULL)
			return;
		if (c->connected && !c->closing && c->nitems == 0 && !c->sending &&
		    c->pc.out_len == 0 && !c->in_body) {
			relay_pump(c);
		}
	}
	if (d->head != NULL && d->queued > d->nconnecting &&
	    d->nconns < mta_window_allowed(&d->window, &d->lim) &&
	    mta_rate_wait(&d->rate, &d->lim, sh->now_ms) == 0)
		relay_conn_open(sh, d);
}

/* The credentials for d's label, looked up again as work arrives so
 * that `smtpctl update table` takes effect; 0 or -1 (none usable). */
static int
relay_dest_credentials(struct relay_dest *d, const struct rules_action *a)
{
	if (rules_relay_credentials(a, d->auth_user, sizeof d->auth_user, d->auth_pass,
	                            sizeof d->auth_pass) == 0)
		return 0;
	explicit_bzero(d->auth_pass, sizeof d->auth_pass);
	return -1;
}

/* Queue it for its destination on this shard, the one owning it. */
static void
relay_enqueue_here(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	struct relay_dest *d;
	struct rules_action *routed = NULL;
	if (a->kind == RULES_ACTION_RELAY && a->relay_domain != NULL) {
		/* relay domain <table>: the recipient domain's relay host */
		if ((routed = malloc(sizeof *routed)) == NULL ||
		    rules_relay_domain_apply(a, delivery_domain(it->env.dest), routed) < 0) {
			char stat[QUEUE_ERROR_BYTES_MAX];
			snprintf(stat, sizeof stat, "Error (no relay host for domain %s in the domain "
			         "table of action %s)", delivery_domain(it->env.dest), a->name);
			free(routed);
			delivery_result(sh, it, DELIVERY_TEMPFAIL, stat, NULL);
			return;
		}
		a = routed;
	}
	if (a->kind == RULES_ACTION_LMTP)
		d = relay_dest_find(sh, 0, a->lmtp_rcpt_to ? RELAY_LMTP_RCPT_TO : RELAY_LMTP_USER,
		                    a->path[0] ? a->path : a->relay_host, a->path[0] ? 0 : a->relay_port,
		                    NULL);
	else if (a->relay_host[0] == '\0')
		d = relay_dest_find(sh, 1, RELAY_SMTP, delivery_domain(it->env.dest), 25, a);
	else
		d = relay_dest_find(sh, 0, RELAY_SMTP, a->relay_host,
		                    a->relay_port ? a->relay_port : 25, a);
	if (d == NULL) {
		free(routed);
		delivery_result(sh, it, DELIVERY_TEMPFAIL, "Error (out of memory)", NULL);
		return;
	}
	/* limits from the configuration in force, as work arrives (a reload
	 * applies to what comes next) */
	mta_limit_resolve(sh->config, d->host, &d->lim);
	if (d->label[0] != '\0' && relay_dest_credentials(d, a) < 0) {
		char stat[QUEUE_ERROR_BYTES_MAX];
		snprintf(stat, sizeof stat, "Error (no credentials \"user:password\" for label "
		         "\"%s\" in the auth table of action %s)", d->label, a->name);
		free(routed);
		delivery_result(sh, it, DELIVERY_TEMPFAIL, stat, NULL);
		return;
	}
	free(routed);
	it->next = NULL;
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	d->queued++;
	/* kicked at the end of the turn, so the recipients of one message that
	 * arrive together travel in one transaction */
	d->kick = 1;
	sh->relay->kick = 1;
}

/* On the shard owning the next hop: a chain of items from their home
 * shard (linked by next), queued in one turn so a message's recipients
 * leave in one transaction. While stopping they go home unattempted. */
static void
relay_handoff_handle(struct shard *sh, struct shard_msg *msg)
{
	struct delivery_item *it = container_of(msg, struct delivery_item, msg);
	while (it != NULL) {
		struct delivery_item *next = it->next;
		it->next = NULL;
		const struct rules_action *a = rules_action_find(sh->config, it->env.action);
		if (sh->stopping)
			delivery_return(sh, it);
		else if (a == NULL || (a->kind != RULES_ACTION_RELAY && a->kind != RULES_ACTION_LMTP))
			delivery_result(sh, it, DELIVERY_TEMPFAIL,
			                "action no longer in the configuration", NULL);
		else
			relay_enqueue_here(sh, it, a);
		it = next;
	}
}

void
relay_enqueue(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	char key[RELAY_OWNER_KEY_BYTES];
	relay_owner_key(a, it->env.dest, key, sizeof key);
	unsigned o = relay_owner_shard(key, sh->daemon->nshards);
	if (o == sh->index) {
		relay_enqueue_here(sh, it, a);
		return;
	}
	struct relay_outbox *box = &sh->relay->out[o];
	it->next = NULL;
	*box->tail = it;
	box->tail = &it->next;
	sh->relay->outbound = 1;
	delivery_left(sh);
}

/* Post each outbox to its shard, one chain per shard. */
static void
relay_outbox_flush(struct shard *sh)
{
	struct relay_pool *p = sh->relay;
	p->outbound = 0;
	for (unsigned o = 0; o < sh->daemon->nshards; o++) {
		struct relay_outbox *box = &p->out[o];
		if (box->head == NULL)
			continue;
		box->head->msg.handle = relay_handoff_handle;
		shard_post(&sh->daemon->shards[o], &box->head->msg);
		box->head = NULL;
		box->tail = &box->head;
	}
}

void
relay_end_of_turn(struct shard *sh)
{
	if (sh->relay->outbound)
		relay_outbox_flush(sh);
	if (!sh->relay->kick)
		return;
	sh->relay->kick = 0;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &sh->relay->dests) {
		struct relay_dest *d = container_of(pos, struct relay_dest, node);
		if (d->kick) {
			d->kick = 0;
			relay_dest_kick(sh, d);
		}
	}
}

/* Stopping: the queued items of other shards go home unattempted now, so
 * no two stopping shards wait for each other. */
static void
relay_dest_return_foreign(struct shard *sh, struct relay_dest *d)
{
	struct delivery_item **pp = &d->head, *last = NULL;
	while (*pp != NULL) {
		struct delivery_item *it = *pp;
		if (it->home == sh->index) {
			last = it;
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		d->queued--;
		it->next = NULL;
		delivery_return(sh, it);
	}
	d->tail = last;
}

void
relay_tick(struct shard *sh)
{
	struct list_head *dp, *dt, *cp, *ct;
	list_for_each_safe(dp, dt, &sh->relay->dests) {
		struct relay_dest *d = container_of(dp, struct relay_dest, node);
		list_for_each_safe(cp, ct, &d->conns) {
			struct relay_conn *c = container_of(cp, struct relay_conn, node);
			uint64_t quiet = sh->now_ms - c->last_active_ms;
			if (c->closing)
				continue;
			if (!c->connected && quiet > RELAY_CONNECT_MS_MAX) {
				char why[RULES_HOST_BYTES_MAX + 96];
				snprintf(why, sizeof why, "%s: connect timeout", c->via);
				relay_route_failed(c, why);
				relay_conn_close(c, "connect timeout");
			} else if (c->connected && !c->ready_once && !c->closing &&
			           sh->now_ms - c->connected_ms > d->lim.setup_timeout_ms) {
				/* stalled in the greeting, EHLO, TLS or AUTH */
				relay_session_failed(c, 0, "timeout before the first transaction "
				                           "(greeting, EHLO, TLS or AUTH)");
				relay_conn_close(c, NULL);
			} else if (c->nitems > 0 && quiet > RELAY_REPLY_MS_MAX) {
				relay_conn_close(c, "timeout waiting for the peer");
			} else if (c->connected && c->ready_once && c->nitems == 0 && c->pc.out_len == 0 &&
			           (quiet > d->lim.keepalive_ms || sh->stopping ||
			            source_limit_wanted(sh->daemon->relay_hosts, &c->addr) >=
			            c->last_active_ms)) {
				/* idle past session-keepalive, or another destination
				 * waits for a connection to this host */
				c->last_active_ms = sh->now_ms;
				proto_client_quit(&c->pc);
				relay_pump(c);
			}
		}
		if (!sh->stopping)
			relay_dest_kick(sh, d);
		else
			relay_dest_return_foreign(sh, d);
	}
}

void
relay_shutdown(struct shard *sh)
{
	struct list_head *dp, *dt, *cp, *ct;
	list_for_each_safe(dp, dt, &sh->relay->dests) {
		struct relay_dest *d = container_of(dp, struct relay_dest, node);
		list_for_each_safe(cp, ct, &d->conns) {
			struct relay_conn *c = container_of(cp, struct relay_conn, node);
			c->inflight = 0;   /* the ring is going away with its operations */
			c->closing = 1;
			relay_conn_close(c, NULL);
		}
		while (d->head != NULL) {   /* on disk: attempted after the restart */
			struct delivery_item *it = d->head;
			d->head = it->next;
			if (it->home != sh->index)
				delivery_return(sh, it);
			else
				free(it);
		}
		list_del(&d->node);
		explicit_bzero(d->auth_pass, sizeof d->auth_pass);
		free(d);
	}
}
