/*
 * core/delivery.c - per-shard scheduling of envelopes: the due scan over the
 * queue's schedule index, the set of envelopes held, routing to the owner
 * shard, dispatch to maildir or relay, and the bookkeeping of results
 * (retry schedule, expiry, failure, delay and success reports, log lines).
 * See core/delivery.h.
 */
#include "core/delivery.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/bounce.h"
#include "core/control.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/local.h"
#include "core/relay.h"
#include "core/trace.h"
#include "core/hoststat.h"
#include "core/mta_block.h"
#include "ctl/ctl_proto.h"
#include "rules/rules.h"

#define DELIVERY_HELD_SLOTS (2 * DELIVERY_HELD_MAX)   /* a power of two */

_Static_assert((DELIVERY_HELD_SLOTS & (DELIVERY_HELD_SLOTS - 1)) == 0,
               "DELIVERY_HELD_SLOTS must be a power of two");
_Static_assert(RULES_BOUNCE_WARN_MAX <= QUEUE_DSN_WARNED_MAX,
               "an envelope must be able to count every bounce warn-interval");

struct delivery_sched {
	uint64_t *held;               /* open addressing, 0 = free */
	unsigned nheld;
	struct queue_due_cursor cursor;
	uint64_t rescan_at;           /* unix seconds: cursor back to the start */
	uint64_t base_relay_s, base_local_s;
	int paused;                   /* the queue failed: no new attempts */
	unsigned tick_starts;         /* started by this tick's scan */
	int paused_mda, paused_mta;   /* smtpctl pause mda|mta */
	struct delivery_item *reports; /* waiting for their report */
	unsigned bouncing;            /* report jobs in flight (core/bounce.c) */
	unsigned warnings;            /* delay copies waiting or in flight */
	unsigned away;                /* relay items at another shard (core/relay.c) */
	struct hoststat_table *hoststats; /* last relay outcome per domain */
};

/* Which bucket an envelope id starts at. */
static unsigned
delivery_slot(uint64_t evpid)
{
	evpid ^= evpid >> 33;
	evpid *= 0xff51afd7ed558ccdull;
	evpid ^= evpid >> 33;
	return (unsigned)evpid & (DELIVERY_HELD_SLOTS - 1);
}

/* Is evpid held (being attempted or waiting for its bounce)? */
static int
delivery_held(const struct delivery_sched *q, uint64_t evpid)
{
	for (unsigned i = delivery_slot(evpid);; i = (i + 1) & (DELIVERY_HELD_SLOTS - 1)) {
		if (q->held[i] == evpid)
			return 1;
		if (q->held[i] == 0)
			return 0;
	}
}

/* Hold evpid; returns 0, or -ENOSPC when DELIVERY_HELD_MAX are held. */
static int
delivery_hold(struct delivery_sched *q, uint64_t evpid)
{
	if (q->nheld >= DELIVERY_HELD_MAX)
		return -ENOSPC;
	unsigned i = delivery_slot(evpid);
	while (q->held[i] != 0 && q->held[i] != evpid)
		i = (i + 1) & (DELIVERY_HELD_SLOTS - 1);
	if (q->held[i] == 0)
		q->nheld++;
	q->held[i] = evpid;
	return 0;
}

