/*
 * core/delivery.c - per-shard scheduling of envelopes: routing to the owner
 * shard, a min-heap by next attempt, dispatch to maildir or relay, and the
 * bookkeeping of results (queue update, retry delay, log line). See
 * core/delivery.h.
 */
#include "core/delivery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/daemon.h"
#include "core/log.h"
#include "core/local.h"
#include "core/relay.h"
#include "rules/rules.h"

struct delivery_sched {
	struct delivery_item **heap;
	unsigned n, cap;
};

const char *
delivery_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

/* Which shard owns an envelope. Every envelope of a message for one smart
 * host lands on the same shard (one transaction carries them all), and
 * messages spread over the shards. MX relaying (later) will hash the
 * domain instead, so per-domain limits live on one shard. */
static unsigned
delivery_owner(const struct daemon *d, const struct queue_envelope *env)
{
	uint32_t h = 2166136261u, msgid = (uint32_t)(env->id >> 32);
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ ((msgid >> (8 * i)) & 0xffu)) * 16777619u;
	return h % d->nshards;
}

int
delivery_init(struct shard *sh)
{
	sh->sched = calloc(1, sizeof *sh->sched);
	return sh->sched ? 0 : -ENOMEM;
}

void
delivery_free(struct shard *sh)
{
	struct delivery_sched *q = sh->sched;
	if (q == NULL)
		return;
	for (unsigned i = 0; i < q->n; i++)
		free(q->heap[i]);
	free(q->heap);
	free(q);
	sh->sched = NULL;
}

static int
delivery_heap_less(const struct delivery_item *a, const struct delivery_item *b)
{
	if (a->env.next_attempt != b->env.next_attempt)
		return a->env.next_attempt < b->env.next_attempt;
	return a->env.id < b->env.id;
}

static void
delivery_heap_push(struct delivery_sched *q, struct delivery_item *it)
{
	if (q->n == q->cap) {
		unsigned cap = q->cap ? q->cap * 2 : 64;
		struct delivery_item **h = realloc(q->heap, cap * sizeof *h);
		if (h == NULL) {
			/* it stays in the queue on disk and comes back at restart */
			log_warn("delivery: out of memory, evpid=%016llx waits for restart",
			         (unsigned long long)it->env.id);
			free(it);
			return;
		}
		q->heap = h;
		q->cap = cap;
	}
	unsigned i = q->n++;
	while (i > 0 && delivery_heap_less(it, q->heap[(i - 1) / 2])) {
		q->heap[i] = q->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	q->heap[i] = it;
}

static struct delivery_item *
delivery_heap_pop(struct delivery_sched *q)
{
	struct delivery_item *top = q->heap[0], *last = q->heap[--q->n];
	unsigned i = 0;
	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && delivery_heap_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!delivery_heap_less(q->heap[c], last))
			break;
		q->heap[i] = q->heap[c];
		i = c;
	}
	if (q->n > 0)
		q->heap[i] = last;
	return top;
}

/* Start one attempt now. */
static void
delivery_dispatch(struct shard *sh, struct delivery_item *it)
{
	const struct rules_action *a = rules_action_find(sh->config, it->env.action);
	it->start_ms = sh->now_ms;
	if (a == NULL) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL,
		                "action no longer in the configuration", NULL);
		return;
	}
	switch (a->kind) {
	case RULES_ACTION_MAILDIR:
		local_deliver(sh, it, a);
		return;
	case RULES_ACTION_RELAY:
		relay_enqueue(sh, it, a);
		return;
	}
	delivery_result(sh, it, DELIVERY_TEMPFAIL, "unknown action kind", NULL);
}

/* On the owner: start it now if due, or keep it for later. */
static void
delivery_accept(struct shard *sh, struct delivery_item *it)
{
	if (sh->stopping) {
		free(it);   /* on disk; resumes at the next start */
		return;
	}
	if (it->env.next_attempt <= (uint64_t)time(NULL))
		delivery_dispatch(sh, it);
	else
		delivery_heap_push(sh->sched, it);
}

