/*
 * ctl/makemap.h - the makemap and newaliases personas: a table's text file
 * into the cdb file of a `table NAME db:/path` (rules/cdb.h), and back.
 *
 * makemap [-U] [-d dbtype] [-o dbfile] [-t aliases|set] file, as
 * OpenSMTPD's makemap(8): reads file in the syntax of file: tables
 * (rules_tab_split_line(): "key value" lines, '#' comment lines) and writes
 * file.db (or dbfile) atomically: a temporary file in the same folder with
 * the input's mode, written, fsynced, renamed over the old one, the folder
 * fsynced. Types: the default map needs a value on every line; set holds
 * keys only (stored with empty values); aliases wants "name: value[,
 * value...]" lines and lowercases the names. A key given twice (compared
 * without case, as lookups do) is an error, as is a key of
 * RULES_KEY_BYTES_MAX bytes or more. -U prints a db back as "key<TAB>value"
 * lines ("key" alone for an empty value). -d names the format: cdb, and
 * hash and btree (OpenSMTPD's names) are taken as cdb, the only format
 * smtpd reads; anything else is a usage error. Messages are
 * "makemap: FILE:LINE: what is wrong"; exit codes from sysexits.h (64
 * usage, 65 data error, 66 no input, 73 cannot create, 74 I/O error).
 *
 * newaliases [-f config] rebuilds the db: tables that an action's `alias`
 * option names in the configuration (-f, else as ctl_config_load() finds
 * it), each from the same path without ".db"; with none, /etc/mail/aliases
 * into /etc/mail/aliases.db when that file exists. It does not tell a
 * running smtpd to reload.
 */
#ifndef CTL_MAKEMAP_H
#define CTL_MAKEMAP_H

#include <stdint.h>

#define MAKEMAP_ALIASES_PATH "/etc/mail/aliases"   /* newaliases without a db: alias table */
#define MAKEMAP_DB_SUFFIX ".db"

enum makemap_type {
	MAKEMAP_TYPE_MAP,          /* key value */
	MAKEMAP_TYPE_SET,          /* key */
	MAKEMAP_TYPE_ALIASES,      /* name: value, value */
};

/* makemap with its arguments (argv[0] is the program); the exit status. */
int makemap_main(int argc, char **argv);
/* newaliases [-f config]; the exit status. */
int newaliases_main(int argc, char **argv);

/* ctl/makemap_build.c: build dbfile from the text file source as type.
 * Messages go to stderr after "prog: ". Returns an exit status; on success
 * *records holds the number of entries written. */
int makemap_build(const char *prog, const char *source, const char *dbfile,
                  enum makemap_type type, uint32_t *records);

#endif
