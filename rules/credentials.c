/*
 * rules/credentials.c - the credentials a relay action presents to its
 * smart host (`relay host smtp+tls://label@host auth <table>`): the
 * table's value for the label, "username:password" as OpenSMTPD's
 * table(5) writes it, split at the first colon. Read through the table's
 * live entries, so `smtpctl update table` takes effect at the next
 * connection. No I/O.
 */
#include <stdio.h>
#include <string.h>

#include "rules/rules_int.h"

/* Call when a relay connection needs its credentials; returns 0 with user
 * and pass filled (NUL-terminated), -1 when the action has no auth table
 * or the table has no entry for the label, -2 when the entry is not
 * "user:password" with a non-empty user or a part does not fit. */
int
rules_relay_credentials(const struct rules_action *a, char *user, size_t ucap, char *pass,
                        size_t pcap)
{
	const char *v, *colon;
	size_t ulen;

	if (a->relay_auth == NULL || a->relay_label[0] == '\0' ||
	    (v = rules_tab_value(a->relay_auth, a->relay_label)) == NULL)
		return -1;
	if ((colon = strchr(v, ':')) == NULL || colon == v)
		return -2;
	ulen = (size_t)(colon - v);
	if (ulen >= ucap || strlen(colon + 1) >= pcap)
		return -2;
	memcpy(user, v, ulen);
	user[ulen] = '\0';
	snprintf(pass, pcap, "%s", colon + 1);
	return 0;
}
