/*
 * core/control.c - the control socket on the main thread: accepting and
 * authorising clients (SO_PEERCRED), reading and checking frames
 * (ctl/ctl_proto.h), the command table, local enqueue through the queue,
 * operations that need every shard, and the offline folder picked up at
 * start. See core/control.h.
 */
#include "core/control.h"

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/control_ops.h"
#include "core/daemon.h"
#include "core/geoip_stats.h"
#include "core/rcpt_expand.h"
#include "core/srs.h"
#include "core/delivery.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/metrics.h"
#include "core/main.h"
#include "core/session.h"
#include "core/trace.h"
#include "core/shard.h"
#include "ctl/ctl_proto.h"
#include "queue/queue.h"
#include "rules/rules.h"

#define CONTROL_IN_BYTES_MAX (CTL_FRAME_BYTES_MAX + 4)
#define CONTROL_OFFLINE_BYTES_MAX (256u << 20)
#define CONTROL_CLOSE_WAIT_MS 10000
#define CONTROL_KV_MAX (140 + GEOIP_STATS_ROWS_MAX) /* stats pairs: 64 shards, our
                                     * counters, sessions by country */
#define CONTROL_KV_COUNTERS (52 + GEOIP_STATS_ROWS_MAX) /* room kept after the shards */
#define CONTROL_OFFLINE_FILES_MAX 1024   /* per start; the rest wait for the next */

/* Offline files opened before privileges were dropped. */
struct control_offline_file {
	char name[NAME_MAX + 1];
	int fd;
	uid_t uid;
	size_t size;
};

struct control_offline {
	struct control_offline_file *files;
	unsigned n;
};

enum control_op {
	CONTROL_OP_NONE,
	CONTROL_OP_STATS,
	CONTROL_OP_PAUSE,      /* ctl->op_agent, ctl->op_paused */
	CONTROL_OP_ROUTES,     /* show routes|hosts|relays: ctl->op_agent is the kind */
	CONTROL_OP_RESUME_ROUTE, /* ctl->op_id's route number ctl->op_agent */
	CONTROL_OP_MTA_BLOCK,  /* a new pause set is published: ctl->op_old_blocks
	                        * freed once every shard passed a turn; on resume
	                        * (!ctl->op_paused) the shards scan again */
	CONTROL_OP_HOSTSTATS,  /* show hoststats: each shard's records */
};

struct control_client {
	struct control_client *next;
	struct control *ctl;
	int fd;                     /* -1: an offline file being replayed */
	uid_t uid;
	pid_t pid;
	int privileged;
	uint64_t id;
	uint8_t *in;
	size_t in_len, in_cap;
	struct ctl_buf out;
	int dead;                   /* free at the end of the turn */
	int waiting_op;             /* its request is the shard operation in flight */

	/* the enqueue transaction */
	int has_mail;
	char sender[QUEUE_ADDR_BYTES_MAX];
	uint8_t dsn_ret;            /* MAIL's DSN fields (sendmail -R, -V, -bs) */
	char dsn_envid[QUEUE_ENVID_BYTES_MAX];
	struct rcpt_list rcpts;     /* the deliveries, after alias expansion */
	unsigned nrcpt_cmds;        /* RCPTs accepted (smtp limit max-rcpt) */
	int writer_open;
	struct queue_writer writer;
	int data_code;              /* 0, or the SMTP-like code DATA_END fails with */
	struct queue_envelope *envs;
	unsigned nenvs;
	int committing;
	struct queue_sync_req sync;
	atomic_int synced;
	int sync_err;
	int committed, tempfailed;  /* results, for the offline replay */
	char last_fail[128];
};

struct control_shard_msg {
	struct shard_msg msg;
	struct control *ctl;
};

struct control {
	struct daemon *d;
	const struct main_options *o;
	const struct rules_config *config;    /* in force during this turn */
	int listen_fd, wake_fd;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char offline_path[RULES_PATH_BYTES_MAX + 16];
	struct control_client *clients;
	unsigned nclients;
	struct control_client *polled[CONTROL_CLIENTS_MAX];
	unsigned npolled;
	time_t started;
	int paused[CTL_AGENT_SMTP + 1];

	/* the shard operation in flight */
	enum control_op op;
	struct control_client *op_client;
	unsigned op_agent;
	uint64_t op_id;
	int op_paused;
	atomic_uint op_acks;
	atomic_long op_result;
	atomic_int op_nosys;
	unsigned *op_sessions;                /* per shard, for stats */
	struct ctl_buf *op_records;           /* per shard, for show routes */
	struct control_shard_msg *shard_msgs;
	struct mta_block_set *op_old_blocks;  /* CONTROL_OP_MTA_BLOCK */
	int profile_imsg;                     /* smtpctl profile imsg */
	uint64_t op_started_ns;               /* for profile imsg */
	uint8_t op_request;                   /* the request type, for profile imsg */
	void (*accept_complete)(struct core_op *op, int res, unsigned flags);
};

_Static_assert(CTL_DSN_NOTIFY_NEVER == QUEUE_DSN_NOTIFY_NEVER &&
               CTL_DSN_NOTIFY_DELAY == QUEUE_DSN_NOTIFY_DELAY &&
               CTL_DSN_RET_HDRS == QUEUE_DSN_RET_HDRS,
               "the control protocol's DSN values are the queue's");

static void control_process(struct control_client *c);

/* CLOCK_MONOTONIC in nanoseconds, for profile imsg. */
static uint64_t
control_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wake the main thread's poll (from any thread). */
static void
control_wake(struct control *ctl)
{
	uint64_t one = 1;
	if (write(ctl->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("control: wake: %s", strerror(errno));
}

/* Queue one reply frame for c. */
static void
control_reply(struct control_client *c, uint8_t type, uint64_t id, uint32_t arg,
              const char *text)
{
	const char *strs[1] = { text };
	if (ctl_encode(&c->out, type, id, arg, strs, text ? 1 : 0, NULL, 0) < 0)
		c->dead = 1;
}

/* Fail a request with an SMTP-like code and a text. */
static void
control_fail(struct control_client *c, uint32_t code, const char *text)
{
	snprintf(c->last_fail, sizeof c->last_fail, "%u %s", (unsigned)code, text);
	control_reply(c, CTL_FAIL, 0, code, text);
}

/* The client text stored in envelopes a local user submitted; show queue
 * shows an unprivileged user the envelopes carrying its own. */
static void
control_client_text(uid_t uid, char *buf, size_t cap)
{
	snprintf(buf, cap, "local uid=%u", (unsigned)uid);
}

/* ---- the enqueue transaction ---- */

/* Drop the transaction (new MAIL, error, disconnect before commit). */
static void
control_txn_reset(struct control_client *c)
{
	if (c->writer_open)
		queue_body_abort(&c->writer);
	c->writer_open = 0;
	c->has_mail = 0;
	c->rcpts.n = 0;
	c->nrcpt_cmds = 0;
	c->data_code = 0;
	c->sender[0] = '\0';
	c->dsn_ret = 0;
	c->dsn_envid[0] = '\0';
}

/* An address as the peer sent it: printable, no spaces or brackets. */
static int
control_addr_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a <= ' ' || *a == '<' || *a == '>' || *a == 0x7f)
			return 0;
	return 1;
}

/* MAIL: start a transaction with this sender ("" for <>). */
static void
control_on_mail(struct control_client *c, const struct ctl_msg *m)
{
	control_txn_reset(c);
	if (ctl_str_copy(m, 0, c->sender, sizeof c->sender) < 0 || !control_addr_ok(c->sender)) {
		control_fail(c, 553, "5.1.7 Sender address syntax error");
		return;
	}
	char ret[8] = "";
	int r = 0;
	if (m->nstr == 3 &&
	    (ctl_str_copy(m, 1, ret, sizeof ret) < 0 || (r = ctl_dsn_ret_parse(ret)) < 0 ||
	     ctl_str_copy(m, 2, c->dsn_envid, sizeof c->dsn_envid) < 0 ||
	     !ctl_dsn_text_ok(c->dsn_envid, sizeof c->dsn_envid))) {
		c->dsn_envid[0] = '\0';
		control_fail(c, 501, "5.5.4 Invalid DSN RET or ENVID");
		return;
	}
	c->dsn_ret = (uint8_t)r;
	c->has_mail = 1;
	control_reply(c, CTL_OK, 0, 250, "2.0.0 Ok");
}

/* Decide rcpt as for a local SMTP client with this sender. */
static enum rules_verdict
control_match(void *arg, const char *rcpt, const struct rules_action **action, unsigned *line)
{
	struct control_client *c = arg;
	struct rules_query q = { .local = 1, .src = NULL, .listener_tag = "",
	                         .country = "", .asn = "",   /* a local client has none */
	                         .rdns_state = RULES_RDNS_NONE,
	                         .mail_from = c->sender, .rcpt = rcpt };
	return rules_match(c->ctl->config, &q, action, line);
}

/* RCPT: ask the decision table, as for a local SMTP client, then expand
 * (a decoded SRS address: what it decodes to; the envelope keeps rcpt as
 * the recipient as given). */
