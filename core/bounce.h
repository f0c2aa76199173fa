/*
 * core/bounce.h - queueing delivery status notifications: bounces, delay
 * warnings and success reports. For recipients of one message with one
 * sender (never <>) and one kind of report (enum delivery_report), that
 * failed for good, are delayed past a `bounce warn-interval`, or were
 * delivered with NOTIFY=SUCCESS, bounce_send() reads the message (its
 * header, or all of it for a failure with RET=FULL up to
 * QUEUE_BOUNCE_FULL_BYTES_MAX), builds an RFC 3464 report
 * (queue/bounce_format.c) from MAILER-DAEMON to the sender, routes it like
 * any mail (rules_match() with mail from <>, rcpt = the sender, local = 1)
 * and commits it as a new message whose sender is <>, so a report that
 * fails is never bounced (delivery.c logs and drops it). Once the syncer
 * made it durable it is handed to delivery and delivery_bounced() lets the
 * items go (failed and delivered envelopes are removed); a report that
 * cannot be queued is tried again later; one that no rule accepts is
 * logged and dropped (the envelopes go).
 */
#ifndef CORE_BOUNCE_H
#define CORE_BOUNCE_H

struct shard;
struct delivery_item;

/* Report items[0..n) (one message, one sender, one kind); always ends in
 * exactly one delivery_bounced() for them, on this shard. */
void bounce_send(struct shard *sh, struct delivery_item **items, unsigned n);

#endif
