/*
 * core/mda_auth.c - system users' passwords checked by the delivery
 * helper: the daemon's side of the request, and what the helper's child
 * does with it. See core/mda_auth.h.
 */
#include "core/mda_auth.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/auth_hash.h"
#include "core/log.h"
#include "core/mda_forward.h"
#include "core/mda_helper.h"

static pthread_mutex_t mda_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static int mda_auth_fd = -1;
static uint64_t mda_auth_next_id = 1;

void
mda_auth_init(int fd)
{
	mda_auth_fd = fd;
}

void
mda_auth_close(void)
{
	pthread_mutex_lock(&mda_auth_lock);
	if (mda_auth_fd >= 0)
		close(mda_auth_fd);
	mda_auth_fd = -1;
	pthread_mutex_unlock(&mda_auth_lock);
}

enum auth_result
mda_auth_check(const char *user, const char *pass)
{
	struct mda_request r;
	struct mda_reply rep;
	enum auth_result res = AUTH_TEMPFAIL;
	int fd;

	memset(&r, 0, sizeof r);
	r.version = MDA_PROTO_VERSION;
	r.method = MDA_METHOD_AUTH;
	if (strlen(user) >= sizeof r.user)
		return AUTH_FAIL;      /* longer than any system user name */
	snprintf(r.user, sizeof r.user, "%s", user);
	snprintf(r.path, sizeof r.path, "%s", pass);
	pthread_mutex_lock(&mda_auth_lock);
	r.id = mda_auth_next_id++;
	if (mda_ask(mda_auth_fd, &r, &rep, &fd, MDA_AUTH_WAIT_MS) == 0) {
		if (fd >= 0)
			close(fd);
		res = rep.status == MDA_OK ? AUTH_OK : rep.status == MDA_PERMFAIL ? AUTH_FAIL
		                                                                  : AUTH_TEMPFAIL;
	}
	pthread_mutex_unlock(&mda_auth_lock);
	explicit_bzero(&r, sizeof r);
	if (res == AUTH_TEMPFAIL)
		log_warn("smtp authentication: system user check: %s", rep.why);
	return res;
}

enum mda_status
mda_auth_system(const char *user, const char *pass, char *why, size_t cap)
{
	struct passwd pw, *pres = NULL;
	struct spwd sp, *sres = NULL;
	char pbuf[4096], sbuf[4096];
	const char *hash = NULL;

	if (getpwnam_r(user, &pw, pbuf, sizeof pbuf, &pres) == 0 && pres != NULL) {
		hash = pw.pw_passwd;
		if (strcmp(hash, "x") == 0) {   /* the hash is in /etc/shadow */
			int e = getspnam_r(user, &sp, sbuf, sizeof sbuf, &sres);
			if (e == 0 && sres != NULL) {
				hash = sp.sp_pwdp;
			} else if (e == EACCES || e == EPERM || (e == 0 && errno == EACCES)) {
				snprintf(why, cap, "cannot read the shadow file: %s", strerror(EACCES));
				return MDA_TEMPFAIL;
			} else {
				hash = NULL;   /* no shadow entry: no password */
			}
		}
	}
	int ok = auth_hash_check(pass, hash);
	explicit_bzero(sbuf, sizeof sbuf);
	snprintf(why, cap, "%s", ok ? "" : "authentication failed");
	return ok ? MDA_OK : MDA_PERMFAIL;
}
