/*
 * rules/rules.h - smtpd.conf: lexer, parser, checker and the compiled decision
 * table, in OpenSMTPD's grammar (smtpd.conf(5)).
 *
 * rules_load_file() / rules_load_string() read a configuration and return a
 * compiled struct rules_config, or NULL with err filled in as
 * "file:line:column: what is wrong" (rules_error_format()). The result is
 * immutable and may be read by every shard at once; rules_free() frees it
 * (the caller makes sure no one still uses it). A config shared by threads
 * is counted instead: a loaded config has one holder, rules_hold() adds
 * one, rules_release() drops one and frees it with the last, on whichever
 * thread that is (a shard holds its current config, a session the config
 * it started with, so it finishes under it after a reload).
 *
 * The whole of OpenSMTPD 7.x smtpd.conf(5) is parsed and checked: macros
 * (-D overrides), include, table (inline lists and maps, file:, db: and
 * other backends, the builtins <localhost> <anyhost> <localnames>
 * <anydestination> <getpwnam>), listen on (every option), action (every
 * method and option, %{...} formats checked), match (every criterion,
 * "!", regex, each at most once per rule), pki, ca, queue, smtp, mta, mda,
 * bounce, srs, filter, proc, admd, scheduler; sizes (35M) and delays (4h).
 * Objects are declared before use, as in OpenSMTPD.
 *
 * Run time implements a part of it: listen on ADDR|IFACE [port] [tag]
 * [hostname] [inet4|inet6] [no-dsn], listen on socket, tables inline,
 * file: and db: (a cdb built by makemap), action maildir ["path"], mbox,
 * mda, lmtp DEST [rcpt-to] and relay [host smtp://host[:port]] with ttl,
 * listen on ... auth [T] | auth-optional [T], senders T, mask-src,
 * received-auth (the daemon's SMTP AUTH, core/session_auth.c),
 * match on from/for/mail-from/rcpt-to/tag/helo/tls and regex, from country
 * and from asn (ringmta's own: the client's ISO country code and AS number,
 * looked up by the daemon in the `geoip` databases and given in the
 * query), queue path,
 * compression, encryption [key] and ttl, smtp max-message-size,
 * bounce warn-interval, builtin filters and their chains on listeners
 * (rules/filter.h). Every other usage is recorded
 * in rules_config.unsupported with its place; rules_runtime_check() turns
 * the first into "file:line:column: tls is not supported yet", and
 * rules_match() answers RULES_TEMPFAIL for such a config rather than decide
 * without it (unless every such usage is one it evaluates: from rdns). "smtpd -n" accepts these configurations with one warning each.
 *
 * OpenBSD interface names: "lo0" is "lo" when there is no lo0; "egress" is
 * the interface(s) of the default route(s) (/proc/net/route, ipv6_route),
 * skipped with a warning when there is none; "all" binds the wildcard
 * address like "any".
 *
 * Matching: rules_match() walks the decision table compiled from the match
 * lines; the first match wins; no match is RULES_NOMATCH (550 upstream).
 * Each criterion answers match, no match or tempfail (an rDNS name not
 * known yet, a key too long); a line with a criterion that does not match
 * is skipped, else a line with one that could not answer makes the verdict
 * RULES_TEMPFAIL (4xx), so an earlier undecided line is never jumped over.
 * Every criterion of smtpd.conf(5) is evaluated: from any|local|socket|src
 * |rdns|auth|mail-from, for any|local|domain|rcpt-to, tag, helo, tls,
 * mail-from, rcpt-to, with "!" and regex tables (POSIX extended, compiled
 * at load). The daemon cannot supply an rDNS name yet, so "from rdns"
 * stays in c->unsupported (marked evaluated) and smtpd refuses to start
 * with it; the authenticated user comes from SMTP AUTH. rules_match() does no
 * I/O: file: and db: tables are loaded at rules_load time.
 */
#ifndef RULES_RULES_H
#define RULES_RULES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define RULES_NAME_BYTES_MAX 64
#define RULES_PATH_BYTES_MAX 1024
#define RULES_HOST_BYTES_MAX 256
#define RULES_ERROR_BYTES_MAX 512
#define RULES_LINE_BYTES_MAX 512       /* a config line kept for a caret */
#define RULES_WHAT_BYTES_MAX 64
#define RULES_BOUNCE_WARN_MAX 4        /* bounce warn-interval delays, as OpenSMTPD */
#define RULES_QUEUE_KEY_BYTES 32       /* queue encryption: AES-256, as OpenSMTPD */
#define RULES_SRS_KEY_BYTES_MAX 1024   /* srs key, with its NUL (PROTO_SRS_KEY_BYTES_MAX) */
#define RULES_SRS_TTL_DAYS_MAX 1000    /* srs ttl: the timestamp wraps at 1024 days */
#define RULES_DEFAULT_SRS_TTL_DAYS 4   /* OpenSMTPD: the queue's expiry, 4 days */
#define RULES_FILE_BYTES_MAX (64u << 20) /* a config or table file */
#define RULES_DB_BYTES_MAX (1u << 30)  /* a db: table (a cdb; makemap's bound too) */
#define RULES_KEY_BYTES_MAX 1024       /* a lookup key (as OpenSMTPD) */
#define RULES_RELAY_SRC_MAX 16         /* a relay action's source addresses */

