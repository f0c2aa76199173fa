/*
 * core/main_config.c - start-up steps shared by the first start and a
 * reload: loading the configuration the command line points at (or the
 * embedded default), and who and where this daemon is. See core/main.h.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/main.h"
#include "core/tls.h"
#include "rules/rules.h"

void
main_identity(char *host, size_t host_cap, char *user, size_t user_cap, char *home,
              size_t home_cap)
{
	if (gethostname(host, host_cap) < 0 || host[0] == '\0')
		snprintf(host, host_cap, "localhost");
	host[host_cap - 1] = '\0';
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res != NULL) {
		snprintf(user, user_cap, "%s", pw.pw_name);
		snprintf(home, home_cap, "%s", pw.pw_dir);
	} else {
		snprintf(user, user_cap, "%u", (unsigned)geteuid());
		snprintf(home, home_cap, "/");
	}
}

/* Who runs the embedded default configuration's deliveries: whoever
 * started smtpd, or, started as root in someone's folder (sudo in a clone),
 * that folder's owner. */
uid_t
main_default_uid(const struct main_options *o)
{
	struct stat st;
	if (geteuid() == 0 && stat(o->base_dir, &st) == 0 && st.st_uid != 0)
		return st.st_uid;
	return geteuid();
}

/* The embedded default is a demonstration that must work for whoever runs
 * it: its local deliveries run as main_default_uid(), into ./mail. */
static void
main_default_user(const struct main_options *o, struct rules_config *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(main_default_uid(o), &pw, buf, sizeof buf, &res) != 0 || res == NULL)
		return;
	for (unsigned i = 0; i < c->nactions; i++)
		if (c->actions[i].kind == RULES_ACTION_MAILDIR && c->actions[i].user[0] == '\0')
			snprintf(c->actions[i].user, sizeof c->actions[i].user, "%s", pw.pw_name);
}

/* Load the configuration the options point at; NULL with e filled. */
struct rules_config *
main_load(const struct main_options *o, struct rules_error *e)
{
	struct rules_load_params p = {
		.hostname = o->hostname,
		.defines = o->defines,
		.ndefines = o->ndefines,
		.base_dir = o->base_dir,
		.tls_check = tls_params_check,
	};
	struct rules_config *c;
	memset(e, 0, sizeof *e);
	if (o->file != NULL)
		c = rules_load_file(o->file, &p, e);
	else
		c = rules_load_string("(default configuration)", rules_default_config, &p, e);
	if (c != NULL && o->file == NULL)
		main_default_user(o, c);
	return c;
}

struct rules_config *
main_load_config(const struct main_options *o, char *err, size_t cap)
{
	struct rules_error e;
	struct rules_config *c = main_load(o, &e);
	if (c == NULL)
		rules_error_format(&e, err, cap);
	return c;
}