static void
delivery_handle(struct shard *sh, struct shard_msg *msg)
{
	delivery_accept(sh, container_of(msg, struct delivery_item, msg));
}

static int
delivery_route(struct daemon *d, struct shard *from, const struct queue_envelope *env)
{
	struct delivery_item *it = calloc(1, sizeof *it);
	if (it == NULL)
		return -ENOMEM;
	it->env = *env;
	struct shard *owner = &d->shards[delivery_owner(d, env)];
	if (owner == from) {
		delivery_accept(from, it);
	} else {
		it->msg.handle = delivery_handle;
		shard_post(owner, &it->msg);
	}
	return 0;
}

void
delivery_submit(struct shard *sh, const struct queue_envelope *envs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (delivery_route(sh->daemon, sh, &envs[i]) < 0)
			log_warn("delivery: out of memory, evpid=%016llx waits for restart",
			         (unsigned long long)envs[i].id);
}

int
delivery_recover(struct daemon *d, const struct queue_envelope *env)
{
	return delivery_route(d, NULL, env);
}

void
delivery_tick(struct shard *sh)
{
	struct delivery_sched *q = sh->sched;
	uint64_t now = (uint64_t)time(NULL);
	while (q->n > 0 && q->heap[0]->env.next_attempt <= now && !sh->stopping)
		delivery_dispatch(sh, delivery_heap_pop(q));
}

/* The delay before attempt n+1: doubling from the first, capped. */
static uint64_t
delivery_retry_delay_s(uint32_t retries)
{
	uint64_t d = DELIVERY_RETRY_FIRST_S;
	for (uint32_t i = 0; i < retries && d < DELIVERY_RETRY_MAX_S; i++)
		d *= 2;
	return d < DELIVERY_RETRY_MAX_S ? d : DELIVERY_RETRY_MAX_S;
}

static void
delivery_log(struct shard *sh, const struct delivery_item *it, const char *result,
             const char *stat, const char *via)
{
	const struct rules_action *a = rules_action_find(sh->config, it->env.action);
	int relay = a != NULL && a->kind == RULES_ACTION_RELAY;
	unsigned long long delay = (unsigned long long)time(NULL) - it->env.created;
	log_info("%016llx %s delivery evpid=%016llx from=<%s> to=<%s> rcpt=<%s> "
	         "%s%s%sdelay=%llus result=%s stat=%s",
	         (unsigned long long)it->env.id, relay ? "mta" : "mda",
	         (unsigned long long)it->env.id, it->env.sender, it->env.dest, it->env.rcpt,
	         via ? (relay ? "relay=" : "user=") : "", via ? via : "", via ? " " : "",
	         delay, result, stat);
}

void
delivery_result(struct shard *sh, struct delivery_item *it, enum delivery_status st,
                const char *stat, const char *via)
{
	struct queue *qu = sh->daemon->queue;
	uint64_t now = (uint64_t)time(NULL);
	if (st == DELIVERY_TEMPFAIL && now >= it->env.expire) {
		st = DELIVERY_PERMFAIL;
		log_info("%016llx envelope expired after %u attempts: %s",
		         (unsigned long long)it->env.id, it->env.retries + 1, stat);
	}
	if (st == DELIVERY_TEMPFAIL) {
		struct queue_envelope old = it->env;
		delivery_log(sh, it, "TempFail", stat, via);
		it->env.next_attempt = now + delivery_retry_delay_s(it->env.retries);
		it->env.retries++;
		snprintf(it->env.last_error, sizeof it->env.last_error, "%s", stat);
		if (queue_envelope_update(qu, &old, &it->env) < 0)
			log_warn("queue update evpid=%016llx: %s", (unsigned long long)it->env.id,
			         queue_strerror(qu));
		if (sh->stopping)
			free(it);
		else
			delivery_heap_push(sh->sched, it);
		return;
	}
	delivery_log(sh, it, st == DELIVERY_OK ? "Ok" : "PermFail", stat, via);
	if (queue_envelope_delete(qu, it->env.id) < 0)
		log_warn("queue delete evpid=%016llx: %s", (unsigned long long)it->env.id,
		         queue_strerror(qu));
	free(it);
}