static void
control_on_rcpt(struct control_client *c, const struct ctl_msg *m)
{
	const struct rules_config *cf = c->ctl->config;
	char rcpt[QUEUE_ADDR_BYTES_MAX], text[QUEUE_ADDR_BYTES_MAX + 64], dec[QUEUE_ADDR_BYTES_MAX];
	if (!c->has_mail) {
		control_fail(c, 503, "5.5.1 MAIL first");
		return;
	}
	if (ctl_str_copy(m, 0, rcpt, sizeof rcpt) < 0 || rcpt[0] == '\0' || !control_addr_ok(rcpt)) {
		control_fail(c, 553, "5.1.3 Recipient address syntax error");
		return;
	}
	char notify_text[40] = "", orcpt[QUEUE_ORCPT_BYTES_MAX] = "";
	unsigned notify = 0;
	if (m->nstr == 3 &&
	    (ctl_str_copy(m, 1, notify_text, sizeof notify_text) < 0 ||
	     ctl_dsn_notify_parse(notify_text, &notify) < 0 ||
	     ctl_str_copy(m, 2, orcpt, sizeof orcpt) < 0 || !ctl_dsn_text_ok(orcpt, sizeof orcpt) ||
	     (orcpt[0] != '\0' && strchr(orcpt, ';') == NULL))) {
		control_fail(c, 501, "5.5.4 Invalid DSN NOTIFY or ORCPT");
		return;
	}
	if (c->nrcpt_cmds >= cf->rcpt_max) {   /* smtp limit max-rcpt */
		control_fail(c, 452, "4.5.3 Too many recipients");
		return;
	}
	const struct rules_action *action = NULL;
	unsigned line = 0, before = c->rcpts.n;
	/* a bounce to one of our SRS addresses is decoded as an SMTP session
	 * does at RCPT (OpenSMTPD decodes in lka_expand(), every submission) */
	int srs = srs_rcpt_decode_logged(c->ctl->config, "control", c->id, c->sender, rcpt, dec,
	                                 sizeof dec);
	const char *to = srs ? dec : rcpt;   /* what is matched and expanded */
	enum rules_verdict v = control_match(c, to, &action, &line);
	if (v == RULES_TEMPFAIL) {
		control_fail(c, 451, "4.3.0 Temporary failure, try again later");
		return;
	}
	if (v != RULES_ACCEPT) {
		log_info("%016llx control failed-command rcpt=<%s> result=\"550 %s\" (%s line %u)",
		         (unsigned long long)c->id, rcpt, v == RULES_REJECT ? "reject" : "no match",
		         cf->file, line);
		snprintf(text, sizeof text, "5.1.1 Invalid recipient: <%s>", rcpt);
		control_fail(c, 550, text);
		return;
	}
	struct rcpt_matcher match = { .match = control_match, .arg = c };
	struct rules_alias_result res;
	if (rcpt_expand(c->ctl->d, cf, to, action, &match, (uint8_t)notify, orcpt, &c->rcpts,
	                &res) < 0) {
		log_info("%016llx control failed-command rcpt=<%s> result=\"%u %s %s\" (%s)",
		         (unsigned long long)c->id, rcpt, res.code, res.status, res.text, res.why);
		char reply[sizeof res.text + 32];
		snprintf(reply, sizeof reply, "%s %s", res.status, res.text);
		control_fail(c, res.code, reply);
		return;
	}
	for (unsigned i = before; srs && i < c->rcpts.n; i++)   /* the recipient as given */
		snprintf(c->rcpts.v[i].addr, sizeof c->rcpts.v[i].addr, "%s", rcpt);
	c->nrcpt_cmds++;
	control_reply(c, CTL_OK, 0, 250, "2.1.5 Recipient ok");
}

/* Open the body: a new message id and our Received: header (RFC 5321
 * 4.4). Returns 0, or -1 with c->data_code set. */
static int
control_body_open(struct control_client *c)
{
	struct daemon *d = c->ctl->d;
	if (queue_body_begin(d->queue, &c->writer) < 0) {
		c->data_code = 451;
		return -1;
	}
	c->writer_open = 1;
	char date[64], hdr[1024];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
	int n = snprintf(hdr, sizeof hdr, "Received: by %s (ringmta, from userid %u)\r\n\tid %08x",
	                 d->hostname, (unsigned)c->uid, c->writer.msgid);
	if (c->rcpts.n == 1)
		n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\r\n\tfor <%s>", c->rcpts.v[0].addr);
	n += snprintf(hdr + n, sizeof hdr - (size_t)n, "; %s\r\n", date);
	if (n >= (int)sizeof hdr || queue_body_append(&c->writer, hdr, (size_t)n) < 0) {
		queue_body_abort(&c->writer);
		c->writer_open = 0;
		c->data_code = 451;
		return -1;
	}
	return 0;
}

/* DATA: append a chunk of the body (no reply; errors wait for DATA_END). */
static void
control_on_data(struct control_client *c, const struct ctl_msg *m)
{
	if (c->data_code != 0)
		return;
	if (!c->has_mail || c->rcpts.n == 0) {
		c->data_code = 503;
		return;
	}
	if (!c->writer_open && control_body_open(c) < 0)
		return;
	uint64_t size_max = c->ctl->config->size_max;
	if (size_max && c->writer.size + m->blob_len > size_max) {
		queue_body_abort(&c->writer);
		c->writer_open = 0;
		c->data_code = 552;
		return;
	}
	if (m->blob_len && queue_body_append(&c->writer, m->blob, m->blob_len) < 0) {
		log_warn("%016llx control queue write: %s", (unsigned long long)c->id,
		         queue_strerror(c->ctl->d->queue));
		queue_body_abort(&c->writer);
		c->writer_open = 0;
		c->data_code = 451;
	}
}

static void control_sync_done(struct queue_sync_req *req, int err);

/* DATA_END: refuse, or commit and wait for the syncer. */
static void
control_on_data_end(struct control_client *c, const struct ctl_msg *m)
{
	static const char *const texts[] = {
		[0] = "4.3.0 Queue write failed, try again later",
		[1] = "5.5.1 No valid recipients",
		[2] = "5.3.4 Message too big for system",
	};
	if (c->data_code == 0 && (!c->has_mail || c->rcpts.n == 0))
		c->data_code = 503;
	if (c->data_code == 0 && !c->writer_open)
		control_body_open(c);
	if (c->data_code != 0) {
		int code = c->data_code;
		control_txn_reset(c);
		control_fail(c, (uint32_t)code, texts[code == 503 ? 1 : code == 552 ? 2 : 0]);
		return;
	}
	char client[64];
	control_client_text(c->uid, client, sizeof client);
	c->envs = calloc(c->rcpts.n, sizeof *c->envs);
	uint64_t seq = 0;
	time_t now = time(NULL);
	for (unsigned i = 0; c->envs != NULL && i < c->rcpts.n; i++) {
		const struct rcpt_delivery *r = &c->rcpts.v[i];
		queue_envelope_fill(c->ctl->d->queue, &c->envs[i], c->writer.msgid, c->sender,
		                    r->addr, r->action, c->ctl->d->hostname,
		                    client, c->writer.size, (uint64_t)now, r->ttl_s);
		rcpt_delivery_apply(r, &c->envs[i]);
		c->envs[i].dsn_ret = c->dsn_ret;
		memcpy(c->envs[i].dsn_envid, c->dsn_envid, sizeof c->envs[i].dsn_envid);
	}
	if (c->envs == NULL || queue_commit(&c->writer, c->envs, c->rcpts.n, &seq) < 0) {
		log_warn("%016llx control queue commit: %s", (unsigned long long)c->id,
		         queue_strerror(c->ctl->d->queue));
		free(c->envs);
		c->envs = NULL;
		control_txn_reset(c);
		c->tempfailed = 1;
		control_fail(c, 451, texts[0]);
		return;
	}
	c->writer_open = 0;
	c->nenvs = c->rcpts.n;
	c->committing = 1;
	atomic_store(&c->synced, 0);
	c->sync.seq = seq;
	c->sync.done = control_sync_done;
	queue_sync_submit(c->ctl->d->queue, &c->sync);
}

/* On the syncer's thread: note the result and wake the main thread. */
static void
control_sync_done(struct queue_sync_req *req, int err)
{
	struct control_client *c = container_of(req, struct control_client, sync);
	c->sync_err = err;
	atomic_store(&c->synced, 1);
	control_wake(c->ctl);
}

struct control_submit_msg {
	struct shard_msg msg;
	unsigned n;
	struct queue_envelope envs[];
};

/* On a shard: hand the fresh envelopes to the scheduler, which routes each
 * to its owner shard (as a session's shard does after its commit). */
static void
control_submit_handle(struct shard *sh, struct shard_msg *msg)
{
	struct control_submit_msg *m = container_of(msg, struct control_submit_msg, msg);
	delivery_submit(sh, m->envs, m->n);
	free(m);
}

/* Post the committed envelopes to a shard so that delivery starts now;
 * without memory they wait for the shards' next schedule scan. */
