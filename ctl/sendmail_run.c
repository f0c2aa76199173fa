/*
 * ctl/sendmail_run.c - the sendmail persona's I/O: reading the message,
 * submitting it to smtpd over the control socket (MAIL, RCPT, DATA chunks,
 * DATA_END: the reply comes once the message is durable), or, when smtpd is
 * not running, writing the same frames to <queue path>/offline for smtpd to
 * pick up at start; -bs speaks SMTP on stdin/stdout with proto/'s server
 * machine; -bp is mailq; -bi is newaliases; -q schedules the whole queue.
 */
#include "ctl/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl_client.h"
#include "ctl/makemap.h"
#include "ctl/smtpctl.h"
#include "proto/smtp_server.h"
#include "rules/rules.h"

#define SENDMAIL_INPUT_BYTES_MAX (1ull << 30)

/* Where a message goes: the running daemon, or frames for the offline
 * folder. */
struct sendmail_sub {
	int online;
	struct ctl_client c;
	struct ctl_buf frames;     /* offline: the file's contents */
	const char *queue_path;
	int verbose;
};

/* An SMTP-like failure code as a sysexits.h status. */
static int
sendmail_exit_code(int code)
{
	if (code < 0 || (code >= 400 && code < 500))
		return CTL_EX_TEMPFAIL;
	if (code == 550 || code == 551 || code == 503)
		return CTL_EX_NOUSER;
	if (code == 552 || code == 553)
		return CTL_EX_DATAERR;
	if (code == 554)
		return CTL_EX_NOPERM;
	return CTL_EX_UNAVAILABLE;
}

/* Connect, or prepare for the offline folder when smtpd is not there. */
static void
sendmail_sub_open(struct sendmail_sub *s, const char *queue_path, int verbose)
{
	memset(s, 0, sizeof *s);
	s->queue_path = queue_path;
	s->verbose = verbose;
	int r = ctl_client_connect(&s->c, queue_path);
	s->online = r == 0;
	s->c.verbose = verbose;
	if (!s->online && verbose)
		fprintf(stderr, "sendmail: smtpd is not running (%s): the message goes to %s/offline\n",
		        strerror(-r), queue_path);
}

/* MAIL or RCPT, with its two DSN fields (RET and ENVID, or NOTIFY and
 * ORCPT; "" absent). Returns 0, or the failure code with its text. */
static int
sendmail_sub_cmd(struct sendmail_sub *s, uint8_t type, const char *addr, const char *dsn1,
                 const char *dsn2, char *text, size_t cap)
{
	const char *strs[3] = { addr, dsn1, dsn2 };
	unsigned nstr = dsn1[0] || dsn2[0] ? 3 : 1;   /* one string: as before DSN */
	if (!s->online)
		return ctl_encode(&s->frames, type, 0, 0, strs, nstr, NULL, 0) < 0 ? 452 : 0;
	int r = ctl_client_call(&s->c, type, 0, 0, strs, nstr, NULL, text, cap);
	if (r < 0)
		snprintf(text, cap, "4.3.0 smtpd: %s", strerror(-r));
	return r < 0 ? 451 : r;
}

