/*
 * test/rules/test_cdb.c - the cdb reader and writer (rules/cdb.c): the
 * bytes of a one-record file as the format defines them, round trips of
 * a few and of 100,000 keys (every key found with its value, absent keys
 * not, iteration in write order), duplicate keys (both kept, the first
 * found), an empty database, the size bound, and damaged files: every
 * truncation refused, every byte of a small file overwritten without a
 * read outside the buffer (each trial's buffer is its own allocation, so
 * the sanitizer build catches a stray read), and the exact reasons given.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/cdb.h"

#define CDB_MANY 100000

static char tmpfile_path[64];

static void
make_tmpfile(void)
{
	int fd;

	snprintf(tmpfile_path, sizeof tmpfile_path, "/tmp/test_cdb.XXXXXX");
	fd = mkstemp(tmpfile_path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void
remove_tmpfile(void)
{
	unlink(tmpfile_path);
}

TestSuite(cdb, .init = make_tmpfile, .fini = remove_tmpfile);

/* Write n pairs kv[2i] -> kv[2i+1] to the temp file; the writer's result. */
static int
write_pairs(const char *const *kv, unsigned n, uint64_t bytes_max)
{
	struct rules_cdb_writer w;
	int fd = open(tmpfile_path, O_WRONLY | O_TRUNC), r;

	cr_assert_geq(fd, 0);
	r = rules_cdb_writer_init(&w, fd, bytes_max);
	for (unsigned i = 0; r == 0 && i < n; i++)
		r = rules_cdb_writer_add(&w, kv[2 * i], (uint32_t)strlen(kv[2 * i]), kv[2 * i + 1],
		                         (uint32_t)strlen(kv[2 * i + 1]));
	if (r == 0)
		r = rules_cdb_writer_finish(&w);
	rules_cdb_writer_free(&w);
	close(fd);
	return r;
}