static void
control_submit(struct control *ctl, const struct queue_envelope *envs, unsigned n)
{
	struct control_submit_msg *m = malloc(sizeof *m + n * sizeof m->envs[0]);
	if (m == NULL)
		return;
	m->n = n;
	memcpy(m->envs, envs, n * sizeof m->envs[0]);
	m->msg.handle = control_submit_handle;
	shard_post(&ctl->d->shards[(envs[0].id >> 32) % ctl->d->nshards], &m->msg);
}

/* On the main thread once the commit is durable (or failed): log, route
 * the envelopes to their shards, answer. */
static void
control_commit_finish(struct control_client *c)
{
	uint32_t msgid = (uint32_t)(c->envs[0].id >> 32);
	char text[64];
	c->committing = 0;
	if (c->sync_err == 0) {
		log_info("%016llx smtp message msgid=%08x size=%llu nrcpt=%u proto=local uid=%u",
		         (unsigned long long)c->id, msgid, (unsigned long long)c->envs[0].body_size,
		         c->nenvs, (unsigned)c->uid);
		for (unsigned i = 0; i < c->nenvs; i++)
			log_info("%016llx smtp envelope evpid=%016llx from=<%s> to=<%s>",
			         (unsigned long long)c->id, (unsigned long long)c->envs[i].id,
			         c->envs[i].sender, c->envs[i].rcpt);
		control_submit(c->ctl, c->envs, c->nenvs);
		struct metrics *m = &c->ctl->d->main_metrics;
		metrics_add(m, METRICS_SESSIONS_LOCAL, 1);
		metrics_add(m, METRICS_MESSAGES_ACCEPTED, 1);
		metrics_add(m, METRICS_ENVELOPES_QUEUED, c->nenvs);
		metrics_add(m, METRICS_MESSAGE_BYTES, c->envs[0].body_size);
		c->committed = 1;
		snprintf(text, sizeof text, "%08x", msgid);
		control_reply(c, CTL_OK, msgid, 250, text);
	} else {
		log_warn("%016llx control queue sync: %s", (unsigned long long)c->id,
		         strerror(-c->sync_err));
		c->tempfailed = 1;
		control_fail(c, 451, "4.3.0 Queue write failed, try again later");
	}
	free(c->envs);
	c->envs = NULL;
	c->nenvs = 0;
	control_txn_reset(c);
}

/* ---- show queue / envelope ---- */

/* OpenSMTPD's src field: local, inet4 or inet6. */
static const char *
control_src(const char *client)
{
	if (strncmp(client, "local", 5) == 0)
		return "local";
	return strchr(client, ':') ? "inet6" : "inet4";
}

/* OpenSMTPD's agent field, from the action's kind. */
static const char *
control_agent(const struct rules_config *cf, const char *action)
{
	const struct rules_action *a = rules_action_find(cf, action);
	if (a == NULL)
		return "?";
	return a->kind == RULES_ACTION_RELAY ? "mta" : "mda";
}

/* May this client see env? */
static int
control_may_see(const struct control_client *c, const struct queue_envelope *env)
{
	char mine[64];
	if (c->privileged)
		return 1;
	control_client_text(c->uid, mine, sizeof mine);
	return strcmp(env->client, mine) == 0;
}

/* One RECORD with show queue's fields for env. */
static int
control_queue_record(struct control_client *c, const struct queue_envelope *env, time_t now)
{
	char id[20], created[24], expire[24], retry[16], next[24];
	snprintf(id, sizeof id, "%016llx", (unsigned long long)env->id);
	snprintf(created, sizeof created, "%llu", (unsigned long long)env->created);
	snprintf(expire, sizeof expire, "%llu", (unsigned long long)env->expire);
	snprintf(retry, sizeof retry, "%u", env->retries);
	if (env->paused)   /* no next try until resumed */
		snprintf(next, sizeof next, "-1");
	else
		snprintf(next, sizeof next, "%lld", (long long)env->next_attempt - (long long)now);
	/* lasttry: the envelope does not record it yet (0, as for never) */
	const char *strs[] = {
		"evpid", id, "src", control_src(env->client),
		"agent", control_agent(c->ctl->config, env->action), "status", "",
		"sender", env->sender, "rcpt", env->rcpt, "dest", env->dest,
		"created", created, "expire", expire, "lasttry", "0", "retry", retry,
		"runstate", env->paused ? "paused" : "pending", "nexttry", next,
		"error", env->last_error,
	};
	return ctl_encode(&c->out, CTL_RECORD, env->id, 0, strs,
	                  sizeof strs / sizeof strs[0], NULL, 0);
}

struct control_walk {
	struct control_client *c;
	time_t now;
};

/* queue_walk() callback for show queue. */
static int
control_show_queue_one(void *arg, const struct queue_envelope *env)
{
	struct control_walk *w = arg;
	if (!control_may_see(w->c, env))
		return 0;
	return control_queue_record(w->c, env, w->now) < 0 ? -ENOMEM : 0;
}

/* show queue: a RECORD per envelope this client may see, then END. */
static void
control_on_show_queue(struct control_client *c, const struct ctl_msg *m)
{
	struct control_walk w = { c, time(NULL) };
	int err = queue_walk(c->ctl->d->queue, control_show_queue_one, &w);
	if (err < 0) {
		control_fail(c, 451, "queue walk failed");
		return;
	}
	control_reply(c, CTL_END, 0, 0, NULL);
}

/* OpenSMTPD's dsn-notify value: "never" or the asked ones joined by ",". */
static void
control_dsn_notify(uint8_t notify, char *out, size_t cap)
{
	if (notify & QUEUE_DSN_NOTIFY_NEVER) {
		snprintf(out, cap, "never");
		return;
	}
	snprintf(out, cap, "%s%s%s", notify & QUEUE_DSN_NOTIFY_SUCCESS ? "success," : "",
	         notify & QUEUE_DSN_NOTIFY_FAILURE ? "failure," : "",
	         notify & QUEUE_DSN_NOTIFY_DELAY ? "delay," : "");
	size_t n = strlen(out);
	if (n > 0)
		out[n - 1] = '\0';
}

/* Add key: value to a show envelope record when value is not empty (as
 * OpenSMTPD leaves unset fields out); n counts the strings. */
static void
control_field(const char **strs, size_t *n, const char *key, const char *value)
{
	if (value[0] == '\0')
		return;
	strs[(*n)++] = key;
	strs[(*n)++] = value;
}

/* show envelope ID: one RECORD with every field, or FAIL. */
static void
control_on_show_envelope(struct control_client *c, const struct ctl_msg *m)
{
	struct queue_envelope e;
	if (queue_envelope_load(c->ctl->d->queue, m->id, &e) < 0 || !control_may_see(c, &e)) {
		control_fail(c, 550, "no such envelope");
		return;
	}
	char id[20], msgid[12], created[24], expire[24], next[24], retries[16], size[24];
	snprintf(id, sizeof id, "%016llx", (unsigned long long)e.id);
	snprintf(msgid, sizeof msgid, "%08x", (unsigned)(e.id >> 32));
	snprintf(created, sizeof created, "%llu", (unsigned long long)e.created);
	snprintf(expire, sizeof expire, "%llu", (unsigned long long)e.expire);
	snprintf(next, sizeof next, "%llu", (unsigned long long)e.next_attempt);
	snprintf(retries, sizeof retries, "%u", e.retries);
	snprintf(size, sizeof size, "%llu", (unsigned long long)e.body_size);
	const char *fixed[] = {
		"version", "1", "evpid", id, "msgid", msgid,
		"type", control_agent(c->ctl->config, e.action), "action", e.action,
		"helo", e.helo, "client", e.client, "sender", e.sender, "rcpt", e.rcpt,
		"dest", e.dest, "ctime", created, "expire", expire, "nexttry", next,
		"retry", retries, "size", size, "errorline", e.last_error,
	};
	const char *strs[sizeof fixed / sizeof fixed[0] + 2 * 7];  /* and 7 optional */
	size_t n = sizeof fixed / sizeof fixed[0];
	memcpy(strs, fixed, sizeof fixed);
	char notify[32];
	control_dsn_notify(e.dsn_notify, notify, sizeof notify);
	control_field(strs, &n, "dsn-notify", notify);
	control_field(strs, &n, "dsn-ret", e.dsn_ret == QUEUE_DSN_RET_FULL ? "full" :
	                                   e.dsn_ret == QUEUE_DSN_RET_HDRS ? "hdrs" : "");
	control_field(strs, &n, "dsn-envid", e.dsn_envid);
	control_field(strs, &n, "dsn-orcpt", e.dsn_orcpt);
	control_field(strs, &n, "body", e.body == QUEUE_BODY_8BITMIME ? "8bitmime" :
	                                e.body == QUEUE_BODY_BINARYMIME ? "binarymime" : "");
	control_field(strs, &n, "smtputf8", e.smtputf8 ? "yes" : "");
	control_field(strs, &n, "postmaster-copy", e.postmaster_copy ? "yes" : "");
	if (ctl_encode(&c->out, CTL_RECORD, e.id, 0, strs, n, NULL, 0) < 0)
		c->dead = 1;
}

/* show message EVPID: the message as it is queued (the Received: line
 * this server added on top), in RECORD frames of at most a blob each, then
 * END. Unprivileged users only for the messages they submitted. */
