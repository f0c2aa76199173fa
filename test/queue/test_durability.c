/*
 * test/queue/test_durability.c - what survives on disk (RocksDB backend): a
 * synced commit outlives a killed process, an unsynced removal is durable a
 * second later all the same, orphan chunks are swept at open,
 * records that fail validation (envelope or body chunk) go to quarantine and
 * the rest of the queue carries on, the store's options and folders are what
 * the design says, open errors carry their text, and a store written in
 * another format is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <rocksdb/c.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/queue.h"
#include "test/queue/helpers.h"

static char *DIR;

/* Each test gets its own spool folder. */
static void
setup(void)
{
	DIR = tq_tmpdir();
}

/* Remove the spool folder, even after a failed assertion. */
static void
teardown(void)
{
	tq_rmtree(DIR);
	free(DIR);
	DIR = NULL;
}

/* Direct access to the RocksDB files, to look under the queue. */
struct raw {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[6];  /* default, bodies, envelopes, schedule,
	                                         * quarantine, meta */
};

/* Open the queue's RocksDB directly (the queue must be closed). */
static void
raw_open(struct raw *r, const char *dir)
{
	static const char *names[6] = { "default", "bodies", "envelopes", "schedule",
	                                "quarantine", "meta" };
	char path[512];
	char *err = NULL;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	r->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->opts, 1);
	rocksdb_options_set_create_missing_column_families(r->opts, 1);
	const rocksdb_options_t *cfo[6] = { r->opts, r->opts, r->opts, r->opts, r->opts,
	                                    r->opts };
	r->db = rocksdb_open_column_families(r->opts, path, 6, names, cfo, r->cf, &err);
	cr_assert_null(err, "raw open: %s", err);
}

/* Close what raw_open() opened. */
static void
raw_close(struct raw *r)
{
	for (int i = 0; i < 6; i++)
		rocksdb_column_family_handle_destroy(r->cf[i]);
	rocksdb_close(r->db);
	rocksdb_options_destroy(r->opts);
}

/* Keys of message msgid in a family (1 bodies, 2 envelopes). */
static int
raw_keys_of(struct raw *r, int cf, uint32_t msgid)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, r->cf[cf]);
	uint8_t start[4] = { msgid >> 24, msgid >> 16, msgid >> 8, msgid };
	int n = 0;
	for (rocksdb_iter_seek(it, (char *)start, 4); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *k = rocksdb_iter_key(it, &klen);
		if (klen < 4 || memcmp(k, start, 4) != 0)
			break;
		n++;
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return n;
}

static sem_t child_sem;
static int child_err;

/* The child's sync completion: note the result, wake the child. */
static void
child_done(struct queue_sync_req *req, int err)
{
	child_err = err;
	sem_post(&child_sem);
}

/* In the child: commit one message of body_len bytes and make it durable
 * (mode 0: the syncer, mode 1: queue_sync_now). Returns its evpid, 0 on
 * failure. No Criterion asserts here: this is a forked copy. */
static uint64_t
child_commit(struct queue *q, size_t body_len, int mode)
{
	struct queue_writer w;
	struct queue_sync_req req = { .done = child_done };
	char *body = malloc(body_len);
	if (body == NULL || queue_body_begin(q, &w) != 0)
		return 0;
	for (size_t i = 0; i < body_len; i++)
		body[i] = (char)('a' + i % 23);
	struct queue_envelope env = tq_env(queue_evpid_new(w.msgid), 77, "kill@example.net");
	if (queue_body_append(&w, body, body_len) != 0 ||
	    queue_commit(&w, &env, 1, &req.seq) != 0)
		return 0;
	free(body);
	if (mode == 1)
		return queue_sync_now(q) == 0 ? env.id : 0;
	sem_init(&child_sem, 0, 0);
	if (queue_syncer_start(q) != 0)
		return 0;
	queue_sync_submit(q, &req);
	while (sem_wait(&child_sem) != 0)
		;
	return child_err == 0 ? env.id : 0;
}

/* Run child_commit in a child that dies without closing; returns the id. */
static uint64_t
commit_in_dying_child(size_t body_len, int mode, uint32_t *orphan)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct queue_options opts = { .backend = "rocksdb", .path = DIR };
		struct queue *q;
		uint64_t ids[2] = { 0, 0 };
		struct queue_writer w;
		if (queue_open(&q, &opts) == 0) {
			ids[0] = child_commit(q, body_len, mode);
			/* a second message left half written, its chunks in the
			 * WAL as another session's commit would have put them */
			char *part = calloc(1, 5 * QUEUE_CHUNK_BYTES / 2);
			if (part && queue_body_begin(q, &w) == 0 &&
			    queue_body_append(&w, part, 5 * QUEUE_CHUNK_BYTES / 2) == 0 &&
			    queue_sync_now(q) == 0)
				ids[1] = w.msgid;
		}
		if (write(fds[1], ids, sizeof(ids)) != sizeof(ids))
			_exit(2);
		if (mode == 1)
			_exit(0);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	close(fds[1]);
	uint64_t ids[2];
	cr_assert_eq(read(fds[0], ids, sizeof(ids)), (ssize_t)sizeof(ids));
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (mode == 0)
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		          "child was not killed (status %d)", status);
	cr_assert_neq(ids[0], 0, "the child could not commit and sync");
	cr_assert_neq(ids[1], 0, "the child could not write the partial message");
	*orphan = (uint32_t)ids[1];
	return ids[0];
}

