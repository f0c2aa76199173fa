/*
 * bench/mtaload_main.c - mtaload, an SMTP load generator on io_uring: the
 * command line, the message body template, the threads, the progress line,
 * the Message-ID file and the report. The engine is bench/load.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/load.h"
#include "bench/load_report.h"
#include "bench/ring.h"
#include "bench/saslplain.h"

#define MTALOAD_THREADS_MAX 64
#define MTALOAD_SESSIONS_MAX 100000
#define MTALOAD_RCPT_COUNT_MAX 1000000000    /* numbers of at most 9 digits */

struct mtaload_opts {
	struct bench_load_config cfg;
	int json, quiet;
	const char *ids_path;
	const char *tls_ca;       /* --tls-verify */
	int proxy_src_given;
	int rcpt_pattern_given;
};

static const char mtaload_usage[] =
"usage: mtaload [options] HOST:PORT      (HOST in 127.0.0.0/8 only)\n"
"  -s, --sessions N      concurrent SMTP sessions (default 20)\n"
"  -m, --messages N      messages to send (default 1000)\n"
"  -d, --duration T      send for T (30, 30s, 500ms, 2m) instead of a count\n"
"  -c, --per-conn N      messages per connection, 0 = unlimited (default 1)\n"
"  -l, --size S          message size: 2k, 100k, or MIN-MAX uniform (default 2k);\n"
"                        the whole message (header and body) without the final dot\n"
"  -r, --rcpts N         recipients per message (default 1; rcpt, rcpt-2, ...)\n"
"  -P, --no-pipelining   one command per round trip (default: MAIL, RCPTs, DATA\n"
"                        in one write when the server offers PIPELINING)\n"
"  -R, --rate R          open loop: R messages per second over all sessions;\n"
"                        latency counts from when a message fell due\n"
"                        (default: closed loop, each session as fast as it can)\n"
"  -T, --threads N       threads, each with its own ring and share of the sessions\n"
"                        (default 1)\n"
"  -f, --from ADDR       envelope sender (default mtaload@example.org)\n"
"  -t, --to ADDR         first recipient (default rcpt@example.net)\n"
"      --rcpt-pattern PAT  recipients from a pattern with one %u or %0Wu (W 1..9)\n"
"                        instead of --to: user%04u@example.net; needs --rcpt-count\n"
"      --rcpt-count N    the pattern's numbers run 0..N-1, round-robin: message k's\n"
"                        recipient j (0-based) is number (k * rcpts + j) mod N\n"
"  -H, --helo NAME       EHLO name (default mtaload.example)\n"
"      --timeout T       limit for every operation (default 30s)\n"
"      --drain T         after the last message started, wait at most T for the\n"
"                        open ones (default: timeout + 5s)\n"
"      --max-errors N    stop starting messages after N connection-level errors\n"
"                        (default 1000, 0 = never)\n"
"      --ids FILE        write the Message-ID of every accepted message to FILE\n"
"      --ids-max N       at most N Message-IDs per thread (default 50000000)\n"
"      --seed N          seed for message sizes (default 1)\n"
"      --json            print the report as JSON\n"
"  -q, --quiet           no progress line (it is printed only on a terminal)\n"
"      --starttls        STARTTLS after EHLO, then EHLO again (RFC 3207); a server\n"
"                        that does not offer it stops the run\n"
"      --tls             implicit TLS from the connect (RFC 8314, port 465)\n"
"      --tls-verify CAFILE  check the server's certificate chain against CAFILE\n"
"                        (default: no check; names are not checked)\n"
"      --auth USER:PASS  AUTH PLAIN with an initial response after EHLO (after\n"
"                        the second EHLO with --starttls); a server that does not\n"
"                        offer PLAIN, or refuses the credentials, stops the run\n"
"      --proxy v1|v2     send a PROXY protocol header first on every connection,\n"
"                        claiming a source address from --proxy-src\n"
"      --proxy-src CIDR  the claimed sources: 10.0.0.0/8, 2001:db8::/32 (the TCP\n"
"                        connection itself stays on loopback)\n"
"      --proxy-random    draw sources at random (--seed) instead of in order\n"
"  -h, --help\n"
"Latency lines: connect, greeting, ehlo, starttls, tls (handshake), auth, mail,\n"
"rcpt, data, dot, rset, quit, message.\n"
"Exit status: 0 every message accepted, 1 some rejected or failed, 2 usage or\n"
"set-up error.\n";

