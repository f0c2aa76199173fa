/*
 * core/daemon.c - the main thread: opens the queue, binds or adopts the
 * listening sockets, starts one shard per CPU, resumes the queue, tells
 * systemd it is ready, then waits for signals: SIGHUP reloads the
 * configuration (a bad one is refused and the old one keeps running),
 * SIGTERM/SIGINT stop accepting, let transactions finish, and exit.
 */
#include "core/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fsuid.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/auth_limit.h"
#include "core/control.h"
#include "core/delivery.h"
#include "core/geoip.h"
#include "core/mda_client.h"
#include "core/mda_auth.h"
#include "core/mda_forward.h"
#include "core/mda_helper.h"
#include "core/filter_spawn.h"
#include "core/metrics.h"
#include "core/metrics_http.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/main.h"
#include "core/session.h"
#include "core/shard.h"
#include "core/source_limit.h"
#include "core/systemd.h"
#include "core/mta_tls.h"
#include "core/tls.h"
#include "queue/queue.h"
#include "rules/rules.h"

#define DAEMON_STOP_GRACE_MS 10000

struct daemon_shard_msgs {
	struct shard_msg reload;
	struct shard_msg sync;
	struct shard_msg stop;
	const struct rules_config *config;
};

static struct daemon_shard_msgs *daemon_msgs;

uint64_t
daemon_id_new(struct daemon *d)
{
	return atomic_fetch_add(&d->session_ids, 1);
}

void
daemon_wake_main(struct daemon *d)
{
	uint64_t one = 1;
	if (write(d->main_wake_fd, &one, sizeof one) < 0)
		log_warn("wake main: %s", strerror(errno));
}

static void
daemon_stop_handle(struct shard *sh, struct shard_msg *msg)
{
	sh->stopping = 1;
	sh->stop_deadline_ms = shard_clock_ms() + DAEMON_STOP_GRACE_MS;
	listener_close_all(sh);
	session_shutdown_all(sh);
}

static void
daemon_reload_handle(struct shard *sh, struct shard_msg *msg)
{
	struct daemon_shard_msgs *m = container_of(msg, struct daemon_shard_msgs, reload);
	/* sessions open now keep the config they started with (their own hold) */
	const struct rules_config *old = sh->config;
	sh->config = m->config;   /* held for this shard by daemon_reload() */
	rules_release(old);
	atomic_fetch_add(&sh->daemon->config_acks, 1);
	daemon_wake_main(sh->daemon);
}

/* Pair each listen line with an inherited fd by name (tag or address as
 * written) or by address. Returns 0 with inh->n = 0 when not activated. */
static int
daemon_inherit(const struct rules_config *c, struct listener_inherited *inh)
{
	struct systemd_fd *fds = NULL;
	unsigned n = 0;
	if (systemd_listen_fds(&fds, &n) < 0) {
		log_warn("socket activation: %s", systemd_error());
		return -1;
	}
	inh->n = n;
	if (n == 0)
		return 0;
	inh->fds = malloc(c->nlisteners * sizeof *inh->fds + 1);
	for (unsigned i = 0; i < c->nlisteners; i++) {
		const struct rules_listener *l = &c->listeners[i];
		inh->fds[i] = -1;
		for (unsigned k = 0; k < n; k++) {
			if (systemd_fd_match(&fds[k], l->tag[0] ? l->tag : l->spec,
			                     (const struct sockaddr *)&l->addr, l->addr_len)) {
				inh->fds[i] = fds[k].fd;
				break;
			}
		}
		if (inh->fds[i] < 0)
			log_warn("socket activation: no socket passed for listen on %s (line %u)",
			         l->spec, l->line);
		else
			log_info("socket activation: listen on %s (line %u) uses fd %d",
			         l->spec, l->line, inh->fds[i]);
	}
	free(fds);
	return 0;
}

/* Wait until fn(d) holds, reading the wake fd between checks. */
static void
daemon_wait_main(struct daemon *d, int (*fn)(struct daemon *))
{
	while (!fn(d)) {
		uint64_t v;
		struct pollfd p = { .fd = d->main_wake_fd, .events = POLLIN };
		if (poll(&p, 1, 1000) > 0 && read(d->main_wake_fd, &v, sizeof v) < 0)
			log_warn("wake read: %s", strerror(errno));
	}
}

