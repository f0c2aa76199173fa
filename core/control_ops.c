/*
 * core/control_ops.c - discover, trace, profile, pause mta from ... for
 * ..., show mta paused and show hoststats' merge, on the main thread. See
 * core/control_ops.h.
 */
#include "core/control_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/daemon.h"
#include "core/hoststat.h"
#include "core/log.h"
#include "core/mta_block.h"
#include "core/trace.h"
#include "queue/queue.h"

static void
control_ops_reply(struct ctl_buf *out, uint8_t type, uint64_t id, uint32_t code,
                  const char *text)
{
	const char *strs[1] = { text };
	ctl_encode(out, type, id, code, strs, text ? 1 : 0, NULL, 0);
}

void
control_ops_discover(struct daemon *d, const struct ctl_msg *m, uid_t uid, struct ctl_buf *out)
{
	unsigned found = 0, discovered = 0;
	int err = queue_discover(d->queue, m->id, m->arg == CTL_SEL_MSGID, &found, &discovered);
	if (err < 0) {
		log_warn("control: discover: %s", queue_strerror(d->queue));
		control_ops_reply(out, CTL_FAIL, 0, 451, "the queue cannot be read");
		return;
	}
	if (found == 0) {
		control_ops_reply(out, CTL_FAIL, 0, 404, m->arg == CTL_SEL_MSGID
		                  ? "no such message in the queue" : "no such envelope in the queue");
		return;
	}
	log_info("control: discover %0*llx by uid %u: %u of %u envelope%s scheduled again",
	         m->arg == CTL_SEL_MSGID ? 8 : 16, (unsigned long long)m->id, (unsigned)uid,
	         discovered, found, found == 1 ? "" : "s");
	control_ops_reply(out, CTL_OK, discovered, 0, NULL);
}

void
control_ops_trace(const struct ctl_msg *m, uid_t uid, struct ctl_buf *out)
{
	int on = m->type == CTL_TRACE;
	uint32_t mask = trace_set(m->arg, on);
	char names[256] = "";
	for (uint32_t bit = 1; bit <= CTL_TRACE_MPROC; bit <<= 1)
		if (m->arg & bit)
			snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
			         names[0] ? "," : "", ctl_trace_name(bit));
	log_info("control: %s %s by uid %u", on ? "trace" : "untrace", names, (unsigned)uid);
	control_ops_reply(out, CTL_OK, mask, 0, NULL);
}

/* unprofile queue: what was measured, one line per store operation. */
static void
control_ops_profile_log(void)
{
	struct queue_profile_stat st[8];
	unsigned n = queue_profile_read(st, 8);
	for (unsigned i = 0; i < n; i++)
		log_info("profile queue: %s calls=%llu avg=%lluus max=%lluus", st[i].name,
		         (unsigned long long)st[i].calls,
		         (unsigned long long)(st[i].calls ? st[i].total_ns / st[i].calls / 1000 : 0),
		         (unsigned long long)(st[i].max_ns / 1000));
}

void
control_ops_profile(const struct ctl_msg *m, uid_t uid, int *imsg, struct ctl_buf *out)
{
	int on = m->type == CTL_PROFILE;
	if (m->arg & CTL_PROFILE_QUEUE) {
		if (!on && queue_profile_on())
			control_ops_profile_log();
		queue_profile_set(on);
	}
	if (m->arg & CTL_PROFILE_IMSG)
		*imsg = on;
	log_info("control: %s %s by uid %u", on ? "profile" : "unprofile",
	         m->arg == CTL_PROFILE_ALL ? "imsg,queue" :
	         m->arg == CTL_PROFILE_QUEUE ? "queue" : "imsg", (unsigned)uid);
	control_ops_reply(out, CTL_OK, 0, 0, NULL);
}

unsigned
control_ops_profile_stats(char (*keys)[48], char (*vals)[48], unsigned cap)
{
	struct queue_profile_stat st[8];
	unsigned n = queue_profile_read(st, 8), k = 0;
	if (!queue_profile_on())
		return 0;
	for (unsigned i = 0; i < n && k + 3 <= cap; i++) {
		uint64_t avg = st[i].calls ? st[i].total_ns / st[i].calls / 1000 : 0;
		snprintf(keys[k], 48, "profile.queue.%s.calls", st[i].name);
		snprintf(vals[k++], 48, "%llu", (unsigned long long)st[i].calls);
		snprintf(keys[k], 48, "profile.queue.%s.avg_us", st[i].name);
		snprintf(vals[k++], 48, "%llu", (unsigned long long)avg);
		snprintf(keys[k], 48, "profile.queue.%s.max_us", st[i].name);
		snprintf(vals[k++], 48, "%llu", (unsigned long long)(st[i].max_ns / 1000));
	}
	return k;
}

