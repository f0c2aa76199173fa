/*
 * bench/mtasink_main.c - mtasink, an SMTP sink on io_uring for relay tests:
 * the command line, the listening sockets, the signals (count line,
 * Message-ID file, clean stop), the periodic count line and the final JSON
 * summary. The engine is bench/sink.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/addrset.h"
#include "bench/loadspec.h"
#include "bench/ring.h"
#include "bench/sink.h"
#include "bench/tlsmem.h"

#define MTASINK_THREADS_MAX 64

struct mtasink_opts {
	struct bench_sink_config cfg;
	const char *ids_path;
	uint64_t count_interval_ns;
	const char *tls_cert, *tls_key;
};

static const char mtasink_usage[] =
"usage: mtasink [options] HOST:PORT      (HOST in 127.0.0.0/8; port 0 picks a free one)\n"
"  -T, --threads N          threads, each with its own ring and socket (default 1)\n"
"  -b, --backlog N          listen backlog (default 4096)\n"
"  -m, --sessions-max N     open sessions per thread; more are closed (default 20000)\n"
"  -h, --hostname NAME      in the greeting and EHLO reply (default mtasink.example)\n"
"      --size-max BYTES     SIZE offered in EHLO; bigger messages get 552 (default 100m)\n"
"  -r, --soft CMDS          answer these commands with 4xx (like smtp-sink -r)\n"
"  -f, --hard CMDS          answer these commands with 5xx (like smtp-sink -f)\n"
"  -q, --drop CMDS          disconnect without a reply (like smtp-sink -q)\n"
"      --fault-rate F       only this fraction (0..1) of those commands (default 1)\n"
"  -W, --delay CMD:MS,...   wait MS milliseconds before answering CMD\n"
"                           CMDS: connect,helo,ehlo,mail,rcpt,data,dot (or .),rset,\n"
"                           noop,quit,vrfy,starttls,auth,bdat,other (no delay for\n"
"                           starttls; the end of a BDAT LAST chunk counts as dot)\n"
"      --seed N             seed for --fault-rate (default 1)\n"
"      --idle T             close sessions silent for T (default 300s)\n"
"      --ids FILE           keep the Message-ID of every accepted message; write\n"
"                           them to FILE on SIGUSR1 and at exit\n"
"      --ids-max N          keep at most N Message-IDs (default 50000000)\n"
"      --expect N           print 'mtasink: reached N messages at T' (T: CLOCK_MONOTONIC\n"
"                           seconds, as Python's time.monotonic()) when N are accepted\n"
"  -c, --count-interval T   print the count line every T (default: on SIGUSR1/SIGUSR2)\n"
"      --tls-cert FILE      PEM certificate chain: offer STARTTLS (RFC 3207)\n"
"      --tls-key FILE       its PEM private key (both needed for TLS)\n"
"      --tls-implicit       TLS from the first byte instead (RFC 8314, like port 465)\n"
"      --auth               offer AUTH PLAIN LOGIN and take any credentials\n"
"      --auth-require       answer MAIL before a successful AUTH with 530 (implies --auth)\n"
"      --no-chunking        do not offer CHUNKING (RFC 3030: BDAT), offered by default\n"
"                           as Postfix's smtpd does\n"
"      --proxy              expect a PROXY v1 or v2 header first on every connection\n"
"                           (the greeting follows it); count the sources it claims\n"
"      --help\n"
"Signals: SIGUSR1 count line and Message-ID file, SIGUSR2 count line, SIGTERM or\n"
"SIGINT stop: a final JSON summary on stdout, the Message-ID file, exit 0.\n"
"Once listening it prints 'mtasink: listening on HOST:PORT'.\n";

enum { OPT_SIZE_MAX = 256, OPT_FAULT_RATE, OPT_SEED, OPT_IDLE, OPT_IDS, OPT_IDS_MAX,
       OPT_EXPECT, OPT_HELP, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_IMPLICIT, OPT_AUTH,
       OPT_AUTH_REQUIRE, OPT_PROXY, OPT_NO_CHUNKING };

static const struct option mtasink_longopts[] = {
	{"threads", required_argument, NULL, 'T'}, {"backlog", required_argument, NULL, 'b'},
	{"sessions-max", required_argument, NULL, 'm'}, {"hostname", required_argument, NULL, 'h'},
	{"size-max", required_argument, NULL, OPT_SIZE_MAX},
	{"soft", required_argument, NULL, 'r'}, {"hard", required_argument, NULL, 'f'},
	{"drop", required_argument, NULL, 'q'},
	{"fault-rate", required_argument, NULL, OPT_FAULT_RATE},
	{"delay", required_argument, NULL, 'W'}, {"seed", required_argument, NULL, OPT_SEED},
	{"idle", required_argument, NULL, OPT_IDLE}, {"ids", required_argument, NULL, OPT_IDS},
	{"ids-max", required_argument, NULL, OPT_IDS_MAX},
	{"expect", required_argument, NULL, OPT_EXPECT},
	{"count-interval", required_argument, NULL, 'c'}, {"help", no_argument, NULL, OPT_HELP},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-implicit", no_argument, NULL, OPT_TLS_IMPLICIT}, {"auth", no_argument, NULL, OPT_AUTH},
	{"auth-require", no_argument, NULL, OPT_AUTH_REQUIRE},
	{"proxy", no_argument, NULL, OPT_PROXY},
	{"no-chunking", no_argument, NULL, OPT_NO_CHUNKING},
	{NULL, 0, NULL, 0},
};

/* Print why the command line is wrong and exit 2. */
static void
mtasink_die(const char *what, const char *value)
{
	fprintf(stderr, "mtasink: %s%s%s\n(mtasink --help for the options)\n", what,
	        value ? ": " : "", value ? value : "");
	exit(2);
}