struct rules_error {
	char file[RULES_PATH_BYTES_MAX];
	unsigned line, column;           /* 1-based; 0 when not about a place */
	char message[RULES_ERROR_BYTES_MAX];
	char text[RULES_LINE_BYTES_MAX];   /* the offending line, "" if unknown or
	                                    * when it holds a secret (a queue key) */
	int secret_line;                   /* the parser is on such a line */
};

/* A usage the grammar allows and this daemon does not implement yet. */
struct rules_unsupported {
	char what[RULES_WHAT_BYTES_MAX];   /* short name: "tls", "action mbox" */
	int evaluated;                     /* rules_match() evaluates it; only the
	                                    * daemon cannot supply the fact yet
	                                    * (from rdns: no PTR lookup) */
	unsigned line, column;
	char file[RULES_PATH_BYTES_MAX];
};

/* Something the operator should know that is not an error. */
struct rules_warning {
	char message[RULES_ERROR_BYTES_MAX];
	unsigned line, column;
	char file[RULES_PATH_BYTES_MAX];
};

struct rules_define {
	const char *name, *value;
};

struct rules_load_params {
	const char *hostname;              /* this machine's name (for "local") */
	const struct rules_define *defines; /* -D name=value, overriding macros */
	unsigned ndefines;
	const char *base_dir;              /* relative paths are resolved here */
	int confine_files;                 /* include, file: and db: tables, pki
	                                    * and ca files: only a relative path
	                                    * without ".." (so below base_dir) is
	                                    * read; other backends are refused
	                                    * (fuzzing, configs from elsewhere) */
	/* Asks the TLS library whether it can use a `ciphers` list (protocols
	 * 0) or a `protocols` set (ciphers NULL): 0, or -1 with why (cap
	 * bytes) filled; the loader reports it at the value's place. NULL:
	 * not asked (smtpctl, fuzzing). */
	int (*tls_check)(const char *ciphers, unsigned protocols, char *why, size_t cap);
	int skip_data_files;               /* file: and db: tables stay empty
	                                    * (their paths kept), pki and ca
	                                    * files are not read: for smtpctl,
	                                    * sendmail and newaliases, which need
	                                    * the queue path and the paths, and
	                                    * may run as a user who cannot read
	                                    * them (newaliases builds the db:) */
};

enum rules_tls {
	RULES_TLS_NONE,
	RULES_TLS_STARTTLS,        /* tls: offered */
	RULES_TLS_REQUIRE,         /* tls-require: no MAIL before STARTTLS */
	RULES_TLS_SMTPS,           /* smtps: TLS from the first byte */
};

#define RULES_LISTENER_PKI_MAX 8

/* TLS protocol versions, a bit each (smtpd.conf `protocols`). */
#define RULES_TLS_V1_0 (1u << 0)
#define RULES_TLS_V1_1 (1u << 1)
#define RULES_TLS_V1_2 (1u << 2)
#define RULES_TLS_V1_3 (1u << 3)
#define RULES_TLS_PROTOCOLS_ALL 0xfu
#define RULES_TLS_PROTOCOLS_DEFAULT (RULES_TLS_V1_2 | RULES_TLS_V1_3)
#define RULES_CIPHERS_BYTES_MAX 512

/* rules/tls_opts.c, pure. rules_tls_protocols_parse(): a `protocols`
 * value as libtls reads it ("tlsv1.2", "tlsv1.3", "tlsv1", "all",
 * "legacy", "secure", "default", joined by ',' or ':', "!" before one
 * takes it away) into a mask of RULES_TLS_V1_*, consecutive versions
 * only; 0, or -1 with why. rules_tls_ciphers_parse(): a `ciphers` value
 * (an OpenSSL-style list, or libtls's secure, default, compat, legacy,
 * insecure, all) into the list to give the library ("" its default);
 * 0, or -1 with why. */
int rules_tls_protocols_parse(const char *s, unsigned *mask, char *why, size_t cap);
int rules_tls_ciphers_parse(const char *s, char *out, size_t cap, char *why, size_t wcap);

struct rules_filter;
struct rules_proc;
struct rules_milter;
#define RULES_LISTENER_MILTERS_MAX 8       /* milters on one listener (rules/milter.h) */

struct rules_pki {
	char name[RULES_HOST_BYTES_MAX];
	char cert[RULES_PATH_BYTES_MAX];
	char key[RULES_PATH_BYTES_MAX];
};

enum rules_auth {
	RULES_AUTH_NONE,
	RULES_AUTH_REQUIRE,        /* auth: no MAIL before AUTH */
	RULES_AUTH_OPTIONAL,       /* auth-optional: AUTH offered, not required */
};

