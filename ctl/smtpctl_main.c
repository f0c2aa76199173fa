/*
 * ctl/smtpctl_main.c - one binary, chosen by program name: smtpctl,
 * sendmail and send-mail, mailq; newaliases and makemap say they are not
 * available yet and exit with EX_UNAVAILABLE (they need the db: table
 * format), so a script never mistakes them for success.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl_client.h"
#include "ctl/sendmail.h"
#include "ctl/smtpctl.h"

/* Choose the persona by program name. */
int
main(int argc, char **argv)
{
	const char *name = argc > 0 ? basename(argv[0]) : "smtpctl";
	if (strcmp(name, "sendmail") == 0 || strcmp(name, "send-mail") == 0)
		return sendmail_main(argc, argv);
	if (strcmp(name, "mailq") == 0)
		return smtpctl_mailq(argc, argv);
	if (strcmp(name, "newaliases") == 0 || strcmp(name, "makemap") == 0) {
		fprintf(stderr, "%s: not available yet in this version of ringmta\n", name);
		return CTL_EX_UNAVAILABLE;
	}
	return smtpctl_main(argc, argv);
}
