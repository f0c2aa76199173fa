/*
 * core/local.c - choosing how a local delivery runs and as whom: the
 * method from the action, or a file or command an alias or ~/.forward
 * chose; the user (`user` option, else the user the expansion found or
 * the recipient's local part when privileged, else the daemon's own
 * user; files and commands from an alias table run as the action's user
 * or the daemon's, from a .forward as its owner), the folder, mailbox or
 * command expanded for that user (a system user, or as root the uid, gid
 * and home the action's userbase gives), a command put inside the action's
 * mda wrapper. See core/local.h.
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
#include "core/mda_deliver.h"
#include "core/shard.h"
#include "rules/rules.h"

/* See core/local.h. */
void
local_user_of(const char *dest, char delim, char *user, size_t cap)
{
	size_t n = 0;
	for (const char *p = dest; *p && *p != '@' && *p != delim && n + 1 < cap; p++)
		user[n++] = (char)tolower((unsigned char)*p);
	user[n] = '\0';
}

void
local_deliver(struct shard *sh, struct delivery_item *it, const struct rules_action *a)
{
	struct daemon *d = sh->daemon;
	const struct queue_envelope *env = &it->env;
	const char *method = a->method[0] ? a->method : "maildir";
	enum mda_method m = strcmp(method, "mbox") == 0 ? MDA_METHOD_MBOX :
	                    strcmp(method, "mda") == 0 ? MDA_METHOD_MDA : MDA_METHOD_MAILDIR;
	if (env->mda_kind == QUEUE_MDA_FILE)
		m = MDA_METHOD_MBOX;          /* /path from an alias or .forward */
	else if (env->mda_kind == QUEUE_MDA_COMMAND)
		m = MDA_METHOD_MDA;           /* |command from an alias or .forward */
	else if (strcmp(method, "forward-only") == 0 || strcmp(method, "expand-only") == 0) {
		delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (no local delivery for this action)",
		                method);
		return;
	}
	if (m == MDA_METHOD_MAILDIR && !d->privileged && a->wrapper[0] == '\0') {
		maildir_deliver(sh, it, a);
		return;
	}
	char user[MDA_USER_BYTES_MAX];
	if (!d->privileged)
		snprintf(user, sizeof user, "%s", d->user_name);
	else if (env->mda_kind != QUEUE_MDA_ACTION)   /* a .forward's owner, else as aliases run */
		snprintf(user, sizeof user, "%s", env->mda_user[0] ? env->mda_user :
		                                  a->user[0] ? a->user : d->user_name);
	else if (a->user[0])
		snprintf(user, sizeof user, "%s", a->user);
	else if (env->mda_user[0])
		snprintf(user, sizeof user, "%s", env->mda_user);
	else
		local_user_of(env->dest, sh->config->sub_addr_delim, user, sizeof user);
	struct passwd pw, *res = NULL;
	struct rules_userinfo ui;
	char buf[4096];
	/* as root, every user but the daemon's own comes from a userbase if any */
	int by_userbase = d->privileged && a->userbase != NULL && strcmp(user, d->user_name) != 0;
	int found = by_userbase ? rules_userinfo_lookup(a, user, &ui) : 0;
	if (found < 0) {
		delivery_result(sh, it, DELIVERY_TEMPFAIL, "Error (userbase entry is not uid:gid:/home)",
		                user);
		return;
	}
	if (by_userbase && found == 0) {
		delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (no such user in the userbase)", user);
		return;
	}
	if (by_userbase) {
		pw = (struct passwd){ .pw_name = user, .pw_dir = ui.home };
	} else if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) {
		delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (no such local user)", user);
		return;
	}
	char path[MDA_PATH_BYTES_MAX], wrapped[MDA_PATH_BYTES_MAX];
	struct rules_expand_ctx x = {
		.sender = env->sender, .rcpt = env->rcpt, .dest = env->dest,
		.user_name = pw.pw_name, .user_home = pw.pw_dir,
		.sub_addr_delim = sh->config->sub_addr_delim,
		.for_shell = m == MDA_METHOD_MDA,
	};
	if (env->mda_kind != QUEUE_MDA_ACTION) {
		/* written by the postmaster or the user: taken as it is */
		if (strlen(env->mda_exec) >= sizeof path) {
			delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (command too long)", user);
			return;
		}
		snprintf(path, sizeof path, "%s", env->mda_exec);
	} else {
		const char *tmpl = a->path;
		if (m == MDA_METHOD_MAILDIR && tmpl[0] == '\0')
			tmpl = "~/Maildir";
		if (m == MDA_METHOD_MBOX && tmpl[0] == '\0')
			tmpl = "/var/mail/%{user.username}";
		if (rules_expand(tmpl, &x, path, sizeof path) < 0) {
			delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (delivery path does not expand)",
			                user);
			return;
		}
	}
	int junk = env->mda_kind == QUEUE_MDA_ACTION ? a->junk : 0, mail_group = 0;
	if (a->wrapper[0] != '\0') {
		/* `mda wrapper`: the delivery runs inside it, as %{mda}: the mda
		 * command, or smtpd --deliver for a maildir or mbox */
		char deliver[MDA_PATH_BYTES_MAX];
		if (m != MDA_METHOD_MDA &&
		    mda_deliver_command(deliver, sizeof deliver, d->exe, m, junk, path) < 0) {
			delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (delivery path too long)", user);
			return;
		}
		x.mda = m == MDA_METHOD_MDA ? path : deliver;
		x.for_shell = 1;
		if (rules_expand(a->wrapper, &x, wrapped, sizeof wrapped) < 0) {
			delivery_result(sh, it, DELIVERY_PERMFAIL, "Error (mda wrapper does not expand)",
			                user);
			return;
		}
		snprintf(path, sizeof path, "%s", wrapped);
		mail_group = m == MDA_METHOD_MBOX;
		m = MDA_METHOD_MDA;
	}
	mda_client_deliver(sh, it, m, pw.pw_name, by_userbase ? &ui : NULL, path, junk,
	                   mail_group);
}
