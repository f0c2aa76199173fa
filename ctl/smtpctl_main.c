/*
 * ctl/smtpctl_main.c - one binary, chosen by program name: smtpctl,
 * sendmail and send-mail, mailq, newaliases and makemap.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "ctl/makemap.h"
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
	if (strcmp(name, "newaliases") == 0)
		return newaliases_main(argc, argv);
	if (strcmp(name, "makemap") == 0)
		return makemap_main(argc, argv);
	return smtpctl_main(argc, argv);
}
