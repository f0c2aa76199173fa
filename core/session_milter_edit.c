/*
 * core/session_milter_edit.c - the message of a session with milters,
 * kept in memory from DATA (at most the size limit plus 64 KiB), and what
 * milters change at the end of it: header fields and the body
 * (proto/milter_edit.c), recipients added through the rules or removed,
 * the sender, quarantine (the envelopes committed paused). See
 * core/session_milter_int.h and core/session_milter.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/session_milter_int.h"
#include "proto/milter_edit.h"
#include "rules/milter.h"

/* The message is in the queue, or dropped: an idle session keeps no
 * copy of it. */
void
session_milter_release(struct session_milter *sm)
{
	free(sm->msg);
	free(sm->newbody);
	sm->msg = sm->newbody = NULL;
	sm->msg_len = sm->msg_cap = sm->newbody_len = sm->newbody_cap = 0;
}

/* A recipient edit (ADDRCPT, DELRCPT) of milter k. */
static void
sm_rcpt_edit(struct sm_link *k, const struct proto_milter_msg *r)
{
	struct session *s = k->sm->s;
	char addr[QUEUE_ADDR_BYTES_MAX];
	size_t n = strlen(r->name);
	const char *a = r->name;

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	snprintf(addr, sizeof addr, "%.*s", (int)n, a);
	if (r->cmd == PROTO_MILTER_R_DELRCPT) {
		unsigned kept = 0;
		for (unsigned i = 0; i < s->rcpts.n; i++)
			if (strcasecmp(s->rcpts.v[i].addr, addr) != 0)
				s->rcpts.v[kept++] = s->rcpts.v[i];
		log_info("%016llx smtp milter=%s phase=eom action=delrcpt to=<%s> removed=%u",
		         (unsigned long long)s->id, k->m->name, addr, s->rcpts.n - kept);
		s->rcpts.n = kept;
		return;
	}
	int ok = session_rcpt_add(s, addr) == 0;
	log_info("%016llx smtp milter=%s phase=eom action=addrcpt to=<%s>%s",
	         (unsigned long long)s->id, k->m->name, addr, ok ? "" : " refused by the rules");
}

/* CHGFROM: the envelope sender becomes r->name (<> taken off; its ESMTP
 * arguments are not applied); 0, or -1 when it is not an address. */
static int
sm_chgfrom(struct sm_link *k, const struct proto_milter_msg *r)
{
	struct session *s = k->sm->s;
	size_t n = strlen(r->name);
	const char *a = r->name;

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if (n >= sizeof s->sender || memchr(a, ' ', n) != NULL)
		return -1;
	log_info("%016llx smtp milter=%s phase=eom action=chgfrom from=<%s> to=<%.*s>",
	         (unsigned long long)s->id, k->m->name, s->sender, (int)n, a);
	memcpy(s->sender, a, n);
	s->sender[n] = '\0';
	return 0;
}