/* Let evpid go (linear probing: shift the followers back). */
static void
delivery_unhold(struct delivery_sched *q, uint64_t evpid)
{
	unsigned mask = DELIVERY_HELD_SLOTS - 1, i = delivery_slot(evpid);
	while (q->held[i] != evpid) {
		if (q->held[i] == 0)
			return;
		i = (i + 1) & mask;
	}
	q->held[i] = 0;
	q->nheld--;
	for (unsigned j = (i + 1) & mask; q->held[j] != 0; j = (j + 1) & mask) {
		unsigned home = delivery_slot(q->held[j]);
		/* move j into the hole at i unless its home lies in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			q->held[i] = q->held[j];
			q->held[j] = 0;
			i = j;
		}
	}
}

/* The domain part of an address ("" if none). */
const char *
delivery_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

/* Which shard holds an envelope: a hash of its message id, so every
 * envelope of a message lands on one shard (its recipients for one next
 * hop reach that hop's shard together, in one transaction) and messages
 * spread over the shards. */
static unsigned
delivery_owner(const struct daemon *d, uint64_t evpid)
{
	uint32_t h = 2166136261u, msgid = (uint32_t)(evpid >> 32);
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ ((msgid >> (8 * i)) & 0xffu)) * 16777619u;
	return h % d->nshards;
}

/* RINGMTA_RETRY_BASE_S (tests only), or 0 when unset or not a number. */
static uint64_t
delivery_retry_base_env(void)
{
	const char *v = getenv("RINGMTA_RETRY_BASE_S");
	char *end;
	if (v == NULL || *v == '\0')
		return 0;
	unsigned long long n = strtoull(v, &end, 10);
	return *end == '\0' ? (uint64_t)n : 0;
}

/* Set up the shard's schedule; call from shard_start() (main thread).
 * Returns 0 or -ENOMEM. */
int
delivery_init(struct shard *sh)
{
	struct delivery_sched *q = calloc(1, sizeof *q);
	if (q == NULL || (q->held = calloc(DELIVERY_HELD_SLOTS, sizeof *q->held)) == NULL) {
		free(q);
		return -ENOMEM;
	}
	uint64_t base = delivery_retry_base_env();
	q->base_relay_s = base ? base : QUEUE_RETRY_BASE_RELAY_S;
	q->base_local_s = base ? base : QUEUE_RETRY_BASE_LOCAL_S;
	if (base != 0 && sh->index == 0)
		log_warn("RINGMTA_RETRY_BASE_S=%llu: retry base for tests, not for production",
		         (unsigned long long)base);
	sh->sched = q;
	return 0;
}

/* Free the shard's schedule at exit; items still waiting for a report are
 * dropped (they are on disk: a failure fails again at the next start, a
 * success is delivered again; a delay warning is lost). */
void
delivery_free(struct shard *sh)
{
	struct delivery_sched *q = sh->sched;
	if (q == NULL)
		return;
	while (q->reports != NULL) {
		struct delivery_item *it = q->reports;
		q->reports = it->next;
		free(it);
	}
	free(q->held);
	hoststat_free(q->hoststats);
	free(q);
	sh->sched = NULL;
}

/* True when no report is being queued and none waits for the next tick
 * (those waiting to be tried again later are given up at exit). */
int
delivery_idle(struct shard *sh)
{
	struct delivery_sched *q = sh->sched;
	if (q == NULL || queue_failed(sh->daemon->queue) != 0)
		return 1;
	for (const struct delivery_item *it = q->reports; it != NULL; it = it->next)
		if (it->report_at == 0)
			return 0;
	return q->bouncing == 0 && q->away == 0;
}

/* The log line for a result, in OpenSMTPD's format. */
static void
delivery_log(struct shard *sh, const struct delivery_item *it, const char *result,
             const char *stat, const char *via)
{
	const struct rules_action *a = rules_action_find(sh->config, it->env.action);
	int relay = a != NULL && a->kind == RULES_ACTION_RELAY;
	int to_host = relay || (a != NULL && a->kind == RULES_ACTION_LMTP &&
	                        it->env.mda_kind == QUEUE_MDA_ACTION);
	unsigned long long delay = (unsigned long long)time(NULL) - it->env.created;
	log_info("%016llx %s delivery evpid=%016llx from=<%s> to=<%s> rcpt=<%s> "
	         "%s%s%sdelay=%llus result=%s stat=%s",
	         (unsigned long long)it->env.id, relay ? "mta" : "mda",
	         (unsigned long long)it->env.id, it->env.sender, it->env.dest, it->env.rcpt,
	         via ? (to_host ? "relay=" : "user=") : "", via ? via : "", via ? " " : "",
	         delay, result, stat);
}

/* Let the item go: no longer held, freed. */
static void
delivery_release(struct shard *sh, struct delivery_item *it)
{
	delivery_unhold(sh->sched, it->env.id);
	free(it);
}

/* Is env's action a relay (else a local delivery)? */
static int
delivery_is_relay(struct shard *sh, const struct queue_envelope *env)
{
	const struct rules_action *a = rules_action_find(sh->config, env->action);
	return a != NULL && a->kind == RULES_ACTION_RELAY;
}

/* Does the sender want to hear of a failure? Not when RCPT said NOTIFY
 * without FAILURE, or NOTIFY=NEVER (RFC 3461 4.1); yes when it said nothing. */
static int
delivery_notify_failure(const struct queue_envelope *env)
{
	return env->dsn_notify == 0 || (env->dsn_notify & QUEUE_DSN_NOTIFY_FAILURE);
}

/* Does the sender want to hear of a delay? Yes when NOTIFY was absent or
 * has DELAY (RFC 3461 4.1), never for <>. */
static int
delivery_notify_delay(const struct queue_envelope *env)
{
	return env->sender[0] != '\0' &&
	       (env->dsn_notify == 0 || (env->dsn_notify & QUEUE_DSN_NOTIFY_DELAY));
}

/* Does the sender want to hear of this delivery? Only with NOTIFY=SUCCESS,
 * never for <>, and not after a relay to a next hop that offered DSN: it
 * took the parameters and reports from there (RFC 3461 6.2.1). */
static int
delivery_notify_success(struct shard *sh, const struct delivery_item *it)
{
	if (it->env.sender[0] == '\0' || !(it->env.dsn_notify & QUEUE_DSN_NOTIFY_SUCCESS))
		return 0;
	return !(delivery_is_relay(sh, &it->env) && it->peer_dsn);
}

/* Put it on the list of items the next tick reports as kind. */
static void
delivery_report_later(struct shard *sh, struct delivery_item *it, enum delivery_report kind)
{
	it->report = kind;
	it->report_at = 0;
	it->next = sh->sched->reports;
	sh->sched->reports = it;
}

/* Give up on an envelope for good: a bounce to its sender when there is
 * one and it asked for failures, or to postmaster when the sender is <>
 * (the message was a report itself) unless it already was postmaster's
 * copy of one (the envelope goes once the bounce is durable); else removed
 * now. */
static void
delivery_fail(struct shard *sh, struct delivery_item *it, const char *stat)
{
	struct queue *qu = sh->daemon->queue;
	snprintf(it->stat, sizeof it->stat, "%s", stat);
	int notify = it->env.sender[0] != '\0' ? delivery_notify_failure(&it->env)
	                                       : !it->env.postmaster_copy;
	if (notify && !sh->stopping) {
		delivery_report_later(sh, it, DELIVERY_REPORT_FAILURE);
		return;
	}
	/* while stopping, an envelope that will be reported on stays queued */
	if (!notify && it->env.sender[0] == '\0')
		log_info("%016llx bounce not sent: the message was postmaster's report on a "
		         "failed report, dropped after: %s", (unsigned long long)it->env.id, stat);
	else if (!notify)
		log_info("%016llx bounce not sent: the sender asked not to be told of "
		         "failures (NOTIFY), dropped after: %s", (unsigned long long)it->env.id, stat);
	if (!sh->stopping && queue_envelope_delete(qu, it->env.id) < 0)
		log_warn("queue delete evpid=%016llx: %s", (unsigned long long)it->env.id,
		         queue_strerror(qu));
	delivery_release(sh, it);
}

/* The retry base of an envelope's action: relay or local. */
static uint64_t
delivery_retry_base(struct shard *sh, const struct queue_envelope *env)
{
	if (delivery_is_relay(sh, env))
		return sh->sched->base_relay_s;
	return sh->sched->base_local_s;
}

/* How many `bounce warn-interval` delays env's age has passed at now, when
 * that is more than it was warned about and a warning is wanted (and there
 * is room for one more waiting); else 0. */
static unsigned
delivery_warn_due(struct shard *sh, const struct queue_envelope *env, uint64_t now)
{
	const struct rules_config *c = sh->config;
	if (sh->stopping || !delivery_notify_delay(env) ||
	    sh->sched->warnings >= DELIVERY_WARNINGS_MAX)
		return 0;
	uint64_t age = now > env->created ? now - env->created : 0;
	unsigned passed = 0;
	for (unsigned i = 0; i < c->nbounce_warn && i < QUEUE_DSN_WARNED_MAX; i++)
		if (age >= c->bounce_warn_s[i])
			passed = i + 1;
	return passed > env->dsn_warned ? passed : 0;
}

/* Queue a delay warning for env (as just stored) from a copy of it: the
 * envelope itself is released and may be attempted again meanwhile. */
static void
delivery_warn(struct shard *sh, const struct delivery_item *it,
              const struct queue_envelope *env, const char *stat)
{
	struct delivery_item *w = malloc(sizeof *w);
	if (w == NULL) {
		log_warn("%016llx delay warning not sent: out of memory",
		         (unsigned long long)env->id);
		return;
	}
	*w = *it;
	w->env = *env;
	snprintf(w->stat, sizeof w->stat, "%s", stat);
	sh->sched->warnings++;
	delivery_report_later(sh, w, DELIVERY_REPORT_DELAY);
}

/* Keep a temporarily failed envelope for its next attempt (never later than
 * its expiry, when it fails for good), and warn the sender when it has
 * waited past the next `bounce warn-interval`. */
static void
delivery_retry_later(struct shard *sh, struct delivery_item *it, const char *stat,
                     uint64_t now)
{
	struct queue *qu = sh->daemon->queue;
	struct queue_envelope env = it->env;
	env.retries++;
	env.next_attempt = queue_retry_next(env.created, delivery_retry_base(sh, &env),
	                                    env.retries, now);
	if (env.next_attempt > env.expire)
		env.next_attempt = env.expire > now ? env.expire : now + 1;
	snprintf(env.last_error, sizeof env.last_error, "%s", stat);
	TRACE(CTL_TRACE_SCHEDULER, "trace scheduler: %016llx retry %u in %llus: %s",
	      (unsigned long long)env.id, env.retries,
	      (unsigned long long)(env.next_attempt - now), stat);
	/* The warned count is stored with the retry, before the warning is
	 * queued: a crash between the two loses that warning, never the
	 * message, and never sends one twice. */
	unsigned warned = delivery_warn_due(sh, &env, now);
	if (warned > 0)
		env.dsn_warned = (uint8_t)warned;
	int err = queue_envelope_update(qu, NULL, &env);
	if (err == -ENOENT)
		log_warn("%016llx envelope gone from the queue (removed or quarantined)",
		         (unsigned long long)env.id);
	else if (err < 0)
		log_warn("queue update evpid=%016llx: %s", (unsigned long long)env.id,
		         queue_strerror(qu));
	else if (warned > 0)
		delivery_warn(sh, it, &env, stat);
	delivery_release(sh, it);
}

/* An attempt ended; see core/delivery.h. */
/* An attempt's result in the shard's metrics: by agent and result, and for
 * a delivery the time since its 250 (to the second for one queued by an
 * earlier run). */
static void
delivery_count(struct shard *sh, const struct delivery_item *it, enum delivery_status st,
               const char *stat, uint64_t now)
{
	int relay = delivery_is_relay(sh, &it->env);
	enum metrics_counter base = relay ? METRICS_MTA_OK : METRICS_MDA_OK;
	metrics_add(&sh->metrics, (enum metrics_counter)(base + (st == DELIVERY_OK ? 0 :
	            st == DELIVERY_TEMPFAIL ? 1 : 2)), 1);
	if (st == DELIVERY_TEMPFAIL && now >= it->env.expire)
		metrics_add(&sh->metrics, METRICS_EXPIRED, 1);
	if (st == DELIVERY_TEMPFAIL && relay)
		metrics_add(&sh->metrics, stat != NULL && stat[0] == '4' && isdigit((unsigned char)stat[1])
		            ? METRICS_DEFER_REPLY : METRICS_DEFER_CONNECTION, 1);
	if (st != DELIVERY_OK)
		return;
	uint64_t us = it->accepted_ms && sh->now_ms >= it->accepted_ms
	              ? (sh->now_ms - it->accepted_ms) * 1000
	              : (now > it->env.created ? now - it->env.created : 0) * 1000000;
	metrics_observe(&sh->metrics, METRICS_QUEUE_TO_DELIVERY, us);
}

/* On the home shard: an item's result came back from the shard owning its
 * next hop (or the item, unattempted). */
static void
delivery_home_handle(struct shard *sh, struct shard_msg *msg)
{
	struct delivery_item *it = container_of(msg, struct delivery_item, msg);
	char stat[QUEUE_ERROR_BYTES_MAX], via[DELIVERY_VIA_BYTES];
	sh->sched->away--;
	if (it->returned) {
		delivery_release(sh, it);
		return;
	}
	snprintf(stat, sizeof stat, "%s", it->stat);
	snprintf(via, sizeof via, "%s", it->via);
	delivery_result(sh, it, it->result, stat, via[0] ? via : NULL);
}

void
delivery_left(struct shard *sh)
{
	sh->sched->away++;
}

void
delivery_return(struct shard *sh, struct delivery_item *it)
{
	it->returned = 1;
	it->msg.handle = delivery_home_handle;
	shard_post(&sh->daemon->shards[it->home], &it->msg);
}

void
delivery_result(struct shard *sh, struct delivery_item *it, enum delivery_status st,
                const char *stat, const char *via)
{
	struct queue *qu = sh->daemon->queue;
	uint64_t now = (uint64_t)time(NULL);
	if (it->home != sh->index) {
		it->result = st;
		if (stat != it->stat)
			snprintf(it->stat, sizeof it->stat, "%s", stat ? stat : "");
		snprintf(it->via, sizeof it->via, "%s", via ? via : "");
		it->returned = 0;
		it->msg.handle = delivery_home_handle;
		shard_post(&sh->daemon->shards[it->home], &it->msg);
		return;
	}
	delivery_count(sh, it, st, stat, now);
	if (delivery_is_relay(sh, &it->env))
		hoststat_update(&sh->sched->hoststats, delivery_domain(it->env.rcpt), now,
		                stat ? stat : "");
	if (st == DELIVERY_TEMPFAIL && now >= it->env.expire) {
		log_info("%016llx envelope expired after %u attempts: %s",
		         (unsigned long long)it->env.id, it->env.retries + 1, stat);
		delivery_log(sh, it, "TempFail", stat, via);
		it->expired = 1;
		delivery_fail(sh, it, stat);
		return;
	}
	if (st == DELIVERY_TEMPFAIL) {
		delivery_log(sh, it, "TempFail", stat, via);
		delivery_retry_later(sh, it, stat, now);
		return;
	}
	delivery_log(sh, it, st == DELIVERY_OK ? "Ok" : "PermFail", stat, via);
	if (st == DELIVERY_PERMFAIL) {
		delivery_fail(sh, it, stat);
		return;
	}
	if (delivery_notify_success(sh, it)) {
		/* removed once the report is durable; while stopping, the
		 * stopping tick still queues it */
		snprintf(it->stat, sizeof it->stat, "%s", stat);
		it->relayed = delivery_is_relay(sh, &it->env);
		delivery_report_later(sh, it, DELIVERY_REPORT_SUCCESS);
		return;
	}
	if (queue_envelope_delete(qu, it->env.id) < 0)
		log_warn("queue delete evpid=%016llx: %s", (unsigned long long)it->env.id,
		         queue_strerror(qu));
	delivery_release(sh, it);
}

/* Start one attempt now (the item is held). An envelope past its expiry
 * fails without an attempt. */
static void
delivery_dispatch(struct shard *sh, struct delivery_item *it)
{
	it->start_ms = sh->now_ms;
	if ((uint64_t)time(NULL) >= it->env.expire) {
		log_info("%016llx envelope expired after %u attempts: %s",
		         (unsigned long long)it->env.id, it->env.retries,
		         it->env.last_error[0] ? it->env.last_error : "no attempt made");
		metrics_add(&sh->metrics, METRICS_EXPIRED, 1);
		it->expired = 1;
		delivery_fail(sh, it, it->env.last_error);
		return;
	}
	const struct rules_action *a = rules_action_find(sh->config, it->env.action);
	if (a == NULL) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL,
		                "action no longer in the configuration", NULL);
		return;
	}
	if (it->env.mda_kind != QUEUE_MDA_ACTION) {   /* a file or command from an alias */
		local_deliver(sh, it, a);
		return;
	}
	switch (a->kind) {
	case RULES_ACTION_MAILDIR:
		local_deliver(sh, it, a);
		return;
	case RULES_ACTION_RELAY:
	case RULES_ACTION_LMTP:   /* the same client machine, in LMTP mode */
		relay_enqueue(sh, it, a);
		return;
	}
	delivery_result(sh, it, DELIVERY_TEMPFAIL, "unknown action kind", NULL);
}

