/*
 * core/smtpd_main.c - the smtpd command: smtpd [-dnv] [-f file] [-D name=value]
 * as in OpenSMTPD. -n checks the configuration and prints "configuration OK"
 * (with a warning line per usage not supported yet) or "file:line:column:
 * message" followed by the line and a caret; -n -v then prints the
 * compiled configuration (rules_dump()); -n -T "from=... mail-from=...
 * rcpt-to=..." is the rule tester: which rule decides each recipient of
 * the described transaction and why the earlier ones do not (rules_explain();
 * a bad description exits 64, EX_USAGE); -d stays in the foreground
 * and logs to stderr; otherwise smtpd detaches and logs to syslog (facility
 * mail). A configuration using what the daemon does not implement yet is
 * refused at start. With `queue encryption` and no key in the file, the key
 * is one line of standard input, read before detaching; -n checks a key
 * written in the file (its length) and reads none: the key check against
 * the queue itself is made when smtpd starts and opens it. smtpd --convert
 * FILE prints the modern equivalent of a configuration in the grammar
 * before OpenSMTPD 6.4 (rules/convert.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "core/geoip.h"
#include "core/log.h"
#include "core/main.h"
#include "core/mda_deliver.h"
#include "rules/convert.h"
#include "rules/rules.h"

static void
usage(void)
{
	fprintf(stderr,
	        "usage: smtpd [-dnv] [-D macro=value] [-f file] [-l syslog|stdout|stderr|file]\n"
	        "       smtpd -n [-v] [-T transaction] [-D macro=value] [-f file]\n"
	        "       smtpd --convert file\n"
	        "  -l     where log lines go, in the maillog format (stdout, stderr: also -d)\n"
	        "  -n     check the configuration; with -v print it as compiled\n"
	        "  -T     test the rules on a transaction (implies -n), e.g.\n"
	        "         -T \"from=192.0.2.1 helo=mx.example.org mail-from=a@example.org\n"
	        "             rcpt-to=b@example.com [rcpt-to=...] [auth=user] [rdns=name|none]\n"
	        "             [tls] [listener=port|tag]\"\n");
	exit(1);
}

/* --convert FILE: the modern config on stdout, one line on stderr per
 * statement kept as "# not converted"; exit 0, 2 when there was one, 1
 * when the file cannot be read or lexed. */
static int
main_convert(const char *path)
{
	char buf[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + RULES_LINE_BYTES_MAX * 2 + 64];
	struct rules_conversion cv;
	struct rules_error e;
	int rc;

	if (rules_convert_file(path, &cv, &e) < 0) {
		rules_error_format_long(&e, buf, sizeof buf);
		fprintf(stderr, "%s\n", buf);
		return 1;
	}
	fwrite(cv.text, 1, cv.len, stdout);
	for (unsigned i = 0; i < cv.nnotes; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", cv.notes[i].file, cv.notes[i].line,
		        cv.notes[i].column, cv.notes[i].message);
	rc = cv.nnotes > 0 ? 2 : 0;
	rules_conversion_free(&cv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "smtpd: cannot write the converted configuration: %s\n",
		        strerror(errno));
		return 1;
	}
	return rc;
}

/* Parse the command line into o. */
static void
main_parse(int argc, char **argv, struct main_options *o)
{
	int ch;
	while ((ch = getopt(argc, argv, "dhnvf:l:D:T:")) != -1) {
		switch (ch) {
		case 'd': o->foreground = 1; break;
		case 'l': o->log_target = optarg; break;
		case 'n': o->check_only = 1; break;
		case 'T':
			o->check_only = 1;
			o->transaction = optarg;
			break;
		case 'v': o->verbose++; break;
		case 'f': o->file = optarg; break;
		case 'D': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg || o->ndefines == MAIN_DEFINES_MAX) {
				fprintf(stderr, "smtpd: -D wants name=value\n");
				exit(1);
			}
			*eq = '\0';
			o->defines[o->ndefines].name = optarg;
			o->defines[o->ndefines++].value = eq + 1;
			break;
		}
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o->log_target != NULL && (strcmp(o->log_target, "stdout") == 0 ||
	                              strcmp(o->log_target, "stderr") == 0))
		o->foreground = 1;    /* a stream stays attached: no detaching */
	if (o->file == NULL && getenv("SMTPD_CONF") != NULL && getenv("SMTPD_CONF")[0])
		o->file = getenv("SMTPD_CONF");
	if (o->file == NULL && access(MAIN_CONFIG_DEFAULT_PATH, F_OK) == 0)
		o->file = MAIN_CONFIG_DEFAULT_PATH;
}

