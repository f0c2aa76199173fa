/*
 * bench/queue_bench_main.c - the queue micro-benchmark (build/queue_bench):
 * messages per second through queue/ without the network, per backend and
 * body size:
 *   enqueue   begin + append + commit, one recipient, a WAL sync every
 *             --group messages (the syncer's group commit)
 *   schedule  queue_due() over everything, loading each envelope
 *   dequeue   queue_body_load() of each message
 *   remove    queue_envelope_delete() (envelope, schedule entry, body)
 * and the start-up cost of a big queue:
 *   --fill N --dir D    queue N envelopes (4 per message, 512-byte bodies,
 *                       not due for a day) in D and leave them there
 *   --startup --dir D   time queue_open() and the first due scan on D, then
 *                       one scheduler tick's scan as if everything were due
 *                       (16384 keys = DELIVERY_SCAN_KEYS_MAX, half of them another
 *                       shard's)
 *
 *   queue_bench [--count N] [--group G] [--sizes 1024,102400]
 *               [--backend ram|rocksdb|both] [--encrypt] [--dir D]
 *
 * --count is for 1 KiB bodies; bigger bodies run count x 1 KiB / size
 * messages (at least BENCH_COUNT_MIN), so every size writes about as much.
 *
 * Prints one line per measurement: backend, body bytes, phase, count,
 * seconds, per second. RocksDB runs in a fresh folder under /tmp (or --dir)
 * that is removed afterwards, except with --fill.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"

#define BENCH_SIZES_MAX 8
#define BENCH_FILL_RCPTS 4
#define BENCH_FILL_BODY_BYTES 512
#define BENCH_COUNT_MIN 2000

struct bench_opts {
	unsigned count, group;
	size_t sizes[BENCH_SIZES_MAX];
	unsigned nsizes;
	const char *backend;
	const char *dir;
	int encrypt;
	unsigned long fill;
	int startup;
};

/* Seconds on CLOCK_MONOTONIC. */
static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One result line. */
static void
bench_report(const char *backend, size_t size, const char *phase, unsigned long n,
             double secs)
{
	printf("%-8s %7zu B  %-9s %8lu in %7.3f s  %10.0f /s\n", backend, size, phase, n,
	       secs, secs > 0 ? (double)n / secs : 0.0);
	fflush(stdout);
}

/* Open a queue or exit with the reason. */
static struct queue *
bench_open(const char *backend, const char *dir, int encrypt)
{
	struct queue_options o = { .backend = backend, .path = dir, .encryption = encrypt,
	                           .space_bytes_min = 1 };
	memset(o.encryption_key, 0x42, sizeof(o.encryption_key));
	struct queue *q;
	int err = queue_open(&q, &o);
	if (err < 0) {
		fprintf(stderr, "queue_bench: open %s: %s\n", backend, queue_strerror(NULL));
		exit(1);
	}
	return q;
}

/* Commit one message with nrcpt envelopes due at next; returns its msgid. */
static uint32_t
bench_put(struct queue *q, const char *body, size_t len, unsigned nrcpt, uint64_t next)
{
	struct queue_writer w;
	struct queue_envelope envs[BENCH_FILL_RCPTS];
	uint64_t seq;
	if (queue_body_begin(q, &w) < 0 || queue_body_append(&w, body, len) < 0) {
		fprintf(stderr, "queue_bench: write: %s\n", queue_strerror(q));
		exit(1);
	}
	for (unsigned i = 0; i < nrcpt; i++) {
		struct queue_envelope *e = &envs[i];
		memset(e, 0, sizeof(*e));
		e->id = queue_evpid_new(w.msgid);
		snprintf(e->sender, sizeof(e->sender), "bench@example.org");
		snprintf(e->rcpt, sizeof(e->rcpt), "rcpt%u@example.net", i);
		snprintf(e->dest, sizeof(e->dest), "rcpt%u@example.net", i);
		snprintf(e->action, sizeof(e->action), "relay");
		e->created = (uint64_t)time(NULL);
		e->expire = e->created + QUEUE_TTL_S_DEFAULT;
		e->next_attempt = next;
	}
	if (queue_commit(&w, envs, nrcpt, &seq) < 0) {
		fprintf(stderr, "queue_bench: commit: %s\n", queue_strerror(q));
		exit(1);
	}
	return w.msgid;
}