/* A whole number option in [lo, hi]. */
static uint64_t
mtasink_num(const char *arg, uint64_t lo, uint64_t hi, const char *what)
{
	uint64_t v;
	if (bench_parse_uint(arg, lo, hi, &v) < 0)
		mtasink_die(what, arg);
	return v;
}

/* Defaults before the options. */
static void
mtasink_defaults(struct mtasink_opts *o)
{
	memset(o, 0, sizeof *o);
	struct bench_sink_config *c = &o->cfg;
	c->threads = 1;
	c->backlog = 4096;
	c->sessions_max = 20000;
	c->size_max = UINT64_C(100) << 20;
	c->chunking = 1;
	c->fault_rate = 1.0;
	c->seed = 1;
	c->idle_ns = 300000000000ull;
	c->ids_max = 50000000;
	strcpy(c->hostname, "mtasink.example");
}

/* Options with a value parsed by loadspec; returns 0 when opt is not one. */
static int
mtasink_opt_values(struct mtasink_opts *o, int opt, const char *arg)
{
	struct bench_sink_config *c = &o->cfg;
	switch (opt) {
	case OPT_SIZE_MAX:
		if (bench_parse_bytes(arg, &c->size_max) < 0)
			mtasink_die("bad --size-max", arg);
		return 1;
	case OPT_FAULT_RATE:
		if (bench_parse_double(arg, &c->fault_rate) < 0 || c->fault_rate > 1.0)
			mtasink_die("bad --fault-rate (0..1)", arg);
		return 1;
	case OPT_IDLE:
		if (bench_parse_duration_ns(arg, &c->idle_ns) < 0 || c->idle_ns == 0)
			mtasink_die("bad --idle", arg);
		return 1;
	case 'c':
		if (bench_parse_duration_ns(arg, &o->count_interval_ns) < 0 ||
		    o->count_interval_ns < 10000000)
			mtasink_die("bad --count-interval (at least 10ms)", arg);
		return 1;
	case 'r': case 'f': case 'q': {
		unsigned *mask = opt == 'r' ? &c->soft_mask : opt == 'f' ? &c->hard_mask : &c->drop_mask;
		if (bench_sink_parse_cmds(arg, mask) < 0)
			mtasink_die("bad command list", arg);
		return 1;
	}
	case 'W':
		if (bench_sink_parse_delays(arg, c->delays_ms) < 0)
			mtasink_die("bad --delay (CMD:MS,...)", arg);
		return 1;
	default:
		return 0;
	}
}