/* Detach: fork, new session, stdio to /dev/null. Before any thread. */
static void
main_daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		log_fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
}

/* 0, or 1 after saying why standard output could not be written. */
static int
main_flush_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "smtpd: cannot write to standard output: %s\n", strerror(errno));
	return 1;
}

/* -T: the rule tester on c; EX_USAGE for a description it cannot use. */
static int
main_test_rules(const struct rules_config *c, const struct rules_transaction *tx)
{
	char err[RULES_ERROR_BYTES_MAX];

	if (rules_explain(c, tx, stdout, err, sizeof err) < 0) {
		fflush(stdout);
		fprintf(stderr, "smtpd: -T: %s\n", err);
		return EX_USAGE;
	}
	return main_flush_stdout();
}

/* -n: the geoip databases open as they would at start; 0, or -1 said. */
static int
main_check_geoip(const struct rules_config *c)
{
	char why[RULES_PATH_BYTES_MAX + 256];
	struct geoip *g;
	if (c->geoip_country[0] == '\0' && c->geoip_asn[0] == '\0')
		return 0;
	if (geoip_open(&g, c->geoip_country, c->geoip_asn, why, sizeof why) < 0) {
		fprintf(stderr, "%s: %s\n", c->file, why);
		return -1;
	}
	geoip_close(g);
	return 0;
}

/* -n: load, print the long error or "configuration OK" and the warnings,
 * then with -v the compiled configuration, with -T the rule tester's
 * answer; returns the exit status. */
static int
main_check(const struct main_options *o)
{
	char buf[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + RULES_LINE_BYTES_MAX * 2 + 64];
	static struct rules_transaction tx;
	struct rules_error e;
	struct rules_config *c;
	int rc = 0;

	if (o->transaction != NULL && rules_transaction_parse(o->transaction, &tx, buf,
	                                                      sizeof buf) < 0) {
		fprintf(stderr, "smtpd: -T: %s\n", buf);
		return EX_USAGE;
	}
	tx.now_s = (uint64_t)time(NULL);   /* for srs addresses */
	if ((c = main_load(o, &e)) == NULL) {
		rules_error_format_long(&e, buf, sizeof buf);
		fprintf(stderr, "%s\n", buf);
		return 1;
	}
	if (main_check_geoip(c) < 0) {
		rules_free(c);
		return 1;
	}
	for (unsigned i = 0; rules_warning_format(c, i, buf, sizeof buf); i++)
		fprintf(stderr, "%s\n", buf);
	if (o->transaction == NULL)
		printf("configuration OK\n");
	if (o->verbose > 0)
		rules_dump(c, stdout);
	if (o->transaction != NULL) {
		if (o->verbose > 0)
			putchar('\n');
		rc = main_test_rules(c, &tx);
	} else {
		rc = main_flush_stdout();
	}
	rules_free(c);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct main_options o;
	char user[64], home[1024], err[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32];
	if (argc > 1 && strcmp(argv[1], "--deliver") == 0)
		return mda_deliver_main(argc - 1, argv + 1);   /* under an mda wrapper */
	if (argc > 1 && strcmp(argv[1], "--convert") == 0) {
		if (argc != 3)
			usage();
		return main_convert(argv[2]);
	}
	main_parse(argc, argv, &o);
	if (getcwd(o.base_dir, sizeof o.base_dir) == NULL)
		snprintf(o.base_dir, sizeof o.base_dir, "/");
	main_identity(o.hostname, sizeof o.hostname, user, sizeof user, home, sizeof home);
	log_init(o.foreground || o.check_only, o.verbose);
	if (o.check_only)
		return main_check(&o);
	static char conf_path[RULES_PATH_BYTES_MAX * 2];
	if (o.file != NULL && o.file[0] != '/') {   /* reloads happen after chdir("/") */
		snprintf(conf_path, sizeof conf_path, "%s/%s", o.base_dir, o.file);
		o.file = conf_path;
	}
	if (o.log_target != NULL && log_to(o.log_target, o.hostname, err, sizeof err) < 0) {
		fprintf(stderr, "smtpd: %s\n", err);
		return 1;
	}
	struct rules_config *c = main_load_config(&o, err, sizeof err);
	struct rules_error rte;
	if (c != NULL && rules_runtime_check(c, &rte) < 0) {
		rules_error_format(&rte, err, sizeof err);
		rules_free(c);
		c = NULL;
	}
	if (c != NULL && main_queue_key_read(c, err, sizeof err) < 0) {
		rules_free(c);
		c = NULL;
	}
	if (c == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!o.foreground) {
		main_daemonize();
		log_pid_changed();
	}
	log_info("smtpd: starting with %s", c->file);
	return daemon_run(&o, c);
}