/* queue_due() filter: everything. */
static enum queue_due_want
bench_want(void *arg, uint64_t evpid)
{
	return QUEUE_DUE_TAKE;
}

/* queue_due() hand-over: remember the id. */
static void
bench_take(void *arg, const struct queue_envelope *env)
{
	uint64_t **p = arg;
	*(*p)++ = env->id;
}

/* queue_due() filter: the envelopes of even message ids (one of two shards). */
static enum queue_due_want
bench_want_half(void *arg, uint64_t evpid)
{
	return (evpid >> 32) % 2 == 0 ? QUEUE_DUE_TAKE : QUEUE_DUE_SKIP;
}

/* queue_due() hand-over: count. */
static void
bench_count(void *arg, const struct queue_envelope *env)
{
	(*(unsigned long *)arg)++;
}

/* The four phases for one backend and body size. */
static void
bench_run(const struct bench_opts *o, const char *backend, const char *dir, size_t size)
{
	struct bench_opts scaled = *o;
	if (size > 1024)
		scaled.count = (unsigned)((uint64_t)o->count * 1024 / size);
	if (scaled.count < BENCH_COUNT_MIN)
		scaled.count = o->count < BENCH_COUNT_MIN ? o->count : BENCH_COUNT_MIN;
	o = &scaled;
	struct queue *q = bench_open(backend, dir, o->encrypt);
	char *body = malloc(size);
	uint64_t *ids = calloc(o->count, sizeof(*ids)), *p = ids;
	uint32_t *msgids = calloc(o->count, sizeof(*msgids));
	for (size_t i = 0; i < size; i++)
		body[i] = (char)('a' + i % 26);
	double t = bench_now();
	for (unsigned i = 0; i < o->count; i++) {
		msgids[i] = bench_put(q, body, size, 1, 1);
		if ((i + 1) % o->group == 0 || i + 1 == o->count)
			queue_sync_now(q);
	}
	bench_report(backend, size, "enqueue", o->count, bench_now() - t);
	struct queue_due_cursor cur = { 0, 0 };
	t = bench_now();
	while (queue_due(q, 1, &cur, 4096, bench_want, bench_take, &p) == 0)
		;
	bench_report(backend, size, "schedule", (unsigned long)(p - ids), bench_now() - t);
	t = bench_now();
	for (unsigned i = 0; i < o->count; i++) {
		char *data;
		size_t len;
		if (queue_body_load(q, msgids[i], &data, &len) == 0)
			free(data);
	}
	bench_report(backend, size, "dequeue", o->count, bench_now() - t);
	t = bench_now();
	for (unsigned i = 0; i < o->count; i++)
		queue_envelope_delete(q, ids[i]);
	queue_sync_now(q);
	bench_report(backend, size, "remove", o->count, bench_now() - t);
	queue_close(q);
	free(body);
	free(ids);
	free(msgids);
}

/* --fill: queue o->fill envelopes in o->dir, not due for a day. */
static void
bench_fill(const struct bench_opts *o)
{
	struct queue *q = bench_open("rocksdb", o->dir, o->encrypt);
	char body[BENCH_FILL_BODY_BYTES];
	uint64_t later = (uint64_t)time(NULL) + 86400;
	unsigned long msgs = (o->fill + BENCH_FILL_RCPTS - 1) / BENCH_FILL_RCPTS;
	memset(body, 'x', sizeof(body));
	double t = bench_now();
	for (unsigned long i = 0; i < msgs; i++) {
		bench_put(q, body, sizeof(body), BENCH_FILL_RCPTS, later + i % 3600);
		if (i % 1000 == 999)
			queue_sync_now(q);
	}
	queue_sync_now(q);
	bench_report("rocksdb", sizeof(body), "fill", msgs * BENCH_FILL_RCPTS, bench_now() - t);
	t = bench_now();
	queue_close(q);
	bench_report("rocksdb", sizeof(body), "close", 1, bench_now() - t);
}

