/*
 * core/mda_deliver.h - maildir and mbox deliveries as a command, for actions
 * with an `mda wrapper`: the wrapper runs `smtpd --deliver maildir|mbox ...`
 * as its %{mda}, the way OpenSMTPD's wrappers run mail.maildir and
 * mail.local. The command runs as the recipient (it is started by the
 * delivery helper's child like any mda command) and uses the same code as
 * a direct delivery (core/mda_run.c).
 */
#ifndef CORE_MDA_DELIVER_H
#define CORE_MDA_DELIVER_H

#include <stddef.h>

#include "core/mda_helper.h"

/* The command line for a maildir (junk: .Junk for X-Spam: yes) or mbox
 * delivery to path, every word single-quoted for /bin/sh; exe is smtpd's
 * own path. Returns 0, or -1 when it does not fit in cap. */
int mda_deliver_command(char *out, size_t cap, const char *exe, enum mda_method method,
                        int junk, const char *path);
/* smtpd --deliver maildir [--junk] DIR | mbox FILE, the message on standard
 * input, SENDER, RECIPIENT, ORIGINAL_RECIPIENT, USER and HOME from the
 * environment (as the helper sets them). Exit 0 delivered, 75 temporary
 * failure, 64 usage, 1 permanent failure; the reason on standard output. */
int mda_deliver_main(int argc, char **argv);

#endif
