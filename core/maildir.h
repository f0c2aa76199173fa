/*
 * core/maildir.h - local delivery into a maildir (the maildir spec: write in
 * tmp/, fsync, rename into new/ under a unique name), with every file
 * operation on the shard's ring. Runs as the daemon's user for now.
 */
#ifndef CORE_MAILDIR_H
#define CORE_MAILDIR_H

#include <stddef.h>

struct shard;
struct delivery_item;
struct rules_action;

/* Start delivering it; reports through delivery_result(). */
void maildir_deliver(struct shard *sh, struct delivery_item *it, const struct rules_action *a);
/* The message as written to the maildir: Return-Path and Delivered-To on
 * top, CRLF line ends turned into LF. Returns a malloc'd buffer or NULL. */
char *maildir_render(const char *sender, const char *rcpt, const char *body,
                     size_t body_len, size_t *out_len);

#endif