/* Parse the command line into o; dies on an error. */
static void
mtasink_parse(struct mtasink_opts *o, int argc, char **argv)
{
	struct bench_sink_config *c = &o->cfg;
	int opt;
	while ((opt = getopt_long(argc, argv, "T:b:m:h:r:f:q:W:c:", mtasink_longopts,
	                          NULL)) != -1) {
		if (mtasink_opt_values(o, opt, optarg))
			continue;
		switch (opt) {
		case 'T': c->threads = (unsigned)mtasink_num(optarg, 1, MTASINK_THREADS_MAX,
		                                             "bad --threads"); break;
		case 'b': c->backlog = (unsigned)mtasink_num(optarg, 1, 65535, "bad --backlog"); break;
		case 'm': c->sessions_max = (unsigned)mtasink_num(optarg, 1, 1000000,
		                                                  "bad --sessions-max"); break;
		case 'h':
			if (strlen(optarg) >= sizeof c->hostname || strpbrk(optarg, " \r\n"))
				mtasink_die("bad --hostname", optarg);
			strcpy(c->hostname, optarg);
			break;
		case OPT_SEED: c->seed = mtasink_num(optarg, 0, UINT64_MAX, "bad --seed"); break;
		case OPT_IDS:
			if (strpbrk(optarg, "\"\\\n") != NULL)
				mtasink_die("bad --ids path", optarg);
			o->ids_path = optarg;
			c->record_ids = 1;
			break;
		case OPT_IDS_MAX: c->ids_max = mtasink_num(optarg, 1, UINT64_MAX, "bad --ids-max"); break;
		case OPT_EXPECT: c->expect = mtasink_num(optarg, 1, UINT64_MAX, "bad --expect"); break;
		case OPT_TLS_CERT: o->tls_cert = optarg; break;
		case OPT_TLS_KEY: o->tls_key = optarg; break;
		case OPT_TLS_IMPLICIT: c->tls_implicit = 1; break;
		case OPT_AUTH: c->auth = 1; break;
		case OPT_AUTH_REQUIRE: c->auth = c->auth_require = 1; break;
		case OPT_PROXY: c->proxy = 1; break;
		case OPT_NO_CHUNKING: c->chunking = 0; break;
		case OPT_HELP: fputs(mtasink_usage, stdout); exit(0);
		default: mtasink_die("unknown option", NULL);
		}
	}
	if (optind != argc - 1)
		mtasink_die("give exactly one HOST:PORT", NULL);
	if ((o->tls_cert == NULL) != (o->tls_key == NULL))
		mtasink_die("--tls-cert and --tls-key go together", NULL);
	if (c->tls_implicit && o->tls_cert == NULL)
		mtasink_die("--tls-implicit needs --tls-cert and --tls-key", NULL);
	if (strchr(argv[optind], ':') && strcmp(strrchr(argv[optind], ':'), ":0") == 0) {
		char tmp[80];
		snprintf(tmp, sizeof tmp, "%.*s:1", (int)(strrchr(argv[optind], ':') - argv[optind]),
		         argv[optind]);
		if (bench_parse_loopback(tmp, &c->listen) < 0)
			mtasink_die("the address must be 127.x.y.z:PORT (loopback only)", argv[optind]);
		c->listen.sin_port = 0;
	} else if (bench_parse_loopback(argv[optind], &c->listen) < 0) {
		mtasink_die("the address must be 127.x.y.z:PORT (loopback only)", argv[optind]);
	}
}

