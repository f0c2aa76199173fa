/*
 * test/core/test_auth.c - the pieces of SMTP AUTH below the session:
 * crypt(3) checks for sha512-crypt, bcrypt and yescrypt hashes (right and
 * wrong passwords, no user, locked and malformed hashes), the per-address
 * failure limit with a clock the test moves, and, when run as root, a
 * system user's password refused by the helper's check.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/auth_hash.h"
#include "core/auth_limit.h"
#include "core/mda_auth.h"

static const char *
hash_of(const char *pass, const char *setting, char *out, size_t cap)
{
	struct crypt_data cd;

	memset(&cd, 0, sizeof cd);
	cr_assert_not_null(crypt_rn(pass, setting, &cd, sizeof cd));
	snprintf(out, cap, "%s", cd.output);
	return out;
}

Test(auth_hash, the_three_methods)
{
	static const char *const settings[] = {
		"$6$saltsalt", "$2b$05$abcdefghijklmnopqrstuu", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$",
	};
	char h[CRYPT_OUTPUT_SIZE];

	for (unsigned i = 0; i < 3; i++) {
		hash_of("open sesame", settings[i], h, sizeof h);
		cr_expect(auth_hash_check("open sesame", h), "%s", settings[i]);
		cr_expect(!auth_hash_check("open sesamE", h), "%s", settings[i]);
		cr_expect(!auth_hash_check("", h), "%s", settings[i]);
	}
}

Test(auth_hash, no_user_locked_and_malformed_hashes_never_match)
{
	char h[CRYPT_OUTPUT_SIZE];

	hash_of("pw", "$6$saltsalt", h, sizeof h);
	cr_expect(!auth_hash_check("pw", NULL));
	cr_expect(!auth_hash_check("pw", ""));
	cr_expect(!auth_hash_check("pw", "*"));
	cr_expect(!auth_hash_check("pw", "!"));
	char locked[CRYPT_OUTPUT_SIZE + 1] = "!";
	strcat(locked, h);
	cr_expect(!auth_hash_check("pw", locked));
	cr_expect(!auth_hash_check("pw", "$6$saltsalt$"));
	cr_expect(!auth_hash_check("pw", "$2b$05$short"));
}

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return ss;
}

Test(auth_limit, blocks_after_max_failures_in_the_window)
{
	struct auth_limit *al = auth_limit_new(3, 1000);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("2001:db8::1"), u = { 0 };

	cr_assert_not_null(al);
	cr_expect_eq(auth_limit_fail(al, &a, 10), 0);
	cr_expect_eq(auth_limit_fail(al, &a, 20), 0);
	cr_expect_eq(auth_limit_blocked(al, &a, 30), 0);
	cr_expect_eq(auth_limit_fail(al, &a, 30), 1, "the third failure reaches the limit");
	cr_expect_eq(auth_limit_blocked(al, &a, 500), 1);
	cr_expect_eq(auth_limit_blocked(al, &b, 500), 0, "another address is not");
	cr_expect_eq(auth_limit_blocked(al, &a, 1010), 0, "the window is over");
	cr_expect_eq(auth_limit_fail(al, &a, 1020), 0, "a new window");
	for (unsigned i = 0; i < 3; i++)
		auth_limit_fail(al, &b, 100);
	cr_expect_eq(auth_limit_blocked(al, &b, 200), 1, "IPv6 counted too");
	cr_expect_eq(auth_limit_fail(al, &u, 0), 0, "other families are not counted");
	cr_expect_eq(auth_limit_blocked(al, &u, 0), 0);
	auth_limit_set_max(al, 0);                     /* smtp limit max-auth-failures 0 */
	cr_expect_eq(auth_limit_blocked(al, &b, 200), 0, "no limit blocks nobody");
	cr_expect_eq(auth_limit_fail(al, &b, 210), 0);
	auth_limit_set_max(al, 3);
	cr_expect_eq(auth_limit_blocked(al, &b, 220), 1, "the failures counted stay");
	auth_limit_free(al);
}

Test(auth_limit, bounded_the_oldest_makes_room)
{
	struct auth_limit *al = auth_limit_new(1, 1000000);
	struct sockaddr_storage first = addr("10.0.0.1");
	char text[32];

	auth_limit_fail(al, &first, 0);
	for (unsigned i = 0; i < AUTH_LIMIT_SOURCES_MAX; i++) {
		snprintf(text, sizeof text, "10.1.%u.%u", i / 250, i % 250 + 1);
		struct sockaddr_storage a = addr(text);
		auth_limit_fail(al, &a, 1 + i);
	}
	cr_expect_eq(auth_limit_blocked(al, &first, 5000), 0, "forgotten to make room");
	struct sockaddr_storage last = addr("10.1.16.96");
	cr_expect_eq(auth_limit_blocked(al, &last, 5000), 1);
	auth_limit_free(al);
}

Test(mda_auth, system_user_wrong_password_refused)
{
	char why[256];

	if (geteuid() != 0)
		cr_skip_test("needs root to read /etc/shadow");
	cr_expect_eq(mda_auth_system("root", "certainly not root's password", why, sizeof why),
	             MDA_PERMFAIL, "%s", why);
	cr_expect_eq(mda_auth_system("no-such-user-here", "x", why, sizeof why), MDA_PERMFAIL);
}
