/*
 * rules/cdb.c - D. J. Bernstein's constant database format (see cdb.h):
 * a bounded reader over a buffer and a streaming writer to an fd.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/cdb.h"

#define CDB_HASH_START 5381u
#define CDB_PAIR_BYTES 8u

/* The little-endian 32-bit number at p. */
static uint32_t
cdb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Store v little-endian at p. */
static void
cdb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Call for any key: h = ((h << 5) + h) ^ c from 5381. */
uint32_t
rules_cdb_hash(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint32_t h = CDB_HASH_START;

	while (n-- > 0)
		h = ((h << 5) + h) ^ *p++;
	return h;
}

/* Format a reason into why; returns -1. */
static int __attribute__((format(printf, 3, 4)))
cdb_bad(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* Check the 256 (position, slots) pairs lie inside the file; sets dend
 * to the lowest position. 0 or -1. */
static int
cdb_check_header(struct rules_cdb *db, char *why, size_t cap)
{
	uint32_t i, pos, slots;

	db->dend = db->len;
	for (i = 0; i < RULES_CDB_TABLES; i++) {
		pos = cdb_get32(db->map + i * CDB_PAIR_BYTES);
		slots = cdb_get32(db->map + i * CDB_PAIR_BYTES + 4);
		if (pos < RULES_CDB_HEADER_BYTES ||
		    (uint64_t)pos + (uint64_t)slots * CDB_PAIR_BYTES > db->len)
			return cdb_bad(why, cap, "hash table %u (%u slots at offset %u) lies outside "
			               "the file of %u bytes", i, slots, pos, db->len);
		if (pos < db->dend)
			db->dend = pos;
	}
	return 0;
}

/* Check the records tile [header, dend) exactly; counts them. 0 or -1. */
static int
cdb_check_records(struct rules_cdb *db, char *why, size_t cap)
{
	uint64_t p = RULES_CDB_HEADER_BYTES, end;

	db->nrecords = 0;
	while (p < db->dend) {
		if (p + CDB_PAIR_BYTES > db->dend)
			return cdb_bad(why, cap, "record at offset %llu is cut short",
			               (unsigned long long)p);
		end = p + CDB_PAIR_BYTES + cdb_get32(db->map + p) + cdb_get32(db->map + p + 4);
		if (end > db->dend)
			return cdb_bad(why, cap, "record at offset %llu runs past the end of the "
			               "records (offset %u)", (unsigned long long)p, db->dend);
		p = end;
		db->nrecords++;
	}
	return 0;
}

/* Check every used slot points into the records, and that there is one
 * per record, as the format has it. 0 or -1. */
static int
cdb_check_slots(const struct rules_cdb *db, char *why, size_t cap)
{
	uint32_t i, s, pos, slots, rpos;
	uint64_t used = 0;

	for (i = 0; i < RULES_CDB_TABLES; i++) {
		pos = cdb_get32(db->map + i * CDB_PAIR_BYTES);
		slots = cdb_get32(db->map + i * CDB_PAIR_BYTES + 4);
		for (s = 0; s < slots; s++) {
			rpos = cdb_get32(db->map + pos + s * CDB_PAIR_BYTES + 4);
			if (rpos == 0)
				continue;
			if (rpos < RULES_CDB_HEADER_BYTES || (uint64_t)rpos + CDB_PAIR_BYTES > db->dend)
				return cdb_bad(why, cap, "hash table %u slot %u points to offset %u, "
				               "outside the records", i, s, rpos);
			used++;
		}
	}
	if (used != db->nrecords)
		return cdb_bad(why, cap, "the hash tables list %llu records, the file holds %u",
		               (unsigned long long)used, db->nrecords);
	return 0;
}

/* Call once per buffer before reading it: 0, or -1 with why filled. */
int
rules_cdb_open(struct rules_cdb *db, const void *buf, size_t len, char *why, size_t cap)
{
	memset(db, 0, sizeof *db);
	if ((unsigned long long)len > RULES_CDB_BYTES_MAX)
		return cdb_bad(why, cap, "larger than 4 GiB, more than a cdb can address");
	if (len < RULES_CDB_HEADER_BYTES)
		return cdb_bad(why, cap, "%zu bytes, shorter than the %u-byte header", len,
		               RULES_CDB_HEADER_BYTES);
	db->map = buf;
	db->len = (uint32_t)len;
	if (cdb_check_header(db, why, cap) < 0 || cdb_check_records(db, why, cap) < 0)
		return -1;
	return cdb_check_slots(db, why, cap);
}

/* Fill rec from the record at pos, if it lies within the records; 0 or -1. */
static int
cdb_read_rec(const struct rules_cdb *db, uint32_t pos, struct rules_cdb_rec *rec)
{
	if (pos < RULES_CDB_HEADER_BYTES || (uint64_t)pos + CDB_PAIR_BYTES > db->dend)
		return -1;
	rec->klen = cdb_get32(db->map + pos);
	rec->vlen = cdb_get32(db->map + pos + 4);
	if ((uint64_t)pos + CDB_PAIR_BYTES + rec->klen + rec->vlen > db->dend)
		return -1;
	rec->key = db->map + pos + CDB_PAIR_BYTES;
	rec->val = rec->key + rec->klen;
	return 0;
}

/* Call in a loop from *pos = 0: 1 with the next record, 0 at the end. */
int
rules_cdb_next(const struct rules_cdb *db, uint32_t *pos, struct rules_cdb_rec *rec)
{
	if (*pos == 0)
		*pos = RULES_CDB_HEADER_BYTES;
	if (*pos >= db->dend || cdb_read_rec(db, *pos, rec) < 0)
		return 0;
	*pos += CDB_PAIR_BYTES + rec->klen + rec->vlen;
	return 1;
}

/* Call for a lookup: 1 found (rec filled), 0 absent, -1 a bad slot. */
int
rules_cdb_find(const struct rules_cdb *db, const void *key, uint32_t klen,
               struct rules_cdb_rec *rec)
{
	uint32_t h = rules_cdb_hash(key, klen), t = (h & 0xff) * CDB_PAIR_BYTES;
	uint32_t tpos = cdb_get32(db->map + t), slots = cdb_get32(db->map + t + 4);
	uint32_t s, i, hh, rpos;

	if (slots == 0)
		return 0;
	for (i = 0, s = (h >> 8) % slots; i < slots; i++, s = (s + 1) % slots) {
		hh = cdb_get32(db->map + tpos + s * CDB_PAIR_BYTES);
		rpos = cdb_get32(db->map + tpos + s * CDB_PAIR_BYTES + 4);
		if (rpos == 0)
			return 0;
		if (hh != h)
			continue;
		if (cdb_read_rec(db, rpos, rec) < 0)
			return -1;
		if (rec->klen == klen && memcmp(rec->key, key, klen) == 0)
			return 1;
	}
	return 0;
}

/* Write what is buffered; 0, or -1 with errno. */
static int
cdb_flush(struct rules_cdb_writer *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->buffered) {
		n = write(w->fd, w->buf + off, w->buffered - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	w->buffered = 0;
	return 0;
}

/* Append n bytes through the buffer; 0, or -1 with errno. */
static int
cdb_emit(struct rules_cdb_writer *w, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t take;

	while (n > 0) {
		if (w->buffered == sizeof w->buf && cdb_flush(w) < 0)
			return -1;
		take = sizeof w->buf - w->buffered;
		if (take > n)
			take = n;
		memcpy(w->buf + w->buffered, p, take);
		w->buffered += take;
		p += take;
		n -= take;
	}
	return 0;
}

/* Call once with an empty fd at offset 0: 0, or -1 with errno. */
int
rules_cdb_writer_init(struct rules_cdb_writer *w, int fd, uint64_t bytes_max)
{
	static const uint8_t zeros[RULES_CDB_HEADER_BYTES];

	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->bytes_max = bytes_max < RULES_CDB_BYTES_MAX ? bytes_max : RULES_CDB_BYTES_MAX;
	w->pos = RULES_CDB_HEADER_BYTES;
	return cdb_emit(w, zeros, sizeof zeros);
}

/* Call per record, in any order: 0, or -1 with errno. */
int
rules_cdb_writer_add(struct rules_cdb_writer *w, const void *key, uint32_t klen,
                     const void *val, uint32_t vlen)
{
	uint64_t size = CDB_PAIR_BYTES + (uint64_t)klen + vlen;
	uint8_t head[CDB_PAIR_BYTES];
	struct rules_cdb_slot *grown;

	/* the tables will need two slots (16 bytes) per record after this one */
	if (w->pos + size + ((uint64_t)w->n + 1) * 2 * CDB_PAIR_BYTES > w->bytes_max) {
		errno = EFBIG;
		return -1;
	}
	if (w->n == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 64;
		if ((grown = realloc(w->slots, (size_t)cap * sizeof *grown)) == NULL)
			return -1;
		w->slots = grown;
		w->cap = cap;
	}
	cdb_put32(head, klen);
	cdb_put32(head + 4, vlen);
	if (cdb_emit(w, head, sizeof head) < 0 || cdb_emit(w, key, klen) < 0 ||
	    cdb_emit(w, val, vlen) < 0)
		return -1;
	w->slots[w->n].hash = rules_cdb_hash(key, klen);
	w->slots[w->n].pos = (uint32_t)w->pos;
	w->n++;
	w->pos += size;
	return 0;
}

/* Write table b of the slots in order (count of them) at w->pos into
 * header; scratch holds 2 * count pairs. 0, or -1 with errno. */
static int
cdb_write_table(struct rules_cdb_writer *w, const struct rules_cdb_slot *order, uint32_t count,
                struct rules_cdb_slot *scratch, uint8_t *header, uint32_t b)
{
	uint32_t slots = count * 2, i, s;
	uint8_t pair[CDB_PAIR_BYTES];

	cdb_put32(header + b * CDB_PAIR_BYTES, (uint32_t)w->pos);
	cdb_put32(header + b * CDB_PAIR_BYTES + 4, slots);
	memset(scratch, 0, (size_t)slots * sizeof *scratch);
	for (i = 0; i < count; i++) {
		for (s = (order[i].hash >> 8) % slots; scratch[s].pos != 0; s = (s + 1) % slots)
			;
		scratch[s] = order[i];
	}
	for (s = 0; s < slots; s++) {
		cdb_put32(pair, scratch[s].hash);
		cdb_put32(pair + 4, scratch[s].pos);
		if (cdb_emit(w, pair, sizeof pair) < 0)
			return -1;
	}
	w->pos += (uint64_t)slots * CDB_PAIR_BYTES;
	return 0;
}

/* pwrite all of n bytes at off; 0, or -1 with errno. */
static int
cdb_pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	ssize_t k;

	while (n > 0) {
		k = pwrite(fd, p, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

/* Call once after the last record: 0, or -1 with errno. */
int
rules_cdb_writer_finish(struct rules_cdb_writer *w)
{
	uint32_t count[RULES_CDB_TABLES] = { 0 }, start[RULES_CDB_TABLES], i, b, most = 0, at = 0;
	uint8_t header[RULES_CDB_HEADER_BYTES];
	struct rules_cdb_slot *order, *scratch;
	int r = 0;

	for (i = 0; i < w->n; i++)
		count[w->slots[i].hash & 0xff]++;
	for (b = 0; b < RULES_CDB_TABLES; b++) {
		start[b] = at;
		at += count[b];
		most = count[b] > most ? count[b] : most;
	}
	order = malloc(((size_t)w->n + 1) * sizeof *order);
	scratch = malloc(((size_t)most * 2 + 1) * sizeof *scratch);
	if (order == NULL || scratch == NULL) {
		free(order);
		free(scratch);
		return -1;
	}
	for (i = 0; i < w->n; i++)
		order[start[w->slots[i].hash & 0xff]++] = w->slots[i];
	for (b = 0, at = 0; b < RULES_CDB_TABLES && r == 0; at += count[b], b++)
		r = cdb_write_table(w, order + at, count[b], scratch, header, b);
	free(order);
	free(scratch);
	if (r < 0 || cdb_flush(w) < 0)
		return -1;
	return cdb_pwrite_all(w->fd, header, sizeof header, 0);
}

/* Call once the writer is done with (finished or not). */
void
rules_cdb_writer_free(struct rules_cdb_writer *w)
{
	free(w->slots);
	w->slots = NULL;
	w->n = w->cap = 0;
}