static int
daemon_all_started(struct daemon *d)
{
	return atomic_load(&d->shards_running) == d->nshards;
}

static int
daemon_all_acked(struct daemon *d)
{
	return atomic_load(&d->config_acks) == d->nshards;
}

static int
daemon_all_exited(struct daemon *d)
{
	return atomic_load(&d->shards_running) == 0;
}

static void
daemon_sync_handle(struct shard *sh, struct shard_msg *msg)
{
	atomic_fetch_add(&sh->daemon->config_acks, 1);
	daemon_wake_main(sh->daemon);
}

/* Return once every shard handled a message posted now: shards handle
 * messages between events, so a table lookup running before has ended. */
static void
daemon_sync_shards(struct daemon *d)
{
	atomic_store(&d->config_acks, 0);
	for (unsigned i = 0; i < d->nshards; i++) {
		daemon_msgs[i].sync.handle = daemon_sync_handle;
		shard_post(&d->shards[i], &daemon_msgs[i].sync);
	}
	daemon_wait_main(d, daemon_all_acked);
}

long
daemon_update_table(struct daemon *d, const struct rules_config *cur, const char *name,
                    char *why, size_t cap)
{
	struct rules_table_update u;
	struct rules_error err;
	if (rules_table_update_begin(cur, name, &u, &err) < 0) {
		snprintf(why, cap, "%s", err.message);
		return -1;
	}
	daemon_sync_shards(d);
	long entries = u.entries;
	rules_table_update_end(&u);
	return entries;
}

/* The GeoIP databases cur names, opened: 0 with *g (NULL when it names
 * none), or -1 with why. */
static int
daemon_geoip_open(const struct rules_config *cur, struct geoip **g, char *why, size_t cap)
{
	*g = NULL;
	if (cur->geoip_country[0] == '\0' && cur->geoip_asn[0] == '\0')
		return 0;
	return geoip_open(g, cur->geoip_country, cur->geoip_asn, why, cap);
}

int
daemon_update_geoip(struct daemon *d, const struct rules_config *cur, char *why, size_t cap)
{
	struct geoip *next;
	if (daemon_geoip_open(cur, &next, why, cap) < 0)
		return -1;
	struct geoip *old = atomic_exchange_explicit(&d->geoip, next, memory_order_acq_rel);
	daemon_sync_shards(d);   /* no lookup in old is still running */
	geoip_close(old);
	return 0;
}

/* At start, before the shards: a database that does not open is fatal. */
static void
daemon_geoip_start(struct daemon *d, const struct rules_config *c)
{
	char why[RULES_PATH_BYTES_MAX + 256];
	struct geoip *g;
	if (daemon_geoip_open(c, &g, why, sizeof why) < 0)
		log_fatal("%s: %s", c->file, why);
	atomic_store(&d->geoip, g);
	if (g != NULL)
		log_info("smtpd: geoip%s%s%s%s", c->geoip_country[0] ? " country " : "",
		         c->geoip_country, c->geoip_asn[0] ? " asn " : "", c->geoip_asn);
}

