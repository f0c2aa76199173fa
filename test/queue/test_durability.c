/*
 * test/queue/test_durability.c - what survives on disk (RocksDB backend): a
 * synced commit outlives a killed process, orphan chunks are swept at open,
 * a record that does not decode is reported and skipped, the store's options
 * and folders are what the design says, and open errors carry their text.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <rocksdb/c.h>
#include <semaphore.h>
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
	rocksdb_column_family_handle_t *cf[4];  /* default, bodies, envelopes, schedule */
};

/* Open the queue's RocksDB directly (the queue must be closed). */
static void
raw_open(struct raw *r, const char *dir)
{
	static const char *names[4] = { "default", "bodies", "envelopes", "schedule" };
	char path[512];
	char *err = NULL;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	r->opts = rocksdb_options_create();
	const rocksdb_options_t *cfo[4] = { r->opts, r->opts, r->opts, r->opts };
	r->db = rocksdb_open_column_families(r->opts, path, 4, names, cfo, r->cf, &err);
	cr_assert_null(err, "raw open: %s", err);
}

/* Close what raw_open() opened. */
static void
raw_close(struct raw *r)
{
	for (int i = 0; i < 4; i++)
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
			/* a second message left half written */
			char *part = calloc(1, 5 * QUEUE_CHUNK_BYTES / 2);
			if (part && queue_body_begin(q, &w) == 0 &&
			    queue_body_append(&w, part, 5 * QUEUE_CHUNK_BYTES / 2) == 0)
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

/* Walk callback: count envelopes into *arg. */
static int
count_walk(void *arg, const struct queue_envelope *env)
{
	(*(uint64_t *)arg)++;
	return 0;
}

Test(durability, bad_record_reported_and_skipped, .init = setup, .fini = teardown)
{
	struct queue *q = tq_open("rocksdb", DIR);
	uint64_t next[] = { 5, 6 }, ids[2];
	tq_put(q, "hello", 5, 5, next, 2, ids);
	queue_close(q);

	/* overwrite the second envelope with a record from a future version */
	struct raw r;
	uint8_t key[8];
	char *err = NULL;
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(ids[1] >> (56 - 8 * i));
	raw_open(&r, DIR);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(r.db, wo, r.cf[2], (char *)key, 8, "\x02garbage", 8, &err);
	cr_assert_null(err);
	rocksdb_writeoptions_destroy(wo);
	raw_close(&r);

	q = tq_open("rocksdb", DIR);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(q, ids[1], &env), -EINVAL);
	cr_assert(strstr(queue_strerror(q), "bad record") != NULL, "error text: %s",
	          queue_strerror(q));
	uint64_t walked = 0;
	cr_assert_eq(queue_walk(q, count_walk, &walked), 0);
	cr_assert_eq(walked, 1, "walk handed on %llu envelopes", (unsigned long long)walked);
	cr_assert_eq(queue_bad_records(q), 1);
	cr_assert_eq(queue_envelope_delete(q, ids[1]), 0, "a bad record cannot be removed");
	cr_assert_eq(queue_envelope_delete(q, ids[0]), 0);
	uint64_t n;
	cr_assert_eq(queue_count(q, &n), 0);
	cr_assert_eq(n, 0);
	walked = 0;
	cr_assert_eq(queue_walk(q, count_walk, &walked), 0);
	cr_assert_eq(walked, 0);
	queue_close(q);
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