struct rules_listener {
	struct sockaddr_storage addr;      /* address and port to bind */
	socklen_t addr_len;
	char spec[RULES_HOST_BYTES_MAX];   /* as written: "127.0.0.1", "lo", "any" */
	char tag[RULES_NAME_BYTES_MAX];    /* "" if none */
	char hostname[RULES_HOST_BYTES_MAX]; /* banner name, "" = the default */
	unsigned line;                     /* where it was declared */
	enum rules_tls tls;
	int tls_verify;                    /* verify: a client certificate is
	                                    * required and checked (without it
	                                    * one is asked for, optional) */
	char tls_ca[RULES_PATH_BYTES_MAX]; /* ca NAME: its file, the CAs client
	                                    * certificates are checked against;
	                                    * "" the system store */
	char tls_ciphers[RULES_CIPHERS_BYTES_MAX]; /* ciphers (else smtp
	                                    * ciphers), "" the library's default */
	int tls_ciphers_set;               /* the listener has its own ciphers */
	unsigned tls_protocols;            /* protocols: RULES_TLS_V1_* */
	int no_dsn;                        /* no-dsn: DSN not offered */
	int proxy_v2;                      /* proxy-v2: a PROXY header (v1 or v2)
	                                    * comes first and names the client */
	enum rules_auth auth;              /* auth | auth-optional */
	const struct rules_tab *auth_table; /* auth <table>: user -> crypt(3) hash;
	                                    * NULL with auth: the system's users */
	const struct rules_tab *senders;   /* senders <table>: user -> addresses */
	int senders_masquerade;            /* senders <table> masquerade */
	int mask_src;                      /* Received: without the client's address */
	int received_auth;                 /* Received: names the authenticated user */
	unsigned auth_use, senders_use;    /* the parser's: 1 + index in its uses */
	unsigned npki;                     /* pki names for SNI, first is the default */
	char pki[RULES_LISTENER_PKI_MAX][RULES_HOST_BYTES_MAX];
	const struct rules_filter **filters; /* `filter`: its builtin filters in
	                                    * order, chains flattened (rules/filter.h) */
	unsigned nfilters;
	const struct rules_proc **procs;   /* `filter`: its filter processes in
	                                    * order, each once (rules/filter.h) */
	unsigned nprocs;
	unsigned filter_ref, filter_nrefs; /* the parser's: its refs */
	unsigned char milters[RULES_LISTENER_MILTERS_MAX]; /* `milter`: indices
	                                    * into the config's milters, in order */
	unsigned nmilters;
};

enum rules_action_kind {
	RULES_ACTION_MAILDIR,              /* maildir, mbox, mda: the local helper */
	RULES_ACTION_RELAY,
	RULES_ACTION_LMTP,                 /* lmtp: to an LMTP server (core/relay.c) */
};

/* How a relay action uses TLS (smtpd.conf(5): the host URL's scheme and
 * the `tls` option). */
enum rules_relay_tls {
	RULES_RELAY_TLS_OPPORTUNISTIC,     /* smtp:// or MX: STARTTLS when offered */
	RULES_RELAY_TLS_NO,                /* smtp+notls://: never */
	RULES_RELAY_TLS_STARTTLS,          /* smtp+tls:// or `tls`: STARTTLS required */
	RULES_RELAY_TLS_SMTPS,             /* smtps://: TLS from the first byte */
};

struct rules_action {
	char name[RULES_NAME_BYTES_MAX];
	enum rules_action_kind kind;       /* MAILDIR for maildir, mbox, mda */
	char method[16];                   /* as written: maildir, mbox, mda, lmtp,
	                                    * forward-only, expand-only, relay */
	unsigned ttl_s;                    /* its envelopes expire after this: the
	                                    * action's ttl, else the queue ttl */
	char path[RULES_PATH_BYTES_MAX];   /* maildir: a template, "" = ~/Maildir;
	                                    * mbox: "" = /var/mail/USER;
	                                    * mda: the command (a template);
	                                    * lmtp: the server's UNIX socket */
	char user[RULES_NAME_BYTES_MAX];   /* `user NAME`: deliver as this user */
	int junk;                          /* maildir ... junk */
	char wrapper_name[RULES_NAME_BYTES_MAX]; /* wrapper NAME: mda commands run */
	char wrapper[RULES_PATH_BYTES_MAX];/* through this (`mda wrapper`), %{mda}
	                                    * standing for the command; "" none */
	char relay_host[RULES_HOST_BYTES_MAX]; /* relay host: "" = MX lookup;
	                                    * lmtp host:port: the host */
	uint16_t relay_port;               /* relay host: default 25; lmtp: the port */
	enum rules_relay_tls relay_tls;
	int relay_tls_verify;              /* required TLS checks the certificate
	                                    * and the name (not with no-verify) */
	char relay_ca[RULES_PATH_BYTES_MAX]; /* ca NAME: its file; "" the system store */
	char relay_pki[RULES_HOST_BYTES_MAX]; /* pki NAME: our client certificate */
	char relay_ciphers[RULES_CIPHERS_BYTES_MAX]; /* ciphers, "" the default */
	unsigned relay_protocols;          /* protocols: RULES_TLS_V1_* */
	char relay_label[RULES_NAME_BYTES_MAX]; /* label@ of the host URL */
	const struct rules_tab *relay_auth; /* auth <table>: label = "user:password" */
	/* relay session options (core/relay.c reads them at each connection
	 * from the configuration in force) */
	char relay_helo[RULES_HOST_BYTES_MAX]; /* helo NAME: our EHLO name, "" hostname */
	const struct rules_tab *relay_helo_src; /* helo-src <table>: source address =
	                                    * EHLO name, NULL none */
	char relay_mail_from[RULES_HOST_BYTES_MAX]; /* mail-from ADDR: MAIL FROM on the
	                                    * wire (not for <>), "" the sender's */
	struct sockaddr_storage relay_src[RULES_RELAY_SRC_MAX]; /* src <addr|table>: */
	unsigned nrelay_src;               /* bound before connect, taken in turn;
	                                    * 0 the kernel's choice */
	int relay_backup;                  /* backup [mx NAME]: only MX hosts preferred */
	char relay_backup_mx[RULES_HOST_BYTES_MAX]; /* over NAME ("" our hostname) */
	const struct rules_tab *relay_domain; /* domain <table>: recipient domain =
	                                    * relay URL, no MX lookup; NULL none */
	int relay_srs;                     /* srs: forwarded mail's sender in SRS0 form */
	int lmtp_rcpt_to;                  /* lmtp ... rcpt-to: RCPT TO is the
	                                    * address, else the local user */
	const struct rules_tab *alias;     /* alias <table>: local parts expanded
	                                    * as aliases(5) says, NULL none */
	const struct rules_tab *virtual_map; /* virtual <table>: addresses expanded
	                                    * (rules/aliases.c), NULL none */
	const struct rules_tab *userbase;  /* userbase <table>: users as uid:gid:home
	                                    * (rules/userinfo.c), NULL the system's */
	unsigned line;
};

