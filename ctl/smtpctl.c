/*
 * ctl/smtpctl.c - smtpctl's command table, its requests over the control
 * socket, and the output formats (OpenSMTPD 6.8 text, or --json). See
 * ctl/smtpctl.h.
 */
#include "ctl/smtpctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_client.h"
#include "rules/rules.h"

enum smtpctl_out {
	SMTPCTL_OUT_QUEUE,      /* RECORDs until END: show queue lines */
	SMTPCTL_OUT_PAIRS_EQ,   /* one RECORD: key=value (show stats) */
	SMTPCTL_OUT_PAIRS_SP,   /* one RECORD: key value (show status) */
	SMTPCTL_OUT_PAIRS_COLON,/* one RECORD: key: value (show envelope) */
	SMTPCTL_OUT_COUNT,      /* OK id=count: "N envelopes <verb>" */
	SMTPCTL_OUT_DONE,       /* OK: "command succeeded" */
	SMTPCTL_OUT_MESSAGE,    /* RECORD blobs until END: the raw message */
	SMTPCTL_OUT_ROUTES,     /* RECORDs until END: one line each (show routes) */
	SMTPCTL_OUT_MTA_PAUSED, /* RECORDs until END: "source -> domain" */
	SMTPCTL_OUT_HOSTSTATS,  /* RECORDs until END: "domain|time|error" */
};

struct smtpctl_cmd {
	const char *words;      /* the command words; "ID" takes an id or all,
	                         * "NAME" a name sent as the request's string */
	uint8_t type;
	uint32_t arg;
	enum smtpctl_out out;
	const char *verb;       /* for SMTPCTL_OUT_COUNT */
};

/* How a subsystem word of trace or profile becomes its bits. */
typedef uint32_t (*smtpctl_word_bits)(const char *word);

static const struct smtpctl_cmd smtpctl_cmds[] = {
	{ "show queue", CTL_SHOW_QUEUE, 0, SMTPCTL_OUT_QUEUE, NULL },
	{ "show stats", CTL_SHOW_STATS, 0, SMTPCTL_OUT_PAIRS_EQ, NULL },
	{ "show status", CTL_SHOW_STATUS, 0, SMTPCTL_OUT_PAIRS_SP, NULL },
	{ "show envelope ID", CTL_SHOW_ENVELOPE, 0, SMTPCTL_OUT_PAIRS_COLON, NULL },
	{ "show message ID", CTL_SHOW_MESSAGE, 0, SMTPCTL_OUT_MESSAGE, NULL },
	{ "schedule ID", CTL_SCHEDULE, 0, SMTPCTL_OUT_COUNT, "scheduled" },
	{ "remove ID", CTL_REMOVE, 0, SMTPCTL_OUT_COUNT, "removed" },
	{ "pause envelope ID", CTL_PAUSE_ENVELOPE, 0, SMTPCTL_OUT_COUNT, "paused" },
	{ "resume envelope ID", CTL_RESUME_ENVELOPE, 0, SMTPCTL_OUT_COUNT, "resumed" },
	{ "pause mda", CTL_PAUSE, CTL_AGENT_MDA, SMTPCTL_OUT_DONE, NULL },
	{ "pause mta", CTL_PAUSE, CTL_AGENT_MTA, SMTPCTL_OUT_DONE, NULL },
	{ "pause smtp", CTL_PAUSE, CTL_AGENT_SMTP, SMTPCTL_OUT_DONE, NULL },
	{ "resume mda", CTL_RESUME, CTL_AGENT_MDA, SMTPCTL_OUT_DONE, NULL },
	{ "resume mta", CTL_RESUME, CTL_AGENT_MTA, SMTPCTL_OUT_DONE, NULL },
	{ "resume smtp", CTL_RESUME, CTL_AGENT_SMTP, SMTPCTL_OUT_DONE, NULL },
	{ "reload", CTL_RELOAD, 0, SMTPCTL_OUT_DONE, NULL },
	{ "log brief", CTL_LOG_VERBOSE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "log verbose", CTL_LOG_VERBOSE, 1, SMTPCTL_OUT_DONE, NULL },
	{ "update table NAME", CTL_UPDATE_TABLE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "update geoip", CTL_UPDATE_GEOIP, 0, SMTPCTL_OUT_DONE, NULL },
	{ "resume route ROUTE", CTL_RESUME_ROUTE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "show routes", CTL_SHOW_ROUTES, CTL_MTA_SHOW_ROUTES, SMTPCTL_OUT_ROUTES, NULL },
	{ "show hosts", CTL_SHOW_ROUTES, CTL_MTA_SHOW_HOSTS, SMTPCTL_OUT_ROUTES, NULL },
	{ "show relays", CTL_SHOW_ROUTES, CTL_MTA_SHOW_RELAYS, SMTPCTL_OUT_ROUTES, NULL },
	{ "discover ID", CTL_DISCOVER, 0, SMTPCTL_OUT_COUNT, "discovered" },
	{ "trace NAME", CTL_TRACE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "untrace NAME", CTL_UNTRACE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "profile NAME", CTL_PROFILE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "unprofile NAME", CTL_UNPROFILE, 0, SMTPCTL_OUT_DONE, NULL },
	{ "pause mta from ADDR for DOMAIN", CTL_MTA_BLOCK, 0, SMTPCTL_OUT_DONE, NULL },
	{ "resume mta from ADDR for DOMAIN", CTL_MTA_UNBLOCK, 0, SMTPCTL_OUT_DONE, NULL },
	{ "show mta paused", CTL_SHOW_MTA_BLOCK, 0, SMTPCTL_OUT_MTA_PAUSED, NULL },
	{ "show hoststats", CTL_SHOW_HOSTSTATS, 0, SMTPCTL_OUT_HOSTSTATS, NULL },
};

