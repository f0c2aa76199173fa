/*
 * rules/filter.h - OpenSMTPD's builtin filters (smtpd.conf(5) FILTERS),
 * compiled: "filter NAME phase PHASE match [!]CHECK ACTION", chains of them
 * ("filter NAME chain { a, b }") and the chain each listener runs
 * ("listen on ... filter NAME"), flattened at load into the listener's
 * filters in order (struct rules_listener.filters).
 *
 * rules_filter_eval() decides one phase of a session: it walks the chain,
 * skips the filters of other phases, and asks each one's check about the
 * facts the session knows. A check that matches fires the action: report
 * is noted (in verdict.reports) and the chain goes on; bypass ends the
 * chain with PROCEED; junk, reject, disconnect and rewrite end it with that
 * result. A check that cannot answer (a DNS lookup failed for now, or was
 * not made) ends the chain with TEMPFAIL, which the session answers 451
 * (a DNS temporary failure never passes). No I/O, no allocation: every
 * shard may call it on the same config at once.
 *
 * ringmta's own checks "country T" and "asn T" answer with the session's
 * GeoIP lookup (facts.q.country, facts.q.asn, as `match from country T`):
 * none found is no match before "!", no database (NULL) cannot answer.
 *
 * ringmta's own check, "dnsbl ZONE": the client's IPv4 address reversed
 * under ZONE answered with an A record in 127.0.0.0/8 means listed. The
 * session looks it up (core/session_filter.c) and gives the answer in
 * facts.dnsbl[i] for the chain's i-th filter.
 */
#ifndef RULES_FILTER_H
#define RULES_FILTER_H

#include <stdint.h>

#include "rules/rules.h"

#define RULES_FILTER_CHAIN_MAX 64          /* filters a listener runs */
#define RULES_FILTER_TEXT_BYTES_MAX 512    /* a reject/disconnect/report/rewrite text */

enum rules_filter_phase {
	RULES_PHASE_CONNECT,       /* before the banner */
	RULES_PHASE_HELO,
	RULES_PHASE_EHLO,
	RULES_PHASE_AUTH,          /* after a successful AUTH */
	RULES_PHASE_MAIL_FROM,
	RULES_PHASE_RCPT_TO,       /* each recipient */
	RULES_PHASE_DATA,          /* at DATA (or the first BDAT) */
	RULES_PHASE_COMMIT,        /* end of data, before the 250 */
	RULES_PHASES,
};

enum rules_filter_check {
	RULES_FCHECK_FCRDNS,       /* the PTR name resolves back to the address */
	RULES_FCHECK_RDNS,         /* a PTR name [in the table] */
	RULES_FCHECK_SRC,
	RULES_FCHECK_HELO,
	RULES_FCHECK_AUTH,         /* authenticated [as a user in the table] */
	RULES_FCHECK_MAIL_FROM,
	RULES_FCHECK_RCPT_TO,
	RULES_FCHECK_DNSBL,        /* ringmta's: listed in zone */
	RULES_FCHECK_COUNTRY,      /* ringmta's: the client's GeoIP country in the table */
	RULES_FCHECK_ASN,          /* ringmta's: its AS number in the table */
};

enum rules_filter_action {
	RULES_FACTION_JUNK,        /* the message gets "X-Spam: yes" */
	RULES_FACTION_BYPASS,      /* the rest of the chain is skipped */
	RULES_FACTION_REJECT,      /* the command is answered code text */
	RULES_FACTION_DISCONNECT,  /* answered code text, then the session closes */
	RULES_FACTION_REWRITE,     /* the command's parameter becomes text */
	RULES_FACTION_REPORT,      /* a log line with text; the chain goes on */
};

struct rules_filter {
	char name[RULES_NAME_BYTES_MAX];
	unsigned line;                     /* where it was declared */
	enum rules_filter_phase phase;
	enum rules_filter_check check;
	int neg;                           /* [!]CHECK */
	int regex;                         /* the table's keys are regexes */
	const struct rules_tab *tab;       /* NULL: rdns or auth alone, fcrdns, dnsbl */
	char zone[RULES_HOST_BYTES_MAX];   /* dnsbl: the zone, no trailing dot */
	enum rules_filter_action action;
	unsigned code;                     /* reject, disconnect: 4xx or 5xx */
	char text[RULES_FILTER_TEXT_BYTES_MAX]; /* after the code; rewrite: the
	                                    * new parameter; report: the message */
};

/* A filter process (smtpd-filters(7)): `proc NAME "cmd"` (used by
 * `filter F proc NAME`) or `filter NAME proc-exec "cmd"`, each run by the
 * delivery helper as user (default: the daemon's user) and group. */
struct rules_proc {
	char name[RULES_NAME_BYTES_MAX];   /* the proc's, or the proc-exec filter's */
	unsigned line;
	char command[RULES_PATH_BYTES_MAX]; /* run by /bin/sh -c */
	char user[RULES_NAME_BYTES_MAX];   /* "" : the daemon's user */
	char group[RULES_NAME_BYTES_MAX];  /* "" : the user's group */
	char chroot[RULES_PATH_BYTES_MAX]; /* "" : none */
};

/* The forward-confirmed reverse DNS of the client. */
enum rules_fcrdns {
	RULES_FCRDNS_UNKNOWN,      /* not looked up */
	RULES_FCRDNS_PASS,         /* a PTR name whose A/AAAA holds the address */
	RULES_FCRDNS_FAIL,         /* no PTR name, or none resolving back */
	RULES_FCRDNS_TEMPFAIL,
};

/* A DNSBL answer. */
enum rules_dnsbl {
	RULES_DNSBL_UNKNOWN,       /* not looked up */
	RULES_DNSBL_LISTED,
	RULES_DNSBL_CLEAN,
	RULES_DNSBL_TEMPFAIL,
};

struct rules_filter_facts {
	struct rules_query q;      /* src, local, helo, auth_user, rdns, mail_from,
	                            * country, asn; rcpt at RCPT TO */
	enum rules_fcrdns fcrdns;
	const uint8_t *dnsbl;      /* enum rules_dnsbl per chain position, or NULL */
};

enum rules_filter_result {
	RULES_FILTER_PROCEED,
	RULES_FILTER_JUNK,
	RULES_FILTER_REJECT,
	RULES_FILTER_DISCONNECT,
	RULES_FILTER_REWRITE,
	RULES_FILTER_TEMPFAIL,
};

struct rules_filter_verdict {
	enum rules_filter_result result;
	const struct rules_filter *filter; /* the filter that decided; NULL when
	                                    * the chain ran out */
	uint64_t reports;                  /* chain positions whose report fired */
};

/* Run l's chain for phase over facts into *v. */
void rules_filter_eval(const struct rules_listener *l, enum rules_filter_phase phase,
                       const struct rules_filter_facts *facts, struct rules_filter_verdict *v);
/* 1 when l's chain has a filter that needs the client's PTR name (rdns,
 * fcrdns), 2 when one needs fcrdns, 0 when none. */
int rules_filter_needs_rdns(const struct rules_listener *l);
/* "connect", "mail-from", ... */
const char *rules_filter_phase_name(enum rules_filter_phase p);
const char *rules_filter_check_name(enum rules_filter_check k);
const char *rules_filter_action_name(enum rules_filter_action a);

#endif
