/*
 * core/bounce.h - queueing bounces. For the recipients of one message that
 * failed for good (same sender, never <>), bounce_send() reads the failed
 * message's header, builds an RFC 3464 report (queue/bounce_format.c) from
 * MAILER-DAEMON to the sender, routes it like any mail (rules_match() with
 * mail from <>, rcpt = the sender, local = 1) and commits it as a new
 * message whose sender is <>, so a bounce that fails is never bounced
 * (delivery.c logs and drops it). Once the syncer made the bounce durable
 * it is handed to delivery and delivery_bounced() removes the failed
 * envelopes; a bounce that cannot be queued leaves them for a later try;
 * one that no rule accepts is logged and dropped (the envelopes go).
 */
#ifndef CORE_BOUNCE_H
#define CORE_BOUNCE_H

struct shard;
struct delivery_item;

/* Bounce items[0..n) (one message, one sender); always ends in exactly one
 * delivery_bounced() for them, on this shard. */
void bounce_send(struct shard *sh, struct delivery_item **items, unsigned n);

#endif
