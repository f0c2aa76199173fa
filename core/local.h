/*
 * core/local.h - local delivery: which method (maildir, mbox, mda), as which
 * user, to which folder, mailbox or command. Started as an ordinary user,
 * maildir deliveries run on the shard's ring (core/maildir.c) as that user;
 * started as root, and for mbox and mda always, they go to the delivery
 * helper (core/mda_client.c), which runs them as the recipient.
 */
#ifndef CORE_LOCAL_H
#define CORE_LOCAL_H

#include <stddef.h>

struct shard;
struct delivery_item;
struct rules_action;
struct daemon;

/* The local user for dest: its local part, lower-cased, without the tag
 * after delim (smtp sub-addr-delim). */
void local_user_of(const char *dest, char delim, char *user, size_t cap);
void local_deliver(struct shard *sh, struct delivery_item *it, const struct rules_action *a);

#endif
