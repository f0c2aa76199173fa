/*
 * core/bounce.c - queueing a bounce for the recipients of one message that
 * failed for good: route it, read the failed message's header, format the
 * report (queue/bounce_format.c), commit it through the queue, and once the
 * syncer made it durable hand it to delivery and let the failed envelopes
 * go (delivery_bounced()). See core/bounce.h.
 */
#include "core/bounce.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/log.h"
#include "core/shard.h"
#include "queue/bounce_format.h"
#include "queue/queue.h"
#include "rules/rules.h"

struct bounce_job {
	struct queue_sync_req sync;
	struct shard_msg msg;
	struct shard *sh;
	int err;
	struct queue_envelope env;     /* the bounce's envelope */
	unsigned n;
	struct delivery_item *items[]; /* the failed envelopes */
};

/* Hand the items back to delivery with err and free the job. */
static void
bounce_finish(struct bounce_job *job, int err)
{
	delivery_bounced(job->sh, job->items, job->n, err);
	free(job);
}

/* Format the bounce of job's items, with the failed message's header when
 * it can be read. Returns the malloc'd text or NULL. */
static char *
bounce_text(struct bounce_job *job, uint32_t bounce_msgid, uint64_t now, size_t *len)
{
	struct shard *sh = job->sh;
	const struct queue_envelope *first = &job->items[0]->env;
	struct queue_bounce_rcpt *rcpts = calloc(job->n, sizeof *rcpts);
	char *body = NULL;
	size_t body_len = 0;
	if (rcpts == NULL)
		return NULL;
	for (unsigned i = 0; i < job->n; i++) {
		rcpts[i].rcpt = job->items[i]->env.rcpt;
		rcpts[i].diagnostic = job->items[i]->stat;
		rcpts[i].expired = job->items[i]->expired;
		rcpts[i].orcpt = job->items[i]->env.dsn_orcpt;
	}
	int err = queue_body_load(sh->daemon->queue, (uint32_t)(first->id >> 32), &body,
	                          &body_len);
	if (err < 0)
		log_warn("%08x bounce: the failed message cannot be read (%s): sent "
		         "without its headers", (unsigned)(first->id >> 32), strerror(-err));
	struct queue_bounce b = {
		.hostname = sh->daemon->hostname,
		.sender = first->sender,
		.msgid = (uint32_t)(first->id >> 32),
		.bounce_msgid = bounce_msgid,
		.arrival = first->created,
		.now = now,
		.rcpts = rcpts,
		.nrcpts = job->n,
		.envid = first->dsn_envid,
		.headers = err == 0 ? body : NULL,
		.headers_len = err == 0 ? queue_bounce_headers_len(body, body_len) : 0,
	};
	char *text = queue_bounce_format(&b, len);
	free(body);
	free(rcpts);
	return text;
}

/* Write the bounce as a new message for action a, unsynced; job->sync.seq
 * is what to sync. Returns 0 or a negative errno (nothing left behind). */
static int
bounce_commit(struct bounce_job *job, const struct rules_action *a)
{
	struct shard *sh = job->sh;
	struct queue *qu = sh->daemon->queue;
	struct queue_writer w;
	uint64_t now = (uint64_t)time(NULL);
	size_t len = 0;
	int err = queue_body_begin(qu, &w);
	if (err < 0)
		return err;
	char *text = bounce_text(job, w.msgid, now, &len);
	err = text == NULL ? -ENOMEM : queue_body_append(&w, text, len);
	free(text);
	struct queue_envelope *e = &job->env;
	e->id = queue_evpid_new(w.msgid);
	snprintf(e->rcpt, sizeof e->rcpt, "%s", job->items[0]->env.sender);
	snprintf(e->dest, sizeof e->dest, "%s", job->items[0]->env.sender);
	snprintf(e->action, sizeof e->action, "%s", a->name);
	snprintf(e->helo, sizeof e->helo, "%s", sh->daemon->hostname);
	snprintf(e->client, sizeof e->client, "local");
	e->smtputf8 = job->items[0]->env.smtputf8;   /* the sender may be a UTF-8 address */
	e->created = now;
	e->expire = now + queue_ttl_s(qu);
	e->next_attempt = now;
	if (err == 0)
		err = queue_commit(&w, e, 1, &job->sync.seq);
	if (err < 0)
		queue_body_abort(&w);
	return err;
}

/* On the shard: the bounce is durable (or its sync failed). */
static void
bounce_synced(struct shard *sh, struct shard_msg *msg)
{
	struct bounce_job *job = container_of(msg, struct bounce_job, msg);
	const struct queue_envelope *first = &job->items[0]->env;
	if (job->err < 0) {
		log_warn("%08x bounce to <%s> not queued: sync: %s; retried later",
		         (unsigned)(first->id >> 32), first->sender, strerror(-job->err));
		bounce_finish(job, job->err);
		return;
	}
	log_info("%08x bounce msgid=%08x evpid=%016llx from=<> to=<%s> for %u "
	         "recipient%s", (unsigned)(first->id >> 32), (unsigned)(job->env.id >> 32),
	         (unsigned long long)job->env.id, first->sender, job->n,
	         job->n == 1 ? "" : "s");
	delivery_submit(sh, &job->env, 1);
	bounce_finish(job, 0);
}

/* On the syncer's thread: hand the result back to the job's shard. */
static void
bounce_sync_done(struct queue_sync_req *req, int err)
{
	struct bounce_job *job = container_of(req, struct bounce_job, sync);
	job->err = err;
	shard_post(job->sh, &job->msg);
}

/* See core/bounce.h. */
void
bounce_send(struct shard *sh, struct delivery_item **items, unsigned n)
{
	struct bounce_job *job = calloc(1, sizeof *job + n * sizeof *items);
	if (job == NULL) {
		delivery_bounced(sh, items, n, -ENOMEM);
		return;
	}
	job->sh = sh;
	job->n = n;
	memcpy(job->items, items, n * sizeof *items);
	const char *sender = items[0]->env.sender;
	uint32_t msgid = (uint32_t)(items[0]->env.id >> 32);
	const struct rules_action *a = NULL;
	unsigned line = 0;
	struct rules_query rq = { .local = 1, .src = NULL, .listener_tag = "",
	                          .mail_from = "", .rcpt = sender };
	enum rules_verdict v = rules_match(sh->config, &rq, &a, &line);
	if (v == RULES_TEMPFAIL) {
		log_warn("%08x bounce to <%s>: rules tempfail, retried later", msgid, sender);
		bounce_finish(job, -EAGAIN);
		return;
	}
	if (v != RULES_ACCEPT) {
		log_warn("%08x bounce to <%s> dropped: %s (%s line %u)", msgid, sender,
		         v == RULES_REJECT ? "a rule rejects it" : "no rule matches it",
		         sh->config->file, line);
		bounce_finish(job, 0);
		return;
	}
	int err = bounce_commit(job, a);
	if (err < 0) {
		log_warn("%08x bounce to <%s> not queued: %s; retried later", msgid, sender,
		         queue_strerror(sh->daemon->queue));
		bounce_finish(job, err);
		return;
	}
	job->sync.done = bounce_sync_done;
	job->msg.handle = bounce_synced;
	queue_sync_submit(sh->daemon->queue, &job->sync);
}