int
control_ops_mta_block(const struct ctl_msg *m, uid_t uid, struct mta_block_set **old,
                      struct ctl_buf *out)
{
	char addr[64], domain[MTA_BLOCK_DOMAIN_BYTES], why[128];
	struct mta_block b;
	int pause = m->type == CTL_MTA_BLOCK, err = 0;
	if (ctl_str_copy(m, 0, addr, sizeof addr) < 0 ||
	    ctl_str_copy(m, 1, domain, sizeof domain) < 0) {
		control_ops_reply(out, CTL_FAIL, 0, 501, "source address or domain too long");
		return 0;
	}
	if (mta_block_parse(addr, domain, &b, why, sizeof why) < 0) {
		control_ops_reply(out, CTL_FAIL, 0, 501, why);
		return 0;
	}
	struct mta_block_set *cur = atomic_load(&mta_blocks), *next;
	next = pause ? mta_block_set_with(cur, &b, &err) : mta_block_set_without(cur, &b, &err);
	if (err != 0) {
		control_ops_reply(out, CTL_FAIL, 0, err == ENOMEM ? 451 : 550,
		                  err == EEXIST ? "already paused" :
		                  err == ENOENT ? "not paused (smtpctl show mta paused lists them)" :
		                  err == ENOSPC ? "too many pauses" : "out of memory");
		return 0;
	}
	*old = mta_block_publish(next);
	log_info("control: %s mta from %s for %s by uid %u", pause ? "pause" : "resume", addr,
	         b.domain, (unsigned)uid);
	return 1;
}

void
control_ops_show_mta_block(struct ctl_buf *out)
{
	const struct mta_block_set *s = atomic_load(&mta_blocks);
	char src[64];
	for (unsigned i = 0; s != NULL && i < s->n; i++) {
		mta_block_src_text(&s->v[i], src, sizeof src);
		const char *kv[] = { "source", src, "domain", s->v[i].domain };
		ctl_encode(out, CTL_RECORD, 0, 0, kv, 4, NULL, 0);
	}
	control_ops_reply(out, CTL_END, 0, 0, NULL);
}

struct control_hs {
	char domain[HOSTSTAT_DOMAIN_BYTES];
	char tm[24];
	unsigned long long t;
	char error[HOSTSTAT_ERROR_BYTES];
};

static int
control_hs_cmp(const void *a, const void *b)
{
	return strcmp(((const struct control_hs *)a)->domain, ((const struct control_hs *)b)->domain);
}

/* Fold one shard's RECORD into v (n used, cap slots). */
static void
control_hs_add(struct control_hs *v, unsigned *n, unsigned cap, const struct ctl_msg *m)
{
	struct control_hs h;
	if (m->nstr != 6 || ctl_str_copy(m, 1, h.domain, sizeof h.domain) < 0 ||
	    ctl_str_copy(m, 3, h.tm, sizeof h.tm) < 0 ||
	    ctl_str_copy(m, 5, h.error, sizeof h.error) < 0)
		return;
	h.t = strtoull(h.tm, NULL, 10);
	for (unsigned i = 0; i < *n; i++)
		if (strcmp(v[i].domain, h.domain) == 0) {
			if (h.t > v[i].t)
				v[i] = h;
			return;
		}
	if (*n < cap)
		v[(*n)++] = h;
}

void
control_ops_hoststats(const struct ctl_buf *in, unsigned n, struct ctl_buf *out)
{
	unsigned cap = n * HOSTSTAT_DOMAINS_MAX, nv = 0;
	struct control_hs *v = calloc(cap ? cap : 1, sizeof *v);
	static struct ctl_msg m;   /* main thread only; large */
	if (v == NULL) {
		control_ops_reply(out, CTL_FAIL, 0, 451, "out of memory");
		return;
	}
	for (unsigned s = 0; s < n; s++) {
		size_t off = 0, used, need;
		while (off < in[s].len && ctl_decode(in[s].p + off, in[s].len - off, &m, &used,
		                                     &need) == 1) {
			control_hs_add(v, &nv, cap, &m);
			off += used;
		}
	}
	qsort(v, nv, sizeof v[0], control_hs_cmp);
	for (unsigned i = 0; i < nv; i++) {
		const char *kv[] = { "domain", v[i].domain, "time", v[i].tm, "error", v[i].error };
		ctl_encode(out, CTL_RECORD, 0, 0, kv, 6, NULL, 0);
	}
	free(v);
	control_ops_reply(out, CTL_END, 0, 0, NULL);
}
