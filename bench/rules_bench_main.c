/*
 * bench/rules_bench_main.c - RCPT decisions per second of the smtpd.conf
 * decision table (build/rules_bench): a generated config of 1,000 match
 * lines over 100 domain tables holding 100,000 domains in all (some "*S"
 * wildcards), 10 source network tables, 10 sender tables and 10 recipient
 * tables, loaded with rules_load_string(), then decided three ways on the
 * same workload (sessions of 10 MAILs of 10 RCPTs, to known and unknown
 * domains):
 *   staged   rules_session_candidates() once per session,
 *            rules_mail_candidates() once per MAIL, rules_match_rcpt() per
 *            RCPT (what core/session.c does); their cost is counted
 *   whole    rules_match() per RCPT: every line, hashed tables
 *   naive    every line, every criterion, each table scanned entry by entry
 *            (the interpreter this bench keeps for comparison only)
 * Each is run --runs times (default 5) for about --seconds each (0.5);
 * the median decisions per second and the staged/naive ratio are printed.
 * The three must agree on every verdict, or the bench says so and fails.
 *
 *   rules_bench [--rules N] [--domains N] [--runs N] [--seconds S]
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rules/rules_int.h"

#define BENCH_DOMAIN_TABLES 100
#define BENCH_SIDE_TABLES 10
#define BENCH_SIDE_KEYS 200
#define BENCH_RUNS_MAX 31
#define BENCH_SESSION_MAILS 10
#define BENCH_MAIL_RCPTS 10
#define BENCH_ADDR_BYTES 128

struct bench_opts {
	unsigned rules, domains, runs;
	double seconds;
};

/* A sized text buffer the config is written into. */
struct bench_text {
	char *p;
	size_t len, cap;
};

/* Append printf-style text; exits when out of memory. */
static void
bench_put(struct bench_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
bench_put(struct bench_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + 4096;
		if ((t->p = realloc(t->p, t->cap)) == NULL) {
			fprintf(stderr, "rules_bench: out of memory\n");
			exit(1);
		}
	}
	t->len += (size_t)n;
}

/* Seconds on CLOCK_MONOTONIC. */
static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The generated config: tables, two actions, opts->rules match lines. */
static char *
bench_config(const struct bench_opts *o)
{
	struct bench_text t = { 0 };
	unsigned per = o->domains / BENCH_DOMAIN_TABLES, i, k;

	for (i = 0; i < BENCH_DOMAIN_TABLES; i++) {
		bench_put(&t, "table dom%u {", i);
		for (k = 0; k < per; k++)
			bench_put(&t, k % 50 == 49 ? " \"*.w%u-%u.example\"," : " d%u-%u.example,", i, k);
		t.p[t.len - 1] = ' ';
		bench_put(&t, "}\n");
	}
	for (i = 0; i < BENCH_SIDE_TABLES; i++) {
		bench_put(&t, "table net%u {", i);
		for (k = 0; k < BENCH_SIDE_KEYS; k++)
			bench_put(&t, " 10.%u.%u.0/24,", i, k);
		bench_put(&t, " 2001:db8:%x::/48 }\n", i);
		bench_put(&t, "table snd%u {", i);
		for (k = 0; k < BENCH_SIDE_KEYS; k++)
			bench_put(&t, " \"s%u@snd%u.example\",", k, i);
		bench_put(&t, " \"@all%u.example\" }\n", i);
		bench_put(&t, "table rcp%u {", i);
		for (k = 0; k < BENCH_SIDE_KEYS; k++)
			bench_put(&t, " \"r%u@rcp%u.example\",", k, i);
		t.p[t.len - 1] = ' ';
		bench_put(&t, "}\n");
	}
	bench_put(&t, "action deliver maildir\naction out relay\n");
	for (i = 0; i < o->rules; i++) {
		unsigned d = i % BENCH_DOMAIN_TABLES, s = i % BENCH_SIDE_TABLES;
		switch (i % 5) {
		case 0: bench_put(&t, "match from src <net%u> for domain <dom%u> action out\n", s, d); break;
		case 1: bench_put(&t, "match from any tls for domain <dom%u> action deliver\n", d); break;
		case 2: bench_put(&t, "match from any mail-from <snd%u> for domain <dom%u> action out\n",
		                  s, d); break;
		case 3: bench_put(&t, "match tag T%u for rcpt-to <rcp%u> action deliver\n", s, s); break;
		default: bench_put(&t, "match from any helo h%u.example for domain <dom%u> reject\n",
		                   s, d); break;
		}
	}
	return t.p;
}