/* SIGHUP: load, check, compile; roll out to every shard; free the old. */
static const struct rules_config *
daemon_reload(struct daemon *d, const struct main_options *o, const struct rules_config *cur)
{
	systemd_notify_reloading();
	log_reopen();   /* -l FILE: a rotated log starts again at its name */
	char msg[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32];
	struct rules_config *next = main_load_config(o, msg, sizeof msg);
	if (next == NULL) {
		log_warn("reload refused, keeping the running configuration: %s", msg);
		systemd_notify_ready("reload refused: configuration error");
		return cur;
	}
	if (next->nlisteners != cur->nlisteners)
		log_warn("reload: listen on changes take effect at the next restart");
	if (main_queue_fixed_changed(cur, next))
		log_warn("reload: queue path, compression and encryption changes take effect "
		         "at the next restart");
	rules_queue_key_wipe(next);   /* the open queue keeps the key it started with */
	auth_limit_set_max(d->auth_fails, next->auth_failures_max);
	char tls_err[600];
	if (mta_tls_setup(d, next, tls_err, sizeof tls_err) < 0)
		log_warn("reload: relay TLS: %s (such relays fail for now; restart smtpd)", tls_err);
	atomic_store(&d->config_acks, 0);
	for (unsigned i = 0; i < d->nshards; i++) {
		daemon_msgs[i].config = rules_hold(next);
		daemon_msgs[i].reload.handle = daemon_reload_handle;
		shard_post(&d->shards[i], &daemon_msgs[i].reload);
	}
	daemon_wait_main(d, daemon_all_acked);
	/* the main thread's hold; the last session still under cur frees it */
	rules_release(cur);
	char geo_err[RULES_PATH_BYTES_MAX + 256];
	if (daemon_update_geoip(d, next, geo_err, sizeof geo_err) < 0)
		log_warn("reload: %s; keeping the geoip databases loaded before", geo_err);
	log_info("reload: configuration %s loaded", next->file);
	systemd_notify_ready("configuration reloaded");
	return next;
}

/* How many shards: one per CPU the daemon may run on (its affinity mask, so
 * `taskset -c 0 smtpd` or a cgroup cpuset gives one), at most
 * DAEMON_SHARDS_MAX. */
static int
daemon_alloc_shards(struct daemon *d)
{
	cpu_set_t set;
	long ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
	                                                        : sysconf(_SC_NPROCESSORS_ONLN);
	d->nshards = ncpu < 1 ? 1 : ncpu > DAEMON_SHARDS_MAX ? DAEMON_SHARDS_MAX : (unsigned)ncpu;
	d->shards = calloc(d->nshards, sizeof *d->shards);
	daemon_msgs = calloc(d->nshards, sizeof *daemon_msgs);
	d->sources = source_limit_new(d->nshards * SHARD_SESSIONS_MAX, 0);
	d->relay_hosts = source_limit_new(d->nshards * SHARD_SESSIONS_MAX, 1);
	d->auth_fails = auth_limit_new(AUTH_FAILURES_MAX, AUTH_FAILURE_WINDOW_MS);
	return d->shards == NULL || daemon_msgs == NULL || d->sources == NULL ||
	       d->relay_hosts == NULL ||
	       d->auth_fails == NULL ? -1 : 0;
}

/* Bind (or adopt from systemd) every shard's listening sockets; as root
 * this is done before privileges are dropped. */
static int
daemon_bind(struct daemon *d, const struct rules_config *c)
{
	struct listener_inherited inh = { 0 };
	if (daemon_inherit(c, &inh) < 0)
		return -1;
	for (unsigned i = 0; i < d->nshards; i++) {
		struct shard *sh = &d->shards[i];
		sh->index = i;
		sh->cpu = (int)i;
		sh->daemon = d;
		sh->config = rules_hold(c);
		if (listener_open(sh, c, &inh) < 0)
			return -1;
	}
	free(inh.fds);
	return 0;
}

/* The local-delivery helper, forked before threads, sockets and the
 * privilege drop: one socket per shard, one for ~/.forward files, one
 * for system users' passwords (SMTP AUTH) and one to start filter
 * processes (core/filter_spawn.c). */
static pid_t daemon_helper_pid = -1;

static void
daemon_start_helper(struct daemon *d)
{
	int fds[DAEMON_SHARDS_MAX + 3];
	char err[160];
	pid_t pid = mda_helper_start(d->nshards + 3, fds, err, sizeof err);
	if (pid < 0)
		log_fatal("%s", err);
	daemon_helper_pid = pid;
	for (unsigned i = 0; i < d->nshards; i++)
		if (mda_client_init(&d->shards[i], fds[i]) < 0)
			log_fatal("delivery helper: out of memory");
	mda_forward_init(fds[d->nshards]);
	mda_auth_init(fds[d->nshards + 1]);
	filter_spawn_init(fds[d->nshards + 2]);
}

static uid_t daemon_chown_uid;
static gid_t daemon_chown_gid;

/* One entry of the spool: chown it, except what users may drop there
 * (offline/: a hard link to someone else's file must never change owner)
 * and anything with more than one link. */