/* The server TLS context every session shares; dies when the certificate
 * or key cannot be loaded. */
static void
mtasink_tls_setup(struct mtasink_opts *o)
{
	char err[200];
	if (o->tls_cert == NULL)
		return;
	o->cfg.tls_ctx = bench_tls_server_ctx(o->tls_cert, o->tls_key, err, sizeof err);
	if (o->cfg.tls_ctx == NULL) {
		fprintf(stderr, "mtasink: %s\n", err);
		exit(2);
	}
}

/* Returns the sum over every sinker of the counter at offset off of
 * struct bench_sink_counters. */
static uint64_t
mtasink_sum(struct bench_sinker *sks, unsigned n, size_t off)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += atomic_load_explicit((_Atomic uint64_t *)((char *)&sks[i].ctr + off),
		                              memory_order_relaxed);
	return total;
}

#define MTASINK_SUM(sks, n, field) \
	mtasink_sum((sks), (n), offsetof(struct bench_sink_counters, field))

/* One count line on stdout. */
static void
mtasink_count_line(struct bench_sinker *sks, unsigned n)
{
	unsigned active = 0;
	for (unsigned i = 0; i < n; i++)
		active += atomic_load_explicit(&sks[i].ctr.active, memory_order_relaxed);
	printf("mtasink: count sessions=%llu active=%u messages=%llu bytes=%llu rcpts=%llu "
	       "rejected=%llu dropped=%llu refused=%llu errors=%llu tls=%llu auth=%llu "
	       "proxied=%llu at %.6f\n",
	       (unsigned long long)MTASINK_SUM(sks, n, sessions), active,
	       (unsigned long long)MTASINK_SUM(sks, n, messages),
	       (unsigned long long)MTASINK_SUM(sks, n, bytes),
	       (unsigned long long)MTASINK_SUM(sks, n, rcpts),
	       (unsigned long long)MTASINK_SUM(sks, n, rejected),
	       (unsigned long long)MTASINK_SUM(sks, n, dropped),
	       (unsigned long long)MTASINK_SUM(sks, n, refused),
	       (unsigned long long)MTASINK_SUM(sks, n, errors),
	       (unsigned long long)MTASINK_SUM(sks, n, tls_handshakes),
	       (unsigned long long)MTASINK_SUM(sks, n, auth_ok),
	       (unsigned long long)(MTASINK_SUM(sks, n, proxy_v1) + MTASINK_SUM(sks, n, proxy_v2)),
	       (double)bench_now_ns() / 1e9);
	fflush(stdout);
}

/* "tls", "auth" and "proxy" of the summary; the sources of every thread
 * are merged to count the distinct ones (the threads have ended). */
static void
mtasink_summary_extras(const struct mtasink_opts *o, struct bench_sinker *sks, unsigned n)
{
	printf(",\"tls\":{\"mode\":\"%s\",\"handshakes\":%llu,\"errors\":%llu}",
	       o->cfg.tls_ctx == NULL ? "none" : o->cfg.tls_implicit ? "implicit" : "starttls",
	       (unsigned long long)MTASINK_SUM(sks, n, tls_handshakes),
	       (unsigned long long)MTASINK_SUM(sks, n, tls_errors));
	printf(",\"auth\":{\"offered\":%s,\"required\":%s,\"ok\":%llu,\"bad\":%llu,"
	       "\"refused_mail\":%llu}", o->cfg.auth ? "true" : "false",
	       o->cfg.auth_require ? "true" : "false",
	       (unsigned long long)MTASINK_SUM(sks, n, auth_ok),
	       (unsigned long long)MTASINK_SUM(sks, n, auth_bad),
	       (unsigned long long)MTASINK_SUM(sks, n, auth_required));
	struct bench_addrset all;
	bench_addrset_init(&all);
	for (unsigned i = 0; i < n; i++)
		bench_addrset_merge(&all, &sks[i].sources);
	printf(",\"proxy\":{\"expected\":%s,\"v1\":%llu,\"v2\":%llu,\"local\":%llu,"
	       "\"errors\":%llu,\"distinct_sources\":%zu,\"sources_not_kept\":%llu}",
	       o->cfg.proxy ? "true" : "false", (unsigned long long)MTASINK_SUM(sks, n, proxy_v1),
	       (unsigned long long)MTASINK_SUM(sks, n, proxy_v2),
	       (unsigned long long)MTASINK_SUM(sks, n, proxy_local),
	       (unsigned long long)MTASINK_SUM(sks, n, proxy_errors), all.count,
	       (unsigned long long)all.overflow);
	bench_addrset_free(&all);
}

