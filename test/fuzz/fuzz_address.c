/*
 * test/fuzz/fuzz_address.c - libFuzzer target for proto/smtp_command.c:
 * the MAIL/RCPT path grammar, the parameters (DSN, SMTPUTF8, AUTH=, SIZE,
 * BODY), xtext and UTF-8. The first octet picks keyword and flags. Checks:
 * an accepted address is bounded, holds no control octet, holds 8-bit
 * octets only as valid UTF-8 with PROTO_PATH_UTF8_OK, and parses again to
 * itself; decoded xtext holds no control octet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_command.h"

/* An accepted address must be safe to hand to policy and delivery. */
static void
fuzz_check_addr(const char *addr, unsigned flags, const char *keyword)
{
	char again[PROTO_PATH_BYTES_MAX + 16], *a2, *p2;
	size_t n = strlen(addr), i;

	if (n > PROTO_PATH_BYTES_MAX)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c < 32 || c == 127 || (c >= 128 && !(flags & PROTO_PATH_UTF8_OK)))
			abort();
	}
	if ((flags & PROTO_PATH_UTF8_OK) && !proto_cmd_utf8_valid(addr, n))
		abort();
	if (n > 0 && !proto_cmd_mailbox_valid(addr, flags))
		abort();
	memcpy(again, keyword, strlen(keyword));
	again[strlen(keyword)] = '<';
	memcpy(again + strlen(keyword) + 1, addr, n);
	memcpy(again + strlen(keyword) + 1 + n, ">", 2);
	if (proto_cmd_path(again, keyword, flags, &a2, &p2) != PROTO_CMD_OK || strcmp(a2, addr) != 0)
		abort();
}

/* Decoded parameter strings must hold printable ASCII only. */
static void
fuzz_check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[4096], copy[4096];
	static struct proto_cmd_params cp;
	const char *keyword;
	unsigned flags;
	char *addr, *params;
	int is_rcpt;

	if (size < 1 || size >= sizeof(line))
		return 0;
	is_rcpt = data[0] & 1;
	keyword = is_rcpt ? "TO:" : "FROM:";
	flags = (data[0] >> 1) & (PROTO_PATH_NULL_OK | PROTO_PATH_POSTMASTER_OK | PROTO_PATH_UTF8_OK);
	memcpy(line, data + 1, size - 1);
	line[size - 1] = '\0';
	memcpy(copy, line, size);
	if (proto_cmd_path(line, keyword, flags, &addr, &params) == PROTO_CMD_OK) {
		fuzz_check_addr(addr, flags, keyword);
		if (proto_cmd_params(params, 0xffff, is_rcpt, &cp) == PROTO_CMD_OK) {
			fuzz_check_printable(cp.envid);
			fuzz_check_printable(cp.orcpt);
			fuzz_check_printable(cp.auth);
		}
	}
	if (proto_cmd_xtext_decode(copy, line, sizeof(line)) >= 0)
		fuzz_check_printable(line);
	(void)proto_cmd_mailbox_valid(copy, flags);
	return 0;
}
