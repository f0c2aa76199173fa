/*
 * core/rcpt_expand.h - what an accepted recipient becomes before the 250:
 * its deliveries after alias, virtual and ~/.forward expansion
 * (rules_aliases_expand() answered with this machine's users and files),
 * kept in a transaction's list without duplicates, and written into the
 * envelopes at commit. Used by SMTP sessions and by local submissions
 * over the control socket alike.
 */
#ifndef CORE_RCPT_EXPAND_H
#define CORE_RCPT_EXPAND_H

#include <stdint.h>

#include "queue/queue.h"
#include "rules/rules.h"

struct daemon;

/* One delivery a transaction keeps: one envelope at commit. */
struct rcpt_delivery {
	char addr[QUEUE_ADDR_BYTES_MAX];    /* the recipient as given at RCPT */
	char dest[QUEUE_ADDR_BYTES_MAX];    /* the address delivered to */
	char action[QUEUE_NAME_BYTES_MAX];
	unsigned ttl_s;                     /* the action's: its envelope expires then */
	uint8_t mda_kind;                   /* QUEUE_MDA_* */
	char mda_user[QUEUE_USER_BYTES_MAX];
	char mda_exec[QUEUE_EXEC_BYTES_MAX];
	uint8_t dsn_notify;                 /* NOTIFY= bits, 0 absent */
	char dsn_orcpt[QUEUE_ORCPT_BYTES_MAX];  /* ORCPT= "type;addr", "" absent */
};

struct rcpt_list {
	struct rcpt_delivery *v;
	unsigned n, cap;
};

/* How an address met in an expansion is decided: as OpenSMTPD's internal
 * envelopes, from a local client in the same transaction (sessions:
 * session_match_internal(); sendmail's submissions are local anyway). */
struct rcpt_matcher {
	enum rules_verdict (*match)(void *arg, const char *rcpt,
	                            const struct rules_action **action, unsigned *line);
	void *arg;
};

/* Expand rcpt, which the rules gave to a, and append its deliveries to
 * list (one the list holds already is not added twice), each with
 * dsn_notify and dsn_orcpt. Returns the number added (0: all were there),
 * or -1 with the reply in *res (code, status, text; why for the log):
 * an unknown user, an error: entry, a loop, a tempfail, or no memory. */
int rcpt_expand(const struct daemon *d, const struct rules_config *c, const char *rcpt,
                const struct rules_action *a, const struct rcpt_matcher *m, uint8_t dsn_notify,
                const char *dsn_orcpt, struct rcpt_list *list, struct rules_alias_result *res);
/* Copy what the delivery decides into an envelope queue_envelope_fill()
 * made (rcpt, dest, mda fields, DSN parameters). */
void rcpt_delivery_apply(const struct rcpt_delivery *r, struct queue_envelope *e);
void rcpt_list_free(struct rcpt_list *list);

#endif
