/*
 * rules/cdb.h - constant databases in D. J. Bernstein's cdb format, the
 * on-disk form of `db:` tables (makemap writes them, rules/table_db.c
 * reads them; tinycdb's `cdb -d` reads them too).
 *
 * Format (all numbers 32-bit little-endian): a 2048-byte header of 256
 * (position, slots) pairs, one per hash table; the records, each klen,
 * vlen, key, value; then the 256 hash tables, each of slots (hash,
 * position) pairs, a position of 0 meaning an empty slot. A key's hash is
 * h = ((h << 5) + h) ^ c over its bytes from 5381; it lives in table
 * h & 255, searched from slot (h >> 8) % slots on. Offsets are 32-bit, so a
 * database is smaller than 4 GiB.
 *
 * The reader is pure: rules_cdb_open() checks a buffer the caller owns
 * (the header's tables inside the buffer, the records tiling the space
 * from the header to the first table exactly) and fills why with the first
 * inconsistency; after that, iteration and lookups read only inside the
 * buffer, and a lookup that meets a slot pointing anywhere else answers -1
 * rather than read out of bounds. The writer streams records to an fd it
 * does not own (through a small buffer), keeps one (hash, position) pair
 * per record in memory, and at finish writes the tables and then the
 * header at offset 0; it neither syncs nor closes.
 */
#ifndef RULES_CDB_H
#define RULES_CDB_H

#include <stddef.h>
#include <stdint.h>

#define RULES_CDB_HEADER_BYTES 2048u
#define RULES_CDB_TABLES 256u
#define RULES_CDB_BYTES_MAX 0xffffffffull  /* 32-bit offsets */
#define RULES_CDB_WHY_BYTES 128            /* room for a reason */

/* A checked database over a buffer the caller keeps alive. */
struct rules_cdb {
	const uint8_t *map;
	uint32_t len;
	uint32_t dend;             /* end of the records: the first hash table */
	uint32_t nrecords;
};

/* One record, pointing into the buffer. */
struct rules_cdb_rec {
	const uint8_t *key, *val;
	uint32_t klen, vlen;
};

/* The cdb hash of n bytes. */
uint32_t rules_cdb_hash(const void *data, size_t n);
/* Check buf (len bytes) as a cdb and fill db; 0, or -1 with a reason in
 * why ("record at offset 2060 runs past the end of the records"). */
int rules_cdb_open(struct rules_cdb *db, const void *buf, size_t len, char *why, size_t cap);
/* The record at *pos, then *pos moves to the next; start with *pos = 0.
 * 1 with rec filled, 0 after the last record. */
int rules_cdb_next(const struct rules_cdb *db, uint32_t *pos, struct rules_cdb_rec *rec);
/* Look key up: 1 with the first record holding it in rec, 0 if absent, -1
 * if a slot on the way points outside the records. */
int rules_cdb_find(const struct rules_cdb *db, const void *key, uint32_t klen,
                   struct rules_cdb_rec *rec);

struct rules_cdb_slot {
	uint32_t hash, pos;
};

struct rules_cdb_writer {
	int fd;                    /* positioned at 0, owned by the caller */
	uint64_t pos;              /* where the next record goes */
	uint64_t bytes_max;        /* the file may not grow past this */
	struct rules_cdb_slot *slots; /* one per record */
	uint32_t n, cap;
	uint8_t buf[8192];
	size_t buffered;
};

/* Start a database on fd (a placeholder header is written) that may not
 * grow past bytes_max (at most RULES_CDB_BYTES_MAX); 0, or -1 with errno. */
int rules_cdb_writer_init(struct rules_cdb_writer *w, int fd, uint64_t bytes_max);
/* Append one record; 0, or -1 with errno (EFBIG past bytes_max, ENOMEM,
 * or the write's error). */
int rules_cdb_writer_add(struct rules_cdb_writer *w, const void *key, uint32_t klen,
                         const void *val, uint32_t vlen);
/* Write the hash tables and the header; 0, or -1 with errno. The file is
 * complete but not synced. */
int rules_cdb_writer_finish(struct rules_cdb_writer *w);
/* Free the writer's memory (after finish or to give up). */
void rules_cdb_writer_free(struct rules_cdb_writer *w);

#endif