/* Is env's agent (mta for relay actions, mda for the rest) paused? */
static int
delivery_paused(struct shard *sh, const struct queue_envelope *env)
{
	const struct rules_action *a = rules_action_find(sh->config, env->action);
	if (a != NULL && a->kind == RULES_ACTION_RELAY)
		return sh->sched->paused_mta || mta_block_holds(a, delivery_domain(env->rcpt));
	return sh->sched->paused_mda;
}

/* smtpctl resume mta from ... for ...: envelopes the scan skipped while
 * held are found again from the oldest entry. */
void
delivery_ctl_rescan(struct shard *sh)
{
	memset(&sh->sched->cursor, 0, sizeof sh->sched->cursor);
}

/* smtpctl show hoststats: this shard's records. */
void
delivery_ctl_hoststats(struct shard *sh, struct ctl_buf *out)
{
	hoststat_records(sh->sched->hoststats, out);
}

/* smtpctl pause|resume mda|mta, on each shard (core/control.h): a paused
 * agent's envelopes stay on disk; resuming rescans from the oldest entry.
 * Returns 0, or -EINVAL for another agent. */
int
delivery_ctl_pause(struct shard *sh, unsigned agent, int paused)
{
	struct delivery_sched *q = sh->sched;
	if (agent != CTL_AGENT_MDA && agent != CTL_AGENT_MTA)
		return -EINVAL;
	int *flag = agent == CTL_AGENT_MDA ? &q->paused_mda : &q->paused_mta;
	if (*flag && !paused)
		memset(&q->cursor, 0, sizeof q->cursor);
	*flag = paused != 0;
	return 0;
}

