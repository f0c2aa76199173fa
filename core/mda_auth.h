/*
 * core/mda_auth.h - system users' passwords for SMTP AUTH (a listener's
 * plain `auth`), checked by the delivery helper, which keeps root: the
 * auth threads (core/auth.c) send the user and password over a socket of
 * their own (MDA_METHOD_AUTH, the password in the request's path field);
 * the helper forks a child that asks PAM (service "smtpd": /etc/pam.d/smtpd,
 * else the system's "other" stack, pam_unix reading the shadow file as
 * root) to authenticate the user and check the account, so neither the
 * hash nor the slow hashing is in the unprivileged daemon or the helper's
 * loop. One request at a time on the socket (a mutex),
 * each waited for at most MDA_AUTH_WAIT_MS.
 */
#ifndef CORE_MDA_AUTH_H
#define CORE_MDA_AUTH_H

#include <stddef.h>

#include "core/auth.h"
#include "core/mda_run.h"

#define MDA_AUTH_WAIT_MS 5000
#define MDA_AUTH_PAM_SERVICE "smtpd"

/* Take the smtpd end of the helper's auth socket (before threads). */
void mda_auth_init(int fd);
/* Close it at shutdown. */
void mda_auth_close(void);
/* Ask the helper whether pass is user's system password. */
enum auth_result mda_auth_check(const char *user, const char *pass);
/* In the helper's child, as root: MDA_OK when PAM authenticates user with
 * pass and the account may be used, MDA_PERMFAIL when not (no such user,
 * a wrong or empty password, an expired or locked account), MDA_TEMPFAIL
 * when PAM cannot answer (why says so). */
enum mda_status mda_auth_system(const char *user, const char *pass, char *why, size_t cap);

#endif
