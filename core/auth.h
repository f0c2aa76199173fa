/*
 * core/auth.h - SMTP AUTH credential checks off the shards' rings. A
 * session hands a struct auth_req (embedded in it) to auth_submit(); one of
 * AUTH_THREADS threads checks it and posts it back to the session's shard,
 * whose mailbox runs req->msg.handle there with req->result set. A slow
 * hash (bcrypt, yescrypt: tens of milliseconds by design) never stalls a
 * ring, and at most AUTH_THREADS hashes run at once whatever the number of
 * clients.
 *
 * Credentials: with `auth <table>` the table's crypt(3) hash for the user
 * (rules_auth_hash()), checked here; with plain `auth`, the system's users:
 * the request goes to the delivery helper, which keeps root, and a child of
 * it reads the shadow entry and checks the password (core/mda_auth.c); the
 * hash never reaches the unprivileged daemon. The request's password is
 * wiped before it is posted back.
 */
#ifndef CORE_AUTH_H
#define CORE_AUTH_H

#include "core/shard.h"
#include "proto/sasl.h"

#define AUTH_THREADS 2
#define AUTH_QUEUE_MAX 1024           /* requests waiting; more answer TEMPFAIL */
#define AUTH_FAILURE_DELAY_MS 1000    /* before a 535 (a timer on the ring) */
#define AUTH_FAILURES_MAX 5           /* failures from one address (smtp limit
                                       * max-auth-failures replaces it) ... */
#define AUTH_FAILURE_WINDOW_MS (300u * 1000u)  /* ... in this window: 421 */

struct rules_listener;

enum auth_result {
	AUTH_OK,
	AUTH_FAIL,        /* wrong user or password: 535 */
	AUTH_TEMPFAIL,    /* could not check: 454 */
};

struct auth_req {
	struct shard_msg msg;                 /* set handle; runs on shard */
	struct shard *shard;
	const struct rules_listener *listener; /* its config held by the caller */
	struct auth_req *next;                /* the threads' queue */
	char user[PROTO_SASL_USER_BYTES_MAX + 1];
	char pass[PROTO_SASL_PASS_BYTES_MAX + 1];
	enum auth_result result;
};

/* Start the threads (after the privilege drop). 0, or -1 with errno. */
int auth_start(void);
/* Stop and join them (after the shards ended: no request is waiting). */
void auth_stop(void);
/* Queue r; never blocks. r comes back through its shard's mailbox. */
void auth_submit(struct auth_req *r);

#endif