Test(durability, synced_commit_survives_process_death, .init = setup, .fini = teardown)
{
	static const struct { const char *name; int mode; size_t len; } cases[] = {
		{ "syncer, SIGKILL", 0, 3 * QUEUE_CHUNK_BYTES + 5 },
		{ "queue_sync_now, _exit", 1, 100 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t orphan;
		uint64_t id = commit_in_dying_child(cases[i].len, cases[i].mode, &orphan);

		struct raw r;
		raw_open(&r, DIR);
		cr_assert_eq(raw_keys_of(&r, 1, orphan), 2,
		             "%s: the partial message's chunks did not reach the WAL",
		             cases[i].name);
		raw_close(&r);

		struct queue *q = tq_open("rocksdb", DIR);
		struct queue_envelope env;
		cr_assert_eq(queue_envelope_load(q, id, &env), 0, "%s: envelope lost",
		             cases[i].name);
		cr_assert_str_eq(env.rcpt, "kill@example.net");
		char *body;
		size_t len;
		cr_assert_eq(queue_body_load(q, (uint32_t)(id >> 32), &body, &len), 0);
		cr_assert_eq(len, cases[i].len, "%s: body %zu bytes", cases[i].name, len);
		for (size_t k = 0; k < len; k++)
			cr_assert_eq(body[k], (char)('a' + k % 23), "%s: byte %zu", cases[i].name, k);
		free(body);
		cr_assert_eq(queue_body_load(q, orphan, &body, &len), -ENOENT,
		             "%s: orphan chunks not swept at open", cases[i].name);
		cr_assert_eq(queue_envelope_delete(q, id), 0);
		queue_close(q);
	}
}

/* In a child: commit and sync one message, start the syncer, remove the
 * envelope with nobody waiting for a sync, sleep wait_ms, die by SIGKILL.
 * Returns the envelope id through the pipe. */
static uint64_t
remove_then_die(unsigned wait_ms)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct queue_options opts = { .backend = "rocksdb", .path = DIR };
		struct queue *q;
		struct queue_writer w;
		uint64_t id = 0, seq;
		if (queue_open(&q, &opts) == 0 && queue_body_begin(q, &w) == 0) {
			struct queue_envelope env = tq_env(queue_evpid_new(w.msgid), 9,
			                                   "gone@example.net");
			if (queue_body_append(&w, "x\r\n", 3) == 0 &&
			    queue_commit(&w, &env, 1, &seq) == 0 && queue_sync_now(q) == 0 &&
			    queue_syncer_start(q) == 0 && queue_envelope_delete(q, env.id) == 0)
				id = env.id;
		}
		if (write(fds[1], &id, sizeof(id)) != sizeof(id))
			_exit(2);
		usleep(wait_ms * 1000);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	close(fds[1]);
	uint64_t id = 0;
	cr_assert_eq(read(fds[0], &id, sizeof(id)), (ssize_t)sizeof(id));
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_neq(id, 0, "the child could not commit, sync and remove");
	return id;
}

/* A removal (a delivered message) is not synced by its own write: the syncer
 * makes it durable within a second, so a crash after that does not bring the
 * message back for a second delivery. */
Test(durability, unsynced_removal_durable_within_a_second, .init = setup, .fini = teardown)
{
	uint64_t id = remove_then_die(2500);
	struct queue *q = tq_open("rocksdb", DIR);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, id, &env), -ENOENT,
	             "the removed envelope came back after the crash");
	queue_close(q);
}

/* Walk callback: count envelopes into *arg. */
static int
count_walk(void *arg, const struct queue_envelope *env)
{
	(*(uint64_t *)arg)++;
	return 0;
}

/* Overwrite one key of family cf (1 bodies, 2 envelopes) with val. */
static void
raw_put(int cf, const uint8_t *key, size_t key_len, const char *val, size_t val_len)
{
	struct raw r;
	char *err = NULL;
	raw_open(&r, DIR);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(r.db, wo, r.cf[cf], (const char *)key, key_len, val, val_len, &err);
	cr_assert_null(err);
	rocksdb_writeoptions_destroy(wo);
	raw_close(&r);
}

