/*
 * rules/convert.h - the smtpd.conf grammar before OpenSMTPD 6.4 into the
 * modern one, for "smtpd --convert FILE".
 *
 * Converted: accept and reject rules (tagged, from, for, sender, recipient,
 * alias, virtual, userbase, expire; deliver to mbox | maildir [path] | mda
 * "cmd" | lmtp "dest" [rcpt-to], relay [via URL] [backup [mx]] [auth <t>]
 * [as addr] [source <t>] [hostname h] [hostnames <t>] [pki name] [tls
 * [verify]], forward-only) become "action" lines named after what they do
 * ("local_maildir", "relay_via_smarthost"; one per distinct action, shared
 * by the rules that use it) followed by "match" lines in the order of the
 * rules; map NAME { source plain|db "path" } becomes table; expire,
 * max-message-size, bounce-warn and limit become their queue, smtp, bounce
 * and mta/smtp/mda/scheduler forms; "certificate" in pki, ca and listen on
 * and "mask-source" are renamed. Everything else (listen on, table, pki,
 * macros, include ...), comments and blank lines are copied as written;
 * macros stay macros.
 *
 * A statement it cannot convert is kept as "# not converted: REASON" over
 * the original, commented out, and listed in notes[] with its place.
 * Pure: no I/O beyond reading the file of rules_convert_file(), the way
 * the loader reads a config. When a load fails, load.c converts the text
 * and, if it holds an old statement, reports the first one with a pointer
 * to "smtpd --convert FILE".
 */
#ifndef RULES_CONVERT_H
#define RULES_CONVERT_H

#include <stddef.h>

#include "rules/rules.h"

struct rules_conversion {
	char *text;                    /* the modern config, NUL-terminated */
	size_t len;
	struct rules_warning *notes;   /* "not converted: ...", one per statement */
	unsigned nnotes, capnotes;
	unsigned old_line, old_column; /* the first statement of the old grammar,
	                                * 0 when there is none */
	char old_word[24];             /* its keyword: "accept", "map" ... */
};

/* Convert the config in text (len bytes; name stands for its file in
 * messages). 0 with out filled (rules_conversion_free() it), or -1 with err
 * filled ("file:line:column: message") when it cannot be read or lexed. */
int rules_convert_string(const char *name, const char *text, size_t len,
                         struct rules_conversion *out, struct rules_error *err);
/* The same for the file at path, read as rules_load_file() reads one. */
int rules_convert_file(const char *path, struct rules_conversion *out, struct rules_error *err);
void rules_conversion_free(struct rules_conversion *out);

#endif