/* Hold and start a copy of env; when it cannot be held, the scan comes
 * back to it; while its agent is paused it stays on disk. */
static void
delivery_start(struct shard *sh, const struct queue_envelope *env)
{
	struct delivery_sched *q = sh->sched;
	if (delivery_paused(sh, env))
		return;
	struct delivery_item *it = calloc(1, sizeof *it);
	if (it == NULL || delivery_hold(q, env->id) < 0) {
		free(it);
		queue_due_rewind(&q->cursor, env->next_attempt, env->id);
		return;
	}
	it->env = *env;
	it->home = sh->index;
	TRACE(CTL_TRACE_SCHEDULER, "trace scheduler: %016llx attempt %u to <%s> action=%s",
	      (unsigned long long)env->id, env->retries + 1, env->rcpt, env->action);
	delivery_dispatch(sh, it);
}

/* On the owner: a fresh envelope from delivery_submit(). Started unless it
 * is held already, no longer queued (a scan started and finished it), not
 * due, or the shard is stopping. */
static void
delivery_accept(struct shard *sh, struct delivery_item *it)
{
	struct queue_envelope env;
	uint64_t evpid = it->env.id;
	free(it);
	if (sh->stopping || delivery_held(sh->sched, evpid))
		return;
	if (queue_envelope_load(sh->daemon->queue, evpid, &env) < 0)
		return;
	if (env.next_attempt <= (uint64_t)time(NULL))
		delivery_start(sh, &env);
}

