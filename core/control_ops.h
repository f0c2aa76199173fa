/*
 * core/control_ops.h - the control requests of smtpctl that answer from
 * the main thread without the shards: discover, trace, untrace, profile,
 * unprofile, pause|resume mta from ... for ... (the set; core/control.c
 * then passes every shard a turn before the old set is freed), show mta
 * paused, and the merge of every shard's show hoststats records. Each
 * appends its reply frames to out (ctl/ctl_proto.h).
 *
 * Called by core/control.c for an authorised client (these are all
 * privileged requests), main thread only.
 */
#ifndef CORE_CONTROL_OPS_H
#define CORE_CONTROL_OPS_H

#include <stdint.h>
#include <sys/types.h>

#include "ctl/ctl_proto.h"

struct daemon;
struct mta_block_set;

/* discover ID: OK id=scheduled again, or FAIL 404. */
void control_ops_discover(struct daemon *d, const struct ctl_msg *m, uid_t uid,
                          struct ctl_buf *out);
/* trace|untrace: OK id=the trace mask now. */
void control_ops_trace(const struct ctl_msg *m, uid_t uid, struct ctl_buf *out);
/* profile|unprofile: OK; unprofile queue logs what was measured. *imsg
 * is the control thread's own profile imsg flag. */
void control_ops_profile(const struct ctl_msg *m, uid_t uid, int *imsg, struct ctl_buf *out);
/* show stats' profile.queue.* pairs while profile queue is on (or
 * measured): fills keys and vals (cap pairs of 48 bytes); returns the
 * count. */
unsigned control_ops_profile_stats(char (*keys)[48], char (*vals)[48], unsigned cap);
/* pause|resume mta from ADDR for DOMAIN: publish the new set. Returns 1
 * with *old the set to free once every shard passed a turn (the reply is
 * then control.c's), or 0 with a FAIL in out. */
int control_ops_mta_block(const struct ctl_msg *m, uid_t uid, struct mta_block_set **old,
                          struct ctl_buf *out);
/* show mta paused: RECORD (source, domain) per pause, then END. */
void control_ops_show_mta_block(struct ctl_buf *out);
/* show hoststats: every shard's RECORDs (in[0..n)) merged, one per domain
 * with its latest outcome, sorted by domain, then END. */
void control_ops_hoststats(const struct ctl_buf *in, unsigned n, struct ctl_buf *out);

#endif
