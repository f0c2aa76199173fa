/*
 * rules/milter.h - milters in smtpd.conf, ringmta's own statement beside
 * OpenSMTPD's grammar (Postfix's smtpd_milters in its words):
 *
 *     milter NAME "inet:127.0.0.1:8891" [timeout 30s] [default tempfail]
 *     milter NAME "unix:/run/opendkim/opendkim.sock"
 *     listen on ... milter NAME
 *     listen on ... milter { dkim, spam }
 *
 * The socket is Postfix's notation: inet:HOST:PORT with a numeric address
 * (IPv6 in brackets, inet:[::1]:8891) or localhost, unix:/path (local: is
 * taken as unix:). `timeout` bounds the connection and every answer (1 s
 * to 1 h, 30 s by default); `default` is what a session does when the
 * milter cannot be reached, breaks the protocol or does not answer in
 * time (Postfix's milter_default_action): accept (go on without it),
 * tempfail (4xx, the default) or reject (5xx). A listener's milters run in
 * the order given, each at most once; a milter is declared before the
 * listeners that name it (rules/parse_milter.c parses both).
 */
#ifndef RULES_MILTER_H
#define RULES_MILTER_H

#include <sys/socket.h>

#include "rules/rules.h"

#define RULES_MILTERS_MAX 16              /* milter statements */
#define RULES_MILTER_TIMEOUT_S_DEFAULT 30
#define RULES_MILTER_TIMEOUT_S_MAX 3600

enum rules_milter_default {
	RULES_MILTER_DEFAULT_TEMPFAIL,     /* 451 4.7.1 (Postfix's default) */
	RULES_MILTER_DEFAULT_ACCEPT,       /* go on without the milter */
	RULES_MILTER_DEFAULT_REJECT,       /* 550 5.7.1 */
};

struct rules_milter {
	char name[RULES_NAME_BYTES_MAX];
	unsigned line;
	char spec[RULES_PATH_BYTES_MAX];   /* as written: "inet:127.0.0.1:8891" */
	struct sockaddr_storage addr;      /* AF_INET, AF_INET6 or AF_UNIX */
	socklen_t addr_len;
	unsigned timeout_s;
	enum rules_milter_default dflt;
};

/* "accept", "tempfail", "reject". */
const char *rules_milter_default_name(enum rules_milter_default d);

#endif
