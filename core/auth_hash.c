/*
 * core/auth_hash.c - crypt(3) password checks for SMTP AUTH (see
 * core/auth_hash.h).
 */
#include "core/auth_hash.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* A yescrypt setting with a fixed salt: what a user who does not exist is
 * checked against (libxcrypt's default method and cost on Debian). */
#define AUTH_HASH_DUMMY "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"

/* 1 when a[0..n) equals b[0..n), looking at every octet. */
static int
auth_hash_equal(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

int
auth_hash_check(const char *pass, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *got;
	int ok = 0;

	if (cd == NULL)
		return 0;
	got = crypt_rn(pass, hash != NULL ? hash : AUTH_HASH_DUMMY, cd, sizeof *cd);
	if (hash != NULL && got != NULL && got[0] != '*') {
		size_t n = strlen(hash);
		ok = strlen(got) == n && n > 0 && auth_hash_equal(got, hash, n);
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}