/* ---- the naive interpreter: every criterion, tables scanned ---- */

/* Entry e ("user@domain", "@domain", "user") against addr, case-blind,
 * a "+tag" in addr ignored unless e has one. */
static int
naive_mailaddr_entry(const char *addr, const char *e)
{
	const char *at = strrchr(addr, '@'), *eat = strrchr(e, '@');
	const char *dom = at ? at + 1 : "", *edom = eat ? eat + 1 : "";
	size_t ulen = at ? (size_t)(at - addr) : strlen(addr);
	size_t eulen = eat ? (size_t)(eat - e) : strlen(e);
	const char *tag;

	if (*edom && !rules_hostname_match(dom, edom))
		return 0;
	if (eulen == 0)
		return 1;
	if (memchr(e, '+', eulen) == NULL && (tag = memchr(addr, '+', ulen)) != NULL)
		ulen = (size_t)(tag - addr);
	return ulen == eulen && strncasecmp(addr, e, ulen) == 0;
}

/* One table scanned for key as kind. */
static int
naive_table(const struct rules_tab *t, enum rules_lookup kind, const char *key)
{
	for (unsigned i = 0; i < t->n; i++) {
		const char *e = t->e[i].key;
		int hit = kind == RULES_LOOKUP_MAILADDR ? naive_mailaddr_entry(key, e) :
		          kind == RULES_LOOKUP_DOMAIN && strchr(e, '*') ? rules_hostname_match(key, e) :
		          strcasecmp(key, e) == 0;
		if (hit)
			return 1;
	}
	return 0;
}

/* A criterion on a string key; NONE answers 1. */
static int
naive_key(const struct rules_row_cond *f, enum rules_lookup kind, const char *key)
{
	if (f->kind != RULES_COND_TABLE)
		return 1;
	return naive_table(f->tab, kind, key) != f->neg;
}

/* from any|local|src: networks scanned one by one. */
static int
naive_from(const struct rules_row_cond *f, const struct rules_query *q)
{
	int r = 1;

	if (f->kind == RULES_COND_LOCAL)
		r = q->local;
	else if (f->kind == RULES_COND_TABLE) {
		r = 0;
		for (unsigned i = 0; i < f->tab->nnets && !r; i++)
			r = rules_net_contains(&f->tab->nets[i], q->src);
	}
	return r != f->neg;
}

/* for any|local|domain. */
static int
naive_for(const struct rules_config *c, const struct rules_row_cond *f, const char *domain)
{
	int r = 1;

	if (f->kind == RULES_COND_LOCAL)
		r = strcasecmp(domain, "localhost") == 0 || strcasecmp(domain, c->hostname) == 0;
	else if (f->kind == RULES_COND_TABLE)
		r = naive_table(f->tab, RULES_LOOKUP_DOMAIN, domain);
	return r != f->neg;
}

/* Every line in order, every criterion of it (the generated config uses
 * no regex, rdns or auth). */
static enum rules_verdict
naive_match(const struct rules_config *c, const struct rules_query *q, unsigned *line)
{
	const char *at = strrchr(q->rcpt, '@'), *domain = at ? at + 1 : "";

	for (unsigned i = 0; i < c->table->nrows; i++) {
		const struct rules_row *r = &c->table->rows[i];
		if (!naive_key(&r->tag, RULES_LOOKUP_STRING, q->listener_tag) || !naive_from(&r->from, q) ||
		    !naive_key(&r->helo, RULES_LOOKUP_DOMAIN, q->helo) ||
		    (r->tls.kind != RULES_COND_NONE && (q->tls != 0) == r->tls.neg) ||
		    !naive_key(&r->mail_from, RULES_LOOKUP_MAILADDR, q->mail_from) ||
		    !naive_for(c, &r->rcpt_for, domain) ||
		    !naive_key(&r->rcpt_to, RULES_LOOKUP_MAILADDR, q->rcpt))
			continue;
		*line = r->line;
		return r->reject ? RULES_REJECT : RULES_ACCEPT;
	}
	*line = 0;
	return RULES_NOMATCH;
}

