/*
 * core/local.c - choosing how a local delivery runs and as whom: the
 * method from the action, the user (`user` option, else the recipient's
 * local part when privileged, else the daemon's own user), the folder,
 * mailbox or command expanded for that user. See core/local.h.
 */
#include "core/local.h"

#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/maildir.h"
#include "core/mda_client.h"
#include "core/shard.h"
#include "rules/rules.h"

/* See core/local.h. */
void
local_user_of(const char *dest, char *user, size_t cap)
{
	size_t n = 0;
	for (const char *p = dest; *p && *p != '@' && *p != '+' && n + 1 < cap; p++)
		user[n++] = (char)tolower((unsigned char)*p);
	user[n] = '\0';
}

int
local_recipient_known(const struct daemon *d, const struct rules_action *a, const char *rcpt)
{
	if (a->kind != RULES_ACTION_MAILDIR || !d->privileged || a->user[0])
		return 1;   /* not a local user's, or as the daemon's or a configured user */
	char user[MDA_USER_BYTES_MAX];
	local_user_of(rcpt, user, sizeof user);
	struct passwd pw, *res = NULL;
	char buf[4096];
	return getpwnam_r(user, &pw, buf, sizeof buf, &res) == 0 && res != NULL;
}

void
local_deliver(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	struct daemon *d = sh->daemon;
	const char *method = a->method[0] ? a->method : "maildir";
	enum mda_method m = strcmp(method, "mbox") == 0 ? MDA_METHOD_MBOX :
	                    strcmp(method, "mda") == 0 ? MDA_METHOD_MDA : MDA_METHOD_MAILDIR;
	if (m == MDA_METHOD_MAILDIR && !d->privileged) {
		maildir_deliver(sh, it, a);
		return;
	}
	char user[MDA_USER_BYTES_MAX];
	if (!d->privileged)
		snprintf(user, sizeof user, "%s", d->user_name);
	else if (a->user[0])
		snprintf(user, sizeof user, "%s", a->user);
	else
		local_user_of(it->env.dest, user, sizeof user);
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
		delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (no such local user)", user);
		return;
	}
	struct rules_expand_ctx x = {
		.rcpt = it->env.rcpt, .dest = it->env.dest,
		.user_name = pw.pw_name, .user_home = pw.pw_dir,
		.for_shell = m == MDA_METHOD_MDA,
	};
	char path[MDA_PATH_BYTES_MAX];
	const char *tmpl = a->path;
	if (m == MDA_METHOD_MAILDIR && tmpl[0] == '\0')
		tmpl = "~/Maildir";
	if (m == MDA_METHOD_MBOX && tmpl[0] == '\0')
		tmpl = "/var/mail/%{user.username}";
	if (rules_expand(tmpl, &x, path, sizeof path) < 0) {
		delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (delivery path does not expand)", user);
		return;
	}
	mda_client_deliver(sh, it, m, pw.pw_name, path, a->junk);
}
