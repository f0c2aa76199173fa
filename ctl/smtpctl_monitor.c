/*
 * ctl/smtpctl_monitor.c - `smtpctl monitor`: OpenSMTPD's view of the
 * daemon's counters once a second. The first line has the absolute values,
 * each later one what changed since the line before (the "curr" columns
 * stay absolute); the header again every 25 lines; with --json one object
 * per line. Asks `show stats` over the one connection, until interrupted
 * or the daemon goes away. count > 0 stops after that many lines (for
 * scripts: `smtpctl monitor 5`).
 */
#include "ctl/smtpctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl_client.h"

enum monitor_col {
	MON_CURR, MON_CONN, MON_DISC, MON_ENV, MON_ENQ, MON_DEQ, MON_OK, MON_TMPFAIL,
	MON_PRMFAIL, MON_LOOP, MON_EXPIRE, MON_REMOVE, MON_BOUNCE, MON_COLS
};

static const char *const monitor_names[MON_COLS] = {
	"curr", "conn", "disc", "env", "enq", "deq", "ok", "tmpfail", "prmfail", "loop",
	"expire", "remove", "bounce",
};

/* A counter of the stats record, 0 when absent. */
static unsigned long long
monitor_get(const struct ctl_msg *m, const char *key)
{
	const struct ctl_str *v = ctl_record_get(m, key);
	char buf[32];
	if (v == NULL || v->len >= sizeof buf)
		return 0;
	memcpy(buf, v->p, v->len);
	buf[v->len] = '\0';
	return strtoull(buf, NULL, 10);
}

/* The cumulative values behind the columns. */
static void
monitor_sample(const struct ctl_msg *m, unsigned long long *v)
{
	v[MON_CURR] = monitor_get(m, "smtp.session");
	v[MON_CONN] = monitor_get(m, "smtp.session.inet4") + monitor_get(m, "smtp.session.inet6");
	v[MON_ENV] = monitor_get(m, "scheduler.envelope");
	v[MON_ENQ] = monitor_get(m, "ringmta.queue.enqueued");
	v[MON_OK] = monitor_get(m, "scheduler.delivery.ok");
	v[MON_TMPFAIL] = monitor_get(m, "scheduler.delivery.tempfail");
	v[MON_PRMFAIL] = monitor_get(m, "scheduler.delivery.permfail");
	v[MON_LOOP] = monitor_get(m, "ringmta.smtp.loops");
	v[MON_EXPIRE] = monitor_get(m, "scheduler.delivery.expired");
	v[MON_REMOVE] = monitor_get(m, "ringmta.queue.removed");
	v[MON_BOUNCE] = monitor_get(m, "ringmta.queue.reports");
	v[MON_DEQ] = v[MON_OK] + v[MON_PRMFAIL] + v[MON_EXPIRE] + v[MON_REMOVE];
	v[MON_DISC] = 0;   /* derived from the change in curr and conn */
}

/* The line's values: absolute on the first, else changes. */
static void
monitor_line(const unsigned long long *now, const unsigned long long *before, int first,
             unsigned long long *out)
{
	for (unsigned i = 0; i < MON_COLS; i++)
		out[i] = first || i == MON_CURR || i == MON_ENV ? now[i] : now[i] - before[i];
	if (!first) {
		long long opened = (long long)out[MON_CONN];
		long long grew = (long long)now[MON_CURR] - (long long)before[MON_CURR];
		out[MON_DISC] = opened > grew ? (unsigned long long)(opened - grew) : 0;
	}
}

int
smtpctl_monitor(struct ctl_client *c, int json, unsigned long count)
{
	static struct ctl_msg m;
	unsigned long long before[MON_COLS] = { 0 }, now[MON_COLS], out[MON_COLS];
	for (unsigned long line = 0; count == 0 || line < count; line++) {
		if (line > 0)
			sleep(1);
		if (ctl_client_send(c, CTL_SHOW_STATS, 0, 0, NULL, 0, NULL, 0) < 0 ||
		    ctl_client_recv(c, &m) != 1) {
			fprintf(stderr, "smtpctl: monitor: smtpd went away\n");
			return 1;
		}
		if (m.type != CTL_RECORD) {
			fprintf(stderr, "smtpctl: monitor: %.*s\n", m.nstr ? (int)m.str[0].len : 0,
			        m.nstr ? m.str[0].p : "no counters");
			return 1;
		}
		monitor_sample(&m, now);
		monitor_line(now, before, line == 0, out);
		memcpy(before, now, sizeof before);
		if (json) {
			printf("{");
			for (unsigned i = 0; i < MON_COLS; i++)
				printf("%s\"%s\": %llu", i ? ", " : "", monitor_names[i], out[i]);
			printf("}\n");
		} else {
			if (line % 25 == 0)
				printf("--- client ---  -- envelope --   ---- relay/delivery --- "
				       "------- misc -------\n"
				       "curr conn disc  curr  enq  deq   ok tmpfail prmfail loop "
				       "expire remove bounce\n");
			printf("%4llu %4llu %4llu  %4llu %4llu %4llu %4llu %7llu %7llu %4llu %6llu "
			       "%6llu %6llu\n", out[0], out[1], out[2], out[3], out[4], out[5], out[6],
			       out[7], out[8], out[9], out[10], out[11], out[12]);
		}
		fflush(stdout);
	}
	return 0;
}
