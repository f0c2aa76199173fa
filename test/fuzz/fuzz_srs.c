/*
 * test/fuzz/fuzz_srs.c - libFuzzer target for proto/srs.c: the input, cut
 * at its first NUL into a time offset (first 2 octets), a sender and our
 * domain, is encoded and the sender is decoded as a recipient. Checks: an
 * encoded address is a valid mailbox within 254 octets whose local part
 * is at most 64; an SRS0 one decodes back to the sender until ttl_days
 * later and is expired after; an SRS1 one decodes to an SRS0 address or
 * is expired by the sender's own timestamp; a
 * decode that succeeds is bounded and terminated; nothing is written past
 * a buffer of any size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_command.h"
#include "proto/srs.h"

#define DAY 86400u

static void
fuzz_check_encoded(const struct proto_srs_keys *k, uint64_t now, const char *sender,
                   const char *out)
{
	char back[PROTO_SRS_ADDR_BYTES_MAX];
	size_t n = strlen(out);
	enum proto_srs_result r;

	if (n > 254 || !proto_cmd_mailbox_valid(out, 0) || strchr(out, '@') - out > 64)
		abort();
	if (strncmp(out, "SRS1=", 5) == 0) {   /* the inner timestamp is the sender's */
		r = proto_srs_decode(k, now, out, back, sizeof back);
		if (r != PROTO_SRS_EXPIRED && (r != PROTO_SRS_OK || strncmp(back, "SRS0", 4) != 0))
			abort();
		return;
	}
	if (strncmp(out, "SRS0=", 5) != 0)
		abort();
	if (proto_srs_decode(k, now + k->ttl_days * DAY, out, back, sizeof back) != PROTO_SRS_OK ||
	    strcmp(back, sender) != 0)
		abort();
	if (proto_srs_decode(k, now + (k->ttl_days + 1) * DAY, out, back, sizeof back) !=
	    PROTO_SRS_EXPIRED)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct proto_srs_keys k = { .key = "fuzz-key", .backup = "old", .ttl_days = 3 };
	char buf[1024], out[PROTO_SRS_ADDR_BYTES_MAX + 8], small[24];

	if (size < 2 || size - 2 >= sizeof buf)
		return 0;
	uint64_t now = 1700000000u + (uint64_t)(data[0] | data[1] << 8) * DAY;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	const char *sender = buf, *domain = buf + strlen(buf);
	if ((size_t)(domain - buf) < size - 2)
		domain++;   /* after the NUL */
	memset(out, 'x', sizeof out);
	if (proto_srs_encode(&k, now, sender, domain, out, PROTO_SRS_ADDR_BYTES_MAX) ==
	    PROTO_SRS_OK)
		fuzz_check_encoded(&k, now, sender, out);
	if (out[PROTO_SRS_ADDR_BYTES_MAX] != 'x')
		abort();
	enum proto_srs_result r = proto_srs_decode(&k, now, sender, out, PROTO_SRS_ADDR_BYTES_MAX);
	if (r == PROTO_SRS_OK && strlen(out) >= PROTO_SRS_ADDR_BYTES_MAX)
		abort();
	memset(small, 'x', sizeof small);
	proto_srs_encode(&k, now, sender, domain, small, 16);
	proto_srs_decode(&k, now, sender, small, 16);
	if (small[16] != 'x')
		abort();
	return 0;
}