enum { OPT_TIMEOUT = 256, OPT_DRAIN, OPT_MAX_ERRORS, OPT_IDS, OPT_IDS_MAX, OPT_SEED, OPT_JSON,
       OPT_STARTTLS, OPT_TLS, OPT_TLS_VERIFY, OPT_AUTH, OPT_PROXY, OPT_PROXY_SRC,
       OPT_PROXY_RANDOM, OPT_RCPT_PATTERN, OPT_RCPT_COUNT };

static const struct option mtaload_longopts[] = {
	{"sessions", required_argument, NULL, 's'}, {"messages", required_argument, NULL, 'm'},
	{"duration", required_argument, NULL, 'd'}, {"per-conn", required_argument, NULL, 'c'},
	{"size", required_argument, NULL, 'l'}, {"rcpts", required_argument, NULL, 'r'},
	{"no-pipelining", no_argument, NULL, 'P'}, {"rate", required_argument, NULL, 'R'},
	{"threads", required_argument, NULL, 'T'}, {"from", required_argument, NULL, 'f'},
	{"to", required_argument, NULL, 't'}, {"helo", required_argument, NULL, 'H'},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"drain", required_argument, NULL, OPT_DRAIN},
	{"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
	{"ids", required_argument, NULL, OPT_IDS}, {"ids-max", required_argument, NULL, OPT_IDS_MAX},
	{"seed", required_argument, NULL, OPT_SEED}, {"json", no_argument, NULL, OPT_JSON},
	{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
	{"starttls", no_argument, NULL, OPT_STARTTLS}, {"tls", no_argument, NULL, OPT_TLS},
	{"tls-verify", required_argument, NULL, OPT_TLS_VERIFY},
	{"auth", required_argument, NULL, OPT_AUTH}, {"proxy", required_argument, NULL, OPT_PROXY},
	{"proxy-src", required_argument, NULL, OPT_PROXY_SRC},
	{"proxy-random", no_argument, NULL, OPT_PROXY_RANDOM},
	{"rcpt-pattern", required_argument, NULL, OPT_RCPT_PATTERN},
	{"rcpt-count", required_argument, NULL, OPT_RCPT_COUNT},
	{NULL, 0, NULL, 0},
};

/* Print why the command line is wrong and exit 2. */
static void
mtaload_die(const char *what, const char *value)
{
	fprintf(stderr, "mtaload: %s%s%s\n(mtaload --help for the options)\n", what,
	        value ? ": " : "", value ? value : "");
	exit(2);
}

/* Copy an address option, refusing what does not fit or has CR, LF, <, >. */
static void
mtaload_addr_opt(char *dst, const char *src, const char *what)
{
	if (strlen(src) >= BENCH_LOAD_ADDR_BYTES_MAX || strpbrk(src, "\r\n<> ") != NULL)
		mtaload_die(what, src);
	strcpy(dst, src);
}

/* Defaults before the options. */
static void
mtaload_defaults(struct mtaload_opts *o)
{
	memset(o, 0, sizeof *o);
	struct bench_load_config *c = &o->cfg;
	c->sessions = 20;
	c->threads = 1;
	c->messages = 1000;
	c->msgs_per_conn = 1;
	c->size.min_bytes = c->size.max_bytes = 2048;
	c->rcpts = 1;
	c->pipelining = 1;
	c->timeout_ns = 30000000000ull;
	c->drain_ns = 0;
	c->errors_max = 1000;
	c->ids_max = 50000000;
	c->seed = 1;
	strcpy(c->from, "mtaload@example.org");
	strcpy(c->to, "rcpt@example.net");
	strcpy(c->helo, "mtaload.example");
}

/* One numeric option into *v; dies when out of range. */
static uint64_t
mtaload_num(const char *arg, uint64_t lo, uint64_t hi, const char *what)
{
	uint64_t v;
	if (bench_parse_uint(arg, lo, hi, &v) < 0)
		mtaload_die(what, arg);
	return v;
}

/* Options about time and limits; returns 0 when opt is not one of them. */
static int
mtaload_opt_limits(struct mtaload_opts *o, int opt, const char *arg)
{
	struct bench_load_config *c = &o->cfg;
	switch (opt) {
	case 'd':
		if (bench_parse_duration_ns(arg, &c->duration_ns) < 0 || c->duration_ns == 0)
			mtaload_die("bad --duration", arg);
		c->messages = 0;
		return 1;
	case 'R':
		if (bench_parse_double(arg, &c->rate) < 0 || c->rate <= 0)
			mtaload_die("bad --rate", arg);
		return 1;
	case OPT_TIMEOUT:
		if (bench_parse_duration_ns(arg, &c->timeout_ns) < 0 || c->timeout_ns < 1000000)
			mtaload_die("bad --timeout", arg);
		return 1;
	case OPT_DRAIN:
		if (bench_parse_duration_ns(arg, &c->drain_ns) < 0)
			mtaload_die("bad --drain", arg);
		return 1;
	case OPT_MAX_ERRORS:
		c->errors_max = mtaload_num(arg, 0, UINT64_MAX, "bad --max-errors");
		return 1;
	case OPT_IDS_MAX:
		c->ids_max = mtaload_num(arg, 1, UINT64_C(1) << 32, "bad --ids-max");
		return 1;
	case OPT_SEED:
		c->seed = mtaload_num(arg, 0, UINT64_MAX, "bad --seed");
		return 1;
	case OPT_RCPT_COUNT:
		c->rcpt_count = mtaload_num(arg, 1, MTALOAD_RCPT_COUNT_MAX, "bad --rcpt-count");
		return 1;
	default:
		return 0;
	}
}

/* TLS, AUTH and PROXY options; returns 0 when opt is not one of them. */
static int
mtaload_opt_session(struct mtaload_opts *o, int opt, const char *arg)
{
	struct bench_load_config *c = &o->cfg;
	char pass[BENCH_AUTH_PART_BYTES_MAX + 1];
	switch (opt) {
	case OPT_STARTTLS: case OPT_TLS: {
		int mode = opt == OPT_TLS ? BENCH_LOAD_TLS_IMPLICIT : BENCH_LOAD_TLS_STARTTLS;
		if (c->tls_mode != BENCH_LOAD_TLS_NONE && c->tls_mode != mode)
			mtaload_die("--starttls and --tls exclude each other", NULL);
		c->tls_mode = mode;
		return 1;
	}
	case OPT_TLS_VERIFY:
		o->tls_ca = arg;
		c->tls_verify = 1;
		return 1;
	case OPT_AUTH:
		if (bench_auth_parse_userpass(arg, c->auth_user, sizeof c->auth_user, pass,
		                              sizeof pass) < 0 ||
		    bench_auth_plain_encode(c->auth_user, pass, c->auth_b64, sizeof c->auth_b64) < 0)
			mtaload_die("bad --auth (USER:PASS, USER not empty, at most 63 and 255 bytes)",
			            arg);
		c->auth = 1;
		return 1;
	case OPT_PROXY:
		c->proxy_version = bench_proxy_parse_version(arg);
		if (c->proxy_version < 0)
			mtaload_die("bad --proxy (v1 or v2)", arg);
		return 1;
	case OPT_PROXY_SRC:
		if (strlen(arg) >= sizeof c->proxy_src_text || bench_cidr_parse(arg, &c->proxy_src) < 0)
			mtaload_die("bad --proxy-src (a CIDR block: 10.0.0.0/8, 2001:db8::/32)", arg);
		strcpy(c->proxy_src_text, arg);
		o->proxy_src_given = 1;
		return 1;
	case OPT_PROXY_RANDOM:
		c->proxy_random = 1;
		return 1;
	case OPT_RCPT_PATTERN:
		if (bench_rcpt_pattern_parse(arg, &c->rcpt_pattern) < 0)
			mtaload_die("bad --rcpt-pattern (one %u or %0Wu with W 1..9, no other %, "
			            "no spaces, CR, LF, < or >, under 200 bytes)", arg);
		o->rcpt_pattern_given = 1;
		return 1;
	default:
		return 0;
	}
}

/* Options that only make sense together. */
static void
mtaload_check_combinations(const struct mtaload_opts *o)
{
	const struct bench_load_config *c = &o->cfg;
	if (c->tls_verify && c->tls_mode == BENCH_LOAD_TLS_NONE)
		mtaload_die("--tls-verify needs --starttls or --tls", NULL);
	if (c->proxy_version != 0 && !o->proxy_src_given)
		mtaload_die("--proxy needs --proxy-src CIDR", NULL);
	if (c->proxy_version == 0 && (o->proxy_src_given || c->proxy_random))
		mtaload_die("--proxy-src and --proxy-random need --proxy v1|v2", NULL);
	if (o->rcpt_pattern_given != (c->rcpt_count > 0))
		mtaload_die("--rcpt-pattern and --rcpt-count go together", NULL);
}

/* The client TLS context every session shares; dies when it cannot be made. */
static void
mtaload_tls_setup(struct mtaload_opts *o)
{
	char err[200];
	if (o->cfg.tls_mode == BENCH_LOAD_TLS_NONE)
		return;
	o->cfg.tls_ctx = bench_tls_client_ctx(o->tls_ca, err, sizeof err);
	if (o->cfg.tls_ctx == NULL) {
		fprintf(stderr, "mtaload: %s\n", err);
		exit(2);
	}
}

/* Parse the command line into o; dies on an error. */
static void
mtaload_parse(struct mtaload_opts *o, int argc, char **argv)
{
	struct bench_load_config *c = &o->cfg;
	int opt;
	while ((opt = getopt_long(argc, argv, "s:m:d:c:l:r:PR:T:f:t:H:qh", mtaload_longopts,
	                          NULL)) != -1) {
		if (mtaload_opt_limits(o, opt, optarg) || mtaload_opt_session(o, opt, optarg))
			continue;
		switch (opt) {
		case 's': c->sessions = (unsigned)mtaload_num(optarg, 1, MTALOAD_SESSIONS_MAX,
		                                              "bad --sessions"); break;
		case 'm': c->messages = mtaload_num(optarg, 1, UINT64_C(1) << 40, "bad --messages");
		          c->duration_ns = 0; break;
		case 'c': c->msgs_per_conn = mtaload_num(optarg, 0, UINT64_MAX, "bad --per-conn"); break;
		case 'l':
			if (bench_sizedist_parse(optarg, &c->size) < 0)
				mtaload_die("bad --size (2k, 100k, 1k-100k; at most 256m)", optarg);
			break;
		case 'r': c->rcpts = (unsigned)mtaload_num(optarg, 1, BENCH_LOAD_RCPTS_MAX,
		                                           "bad --rcpts"); break;
		case 'P': c->pipelining = 0; break;
		case 'T': c->threads = (unsigned)mtaload_num(optarg, 1, MTALOAD_THREADS_MAX,
		                                             "bad --threads"); break;
		case 'f': mtaload_addr_opt(c->from, optarg, "bad --from"); break;
		case 't': mtaload_addr_opt(c->to, optarg, "bad --to"); break;
		case 'H': mtaload_addr_opt(c->helo, optarg, "bad --helo"); break;
		case OPT_IDS: o->ids_path = optarg; c->record_ids = 1; break;
		case OPT_JSON: o->json = 1; break;
		case 'q': o->quiet = 1; break;
		case 'h': fputs(mtaload_usage, stdout); exit(0);
		default: mtaload_die("unknown option", NULL);
		}
	}
	if (optind != argc - 1)
		mtaload_die("give exactly one HOST:PORT", NULL);
	if (bench_parse_loopback(argv[optind], &c->target) < 0)
		mtaload_die("the target must be 127.x.y.z:PORT (loopback only)", argv[optind]);
	mtaload_check_combinations(o);
	if (c->threads > c->sessions)
		c->threads = c->sessions;
	if (c->drain_ns == 0)
		c->drain_ns = c->timeout_ns + 5000000000ull;
}

/* The shared body: 76 printable characters and CRLF per line, enough
 * lines for the largest message. Returns NULL when out of memory. */
static char *
mtaload_body(uint64_t max_bytes, size_t *len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t lines = max_bytes / BENCH_LOAD_LINE_BYTES + 1;
	char *b = malloc(lines * BENCH_LOAD_LINE_BYTES);
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < lines; i++) {
		char *l = b + i * BENCH_LOAD_LINE_BYTES;
		int n = snprintf(l, 24, "line %08zu ", i);
		for (int k = n; k < BENCH_LOAD_LINE_BYTES - 2; k++)
			l[k] = alphabet[(i + (size_t)k) % (sizeof alphabet - 1)];
		l[BENCH_LOAD_LINE_BYTES - 2] = '\r';
		l[BENCH_LOAD_LINE_BYTES - 1] = '\n';
	}
	*len = lines * BENCH_LOAD_LINE_BYTES;
	return b;
}

