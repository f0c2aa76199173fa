/*
 * core/main.h - what smtpd was asked to do (its command line) and the
 * start-up steps shared by the first load and a reload: finding and loading
 * the configuration, the queue's options from it, and who and where this
 * daemon is.
 */
#ifndef CORE_MAIN_H
#define CORE_MAIN_H

#include <stddef.h>
#include <sys/types.h>

#include "rules/rules.h"

#define MAIN_DEFINES_MAX 64
#define MAIN_CONFIG_DEFAULT_PATH "/etc/ringmta/smtpd.conf"

struct main_options {
	int foreground;        /* -d */
	int check_only;        /* -n */
	int verbose;           /* -v */
	const char *transaction; /* -T: the rule tester's transaction */
	const char *file;      /* -f, else $SMTPD_CONF, else the default path */
	const char *log_target; /* -l syslog|stdout|stderr|FILE, else NULL */
	struct rules_define defines[MAIN_DEFINES_MAX];   /* -D name=value */
	unsigned ndefines;
	char base_dir[RULES_PATH_BYTES_MAX];   /* the folder smtpd started in */
	char hostname[RULES_HOST_BYTES_MAX];
};

/* Load the configuration the options point at (or the embedded default).
 * Returns it, or NULL with "file:line:column: message" in err. */
struct rules_config *main_load_config(const struct main_options *o, char *err, size_t cap);
/* The same, with the error as a struct (for the long form of smtpd -n). */
struct rules_config *main_load(const struct main_options *o, struct rules_error *e);
/* Who runs the embedded default configuration (see main_config.c). */
uid_t main_default_uid(const struct main_options *o);
/* This machine's name and the user the daemon runs as. */
void main_identity(char *host, size_t host_cap, char *user, size_t user_cap,
                   char *home, size_t home_cap);
struct queue_options;
/* core/queue_config.c: when c wants the queue key from standard input,
 * read one line (a prompt, without echo, on a terminal) into c->queue_key.
 * Returns 0, or -1 with why in err (never the key). */
int main_queue_key_read(struct rules_config *c, char *err, size_t cap);
/* The queue options c asks for (path, compression, encryption, ttl). */
void main_queue_options(const struct rules_config *c, struct queue_options *qo);
/* 1 when next changes what an open queue keeps until restart: its path,
 * compression or encryption. */
int main_queue_fixed_changed(const struct rules_config *cur, const struct rules_config *next);
/* Run the daemon with the loaded configuration (core/daemon.c). */
int daemon_run(const struct main_options *o, struct rules_config *c);

#endif
