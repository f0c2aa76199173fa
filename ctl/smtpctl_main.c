/*
 * ctl/smtpctl_main.c - the smtpctl binary and, by program name, the sendmail,
 * send-mail, mailq, newaliases and makemap personas. The control protocol and
 * the personas' behaviour are not built yet (ARCHITECTURE.md); each name
 * says so plainly and exits with EX_UNAVAILABLE, so a script never mistakes
 * it for success.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#define CTL_EX_UNAVAILABLE 69   /* sysexits.h */

int
main(int argc, char **argv)
{
	const char *name = argc > 0 ? basename(argv[0]) : "smtpctl";
	fprintf(stderr, "%s: not available yet in this version of ringmta\n", name);
	return CTL_EX_UNAVAILABLE;
}
