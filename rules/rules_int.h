/*
 * rules/rules_int.h - what the files of rules/ share and nothing outside
 * rules/ (except its unit tests) may use: source positions, the lexer, the
 * table store, the AST the parser builds, the keyword list, and the
 * compiled decision table.
 *
 * bench/rules_bench_main.c reads the compiled rows and tables too, for its
 * naive evaluator.
 *
 * Flow: load.c runs the parser (parser.c and parse_*.c, pulling tokens
 * from lexer.c; their private helpers are in parser_int.h), the checker
 * (check.c) and the compiler (compile.c); match.c reads the result, and
 * so do dump.c (smtpd -n -v) and explain.c (smtpd -n -T, through
 * match_row.c, which shares match.c's criteria in match_crit.h). Every
 * failure fills a struct rules_error through rules_fail() and returns -1;
 * the first error stops the load, and load.c copies the offending line
 * into the error for the caret. Usages the daemon does not implement are
 * recorded in the AST (struct rules_unsupported) and end in the config.
 */
#ifndef RULES_RULES_INT_H
#define RULES_RULES_INT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <regex.h>

#include "rules/filter.h"
#include "rules/rules.h"

#define RULES_TOK_BYTES_MAX 4096       /* one word or quoted string */
#define RULES_INCLUDE_DEPTH_MAX 16     /* nested include files */
#define RULES_MACRO_DEPTH_MAX 1        /* macros do not expand inside macros */
#define RULES_LEX_SOURCES_MAX (RULES_INCLUDE_DEPTH_MAX + RULES_MACRO_DEPTH_MAX + 1)

struct rules_pos {
	const char *file;          /* owned by the lexer; lives until load ends */
	unsigned line, column;     /* 1-based */
};