/* OpenSMTPD's commands that ringmta does not have yet: said plainly. */
static const char *const smtpctl_later[] = {
	"spf walk",
};

/* An id word from the command line as a selector. */
int
smtpctl_parse_id(const char *s, uint32_t *sel, uint64_t *id)
{
	char *end;
	size_t len = strlen(s);
	if (strcmp(s, "all") == 0) {
		*sel = CTL_SEL_ALL;
		*id = 0;
		return 0;
	}
	if (len == 0 || len > 16 || strspn(s, "0123456789abcdefABCDEF") != len)
		return -1;
	errno = 0;
	*id = strtoull(s, &end, 16);
	if (errno != 0 || *id == 0)
		return -1;
	*sel = len <= 8 ? CTL_SEL_MSGID : CTL_SEL_EVPID;
	return 0;
}

int
smtpctl_parse_route(const char *s, uint64_t *relay, uint32_t *route)
{
	char *end;
	const char *dot = strchr(s, '.');
	if (dot == NULL || dot - s != 16 || strspn(s, "0123456789abcdefABCDEF") != 16)
		return -1;
	errno = 0;
	*relay = strtoull(s, &end, 16);
	if (errno != 0 || end != dot || dot[1] < '1' || dot[1] > '9')
		return -1;
	unsigned long n = strtoul(dot + 1, &end, 10);
	if (n == 0 || n > CTL_ROUTE_MAX || (*end != '\0' && strcmp(end, ".") != 0))
		return -1;
	*route = (uint32_t)n;
	return 0;
}

/* Print a string field of a record (missing: empty). */
static void
smtpctl_field(FILE *f, const struct ctl_msg *rec, const char *key)
{
	const struct ctl_str *v = ctl_record_get(rec, key);
	if (v != NULL)
		fprintf(f, "%.*s", (int)v->len, v->p);
}

/* An address as OpenSMTPD prints user@domain: "" is "@", "root" is "root@". */
static void
smtpctl_addr(FILE *f, const struct ctl_msg *rec, const char *key)
{
	const struct ctl_str *v = ctl_record_get(rec, key);
	if (v == NULL || v->len == 0) {
		fputc('@', f);
		return;
	}
	fprintf(f, "%.*s%s", (int)v->len, v->p, memchr(v->p, '@', v->len) ? "" : "@");
}