/* What a `from country|asn` criterion looks up (ringmta's own). */
enum rules_geo {
	RULES_GEO_NONE,
	RULES_GEO_COUNTRY,         /* the client's ISO 3166-1 country code */
	RULES_GEO_ASN,             /* the client's autonomous system number */
};

/* mta limit [for domain D] KEY N ...: the keys the daemon applies, one
 * struct per statement in file order (core/mta_limit.c has the defaults
 * and resolves them for a destination: the last statement for its domain
 * wins over the global ones). */
enum rules_mta_limit_key {
	RULES_MTA_MAX_CONN_PER_HOST,
	RULES_MTA_MAX_CONN_PER_ROUTE,
	RULES_MTA_MAX_CONN_PER_DOMAIN,
	RULES_MTA_MAX_CONN_PER_RELAY,
	RULES_MTA_CONN_DELAY_HOST,        /* seconds between connections */
	RULES_MTA_CONN_DELAY_ROUTE,
	RULES_MTA_CONN_DELAY_DOMAIN,
	RULES_MTA_CONN_DELAY_RELAY,
	RULES_MTA_SESSION_MAIL_MAX,       /* transactions per connection */
	RULES_MTA_SESSION_KEEPALIVE,      /* seconds an idle connection is kept */
	RULES_MTA_MAX_RATE,               /* ringmta: max-rate N/s|N/m, messages */
	RULES_MTA_SESSION_SETUP_TIMEOUT,  /* ringmta: seconds to the first transaction */
	RULES_MTA_LIMIT_KEYS,
};

#define RULES_MTA_LIMITS_MAX 1024         /* mta limit statements */

struct rules_mta_limit {
	char domain[RULES_HOST_BYTES_MAX];   /* for domain D (lower-cased); "" all */
	uint32_t set;                        /* 1u << key for each key given */
	unsigned v[RULES_MTA_LIMIT_KEYS];
	unsigned rate_period_s;              /* max-rate: per 1 (/s) or 60 (/m) s */
};

struct rules_config {
	char file[RULES_PATH_BYTES_MAX];
	char hostname[RULES_HOST_BYTES_MAX];
	char queue_path[RULES_PATH_BYTES_MAX]; /* absolute; default "/var/spool/ringmta" */
	unsigned queue_ttl_s;              /* queue ttl: envelopes of actions without
	                                    * a ttl expire after it, default 4d */
	int queue_compression;             /* queue compression: zstd on bodies */
	int queue_encryption;              /* queue encryption: bodies sealed with
	                                    * queue_key (AES-256-GCM) */
	int queue_key_stdin;               /* the key is not in the file (no key,
	                                    * stdin or -): smtpd reads it from
	                                    * standard input at start */
	uint8_t queue_key[RULES_QUEUE_KEY_BYTES]; /* 32 octets as written, as
	                                    * OpenSMTPD takes them; rules_free()
	                                    * wipes it, rules_queue_key_wipe() too */
	uint64_t size_max;                 /* smtp max-message-size, default 35 MiB */
	unsigned rcpt_max;                 /* smtp limit max-rcpt: per transaction, 1000 */
	unsigned mails_max;                /* smtp limit max-mails: per session, 100 */
	unsigned sessions_per_source;      /* smtp limit max-sessions-per-source: at once
	                                    * from one address (loopback exempt), 50 */
	unsigned sessions_max;             /* smtp limit max-sessions: at once in all,
	                                    * shared out over the shards; 0 = the
	                                    * daemon's own cap (4096 per shard) */
	unsigned auth_failures_max;        /* smtp limit max-auth-failures: failed
	                                    * AUTH from one address within 5 minutes
	                                    * before 421; 0 none; default 5 */
	unsigned idle_timeout_s;           /* smtp timeout: a silent client is told
	                                    * 421 4.4.2 and closed, 300 */
	int bare_newline_normalize;        /* smtp bare-newline: a bare LF or CR in
	                                    * DATA becomes CRLF (1) or ends the
	                                    * session with 521 5.5.2 (0, default) */
	unsigned bounce_warn_s[RULES_BOUNCE_WARN_MAX]; /* bounce warn-interval: a
	                                    * delay warning once a message waited
	                                    * this long, ascending; default 4h */
	unsigned nbounce_warn;
	char sub_addr_delim;               /* smtp sub-addr-delim: user+tag, '+' */
	struct rules_listener metrics;     /* metrics listen on ADDR port N: the
	                                    * OpenMetrics endpoint; addr_len 0 = off */
	char geoip_country[RULES_PATH_BYTES_MAX]; /* geoip [country] "path": the
	                                    * MaxMind country database, "" none */
	char geoip_asn[RULES_PATH_BYTES_MAX]; /* geoip asn "path": "" none */
	char srs_key[RULES_SRS_KEY_BYTES_MAX]; /* srs key: "" none (relay srs
	                                    * then never parses); rules_free()
	                                    * wipes both keys */
	char srs_key_backup[RULES_SRS_KEY_BYTES_MAX]; /* srs key backup: also
	                                    * accepted when decoding, "" none */
	unsigned srs_ttl_days;             /* srs ttl, whole days; default 4 */
	struct rules_listener *listeners;
	unsigned nlisteners;
	struct rules_mta_limit *mta_limits;  /* mta limit statements, file order */
	unsigned nmta_limits;
	struct rules_action *actions;
	unsigned nactions;
	struct rules_filter *filters;      /* every builtin filter (rules/filter.h) */
	unsigned nfilters;
	struct rules_proc *procs;          /* every filter process, declaration order */
	unsigned nprocs;
	struct rules_milter *milters;      /* every milter, declaration order
	                                    * (rules/milter.h) */
	unsigned nmilters;
	struct rules_pki *pkis;            /* every pki NAME cert/key */
	unsigned npkis;
	struct rules_table *table;         /* the compiled decision table (opaque) */
	struct rules_unsupported *unsupported; /* in file order */
	unsigned nunsupported;
	struct rules_warning *warnings;
	unsigned nwarnings;
	atomic_uint holders;               /* rules_hold() / rules_release() */
};

