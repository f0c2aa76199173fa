/*
 * ctl/encrypt.c - `smtpctl encrypt [string]`: a password as a crypt(3)
 * hash for the user credentials of an `auth <table>` (OpenSMTPD's
 * command): the system's preferred method (libxcrypt's default, yescrypt
 * on Debian) with a fresh salt. Without the string, one password per line
 * of standard input (a string on the command line shows in ps(1)).
 */
#include "ctl/smtpctl.h"

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#define ENCRYPT_PASS_BYTES_MAX 1024   /* SASL's own bound on a password */

/* Print the hash of pass; 0, or 1 when it cannot be made. */
static int
encrypt_one(const char *pass)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;
	memset(&data, 0, sizeof data);
	if (crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof salt) == NULL) {
		fprintf(stderr, "smtpctl: encrypt: cannot make a salt\n");
		return 1;
	}
	const char *hash = crypt_rn(pass, salt, &data, sizeof data);
	if (hash == NULL || hash[0] == '*') {
		fprintf(stderr, "smtpctl: encrypt: cannot hash the password\n");
		return 1;
	}
	printf("%s\n", hash);
	explicit_bzero(&data, sizeof data);
	return 0;
}

int
smtpctl_encrypt(int nwords, const char *const *words)
{
	if (nwords > 1) {
		fprintf(stderr, "usage: smtpctl encrypt [string]\n");
		return 1;
	}
	if (nwords == 1)
		return encrypt_one(words[0]);
	char line[ENCRYPT_PASS_BYTES_MAX + 2];
	int rc = 0;
	while (fgets(line, sizeof line, stdin) != NULL) {
		size_t n = strcspn(line, "\n");
		if (line[n] != '\n' && !feof(stdin)) {
			fprintf(stderr, "smtpctl: encrypt: a password longer than %d bytes\n",
			        ENCRYPT_PASS_BYTES_MAX);
			explicit_bzero(line, sizeof line);
			return 1;
		}
		line[n] = '\0';
		rc |= encrypt_one(line);
	}
	explicit_bzero(line, sizeof line);
	fflush(stdout);
	return rc;
}