static int
daemon_chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_D && ftw->level == 1 && strcmp(path + ftw->base, "offline") == 0)
		return FTW_SKIP_SUBTREE;
	if (flag != FTW_D && st->st_nlink > 1)
		return FTW_CONTINUE;
	if (lchown(path, daemon_chown_uid, daemon_chown_gid) < 0)
		log_warn("chown %s: %s", path, strerror(errno));
	return FTW_CONTINUE;
}

/* Can uid/gid search every folder above path? */
static int
daemon_reachable(const char *path, uid_t uid, gid_t gid)
{
	char p[RULES_PATH_BYTES_MAX];
	snprintf(p, sizeof p, "%s", path);
	for (char *slash = strrchr(p, '/'); slash != NULL; slash = strrchr(p, '/')) {
		*slash = '\0';
		struct stat st;
		if (stat(p[0] ? p : "/", &st) < 0)
			return 0;
		int ok = st.st_uid == uid ? (st.st_mode & S_IXUSR) :
		         st.st_gid == gid ? (st.st_mode & S_IXGRP) : (st.st_mode & S_IXOTH);
		if (!ok)
			return 0;
		if (p[0] == '\0')
			break;
	}
	return 1;
}

void
daemon_metrics(struct daemon *d, struct metrics_snapshot *s)
{
	memset(s, 0, sizeof *s);
	for (unsigned i = 0; i < d->nshards; i++)
		metrics_sum(s, &d->shards[i].metrics);
	metrics_sum(s, &d->main_metrics);
	if (queue_count(d->queue, &s->queue_envelopes) < 0)
		s->queue_envelopes = 0;
	if (queue_quarantine_count(d->queue, &s->queue_quarantined) < 0)
		s->queue_quarantined = 0;
	s->queue_fsyncs = queue_syncer_syncs(d->queue);
	s->shards = d->nshards;
	s->start_time = (int64_t)d->started;
}

/* The queue user's entry: RINGMTA_QUEUE_USER, or the daemon's own user
 * when that does not exist (a machine set up before it was asked for) or
 * for the embedded default configuration. */
static struct passwd
daemon_queue_user(const struct passwd *pw, int demo, char *buf, size_t cap)
{
	struct passwd q, *res = NULL;
	if (!demo && getpwnam_r(RINGMTA_QUEUE_USER, &q, buf, cap, &res) == 0 && res != NULL &&
	    q.pw_uid != 0 && q.pw_gid != 0)
		return q;
	if (!demo)
		log_warn("queue user %s does not exist: the queue belongs to %s (useradd "
		         "--system --home-dir /var/empty --shell /usr/sbin/nologin %s; "
		         "./configure.py --install-deps does)", RINGMTA_QUEUE_USER, pw->pw_name,
		         RINGMTA_QUEUE_USER);
	return *pw;
}

/* Started as root: the spool becomes the queue user's, then the process
 * (every thread) becomes the unprivileged user for good, with the queue
 * user as its real, saved and file-system ids, so what it creates belongs
 * to the queue user and a process of the unprivileged user (a filter, say)
 * can neither read the queue nor signal the daemon. The helper keeps root. That user is
 * RINGMTA_USER, or for the embedded default configuration the owner of the
 * folder smtpd was started in (then the queue is that user's too). */