static void
control_on_show_message(struct control_client *c, const struct ctl_msg *m)
{
	struct queue_envelope e;
	char *body = NULL;
	size_t len = 0;
	if (queue_envelope_load(c->ctl->d->queue, m->id, &e) < 0 || !control_may_see(c, &e)) {
		control_fail(c, 550, "no such envelope");
		return;
	}
	if (queue_body_load(c->ctl->d->queue, (uint32_t)(e.id >> 32), &body, &len) < 0) {
		control_fail(c, 451, "the message cannot be read from the queue");
		return;
	}
	for (size_t off = 0; off < len && !c->dead; off += CTL_BLOB_BYTES_MAX) {
		size_t n = len - off < CTL_BLOB_BYTES_MAX ? len - off : CTL_BLOB_BYTES_MAX;
		if (ctl_encode(&c->out, CTL_RECORD, e.id, 0, NULL, 0, body + off, n) < 0)
			c->dead = 1;
	}
	free(body);
	if (!c->dead && ctl_encode(&c->out, CTL_END, e.id, 0, NULL, 0, NULL, 0) < 0)
		c->dead = 1;
}

/* ---- operations that need every shard ---- */

/* Accept completions while smtp is paused: a connection that raced the
 * cancel is served; the accept is not re-armed. */
static void
control_accept_paused(struct core_op *op, int res, unsigned flags)
{
	struct shard_listener *l = container_of(op, struct shard_listener, accept_op);
	if (!(flags & IORING_CQE_F_MORE))
		l->armed = 0;
	if (res >= 0) {
		if (l->shard->stopping)
			close(res);
		else
			session_accept(l->shard, res, l->index);
	}
}

/* On a shard: stop (paused) or restart accepting on its listeners. */
static void
control_smtp_pause(struct control *ctl, struct shard *sh, int paused)
{
	if (ctl->accept_complete == NULL)
		return;   /* no listener at start: nothing to pause */
	for (unsigned i = 0; i < sh->nlisteners && !sh->stopping; i++) {
		struct shard_listener *l = &sh->listeners[i];
		if (l->fd < 0)
			continue;
		if (paused) {
			l->accept_op.complete = control_accept_paused;
			if (l->armed) {
				struct io_uring_sqe *sqe = shard_sqe(sh);
				io_uring_prep_cancel(sqe, &l->accept_op, 0);
				io_uring_sqe_set_data(sqe, NULL);
			}
			continue;
		}
		l->accept_op.complete = ctl->accept_complete;
		if (!l->armed) {
			struct io_uring_sqe *sqe = shard_sqe(sh);
			io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
			io_uring_sqe_set_data(sqe, &l->accept_op);
			l->armed = 1;
		}
	}
}

/* On each shard: do this shard's part of the operation, acknowledge. */
static void
control_shard_handle(struct shard *sh, struct shard_msg *msg)
{
	struct control *ctl = container_of(msg, struct control_shard_msg, msg)->ctl;
	long r = 0;
	switch (ctl->op) {
	case CONTROL_OP_STATS:
		ctl->op_sessions[sh->index] = sh->nsessions;
		break;
	case CONTROL_OP_ROUTES:
		relay_ctl_show(sh, ctl->op_agent, &ctl->op_records[sh->index]);
		break;
	case CONTROL_OP_RESUME_ROUTE:
		r = relay_ctl_resume_route(sh, ctl->op_id, ctl->op_agent);
		break;
	case CONTROL_OP_MTA_BLOCK:
		if (!ctl->op_paused)
			delivery_ctl_rescan(sh);
		break;
	case CONTROL_OP_HOSTSTATS:
		delivery_ctl_hoststats(sh, &ctl->op_records[sh->index]);
		break;
	case CONTROL_OP_PAUSE:
		if (ctl->op_agent == CTL_AGENT_SMTP)
			control_smtp_pause(ctl, sh, ctl->op_paused);
		else
			r = delivery_ctl_pause(sh, ctl->op_agent, ctl->op_paused);
		break;
	case CONTROL_OP_NONE:
		break;
	}
	if (r == -ENOSYS)
		atomic_store(&ctl->op_nosys, 1);
	else if (r > 0)
		atomic_fetch_add(&ctl->op_result, r);
	atomic_fetch_add(&ctl->op_acks, 1);
	control_wake(ctl);
}

/* Start an operation on every shard for c. Returns 0, or -EBUSY when one
 * is already in flight (the request waits in c's buffer). */
static int
control_op_start(struct control_client *c, enum control_op op)
{
	struct control *ctl = c->ctl;
	if (ctl->op != CONTROL_OP_NONE)
		return -EBUSY;
	ctl->op = op;
	ctl->op_client = c;
	c->waiting_op = 1;
	atomic_store(&ctl->op_acks, 0);
	atomic_store(&ctl->op_result, 0);
	atomic_store(&ctl->op_nosys, 0);
	for (unsigned i = 0; i < ctl->d->nshards; i++) {
		ctl->shard_msgs[i].ctl = ctl;
		ctl->shard_msgs[i].msg.handle = control_shard_handle;
		shard_post(&ctl->d->shards[i], &ctl->shard_msgs[i].msg);
	}
	return 0;
}

struct control_kv {
	char key[48];
	char val[48];
};

/* qsort: by key, as OpenSMTPD prints its stats tree. */
static int
control_kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct control_kv *)a)->key, ((const struct control_kv *)b)->key);
}

/* OpenSMTPD's uptime.human: 1d2h3m4s, zero parts left out. */
static void
control_duration_text(long long t, char *buf, size_t cap)
{
	size_t n = 0;
	long long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, s = t % 60;
	buf[0] = '\0';
	if (t == 0)
		snprintf(buf, cap, "0s");
	if (d)
		n += (size_t)snprintf(buf + n, cap - n, "%lldd", d);
	if (h)
		n += (size_t)snprintf(buf + n, cap - n, "%lldh", h);
	if (m)
		n += (size_t)snprintf(buf + n, cap - n, "%lldm", m);
	if (s)
		snprintf(buf + n, cap - n, "%llds", s);
}

/* Every shard answered the stats operation: one RECORD of counters,
 * OpenSMTPD's names where they exist and ringmta.* for our own. */
static void
control_stats_reply(struct control_client *c)
{
	struct control *ctl = c->ctl;
	struct control_kv kv[CONTROL_KV_MAX];
	unsigned n = 0, sessions = 0;
	long long up = (long long)(time(NULL) - ctl->started);
	for (unsigned i = 0; i < ctl->d->nshards && n < CONTROL_KV_MAX - CONTROL_KV_COUNTERS; i++) {
		sessions += ctl->op_sessions[i];
		snprintf(kv[n].key, sizeof kv[n].key, "ringmta.shard.%u.session", i);
		snprintf(kv[n].val, sizeof kv[n].val, "%u", ctl->op_sessions[i]);
		n++;
	}
	struct metrics_snapshot ms;   /* the queue's count and syncs come with it */
	daemon_metrics(ctl->d, &ms);
#define CONTROL_KV(k, ...) do { snprintf(kv[n].key, sizeof kv[n].key, "%s", k); \
	snprintf(kv[n].val, sizeof kv[n].val, __VA_ARGS__); n++; } while (0)
	CONTROL_KV("control.session", "%u", ctl->nclients);
	CONTROL_KV("scheduler.envelope", "%llu", (unsigned long long)ms.queue_envelopes);
	CONTROL_KV("smtp.session", "%u", sessions);
	CONTROL_KV("ringmta.shards", "%u", ctl->d->nshards);
	CONTROL_KV("ringmta.queue.fsync", "%llu", (unsigned long long)ms.queue_fsyncs);
	CONTROL_KV("ringmta.queue.bad_records", "%llu",
	           (unsigned long long)queue_bad_records(ctl->d->queue));
	const uint64_t *k = ms.counter;
