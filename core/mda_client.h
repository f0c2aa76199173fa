/*
 * core/mda_client.h - a shard's side of the delivery helper: local
 * deliveries (maildir as root, mbox, mda) are rendered into a memfd and sent
 * to the helper (core/mda_helper.c) with sendmsg on the shard's ring; the
 * answers come back on a receive kept armed while requests are out, and go
 * to delivery_result().
 */
#ifndef CORE_MDA_CLIENT_H
#define CORE_MDA_CLIENT_H

#include "core/mda_helper.h"

struct shard;
struct delivery_item;
struct rules_userinfo;

/* Give the shard its end of the helper socket (before the loop runs). */
int mda_client_init(struct shard *sh, int fd);
/* Deliver it as user with method; path is the folder, mailbox or command;
 * ui: the user's uid, gid and home from a userbase, NULL a system user;
 * mail_group: run with the mail group too (an mbox delivery). */
void mda_client_deliver(struct shard *sh, struct delivery_item *it, enum mda_method method,
                        const char *user, const struct rules_userinfo *ui, const char *path,
                        int junk, int mail_group);
/* Requests waiting for an answer. */
unsigned mda_client_pending(struct shard *sh);
void mda_client_free(struct shard *sh);

#endif