/* Write every kept Message-ID to path (through a temporary file and a
 * rename, so a reader never sees half a file); returns how many or -1. */
static long long
mtasink_write_ids(const char *path, struct bench_sinker *sks, unsigned n)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "mtasink: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	long long count = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&sks[i].ids_lock);
		if (sks[i].ids_len > 0)
			fwrite(sks[i].ids, 1, sks[i].ids_len, f);
		count += (long long)sks[i].ids_count;
		pthread_mutex_unlock(&sks[i].ids_lock);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "mtasink: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return count;
}

/* Print a monotonic time in seconds, or null for 0. */
static void
mtasink_json_time(const char *name, uint64_t ns)
{
	if (ns == 0)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%.6f", name, (double)ns / 1e9);
}

/* The final summary: one JSON object on stdout. */
static void
mtasink_summary(const struct mtasink_opts *o, struct bench_sinker *sks, unsigned n,
                double elapsed_s, long long ids)
{
	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &o->cfg.listen.sin_addr, addr, sizeof addr);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"tool\":\"mtasink\",\"listen\":\"%s:%u\",\"threads\":%u,\"elapsed_s\":%.3f,"
	       "\"sessions\":%llu,\"messages\":%llu,\"bytes\":%llu,\"rcpts\":%llu,\"rejected\":%llu,"
	       "\"dropped\":%llu,\"refused\":%llu,\"errors\":%llu,\"sessions_peak\":%u,"
	       "\"commands\":{", addr,
	       ntohs(o->cfg.listen.sin_port), n, elapsed_s,
	       (unsigned long long)MTASINK_SUM(sks, n, sessions),
	       (unsigned long long)MTASINK_SUM(sks, n, messages),
	       (unsigned long long)MTASINK_SUM(sks, n, bytes),
	       (unsigned long long)MTASINK_SUM(sks, n, rcpts),
	       (unsigned long long)MTASINK_SUM(sks, n, rejected),
	       (unsigned long long)MTASINK_SUM(sks, n, dropped),
	       (unsigned long long)MTASINK_SUM(sks, n, refused),
	       (unsigned long long)MTASINK_SUM(sks, n, errors),
	       atomic_load(&bench_sink_shared.open_peak));
	for (int c = 0; c < BENCH_SINK_CMD_COUNT; c++)
		printf("%s\"%s\":%llu", c ? "," : "", bench_sink_cmd_name(c),
		       (unsigned long long)MTASINK_SUM(sks, n, commands[c]));
	printf("}");
	mtasink_json_time("first_message_at", atomic_load(&bench_sink_shared.first_ns));
	mtasink_json_time("last_message_at", atomic_load(&bench_sink_shared.last_ns));
	mtasink_json_time("reached_at", atomic_load(&bench_sink_shared.reached_ns));
	mtasink_summary_extras(o, sks, n);
	printf(",\"cpu_s\":{\"user\":%.3f,\"system\":%.3f},\"ids_file\":",
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if (o->ids_path != NULL)
		printf("\"%s\",\"ids\":%lld}\n", o->ids_path, ids);
	else
		printf("null,\"ids\":null}\n");
	fflush(stdout);
}