/* One show queue line in OpenSMTPD 6.8's format. */
void
smtpctl_print_queue_line(FILE *f, const struct ctl_msg *rec)
{
	static const char *const plain[] = { "evpid", "src", "agent", "status" };
	static const char *const tail[] = { "created", "expire", "lasttry", "retry",
	                                    "runstate", "nexttry" };
	for (unsigned i = 0; i < 4; i++) {
		smtpctl_field(f, rec, plain[i]);
		fputc('|', f);
	}
	smtpctl_addr(f, rec, "sender");
	fputc('|', f);
	smtpctl_addr(f, rec, "rcpt");
	fputc('|', f);
	smtpctl_addr(f, rec, "dest");
	for (unsigned i = 0; i < 6; i++) {
		fputc('|', f);
		smtpctl_field(f, rec, tail[i]);
	}
	fputc('|', f);
	/* the error line may hold anything: no newline or | in a field */
	const struct ctl_str *e = ctl_record_get(rec, "error");
	for (uint32_t i = 0; e != NULL && i < e->len; i++)
		fputc(e->p[i] == '\n' || e->p[i] == '\r' || e->p[i] == '|' ? ' ' : e->p[i], f);
	fputc('\n', f);
}

/* One show routes|hosts|relays line: the first field's value and a dot
 * (a route's or relay's id, as OpenSMTPD numbers them) or the host, then
 * the other fields as key=value, a value with a space quoted; empty
 * values left out. */
static void
smtpctl_print_route_line(FILE *f, const struct ctl_msg *rec)
{
	for (unsigned i = 0; i + 1 < rec->nstr; i += 2) {
		const struct ctl_str *k = &rec->str[i], *v = &rec->str[i + 1];
		if (i == 0) {
			int id = k->len == 2 && memcmp(k->p, "id", 2) == 0;
			fprintf(f, "%.*s%s", (int)v->len, v->p, id ? "." : "");
			continue;
		}
		if (v->len == 0)
			continue;
		int plain = (k->len == 5 && memcmp(k->p, "route", 5) == 0) ||
		            (k->len == 4 && memcmp(k->p, "host", 4) == 0) ||
		            (k->len == 5 && memcmp(k->p, "relay", 5) == 0) ||
		            (k->len == 5 && memcmp(k->p, "flags", 5) == 0);
		if (plain) {
			fprintf(f, " %.*s", (int)v->len, v->p);
			continue;
		}
		int quote = memchr(v->p, ' ', v->len) != NULL;
		fprintf(f, " %.*s=%s", (int)k->len, k->p, quote ? "\"" : "");
		for (uint32_t j = 0; j < v->len; j++)
			fputc(v->p[j] == '\n' || v->p[j] == '\r' || v->p[j] == '"' ? ' ' : v->p[j], f);
		fputs(quote ? "\"" : "", f);
	}
	fputc('\n', f);
}

/* One show mta paused line: "source -> domain", as OpenSMTPD prints it. */
void
smtpctl_print_mta_paused_line(FILE *f, const struct ctl_msg *rec)
{
	smtpctl_field(f, rec, "source");
	fputs(" -> ", f);
	smtpctl_field(f, rec, "domain");
	fputc('\n', f);
}

/* One show hoststats line: "domain|time|error", as OpenSMTPD prints it. */
void
smtpctl_print_hoststat_line(FILE *f, const struct ctl_msg *rec)
{
	smtpctl_field(f, rec, "domain");
	fputc('|', f);
	smtpctl_field(f, rec, "time");
	fputc('|', f);
	smtpctl_field(f, rec, "error");
	fputc('\n', f);
}