/* On the owner: a chain of fresh envelopes (linked by next), accepted in
 * one turn so that a message's recipients reach the relay queue together
 * and leave in one transaction. */
static void
delivery_accept_chain(struct shard *sh, struct delivery_item *it)
{
	while (it != NULL) {
		struct delivery_item *next = it->next;
		it->next = NULL;
		delivery_accept(sh, it);
		it = next;
	}
}

/* Mailbox handler on the owner shard. */
static void
delivery_handle(struct shard *sh, struct shard_msg *msg)
{
	delivery_accept_chain(sh, container_of(msg, struct delivery_item, msg));
}

/* After a durable commit: post copies of envs to their owners, one mailbox
 * message per owner carrying all of its envelopes (posted one by one, the
 * owner could start a message's first recipient in a turn of its own). */
void
delivery_submit(struct shard *sh, const struct queue_envelope *envs, unsigned n)
{
	struct daemon *d = sh->daemon;
	struct delivery_item *heads[DAEMON_SHARDS_MAX] = { NULL }, **tails[DAEMON_SHARDS_MAX];
	for (unsigned o = 0; o < d->nshards; o++)
		tails[o] = &heads[o];
	for (unsigned i = 0; i < n; i++) {
		struct delivery_item *it = calloc(1, sizeof *it);
		if (it == NULL) {
			log_warn("delivery: out of memory, evpid=%016llx waits for the "
			         "next scan", (unsigned long long)envs[i].id);
			continue;
		}
		it->env = envs[i];
		it->accepted_ms = sh->now_ms;
		unsigned o = delivery_owner(d, envs[i].id);
		*tails[o] = it;
		tails[o] = &it->next;
	}
	for (unsigned o = 0; o < d->nshards; o++) {
		if (heads[o] == NULL)
			continue;
		if (&d->shards[o] == sh) {
			delivery_accept_chain(sh, heads[o]);
		} else {
			heads[o]->msg.handle = delivery_handle;
			shard_post(&d->shards[o], &heads[o]->msg);
		}
	}
}