/* ---- the workload ---- */

struct bench_session {
	struct sockaddr_storage src;
	struct rules_query q;
	char helo[64], tag[8];
};

/* xorshift64: the workload is the same on every run. */
static unsigned
bench_rand(uint64_t *st, unsigned n)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return (unsigned)(*st % n);
}

/* A session: half from a listed network, a third under TLS, a few tagged. */
static void
bench_session_new(uint64_t *st, struct bench_session *s)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&s->src;

	memset(s, 0, sizeof *s);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(bench_rand(st, 2) ? (10u << 24) | (bench_rand(st, 10) << 16) |
	                            (bench_rand(st, 256) << 8) | 7 : 0xCB007105u);
	snprintf(s->helo, sizeof s->helo, "h%u.example", bench_rand(st, 20));
	snprintf(s->tag, sizeof s->tag, bench_rand(st, 4) ? "" : "T%u", bench_rand(st, 10));
	s->q.src = (const struct sockaddr *)&s->src;
	s->q.listener_tag = s->tag;
	s->q.helo = s->helo;
	s->q.tls = bench_rand(st, 3) == 0;
}

/* A sender: listed in a sender table at times. */
static void
bench_sender(uint64_t *st, char *buf)
{
	snprintf(buf, BENCH_ADDR_BYTES, "s%u@snd%u.example", bench_rand(st, 400), bench_rand(st, 12));
}

/* A recipient: a listed domain, a wildcard one, a listed address, or unknown. */
static void
bench_rcpt(uint64_t *st, const struct bench_opts *o, char *buf)
{
	unsigned per = o->domains / BENCH_DOMAIN_TABLES, t = bench_rand(st, BENCH_DOMAIN_TABLES);

	switch (bench_rand(st, 4)) {
	case 0: snprintf(buf, BENCH_ADDR_BYTES, "u@d%u-%u.example", t, bench_rand(st, per)); break;
	case 1: snprintf(buf, BENCH_ADDR_BYTES, "u@x.w%u-%u.example", t, 49 + 50 * bench_rand(st, per / 50));
		break;
	case 2: snprintf(buf, BENCH_ADDR_BYTES, "r%u@rcp%u.example", bench_rand(st, 250),
	                 bench_rand(st, 10)); break;
	default: snprintf(buf, BENCH_ADDR_BYTES, "u@unknown%u.example", bench_rand(st, 1000)); break;
	}
}

enum bench_way { BENCH_STAGED, BENCH_WHOLE, BENCH_NAIVE, BENCH_WAYS };
static const char *const bench_way_names[BENCH_WAYS] = { "staged", "whole", "naive" };

/* Decide sessions for about `seconds`; decisions per second. Every verdict
 * is checked against rules_match() when check is set. */
static double
bench_run(const struct rules_config *c, const struct bench_opts *o, enum bench_way way, int check,
          unsigned long *mismatches)
{
	size_t words = rules_candidates_words(c);
	uint64_t *set = calloc(2 * words, sizeof *set), st = 0x9E3779B97F4A7C15ull;
	char from[BENCH_ADDR_BYTES], rcpt[BENCH_ADDR_BYTES];
	unsigned long n = 0;
	double t0 = bench_now(), t;
	struct bench_session s;

	if (set == NULL)
		return 0;
	do {
		bench_session_new(&st, &s);
		if (way == BENCH_STAGED)
			rules_session_candidates(c, &s.q, set);
		for (unsigned m = 0; m < BENCH_SESSION_MAILS; m++) {
			bench_sender(&st, from);
			s.q.mail_from = from;
			if (way == BENCH_STAGED)
				rules_mail_candidates(c, set, from, set + words);
			for (unsigned r = 0; r < BENCH_MAIL_RCPTS; r++, n++) {
				enum rules_verdict v;
				unsigned line, wline;
				bench_rcpt(&st, o, rcpt);
				s.q.rcpt = rcpt;
				if (way == BENCH_STAGED)
					v = rules_match_rcpt(c, set + words, rcpt, NULL, &line);
				else if (way == BENCH_WHOLE)
					v = rules_match(c, &s.q, NULL, &line);
				else
					v = naive_match(c, &s.q, &line);
				if (check && (rules_match(c, &s.q, NULL, &wline) != v || wline != line))
					(*mismatches)++;
			}
		}
		t = bench_now() - t0;
	} while (t < o->seconds);
	free(set);
	return (double)n / t;
}

