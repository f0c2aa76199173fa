/*
 * ctl/ctl_client.c - configuration lookup and blocking socket I/O for the
 * control clients. See ctl/ctl_client.h.
 */
#include "ctl/ctl_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rules/rules.h"

/* Find and load the configuration the way smtpd does (core/main_config.c):
 * the same file, the same embedded default, the same base folder; table,
 * pki and ca files left unread (smtpctl, sendmail and newaliases need the
 * queue path and the tables' paths, and may run as a user who cannot read
 * them; newaliases builds the db: files). */
struct rules_config *
ctl_config_load(const char *file, char *err, size_t cap)
{
	char base[RULES_PATH_BYTES_MAX], host[RULES_HOST_BYTES_MAX];
	const char *env = getenv("SMTPD_CONF");
	if (file == NULL && env != NULL && env[0])
		file = env;
	if (file == NULL && access(CTL_CONFIG_DEFAULT_PATH, F_OK) == 0)
		file = CTL_CONFIG_DEFAULT_PATH;
	if (getcwd(base, sizeof base) == NULL)
		snprintf(base, sizeof base, "/");
	if (gethostname(host, sizeof host) < 0 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	struct rules_load_params p = { .hostname = host, .base_dir = base, .skip_data_files = 1 };
	struct rules_error e;
	memset(&e, 0, sizeof e);
	struct rules_config *c = file != NULL ? rules_load_file(file, &p, &e)
	                         : rules_load_string("(default configuration)",
	                                             rules_default_config, &p, &e);
	if (c == NULL)
		rules_error_format(&e, err, cap);
	return c;
}

/* Connect to the daemon's socket in the queue path. */
int
ctl_client_connect(struct ctl_client *c, const char *queue_path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	memset(c, 0, sizeof *c);
	c->fd = -1;
	if ((size_t)snprintf(sun.sun_path, sizeof sun.sun_path, "%s/smtpd.sock", queue_path) >=
	    sizeof sun.sun_path)
		return -ENAMETOOLONG;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int err = errno;
		close(c->fd);
		c->fd = -1;
		return -err;
	}
	return 0;
}

/* Write all of buf. Returns 0 or -errno. */
static int
ctl_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Encode and send one frame, blocking. */
int
ctl_client_send(struct ctl_client *c, uint8_t type, uint64_t id, uint32_t arg,
                const char *const *strs, unsigned nstr, const void *blob, size_t blob_len)
{
	c->out.len = 0;
	int err = ctl_encode(&c->out, type, id, arg, strs, nstr, blob, blob_len);
	if (err < 0)
		return err == -ENOMEM ? err : -EMSGSIZE;
	if (c->verbose && type != CTL_DATA)
		fprintf(stderr, ">>> %s%s%s\n", ctl_type_name(type), nstr ? " " : "",
		        nstr ? strs[0] : "");
	return ctl_write_all(c->fd, c->out.p, c->out.len);
}

/* Read until one whole, checked frame is there. */
int
ctl_client_recv(struct ctl_client *c, struct ctl_msg *m)
{
	if (c->in_used > 0) {
		memmove(c->in, c->in + c->in_used, c->in_len - c->in_used);
		c->in_len -= c->in_used;
		c->in_used = 0;
	}
	for (;;) {
		size_t used = 0, need = 0;
		const char *why;
		int r = ctl_decode(c->in, c->in_len, m, &used, &need);
		if (r < 0 || (r > 0 && ctl_check(m, &why) < 0))
			return -EPROTO;
		if (r > 0) {
			c->in_used = used;
			if (c->verbose && m->type != CTL_RECORD)
				fprintf(stderr, "<<< %s %u%s%.*s\n", ctl_type_name(m->type), (unsigned)m->arg,
				        m->nstr ? " " : "", m->nstr ? (int)m->str[0].len : 0,
				        m->nstr ? m->str[0].p : "");
			return 1;
		}
		if (need > c->in_cap) {
			uint8_t *p = realloc(c->in, need);
			if (p == NULL)
				return -ENOMEM;
			c->in = p;
			c->in_cap = need;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return c->in_len ? -EPROTO : 0;
		c->in_len += (size_t)n;
	}
}

/* One request, one OK/FAIL reply. */
int
ctl_client_call(struct ctl_client *c, uint8_t type, uint64_t id, uint32_t arg,
                const char *const *strs, unsigned nstr, uint64_t *reply_id, char *text,
                size_t cap)
{
	static struct ctl_msg m;
	int err = ctl_client_send(c, type, id, arg, strs, nstr, NULL, 0);
	if (err == 0)
		err = ctl_client_recv(c, &m);
	if (err == 0)
		err = -ECONNRESET;
	if (err < 0)
		return err;
	if (text != NULL && cap > 0)
		snprintf(text, cap, "%.*s", m.nstr ? (int)m.str[0].len : 0, m.nstr ? m.str[0].p : "");
	if (reply_id != NULL)
		*reply_id = m.id;
	if (m.type == CTL_OK)
		return 0;
	if (m.type == CTL_FAIL)
		return m.arg > 0 ? (int)m.arg : 1;
	return -EPROTO;
}

/* Close the socket and free the buffers. */
void
ctl_client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	ctl_buf_free(&c->out);
}

/* Look up a key in a RECORD's pairs. */
const struct ctl_str *
ctl_record_get(const struct ctl_msg *m, const char *key)
{
	size_t klen = strlen(key);
	for (unsigned i = 0; i + 1 < m->nstr; i += 2)
		if (m->str[i].len == klen && memcmp(m->str[i].p, key, klen) == 0)
			return &m->str[i + 1];
	return NULL;
}