/* queue_due() filter: this shard's envelopes that are not held yet, while
 * there is room and this tick has not started its share (a tick's scan
 * stays within tens of milliseconds of the shard's time). */
static enum queue_due_want
delivery_want(void *arg, uint64_t evpid)
{
	struct shard *sh = arg;
	if (delivery_owner(sh->daemon, evpid) != sh->index ||
	    delivery_held(sh->sched, evpid))
		return QUEUE_DUE_SKIP;
	if (sh->sched->nheld >= DELIVERY_HELD_MAX ||
	    sh->sched->tick_starts >= DELIVERY_TICK_STARTS_MAX)
		return QUEUE_DUE_STOP;
	return QUEUE_DUE_TAKE;
}

/* queue_due() hand-over: start it. */
static void
delivery_take(void *arg, const struct queue_envelope *env)
{
	struct shard *sh = arg;
	sh->sched->tick_starts++;
	delivery_start(sh, env);
}

/* Group the reports due (those of the last second, and those tried again)
 * per message, sender and kind, and hand each group to core/bounce.c. */
static void
delivery_bounce_flush(struct shard *sh, uint64_t now)
{
	struct delivery_sched *q = sh->sched;
	struct delivery_item *due = NULL, *later = NULL;
	while (q->reports != NULL) {   /* into the order they came in */
		struct delivery_item *it = q->reports;
		q->reports = it->next;
		struct delivery_item **to = it->report_at > now ? &later : &due;
		it->next = *to;
		*to = it;
	}
	q->reports = later;   /* bounce_send() may put some back */
	while (due != NULL) {
		struct delivery_item *group[RELAY_TXN_RCPT_MAX], **pp = &due;
		struct delivery_item *first = due;
		unsigned n = 0;
		while (*pp != NULL && n < RELAY_TXN_RCPT_MAX) {
			struct delivery_item *it = *pp;
			if (it->env.id >> 32 == first->env.id >> 32 && it->report == first->report &&
			    strcmp(it->env.sender, first->env.sender) == 0) {
				*pp = it->next;
				group[n++] = it;
			} else {
				pp = &it->next;
			}
		}
		q->bouncing++;
		bounce_send(sh, group, n);
	}
}