static void
daemon_drop_privileges(struct daemon *d, const struct main_options *o,
                       const struct rules_config *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096], qbuf[4096];
	int demo = o->file == NULL;
	uid_t demo_uid = main_default_uid(o);
	int found = demo && demo_uid != 0
	            ? getpwuid_r(demo_uid, &pw, buf, sizeof buf, &res) == 0 && res != NULL
	            : getpwnam_r(RINGMTA_USER, &pw, buf, sizeof buf, &res) == 0 && res != NULL;
	if (!found)
		log_fatal("user %s does not exist: create it (useradd --system --home-dir "
		          "/var/empty --shell /usr/sbin/nologin %s; ./configure.py --install-deps "
		          "does) or start smtpd as an ordinary user", RINGMTA_USER, RINGMTA_USER);
	struct passwd q = daemon_queue_user(&pw, demo, qbuf, sizeof qbuf);
	if (mkdir(c->queue_path, 0700) < 0 && errno != EEXIST)
		log_fatal("queue %s: %s", c->queue_path, strerror(errno));
	if (!daemon_reachable(c->queue_path, q.pw_uid, q.pw_gid)) {
		if (!demo)
			log_fatal("queue %s: %s cannot reach it (a folder above it is closed to that "
			          "user); choose a `queue path` it can enter", c->queue_path, q.pw_name);
		log_warn("the default configuration's spool %s is below a folder %s cannot "
		         "enter: staying root for this loopback-only demonstration",
		         c->queue_path, q.pw_name);
		return;
	}
	daemon_chown_uid = q.pw_uid;
	daemon_chown_gid = q.pw_gid;
	if (nftw(c->queue_path, daemon_chown_one, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0)
		log_fatal("queue %s: %s", c->queue_path, strerror(errno));
	/* effective: the daemon's user; real, saved and file-system: the queue
	 * user (access(2), which RocksDB uses, checks the real ids). setresuid()
	 * sets the file-system ids to the effective ones, and those are per
	 * thread: set them after it, before any thread starts. */
	if (setgroups(1, &pw.pw_gid) < 0 || setresgid(q.pw_gid, pw.pw_gid, q.pw_gid) < 0 ||
	    setresuid(q.pw_uid, pw.pw_uid, q.pw_uid) < 0)
		log_fatal("cannot become %s: %s", pw.pw_name, strerror(errno));
	setfsgid(q.pw_gid);
	setfsuid(q.pw_uid);
	if ((uid_t)setfsuid((uid_t)-1) != q.pw_uid || (gid_t)setfsgid((gid_t)-1) != q.pw_gid)
		log_fatal("cannot create files as %s", q.pw_name);
	if (pw.pw_uid != 0 && setuid(0) == 0)
		log_fatal("could regain root after dropping it: refusing to run");
	snprintf(d->user_name, sizeof d->user_name, "%s", pw.pw_name);
	snprintf(d->user_home, sizeof d->user_home, "%s", pw.pw_dir);
	d->files_uid = q.pw_uid;
	if (q.pw_uid != pw.pw_uid)
		log_info("smtpd: running as %s, the queue belongs to %s; local deliveries run "
		         "as their recipients", pw.pw_name, q.pw_name);
	else
		log_info("smtpd: running as %s; local deliveries run as their recipients",
		         pw.pw_name);
}

/* At exit, with every thread but this one gone: the queue user's ids
 * everywhere (an unprivileged process may take any of its own), so that a
 * tracer of the process's own making (LeakSanitizer's, in the sanitizer
 * build) may attach: with mixed ids only a privileged tracer can. */
static void
daemon_ids_uniform(void)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru == 0 ||
	    (ru == eu && ru == su && rg == eg && rg == sg))
		return;
	if (setresgid(rg, rg, rg) < 0 || setresuid(ru, ru, ru) < 0)
		log_warn("smtpd: cannot settle its ids at exit: %s", strerror(errno));
}

/* TLS contexts for the listeners that have TLS, made before privileges
 * are dropped: the private keys are read as root and live only in this
 * process's memory. A listener without pki uses the pki named after its
 * hostname (or the machine's), as OpenSMTPD does; client certificates are
 * checked against its `ca` (else the system store), required with
 * `verify`. */