#define CONTROL_KVN(key, v) CONTROL_KV(key, "%llu", (unsigned long long)(v))
	CONTROL_KVN("scheduler.delivery.ok", k[METRICS_MDA_OK] + k[METRICS_MTA_OK]);
	CONTROL_KVN("scheduler.delivery.tempfail", k[METRICS_MDA_TEMPFAIL] + k[METRICS_MTA_TEMPFAIL]);
	CONTROL_KVN("scheduler.delivery.permfail", k[METRICS_MDA_PERMFAIL] + k[METRICS_MTA_PERMFAIL]);
	CONTROL_KVN("scheduler.delivery.expired", k[METRICS_EXPIRED]);
	CONTROL_KVN("smtp.session.inet4", k[METRICS_SESSIONS_INET4]);
	CONTROL_KVN("smtp.session.inet6", k[METRICS_SESSIONS_INET6]);
	CONTROL_KVN("smtp.session.local", k[METRICS_SESSIONS_LOCAL]);
	CONTROL_KVN("ringmta.smtp.message.accepted", k[METRICS_MESSAGES_ACCEPTED]);
	CONTROL_KVN("ringmta.smtp.message.bytes", k[METRICS_MESSAGE_BYTES]);
	CONTROL_KVN("ringmta.smtp.rcpt.accepted", k[METRICS_RCPT_ACCEPTED]);
	CONTROL_KVN("ringmta.smtp.rcpt.refused", k[METRICS_RCPT_REFUSED]);
	CONTROL_KVN("ringmta.smtp.tls.ok", k[METRICS_TLS_OK]);
	CONTROL_KVN("ringmta.smtp.tls.failed", k[METRICS_TLS_FAILED]);
	CONTROL_KVN("ringmta.mda.ok", k[METRICS_MDA_OK]);
	CONTROL_KVN("ringmta.mda.tempfail", k[METRICS_MDA_TEMPFAIL]);
	CONTROL_KVN("ringmta.mda.permfail", k[METRICS_MDA_PERMFAIL]);
	CONTROL_KVN("ringmta.mta.ok", k[METRICS_MTA_OK]);
	CONTROL_KVN("ringmta.mta.tempfail", k[METRICS_MTA_TEMPFAIL]);
	CONTROL_KVN("ringmta.mta.permfail", k[METRICS_MTA_PERMFAIL]);
	CONTROL_KVN("ringmta.deferred.remote-4xx", k[METRICS_DEFER_REPLY]);
	CONTROL_KVN("ringmta.deferred.connection", k[METRICS_DEFER_CONNECTION]);
	CONTROL_KVN("ringmta.deferred.local", k[METRICS_MDA_TEMPFAIL]);
	CONTROL_KVN("ringmta.queue.enqueued", k[METRICS_ENVELOPES_QUEUED]);
	CONTROL_KVN("ringmta.queue.removed", k[METRICS_REMOVED]);
	CONTROL_KVN("ringmta.queue.reports", k[METRICS_BOUNCES]);
	CONTROL_KVN("ringmta.smtp.loops", k[METRICS_LOOPS]);
	CONTROL_KVN("ringmta.queue.inflight", ms.gauge[METRICS_HELD] > 0 ? ms.gauge[METRICS_HELD] : 0);
	CONTROL_KVN("ringmta.queue.quarantined", ms.queue_quarantined);
#undef CONTROL_KVN
	uint64_t geo[GEOIP_STATS_SLOTS] = { 0 };
	struct geoip_stats_row rows[GEOIP_STATS_ROWS_MAX];
	for (unsigned i = 0; i < ctl->d->nshards; i++)
		geoip_stats_sum(&ctl->d->shards[i].geo_stats, geo);
	for (unsigned i = 0, nr = geoip_stats_report(geo, rows); i < nr; i++) {
		snprintf(kv[n].key, sizeof kv[n].key, "smtp.session.country.%s", rows[i].key);
		snprintf(kv[n++].val, sizeof kv[0].val, "%llu", (unsigned long long)rows[i].n);
	}
	{
		char pk[12][48], pv[12][48];
		unsigned np = control_ops_profile_stats(pk, pv, 12);
		for (unsigned i = 0; i < np; i++) {
			memcpy(kv[n].key, pk[i], sizeof kv[n].key);
			memcpy(kv[n].val, pv[i], sizeof kv[n].val);
			n++;
		}
	}
	CONTROL_KV("uptime", "%lld", up);
	control_duration_text(up, kv[n].val, sizeof kv[n].val);
	snprintf(kv[n++].key, sizeof kv[0].key, "uptime.human");
#undef CONTROL_KV
	qsort(kv, n, sizeof kv[0], control_kv_cmp);
	const char *strs[2 * CONTROL_KV_MAX];
	for (unsigned i = 0; i < n; i++) {
		strs[2 * i] = kv[i].key;
		strs[2 * i + 1] = kv[i].val;
	}
	if (ctl_encode(&c->out, CTL_RECORD, 0, 0, strs, 2 * n, NULL, 0) < 0)
		c->dead = 1;
}

/* Every shard listed its routes, hosts or relays: their RECORDs, END. */
static void
control_routes_reply(struct control_client *c)
{
	struct control *ctl = c->ctl;
	for (unsigned i = 0; i < ctl->d->nshards; i++) {
		struct ctl_buf *b = &ctl->op_records[i];
		int err = b->err || ctl_buf_append(&c->out, b->p, b->len) < 0;
		ctl_buf_free(b);
		if (err) {
			for (unsigned j = i + 1; j < ctl->d->nshards; j++)
				ctl_buf_free(&ctl->op_records[j]);
			c->dead = 1;   /* half a reply: the client sees the end */
			return;
		}
	}
	control_reply(c, CTL_END, 0, 0, NULL);
}

/* Every shard acknowledged: answer the client that asked. */
static void
control_op_finish(struct control *ctl)
{
	struct control_client *c = ctl->op_client;
	enum control_op op = ctl->op;
	if (ctl->profile_imsg && ctl->op_started_ns != 0)
		log_info("profile imsg: %016llx %s took %.3f ms (every shard)",
		         (unsigned long long)c->id, ctl_type_name(ctl->op_request),
		         (double)(control_now_ns() - ctl->op_started_ns) / 1e6);
	ctl->op_started_ns = 0;
	ctl->op = CONTROL_OP_NONE;
	ctl->op_client = NULL;
	c->waiting_op = 0;
	if (op == CONTROL_OP_STATS) {
		control_stats_reply(c);
		return;
	}
	if (op == CONTROL_OP_ROUTES) {
		control_routes_reply(c);
		return;
	}
	if (op == CONTROL_OP_HOSTSTATS) {
		control_ops_hoststats(ctl->op_records, ctl->d->nshards, &c->out);
		for (unsigned i = 0; i < ctl->d->nshards; i++)
			ctl_buf_free(&ctl->op_records[i]);
		return;
	}
	if (op == CONTROL_OP_MTA_BLOCK) {
		free(ctl->op_old_blocks);   /* no shard still reads it */
		ctl->op_old_blocks = NULL;
		control_reply(c, CTL_OK, 0, 0, NULL);
		return;
	}
	if (op == CONTROL_OP_RESUME_ROUTE) {
		if (atomic_load(&ctl->op_result) == 0) {
			control_fail(c, 404, "no such route (smtpctl show routes lists them)");
			return;
		}
		log_info("control: resume route %016llx.%u by uid %u",
		         (unsigned long long)ctl->op_id, ctl->op_agent, (unsigned)c->uid);
		control_reply(c, CTL_OK, 1, 0, NULL);
		return;
	}
	if (atomic_load(&ctl->op_nosys)) {
		control_fail(c, 502, "not available yet: pausing deliveries needs the "
		                     "scheduler's hook (core/delivery.c)");
		return;
	}
	if (op == CONTROL_OP_PAUSE) {
		ctl->paused[ctl->op_agent] = ctl->op_paused;
		log_info("control: %s %s", ctl->op_paused ? "pause" : "resume",
		         ctl->op_agent == CTL_AGENT_MDA ? "mda" :
		         ctl->op_agent == CTL_AGENT_MTA ? "mta" : "smtp");
	}
	control_reply(c, CTL_OK, (uint64_t)atomic_load(&ctl->op_result), 0, NULL);
}

/* ---- schedule and remove, through the queue ---- */

struct control_sel_walk {
	struct control_client *c;
	uint8_t type;           /* CTL_SCHEDULE or CTL_REMOVE */
	uint32_t sel;
	uint64_t id;
	uint64_t now;
	uint64_t count;
};

/* Does env fall under the selector? */
static int
control_selected(const struct control_sel_walk *w, const struct queue_envelope *env)
{
	switch (w->sel) {
	case CTL_SEL_MSGID: return (env->id >> 32) == w->id;
	case CTL_SEL_EVPID: return env->id == w->id;
	default: return 1;
	}
}

/* Apply schedule or remove to one envelope. The shards find the change in
 * the schedule index at their next scan: a scheduled envelope is due at
 * now + 1, after every key a scan has passed; an attempt already running
 * for a removed one ends without rewriting it (queue_envelope_update()
 * answers -ENOENT once it is gone). */
static int
control_sel_one(void *arg, const struct queue_envelope *env)
{
	struct control_sel_walk *w = arg;
	if (!control_selected(w, env))
		return 0;
	struct queue *q = w->c->ctl->d->queue;
	int err;
	if (w->type == CTL_REMOVE) {
		err = queue_envelope_delete(q, env->id);
		if (err == 0) {
			log_info("%016llx envelope removed by uid %u", (unsigned long long)env->id,
			         (unsigned)w->c->uid);
			metrics_add(&w->c->ctl->d->main_metrics, METRICS_REMOVED, 1);
		}
	} else if (w->type == CTL_PAUSE_ENVELOPE || w->type == CTL_RESUME_ENVELOPE) {
		int pause = w->type == CTL_PAUSE_ENVELOPE;
		if (env->paused == pause)
			return 0;   /* already so: not counted */
		struct queue_envelope next = *env;
		next.paused = (uint8_t)pause;
		next.next_attempt = pause ? QUEUE_PAUSED_AT : w->now + 1;   /* as schedule */
		err = queue_envelope_update(q, env, &next);
	} else if (env->paused || env->next_attempt <= w->now) {
		return 0;   /* paused: only resume moves it; due already: nothing to do */
	} else {
		struct queue_envelope next = *env;
		next.next_attempt = w->now + 1;
		err = queue_envelope_update(q, env, &next);
	}
	if (err == 0)
		w->count++;
	else if (err != -ENOENT)
		log_warn("%016llx control %s: %s", (unsigned long long)env->id,
		         ctl_type_name(w->type), queue_strerror(q));
	return 0;
}