/* The client's reverse DNS name, as far as it is known. */
enum rules_rdns {
	RULES_RDNS_UNKNOWN,        /* not looked up: "from rdns" answers tempfail */
	RULES_RDNS_FOUND,          /* rdns names it */
	RULES_RDNS_NONE,           /* looked up: there is no name */
	RULES_RDNS_TEMPFAIL,       /* the lookup failed for now: tempfail */
};

/* What is known when a recipient is checked. The first group is the
 * session's (rules_session_candidates() reads only those). */
struct rules_query {
	int local;                 /* from a local source: loopback or local socket */
	const struct sockaddr *src; /* client address, NULL for local socket */
	const char *listener_tag;  /* "" if none */
	const char *helo;          /* the HELO/EHLO name; NULL or "" before one */
	int tls;                   /* the session runs under TLS */
	const char *auth_user;     /* the authenticated user, NULL when none */
	enum rules_rdns rdns_state;
	const char *rdns;          /* the name when rdns_state is RULES_RDNS_FOUND */
	const char *country;       /* the client's country code ("GB"), "" when the
	                            * database has none, NULL when not looked up
	                            * ("from country" then answers tempfail) */
	const char *asn;           /* its AS number in decimal, "" none, NULL the
	                            * same as for country */
	const char *mail_from;     /* reverse path, "" for <> */
	const char *rcpt;          /* forward path user@domain */
};

enum rules_verdict {
	RULES_ACCEPT,     /* *action says what to do */
	RULES_REJECT,     /* a "match ... reject" line */
	RULES_NOMATCH,    /* no line matched */
	RULES_TEMPFAIL,   /* a table could not answer */
};

struct rules_config *rules_load_file(const char *path, const struct rules_load_params *p,
                                     struct rules_error *err);
/* name is used in error messages in place of a file name. */
struct rules_config *rules_load_string(const char *name, const char *text,
                                       const struct rules_load_params *p,
                                       struct rules_error *err);
void rules_free(struct rules_config *c);
/* One more holder of c; returns c. */
const struct rules_config *rules_hold(const struct rules_config *c);
/* One holder less; the last frees c (NULL: nothing). */
void rules_release(const struct rules_config *c);
/* smtpctl update table NAME (rules/table_update.c): the file of c's
 * table NAME is read again and its entries answer every lookup from the
 * moment rules_table_update_begin() returns 0 (u->entries of them);
 * then, once no thread can still be inside a lookup that began before,
 * rules_table_update_end() frees what answered until then. -1 with err
 * (no message place) when there is no such table, it is not a file
 * table, or the file does not load: the table stays as it was. */
struct rules_table_update {
	struct rules_tab *tab, *retired;
	unsigned entries;
};
int rules_table_update_begin(const struct rules_config *c, const char *name,
                             struct rules_table_update *u, struct rules_error *err);
void rules_table_update_end(struct rules_table_update *u);
/* Forget the queue key held by c (once the queue is open with it). */
void rules_queue_key_wipe(struct rules_config *c);
/* c's srs key, backup key and ttl into k (proto/srs.h; k points into c);
 * 0, or -1 when c has no srs key. */
struct proto_srs_keys;
int rules_srs_keys(const struct rules_config *c, struct proto_srs_keys *k);
/* The i-th db: table of c, in declaration order: 1 with its name, its
 * file and whether an action's `alias` option names it (*alias), or 0 past
 * the last. The strings live as long as c. */
int rules_db_table(const struct rules_config *c, unsigned i, const char **name,
                   const char **path, int *alias);
/* Table files, shared with makemap. rules_open_regular(): open path if it
 * is a regular file of at most max_bytes (its size in *size); -1 with
 * errno otherwise (EISDIR a folder, EINVAL another special file, EFBIG
 * too large). rules_open_error(): the reason to print for such an errno.
 * rules_tab_split_line(): split one table file line in place: 0 for a
 * blank or '#' line, else 1 with *key and *value (NULL when the line holds
 * a key only); *colon is 1 when the key was written "key:" (aliases(5)
 * style) and the colon taken off. */