/* Run id and Date: header, both fixed for the run. */
static void
mtaload_stamp(struct bench_load_config *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(c->run_id, sizeof c->run_id, "%llx%05x",
	         (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u,
	         (unsigned)getpid() & 0xfffff);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	strftime(c->date, sizeof c->date, "%a, %d %b %Y %H:%M:%S %z", &tm);   /* RFC 5322 3.3 */
}

/* Enough file descriptors for every session. */
static void
mtaload_rlimit(unsigned sessions)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)sessions + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)sessions + 64)
			fprintf(stderr, "mtaload: warning: only %llu file descriptors for %u sessions\n",
			        (unsigned long long)rl.rlim_cur, sessions);
	}
}

/* SIGINT, SIGTERM: stop starting messages; a second one ends the process. */
static void
mtaload_on_signal(int sig)
{
	static volatile sig_atomic_t seen;
	if (seen++)
		_exit(128 + sig);
	bench_load_stop();
}

/* Once a second while the loaders run: one progress line. */
static void
mtaload_progress(FILE *f, struct bench_loader *lds, unsigned n, uint64_t t0,
                 struct bench_load_totals *last)
{
	struct bench_load_totals t;
	bench_load_totals(lds, n, &t);
	unsigned connected = 0;
	for (unsigned i = 0; i < n; i++)
		connected += atomic_load_explicit(&lds[i].live.connected, memory_order_relaxed);
	fprintf(f, "%6.1fs  accepted %9llu (%7llu/s)  rejected %llu  failed %llu  errors %llu"
	        "  connected %u\n", (double)(bench_now_ns() - t0) / 1e9,
	        (unsigned long long)t.ok, (unsigned long long)(t.ok - last->ok),
	        (unsigned long long)t.rejected, (unsigned long long)t.failed,
	        (unsigned long long)t.errors, connected);
	fflush(f);
	*last = t;
}