static void
daemon_tls_setup(struct daemon *d, const struct rules_config *c)
{
	d->tls_ctx = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *d->tls_ctx);
	d->ntls_ctx = c->nlisteners;
	if (d->tls_ctx == NULL)
		log_fatal("out of memory");
	for (unsigned i = 0; i < c->nlisteners; i++) {
		const struct rules_listener *l = &c->listeners[i];
		if (l->tls == RULES_TLS_NONE)
			continue;
		if (tls_init() < 0)
			log_fatal("TLS library: cannot initialise");
		struct tls_pki pki[RULES_LISTENER_PKI_MAX];
		unsigned n = 0;
		const char *host = l->hostname[0] ? l->hostname : d->hostname;
		for (unsigned k = 0; k < l->npki || (k == 0 && l->npki == 0); k++) {
			const char *name = l->npki ? l->pki[k] : host;
			const struct rules_pki *p = rules_pki_find(c, name);
			if (p == NULL)
				log_fatal("%s:%u: listen on %s: no pki \"%s\" (declare `pki %s cert "
				          "FILE key FILE`, or name one with `pki NAME` on the listen line)",
				          c->file, l->line, l->spec, name, name);
			pki[n++] = (struct tls_pki){ p->name, p->cert, p->key };
		}
		char err[256], sid[32];
		snprintf(sid, sizeof sid, "ringmta-listener-%u", i);   /* resume on this one only */
		struct tls_server_params tp = {
			.protocols = l->tls_protocols,
			.ciphers = l->tls_ciphers,
			.client_verify = l->tls_verify,
			.ca_file = l->tls_ca[0] ? l->tls_ca : NULL,
			.session_id = sid,
		};
		d->tls_ctx[i] = tls_ctx_server_new(pki, n, &tp, err, sizeof err);
		if (d->tls_ctx[i] == NULL)
			log_fatal("%s:%u: listen on %s: %s", c->file, l->line, l->spec, err);
	}
}

/* Start the shards' threads and wait until each has its ring. */
static int
daemon_launch_shards(struct daemon *d)
{
	for (unsigned i = 0; i < d->nshards; i++) {
		int ret = shard_start(&d->shards[i]);
		if (ret < 0) {
			log_warn("shard %u: %s", i, strerror(-ret));
			return -1;
		}
	}
	daemon_wait_main(d, daemon_all_started);
	for (unsigned i = 0; i < d->nshards; i++) {
		if (d->shards[i].setup_error != 0) {
			log_warn("shard %u: %s", i, d->shards[i].setup_message);
			return -1;
		}
	}
	return 0;
}

/* Signals go to the main thread only: block them before threads start. */
static int
daemon_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	return signalfd(-1, set, SFD_CLOEXEC);
}

static void
daemon_stop(struct daemon *d)
{
	systemd_notify_stopping();
	log_info("smtpd: stopping: no new connections, finishing open transactions");
	for (unsigned i = 0; i < d->nshards; i++) {
		daemon_msgs[i].stop.handle = daemon_stop_handle;
		shard_post(&d->shards[i], &daemon_msgs[i].stop);
	}
	daemon_wait_main(d, daemon_all_exited);
	auth_stop();   /* a check still running posts to a shard not yet freed */
	for (unsigned i = 0; i < d->nshards; i++) {
		pthread_join(d->shards[i].thread, NULL);
		shard_free(&d->shards[i]);
	}
	free(d->shards);
	free(daemon_msgs);
	source_limit_free(d->sources);
	source_limit_free(d->relay_hosts);
	auth_limit_free(d->auth_fails);
	/* every shard closed its helper socket, and these close the last: the
	 * helper leaves; reap it */
	mda_forward_close();
	mda_auth_close();
	filter_spawn_close();
	if (daemon_helper_pid > 0)
		waitpid(daemon_helper_pid, NULL, 0);
	for (unsigned i = 0; i < d->ntls_ctx; i++)
		tls_ctx_free(d->tls_ctx[i]);
	free(d->tls_ctx);
	mta_tls_free(d);
}