int rules_open_regular(const char *path, size_t max_bytes, size_t *size);
/* rules_read_regular(): the same file read whole into *buf (malloc'd, the
 * caller frees) of *size bytes; 0, or -1 with errno (EAGAIN: it changed
 * size while read). */
int rules_read_regular(const char *path, size_t max_bytes, uint8_t **buf, size_t *size);
/* rules_read_fd(): the same for a file the caller opened (and checked,
 * with fstat, as it needs); fd stays open. */
int rules_read_fd(int fd, size_t max_bytes, uint8_t **buf, size_t *size);
const char *rules_open_error(int e);
int rules_tab_split_line(char *line, char **key, char **value, int *colon);
/* "file:line:column: message" (or "file: message" without a place). */
void rules_error_format(const struct rules_error *err, char *buf, size_t cap);
/* The same first line, then the offending line and a caret under the
 * column ("  listen on lo0 tsl\n                    ^") when known. */
void rules_error_format_long(const struct rules_error *err, char *buf, size_t cap);
/* Call before running with c: 0, or -1 with err set to the first usage the
 * daemon does not implement ("file:line:column: tls is not supported yet"). */
int rules_runtime_check(const struct rules_config *c, struct rules_error *err);
/* The i-th warning line for "smtpd -n": the warnings, then one per
 * unsupported usage ("file:line:column: warning: tls is not supported yet,
 * smtpd will refuse to start with this configuration"). Returns 1, or 0
 * when i is past the last one. */
int rules_warning_format(const struct rules_config *c, unsigned i, char *buf, size_t cap);

/* Decide a recipient; *line is the smtpd.conf line that decided (0 if none). */
enum rules_verdict rules_match(const struct rules_config *c, const struct rules_query *q,
                               const struct rules_action **action, unsigned *line);

/* The same decision in stages, for a session deciding many recipients. A
 * candidate set is rules_candidates_words(c) uint64_t words the caller owns
 * (a bit per match line that may still match, and a bit per line with a
 * criterion that could not be answered). rules_session_candidates() fills
 * one from q's session facts (local, src, listener_tag, helo, tls,
 * auth_user, rdns): call it when the session starts and again after
 * HELO/EHLO, STARTTLS or AUTH. rules_mail_candidates() narrows it by the
 * reverse path at MAIL (in and out may be the same set). rules_match_rcpt()
 * then evaluates only the lines left, in order, and answers exactly what
 * rules_match() would for the same facts. A set belongs to the config it
 * was computed from. No I/O, no allocation: every shard may call these on
 * the same config at once. */
size_t rules_candidates_words(const struct rules_config *c);
/* 1 when a match line has "from rdns": the daemon looks the client's PTR
 * name up before the rules need it (at connect). */
int rules_needs_rdns(const struct rules_config *c);
void rules_session_candidates(const struct rules_config *c, const struct rules_query *q,
                              uint64_t *set);
void rules_mail_candidates(const struct rules_config *c, const uint64_t *in,
                           const char *mail_from, uint64_t *out);
enum rules_verdict rules_match_rcpt(const struct rules_config *c, const uint64_t *set,
                                    const char *rcpt, const struct rules_action **action,
                                    unsigned *line);
const struct rules_action *rules_action_find(const struct rules_config *c, const char *name);
const struct rules_pki *rules_pki_find(const struct rules_config *c, const char *name);
/* The credentials of a relay action with `auth <table>` (rules/credentials.c):
 * 0 with user and pass, -1 no entry for its label, -2 an entry that is not
 * "user:password". */
int rules_relay_credentials(const struct rules_action *a, char *user, size_t ucap, char *pass,
                            size_t pcap);

/* A relay URL, [scheme://][label@]host[:port] (rules/relay_url.c, pure):
 * rules_relay_url_parse() fills u and returns 0, or -1 with why (cap
 * bytes) saying what is wrong; scheme_ix is the index of the scheme in
 * smtp, smtp+tls, smtp+notls, lmtp, smtps (0 without one). port 0: none
 * written (25; 465 for smtps). rules_relay_port_parse(): "1".."65535". */
struct rules_relay_url {
	enum rules_relay_tls tls;
	int scheme_ix;
	char label[RULES_NAME_BYTES_MAX];   /* "" none */
	char host[RULES_HOST_BYTES_MAX];
	uint16_t port;
};
int rules_relay_url_parse(const char *url, struct rules_relay_url *u, char *why, size_t cap);
int rules_relay_port_parse(const char *s, uint16_t *port, char *why, size_t cap);
/* The relay options looked up at delivery time (rules/relay_opts.c):
 * rules_relay_domain_url(): with `domain <table>`, the relay URL for the
 * recipient domain parsed into u: 0, -1 no entry (or no table), -2 an
 * entry that does not parse. rules_relay_helo(): the EHLO name for a
 * session from source address src (text, NULL unknown): the helo-src
 * table's entry for it, else `helo`, else fallback. */
int rules_relay_domain_url(const struct rules_action *a, const char *domain,
                           struct rules_relay_url *u);
/* rules_relay_domain_apply(): out becomes a copy of a relaying to the
 * host of domain's URL, with its port and TLS mode (the action's `tls`
 * still requires TLS); returns as rules_relay_domain_url(). */
int rules_relay_domain_apply(const struct rules_action *a, const char *domain,
                             struct rules_action *out);
