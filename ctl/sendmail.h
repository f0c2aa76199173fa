/*
 * ctl/sendmail.h - the sendmail / send-mail personas: the command line that
 * cron, mutt, git send-email, PHP and Symfony pass, and the message
 * preparation (recipients from headers with -t, Bcc removed, From:, Date:
 * and Message-ID: added when missing, lines ending in CRLF). Pure: strings
 * in, strings out; ctl/sendmail_run.c does the I/O.
 *
 * sendmail_parse_args() fills struct sendmail_opts (pointers into argv);
 * sendmail_build() returns the message to queue and its recipients in
 * malloc'd memory, freed with sendmail_msg_free().
 */
#ifndef CTL_SENDMAIL_H
#define CTL_SENDMAIL_H

#include <stddef.h>

#define SENDMAIL_RCPTS_MAX 1000           /* like an SMTP session's limit */
#define SENDMAIL_ADDR_BYTES_MAX 256       /* RFC 5321 4.5.3.1.3 path, plus NUL */

enum sendmail_mode {
	SENDMAIL_MODE_DELIVER,   /* -bm (default): read a message, queue it */
	SENDMAIL_MODE_SMTP,      /* -bs: SMTP on stdin/stdout */
	SENDMAIL_MODE_MAILQ,     /* -bp */
	SENDMAIL_MODE_ALIASES,   /* -bi: newaliases */
	SENDMAIL_MODE_RUNQ,      /* -q: run the queue now */
};

struct sendmail_opts {
	enum sendmail_mode mode;
	int extract;             /* -t */
	int dot_ok;              /* -i, -oi: a lone "." does not end the message */
	int verbose;             /* -v */
	const char *sender;      /* -f / -r, NULL when not given; "" for <> */
	const char *full_name;   /* -F */
	const char *dsn_notify;  /* -N never | success,failure,delay (checked) */
	const char *dsn_ret;     /* -R full | hdrs */
	const char *dsn_envid;   /* -V envelope id */
	char **rcpts;            /* the arguments that are addresses */
	unsigned nrcpts;
};

/* Parse the command line (argv[0] is the program). rcpts must have room
 * for argc pointers. Returns 0, or -1 with a message in err. */
int sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o, char **rcpts,
                        char *err, size_t cap);

struct sendmail_build {
	int dot_ends;            /* no -i: a line with a lone "." ends the input */
	int extract;             /* -t: recipients from To:, Cc:, Bcc: */
	const char *from_addr;   /* for an added From: */
	const char *full_name;   /* for an added From:, may be NULL */
	const char *date;        /* for an added Date: (RFC 5322 3.3) */
	const char *message_id;  /* for an added Message-ID:, with <> */
};

struct sendmail_msg {
	char *data;              /* the message, CRLF line ends, no dot-stuffing */
	size_t len;
	char **rcpts;            /* recipients found with -t (each malloc'd) */
	unsigned nrcpts;
};

/* Prepare the message read from in. Returns 0, -1 when out of memory, or
 * -2 when more than SENDMAIL_RCPTS_MAX recipients are found. */
int sendmail_build(const char *in, size_t len, const struct sendmail_build *b,
                   struct sendmail_msg *out);
void sendmail_msg_free(struct sendmail_msg *m);
/* Add the addresses of an RFC 5322 3.4 address list (a header value, may
 * be folded) to *list. Returns 0, -1 out of memory, -2 too many. */
int sendmail_addr_list(const char *v, size_t len, char ***list, unsigned *n);

/* ctl/sendmail_run.c: the sendmail persona itself (argv[0] is the program).
 * Returns the exit status (sysexits.h). */
int sendmail_main(int argc, char **argv);

#endif