/* qsort comparator for doubles. */
static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Parse the command line into o; 0, or -1 with a usage message. */
static int
bench_args(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){ .rules = 1000, .domains = 100000, .runs = 5, .seconds = 0.5 };
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			goto usage;
		if (strcmp(argv[i], "--rules") == 0)
			o->rules = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0)
			o->domains = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0)
			o->runs = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			o->seconds = strtod(v, NULL);
		else
			goto usage;
	}
	if (o->rules > 0 && o->domains >= 100 * BENCH_DOMAIN_TABLES && o->runs > 0 &&
	    o->runs <= BENCH_RUNS_MAX && o->seconds > 0 && o->seconds <= 60)
		return 0;
usage:
	fprintf(stderr, "usage: rules_bench [--rules N] [--domains N>=%u] [--runs 1..%u] "
	        "[--seconds S]\n", 100 * BENCH_DOMAIN_TABLES, BENCH_RUNS_MAX);
	return -1;
}

int
main(int argc, char **argv)
{
	struct rules_load_params p = { .hostname = "mx.bench.example", .base_dir = "/" };
	double rate[BENCH_WAYS][BENCH_RUNS_MAX], median[BENCH_WAYS], t0;
	unsigned long mismatches = 0;
	struct rules_config *c;
	struct rules_error err;
	struct bench_opts o;
	char msg[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32], *text;

	if (bench_args(argc, argv, &o) < 0)
		return 2;
	text = bench_config(&o);
	t0 = bench_now();
	if ((c = rules_load_string("bench.conf", text, &p, &err)) == NULL) {
		rules_error_format(&err, msg, sizeof msg);
		fprintf(stderr, "rules_bench: %s\n", msg);
		return 1;
	}
	printf("rules_bench: %u match lines, %u domains in %u tables, %zu bytes of config, "
	       "loaded in %.2f s\n", c->table->nrows, o.domains, BENCH_DOMAIN_TABLES, strlen(text),
	       bench_now() - t0);
	free(text);
	/* one short checked pass each: the three must agree on every verdict */
	for (int w = 0; w < BENCH_WAYS; w++)
		bench_run(c, &(struct bench_opts){ .rules = o.rules, .domains = o.domains,
		                                   .seconds = 0.05 }, (enum bench_way)w, 1, &mismatches);
	if (mismatches > 0) {
		fprintf(stderr, "rules_bench: %lu verdicts differ from rules_match()\n", mismatches);
		return 1;
	}
	for (unsigned r = 0; r < o.runs; r++)
		for (int w = 0; w < BENCH_WAYS; w++)
			rate[w][r] = bench_run(c, &o, (enum bench_way)w, 0, NULL);
	for (int w = 0; w < BENCH_WAYS; w++) {
		qsort(rate[w], o.runs, sizeof rate[w][0], bench_cmp);
		median[w] = rate[w][o.runs / 2];
		printf("%-7s %12.0f RCPT decisions/s (median of %u runs, %.0f..%.0f)\n",
		       bench_way_names[w], median[w], o.runs, rate[w][0], rate[w][o.runs - 1]);
	}
	printf("staged/naive %.1fx, staged/whole %.1fx\n", median[BENCH_STAGED] / median[BENCH_NAIVE],
	       median[BENCH_STAGED] / median[BENCH_WHOLE]);
	rules_free(c);
	return 0;
}