/* Bind every thread's socket: the first on the asked port (0: any), the
 * others on the port the first got. Returns 0 or -1 after a message. */
static int
mtasink_bind(struct mtasink_opts *o, struct bench_sinker *sks)
{
	for (unsigned i = 0; i < o->cfg.threads; i++) {
		int ret = bench_sinker_init(&sks[i], &o->cfg, i);
		if (ret < 0) {
			fprintf(stderr, "mtasink: bind 127.x:%u: %s\n", ntohs(o->cfg.listen.sin_port),
			        strerror(-ret));
			return -1;
		}
		if (i == 0 && o->cfg.listen.sin_port == 0) {
			struct sockaddr_in got;
			socklen_t len = sizeof got;
			getsockname(sks[0].listen_fd, (struct sockaddr *)&got, &len);
			o->cfg.listen.sin_port = got.sin_port;
		}
	}
	return 0;
}

/* The main thread until SIGTERM or SIGINT: signals, the "reached" line,
 * the periodic count line. */
static void
mtasink_watch(const struct mtasink_opts *o, struct bench_sinker *sks, unsigned n,
              const sigset_t *sigs)
{
	int reached_said = 0;
	uint64_t next_count = o->count_interval_ns ? bench_now_ns() + o->count_interval_ns : 0;
	while (!atomic_load(&bench_sink_shared.stopping)) {
		struct timespec wait = { 0, 20000000 };
		int sig = sigtimedwait(sigs, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			mtasink_count_line(sks, n);
			if (sig == SIGUSR1 && o->ids_path != NULL)
				mtasink_write_ids(o->ids_path, sks, n);
		}
		uint64_t reached = atomic_load(&bench_sink_shared.reached_ns);
		if (reached != 0 && !reached_said) {
			printf("mtasink: reached %llu messages at %.6f\n",
			       (unsigned long long)o->cfg.expect, (double)reached / 1e9);
			fflush(stdout);
			reached_said = 1;
		}
		if (next_count != 0 && bench_now_ns() >= next_count) {
			mtasink_count_line(sks, n);
			next_count += o->count_interval_ns;
		}
	}
}

int
main(int argc, char **argv)
{
	struct mtasink_opts o;
	mtasink_defaults(&o);
	mtasink_parse(&o, argc, argv);
	mtasink_tls_setup(&o);
	struct bench_sinker *sks = calloc(o.cfg.threads, sizeof *sks);
	if (sks == NULL || mtasink_bind(&o, sks) < 0)
		return 2;
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	uint64_t t0 = bench_now_ns();
	unsigned started = 0;
	for (; started < o.cfg.threads; started++)
		if (bench_sinker_start(&sks[started]) != 0)
			break;
	if (started == o.cfg.threads) {
		printf("mtasink: listening on 127.0.0.1:%u\n", ntohs(o.cfg.listen.sin_port));
		fflush(stdout);
		mtasink_watch(&o, sks, started, &sigs);
	}
	bench_sink_stop();
	int status = started == o.cfg.threads ? 0 : 2;
	for (unsigned i = 0; i < started; i++) {
		bench_sinker_finish(&sks[i]);
		if (sks[i].setup_error) {
			fprintf(stderr, "mtasink: thread %u: %s\n", i, sks[i].setup_message);
			status = 2;
		}
	}
	long long ids = o.ids_path ? mtasink_write_ids(o.ids_path, sks, started) : 0;
	if (ids < 0)
		status = 2;
	mtasink_summary(&o, sks, started, (double)(bench_now_ns() - t0) / 1e9, ids);
	for (unsigned i = 0; i < o.cfg.threads; i++) {
		free(sks[i].ids);
		bench_addrset_free(&sks[i].sources);
	}
	free(sks);
	bench_tls_ctx_free(o.cfg.tls_ctx);
	return status;
}
