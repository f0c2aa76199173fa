/*
 * core/mda_forward.h - ~/.forward files the daemon's user may not open
 * itself (a home closed to others, Debian's default 0700): the delivery
 * helper opens and checks the file as root (MDA_METHOD_FORWARD) and hands
 * back the open descriptor. One socket shared by every thread under a
 * mutex; each request waits at most MDA_FORWARD_WAIT_MS for its answer
 * (the helper answers from its own loop without forking: an open and an
 * fstat).
 */
#ifndef CORE_MDA_FORWARD_H
#define CORE_MDA_FORWARD_H

#include <stddef.h>
#include <sys/stat.h>

#define MDA_FORWARD_WAIT_MS 2000

struct rules_userinfo;

/* Why a ~/.forward may not be used for uid, as OpenSMTPD decides: the file
 * (when not NULL) a regular one owned by uid and not group or world
 * writable, its home (when not NULL) owned by uid or root and not group or
 * world writable. NULL when it may. Pure: the helper and the expanding
 * threads check alike. */
const char *mda_forward_unsafe(const struct stat *file, const struct stat *home, uid_t uid);
/* Take the smtpd end of the helper's ~/.forward socket (before threads). */
void mda_forward_init(int fd);
/* Close it at shutdown (the helper leaves once every socket is closed). */
void mda_forward_close(void);
/* Ask the helper for user's ~/.forward (ui: a userbase user's uid and home,
 * NULL a system user). Returns 1 with *fd open, 0 when there is none, 2
 * when the helper refused it as unsafe (why says why: ignored, as
 * OpenSMTPD ignores it), or -1 on failure (why filled: a temporary one). */
int mda_forward_open(const char *user, const struct rules_userinfo *ui, int *fd, char *why,
                     size_t cap);
/* One request r on the helper socket sock (the caller keeps others off
 * it meanwhile) and its answer, matched by id (late answers to earlier
 * requests are read and dropped), waited for at most wait_ms. 0 with rep
 * (and *fd, -1 when none came), or -1 with rep->why filled. Used for
 * ~/.forward files and for system users' passwords (core/mda_auth.c). */
struct mda_request;
struct mda_reply;
int mda_ask(int sock, const struct mda_request *r, struct mda_reply *rep, int *fd, long wait_ms);

#endif