/* Print s as a JSON string (RFC 8259 7). */
static void
smtpctl_json_string(FILE *f, const char *s, uint32_t len)
{
	fputc('"', f);
	for (uint32_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Is this value a number in JSON? Ids and addresses never are. */
static int
smtpctl_json_number(const struct ctl_str *k, const struct ctl_str *v)
{
	static const char *const text_keys[] = { "evpid", "msgid", "sender", "rcpt", "dest",
	                                         "error", "errorline", "helo", "client" };
	for (unsigned i = 0; i < sizeof text_keys / sizeof text_keys[0]; i++)
		if (strlen(text_keys[i]) == k->len && memcmp(text_keys[i], k->p, k->len) == 0)
			return 0;
	uint32_t i = v->len > 0 && v->p[0] == '-';
	if (v->len == i || v->len - i > 18 || (v->p[i] == '0' && v->len - i > 1))
		return 0;
	for (; i < v->len; i++)
		if (v->p[i] < '0' || v->p[i] > '9')
			return 0;
	return 1;
}

/* One RECORD as a JSON object. */
void
smtpctl_print_json_record(FILE *f, const struct ctl_msg *rec)
{
	fputc('{', f);
	for (unsigned i = 0; i + 1 < rec->nstr; i += 2) {
		if (i)
			fputs(", ", f);
		smtpctl_json_string(f, rec->str[i].p, rec->str[i].len);
		fputs(": ", f);
		if (smtpctl_json_number(&rec->str[i], &rec->str[i + 1]))
			fprintf(f, "%.*s", (int)rec->str[i + 1].len, rec->str[i + 1].p);
		else
			smtpctl_json_string(f, rec->str[i + 1].p, rec->str[i + 1].len);
	}
	fputc('}', f);
}

#define SMTPCTL_WORDS_MAX 8

struct smtpctl_args {
	const char *file;        /* -f */
	int json;                /* --json */
	void (*line)(FILE *f, const struct ctl_msg *rec);   /* RECORD lines; NULL:
	                         * show queue's */
	const char *words[SMTPCTL_WORDS_MAX];
	unsigned nwords;
};

#define SMTPCTL_NAMES_MAX 2

/* Does cmd match the words? *id receives the word in the ID place, names
 * those in NAME, ROUTE, ADDR and DOMAIN places (at most SMTPCTL_NAMES_MAX). */
static int
smtpctl_match(const struct smtpctl_cmd *cmd, const struct smtpctl_args *a, const char **id,
              const char **names, unsigned *nnames)
{
	char buf[64];
	unsigned n = 0;
	snprintf(buf, sizeof buf, "%s", cmd->words);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n >= a->nwords)
			return 0;
		if (strcmp(w, "ID") == 0)
			*id = a->words[n];
		else if ((strcmp(w, "NAME") == 0 || strcmp(w, "ROUTE") == 0 ||
		          strcmp(w, "ADDR") == 0 || strcmp(w, "DOMAIN") == 0) &&
		         *nnames < SMTPCTL_NAMES_MAX)
			names[(*nnames)++] = a->words[n];
		else if (strcmp(w, a->words[n]) != 0)
			return 0;
		n++;
	}
	return n == a->nwords;
}

/* Options before (or --json after) the command words. Returns 0 or -1. */
static int
smtpctl_parse(int argc, char **argv, struct smtpctl_args *a)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			a->json = 1;
		} else if (strcmp(argv[i], "-f") == 0 && a->nwords == 0 && i + 1 < argc) {
			a->file = argv[++i];
		} else if (argv[i][0] == '-' && a->nwords == 0) {
			return -1;
		} else {
			if (a->nwords == SMTPCTL_WORDS_MAX)
				return -1;
			a->words[a->nwords++] = argv[i];
		}
	}
	return 0;
}

/* Bad command line: say what exists; exit status 1 as OpenSMTPD. */
static int
smtpctl_usage(void)
{
	fprintf(stderr, "usage: smtpctl [-f file] [--json] command [argument ...]\n"
	                "commands:");
	for (size_t i = 0; i < sizeof smtpctl_cmds / sizeof smtpctl_cmds[0]; i++)
		fprintf(stderr, "%s %s", i ? "," : "", smtpctl_cmds[i].words);
	fputs(", monitor [count], encrypt [string], encrypt -k [file], decrypt [-k] [file]\n",
	      stderr);
	return 1;
}

