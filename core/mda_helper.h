/*
 * core/mda_helper.h - the local-delivery helper: a small process forked by
 * smtpd at start, before any thread and before privileges are dropped, that
 * keeps root (when smtpd was started as root) for one job: run each local
 * delivery in a child as the recipient's user. Shards never exec and never
 * change users.
 *
 * Each shard has its own SOCK_SEQPACKET socket to the helper. A request is
 * one struct mda_request with the message as a file descriptor (SCM_RIGHTS,
 * a memfd); the answer is one struct mda_reply with the same id. A
 * MDA_METHOD_FORWARD request carries no message: the helper opens the
 * user's ~/.forward itself, checks it as OpenSMTPD does and answers with
 * the open file. A MDA_METHOD_AUTH request carries a system user and a
 * password (in path): a child of the helper checks it against the
 * user's shadow entry and answers yes or no. A MDA_METHOD_FILTER request
 * starts a filter process (smtpd-filters(7); core/filter_spawn.c): the
 * command in path run by /bin/sh -c as user and group (when the helper
 * is root), in chroot when given, its standard input and output one end
 * of a socket pair whose other end is the answer's descriptor. All are
 * versioned and checked on receipt: a malformed request is answered
 * MDA_PERMFAIL, never acted on. The helper runs at most MDA_CHILDREN_MAX
 * deliveries at once; more wait in the socket.
 */
#ifndef CORE_MDA_HELPER_H
#define CORE_MDA_HELPER_H

#include <stdint.h>
#include <sys/types.h>

#define MDA_PROTO_VERSION 4
#define MDA_CHILDREN_MAX 64
#define MDA_SOCKETS_MAX 67            /* 64 shards, ~/.forward, auth and filters */
#define MDA_USER_BYTES_MAX 64
#define MDA_PATH_BYTES_MAX 1024
#define MDA_ADDR_BYTES_MAX 257             /* a path of 256 octets, plus NUL */

enum mda_method {
	MDA_METHOD_MAILDIR = 1,
	MDA_METHOD_MBOX = 2,
	MDA_METHOD_MDA = 3,
	MDA_METHOD_FORWARD = 4,            /* open user's ~/.forward (no message):
	                                    * the answer is MDA_OK with its fd, MDA_OK
	                                    * without one (none), MDA_PERMFAIL (unsafe:
	                                    * ignored, why says why) or MDA_TEMPFAIL */
	MDA_METHOD_AUTH = 5,               /* is path user's system password? (no
	                                    * message; core/mda_auth.c): MDA_OK yes,
	                                    * MDA_PERMFAIL no, MDA_TEMPFAIL unknown */
	MDA_METHOD_FILTER = 6,             /* start the filter process path as user,
	                                    * group, in chroot: MDA_OK with the
	                                    * daemon's end of its stdin/stdout and
	                                    * its pid in why, or MDA_TEMPFAIL */
};

struct mda_request {
	uint32_t version;
	uint32_t method;                   /* enum mda_method */
	uint64_t id;                       /* echoed in the reply */
	uint32_t junk;                     /* maildir: file X-Spam: yes in .Junk */
	uint32_t mail_group;               /* add the mail group (mbox dot-locks
	                                    * in /var/mail): mbox, or an mbox
	                                    * delivery run by an mda wrapper */
	char user[MDA_USER_BYTES_MAX];     /* deliver as this user */
	uint32_t by_ids;                   /* 1: a userbase user, uid, gid and home
	                                    * below (never 0); 0: getpwnam(user) */
	uint32_t uid, gid;
	char home[MDA_PATH_BYTES_MAX];
	char path[MDA_PATH_BYTES_MAX];     /* maildir folder, mbox file, or mda command */
	char sender[MDA_ADDR_BYTES_MAX];
	char rcpt[MDA_ADDR_BYTES_MAX];
	char dest[MDA_ADDR_BYTES_MAX];
	char hostname[256];
	char sub_addr_delim;               /* smtp sub-addr-delim (EXTENSION) */
	char group[MDA_USER_BYTES_MAX];    /* filter: "" the user's group */
	char chroot[MDA_PATH_BYTES_MAX];   /* filter: "" none */
};

struct mda_reply {
	uint32_t version;
	uint32_t status;                   /* enum mda_status (core/mda_run.h) */
	uint64_t id;
	char why[256];
};

/* Fork the helper with nsockets sockets; fds[i] gets the smtpd end of
 * socket i (close-on-exec): one per shard, and one for ~/.forward requests
 * (core/mda_forward.c). Returns the helper's pid, or -1 with err. */
pid_t mda_helper_start(unsigned nsockets, int *fds, char *err, size_t cap);
/* Check a request as the helper does (exposed for tests). 0 or -1. */
int mda_request_valid(const struct mda_request *r);

#endif