/* The temp file's bytes (malloc'd) and length. */
static uint8_t *
read_back(size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(tmpfile_path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	buf = malloc(*len ? *len : 1);
	cr_assert_eq(read(fd, buf, *len), (ssize_t)*len);
	close(fd);
	return buf;
}

/* The value of key as a string ("" when absent: the test says which). */
static int
find_str(const struct rules_cdb *db, const char *key, char *val, size_t cap)
{
	struct rules_cdb_rec rec;
	int r = rules_cdb_find(db, key, (uint32_t)strlen(key), &rec);

	val[0] = '\0';
	if (r == 1)
		snprintf(val, cap, "%.*s", (int)rec.vlen, (const char *)rec.val);
	return r;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

Test(cdb, one_record_has_the_bytes_of_the_format)
{
	static const char *const kv[] = { "a", "b" };
	uint32_t h = rules_cdb_hash("a", 1);
	size_t len;
	uint8_t *buf;

	cr_expect_eq(rules_cdb_hash("", 0), 5381u);
	cr_expect_eq(h, (5381u * 33u) ^ 'a');
	cr_assert_eq(write_pairs(kv, 1, RULES_CDB_BYTES_MAX), 0);
	buf = read_back(&len);
	/* header, one 10-byte record, one table of 2 slots */
	cr_assert_eq(len, 2048u + 10u + 16u);
	for (uint32_t t = 0; t < 256; t++) {
		uint32_t want_slots = t == (h & 0xff) ? 2 : 0;
		cr_expect_eq(le32(buf + t * 8 + 4), want_slots, "table %u", t);
		cr_expect_geq(le32(buf + t * 8), 2058u, "table %u", t);
	}
	cr_expect_eq(le32(buf + (h & 0xff) * 8), 2058u);
	cr_expect_eq(memcmp(buf + 2048, "\1\0\0\0\1\0\0\0ab", 10), 0, "klen, vlen, key, value");
	/* the record sits at slot (h >> 8) % 2, the other slot is empty */
	uint32_t s = (h >> 8) % 2;
	cr_expect_eq(le32(buf + 2058 + s * 8), h);
	cr_expect_eq(le32(buf + 2058 + s * 8 + 4), 2048u);
	cr_expect_eq(le32(buf + 2058 + (1 - s) * 8 + 4), 0u);
	free(buf);
}

Test(cdb, round_trip_finds_each_value_and_iterates_in_order)
{
	static const char *const kv[] = {
		"example.org", "", "root", "bob, carol", "192.0.2.0/24", "",
		"k", "a value with spaces\tand a tab",
	};
	char val[128], why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	uint32_t cursor = 0;
	unsigned i = 0;
	size_t len;
	uint8_t *buf;

	cr_assert_eq(write_pairs(kv, 4, RULES_CDB_BYTES_MAX), 0);
	buf = read_back(&len);
	cr_assert_eq(rules_cdb_open(&db, buf, len, why, sizeof why), 0, "%s", why);
	cr_expect_eq(db.nrecords, 4u);
	for (i = 0; i < 4; i++) {
		cr_expect_eq(find_str(&db, kv[2 * i], val, sizeof val), 1, "%s", kv[2 * i]);
		cr_expect_str_eq(val, kv[2 * i + 1]);
	}
	cr_expect_eq(find_str(&db, "Root", val, sizeof val), 0, "keys are bytes: no case folding");
	cr_expect_eq(find_str(&db, "roo", val, sizeof val), 0);
	cr_expect_eq(find_str(&db, "", val, sizeof val), 0);
	for (i = 0; rules_cdb_next(&db, &cursor, &rec); i++) {
		cr_assert_lt(i, 4u);
		cr_expect_eq(rec.klen, strlen(kv[2 * i]));
		cr_expect_eq(memcmp(rec.key, kv[2 * i], rec.klen), 0, "record %u in write order", i);
	}
	cr_expect_eq(i, 4u);
	free(buf);
}

Test(cdb, hundred_thousand_keys)
{
	struct rules_cdb_writer w;
	char key[32], val[32], why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	size_t len;
	uint8_t *buf;
	int fd = open(tmpfile_path, O_WRONLY | O_TRUNC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(rules_cdb_writer_init(&w, fd, RULES_CDB_BYTES_MAX), 0);
	for (unsigned i = 0; i < CDB_MANY; i++) {
		int kl = snprintf(key, sizeof key, "host%u.example", i);
		int vl = snprintf(val, sizeof val, "v%u", i * 7);
		cr_assert_eq(rules_cdb_writer_add(&w, key, (uint32_t)kl, val, (uint32_t)vl), 0);
	}
	cr_assert_eq(rules_cdb_writer_finish(&w), 0);
	rules_cdb_writer_free(&w);
	close(fd);
	buf = read_back(&len);
	cr_assert_eq(rules_cdb_open(&db, buf, len, why, sizeof why), 0, "%s", why);
	cr_expect_eq(db.nrecords, CDB_MANY);
	for (unsigned i = 0; i < CDB_MANY; i++) {
		int kl = snprintf(key, sizeof key, "host%u.example", i);
		int vl = snprintf(val, sizeof val, "v%u", i * 7);
		cr_assert_eq(rules_cdb_find(&db, key, (uint32_t)kl, &rec), 1, "%s", key);
		cr_assert_eq(rec.vlen, (uint32_t)vl);
		cr_assert_eq(memcmp(rec.val, val, (size_t)vl), 0, "%s", key);
		kl = snprintf(key, sizeof key, "host%u.example.net", i);
		cr_assert_eq(rules_cdb_find(&db, key, (uint32_t)kl, &rec), 0, "%s", key);
	}
	free(buf);
}

Test(cdb, duplicate_keys_are_kept_and_the_first_is_found)
{
	static const char *const kv[] = { "k", "first", "other", "x", "k", "second" };
	char val[32], why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	uint32_t cursor = 0;
	unsigned n = 0;
	size_t len;
	uint8_t *buf;

	cr_assert_eq(write_pairs(kv, 3, RULES_CDB_BYTES_MAX), 0);
	buf = read_back(&len);
	cr_assert_eq(rules_cdb_open(&db, buf, len, why, sizeof why), 0, "%s", why);
	cr_expect_eq(find_str(&db, "k", val, sizeof val), 1);
	cr_expect_str_eq(val, "first");
	while (rules_cdb_next(&db, &cursor, &rec))
		n += rec.klen == 1 && rec.key[0] == 'k';
	cr_expect_eq(n, 2u, "both records of k are there");
	free(buf);
}

Test(cdb, empty_database)
{
	char val[8], why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	uint32_t cursor = 0;
	size_t len;
	uint8_t *buf;

	cr_assert_eq(write_pairs(NULL, 0, RULES_CDB_BYTES_MAX), 0);
	buf = read_back(&len);
	cr_expect_eq(len, 2048u);
	cr_assert_eq(rules_cdb_open(&db, buf, len, why, sizeof why), 0, "%s", why);
	cr_expect_eq(db.nrecords, 0u);
	cr_expect_eq(find_str(&db, "a", val, sizeof val), 0);
	cr_expect_eq(rules_cdb_next(&db, &cursor, &rec), 0);
	free(buf);
}

Test(cdb, writer_refuses_to_grow_past_its_bound)
{
	static const char *const kv[] = { "key1", "value1", "key2", "value2" };

	/* 2048 + 18 + 16 fits one record and its slots; not two */
	errno = 0;
	cr_expect_eq(write_pairs(kv, 1, 2048 + 18 + 16), 0);
	cr_expect_eq(write_pairs(kv, 2, 2048 + 18 + 16), -1);
	cr_expect_eq(errno, EFBIG);
}

/* A three-record file to damage. */
static uint8_t *
small_db(size_t *len)
{
	static const char *const kv[] = { "alpha", "1", "beta", "22", "gamma", "333" };

	cr_assert_eq(write_pairs(kv, 3, RULES_CDB_BYTES_MAX), 0);
	return read_back(len);
}

/* Open a private copy of the first n bytes of src; iterate and look up
 * every key when it opens. The result of open. */
static int
try_copy(const uint8_t *src, size_t n, char *why, size_t cap)
{
	static const char *const keys[] = { "alpha", "beta", "gamma", "delta" };
	uint8_t *copy = malloc(n ? n : 1);
	struct rules_cdb db;
	struct rules_cdb_rec rec;
	uint32_t cursor = 0;
	int r;

	memcpy(copy, src, n);
	r = rules_cdb_open(&db, copy, n, why, cap);
	if (r == 0) {
		while (rules_cdb_next(&db, &cursor, &rec))
			;
		for (unsigned k = 0; k < 4; k++)
			(void)rules_cdb_find(&db, keys[k], (uint32_t)strlen(keys[k]), &rec);
	}
	free(copy);
	return r;
}

Test(cdb, every_truncation_is_refused)
{
	char why[RULES_CDB_WHY_BYTES];
	size_t len, n;
	uint8_t *buf = small_db(&len);

	cr_assert_eq(try_copy(buf, len, why, sizeof why), 0, "%s", why);
	for (n = 0; n < len; n++)
		cr_expect_eq(try_copy(buf, n, why, sizeof why), -1, "cut to %zu bytes opens", n);
	free(buf);
}

Test(cdb, every_overwritten_byte_stays_in_bounds)
{
	static const uint8_t fills[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	char why[RULES_CDB_WHY_BYTES];
	size_t len, i, f;
	uint8_t *buf = small_db(&len), *bad = malloc(len);

	for (i = 0; i < len; i++) {
		for (f = 0; f < sizeof fills; f++) {
			memcpy(bad, buf, len);
			bad[i] = fills[f];
			(void)try_copy(bad, len, why, sizeof why);
		}
	}
	free(bad);
	free(buf);
}

Test(cdb, reasons_name_what_is_wrong)
{
	char why[RULES_CDB_WHY_BYTES];
	struct rules_cdb db;
	size_t len;
	uint8_t *buf = small_db(&len), *bad = malloc(len);

	cr_expect_eq(rules_cdb_open(&db, buf, 100, why, sizeof why), -1);
	cr_expect_str_eq(why, "100 bytes, shorter than the 2048-byte header");
	cr_expect_eq(rules_cdb_open(&db, buf, (size_t)RULES_CDB_BYTES_MAX + 1, why, sizeof why), -1);
	cr_expect_str_eq(why, "larger than 4 GiB, more than a cdb can address");

	/* table 0 claims 1000 slots */
	memcpy(bad, buf, len);
	bad[4] = 0xe8, bad[5] = 0x03;
	cr_expect_eq(rules_cdb_open(&db, bad, len, why, sizeof why), -1);
	char want[RULES_CDB_WHY_BYTES];
	snprintf(want, sizeof want, "hash table 0 (1000 slots at offset %u) lies outside the file "
	         "of %zu bytes", le32(buf), len);
	cr_expect_str_eq(why, want);

	/* the first record's value length runs into the tables */
	memcpy(bad, buf, len);
	bad[2048 + 4] = 0x40;
	cr_expect_eq(rules_cdb_open(&db, bad, len, why, sizeof why), -1);
	snprintf(want, sizeof want, "record at offset 2048 runs past the end of the records "
	         "(offset %u)", 2048u + 14 + 14 + 16);
	cr_expect_str_eq(why, want);

	/* a slot emptied: three records, two listed */
	memcpy(bad, buf, len);
	for (uint32_t p = 2048 + 44; p < len; p += 8) {
		if (le32(bad + p + 4) != 0) {
			memset(bad + p, 0, 8);
			break;
		}
	}
	cr_expect_eq(rules_cdb_open(&db, bad, len, why, sizeof why), -1);
	cr_expect_str_eq(why, "the hash tables list 2 records, the file holds 3");
	free(bad);
	free(buf);
}
