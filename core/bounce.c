/*
 * core/bounce.c - queueing a delivery status notification (failure, delay
 * or success) for recipients of one message: route it, read the message,
 * format the report (queue/bounce_format.c), commit it through the queue,
 * and once the syncer made it durable hand it to delivery and let the
 * items go (delivery_bounced()). A report on a message from <> (a report
 * that failed) goes to postmaster@<hostname>, marked as postmaster's copy.
 * See core/bounce.h.
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
#include "core/trace.h"
#include "queue/bounce_format.h"
#include "queue/queue.h"
#include "rules/rules.h"

struct bounce_job {
	struct queue_sync_req sync;
	struct shard_msg msg;
	struct shard *sh;
	int err;
	struct queue_envelope env;     /* the bounce's envelope */
	char to[QUEUE_ADDR_BYTES_MAX]; /* its recipient: the sender, or postmaster */
	unsigned n;
	struct delivery_item *items[]; /* the envelopes reported on, one kind */
};

/* The report's kind for the items' kind. */
static enum queue_bounce_kind
bounce_kind(const struct bounce_job *job)
{
	switch (job->items[0]->report) {
	case DELIVERY_REPORT_DELAY:
		return QUEUE_BOUNCE_DELAY;
	case DELIVERY_REPORT_SUCCESS:
		return QUEUE_BOUNCE_SUCCESS;
	case DELIVERY_REPORT_FAILURE:
		break;
	}
	return QUEUE_BOUNCE_FAILURE;
}

/* The report's name in log lines. */
static const char *
bounce_name(const struct bounce_job *job)
{
	switch (job->items[0]->report) {
	case DELIVERY_REPORT_DELAY:
		return "delay warning";
	case DELIVERY_REPORT_SUCCESS:
		return "success report";
	case DELIVERY_REPORT_FAILURE:
		break;
	}
	return "bounce";
}

/* One recipient of the report, from its item. */
static struct queue_bounce_rcpt
bounce_rcpt(const struct delivery_item *it)
{
	struct queue_bounce_rcpt r = {
		.rcpt = it->env.rcpt, .diagnostic = it->stat, .expired = it->expired,
		.orcpt = it->env.dsn_orcpt, .action = QUEUE_BOUNCE_FAILED,
	};
	if (it->report == DELIVERY_REPORT_DELAY) {
		r.action = QUEUE_BOUNCE_DELAYED;
		r.retry_until = it->env.expire;
	} else if (it->report == DELIVERY_REPORT_SUCCESS) {
		r.action = it->relayed ? QUEUE_BOUNCE_RELAYED : QUEUE_BOUNCE_DELIVERED;
	}
	return r;
}

/* Hand the items back to delivery with err and free the job. */
static void
bounce_finish(struct bounce_job *job, int err)
{
	delivery_bounced(job->sh, job->items, job->n, err);
	free(job);
}

/* Format the report on job's items, with the message's header (or all of
 * it) when it can be read; *returned says what part 3 holds. Returns the
 * malloc'd text or NULL. */