/* Wait for every loader, printing progress when wanted. */
static void
mtaload_wait(struct bench_loader *lds, unsigned n, FILE *progress)
{
	struct bench_load_totals last;
	memset(&last, 0, sizeof last);
	uint64_t t0 = bench_now_ns(), next = t0 + 1000000000ull;
	for (unsigned done = 0; done < n;) {
		struct timespec nap = { 0, 50000000 };
		nanosleep(&nap, NULL);
		while (done < n && pthread_tryjoin_np(lds[done].thread, NULL) == 0)
			done++;
		if (progress != NULL && done < n && bench_now_ns() >= next) {
			mtaload_progress(progress, lds, n, t0, &last);
			next += 1000000000ull;
		}
	}
}

/* Write the Message-ID of every accepted message; returns how many, or -1. */
static long long
mtaload_write_ids(const char *path, struct bench_loader *lds, unsigned n)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "mtaload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	long long count = 0;
	char id[128];
	for (unsigned i = 0; i < n; i++) {
		for (size_t k = 0; k < lds[i].nids; k++) {
			bench_load_msgid(lds[i].cfg, lds[i].index, lds[i].ids[k], id, sizeof id);
			fprintf(f, "%s\n", id);
			count++;
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "mtaload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return count;
}

/* Totals, the Message-ID file and the report; returns the exit status. */
static int
mtaload_finish(struct mtaload_opts *o, struct bench_loader *lds, unsigned n)
{
	struct bench_load_totals t;
	memset(&t, 0, sizeof t);
	bench_load_totals(lds, n, &t);
	for (unsigned i = 0; i < n; i++)
		if ((double)lds[i].elapsed_ns / 1e9 > t.elapsed_s)
			t.elapsed_s = (double)lds[i].elapsed_ns / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	t.cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	t.cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	for (unsigned i = 0; i < n; i++) {
		if (t.fatal == NULL && lds[i].fatal[0])
			t.fatal = lds[i].fatal;
		if (t.tls_error == NULL && lds[i].tls_error[0])
			t.tls_error = lds[i].tls_error;
		if (t.tls_desc == NULL && lds[i].tls_desc[0])
			t.tls_desc = lds[i].tls_desc;
	}
	int status = t.ok == t.started && t.started > 0 ? 0 : 1;
	if (t.fatal != NULL) {
		fprintf(stderr, "mtaload: stopped: %s\n", t.fatal);
		status = 2;
	}
	if (t.tls_error != NULL)
		fprintf(stderr, "mtaload: first TLS error: %s\n", t.tls_error);
	if (o->ids_path != NULL) {
		long long written = mtaload_write_ids(o->ids_path, lds, n);
		if (written < 0)
			status = 2;
		else
			t.ids_written = (uint64_t)written;
		t.ids_path = o->ids_path;
	}
	struct bench_load_stats *st = malloc(sizeof *st);
	if (st == NULL)
		return 2;
	bench_load_merge(lds, n, st);
	if (o->json)
		bench_load_print_json(stdout, &o->cfg, &t, st);
	else
		bench_load_print_text(stdout, &o->cfg, &t, st);
	free(st);
	return status;
}

int
main(int argc, char **argv)
{
	struct mtaload_opts o;
	mtaload_defaults(&o);
	mtaload_parse(&o, argc, argv);
	mtaload_tls_setup(&o);
	mtaload_stamp(&o.cfg);
	mtaload_rlimit(o.cfg.sessions);
	char *body = mtaload_body(o.cfg.size.max_bytes, &o.cfg.body_bytes);
	struct bench_loader *lds = calloc(o.cfg.threads, sizeof *lds);
	if (body == NULL || lds == NULL)
		mtaload_die("out of memory", NULL);
	o.cfg.body = body;
	struct sigaction sa = { .sa_handler = mtaload_on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	unsigned started = 0;
	for (; started < o.cfg.threads; started++) {
		if (bench_loader_init(&lds[started], &o.cfg, started, o.cfg.threads) < 0 ||
		    bench_loader_start(&lds[started]) != 0) {
			fprintf(stderr, "mtaload: cannot start thread %u\n", started);
			bench_load_stop();
			break;
		}
	}
	FILE *progress = NULL;
	if (!o.quiet && isatty(o.json ? STDERR_FILENO : STDOUT_FILENO))
		progress = o.json ? stderr : stdout;
	mtaload_wait(lds, started, progress);
	int status = 0;
	for (unsigned i = 0; i < started; i++) {
		if (lds[i].setup_error) {
			fprintf(stderr, "mtaload: thread %u: %s\n", i, lds[i].setup_message);
			status = 2;
		}
	}
	if (status == 0 && started == o.cfg.threads)
		status = mtaload_finish(&o, lds, started);
	else
		status = 2;
	for (unsigned i = 0; i < o.cfg.threads; i++)
		bench_loader_free(&lds[i]);
	free(lds);
	free(body);
	bench_tls_ctx_free(o.cfg.tls_ctx);
	return status;
}