/* An end-of-message change of milter k; 0, or -1 when it may not. */
int
session_milter_edit(struct sm_link *k, const struct proto_milter_msg *r)
{
	static const struct { char cmd; uint32_t flag; } need[] = {
		{ PROTO_MILTER_R_ADDHEADER, PROTO_MILTER_F_ADDHDRS },
		{ PROTO_MILTER_R_INSHEADER, PROTO_MILTER_F_ADDHDRS },
		{ PROTO_MILTER_R_CHGHEADER, PROTO_MILTER_F_CHGHDRS },
		{ PROTO_MILTER_R_REPLBODY, PROTO_MILTER_F_CHGBODY },
		{ PROTO_MILTER_R_ADDRCPT, PROTO_MILTER_F_ADDRCPT },
		{ PROTO_MILTER_R_ADDRCPT_PAR, PROTO_MILTER_F_ADDRCPT_PAR },
		{ PROTO_MILTER_R_DELRCPT, PROTO_MILTER_F_DELRCPT },
		{ PROTO_MILTER_R_QUARANTINE, PROTO_MILTER_F_QUARANTINE },
		{ PROTO_MILTER_R_CHGFROM, PROTO_MILTER_F_CHGFROM },
	};
	struct session_milter *sm = k->sm;
	unsigned i;

	for (i = 0; i < sizeof need / sizeof need[0] && need[i].cmd != r->cmd; i++)
		;
	if (i == sizeof need / sizeof need[0] || k->step != SM_EOMCMD ||
	    !(k->actions & need[i].flag))
		return -1;
	k->edits++;
	switch (r->cmd) {
	case PROTO_MILTER_R_REPLBODY:
		if (!k->replbody)
			sm->newbody_len = 0;
		k->replbody = 1;
		if (r->data_len > sm->msg_max - sm->newbody_len)
			return -1;
		if (sm->newbody_len + r->data_len > sm->newbody_cap) {
			size_t want = sm->newbody_len + r->data_len + 65536;
			char *p = realloc(sm->newbody, want);
			if (p == NULL)
				return -1;
			sm->newbody = p;
			sm->newbody_cap = want;
		}
		memcpy(sm->newbody + sm->newbody_len, r->data, r->data_len);
		sm->newbody_len += r->data_len;
		return 0;
	case PROTO_MILTER_R_ADDRCPT:
	case PROTO_MILTER_R_ADDRCPT_PAR:
	case PROTO_MILTER_R_DELRCPT:
		sm_rcpt_edit(k, r);
		return 0;
	case PROTO_MILTER_R_CHGFROM:
		return sm_chgfrom(k, r);
	case PROTO_MILTER_R_QUARANTINE:
		sm->quarantine = 1;
		snprintf(sm->quarantine_why, sizeof sm->quarantine_why, "%s: %s", k->m->name, r->name);
		log_info("%016llx smtp milter=%s phase=eom action=quarantine reason=\"%s\"",
		         (unsigned long long)sm->s->id, k->m->name, r->name);
		return 0;
	}
	return session_milter_apply(sm, r, (k->protocol & PROTO_MILTER_P_HDR_LEADSPC) != 0);
}

/* Apply edit e to the message in memory; 0, or -1 (too large, no
 * memory). */
int
session_milter_apply(struct session_milter *sm, const struct proto_milter_msg *e, int leadspc)
{
	size_t cap = proto_milter_edit_bound(sm->msg_len, e);
	char *out;
	long n;

	if (cap > sm->msg_max + (64u << 10) || (out = malloc(cap)) == NULL)
		return -1;
	n = proto_milter_edit(sm->msg, sm->msg_len, e, leadspc, out, cap);
	if (n < 0) {
		free(out);
		return -1;
	}
	free(sm->msg);
	sm->msg = out;
	sm->msg_len = (size_t)n;
	sm->msg_cap = cap;
	return 0;
}

void
session_milter_buffer_begin(struct session *s)
{
	struct session_milter *sm = s->milter;

	if (sm == NULL)
		return;
	sm->msg_len = 0;
	sm->msg_max = s->config->size_max + (64u << 10);   /* the limit, and our header */
	s->milter_buffering = 1;
}

int
session_milter_buffer(struct session *s, const char *data, size_t len)
{
	struct session_milter *sm = s->milter;

	if (len > sm->msg_max - sm->msg_len)
		return -1;
	if (sm->msg_len + len > sm->msg_cap) {
		size_t want = sm->msg_cap ? sm->msg_cap * 2 : 65536;
		while (want < sm->msg_len + len)
			want *= 2;
		char *p = realloc(sm->msg, want);
		if (p == NULL)
			return -1;
		sm->msg = p;
		sm->msg_cap = want;
	}
	memcpy(sm->msg + sm->msg_len, data, len);
	sm->msg_len += len;
	return 0;
}

void
session_milter_envelopes(struct session *s)
{
	struct session_milter *sm = s->milter;

	if (sm == NULL || !sm->quarantine)
		return;
	for (unsigned i = 0; i < s->nenvs; i++) {
		s->envs[i].paused = 1;
		s->envs[i].next_attempt = QUEUE_PAUSED_AT;
		snprintf(s->envs[i].last_error, sizeof s->envs[i].last_error,
		         "quarantined by milter %s", sm->quarantine_why);
	}
}

int
session_milter_held(const struct session *s)
{
	return s->milter != NULL && s->milter->quarantine;
}