static char *
bounce_text(struct bounce_job *job, uint32_t bounce_msgid, uint64_t now, size_t *len,
            enum queue_bounce_return *returned)
{
	struct shard *sh = job->sh;
	const struct queue_envelope *first = &job->items[0]->env;
	struct queue_bounce_rcpt *rcpts = calloc(job->n, sizeof *rcpts);
	char *body = NULL;
	size_t body_len = 0;
	if (rcpts == NULL)
		return NULL;
	for (unsigned i = 0; i < job->n; i++)
		rcpts[i] = bounce_rcpt(job->items[i]);
	int err = queue_body_load(sh->daemon->queue, (uint32_t)(first->id >> 32), &body,
	                          &body_len);
	if (err < 0)
		log_warn("%08x %s: the message cannot be read (%s): sent without its "
		         "headers", (unsigned)(first->id >> 32), bounce_name(job), strerror(-err));
	enum queue_bounce_kind kind = bounce_kind(job);
	/* a binary body cannot travel inside a text report: headers only */
	int ret_full = first->dsn_ret == QUEUE_DSN_RET_FULL && first->body != QUEUE_BODY_BINARYMIME;
	*returned = err < 0 ? QUEUE_BOUNCE_RETURN_HEADERS :
	            queue_bounce_return_for(kind, ret_full, body_len);
	int full = *returned == QUEUE_BOUNCE_RETURN_FULL;
	struct queue_bounce b = {
		.kind = kind,
		.hostname = sh->daemon->hostname,
		.sender = job->to,
		.msgid = (uint32_t)(first->id >> 32),
		.bounce_msgid = bounce_msgid,
		.arrival = first->created,
		.now = now,
		.rcpts = rcpts,
		.nrcpts = job->n,
		.envid = first->dsn_envid,
		.headers = err == 0 ? body : NULL,
		.headers_len = err != 0 ? 0 : full ? body_len :
		               queue_bounce_headers_len(body, body_len),
		.returned = *returned,
		.eight_bit = full && first->body != QUEUE_BODY_7BIT,
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
	enum queue_bounce_return returned = QUEUE_BOUNCE_RETURN_HEADERS;
	int err = queue_body_begin(qu, &w);
	if (err < 0)
		return err;
	char *text = bounce_text(job, w.msgid, now, &len, &returned);
	err = text == NULL ? -ENOMEM : queue_body_append(&w, text, len);
	free(text);
	struct queue_envelope *e = &job->env;
	e->id = queue_evpid_new(w.msgid);
	snprintf(e->rcpt, sizeof e->rcpt, "%s", job->to);
	snprintf(e->dest, sizeof e->dest, "%s", job->to);
	e->postmaster_copy = job->items[0]->env.sender[0] == '\0';
	snprintf(e->action, sizeof e->action, "%s", a->name);
	snprintf(e->helo, sizeof e->helo, "%s", sh->daemon->hostname);
	snprintf(e->client, sizeof e->client, "local");
	e->smtputf8 = job->items[0]->env.smtputf8;   /* the sender may be a UTF-8 address */
	if (returned == QUEUE_BOUNCE_RETURN_FULL && job->items[0]->env.body != QUEUE_BODY_7BIT)
		e->body = QUEUE_BODY_8BITMIME;   /* the returned message is 8-bit */
	e->created = now;
	e->expire = now + a->ttl_s;   /* the action's ttl, else the queue's */
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
		log_warn("%08x %s to <%s> not queued: sync: %s; retried later",
		         (unsigned)(first->id >> 32), bounce_name(job), job->to,
		         strerror(-job->err));
		bounce_finish(job, job->err);
		return;
	}
	log_info("%08x %s msgid=%08x evpid=%016llx from=<> to=<%s> for %u "
	         "recipient%s", (unsigned)(first->id >> 32), bounce_name(job),
	         (unsigned)(job->env.id >> 32),
	         (unsigned long long)job->env.id, job->to, job->n,
	         job->n == 1 ? "" : "s");
	metrics_add(&sh->metrics, METRICS_BOUNCES, 1);
	metrics_add(&sh->metrics, METRICS_ENVELOPES_QUEUED, 1);
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
	TRACE(CTL_TRACE_BOUNCE, "trace bounce: %016llx report for %u recipient%s to <%s>",
	      (unsigned long long)items[0]->env.id, n, n == 1 ? "" : "s", items[0]->env.sender);
	if (job == NULL) {
		delivery_bounced(sh, items, n, -ENOMEM);
		return;
	}
	job->sh = sh;
	job->n = n;
	memcpy(job->items, items, n * sizeof *items);
	if (items[0]->env.sender[0] != '\0')
		snprintf(job->to, sizeof job->to, "%s", items[0]->env.sender);
	else   /* a report that failed: postmaster hears of it, once */
		snprintf(job->to, sizeof job->to, "postmaster@%s", sh->daemon->hostname);
	uint32_t msgid = (uint32_t)(items[0]->env.id >> 32);
	const struct rules_action *a = NULL;
	unsigned line = 0;
	struct rules_query rq = { .local = 1, .src = NULL, .listener_tag = "",
	                          .country = "", .asn = "",   /* a local client has none */
	                          .rdns_state = RULES_RDNS_NONE,
	                          .mail_from = "", .rcpt = job->to };
	enum rules_verdict v = rules_match(sh->config, &rq, &a, &line);
	if (v == RULES_TEMPFAIL) {
		log_warn("%08x %s to <%s>: rules tempfail, retried later", msgid,
		         bounce_name(job), job->to);
		bounce_finish(job, -EAGAIN);
		return;
	}
	if (v != RULES_ACCEPT) {
		log_warn("%08x %s to <%s> dropped: %s (%s line %u)", msgid, bounce_name(job),
		         job->to, v == RULES_REJECT ? "a rule rejects it" : "no rule matches it",
		         sh->config->file, line);
		bounce_finish(job, 0);
		return;
	}
	int err = bounce_commit(job, a);
	if (err < 0) {
		log_warn("%08x %s to <%s> not queued: %s; retried later", msgid,
		         bounce_name(job), job->to, queue_strerror(sh->daemon->queue));
		bounce_finish(job, err);
		return;
	}
	job->sync.done = bounce_sync_done;
	job->msg.handle = bounce_synced;
	queue_sync_submit(sh->daemon->queue, &job->sync);
}