/* A chunk of the body. Returns 0 or -errno. */
static int
sendmail_sub_data(struct sendmail_sub *s, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = len > CTL_BLOB_BYTES_MAX ? CTL_BLOB_BYTES_MAX : len;
		int r = s->online ? ctl_client_send(&s->c, CTL_DATA, 0, 0, NULL, 0, p, n)
		                  : ctl_encode(&s->frames, CTL_DATA, 0, 0, NULL, 0, p, n);
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

/* Write the frames to <queue>/offline: a dot file created with O_EXCL and
 * O_NOFOLLOW, mode 0600, synced, then renamed to its final name (smtpd
 * skips dot files). Returns 0, or -1 with a message printed. */
static int
sendmail_offline_write(struct sendmail_sub *s)
{
	char dir[RULES_PATH_BYTES_MAX + 16], tmp[96], name[96];
	struct stat st;
	uint64_t rnd = 0;
	snprintf(dir, sizeof dir, "%s/offline", s->queue_path);
	/* smtpd never ran here: start the spool as smtpd would (it fixes the
	 * owner and modes when it starts) */
	if (mkdir(s->queue_path, 0700) < 0 && errno != EEXIST)
		fprintf(stderr, "sendmail: mkdir %s: %s\n", s->queue_path, strerror(errno));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "sendmail: smtpd is not running and %s cannot be created: %s\n",
		        dir, strerror(errno));
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0 ||
	    ((st.st_mode & 0002) && !(st.st_mode & S_ISVTX))) {
		fprintf(stderr, "sendmail: %s is not a safe folder\n", dir);
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if (getrandom(&rnd, sizeof rnd, 0) < 0)
		rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	snprintf(name, sizeof name, "%lld.%d.%016llx", (long long)time(NULL), (int)getpid(),
	         (unsigned long long)rnd);
	snprintf(tmp, sizeof tmp, ".%s", name);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int ok = fd >= 0;
	for (size_t off = 0; ok && off < s->frames.len;) {
		ssize_t n = write(fd, s->frames.p + off, s->frames.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += ok ? (size_t)n : 0;
	}
	ok = ok && fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = 0;
	ok = ok && renameat(dfd, tmp, dfd, name) == 0 && fsync(dfd) == 0;
	if (!ok) {
		fprintf(stderr, "sendmail: cannot write %s/%s: %s\n", dir, name, strerror(errno));
		unlinkat(dfd, tmp, 0);
	}
	close(dfd);
	return ok ? 0 : -1;
}

/* End of the message. Returns 0 with the queue id (or "offline") in text,
 * or the failure code with its text. */
static int
sendmail_sub_end(struct sendmail_sub *s, char *text, size_t cap)
{
	if (!s->online) {
		if (ctl_encode(&s->frames, CTL_DATA_END, 0, 0, NULL, 0, NULL, 0) < 0 ||
		    sendmail_offline_write(s) < 0) {
			snprintf(text, cap, "4.3.0 cannot keep the message offline");
			return 451;
		}
		s->frames.len = 0;
		snprintf(text, cap, "offline");
		return 0;
	}
	int r = ctl_client_call(&s->c, CTL_DATA_END, 0, 0, NULL, 0, NULL, text, cap);
	if (r < 0)
		snprintf(text, cap, "4.3.0 smtpd: %s", strerror(-r));
	return r < 0 ? 451 : r;
}

/* Close the connection (if any) and free the offline frames. */
static void
sendmail_sub_close(struct sendmail_sub *s)
{
	if (s->online)
		ctl_client_close(&s->c);
	ctl_buf_free(&s->frames);
}

/* Read all of stdin. Returns the bytes (malloc'd) or NULL. */
static char *
sendmail_read_stdin(size_t *len, uint64_t max)
{
	size_t cap = 65536;
	char *buf = malloc(cap);
	*len = 0;
	while (buf != NULL) {
		if (*len == cap) {
			if (cap >= max) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *n = realloc(buf, cap * 2);
			if (n == NULL)
				free(buf);
			buf = n;
			cap *= 2;
			continue;
		}
		ssize_t r = read(0, buf + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	return buf;
}

struct sendmail_who {
	char sender[SENDMAIL_ADDR_BYTES_MAX];    /* envelope sender, "" for <> */
	char from_addr[SENDMAIL_ADDR_BYTES_MAX]; /* for an added From: */
	char full_name[256];
};

/* Who sends: -f (without <>, a bare user qualified with the host), else
 * the login name at this host; the full name from -F or the GECOS field. */
static void
sendmail_identity(const struct sendmail_opts *o, const char *host, struct sendmail_who *w)
{
	struct passwd *pw = getpwuid(getuid());
	char user[128];
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "nobody");
	snprintf(w->from_addr, sizeof w->from_addr, "%s@%s", user, host);
	snprintf(w->sender, sizeof w->sender, "%s", w->from_addr);
	if (o->sender != NULL) {
		const char *s = o->sender;
		size_t len = strlen(s);
		if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
			s++;
			len -= 2;
		}
		if (len == 0)
			w->sender[0] = '\0';
		else
			snprintf(w->sender, sizeof w->sender, "%.*s%s%s", (int)len, s,
			         memchr(s, '@', len) ? "" : "@", memchr(s, '@', len) ? "" : host);
		if (w->sender[0])
			snprintf(w->from_addr, sizeof w->from_addr, "%s", w->sender);
	}
	const char *gecos = pw && pw->pw_gecos ? pw->pw_gecos : "";
	if (o->full_name != NULL)
		snprintf(w->full_name, sizeof w->full_name, "%s", o->full_name);
	else
		snprintf(w->full_name, sizeof w->full_name, "%.*s", (int)strcspn(gecos, ","), gecos);
}

/* Submit one prepared message. Returns the exit status. */
static int
sendmail_submit(struct sendmail_sub *s, const struct sendmail_opts *o, const char *sender,
                char **rcpts, unsigned n, const struct sendmail_msg *m)
{
	char text[512];
	unsigned accepted = 0;
	int code = sendmail_sub_cmd(s, CTL_MAIL, sender, o->dsn_ret ? o->dsn_ret : "",
	                            o->dsn_envid ? o->dsn_envid : "", text, sizeof text);
	if (code != 0) {
		fprintf(stderr, "sendmail: sender <%s> refused: %d %s\n", sender, code, text);
		return sendmail_exit_code(code);
	}
	int last = 0;
	for (unsigned i = 0; i < n; i++) {
		code = sendmail_sub_cmd(s, CTL_RCPT, rcpts[i], o->dsn_notify ? o->dsn_notify : "", "",
		                        text, sizeof text);
		if (code != 0) {
			fprintf(stderr, "sendmail: recipient <%s> refused: %d %s\n", rcpts[i], code, text);
			last = code;
			continue;
		}
		accepted++;
	}
	if (accepted == 0)
		return sendmail_exit_code(last);
	if (sendmail_sub_data(s, m->data, m->len) < 0) {
		fprintf(stderr, "sendmail: lost the connection to smtpd\n");
		return CTL_EX_TEMPFAIL;
	}
	code = sendmail_sub_end(s, text, sizeof text);
	if (code != 0) {
		fprintf(stderr, "sendmail: message refused: %d %s\n", code, text);
		return sendmail_exit_code(code);
	}
	if (s->verbose)
		fprintf(stderr, "sendmail: queued as %s\n", text);
	return CTL_EX_OK;
}

/* Default mode: read, prepare, submit. */
static int
sendmail_deliver(const struct sendmail_opts *o, const struct rules_config *cf)
{
	struct sendmail_who w;
	struct sendmail_msg m;
	char date[64], msgid[320];
	size_t len;
	sendmail_identity(o, cf->hostname, &w);
	char *in = sendmail_read_stdin(&len, cf->size_max ? cf->size_max * 2 + 65536
	                                                  : SENDMAIL_INPUT_BYTES_MAX);
	if (in == NULL) {
		fprintf(stderr, "sendmail: reading the message: %s\n", strerror(errno));
		return errno == EFBIG ? CTL_EX_DATAERR : CTL_EX_IOERR;
	}
	time_t now = time(NULL);
	struct tm tm;
	uint32_t rnd = 0;
	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (getrandom(&rnd, sizeof rnd, 0) < 0)
		rnd = (uint32_t)now;
	snprintf(msgid, sizeof msgid, "<%lld.%d.%08x@%s>", (long long)now, (int)getpid(), rnd,
	         cf->hostname);
	struct sendmail_build b = { .dot_ends = !o->dot_ok, .extract = o->extract,
	                            .from_addr = w.from_addr, .full_name = w.full_name,
	                            .date = date, .message_id = msgid };
	int r = sendmail_build(in, len, &b, &m);
	free(in);
	if (r < 0) {
		fprintf(stderr, "sendmail: %s\n", r == -2 ? "too many recipients" : "out of memory");
		return r == -2 ? CTL_EX_DATAERR : CTL_EX_OSERR;
	}
	for (unsigned i = 0; i < o->nrcpts && r == 0; i++)
		r = sendmail_addr_list(o->rcpts[i], strlen(o->rcpts[i]), &m.rcpts, &m.nrcpts);
	if (m.nrcpts == 0) {
		fprintf(stderr, "sendmail: no recipient addresses found%s\n",
		        o->extract ? " in the message header" : "");
		sendmail_msg_free(&m);
		return CTL_EX_USAGE;
	}
	struct sendmail_sub s;
	sendmail_sub_open(&s, cf->queue_path, o->verbose);
	r = sendmail_submit(&s, o, w.sender, m.rcpts, m.nrcpts, &m);
	sendmail_sub_close(&s);
	sendmail_msg_free(&m);
	return r;
}

/* Write everything the SMTP machine queued to stdout. Returns 0 or -1. */
static int
sendmail_smtp_flush(struct proto_server *ps)
{
	while (ps->out_len > 0) {
		ssize_t n = write(1, ps->out, ps->out_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		proto_server_out_sent(ps, (size_t)n);
	}
	return 0;
}

/* Answer a MAIL/RCPT/BODY_END question with the submitter's result. */
static void
sendmail_smtp_answer(struct proto_server *ps, int code, const char *text, int ok_code,
                     const char *ok_enh, const char *ok_text)
{
	char enh[16] = "", *rest = (char *)text;
	if (code == 0) {
		proto_server_answer(ps, ok_code, ok_enh, ok_text);
		return;
	}
	/* "5.1.1 Invalid recipient" -> enhanced code and text apart */
	size_t k = strspn(text, "0123456789.");
	if (k > 0 && k < sizeof enh && text[k] == ' ') {
		memcpy(enh, text, k);
		enh[k] = '\0';
		rest = (char *)text + k + 1;
	}
	proto_server_answer(ps, code, enh[0] ? enh : NULL, rest);
}

/* One event of the -bs dialogue. Returns 1 to go on, 0 at the end. */
static int
sendmail_smtp_event(struct proto_server *ps, const struct proto_event *ev,
                    struct sendmail_sub *s)
{
	char text[512], ok[96], notify[40];
	int code;
	switch (ev->kind) {
	case PROTO_EV_MAIL:
		s->frames.len = 0;
		code = sendmail_sub_cmd(s, CTL_MAIL, ev->addr, ctl_dsn_ret_text(ev->dsn_ret),
		                        ev->envid ? ev->envid : "", text, sizeof text);
		sendmail_smtp_answer(ps, code, text, 250, "2.0.0", "Ok");
		return 1;
	case PROTO_EV_RCPT:
		ctl_dsn_notify_text(ev->notify, notify, sizeof notify);
		code = sendmail_sub_cmd(s, CTL_RCPT, ev->addr, notify, ev->orcpt ? ev->orcpt : "",
		                        text, sizeof text);
		sendmail_smtp_answer(ps, code, text, 250, "2.1.5", "Recipient ok");
		return 1;
	case PROTO_EV_DATA:
		proto_server_answer(ps, 354, NULL, "Enter mail, end with \".\" on a line by itself");
		return 1;
	case PROTO_EV_BODY:
		if (sendmail_sub_data(s, ev->data, ev->len) < 0)
			return 0;
		return 1;
	case PROTO_EV_BODY_END:
		code = sendmail_sub_end(s, text, sizeof text);
		snprintf(ok, sizeof ok, "%s Message accepted for delivery", text);
		sendmail_smtp_answer(ps, code, text, 250, "2.0.0", ok);
		return 1;
	case PROTO_EV_TXN_RESET:
		s->frames.len = 0;
		return 1;
	case PROTO_EV_QUIT:
	case PROTO_EV_CLOSE:
		return 0;
	default:
		return 1;
	}
}

/* -bs: SMTP on stdin and stdout, each message submitted as it ends. */
static int
sendmail_smtp(const struct sendmail_opts *o, const struct rules_config *cf)
{
	static struct proto_server ps;
	static char buf[16384];
	struct sendmail_sub s;
	struct proto_server_params p = { .hostname = cf->hostname, .size_max = cf->size_max,
	                                 .rcpt_count_max = SENDMAIL_RCPTS_MAX, .errors_max = 10,
	                                 .ext = PROTO_SERVER_EXT_DEFAULT | PROTO_EXT_DSN };
	sendmail_sub_open(&s, cf->queue_path, o->verbose);
	proto_server_init(&ps, &p);
	proto_server_greet(&ps);
	int going = 1;
	while (going) {
		struct proto_event ev;
		enum proto_event_kind k = proto_server_next(&ps, &ev);
		if (k == PROTO_EV_FLUSH || k == PROTO_EV_NEED_MORE || k == PROTO_EV_WAIT) {
			if (sendmail_smtp_flush(&ps) < 0)
				break;
			if (k != PROTO_EV_NEED_MORE)
				continue;
			ssize_t n = read(0, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			proto_server_feed(&ps, buf, (size_t)n);
			continue;
		}
		going = sendmail_smtp_event(&ps, &ev, &s);
	}
	sendmail_smtp_flush(&ps);
	sendmail_sub_close(&s);
	return CTL_EX_OK;
}

/* -q: schedule every envelope now (privileged). */
static int
sendmail_runq(const struct rules_config *cf)
{
	struct ctl_client c;
	char text[256];
	uint64_t n = 0;
	if (ctl_client_connect(&c, cf->queue_path) < 0) {
		fprintf(stderr, "sendmail: smtpd doesn't seem to be running\n");
		return CTL_EX_UNAVAILABLE;
	}
	int r = ctl_client_call(&c, CTL_SCHEDULE, 0, CTL_SEL_ALL, NULL, 0, &n, text, sizeof text);
	ctl_client_close(&c);
	if (r != 0) {
		fprintf(stderr, "sendmail: -q: %s\n", r < 0 ? strerror(-r) : text);
		return r == 502 ? CTL_EX_UNAVAILABLE : r == 554 ? CTL_EX_NOPERM : CTL_EX_TEMPFAIL;
	}
	return CTL_EX_OK;
}

/* sendmail / send-mail: dispatch on the mode the options chose. */
int
sendmail_main(int argc, char **argv)
{
	struct sendmail_opts o;
	char err[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32];
	char **rcpts = calloc((size_t)argc + 1, sizeof *rcpts);
	if (rcpts == NULL)
		return CTL_EX_OSERR;
	if (sendmail_parse_args(argc, argv, &o, rcpts, err, sizeof err) < 0) {
		fprintf(stderr, "sendmail: %s\nusage: sendmail [-tiv] [-f from] [-F name] "
		                "[-bs|-bp|-bm] [-o option] [--] [recipient ...]\n", err);
		free(rcpts);
		return CTL_EX_USAGE;
	}
	if (o.mode == SENDMAIL_MODE_ALIASES) {
		free(rcpts);
		char *av[] = { "newaliases", NULL };
		return newaliases_main(1, av);
	}
	if (o.mode == SENDMAIL_MODE_MAILQ) {
		free(rcpts);
		char *av[] = { argv[0], NULL };
		return smtpctl_mailq(1, av);
	}
	struct rules_config *cf = ctl_config_load(NULL, err, sizeof err);
	int r = CTL_EX_CONFIG;
	if (cf == NULL)
		fprintf(stderr, "sendmail: %s\n", err);
	else if (o.mode == SENDMAIL_MODE_RUNQ)
		r = sendmail_runq(cf);
	else if (o.mode == SENDMAIL_MODE_SMTP)
		r = sendmail_smtp(&o, cf);
	else
		r = sendmail_deliver(&o, cf);
	if (cf != NULL)
		rules_free(cf);
	free(rcpts);
	return r;
}
