/*
 * core/hoststat.h - smtpctl show hoststats: per destination domain, the
 * last relay outcome (when, and the reply or error), as OpenSMTPD's
 * "domain|time|error" lines.
 *
 * Each shard keeps a table of the domains of the relayed envelopes it is
 * home to (core/delivery.c records every relay result there), written and
 * read on that shard only: no lock. At most HOSTSTAT_DOMAINS_MAX domains
 * per shard, the least recently updated replaced when full; kept in memory
 * only (a restart starts empty). smtpctl's request gathers every shard's
 * records; a domain on several shards shows once, its latest outcome
 * (core/control.c).
 */
#ifndef CORE_HOSTSTAT_H
#define CORE_HOSTSTAT_H

#include <stdint.h>

#define HOSTSTAT_DOMAINS_MAX 256
#define HOSTSTAT_DOMAIN_BYTES 256
#define HOSTSTAT_ERROR_BYTES 160

struct ctl_buf;

struct hoststat {
	uint64_t tm;                        /* unix seconds; 0: a free slot */
	char domain[HOSTSTAT_DOMAIN_BYTES];  /* lower-cased */
	char error[HOSTSTAT_ERROR_BYTES];    /* the reply or error, one line */
};

struct hoststat_table {
	struct hoststat v[HOSTSTAT_DOMAINS_MAX];
};

/* Record the outcome for domain at tm; t is made on first use (*t NULL). */
void hoststat_update(struct hoststat_table **t, const char *domain, uint64_t tm,
                     const char *error);
/* Append one RECORD (domain, time, error) per domain to out. */
void hoststat_records(const struct hoststat_table *t, struct ctl_buf *out);
void hoststat_free(struct hoststat_table *t);

#endif