/* schedule ID|all and remove ID|all: OK with the number of envelopes. */
static void
control_on_select(struct control_client *c, const struct ctl_msg *m)
{
	struct control_sel_walk w = { .c = c, .type = m->type, .sel = m->arg, .id = m->id,
	                              .now = (uint64_t)time(NULL) };
	struct queue_envelope env;
	int err = 0;
	if (m->arg == CTL_SEL_EVPID) {
		err = queue_envelope_load(c->ctl->d->queue, m->id, &env);
		if (err == 0)
			control_sel_one(&w, &env);
		else if (err == -ENOENT)
			err = 0;
	} else {
		err = queue_walk(c->ctl->d->queue, control_sel_one, &w);
	}
	if (err < 0) {
		control_fail(c, 451, "queue walk failed");
		return;
	}
	if (m->type != CTL_REMOVE && w.count > 0)
		log_info("control: %llu envelope%s %s by uid %u", (unsigned long long)w.count,
		         w.count > 1 ? "s" : "", m->type == CTL_SCHEDULE ? "scheduled" :
		         m->type == CTL_PAUSE_ENVELOPE ? "paused" : "resumed", (unsigned)c->uid);
	control_reply(c, CTL_OK, w.count, 0, NULL);
}

/* schedule ID|all (privileged). */
static void
control_on_schedule(struct control_client *c, const struct ctl_msg *m)
{
	control_on_select(c, m);
}

/* remove ID|all (privileged). */
static void
control_on_remove(struct control_client *c, const struct ctl_msg *m)
{
	control_on_select(c, m);
}

/* ---- the command table ---- */

/* show status: which agents are paused, as OpenSMTPD prints it. */
static void
control_on_show_status(struct control_client *c, const struct ctl_msg *m)
{
	const int *p = c->ctl->paused;
	const char *strs[] = {
		"MDA", p[CTL_AGENT_MDA] ? "paused" : "running",
		"MTA", p[CTL_AGENT_MTA] ? "paused" : "running",
		"SMTP", p[CTL_AGENT_SMTP] ? "paused" : "running",
	};
	if (ctl_encode(&c->out, CTL_RECORD, 0, 0, strs, 6, NULL, 0) < 0)
		c->dead = 1;
}

/* SIGHUP to ourselves: the main loop's signalfd runs the usual reload. */
static void
control_on_reload(struct control_client *c, const struct ctl_msg *m)
{
	log_info("control: reload requested by uid %u", (unsigned)c->uid);
	if (kill(getpid(), SIGHUP) < 0) {
		control_fail(c, 451, strerror(errno));
		return;
	}
	control_reply(c, CTL_OK, 0, 0, NULL);
}

/* update table NAME: the file: table read again in the running config
 * (the main thread waits for every shard to pass a turn, as a reload). */
static void
control_on_update_table(struct control_client *c, const struct ctl_msg *m)
{
	char name[RULES_NAME_BYTES_MAX], why[RULES_ERROR_BYTES_MAX];
	if (ctl_str_copy(m, 0, name, sizeof name) < 0 || name[0] == '\0') {
		control_fail(c, 501, "5.5.4 Invalid table name");
		return;
	}
	long n = daemon_update_table(c->ctl->d, c->ctl->config, name, why, sizeof why);
	if (n < 0) {
		log_warn("control: update table %s refused, the table stays as it was: %s", name, why);
		control_fail(c, 550, why);
		return;
	}
	log_info("control: table %s updated by uid %u: %ld entr%s", name, (unsigned)c->uid, n,
	         n == 1 ? "y" : "ies");
	control_reply(c, CTL_OK, (uint64_t)n, 0, NULL);
}

/* update geoip: the geoip databases read again (the old ones kept when
 * a file fails), swapped in as daemon_update_geoip() says. */
static void
control_on_update_geoip(struct control_client *c, const struct ctl_msg *m)
{
	(void)m;
	char why[RULES_PATH_BYTES_MAX + 256];
	if (daemon_update_geoip(c->ctl->d, c->ctl->config, why, sizeof why) < 0) {
		log_warn("control: update geoip refused, keeping the databases loaded before: %s",
		         why);
		control_fail(c, 550, why);
		return;
	}
	log_info("control: geoip databases read again by uid %u", (unsigned)c->uid);
	control_reply(c, CTL_OK, 0, 0, NULL);
}

/* log brief|verbose: switch debug lines off or on. */
static void
control_on_log(struct control_client *c, const struct ctl_msg *m)
{
	const struct main_options *o = c->ctl->o;
	log_init(o->foreground || o->check_only, (int)m->arg);
	log_info("control: log %s", m->arg ? "verbose" : "brief");
	control_reply(c, CTL_OK, 0, 0, NULL);
}

/* discover, trace, profile, show mta paused: core/control_ops.c. */
static void
control_on_discover(struct control_client *c, const struct ctl_msg *m)
{
	control_ops_discover(c->ctl->d, m, c->uid, &c->out);
}

static void
control_on_trace(struct control_client *c, const struct ctl_msg *m)
{
	control_ops_trace(m, c->uid, &c->out);
}

static void
control_on_profile(struct control_client *c, const struct ctl_msg *m)
{
	control_ops_profile(m, c->uid, &c->ctl->profile_imsg, &c->out);
}

static void
control_on_show_mta_block(struct control_client *c, const struct ctl_msg *m)
{
	(void)m;
	control_ops_show_mta_block(&c->out);
}

/* Requests that need every shard. Returns 0, or -EBUSY to retry later. */
static int
control_on_shard_op(struct control_client *c, const struct ctl_msg *m)
{
	struct control *ctl = c->ctl;
	if (ctl->op != CONTROL_OP_NONE)
		return -EBUSY;
	switch (m->type) {
	case CTL_SHOW_STATS:
		return control_op_start(c, CONTROL_OP_STATS);
	case CTL_SHOW_ROUTES:
		ctl->op_agent = m->arg;
		return control_op_start(c, CONTROL_OP_ROUTES);
	case CTL_RESUME_ROUTE:
		ctl->op_agent = m->arg;
		ctl->op_id = m->id;
		return control_op_start(c, CONTROL_OP_RESUME_ROUTE);
	case CTL_SHOW_HOSTSTATS:
		return control_op_start(c, CONTROL_OP_HOSTSTATS);
	case CTL_MTA_BLOCK:
	case CTL_MTA_UNBLOCK:
		if (!control_ops_mta_block(m, c->uid, &ctl->op_old_blocks, &c->out))
			return 0;   /* refused: the FAIL is queued */
		ctl->op_paused = m->type == CTL_MTA_BLOCK;
		return control_op_start(c, CONTROL_OP_MTA_BLOCK);
	default:
		ctl->op_agent = m->arg;
		ctl->op_paused = m->type == CTL_PAUSE;
		return control_op_start(c, CONTROL_OP_PAUSE);
	}
}

struct control_cmd {
	uint8_t type;
	int anyone;       /* allowed to unprivileged users */
	int shard_op;     /* goes through control_on_shard_op */
	void (*run)(struct control_client *c, const struct ctl_msg *m);
};

static const struct control_cmd control_cmds[] = {
	{ CTL_SHOW_QUEUE, 1, 0, control_on_show_queue },
	{ CTL_SHOW_ENVELOPE, 1, 0, control_on_show_envelope },
	{ CTL_SHOW_MESSAGE, 1, 0, control_on_show_message },
	{ CTL_SHOW_STATS, 0, 1, NULL },
	{ CTL_SHOW_ROUTES, 0, 1, NULL },
	{ CTL_RESUME_ROUTE, 0, 1, NULL },
	{ CTL_SHOW_STATUS, 0, 0, control_on_show_status },
	{ CTL_SCHEDULE, 0, 0, control_on_schedule },
	{ CTL_REMOVE, 0, 0, control_on_remove },
	{ CTL_PAUSE_ENVELOPE, 0, 0, control_on_select },
	{ CTL_RESUME_ENVELOPE, 0, 0, control_on_select },
	{ CTL_PAUSE, 0, 1, NULL },
	{ CTL_RESUME, 0, 1, NULL },
	{ CTL_RELOAD, 0, 0, control_on_reload },
	{ CTL_LOG_VERBOSE, 0, 0, control_on_log },
	{ CTL_UPDATE_TABLE, 0, 0, control_on_update_table },
	{ CTL_UPDATE_GEOIP, 0, 0, control_on_update_geoip },
	{ CTL_MAIL, 1, 0, control_on_mail },
	{ CTL_RCPT, 1, 0, control_on_rcpt },
	{ CTL_DATA, 1, 0, control_on_data },
	{ CTL_DATA_END, 1, 0, control_on_data_end },
	{ CTL_DISCOVER, 0, 0, control_on_discover },
	{ CTL_TRACE, 0, 0, control_on_trace },
	{ CTL_UNTRACE, 0, 0, control_on_trace },
	{ CTL_PROFILE, 0, 0, control_on_profile },
	{ CTL_UNPROFILE, 0, 0, control_on_profile },
	{ CTL_SHOW_MTA_BLOCK, 0, 0, control_on_show_mta_block },
	{ CTL_MTA_BLOCK, 0, 1, NULL },
	{ CTL_MTA_UNBLOCK, 0, 1, NULL },
	{ CTL_SHOW_HOSTSTATS, 0, 1, NULL },
};

