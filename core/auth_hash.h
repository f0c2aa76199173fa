/*
 * core/auth_hash.h - a password against a crypt(3) hash through libxcrypt
 * (bcrypt $2b$, sha512-crypt $6$, yescrypt $y$ and the rest it knows),
 * for SMTP AUTH: the auth threads check `auth <table>` entries with it
 * (system users go through PAM in the delivery helper). Slow on purpose
 * (the hash's cost): never call it on a shard's ring thread.
 */
#ifndef CORE_AUTH_HASH_H
#define CORE_AUTH_HASH_H

/* 1 when pass hashes to hash, else 0 (no hash, a locked or malformed
 * one, "*" or "!..."). hash NULL (no such user) still spends the time of
 * one yescrypt hash, so the answer's delay does not tell which users
 * exist. The comparison is in constant time. */
int auth_hash_check(const char *pass, const char *hash);

#endif