/* Once a second: queue pending reports, then scan for what is due. While
 * stopping only the reports go (a delivered envelope whose report waits
 * would be delivered again after the restart). */
void
delivery_tick(struct shard *sh)
{
	struct delivery_sched *q = sh->sched;
	uint64_t now = (uint64_t)time(NULL);
	atomic_store_explicit(&sh->metrics.gauge[METRICS_HELD], q->nheld, memory_order_relaxed);
	if (sh->stopping) {
		if (queue_failed(sh->daemon->queue) == 0)
			delivery_bounce_flush(sh, now);
		return;
	}
	if (queue_failed(sh->daemon->queue) != 0) {
		/* results could not be recorded: attempts would repeat after the
		 * restart, so none start until then */
		if (!q->paused)
			log_warn("shard %u: the queue failed: deliveries paused until restart",
			         sh->index);
		q->paused = 1;
		return;
	}
	delivery_bounce_flush(sh, now);
	if (now >= q->rescan_at) {
		memset(&q->cursor, 0, sizeof q->cursor);
		q->rescan_at = now + DELIVERY_RESCAN_S;
	}
	q->tick_starts = 0;
	int rc = queue_due(sh->daemon->queue, now, &q->cursor, DELIVERY_SCAN_KEYS_MAX,
	                   delivery_want, delivery_take, sh);
	if (rc < 0)
		log_warn("shard %u: schedule scan: %s", sh->index,
		         queue_strerror(sh->daemon->queue));
}