/* Warnings the queue gave (quarantine says so). */
static char warned[4096];

static void __attribute__((format(printf, 1, 2)))
note_warning(const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(warned);
	va_start(ap, fmt);
	vsnprintf(warned + len, sizeof(warned) - len, fmt, ap);
	va_end(ap);
	strncat(warned, "\n", sizeof(warned) - strlen(warned) - 1);
}

/* Open DIR with warnings going to warned[]. */
static struct queue *
open_noting(void)
{
	struct queue_options opts = { .backend = "rocksdb", .path = DIR, .warn = note_warning };
	struct queue *q;
	warned[0] = '\0';
	cr_assert_eq(queue_open(&q, &opts), 0, "open: %s", queue_strerror(NULL));
	return q;
}

Test(durability, bad_envelope_quarantined_rest_carries_on, .init = setup, .fini = teardown)
{
	struct queue *q = tq_open("rocksdb", DIR);
	uint64_t next[] = { 5, 6 }, ids[2];
	tq_put(q, "hello", 5, 5, next, 2, ids);
	queue_close(q);

	/* the second envelope becomes a record from a future version */
	uint8_t key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(ids[1] >> (56 - 8 * i));
	raw_put(2, key, 8, "\x02garbage", 8);

	q = open_noting();
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, ids[1], &env), -EINVAL);
	cr_assert(strstr(queue_strerror(q), "bad record") != NULL, "error text: %s",
	          queue_strerror(q));
	char want[64];
	snprintf(want, sizeof(want), "envelope %016llx does not decode: moved to quarantine",
	         (unsigned long long)ids[1]);
	cr_assert(strstr(warned, want) != NULL, "warnings: %s", warned);
	cr_assert_eq(queue_bad_records(q), 1);
	uint64_t n;
	cr_assert_eq(queue_quarantine_count(q, &n), 0);
	cr_assert_eq(n, 2, "quarantine holds %llu records, want the envelope and "
	             "its body chunk", (unsigned long long)n);
	/* gone from the queue: its due entry is cleaned, the other one is due */
	cr_assert_eq(queue_envelope_load(q, ids[1], &env), -ENOENT);
	uint64_t walked = 0;
	cr_assert_eq(queue_walk(q, count_walk, &walked), 0);
	cr_assert_eq(walked, 1, "walk handed on %llu envelopes", (unsigned long long)walked);
	/* the good envelope still delivers: body there, then removed with it */
	char *body;
	size_t len;
	cr_assert_eq(queue_body_load(q, (uint32_t)(ids[0] >> 32), &body, &len), 0);
	cr_assert_eq(len, 5);
	free(body);
	cr_assert_eq(queue_envelope_delete(q, ids[1]), -ENOENT);
	cr_assert_eq(queue_envelope_delete(q, ids[0]), 0);
	cr_assert_eq(queue_count(q, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(queue_body_load(q, (uint32_t)(ids[0] >> 32), &body, &len), -ENOENT);
	cr_assert_eq(queue_quarantine_count(q, &n), 0);
	cr_assert_eq(n, 2, "the quarantine copy outlives the delivered message");
	queue_close(q);
}

Test(durability, bad_chunk_quarantines_message, .init = setup, .fini = teardown)
{
	struct queue *q = tq_open("rocksdb", DIR);
	uint64_t next[] = { 5, 6 }, ids[2], other;
	char *big = tq_body(QUEUE_CHUNK_BYTES + 10, 3);
	tq_put(q, big, QUEUE_CHUNK_BYTES + 10, 4096, next, 2, ids);
	tq_put(q, "fine", 4, 4, next, 1, &other);
	queue_close(q);

	/* chunk 1 of the first message: an unknown chunk version */
	uint8_t key[8];
	for (int i = 0; i < 4; i++)
		key[i] = (uint8_t)(ids[0] >> (56 - 8 * i));
	memcpy(key + 4, "\0\0\0\1", 4);
	raw_put(1, key, 8, "\x07\x00" "abc", 5);

	q = open_noting();
	char *body;
	size_t len;
	cr_assert_eq(queue_body_load(q, (uint32_t)(ids[0] >> 32), &body, &len), -EBADMSG);
	cr_assert(strstr(warned, "moved to quarantine with its envelopes") != NULL,
	          "warnings: %s", warned);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, ids[0], &env), -ENOENT);
	cr_assert_eq(queue_envelope_load(q, ids[1], &env), -ENOENT);
	uint64_t n, walked = 0;
	cr_assert_eq(queue_quarantine_count(q, &n), 0);
	cr_assert_eq(n, 4, "quarantine: %llu records, want 2 envelopes + 2 chunks",
	             (unsigned long long)n);
	cr_assert_eq(queue_walk(q, count_walk, &walked), 0);
	cr_assert_eq(walked, 1, "only the other message is left");
	cr_assert_eq(queue_body_load(q, (uint32_t)(other >> 32), &body, &len), 0);
	cr_assert_eq(len, 4);
	free(body);
	free(big);
	queue_close(q);
}