/* rules_relay_session_opts(): 1 when a sets what a relay session does
 * (helo, helo-src, mail-from, src, backup, srs), so its connections are
 * its own; else 0. */
int rules_relay_session_opts(const struct rules_action *a);
const char *rules_relay_helo(const struct rules_action *a, const char *src,
                             const char *fallback);
/* rules_relay_mail_from(): the MAIL FROM address for sender with the
 * action's `mail-from` (user@domain; @domain keeps the sender's user,
 * user@ its domain), the sender as it is for <> or without mail-from;
 * 0, or -1 when it does not fit in cap. */
int rules_relay_mail_from(const struct rules_action *a, const char *sender, char *out,
                          size_t cap);

/* A listener's `auth <table>` (rules/listen_auth.c): the crypt(3) hash
 * the table holds for user (compared without case), or NULL when it has
 * none or the listener has no table. */
const char *rules_auth_hash(const struct rules_listener *l, const char *user);
/* `senders <table>`: 1 when the authenticated user may use mail_from as
 * MAIL FROM on l, 0 when not. The table maps a user to a list of entries
 * (commas or blanks between them): "user@domain", "@domain" (any local
 * part there), "@" (any address) or "user" (that local part in any
 * domain); the sender's +tag (after sub_delim, 0 none) may be left out.
 * <> is never a user's. 1 when l has no senders table. */
int rules_senders_allow(const struct rules_listener *l, const char *user, const char *mail_from,
                        char sub_delim);

/* What smtpd answers to a RCPT TO the rules do not accept (v is
 * RULES_REJECT, RULES_NOMATCH or RULES_TEMPFAIL): 550 5.7.1 "Delivery not
 * authorized, message rejected", 550 5.1.1 "Invalid recipient: <rcpt>",
 * 451 4.3.0 "Temporary failure, try again later". core/session.c answers
 * with it and the rule tester prints it, so the two never differ. */
#define RULES_REPLY_TEXT_BYTES_MAX 320
struct rules_reply {
	unsigned code;
	const char *status;
	char text[RULES_REPLY_TEXT_BYTES_MAX];
};
void rules_refusal(enum rules_verdict v, const char *rcpt, struct rules_reply *r);

/* Alias, virtual and ~/.forward expansion of an accepted recipient
 * (rules/aliases.c, OpenSMTPD's rules): rules_aliases_expand() turns rcpt,
 * which the rules gave to action, into the deliveries it stands for, each
 * with the action that delivers it. The caller answers through ops:
 * match() decides an address met in an expansion as RCPT TO would (the
 * same session and sender); user_exists() 1 / 0 / -1 (tempfail) for a
 * local user under action a; read_include() an :include: file and
 * read_forward() user's ~/.forward (1 with the text, 0 none, -1 tempfail),
 * both as a NUL-terminated malloc'd string the expansion frees, bounded by
 * the caller. Returns 0 with out->dests (free with rules_alias_result_free()),
 * or -1 with the reply for the recipient in out (code, status, text; the
 * reason for the log in why). No I/O of its own. */
#define RULES_ALIAS_DEPTH_MAX 10          /* levels below the recipient */
#define RULES_ALIAS_NODES_MAX 1000        /* entries one recipient expands to */
#define RULES_ALIAS_ADDR_BYTES_MAX 256    /* an address, NUL included */
#define RULES_ALIAS_EXEC_BYTES_MAX 1024   /* a command or file, NUL included */
#define RULES_ALIAS_ENTRY_BYTES_MAX 4096  /* one entry or line */
#define RULES_ALIAS_WHY_BYTES_MAX 384

enum rules_dest_kind {
	RULES_DEST_ADDRESS,   /* address: relayed or given to an LMTP server */
	RULES_DEST_USER,      /* user: the action's local delivery for that user */
	RULES_DEST_FILE,      /* exec: a file appended to, mbox style */
	RULES_DEST_COMMAND,   /* exec: a command run with the message on stdin */
};

struct rules_dest {
	enum rules_dest_kind kind;
	const struct rules_action *action;
	char address[RULES_ALIAS_ADDR_BYTES_MAX]; /* the address it was reached by */
	char user[RULES_NAME_BYTES_MAX];  /* USER: the local user (no +tag);
	                                   * FILE, COMMAND: the ~/.forward owner
	                                   * it runs as, "" from an alias table
	                                   * (the action's user or the daemon's) */
	char exec[RULES_ALIAS_EXEC_BYTES_MAX];
};

struct rules_alias_ops {
	void *arg;
	enum rules_verdict (*match)(void *arg, const char *rcpt,
	                            const struct rules_action **action, unsigned *line);
	int (*user_exists)(void *arg, const struct rules_action *a, const char *user);
	int (*read_include)(void *arg, const char *path, char **text);
	int (*read_forward)(void *arg, const struct rules_action *a, const char *user,
	                    char **text);
};

struct rules_alias_result {
	struct rules_dest *dests;
	unsigned ndests, cap;
	unsigned nodes;                   /* entries looked at */
	unsigned code;                    /* on -1: the reply */
	char status[16];
	char text[RULES_REPLY_TEXT_BYTES_MAX];
	char why[RULES_ALIAS_WHY_BYTES_MAX];
};

int rules_aliases_expand(const struct rules_config *c, const char *rcpt,
                         const struct rules_action *action, const struct rules_alias_ops *ops,
                         struct rules_alias_result *out);
