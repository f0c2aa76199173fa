/*
 * ctl/ctl_client.h - the client end of the control socket, shared by
 * smtpctl, mailq and the sendmail personas: finding the configuration (and
 * so the queue path and the socket) the way smtpd does, connecting,
 * sending frames and reading replies. Blocking I/O; one request at a time.
 *
 * Configuration: -f FILE when the persona has it (smtpctl), else
 * $SMTPD_CONF, else /etc/ringmta/smtpd.conf when it exists, else the
 * embedded default (relative paths from the current folder), exactly as
 * smtpd picks it.
 */
#ifndef CTL_CTL_CLIENT_H
#define CTL_CTL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl_proto.h"

struct rules_config;

#define CTL_CONFIG_DEFAULT_PATH "/etc/ringmta/smtpd.conf"   /* as core/main.h */

/* sysexits.h values the personas return (scripts test them) */
#define CTL_EX_OK 0
#define CTL_EX_USAGE 64
#define CTL_EX_DATAERR 65
#define CTL_EX_NOINPUT 66
#define CTL_EX_NOUSER 67
#define CTL_EX_UNAVAILABLE 69
#define CTL_EX_SOFTWARE 70
#define CTL_EX_OSERR 71
#define CTL_EX_CANTCREAT 73
#define CTL_EX_IOERR 74
#define CTL_EX_TEMPFAIL 75
#define CTL_EX_NOPERM 77
#define CTL_EX_CONFIG 78

struct ctl_client {
	int fd;
	struct ctl_buf out;
	uint8_t *in;
	size_t in_len, in_cap, in_used;   /* in_used: the frame last returned */
	int verbose;                      /* print each frame on stderr (-v) */
};

/* Load the configuration (file may be NULL: see above) with its table,
 * pki and ca files unread (tables empty, their paths known: the load does
 * not fail on a file missing, stale or unreadable by this user). Returns
 * it, or NULL with "file:line:column: message" in err. The caller frees
 * it with rules_free(). */
struct rules_config *ctl_config_load(const char *file, char *err, size_t cap);
/* Connect to <queue_path>/smtpd.sock. Returns 0, or -errno: -ENOENT and
 * -ECONNREFUSED mean smtpd is not running. */
int ctl_client_connect(struct ctl_client *c, const char *queue_path);
/* Send one frame (blocking). Returns 0 or -errno. */
int ctl_client_send(struct ctl_client *c, uint8_t type, uint64_t id, uint32_t arg,
                    const char *const *strs, unsigned nstr, const void *blob,
                    size_t blob_len);
/* Read the next frame into *m (valid until the next call). Returns 1, 0 at
 * end of stream, or -errno (-EPROTO for a malformed reply). */
int ctl_client_recv(struct ctl_client *c, struct ctl_msg *m);
/* Send a request and read its OK/FAIL reply: returns 0 on OK, the FAIL's
 * code (> 0) with its text in text, or -errno. */
int ctl_client_call(struct ctl_client *c, uint8_t type, uint64_t id, uint32_t arg,
                    const char *const *strs, unsigned nstr, uint64_t *reply_id,
                    char *text, size_t cap);
void ctl_client_close(struct ctl_client *c);
/* The value of key in a RECORD, or NULL. */
const struct ctl_str *ctl_record_get(const struct ctl_msg *m, const char *key);

#endif