/* Load the configuration and connect. Returns 0 or an exit status. */
static int
smtpctl_connect(const struct smtpctl_args *a, struct ctl_client *c)
{
	char err[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32];
	struct rules_config *cf = ctl_config_load(a->file, err, sizeof err);
	if (cf == NULL) {
		fprintf(stderr, "smtpctl: %s\n", err);
		return CTL_EX_CONFIG;
	}
	int r = ctl_client_connect(c, cf->queue_path);
	if (r < 0) {
		if (r == -ENOENT || r == -ECONNREFUSED)
			fprintf(stderr, "smtpctl: smtpd doesn't seem to be running (%s/smtpd.sock)\n",
			        cf->queue_path);
		else
			fprintf(stderr, "smtpctl: %s/smtpd.sock: %s\n", cf->queue_path, strerror(-r));
	}
	rules_free(cf);
	return r < 0 ? 1 : 0;
}

/* A FAIL reply: say why; returns the exit status. */
static int
smtpctl_failed(const struct smtpctl_args *a, const struct ctl_msg *m)
{
	int len = m->nstr ? (int)m->str[0].len : 0;
	const char *p = m->nstr ? m->str[0].p : "";
	if (a->json) {
		printf("{\"result\": \"failed\", \"code\": %u, \"message\": ", (unsigned)m->arg);
		smtpctl_json_string(stdout, p, (uint32_t)len);
		printf("}\n");
	} else {
		fprintf(stderr, "smtpctl: command failed: %.*s\n", len, p);
	}
	return m->arg == 502 ? CTL_EX_UNAVAILABLE : 1;
}

/* Print one RECORD as pairs in the command's text format. */
static void
smtpctl_print_pairs(const struct smtpctl_cmd *cmd, const struct ctl_msg *m)
{
	const char *sep = cmd->out == SMTPCTL_OUT_PAIRS_EQ ? "=" :
	                  cmd->out == SMTPCTL_OUT_PAIRS_SP ? " " : ": ";
	for (unsigned i = 0; i + 1 < m->nstr; i += 2)
		printf("%.*s%s%.*s\n", (int)m->str[i].len, m->str[i].p, sep,
		       (int)m->str[i + 1].len, m->str[i + 1].p);
}

/* Read show queue's RECORDs until END. Returns the exit status. */
static int
smtpctl_read_queue(struct ctl_client *c, const struct smtpctl_args *a)
{
	static struct ctl_msg m;
	unsigned n = 0;
	int r;
	if (a->json)
		fputs("[", stdout);
	while ((r = ctl_client_recv(c, &m)) == 1 && m.type == CTL_RECORD) {
		if (a->json) {
			fputs(n ? ",\n " : "", stdout);
			smtpctl_print_json_record(stdout, &m);
		} else if (a->line != NULL) {
			a->line(stdout, &m);
		} else {
			smtpctl_print_queue_line(stdout, &m);
		}
		n++;
	}
	if (a->json)
		fputs("]\n", stdout);
	if (r == 1 && m.type == CTL_FAIL)
		return smtpctl_failed(a, &m);
	if (r != 1 || m.type != CTL_END) {
		fprintf(stderr, "smtpctl: the reply ended early\n");
		return 1;
	}
	return 0;
}