/* Fill err from pos (NULL: no place) and a printf-style message; returns -1. */
int rules_fail(struct rules_error *err, const struct rules_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* rules_open_regular() and rules_open_error() (readfile.c) are in rules.h:
 * makemap opens its input with them too. */

/* Grow *arr (of elem-byte items, *cap of them) to hold n + 1; 0 or -1. */
int rules_grow(void *arr, unsigned *cap, unsigned n, size_t elem);

/* ---- lexer.c ---- */

enum rules_tok_kind {
	RULES_TOK_EOF,
	RULES_TOK_NEWLINE,
	RULES_TOK_WORD,            /* bare word: keywords, names, numbers */
	RULES_TOK_STRING,          /* "quoted" or 'quoted' */
	RULES_TOK_PUNCT,           /* one of { } < > ! = , ; text[0] is it */
};

struct rules_tok {
	enum rules_tok_kind kind;
	struct rules_pos pos;
	size_t len;
	char text[RULES_TOK_BYTES_MAX];
};

struct rules_macro {
	char *name, *value;
	int persist;               /* from -D: the file cannot redefine it */
};

struct rules_src {
	char *text;
	size_t len, off;
	unsigned line, column;
	const char *file;
	char *dir;                 /* folder of the file, for include */
	int expansion;             /* a macro's value: tokens carry stamp */
	struct rules_pos stamp;
	int newline_sent;
};

struct rules_lex_text {
	const char *file;          /* kept name */
	char *text;                /* the whole file, for error lines */
	size_t len;
};

struct rules_lexer {
	struct rules_src src[RULES_LEX_SOURCES_MAX];
	struct rules_lex_text *texts; /* every file read, until the load ends */
	unsigned ntexts, captexts;
	unsigned depth;            /* sources in src[] */
	unsigned files;            /* of which files (not expansions) */
	struct rules_macro *macros;
	unsigned nmacros, capmacros;
	char **names;              /* file names and folders, freed at the end */
	unsigned nnames, capnames;
	struct rules_pos eof_pos;  /* where the last file ended */
	struct rules_error *err;
	int raw_macros;            /* $name stays a word (convert.c keeps macros) */
};

void rules_lex_init(struct rules_lexer *lx, struct rules_error *err);
void rules_lex_free(struct rules_lexer *lx);
/* Push text (copied) as the source named name; dir resolves its includes. */
int rules_lex_push_text(struct rules_lexer *lx, const char *name, const char *text,
                        size_t len, const char *dir, const struct rules_pos *at);
/* Read path and push it; at is the include statement (NULL at top). */
int rules_lex_push_file(struct rules_lexer *lx, const char *path, const struct rules_pos *at);
/* The next token; 0, or -1 with the error filled in. */
int rules_lex_next(struct rules_lexer *lx, struct rules_tok *tok);
/* Define (or redefine) a macro; persist ones win over later definitions. */
int rules_lex_define(struct rules_lexer *lx, const char *name, const char *value, int persist);
/* Folder of the file being read now ("." for a string). */
const char *rules_lex_dir(const struct rules_lexer *lx);
/* Keep a copy of s for as long as the lexer lives; NULL if out of memory. */
const char *rules_lex_keep(struct rules_lexer *lx, const char *s);
/* Copy line of file (as read) into out; 0, or -1 if unknown. */
int rules_lex_line(const struct rules_lexer *lx, const char *file, unsigned line, char *out,
                   size_t cap);
/* Describe a token for a message: "\"word\"", "end of line", ... */
void rules_tok_describe(const struct rules_tok *tok, char *buf, size_t cap);

/* ---- table.c ---- */

enum rules_lookup {
	RULES_LOOKUP_STRING,       /* exact, case-insensitive */
	RULES_LOOKUP_DOMAIN,       /* hostnames, "*" wildcards */
	RULES_LOOKUP_NETADDR,      /* addresses and CIDR networks */
	RULES_LOOKUP_MAILADDR,     /* user@domain, @domain, user */
};

struct rules_net {
	int family;                /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

struct rules_tab_entry {
	char *key;                 /* lowercased */
	char *raw;                 /* as written when that differs (for regex), or NULL */
	char *value;               /* NULL in a list */
	unsigned line, column;     /* where written; a file: table's line, column 0 */
};

/* strset.c: a set of lowercased strings, open addressing (see there). */
struct rules_strset {
	const char **slot;         /* NULL = empty; points into the table's keys */
	uint64_t *hash;            /* rules_strset_hash() of each slot's key */
	unsigned *ix;              /* the index each slot's key was added with */
	size_t mask;               /* slots - 1, a power of two minus one */
	unsigned n, cap_keys;
};

uint64_t rules_strset_hash(const char *s, size_t len);
int rules_strset_init(struct rules_strset *s, unsigned n);
int rules_strset_add(struct rules_strset *s, const char *key, unsigned ix);
long rules_strset_index(const struct rules_strset *s, const char *key, size_t len,
                        uint64_t h);
int rules_strset_has(const struct rules_strset *s, const char *key);
int rules_strset_has_hashed(const struct rules_strset *s, const char *key, size_t len,
                            uint64_t h);
void rules_strset_free(struct rules_strset *s);

/* nettrie.c: networks of one family as a binary prefix trie (see there). */
struct rules_nettrie_node {
	uint32_t child[2];         /* 0 = none (node 0 is the root) */
	uint8_t end;               /* a network ends here */
};

struct rules_nettrie {
	struct rules_nettrie_node *nodes;
	unsigned n, cap;
};

int rules_nettrie_add(struct rules_nettrie *t, const uint8_t *addr, unsigned bits);
int rules_nettrie_has(const struct rules_nettrie *t, const uint8_t *addr, unsigned bits);
void rules_nettrie_free(struct rules_nettrie *t);

#define RULES_WILD_FIRSTS_MAX 8        /* "*S" groups by S's first byte */

struct rules_tab {
	char name[RULES_NAME_BYTES_MAX]; /* "" for an inline one */
	struct rules_pos pos;      /* where declared (or written inline) */
	char *file_path;           /* a file: table's file, else NULL */
	char sub_addr_delim;       /* smtp sub-addr-delim for address lookups
	                            * (set by compile.c; '+' before) */
	char *db_path;             /* a db: table's file, else NULL */
	int alias_use;             /* an action's `alias` names it (check.c) */
	int is_map;
	char *backend;             /* another backend ("db:/etc/mail/x.db"),
	                            * not read here, else NULL */
	struct rules_tab_entry *e;
	unsigned n, cap;
	/* filled by rules_tab_finish(): */
	struct rules_strset exact; /* keys without '*' */
	struct rules_strset wild_suffix; /* S of each "*S" key (S without '*') */
	char wild_firsts[RULES_WILD_FIRSTS_MAX]; /* the first bytes of those S */
	unsigned nwild_firsts;
	int wild_all;              /* a "*" key: every domain but "" */
	char **wild;               /* keys with '*' (mail address lookups) */
	unsigned nwild;
	char **wild_other;         /* domain patterns of another shape: scanned */
	unsigned nwild_other;
	struct rules_net *nets;    /* keys that are addresses or networks */
	unsigned nnets;
	struct rules_nettrie trie4, trie6; /* the same networks, per family */
	unsigned nonnet;           /* keys that are neither (nor "local") */
	const char *first_nonnet;
	/* filled by rules_tab_regex_compile() when a match uses it with regex: */
	regex_t *re;               /* one per entry, in entry order */
	unsigned nre;
	/* after `smtpctl update table` (table_update.c): the entries read
	 * since, answering every lookup in place of this table's own; NULL
	 * before any update */
	_Atomic(struct rules_tab *) live;
};

/* A lookup key prepared once (lowercased, hashed) for many tables. */
struct rules_key {
	const char *s;
	size_t len;
	uint64_t hash;             /* rules_strset_hash(s, len) */
};

struct rules_tab *rules_tab_new(const char *name, const struct rules_pos *pos);
void rules_tab_free(struct rules_tab *t);
/* Free t's entries, indexes and regexes, keeping its name, place, file
 * and live entries (once an update made its own unread). */
void rules_tab_clear(struct rules_tab *t);
/* The table that answers lookups for t: its live entries after an
 * update, else t itself. */
static inline const struct rules_tab *
rules_tab_current(const struct rules_tab *t)
{
	const struct rules_tab *live = atomic_load_explicit(&((struct rules_tab *)t)->live,
	                                                    memory_order_acquire);
	return live != NULL ? live : t;
}
/* Add a key (lowercased) and an optional value; 0 or -1 (out of memory). */
int rules_tab_add(struct rules_tab *t, const char *key, const char *value);
/* The same, noting where the entry was written (for regex errors). */
int rules_tab_add_at(struct rules_tab *t, const char *key, const char *value,
                     const struct rules_pos *pos);
/* Compile every key as a POSIX extended regex ("(?i)" first: ignore case),
 * once, at load time; 0, or -1 with err at the bad entry (an inline table)
 * or at the table with the file's line (a file: table). */
int rules_tab_regex_compile(struct rules_tab *t, struct rules_error *err);
/* 1 if one of the regexes matches subject, 0 if none, -1 too long. */
int rules_tab_match_regex(const struct rules_tab *t, const char *subject);
void rules_tab_regex_free(struct rules_tab *t);
/* Domain lookup with a prepared key (rules_key_prepare()). */
int rules_tab_match_domain_key(const struct rules_tab *t, const struct rules_key *k);
/* Lowercase s into buf (cap bytes) and hash it; 0, or -1 if too long. */
int rules_key_prepare(struct rules_key *k, const char *s, char *buf, size_t cap);
/* rules_tab_split_line() (one table file line) is in rules.h: makemap
 * reads table files with it. */
/* Load "key" / "key value" lines from path; errors point at pos. */
int rules_tab_load_file(struct rules_tab *t, const char *path, const struct rules_pos *pos,
                        struct rules_error *err);
/* table_db.c: fill t from the cdb at path (db: tables); errors point at
 * pos; 0 or -1. */
int rules_tab_load_db(struct rules_tab *t, const char *path, const struct rules_pos *pos,
                      struct rules_error *err);
/* Mark t as the db: table of path without reading it; 0 or -1 (memory). */
int rules_tab_db_path_set(struct rules_tab *t, const char *path);
/* Build the lookup indexes once all entries are in; 0 or -1. */
int rules_tab_finish(struct rules_tab *t);
/* 1 match, 0 no match, -1 cannot answer (key too long). The exact keys are
 * a hash set, "*S" domain patterns a second one probed at the first byte of
 * the domain equal to S's (that is hostname_match()), networks a trie. */
int rules_tab_match(const struct rules_tab *t, enum rules_lookup kind, const char *key);
/* The value of the entry whose key is exactly key (compared without
 * case), from the table's live entries; NULL when there is none, the
 * entry has no value, or key is RULES_KEY_BYTES_MAX or longer. */
const char *rules_tab_value(const struct rules_tab *t, const char *key);
/* Source lookup: sa in one of the networks; NULL (local socket) is "local". */
int rules_tab_match_addr(const struct rules_tab *t, const struct sockaddr *sa);
/* Parse "addr" or "addr/bits" into n; 1 ok, 0 not an address. */
int rules_net_parse(const char *s, struct rules_net *n);
/* 1 if the address sa lies in n. */
int rules_net_contains(const struct rules_net *n, const struct sockaddr *sa);
/* OpenSMTPD hostname_match(): pattern may hold '*'; case-insensitive. */
int rules_hostname_match(const char *host, const char *pattern);

/* ---- parser.c: the AST ---- */

enum rules_builtin {
	RULES_BUILTIN_NONE,
	RULES_BUILTIN_LOCALHOST,   /* <localhost>: local sources */
	RULES_BUILTIN_ANYHOST,     /* <anyhost>: any source */
	RULES_BUILTIN_LOCALNAMES,  /* <localnames>: this machine's names */
	RULES_BUILTIN_ANYDESTINATION,
	RULES_BUILTIN_GETPWNAM,    /* <getpwnam>: the system's users */
};

struct rules_tabref {
	struct rules_pos pos;      /* of "<name>" or the inline value */
	char name[RULES_NAME_BYTES_MAX]; /* a reference, or "" */
	struct rules_tab *inl;     /* an inline table (owned by the AST) */
	struct rules_tab *tab;     /* resolved by check.c */
	unsigned seen;             /* named tables declared when it was written */
	enum rules_builtin builtin; /* resolved to a builtin by check.c */
};

enum rules_cond_kind {
	RULES_COND_NONE,           /* option absent */
	RULES_COND_ANY,
	RULES_COND_LOCAL,
	RULES_COND_SOCKET,
	RULES_COND_TABLE,
	RULES_COND_FLAG,           /* tls, auth, rdns without a table */
};

struct rules_cond {
	enum rules_cond_kind kind;
	int neg;
	int regex;                 /* "regex" before the table */
	struct rules_pos pos;      /* of the option keyword */
	struct rules_tabref ref;   /* RULES_COND_TABLE */
};

struct rules_ast_match {
	struct rules_pos pos;
	struct rules_cond tag, from, rcpt_for, mail_from, rcpt_to, helo, auth, tls;
	int from_rdns;             /* from rdns [table] */
	enum rules_geo from_geo;   /* from country T | from asn T */
	int reject;
	char action[RULES_NAME_BYTES_MAX];
	struct rules_pos action_pos;
	unsigned actions_seen;     /* actions declared when it was written */
};

struct rules_ast_action {
	struct rules_action a;
	struct rules_pos name_pos;
	/* 1 + the index in uses of its alias, virtual or userbase table, 0 none */
	unsigned alias_use, virtual_use, userbase_use, auth_use;
	unsigned helo_src_use, src_use, domain_use;   /* relay tables, the same way */
};

/* What a table used outside match lines must hold. */
enum rules_tab_use {
	RULES_USE_MAP,             /* key = value: alias, virtual, credentials ... */
	RULES_USE_LIST,            /* values: relay hosts, sources */
	RULES_USE_NETADDR,         /* addresses and networks */
};

struct rules_ast_tabuse {
	struct rules_tabref ref;
	enum rules_tab_use use;
	char what[32];             /* "alias", "senders" ... for messages */
};

/* rules/check_relay.c: a relay option's table checked at load (src:
 * single addresses, at most RULES_RELAY_SRC_MAX; domain: relay URLs);
 * 0 or -1 with err. rules_relay_src_fill(): t's addresses into a. */
int rules_check_relay_use(const struct rules_ast_tabuse *u, struct rules_error *err);
void rules_relay_src_fill(const struct rules_tab *t, struct rules_action *a);

/* Named objects other than tables and actions. */
enum rules_decl_kind {
	RULES_DECL_PKI,
	RULES_DECL_CA,
	RULES_DECL_FILTER,
	RULES_DECL_PROC,
	RULES_DECL_WRAPPER,        /* mda wrapper */
	RULES_DECL_KINDS,
};

struct rules_ast_decl {
	enum rules_decl_kind kind;
	char name[RULES_HOST_BYTES_MAX];
	struct rules_pos pos;
	char cert[RULES_PATH_BYTES_MAX], key[RULES_PATH_BYTES_MAX]; /* pki, ca */
	struct rules_pos cert_pos, key_pos;
	int chain;                 /* a filter chain (may not nest) */
	char command[RULES_PATH_BYTES_MAX]; /* mda wrapper: the command, %{mda} in it;
	                                     * proc, proc-exec filter: the command */
	char user[RULES_NAME_BYTES_MAX], group[RULES_NAME_BYTES_MAX]; /* proc's */
	char chroot[RULES_PATH_BYTES_MAX];
};

struct rules_ast_ref {
	enum rules_decl_kind kind;
	char name[RULES_HOST_BYTES_MAX];
	struct rules_pos pos;
	unsigned seen;             /* decls when it was written */
	int in_chain;              /* a member of a filter chain */
};

/* A filter statement (parse_filter.c); compile_filter.c flattens them. */
enum rules_ast_filter_kind {
	RULES_AST_FILTER_BUILTIN,
	RULES_AST_FILTER_PROC,     /* proc P or proc-exec: proc names the process
	                            * (P, or the filter's own name) */
	RULES_AST_FILTER_CHAIN,
};

struct rules_ast_filter {
	enum rules_ast_filter_kind kind;
	struct rules_pos pos;      /* of its name */
	unsigned ref, nrefs;       /* a chain: its members in ast->refs */
	struct rules_cond cond;    /* builtin: the check's table (TABLE) or FLAG */
	struct rules_filter f;     /* builtin: all but f.tab, set by compile */
	char proc[RULES_NAME_BYTES_MAX]; /* proc: the process's declaration */
	int exec;                  /* proc-exec: the decl is the filter's own */
};

struct rules_ast {
	int data_files_unread;     /* rules_load_params.skip_data_files */
	struct rules_tab **tables; /* named, in declaration order */
	unsigned ntables, captables;
	struct rules_tab **inline_tables;
	unsigned ninline, capinline;
	struct rules_listener *listeners;
	unsigned nlisteners, caplisteners;
	struct rules_ast_action *actions;
	unsigned nactions, capactions;
	struct rules_ast_match *matches;
	unsigned nmatches, capmatches;
	struct rules_ast_tabuse *uses;
	unsigned nuses, capuses;
	struct rules_ast_decl *decls;
	unsigned ndecls, capdecls;
	struct rules_ast_ref *refs;
	unsigned nrefs, caprefs;
	struct rules_ast_filter *filters; /* in declaration order */
	unsigned nfilters, capfilters;
	struct rules_milter *milters;   /* RULES_MILTERS_MAX once one is declared */
	unsigned nmilters;
	struct rules_unsupported *unsupported;
	unsigned nunsupported, capunsupported;
	struct rules_warning *warnings;
	unsigned nwarnings, capwarnings;
	char queue_path[RULES_PATH_BYTES_MAX];
	unsigned queue_ttl_s;           /* queue ttl; 0 = default */
	int queue_compression, queue_encryption, queue_key_stdin;
	uint8_t queue_key[RULES_QUEUE_KEY_BYTES];
	uint64_t size_max;
	unsigned rcpt_max, mails_max;   /* smtp limit max-rcpt / max-mails; 0 = default */
	unsigned sessions_per_source;   /* smtp limit max-sessions-per-source; 0 = default */
	unsigned sessions_max;          /* smtp limit max-sessions; 0 = the daemon's cap */
	unsigned auth_failures_max;     /* smtp limit max-auth-failures ... */
	int auth_failures_set;          /* ... given (0 is a value: no limit) */
	struct rules_mta_limit *mta_limits; /* mta limit statements */
	unsigned nmta_limits, capmta_limits;
	unsigned idle_timeout_s;        /* smtp timeout; 0 = default */
	int bare_newline_normalize;     /* smtp bare-newline normalize */
	char sub_addr_delim;            /* smtp sub-addr-delim C, 0 unset */
	int smtp_ciphers_set;           /* smtp ciphers: for listeners without */
	char smtp_ciphers[RULES_CIPHERS_BYTES_MAX];   /* their own */
	struct rules_listener metrics;  /* metrics listen on: addr_len 0 = none */
	char geoip_country[RULES_PATH_BYTES_MAX]; /* geoip [country] "path": "" none */
	char geoip_asn[RULES_PATH_BYTES_MAX];     /* geoip asn "path": "" none */
	struct rules_pos geoip_country_pos, geoip_asn_pos;
	unsigned bounce_warn_s[RULES_BOUNCE_WARN_MAX]; /* the last bounce warn-interval */
	unsigned nbounce_warn;          /* 0 = the default, one warning at 4h */
	int sock_listener;         /* "listen on socket" seen */
	int srs_key;               /* "srs key" seen */
	char srs_key_text[RULES_SRS_KEY_BYTES_MAX];    /* the last srs key */
	char srs_key_backup[RULES_SRS_KEY_BYTES_MAX];  /* the last srs key backup */
	unsigned srs_ttl_days;     /* srs ttl; 0 = default */
	struct rules_pos end;      /* end of the top file */
};

struct rules_parse_ctx {
	const struct rules_load_params *params;
	char base_dir[RULES_PATH_BYTES_MAX];
	char hostname[RULES_HOST_BYTES_MAX];
};

/* Parse everything the lexer yields into ast; 0 or -1. */
int rules_parse(struct rules_lexer *lx, const struct rules_parse_ctx *ctx,
                struct rules_ast *ast, struct rules_error *err);
void rules_ast_free(struct rules_ast *ast);
/* Join base and a relative path ("./x" -> "base/x"); 0 or -1 if too long. */
int rules_path_resolve(const char *base, const char *path, char *out, size_t cap);

/* ---- keywords.c ---- */

/* 1 if w is one of smtpd.conf(5)'s keywords (a bare one cannot be a name). */
int rules_keyword_reserved(const char *w);
/* The entry of the NULL-terminated list closest to w by edit distance, or
 * NULL when none is close enough to be a likely misspelling. */
const char *rules_suggest(const char *w, const char *const *list);

/* ---- expand.c ---- */

/* ---- check_geoip.c ---- */

/* The geoip databases a match line's from country|asn needs are declared,
 * and its inline or file table holds only country codes (two letters) or
 * AS numbers; 0 or -1 with err at the criterion or the entry. */
int rules_check_geo(const struct rules_ast *ast, const struct rules_ast_match *m,
                    struct rules_error *err);
/* A builtin filter's country or asn check: the database, the entries. */
int rules_check_filter_geo(const struct rules_ast *ast, const struct rules_ast_filter *f,
                           struct rules_error *err);

/* Check a %{...} template as smtpd.conf(5) FORMAT SPECIFIERS: 0, 1 when
 * valid but using a token rules_expand() does not implement (*bad names
 * it), or -1 with *bad at the offending part and msg filled. */
int rules_expand_check(const char *tmpl, const char **bad, char *msg, size_t cap);

/* ---- check.c ---- */

/* Resolve table, action and object names (declared before use), refuse
 * duplicates and misuse, check pki and ca files; 0 or -1. */
int rules_check(struct rules_ast *ast, struct rules_error *err);

/* ---- compile.c / match.c: the decision table ---- */

/* What a setting is when smtpd.conf does not say (compile.c applies them,
 * dump.c shows the settings that differ). */
#define RULES_DEFAULT_SIZE_MAX (35ull << 20)          /* smtp max-message-size */
#define RULES_DEFAULT_RCPT_MAX 1000                   /* smtp limit max-rcpt */
#define RULES_DEFAULT_MAILS_MAX 100                   /* smtp limit max-mails */
#define RULES_DEFAULT_SESSIONS_PER_SOURCE 50          /* Postfix's client connection limit */
#define RULES_DEFAULT_AUTH_FAILURES_MAX 5             /* failed AUTH before 421 */
#define RULES_DEFAULT_IDLE_TIMEOUT_S 300              /* RFC 5321 4.5.3.2.7: 5 minutes */
#define RULES_DEFAULT_QUEUE_PATH "/var/spool/ringmta"
#define RULES_DEFAULT_BOUNCE_WARN_S (4 * 3600)        /* OpenSMTPD: one warning at 4h */
#define RULES_DEFAULT_QUEUE_TTL_S (4 * 86400)         /* OpenSMTPD's queue ttl: 4 days */

struct rules_row_cond {
	enum rules_cond_kind kind; /* NONE: not tested */
	int neg;
	int regex;                 /* the table's keys are regexes */
	const struct rules_tab *tab;
};

/* One match line. Its criteria by the moment their facts are known: the
 * session's (tag, from, helo, auth, tls) once per session and again when
 * HELO, STARTTLS or AUTH changes them; mail-from once per MAIL; for and
 * rcpt-to per RCPT. */
struct rules_row {
	unsigned line;
	int reject;
	const struct rules_action *action;
	int from_rdns;             /* from is "from rdns [table]" */
	enum rules_geo from_geo;   /* from is "from country T" or "from asn T" */
	struct rules_row_cond tag, from, helo, auth, tls;
	struct rules_row_cond mail_from;
	struct rules_row_cond rcpt_for, rcpt_to;
};

/* How a row was written, beside the rows so the matching loops never read
 * it: its file, and which of from/for were left out (and are "local"). */
struct rules_row_info {
	const char *file;          /* points into rules_table.files */
	uint8_t from_default, for_default;
};

struct rules_table {
	struct rules_row *rows;
	unsigned nrows;
	unsigned words;            /* 64-bit words for one bit per row (>= 1) */
	uint64_t *mail_rows;       /* rows with a mail-from criterion */
	int undecidable;           /* a usage rules/ cannot evaluate: TEMPFAIL */
	struct rules_tab **tabs;   /* every table, owned here */
	unsigned ntabs;
	struct rules_row_info *info; /* one per row */
	char **files;              /* the files match lines were read from */
	unsigned nfiles;
};

/* compile_filter.c: c->filters from the AST's builtin filters and each
 * listener's chain flattened into l->filters; 0, or -1 with err (out of
 * memory, a chain longer than RULES_FILTER_CHAIN_MAX). */
int rules_compile_filters(struct rules_config *c, const struct rules_ast *ast,
                          struct rules_error *err);
void rules_free_filters(struct rules_config *c);

/* Move the AST into a new config (the AST is left empty); NULL on error. */
struct rules_config *rules_compile(struct rules_ast *ast, const struct rules_parse_ctx *ctx,
                                   const char *file, struct rules_error *err);

/* ---- match.c: one row, criterion by criterion (dump.c, explain.c) ---- */

/* A row's criteria in the order rules_match() evaluates them. */
enum rules_crit {
	RULES_CRIT_TAG,            /* session */
	RULES_CRIT_FROM,
	RULES_CRIT_HELO,
	RULES_CRIT_AUTH,
	RULES_CRIT_TLS,
	RULES_CRIT_MAIL_FROM,      /* MAIL */
	RULES_CRIT_FOR,            /* RCPT */
	RULES_CRIT_RCPT_TO,
	RULES_CRITS,
};

enum rules_stage {
	RULES_STAGE_SESSION,       /* at connect, again after HELO/EHLO, STARTTLS */
	RULES_STAGE_MAIL,          /* at MAIL FROM */
	RULES_STAGE_RCPT,          /* at each RCPT TO */
};

enum rules_stage rules_crit_stage(enum rules_crit k);
/* Criterion k of row; its kind is RULES_COND_NONE when the row does not
 * test it (from and for are always tested). */
const struct rules_row_cond *rules_row_cond_of(const struct rules_row *row, enum rules_crit k);
/* Criterion k's answer for q (q->rcpt for for/rcpt-to): 1, 0 or -1, by the
 * functions rules_match() uses; an untested one answers 1. */
int rules_row_crit_eval(const struct rules_config *c, const struct rules_row *row,
                        enum rules_crit k, const struct rules_query *q);
/* The row's answer for q, as rules_match() combines it, and in *k the
 * criterion that decided it: the first answering 0, else the first
 * answering -1; RULES_CRITS when the row matches. */
int rules_row_explain(const struct rules_config *c, const struct rules_row *row,
                      const struct rules_query *q, enum rules_crit *k);
/* The client address as "from src regex" sees it: "local" for the local
 * socket (sa NULL), dotted IPv4 (a v4-mapped client too), else IPv6. */
const char *rules_src_text(const struct sockaddr *sa, char *buf, size_t cap);

/* ---- dump.c: the compiled config as text (smtpd -n -v, the rule tester) ---- */

/* Criterion k of row i as written: "!from src <nets>", "for local (default)",
 * "tag IN", "helo regex <bad_helos>"; untested criteria print nothing. */
void rules_dump_crit(FILE *out, const struct rules_table *t, unsigned i, enum rules_crit k);
/* The table a criterion names: table "nets", or an inline one as { a, b }. */
void rules_dump_table_ref(FILE *out, const struct rules_tab *tab);
/* What an action does: "relay host smtp://192.0.2.25:25", "maildir ~/Maildir". */
void rules_dump_action(FILE *out, const struct rules_action *a);
/* dump_filter.c: the builtin filters, one a line, as smtpd.conf says them. */
void rules_dump_filters(FILE *out, const struct rules_config *c);

#endif