/* A success or delay report that could not be queued is tried again in
 * DELIVERY_BOUNCE_RETRY_S (a delivered envelope stays held meanwhile). */
static void
delivery_report_again(struct shard *sh, struct delivery_item *it, uint64_t now)
{
	it->report_at = now + DELIVERY_BOUNCE_RETRY_S;
	it->next = sh->sched->reports;
	sh->sched->reports = it;
}

/* The report for items is queued (err 0) or could not be (err < 0). */
void
delivery_bounced(struct shard *sh, struct delivery_item **items, unsigned n, int err)
{
	struct queue *qu = sh->daemon->queue;
	uint64_t now = (uint64_t)time(NULL);
	sh->sched->bouncing--;
	for (unsigned i = 0; i < n; i++) {
		struct delivery_item *it = items[i];
		if (it->report == DELIVERY_REPORT_DELAY && err == 0) {
			sh->sched->warnings--;
			free(it);   /* a copy: the envelope is not held for it */
			continue;
		}
		if (it->report != DELIVERY_REPORT_FAILURE && err < 0) {
			delivery_report_again(sh, it, now);
			continue;
		}
		if (err == 0) {
			if (queue_envelope_delete(qu, it->env.id) < 0)
				log_warn("queue delete evpid=%016llx: %s",
				         (unsigned long long)it->env.id, queue_strerror(qu));
			delivery_release(sh, it);
			continue;
		}
		/* fail again later: expire now, retry after a pause */
		struct queue_envelope env = it->env;
		env.expire = env.expire < now ? env.expire : now;
		env.next_attempt = now + DELIVERY_BOUNCE_RETRY_S;
		snprintf(env.last_error, sizeof env.last_error, "%s", it->stat);
		if (queue_envelope_update(qu, NULL, &env) < 0)
			log_warn("queue update evpid=%016llx: %s", (unsigned long long)env.id,
			         queue_strerror(qu));
		delivery_release(sh, it);
	}
}
