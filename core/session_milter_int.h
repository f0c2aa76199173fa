/*
 * core/session_milter_int.h - the inside of a session's milter
 * conversation, shared by core/session_milter.c (the phases, steps and
 * replies, and the session's calls), core/session_milter_send.c (the
 * packets of each step, with their macros) and core/session_milter_edit.c
 * (the message in memory and the end-of-message changes). Nothing else
 * includes it.
 */
#ifndef CORE_SESSION_MILTER_INT_H
#define CORE_SESSION_MILTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/milter_conn.h"
#include "core/session_int.h"
#include "proto/milter_proto.h"

enum sm_phase { SM_IDLE, SM_CONN, SM_MAIL, SM_RCPT, SM_DATA, SM_EOM };

/* The steps of a phase for one milter, in order. */
enum sm_step {
	SM_OPTNEG, SM_CONNECT,                        /* SM_CONN (and SM_MAIL) */
	SM_HELO, SM_MAILCMD,                          /* SM_MAIL */
	SM_RCPTCMD,                                   /* SM_RCPT */
	SM_DATACMD,                                   /* SM_DATA */
	SM_HEADER, SM_EOH, SM_BODY, SM_EOMCMD,        /* SM_EOM */
	SM_DONE,
};

struct sm_link {
	struct milter_conn c;
	struct session_milter *sm;
	const struct rules_milter *m;
	uint32_t actions, protocol;      /* negotiated */
	int opened;                      /* connected and OPTNEG sent */
	int connect_sent, helo_sent;     /* once per session */
	int out_session;                 /* accepted at connect/helo: done for good */
	int out_msg;                     /* accepted for this message */
	int failed;                      /* its default applies from now */
	int in_msg;                      /* MAIL sent, no end of message or ABORT yet */
	unsigned refuse_code;            /* refused at connect/helo: every MAIL */
	char refuse_text[256];
	enum sm_step step;
	int waiting;
	size_t hdr_pos, body_pos;        /* SM_HEADER, SM_BODY cursors */
	unsigned edits;                  /* end-of-message changes it asked */
	int replbody;                    /* sm->newbody holds its body */
};

struct session_milter {
	struct session *s;
	unsigned n;
	struct sm_link l[RULES_LISTENER_MILTERS_MAX];
	enum sm_phase phase;
	unsigned cur;
	char addr[QUEUE_ADDR_BYTES_MAX]; /* MAIL or RCPT address asked about */
	unsigned rcpt_before;            /* s->rcpts.n before this RCPT */
	char *msg;                       /* the message, while buffering */
	size_t msg_len, msg_cap, msg_max;
	char *newbody;                   /* a REPLBODY being received */
	size_t newbody_len, newbody_cap;
	int discard, quarantine;
	char quarantine_why[256];
	int conn_asked;                  /* the connect step was started */
};

/* session_milter_send.c */
/* Queue a built packet of n octets (n < 0: it did not fit); 0 or -1. */
int session_milter_put(struct sm_link *k, const char *pkt, int n);
/* Queue k's current step (its macros, then the command; SM_HEADER and
 * SM_BODY the next field or chunk): 1 queued, 0 no field or chunk left,
 * -1 failed. */
int session_milter_send(struct sm_link *k);

/* session_milter_edit.c */
/* An end-of-message change r of milter k applied (the message, the
 * recipients, the sender, quarantine; a body is gathered for
 * session_milter_apply() at the verdict); 0, or -1 when k did not
 * negotiate it or it does not fit. */
int session_milter_edit(struct sm_link *k, const struct proto_milter_msg *r);
/* Apply e to the message in memory; 0, or -1 (too large, no memory). */
int session_milter_apply(struct session_milter *sm, const struct proto_milter_msg *e,
                         int leadspc);
/* Free the message in memory (queued or dropped). */
void session_milter_release(struct session_milter *sm);

#endif
