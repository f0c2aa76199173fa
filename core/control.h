/*
 * core/control.h - the daemon side of the control socket
 * (<queue path>/smtpd.sock, mode 0666; frames from ctl/ctl_proto.h),
 * served by the main thread's poll loop, and the offline folder
 * (<queue path>/offline) that the sendmail personas write to when smtpd is
 * not running.
 *
 * Each connection is authorised once, by SO_PEERCRED: root or the daemon's
 * own uid may do everything; any other user may enqueue mail and see (show
 * queue, show envelope) only the messages it submitted. A malformed frame
 * is logged and drops that client; nothing a client sends can stop the
 * daemon. Mail enqueued here goes through the queue exactly like SMTP mail:
 * rules_match() with local=1 for each recipient (a bounce's SRS recipient
 * decoded first, core/srs.h, as a session does), the body streamed into
 * queue_body_append(), queue_commit(), and the reply only after the syncer
 * made it durable; then delivery_submit(), on a shard, routes the
 * envelopes to their owners.
 *
 * schedule and remove work on the queue (queue_walk(), queue_envelope_update()
 * with the next attempt at now + 1, queue_envelope_delete()): the shards
 * scan the schedule index and see the change at their next tick. Commands
 * that need the shards themselves (stats, pause/resume) post one message to
 * every shard (shard_post()) and answer when every shard acknowledged; one
 * such operation runs at a time, later requests wait in their client's
 * buffer.
 *
 * Use from core/daemon.c (main thread only):
 *   control_offline_open()  before privileges are dropped
 *   control_open()          after the shards started
 *   control_offline_pickup() after queue recovery, before "ready"
 *   control_pollfds() / control_serve()   in every turn of the poll loop
 *   control_close()         before the shards stop
 */
#ifndef CORE_CONTROL_H
#define CORE_CONTROL_H

#include <stdint.h>
#include <time.h>

struct control;
struct control_offline;
struct daemon;
struct main_options;
struct pollfd;
struct queue_envelope;
struct rules_config;
struct shard;

#define CONTROL_CLIENTS_MAX 64
#define CONTROL_POLLFDS_MAX (CONTROL_CLIENTS_MAX + 2)
#define CONTROL_SOCKET_NAME "smtpd.sock"
#define CONTROL_OFFLINE_DIR "offline"

/* Bind the socket, create the offline folder. Returns 0, or -1 with a
 * message logged (the daemon then refuses to start). */
int control_open(struct control **ctl, struct daemon *d, const struct main_options *o,
                 const struct rules_config *c);
/* Before privileges are dropped: open the files waiting in the offline
 * folder (a symlink, a file with other links or not a plain file is
 * removed unread). The open fds keep the right to read them and the owner
 * uid says who submitted each. Returns the set (possibly empty). */
struct control_offline *control_offline_open(const char *queue_path);
/* After queue recovery: enqueue every file control_offline_open() opened,
 * each removed once durable in the queue; frees off. Blocks until done. */
void control_offline_pickup(struct control *ctl, struct control_offline *off,
                            const struct rules_config *cur);
/* Fill p with the fds to poll; returns how many (<= cap). */
unsigned control_pollfds(struct control *ctl, struct pollfd *p, unsigned cap);
/* After poll(): serve what p (as filled by control_pollfds) reports. cur is
 * the configuration in force (recipients are matched against it). */
void control_serve(struct control *ctl, const struct pollfd *p, unsigned n,
                   const struct rules_config *cur);
/* Close every client (waiting for commits in flight), the socket; free. */
void control_close(struct control *ctl);


/* The hook the scheduler (core/delivery.c) provides, run on each shard:
 * agent CTL_AGENT_MDA or CTL_AGENT_MTA; paused 1 keeps that agent's due
 * envelopes waiting on disk (the scan skips them), 0 lets them go. Returns
 * 0. Until core/delivery.c defines it, a weak fallback in core/control.c
 * returns -ENOSYS and `pause mda|mta` is refused as not available yet. */
int delivery_ctl_pause(struct shard *sh, unsigned agent, int paused);

#endif