void rules_alias_result_free(struct rules_alias_result *out);
/* A user from a `userbase` table: "uid:gid:home" (rules/userinfo.c). */
struct rules_userinfo {
	uint32_t uid, gid;                 /* never 0: root is nobody's userbase */
	char home[RULES_PATH_BYTES_MAX];
};
/* Parse a userbase value; 0, or -1 when it is not uid:gid:/home. */
int rules_userinfo_parse(const char *value, struct rules_userinfo *out);
/* Look user up in a's userbase: 1 found, 0 not there (or no userbase:
 * the system's users), -1 an entry that does not parse. */
int rules_userinfo_lookup(const struct rules_action *a, const char *user,
                          struct rules_userinfo *out);

/* 1 when a recipient given to a needs rules_aliases_expand(): a has an
 * alias, virtual or userbase table or is forward-only or expand-only, or it is a
 * maildir, mbox or mda action whose deliveries go to system users
 * (lookups == 1: ~/.forward and unknown users are answered at RCPT). An
 * lmtp action without tables leaves its users to the LMTP server. */
int rules_action_expands(const struct rules_action *a, int lookups);

/* smtpd -n -v: the compiled configuration for a postmaster: settings that
 * differ from the defaults, listeners, named tables, actions, then every
 * rule in the order tried with its criteria by the stage they are
 * evaluated at (session, MAIL, RCPT) and the defaults written out. Writes
 * to out only (the caller checks ferror). */
void rules_dump(const struct rules_config *c, FILE *out);

/* The rule tester (smtpd -n -T "from=192.0.2.1 mail-from=a@b rcpt-to=c@d
 * ..."): a described transaction, parsed by rules_transaction_parse(), and
 * for each recipient the rule that decides it, why each earlier rule does
 * not match, and the daemon's answer (rules_explain()). */
#define RULES_TX_RCPTS_MAX 64
#define RULES_TX_ADDR_BYTES_MAX 257          /* an RFC 5321 path: 256 octets */

struct rules_transaction {
	char from[RULES_HOST_BYTES_MAX];         /* as given: an address or "socket" */
	struct sockaddr_storage src;             /* ss_family 0 for the local socket */
	char helo[RULES_HOST_BYTES_MAX];         /* "" = no HELO/EHLO */
	int auth_given, rdns_given, tls, listener_given;
	char auth[RULES_HOST_BYTES_MAX];         /* the authenticated user */
	char rdns[RULES_HOST_BYTES_MAX];         /* the PTR name, "" = none */
	char listener[RULES_NAME_BYTES_MAX];     /* a port number or a listener's tag */
	int country_given, asn_given;
	char country[3];                         /* country=XX, "" = none */
	char asn[11];                            /* asn=N in decimal, "" = none */
	char mail_from[RULES_TX_ADDR_BYTES_MAX]; /* "" = <> */
	char rcpts[RULES_TX_RCPTS_MAX][RULES_TX_ADDR_BYTES_MAX];
	unsigned nrcpts;
	uint64_t now_s;                          /* the clock SRS addresses are
	                                          * checked at (the caller's) */
};

/* Parse "key=value ..." (from= mail-from= rcpt-to= required, rcpt-to=
 * repeatable; helo= auth= rdns= listener= country= asn= tls optional) into tx. Returns
 * 0, or -1 with one line in err saying which word is wrong and why. */
int rules_transaction_parse(const char *text, struct rules_transaction *tx, char *err,
                            size_t cap);
/* Print the decision for each recipient of tx to out, evaluated as the
 * daemon does (the verdict from the staged functions, the reasons from
 * the same criteria one by one; a bounce to an SRS address decoded with
 * the srs keys at tx->now_s and tried as from a local client). Returns 0, or -1 with err filled when
 * tx's listener= names no listener of c. */
int rules_explain(const struct rules_config *c, const struct rules_transaction *tx, FILE *out,
                  char *err, size_t cap);

/* Expand a path or command template for one recipient: ~ and the
 * smtpd.conf(5) FORMAT SPECIFIERS %{sender}, %{rcpt}, %{dest} (each with
 * .user and .domain), %{user.username}, %{user.directory}, %{mbox.from} and
 * %{mda}, with the modifiers :lowercase, :uppercase, :strip, :raw and [n:m]
 * slices. Returns 0, or -1 if the result does not fit, the template is
 * malformed or it names a value not given (NULL). No I/O: the user's name
 * and home come in. */
struct rules_expand_ctx {
	const char *sender;        /* the reverse path, "" for <> */
	const char *rcpt;          /* user@domain */
	const char *dest;          /* user@domain after aliases */
	const char *user_name;     /* the local user delivered as */
	const char *user_home;     /* that user's home directory */
	const char *mda;           /* an mda wrapper: the command it wraps */
	char sub_addr_delim;       /* smtp sub-addr-delim (:strip); 0 is '+' */
	int for_shell;             /* an mda command: every substituted byte that is
	                            * not [A-Za-z0-9@.+_=,-] becomes ':' (not %{mda}
	                            * and not :raw ones) */
};
int rules_expand(const char *tmpl, const struct rules_expand_ctx *ctx, char *out, size_t cap);

/* The configuration used when no file is found (DESIGN.md): listen on
 * 127.0.0.1 port 2525, local mail to maildirs under ./mail, spool in ./spool,
 * relay nothing. base_dir in the load params makes the paths absolute. */
extern const char rules_default_config[];

#endif