/* Run one checked request. Returns 0, or -EBUSY when it must wait. */
static int
control_dispatch(struct control_client *c, const struct ctl_msg *m)
{
	const struct control_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof control_cmds / sizeof control_cmds[0]; i++)
		if (control_cmds[i].type == m->type)
			cmd = &control_cmds[i];
	if (cmd == NULL) {
		control_fail(c, 500, "not a request");
		return 0;
	}
	if (!cmd->anyone && !c->privileged) {
		log_info("%016llx control refused %s for uid %u: not privileged",
		         (unsigned long long)c->id, ctl_type_name(m->type), (unsigned)c->uid);
		control_fail(c, 554, "permission denied: need root privileges");
		return 0;
	}
	if (cmd->shard_op)
		return control_on_shard_op(c, m);
	cmd->run(c, m);
	return 0;
}

/* Handle every complete frame c has buffered, unless it waits for a
 * commit or a shard operation. A malformed frame drops the client. */
static void
control_process(struct control_client *c)
{
	size_t off = 0;
	static struct ctl_msg m;    /* main thread only; large */
	while (!c->dead && !c->committing && !c->waiting_op) {
		size_t used = 0, need = 0;
		const char *why = "bad frame";
		int r = ctl_decode(c->in + off, c->in_len - off, &m, &used, &need);
		if (r == 0)
			break;
		if (r > 0 && ctl_check(&m, &why) == 0) {
			uint64_t t0 = c->ctl->profile_imsg ? control_now_ns() : 0;
			if (control_dispatch(c, &m) == -EBUSY)
				break;
			TRACE(CTL_TRACE_IMSG, "trace imsg: %016llx control %s from uid %u pid %d",
			      (unsigned long long)c->id, ctl_type_name(m.type), (unsigned)c->uid,
			      (int)c->pid);
			if (t0 != 0 && !c->waiting_op)
				log_info("profile imsg: %016llx %s took %.3f ms", (unsigned long long)c->id,
				         ctl_type_name(m.type), (double)(control_now_ns() - t0) / 1e6);
			else if (t0 != 0) {
				c->ctl->op_started_ns = t0;
				c->ctl->op_request = m.type;
			}
			off += used;
			continue;
		}
		log_warn("%016llx control: malformed request from uid %u pid %d (%s), dropping client",
		         (unsigned long long)c->id, (unsigned)c->uid, (int)c->pid,
		         r == -CTL_EVERSION ? "protocol version" :
		         r == -CTL_ETOOBIG ? "over a size limit" : why);
		c->dead = 1;
		break;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

/* ---- clients and the socket ---- */

/* Read what the socket has (bounded: one frame's worth beyond what waits). */
static void
control_client_read(struct control_client *c)
{
	for (;;) {
		if (c->in_len == c->in_cap) {
			if (c->in_cap >= CONTROL_IN_BYTES_MAX)
				return;   /* full: frames are handled first */
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			if (cap > CONTROL_IN_BYTES_MAX)
				cap = CONTROL_IN_BYTES_MAX;
			uint8_t *p = realloc(c->in, cap);
			if (p == NULL) {
				c->dead = 1;
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		c->dead = 1;   /* end of input or error: the client is gone */
		return;
	}
}

/* Send what is queued for c. */
static void
control_client_write(struct control_client *c)
{
	while (c->out.len > 0 && c->fd >= 0) {
		ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			ctl_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		c->dead = 1;
		return;
	}
}

/* A new client, not yet on the list. */
static struct control_client *
control_client_new(struct control *ctl, int fd, uid_t uid, pid_t pid)
{
	struct control_client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->ctl = ctl;
	c->fd = fd;
	c->uid = uid;
	c->pid = pid;
	c->privileged = uid == 0 || uid == geteuid() || uid == ctl->d->files_uid;
	c->id = daemon_id_new(ctl->d);
	return c;
}

/* Free a client that has nothing in flight. */
static void
control_client_free(struct control_client *c)
{
	control_txn_reset(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	rcpt_list_free(&c->rcpts);
	ctl_buf_free(&c->out);
	free(c);
}

/* Accept every waiting connection; who it is comes from SO_PEERCRED. */
static void
control_accept(struct control *ctl)
{
	for (;;) {
		int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		struct ucred cred;
		socklen_t len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("control: SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		struct control_client *c = NULL;
		if (ctl->nclients >= CONTROL_CLIENTS_MAX ||
		    (c = control_client_new(ctl, fd, cred.uid, cred.pid)) == NULL) {
			log_warn("control: too many clients, refusing uid %u", (unsigned)cred.uid);
			close(fd);
			continue;
		}
		log_debug("%016llx control connected uid=%u pid=%d", (unsigned long long)c->id,
		          (unsigned)cred.uid, (int)cred.pid);
		c->next = ctl->clients;
		ctl->clients = c;
		ctl->nclients++;
	}
}

/* End of a turn: free clients that are gone and have no commit in flight. */
static void
control_reap(struct control *ctl)
{
	struct control_client **pp = &ctl->clients;
	while (*pp != NULL) {
		struct control_client *c = *pp;
		if (!c->dead || c->committing || c->waiting_op) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		ctl->nclients--;
		control_client_free(c);
	}
}

/* The wake fd fired: finish commits and the shard operation that are done,
 * then let waiting clients go on. */
static void
control_completions(struct control *ctl)
{
	uint64_t v;
	if (read(ctl->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_warn("control: wake read: %s", strerror(errno));
	for (struct control_client *c = ctl->clients; c != NULL; c = c->next)
		if (c->committing && atomic_load(&c->synced))
			control_commit_finish(c);
	if (ctl->op != CONTROL_OP_NONE && atomic_load(&ctl->op_acks) == ctl->d->nshards)
		control_op_finish(ctl);
	for (struct control_client *c = ctl->clients; c != NULL; c = c->next)
		control_process(c);
}

/* Before poll(): the listening socket, the wake fd, then each client. */
unsigned
control_pollfds(struct control *ctl, struct pollfd *p, unsigned cap)
{
	unsigned n = 0;
	ctl->npolled = 0;
	if (cap < 2)
		return 0;
	p[n++] = (struct pollfd){ .fd = ctl->listen_fd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = ctl->wake_fd, .events = POLLIN };
	for (struct control_client *c = ctl->clients; c != NULL && n < cap; c = c->next) {
		short ev = 0;
		if (c->fd < 0 || c->dead)
			continue;
		if (c->in_len < CONTROL_IN_BYTES_MAX)
			ev |= POLLIN;
		if (c->out.len > 0)
			ev |= POLLOUT;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		ctl->polled[ctl->npolled++] = c;
	}
	return n;
}

/* After poll(): completions first, then client I/O, then new clients. */
void
control_serve(struct control *ctl, const struct pollfd *p, unsigned n,
              const struct rules_config *cur)
{
	ctl->config = cur;
	if (n >= 2 && (p[1].revents & POLLIN))
		control_completions(ctl);
	for (unsigned i = 2; i < n && i - 2 < ctl->npolled; i++) {
		struct control_client *c = ctl->polled[i - 2];
		if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
			control_client_read(c);
		control_process(c);
		control_client_write(c);
		if (c->dead && c->writer_open)
			control_txn_reset(c);
	}
	if (n >= 1 && (p[0].revents & POLLIN))
		control_accept(ctl);
	control_reap(ctl);
}

/* ---- opening, the offline folder, closing ---- */

/* The spool must be traversable for the 0666 socket to be reachable by
 * every user (OpenSMTPD's spool is 0711): add the x bits if it is ours. */
static void
control_spool_perms(const char *dir, uid_t owner)
{
	struct stat st;
	if (stat(dir, &st) < 0 || st.st_uid != owner || (st.st_mode & 0111) == 0111)
		return;
	if (chmod(dir, (st.st_mode & 07777) | 0111) < 0)
		log_warn("control: chmod %s: %s", dir, strerror(errno));
}

/* Create (or check) <queue>/offline: 1777 when smtpd was started as root
 * (any user may drop a file, only its owner, or the queue user who owns
 * the folder, may remove it), else 0700. A
 * symlink or a folder owned by someone else disables offline pickup. */
static void
control_offline_dir(struct control *ctl, const char *queue_path)
{
	mode_t want = ctl->d->privileged ? 01777 : 0700;
	struct stat st;
	snprintf(ctl->offline_path, sizeof ctl->offline_path, "%s/%s", queue_path,
	         CONTROL_OFFLINE_DIR);
	if (mkdir(ctl->offline_path, want) < 0 && errno != EEXIST)
		log_warn("control: mkdir %s: %s", ctl->offline_path, strerror(errno));
	if (lstat(ctl->offline_path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != ctl->d->files_uid) {
		log_warn("control: %s is not our folder: offline messages are not picked up",
		         ctl->offline_path);
		ctl->offline_path[0] = '\0';
		return;
	}
	if ((st.st_mode & 07777) != want && chmod(ctl->offline_path, want) < 0)
		log_warn("control: chmod %s: %s", ctl->offline_path, strerror(errno));
}

/* Bind <queue>/smtpd.sock, mode 0666. Returns 0 or -1 (logged). */
static int
control_bind(struct control *ctl, const char *queue_path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	if ((size_t)snprintf(ctl->sock_path, sizeof ctl->sock_path, "%s/%s", queue_path,
	                     CONTROL_SOCKET_NAME) >= sizeof ctl->sock_path) {
		log_warn("control: socket path %s/%s is too long", queue_path, CONTROL_SOCKET_NAME);
		ctl->sock_path[0] = '\0';
		return -1;
	}
	if (lstat(ctl->sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warn("control: %s exists and is not a socket", ctl->sock_path);
			ctl->sock_path[0] = '\0';
			return -1;
		}
		unlink(ctl->sock_path);   /* left by an earlier run: the queue lock is ours */
	}
	memcpy(sun.sun_path, ctl->sock_path, strlen(ctl->sock_path) + 1);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0 || bind(ctl->listen_fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    chmod(ctl->sock_path, 0666) < 0 || listen(ctl->listen_fd, CONTROL_CLIENTS_MAX) < 0) {
		log_warn("control: %s: %s", ctl->sock_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* At start, after the shards run: socket, offline folder, state. */
int
control_open(struct control **out, struct daemon *d, const struct main_options *o,
             const struct rules_config *c)
{
	struct control *ctl = calloc(1, sizeof *ctl);
	if (ctl == NULL)
		return -1;
	*out = ctl;
	ctl->d = d;
	ctl->o = o;
	ctl->config = c;
	ctl->started = time(NULL);
	ctl->listen_fd = -1;
	ctl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ctl->op_sessions = calloc(d->nshards, sizeof *ctl->op_sessions);
	ctl->shard_msgs = calloc(d->nshards, sizeof *ctl->shard_msgs);
	ctl->op_records = calloc(d->nshards, sizeof *ctl->op_records);
	if (ctl->wake_fd < 0 || ctl->op_sessions == NULL || ctl->shard_msgs == NULL ||
	    ctl->op_records == NULL) {
		log_warn("control: %s", strerror(errno ? errno : ENOMEM));
		return -1;
	}
	/* listener_arm_all() set it on the shard before the shard said it runs */
	if (d->nshards > 0 && d->shards[0].nlisteners > 0)
		ctl->accept_complete = d->shards[0].listeners[0].accept_op.complete;
	control_spool_perms(c->queue_path, ctl->d->files_uid);
	control_offline_dir(ctl, c->queue_path);
	if (control_bind(ctl, c->queue_path) < 0)
		return -1;
	log_info("control: listening on %s", ctl->sock_path);
	return 0;
}

/* Wait (bounded) until c's commit is durable or failed, then finish it. */
static void
control_wait_commit(struct control *ctl, struct control_client *c)
{
	while (!atomic_load(&c->synced)) {
		struct pollfd p = { .fd = ctl->wake_fd, .events = POLLIN };
		uint64_t v;
		if (poll(&p, 1, 1000) > 0 && read(ctl->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
			log_warn("control: wake read: %s", strerror(errno));
	}
	control_commit_finish(c);
}

/* Read the whole offline file fd into c's input. Returns 0 or -1. */
static int
control_offline_read(struct control_client *c, int fd, size_t size)
{
	c->in = malloc(size ? size : 1);
	if (c->in == NULL)
		return -1;
	c->in_cap = size ? size : 1;
	while (c->in_len < size) {
		ssize_t n = pread(fd, c->in + c->in_len, size - c->in_len, (off_t)c->in_len);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		c->in_len += (size_t)n;
	}
	return 0;
}

/* Open one offline file if it is a plain file of its own (not a symlink,
 * one link), else remove the entry. Returns 0 with f filled, or -1. */
static int
control_offline_check(int dfd, const char *name, struct control_offline_file *f)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (uint64_t)st.st_size > CONTROL_OFFLINE_BYTES_MAX) {
		if (fd < 0 && errno == EACCES) {
			log_warn("control: offline %s: %s, kept", name, strerror(errno));
			return -1;
		}
		log_warn("control: offline %s: not a plain file of its own, removed", name);
		if (fd >= 0)
			close(fd);
		unlinkat(dfd, name, 0);
		return -1;
	}
	snprintf(f->name, sizeof f->name, "%s", name);
	f->fd = fd;
	f->uid = st.st_uid;
	f->size = (size_t)st.st_size;
	return 0;
}

struct control_offline *
control_offline_open(const char *queue_path)
{
	char path[RULES_PATH_BYTES_MAX + 16];
	struct control_offline *off = calloc(1, sizeof *off);
	snprintf(path, sizeof path, "%s/%s", queue_path, CONTROL_OFFLINE_DIR);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int dfd2 = dfd < 0 ? -1 : dup(dfd);
	DIR *dir = dfd2 < 0 ? NULL : fdopendir(dfd2);
	if (off == NULL || dir == NULL ||
	    (off->files = calloc(CONTROL_OFFLINE_FILES_MAX, sizeof *off->files)) == NULL) {
		if (dir != NULL)
			closedir(dir);
		else if (dfd2 >= 0)
			close(dfd2);
		if (dfd >= 0)
			close(dfd);
		return off;   /* nothing to pick up (the first start, or no memory) */
	}
	struct dirent *de;
	while ((de = readdir(dir)) != NULL && off->n < CONTROL_OFFLINE_FILES_MAX)
		if (de->d_name[0] != '.' &&   /* dot files are still being written */
		    control_offline_check(dfd, de->d_name, &off->files[off->n]) == 0)
			off->n++;
	closedir(dir);
	close(dfd);
	return off;
}

/* Replay one offline file as if its owner had sent it on the socket.
 * Removed once durable in the queue, or when refused for good; kept when
 * the queue failed (tried again at the next start). */
static void
control_offline_one(struct control *ctl, int dfd, const struct control_offline_file *f,
                    unsigned *count)
{
	struct control_client *c = control_client_new(ctl, -1, f->uid, 0);
	if (c == NULL || control_offline_read(c, f->fd, f->size) < 0) {
		log_warn("control: offline %s: cannot read it, kept for the next start", f->name);
		if (c)
			control_client_free(c);
		return;
	}
	c->privileged = 0;   /* a file may only enqueue */
	for (;;) {
		control_process(c);
		if (!c->committing)
			break;
		control_wait_commit(ctl, c);
	}
	if (c->tempfailed) {
		log_warn("control: offline %s: %s, kept for the next start", f->name, c->last_fail);
	} else {
		if (!c->committed || c->dead || c->in_len > 0)
			log_warn("control: offline %s from uid %u refused: %s", f->name,
			         (unsigned)c->uid,
			         c->last_fail[0] ? c->last_fail : "malformed or truncated file");
		else
			(*count)++;
		if (dfd < 0 || unlinkat(dfd, f->name, 0) < 0)
			log_warn("control: offline %s: cannot remove it: %s", f->name, strerror(errno));
	}
	control_client_free(c);
}

void
control_offline_pickup(struct control *ctl, struct control_offline *off,
                       const struct rules_config *cur)
{
	unsigned count = 0;
	ctl->config = cur;
	if (off == NULL)
		return;
	int dfd = ctl->offline_path[0] == '\0' ? -1 :
	          open(ctl->offline_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	for (unsigned i = 0; i < off->n; i++) {
		control_offline_one(ctl, dfd, &off->files[i], &count);
		close(off->files[i].fd);
	}
	if (dfd >= 0)
		close(dfd);
	free(off->files);
	free(off);
	if (count > 0)
		log_info("control: %u offline message%s enqueued", count, count > 1 ? "s" : "");
}

/* At stop, before the shards stop: drop clients once nothing is in flight. */
void
control_close(struct control *ctl)
{
	if (ctl == NULL)
		return;
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->sock_path[0])
		unlink(ctl->sock_path);
	for (struct control_client *c = ctl->clients; c != NULL; c = c->next)
		c->dead = 1;
	/* commits and the shard operation in flight point at our memory */
	uint64_t deadline = shard_clock_ms() + CONTROL_CLOSE_WAIT_MS;
	for (;;) {
		int busy = ctl->op != CONTROL_OP_NONE;
		for (struct control_client *c = ctl->clients; c != NULL; c = c->next)
			busy |= c->committing;
		if (!busy)
			break;
		if (shard_clock_ms() > deadline) {
			log_warn("control: a commit or shard operation did not finish; not freed");
			return;
		}
		struct pollfd p = { .fd = ctl->wake_fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0)
			control_completions(ctl);
	}
	control_reap(ctl);
	close(ctl->wake_fd);
	free(ctl->op_sessions);
	free(ctl->op_records);
	free(ctl->shard_msgs);
	free(ctl);
}

/* ---- fallback until the scheduler provides its control hook ---- */

/* Pause or resume mda/mta: not available without core/delivery.c's hook. */
__attribute__((weak)) int
delivery_ctl_pause(struct shard *sh, unsigned agent, int paused)
{
	return -ENOSYS;
}