/* Write show message's blobs to stdout until END. Returns the exit status. */
static int
smtpctl_read_message(struct ctl_client *c, const struct smtpctl_args *a)
{
	static struct ctl_msg m;
	int r;
	while ((r = ctl_client_recv(c, &m)) == 1 && m.type == CTL_RECORD)
		if (m.blob_len > 0 && fwrite(m.blob, 1, m.blob_len, stdout) != m.blob_len) {
			fprintf(stderr, "smtpctl: standard output: write failed\n");
			return 1;
		}
	if (r == 1 && m.type == CTL_FAIL)
		return smtpctl_failed(a, &m);
	if (r != 1 || m.type != CTL_END) {
		fprintf(stderr, "smtpctl: the reply ended early\n");
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Send the command's request and print the reply. */
static int
smtpctl_run(const struct smtpctl_cmd *cmd, const struct smtpctl_args *a, uint32_t sel,
            uint64_t id, const char *const *names, unsigned nnames, struct ctl_client *c)
{
	static struct ctl_msg m;
	uint32_t arg = cmd->type == CTL_SCHEDULE || cmd->type == CTL_REMOVE ||
	               cmd->type == CTL_PAUSE_ENVELOPE || cmd->type == CTL_RESUME_ENVELOPE ||
	               cmd->type == CTL_RESUME_ROUTE || cmd->type == CTL_DISCOVER ||
	               cmd->type == CTL_TRACE || cmd->type == CTL_UNTRACE ||
	               cmd->type == CTL_PROFILE || cmd->type == CTL_UNPROFILE ? sel : cmd->arg;
	if (cmd->type == CTL_RESUME_ROUTE || cmd->type == CTL_TRACE || cmd->type == CTL_UNTRACE ||
	    cmd->type == CTL_PROFILE || cmd->type == CTL_UNPROFILE)
		nnames = 0;   /* sent as id and arg */
	if (ctl_client_send(c, cmd->type, id, arg, names, nnames, NULL, 0) < 0) {
		fprintf(stderr, "smtpctl: cannot send the request: %s\n", strerror(errno));
		return 1;
	}
	if (cmd->out == SMTPCTL_OUT_QUEUE)
		return smtpctl_read_queue(c, a);
	if (cmd->out == SMTPCTL_OUT_MESSAGE)
		return smtpctl_read_message(c, a);
	if (cmd->out == SMTPCTL_OUT_ROUTES || cmd->out == SMTPCTL_OUT_MTA_PAUSED ||
	    cmd->out == SMTPCTL_OUT_HOSTSTATS) {
		struct smtpctl_args lines = *a;
		lines.line = cmd->out == SMTPCTL_OUT_ROUTES ? smtpctl_print_route_line :
		             cmd->out == SMTPCTL_OUT_MTA_PAUSED ? smtpctl_print_mta_paused_line :
		             smtpctl_print_hoststat_line;
		return smtpctl_read_queue(c, &lines);
	}
	if (ctl_client_recv(c, &m) != 1) {
		fprintf(stderr, "smtpctl: no reply from smtpd\n");
		return 1;
	}
	if (m.type == CTL_FAIL)
		return smtpctl_failed(a, &m);
	if (m.type == CTL_RECORD) {
		if (a->json) {
			smtpctl_print_json_record(stdout, &m);
			fputc('\n', stdout);
		} else {
			smtpctl_print_pairs(cmd, &m);
		}
	} else if (cmd->out == SMTPCTL_OUT_COUNT) {
		if (a->json)
			printf("{\"result\": \"ok\", \"envelopes\": %llu}\n", (unsigned long long)m.id);
		else
			printf("%llu envelope%s %s\n", (unsigned long long)m.id, m.id > 1 ? "s" : "",
			       cmd->verb);
	} else if (cmd->type == CTL_UPDATE_TABLE && a->json) {
		printf("{\"result\": \"ok\", \"entries\": %llu}\n", (unsigned long long)m.id);
	} else {
		puts(a->json ? "{\"result\": \"ok\"}" : "command succeeded");
	}
	return 0;
}

/* The command words name something OpenSMTPD has and we do not yet. */
static int
smtpctl_is_later(const struct smtpctl_args *a)
{
	char line[256] = "";
	for (unsigned i = 0; i < a->nwords; i++)
		snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", i ? " " : "",
		         a->words[i]);
	for (size_t i = 0; i < sizeof smtpctl_later / sizeof smtpctl_later[0]; i++)
		if (strncmp(line, smtpctl_later[i], strlen(smtpctl_later[i])) == 0)
			return 1;
	return 0;
}

/* smtpctl: parse, connect, run one command. */
int
smtpctl_main(int argc, char **argv)
{
	struct smtpctl_args a;
	const struct smtpctl_cmd *cmd = NULL;
	const char *idw = NULL, *names[SMTPCTL_NAMES_MAX] = { NULL };
	unsigned nnames = 0;
	uint32_t sel = 0;
	uint64_t id = 0;
	if (smtpctl_parse(argc, argv, &a) < 0 || a.nwords == 0)
		return smtpctl_usage();
	if (strcmp(a.words[0], "encrypt") == 0 && a.nwords >= 2 && strcmp(a.words[1], "-k") == 0)
		return smtpctl_seal(a.file, (int)a.nwords - 1, a.words + 1, 1);   /* no daemon */
	if (strcmp(a.words[0], "encrypt") == 0)
		return smtpctl_encrypt((int)a.nwords - 1, a.words + 1);
	if (strcmp(a.words[0], "decrypt") == 0)
		return smtpctl_seal(a.file, (int)a.nwords - 1, a.words + 1, 0);
	if (strcmp(a.words[0], "monitor") == 0) {
		char *end = NULL;
		unsigned long count = a.nwords == 2 ? strtoul(a.words[1], &end, 10) : 0;
		if (a.nwords > 2 || (a.nwords == 2 && (*end != '\0' || count == 0))) {
			fprintf(stderr, "usage: smtpctl monitor [count]\n");
			return 1;
		}
		struct ctl_client c;
		int r = smtpctl_connect(&a, &c);
		if (r != 0)
			return r;
		r = smtpctl_monitor(&c, a.json, count);
		ctl_client_close(&c);
		return r;
	}
	for (size_t i = 0; i < sizeof smtpctl_cmds / sizeof smtpctl_cmds[0] && !cmd; i++) {
		idw = NULL;   /* a partial match leaves nothing behind */
		nnames = 0;
		if (smtpctl_match(&smtpctl_cmds[i], &a, &idw, names, &nnames))
			cmd = &smtpctl_cmds[i];
	}
	if (cmd == NULL && smtpctl_is_later(&a)) {
		fprintf(stderr, "smtpctl: not available yet in this version of ringmta\n");
		return CTL_EX_UNAVAILABLE;
	}
	if (cmd == NULL)
		return smtpctl_usage();
	if (idw != NULL && (smtpctl_parse_id(idw, &sel, &id) < 0 ||
	                    ((cmd->type == CTL_SHOW_ENVELOPE || cmd->type == CTL_SHOW_MESSAGE) &&
	                     sel != CTL_SEL_EVPID) ||
	                    (cmd->type == CTL_DISCOVER && sel == CTL_SEL_ALL))) {
		fprintf(stderr, "smtpctl: invalid id: %s\n", idw);
		return 1;
	}
	if (cmd->type == CTL_RESUME_ROUTE && smtpctl_parse_route(names[0], &id, &sel) < 0) {
		fprintf(stderr, "smtpctl: invalid route id: %s (as show routes prints it: "
		        "RELAY.N)\n", names[0]);
		return 1;
	}
	if (cmd->type == CTL_TRACE || cmd->type == CTL_UNTRACE) {
		if ((sel = ctl_trace_parse(names[0])) == 0) {
			fprintf(stderr, "smtpctl: invalid trace keyword: %s (imsg, io, smtp, filters, "
			        "transfer, bounce, scheduler, expand, lookup, stat, rules, mproc, all)\n",
			        names[0]);
			return 1;
		}
	}
	if (cmd->type == CTL_PROFILE || cmd->type == CTL_UNPROFILE) {
		if ((sel = ctl_profile_parse(names[0])) == 0) {
			fprintf(stderr, "smtpctl: invalid profile keyword: %s (imsg, queue)\n",
			        names[0]);
			return 1;
		}
	}
	struct ctl_client c;
	int r = smtpctl_connect(&a, &c);
	if (r != 0)
		return r;
	r = smtpctl_run(cmd, &a, sel, id, names, nnames, &c);
	ctl_client_close(&c);
	return r;
}

/* mailq: show queue under another name. */
int
smtpctl_mailq(int argc, char **argv)
{
	struct smtpctl_args a;
	if (smtpctl_parse(argc, argv, &a) < 0 || a.nwords != 0) {
		fprintf(stderr, "usage: mailq [-f file] [--json]\n");
		return CTL_EX_USAGE;
	}
	struct ctl_client c;
	int r = smtpctl_connect(&a, &c);
	if (r != 0)
		return r;
	r = smtpctl_run(&smtpctl_cmds[0], &a, 0, 0, NULL, 0, &c);
	ctl_client_close(&c);
	return r;
}
