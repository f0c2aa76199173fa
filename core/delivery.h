/*
 * core/delivery.h - the scheduler: which envelope is due, where it goes, and
 * what happens with the result.
 *
 * Every envelope is held by one shard, chosen by a hash of its message id
 * (its home: the schedule, the hold set, the retry and the reports). A
 * relay attempt runs on the shard that owns its next hop (core/relay.c:
 * a hash of the smart host, the recipient's domain for MX routing, or the
 * LMTP server), so that next hop's connections, limits and backoff live on
 * one thread: the home posts the item there (delivery_left() counts it)
 * and the result comes back by the home's mailbox (delivery_result() on
 * the other shard posts it home; delivery_return() sends back an item
 * never attempted, when that shard stops).
 * The queue on disk is the schedule: once a second each shard scans the
 * schedule index from its cursor up to now (queue_due(): a range scan of
 * keys, no full scan, nothing loaded that is not its own and due) and
 * starts what it finds. In memory a shard keeps only what it holds: the set
 * of envelope ids being attempted or waiting for their bounce, at most
 * DELIVERY_HELD_MAX; the rest waits on disk. Start-up reads nothing: the
 * first scans find what was queued before.
 *
 * delivery_submit() (from a session's shard, after the commit is durable)
 * posts fresh envelopes to their owners so they start at once; the owner
 * re-reads each from the queue before starting it (a scan may have started
 * and finished it meanwhile). Maildir (core/maildir.c) and relay
 * (core/relay.c) report back with delivery_result():
 *   DELIVERY_OK        delivered: envelope removed from the queue; with
 *                      NOTIFY=SUCCESS first a success report (below),
 *                      unless a relay's next hop offered DSN (it got the
 *                      parameters and reports itself, RFC 3461 6.2.1)
 *   DELIVERY_TEMPFAIL  kept; next attempt at created + base x retries^2
 *                      (OpenSMTPD: base 400 s relay, 10 s local), never
 *                      later than the expiry; at expiry it fails. Once the
 *                      envelope's age passes the next `bounce warn-interval`
 *                      not warned about (NOTIFY absent or with DELAY, a
 *                      real sender), a delay warning is queued from a copy
 *                      of the item; the count sent is kept in the envelope
 *   DELIVERY_PERMFAIL  a bounce to the sender; none for the null sender,
 *                      nor when NOTIFY leaves FAILURE out (logged, dropped)
 * Reports (core/bounce.c) wait in the shard's list for the next tick, which
 * groups them per message, sender and kind; a failed or delivered envelope
 * is removed only once its report is durable (a crash in between sends the
 * report again, or delivers again, never loses the message).
 *
 * smtpctl pause|resume mda|mta: delivery_ctl_pause() (declared in
 * core/control.h) runs on each shard; a paused agent's envelopes stay on
 * disk, and resuming rescans the schedule from its oldest entry.
 *
 * Testing knob: RINGMTA_RETRY_BASE_S in the environment (read once at
 * start) replaces both retry bases, so end-to-end tests see retries within
 * seconds. Not for production.
 */
#ifndef CORE_DELIVERY_H
#define CORE_DELIVERY_H

#include <stdint.h>

#include "core/shard.h"
#include "queue/queue.h"

#define DELIVERY_HELD_MAX 16384        /* envelopes a shard attempts at once */
#define DELIVERY_SCAN_KEYS_MAX 16384   /* schedule keys one tick may read */
#define DELIVERY_TICK_STARTS_MAX 4096  /* envelopes one tick's scan may start */
#define DELIVERY_RESCAN_S 60           /* the cursor restarts from the oldest */
#define DELIVERY_BOUNCE_RETRY_S 60     /* a report that could not be queued */
#define DELIVERY_VIA_BYTES 400         /* "host [addr]:port tls=..." of a result */
#define DELIVERY_WARNINGS_MAX 4096     /* delay warnings waiting at once; beyond,
                                        * the next failure warns */

enum delivery_status {
	DELIVERY_OK,
	DELIVERY_TEMPFAIL,
	DELIVERY_PERMFAIL,
};

/* What an item waiting for its report is reported as. */
enum delivery_report {
	DELIVERY_REPORT_FAILURE,   /* failed for good; removed once reported */
	DELIVERY_REPORT_SUCCESS,   /* delivered, NOTIFY=SUCCESS; removed once reported */
	DELIVERY_REPORT_DELAY,     /* a copy: the envelope itself stays queued */
};

struct delivery_item {
	struct shard_msg msg;        /* while travelling to the owner */
	struct delivery_item *next;  /* in a relay destination's queue, or
	                              * waiting for its report */
	uint64_t start_ms;           /* when this attempt started */
	uint64_t accepted_ms;        /* when its message was answered 250 (shard
	                              * clock), 0 when queued by an earlier run */
	int expired;                 /* failed because its expiry (ttl) passed */
	int peer_dsn;                /* relay: the next hop offered DSN (set
	                              * before delivery_result()) */
	int relayed;                 /* SUCCESS: handed to a next hop, not local */
	unsigned home;               /* the shard holding it (its scheduler) */
	enum delivery_status result; /* travelling home: the attempt's result, */
	int returned;                /* or not attempted (the other shard stops) */
	char via[DELIVERY_VIA_BYTES];/* travelling home: the via of the result */
	enum delivery_report report; /* while waiting for its report */
	uint64_t report_at;          /* unix seconds: not before (a retry) */
	char stat[QUEUE_ERROR_BYTES_MAX];  /* the failure (or reply), for the report */
	struct queue_envelope env;
};

struct delivery_sched;

int delivery_init(struct shard *sh);
/* Free the shard's schedule (envelopes stay on disk). */
void delivery_free(struct shard *sh);
/* After a durable commit: route copies of envs to their owner shards. */
void delivery_submit(struct shard *sh, const struct queue_envelope *envs, unsigned n);
/* Once a second on the shard: queue the reports of the last second, then
 * start what is due (while stopping, only the reports). */
void delivery_tick(struct shard *sh);
/* An attempt ended; takes the item. stat is the log text ("250 2.0.0 Ok").
 * On a shard other than the item's home it is posted home with the result. */
void delivery_result(struct shard *sh, struct delivery_item *it,
                     enum delivery_status st, const char *stat, const char *via);
/* core/relay.c posted it to the shard owning its next hop: the home waits
 * for its result (and does not exit before). */
void delivery_left(struct shard *sh);
/* On the shard owning its next hop: send it home unattempted (that shard
 * stops); the home lets it go, it stays queued on disk. */
void delivery_return(struct shard *sh, struct delivery_item *it);
/* From core/bounce.c: the report for items[0..n) (one kind) is queued and
 * durable (err 0, or dropped on purpose: failed and delivered envelopes are
 * removed, delay copies freed) or could not be queued (err < 0: failed
 * envelopes are kept and fail again in DELIVERY_BOUNCE_RETRY_S; success
 * and delay reports are tried again then). Takes the items. */
void delivery_bounced(struct shard *sh, struct delivery_item **items, unsigned n, int err);
/* True when no report is being queued or waits for one (for the shard's
 * clean exit). */
int delivery_idle(struct shard *sh);
/* The domain part of an address ("" if none). */
const char *delivery_domain(const char *addr);

/* smtpctl (core/control.c's every-shard operation, on each shard): scan
 * the schedule again from its oldest entry (after resume mta from ... for
 * ...); append the shard's show hoststats RECORDs to out. */
struct ctl_buf;
void delivery_ctl_rescan(struct shard *sh);
void delivery_ctl_hoststats(struct shard *sh, struct ctl_buf *out);

#endif