/* --startup: open o->dir and run the first due scan (nothing due). */
static void
bench_startup(const struct bench_opts *o)
{
	double t = bench_now();
	struct queue *q = bench_open("rocksdb", o->dir, o->encrypt);
	double opened = bench_now();
	bench_report("rocksdb", 0, "open", 1, opened - t);
	struct queue_due_cursor cur = { 0, 0 };
	unsigned long n = 0;
	int rc = queue_due(q, (uint64_t)time(NULL), &cur, 65536, bench_want, bench_count, &n);
	bench_report("rocksdb", 0, "first-scan", n, bench_now() - opened);
	if (rc < 0)
		fprintf(stderr, "queue_bench: scan: %s\n", queue_strerror(q));
	memset(&cur, 0, sizeof(cur));
	n = 0;
	double t2 = bench_now();
	rc = queue_due(q, UINT64_MAX - 1, &cur, 16384, bench_want_half, bench_count, &n);
	bench_report("rocksdb", 0, "tick-all-due", n, bench_now() - t2);
	queue_close(q);
}

/* nftw callback: remove one entry. */
static int
bench_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Parse "1024,102400" into o->sizes. */
static void
bench_sizes(struct bench_opts *o, char *list)
{
	o->nsizes = 0;
	for (char *tok = strtok(list, ","); tok && o->nsizes < BENCH_SIZES_MAX;
	     tok = strtok(NULL, ","))
		o->sizes[o->nsizes++] = strtoul(tok, NULL, 10);
}

/* Read the command line; exits on a bad one. */
static void
bench_args(struct bench_opts *o, int argc, char **argv)
{
	char deflt[] = "1024,102400";
	*o = (struct bench_opts){ .count = 20000, .group = 64, .backend = "both" };
	bench_sizes(o, deflt);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--encrypt") == 0) { o->encrypt = 1; continue; }
		if (strcmp(a, "--startup") == 0) { o->startup = 1; continue; }
		if (v == NULL)
			goto usage;
		i++;
		if (strcmp(a, "--count") == 0) o->count = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--group") == 0) o->group = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--sizes") == 0) bench_sizes(o, argv[i]);
		else if (strcmp(a, "--backend") == 0) o->backend = v;
		else if (strcmp(a, "--dir") == 0) o->dir = v;
		else if (strcmp(a, "--fill") == 0) o->fill = strtoul(v, NULL, 10);
		else goto usage;
	}
	if (o->count == 0 || o->group == 0 || ((o->fill || o->startup) && !o->dir))
		goto usage;
	return;
usage:
	fprintf(stderr, "usage: queue_bench [--count N] [--group G] [--sizes A,B] "
	        "[--backend ram|rocksdb|both] [--encrypt] [--dir D]\n"
	        "       queue_bench --fill N --dir D | --startup --dir D\n");
	exit(2);
}

/* See the top of the file. */
int
main(int argc, char **argv)
{
	struct bench_opts o;
	bench_args(&o, argc, argv);
	if (o.fill) {
		bench_fill(&o);
		return 0;
	}
	if (o.startup) {
		bench_startup(&o);
		return 0;
	}
	for (unsigned s = 0; s < o.nsizes; s++) {
		if (strcmp(o.backend, "rocksdb") != 0)
			bench_run(&o, "ram", NULL, o.sizes[s]);
		if (strcmp(o.backend, "ram") == 0)
			continue;
		char tmp[] = "/tmp/ringmta-bench-XXXXXX";
		const char *dir = o.dir ? o.dir : mkdtemp(tmp);
		if (dir == NULL) {
			perror("queue_bench: mkdtemp");
			return 1;
		}
		bench_run(&o, "rocksdb", dir, o.sizes[s]);
		if (o.dir == NULL)
			nftw(dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}
