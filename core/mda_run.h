/*
 * core/mda_run.h - the local delivery methods as they run in the delivery
 * helper's child, already as the recipient's user: maildir, mbox and mda.
 * Each reads the message from a file descriptor (the rendered message: LF
 * line ends, Return-Path and Delivered-To on top) and returns
 *   MDA_OK, MDA_TEMPFAIL or MDA_PERMFAIL, with a one-line reason in why.
 * They never run a shell except mda_run_command(), whose command line comes
 * from smtpd.conf only: addresses reach it through the environment.
 */
#ifndef CORE_MDA_RUN_H
#define CORE_MDA_RUN_H

#include <stddef.h>

#define MDA_WHY_BYTES_MAX 256
#define MDA_LOCK_WAIT_S 30        /* mbox: how long to wait for a lock */

enum mda_status {
	MDA_OK = 0,
	MDA_TEMPFAIL = 1,
	MDA_PERMFAIL = 2,
};

struct mda_env {
	const char *sender;    /* reverse path, "" for <> */
	const char *rcpt;      /* the recipient as given */
	const char *dest;      /* after expansion */
	const char *user;      /* the local user delivered as */
	const char *home;      /* that user's home */
	const char *shell;     /* that user's shell */
	const char *hostname;  /* for maildir names */
	char sub_addr_delim;   /* EXTENSION is what follows it; 0 is '+' */
	int result_fd;         /* the socket the result goes back on, -1 none: when
	                        * smtpd is gone nobody can record a delivery, so
	                        * none is made visible (the next smtpd delivers) */
};

/* Maildir: tmp/ -> fsync -> new/ (and fsync of new/); folders made. With
 * junk, a message with "X-Spam: yes" in its header goes to dir/.Junk. */
enum mda_status mda_run_maildir(int msg_fd, const char *dir, int junk,
                                const struct mda_env *env, char *why, size_t cap);
/* Is "X-Spam: yes" among the header lines of msg (LF line ends)? */
int mda_header_is_junk(const char *msg, size_t len);
/* mbox: append to path under a dot-lock and an fcntl lock, with the From_
 * line and >From quoting; a partial write is cut back off. */
enum mda_status mda_run_mbox(int msg_fd, const char *path, const struct mda_env *env,
                             char *why, size_t cap);
/* mda: /bin/sh -c command with the message on stdin and OpenSMTPD's
 * environment; exit 0 is delivered, 71 (EX_OSERR) and 75 (EX_TEMPFAIL) are
 * temporary, anything else permanent with the command's first output line. */
enum mda_status mda_run_command(int msg_fd, const char *command, const struct mda_env *env,
                                char *why, size_t cap);

#endif