Test(durability, other_format_refused, .init = setup, .fini = teardown)
{
	/* a store with mail but no format record: an older smtpd wrote it */
	uint8_t key[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	raw_put(1, key, 8, "old body", 8);
	struct queue_options opts = { .backend = "rocksdb", .path = DIR };
	struct queue *q = NULL;
	cr_assert_eq(queue_open(&q, &opts), -EPROTO);
	cr_assert(strstr(queue_strerror(NULL), "no format record") != NULL,
	          "error: %s", queue_strerror(NULL));
}

/* The text of the newest OPTIONS file RocksDB wrote. */
static char *
options_text(const char *spool)
{
	char pat[512];
	glob_t g;
	snprintf(pat, sizeof(pat), "%s/queue.db/OPTIONS-*", spool);
	cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no OPTIONS file");
	FILE *f = fopen(g.gl_pathv[g.gl_pathc - 1], "r");
	cr_assert_not_null(f);
	char *text = calloc(1, 1 << 20);
	size_t n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	globfree(&g);
	return text;
}

Test(durability, store_layout_and_options, .init = setup, .fini = teardown)
{
	char spool[512];
	snprintf(spool, sizeof(spool), "%s/var/spool/ringmta", DIR);
	struct queue_options opts = { .backend = NULL, .path = spool, .compression = 1 };
	struct queue *q;
	cr_assert_eq(queue_open(&q, &opts), 0, "open: %s", queue_strerror(NULL));
	char *body = tq_body(200000, 9), *got;
	uint64_t next = 1, id;
	size_t len;
	tq_put(q, body, 200000, 200000, &next, 1, &id);
	queue_close(q);

	struct stat st;
	char db[600];
	snprintf(db, sizeof(db), "%s/queue.db", spool);
	cr_assert_eq(stat(db, &st), 0, "no %s", db);
	cr_assert_eq(st.st_mode & 0777, 0700, "queue.db mode %o", st.st_mode & 0777);
	cr_assert_eq(stat(spool, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "spool mode %o", st.st_mode & 0777);

	char *text = options_text(spool);
	char *bodies = strstr(text, "[CFOptions \"bodies\"]");
	char *envs = strstr(text, "[CFOptions \"envelopes\"]");
	cr_assert(bodies && envs && strstr(text, "[CFOptions \"schedule\"]"),
	          "column families missing");
	char *b_blob = strstr(bodies, "enable_blob_files=true");
	cr_assert(b_blob != NULL && b_blob < envs, "bodies without blob files");
	cr_assert(strstr(bodies, "min_blob_size=4096") < envs);
	char *zstd = strstr(bodies, "compression=kZSTD");
	cr_assert(zstd != NULL && zstd < envs, "bodies not zstd-compressed");
	free(text);

	cr_assert_eq(queue_open(&q, &opts), 0);
	cr_assert_eq(queue_body_load(q, (uint32_t)(id >> 32), &got, &len), 0);
	cr_assert_eq(len, 200000);
	cr_assert_eq(memcmp(got, body, len), 0, "body changed across reopen");
	free(got);
	free(body);
	queue_close(q);
}

Test(durability, open_errors_carry_text, .init = setup, .fini = teardown)
{
	char file[512], under[600];
	snprintf(file, sizeof(file), "%s/plainfile", DIR);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(under, sizeof(under), "%s/spool", file);
	static const struct { const char *backend; int path; int want; const char *text; } cases[] = {
		{ "bdb", 1, -EINVAL, "bdb" },
		{ "rocksdb", 0, -EINVAL, "no queue path" },
		{ "rocksdb", 2, -ENOTDIR, "mkdir" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *paths[] = { NULL, DIR, under };
		struct queue_options opts = { .backend = cases[i].backend,
		                              .path = paths[cases[i].path] };
		struct queue *q = NULL;
		int err = queue_open(&q, &opts);
		cr_assert_eq(err, cases[i].want, "case %zu: got %d, want %d", i, err,
		             cases[i].want);
		cr_assert(strstr(queue_strerror(NULL), cases[i].text) != NULL,
		          "case %zu: error text \"%s\"", i, queue_strerror(NULL));
	}
	struct queue *q = tq_open("rocksdb", DIR), *q2 = NULL;
	struct queue_options opts = { .backend = "rocksdb", .path = DIR };
	cr_assert_eq(queue_open(&q2, &opts), -EIO, "second open of a locked store");
	cr_assert(strstr(queue_strerror(NULL), "lock") != NULL, "error text \"%s\"",
	          queue_strerror(NULL));
	queue_close(q);
}
