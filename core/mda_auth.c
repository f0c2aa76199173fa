/*
 * core/mda_auth.c - system users' passwords checked by the delivery
 * helper: the daemon's side of the request, and what the helper's child
 * does with it. See core/mda_auth.h.
 */
#include "core/mda_auth.h"

#include <pthread.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* PAM's questions: the password for a hidden prompt, the user for a
 * shown one, nothing for messages. */
static int
mda_auth_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
	const char *const *cred = arg;   /* user, password */
	struct pam_response *r = calloc((size_t)n, sizeof *r);
	if (n <= 0 || n > PAM_MAX_NUM_MSG || r == NULL) {
		free(r);
		return PAM_CONV_ERR;
	}
	for (int i = 0; i < n; i++) {
		const char *answer = msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? cred[1] :
		                     msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? cred[0] : NULL;
		if (answer != NULL && (r[i].resp = strdup(answer)) == NULL) {
			for (int k = 0; k < i; k++)
				if (r[k].resp) {
					explicit_bzero(r[k].resp, strlen(r[k].resp));
					free(r[k].resp);
				}
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

enum mda_status
mda_auth_system(const char *user, const char *pass, char *why, size_t cap)
{
	const char *cred[2] = { user, pass };
	struct pam_conv conv = { mda_auth_conv, cred };
	pam_handle_t *h = NULL;
	int rc = pam_start(MDA_AUTH_PAM_SERVICE, user, &conv, &h);
	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	snprintf(why, cap, "%s", rc == PAM_SUCCESS ? "" : h != NULL ? pam_strerror(h, rc)
	                                                 : "PAM cannot start");
	if (h != NULL)
		pam_end(h, rc);
	switch (rc) {
	case PAM_SUCCESS:
		return MDA_OK;
	case PAM_AUTH_ERR: case PAM_USER_UNKNOWN: case PAM_MAXTRIES: case PAM_ACCT_EXPIRED:
	case PAM_PERM_DENIED: case PAM_NEW_AUTHTOK_REQD: case PAM_CRED_INSUFFICIENT:
		return MDA_PERMFAIL;
	default:
		return MDA_TEMPFAIL;
	}
}