int
daemon_run(const struct main_options *o, struct rules_config *c)
{
	struct daemon d;
	memset(&d, 0, sizeof d);
	main_identity(d.hostname, sizeof d.hostname, d.user_name, sizeof d.user_name,
	              d.user_home, sizeof d.user_home);
	atomic_store(&d.session_ids, ((uint64_t)getpid() << 40) | ((uint64_t)time(NULL) << 8));
	d.config = c;
	d.main_wake_fd = eventfd(0, EFD_CLOEXEC);
	sigset_t set;
	int sfd = daemon_signals(&set);
	if (d.main_wake_fd < 0 || sfd < 0)
		log_fatal("eventfd/signalfd: %s", strerror(errno));
	systemd_notify_init();
	d.privileged = geteuid() == 0;
	d.files_uid = geteuid();
	d.started = time(NULL);
	ssize_t exe_len = readlink("/proc/self/exe", d.exe, sizeof d.exe - 1);
	d.exe[exe_len > 0 ? exe_len : 0] = '\0';
	if (daemon_alloc_shards(&d) < 0)
		log_fatal("out of memory");

	auth_limit_set_max(d.auth_fails, c->auth_failures_max);
	daemon_start_helper(&d);
	if (daemon_bind(&d, c) < 0)
		log_fatal("cannot start (see the messages above)");
	daemon_tls_setup(&d, c);
	struct metrics_http *metrics = NULL;
	if (metrics_http_open(&metrics, &d, c) < 0)
		log_fatal("cannot start (see the messages above)");
	char tls_err[600];
	if (mta_tls_setup(&d, c, tls_err, sizeof tls_err) < 0)
		log_fatal("%s: relay TLS: %s", c->file, tls_err);
	struct control_offline *offline = control_offline_open(c->queue_path);
	if (d.privileged)
		daemon_drop_privileges(&d, o, c);
	daemon_geoip_start(&d, c);   /* as the user a reload reads them as */
	struct queue_options qo;
	main_queue_options(c, &qo);
	qo.warn = log_warn;
	int qerr = queue_open(&d.queue, &qo);
	explicit_bzero(qo.encryption_key, sizeof qo.encryption_key);
	rules_queue_key_wipe(c);   /* the queue keeps its own copy */
	if (qerr < 0)
		log_fatal("queue %s: %s", c->queue_path, queue_strerror(d.queue));
	if (c->queue_compression || c->queue_encryption)
		log_info("smtpd: queue%s%s", c->queue_compression ? " compression" : "",
		         c->queue_encryption ? " encryption" : "");
	if (queue_syncer_start(d.queue) < 0)
		log_fatal("queue syncer: cannot start");
	if (auth_start() < 0)
		log_fatal("authentication threads: %s", strerror(errno));
	if (daemon_launch_shards(&d) < 0)
		log_fatal("cannot start (see the messages above)");
	/* nothing to walk: each shard's first schedule scan finds what waits */
	struct control *ctl = NULL;
	if (control_open(&ctl, &d, o, c) < 0)
		log_fatal("control socket: cannot start (see the messages above)");
	control_offline_pickup(ctl, offline, c);
	for (unsigned i = 0; i < c->nlisteners; i++)
		log_info("smtpd: listening on %s port %u", c->listeners[i].spec,
		         ntohs(((struct sockaddr_in *)&c->listeners[i].addr)->sin_port));
	log_info("smtpd: ready: %u shards, queue %s", d.nshards, c->queue_path);
	systemd_notify_ready("accepting mail");
	uint64_t wd_usec = systemd_watchdog_usec();
	const struct rules_config *cur = c;
	for (;;) {
		struct pollfd p[1 + CONTROL_POLLFDS_MAX + METRICS_HTTP_POLLFDS] = {
			{ .fd = sfd, .events = POLLIN } };
		unsigned n = 1 + control_pollfds(ctl, p + 1, CONTROL_POLLFDS_MAX);
		unsigned nm = metrics_http_pollfds(metrics, p + n, METRICS_HTTP_POLLFDS);
		int timeout = wd_usec ? (int)(wd_usec / 2000) : -1;
		int mt = metrics_http_timeout_ms(metrics);
		if (mt >= 0 && (timeout < 0 || mt < timeout))
			timeout = mt;
		int r = poll(p, n + nm, timeout);
		if (wd_usec)
			systemd_notify_watchdog();
		metrics_http_serve(metrics, p + n, nm);   /* deadlines, also after a timeout */
		if (r <= 0)
			continue;
		control_serve(ctl, p + 1, n - 1, cur);
		struct signalfd_siginfo si;
		if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof si) != sizeof si)
			continue;
		if (si.ssi_signo == SIGHUP) {
			cur = daemon_reload(&d, o, cur);
			continue;
		}
		break;
	}
	control_close(ctl);
	metrics_http_close(metrics);
	daemon_stop(&d);
	queue_close(d.queue);
	geoip_close(atomic_load(&d.geoip));
	rules_release(cur);
	close(sfd);
	close(d.main_wake_fd);
	daemon_ids_uniform();
	log_info("smtpd: exiting");
	return 0;
}
