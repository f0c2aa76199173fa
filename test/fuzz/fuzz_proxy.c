/*
 * test/fuzz/fuzz_proxy.c - libFuzzer target for proto/proxy.c. The input is
 * what a connection starts with; it is fed whole and then cut at points
 * the first octet seeds. Both runs must agree on the result, on how many
 * octets were header, and on the addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy.h"

/* Feed in[0..len) in pieces of at most step octets (0: whole). Returns the
 * result; *header is how many octets were header. */
static enum proto_proxy_result
fuzz_feed(struct proto_proxy *p, const uint8_t *in, size_t len, size_t step, size_t *header)
{
	enum proto_proxy_result r = PROTO_PROXY_NEED_MORE;
	size_t at = 0, used;

	proto_proxy_init(p);
	*header = 0;
	while (at < len) {
		size_t n = step == 0 || len - at < step ? len - at : step;
		uint8_t *piece = malloc(n);

		memcpy(piece, in + at, n);
		r = proto_proxy_feed(p, piece, n, &used);
		free(piece);
		if (used > n)
			abort();
		*header += used;
		if (r != PROTO_PROXY_NEED_MORE)
			break;
		if (used != n)
			abort();  /* NEED_MORE must take everything */
		at += n;
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_proxy a, b;
	size_t ha, hb;
	enum proto_proxy_result ra, rb;

	if (size < 1)
		return 0;
	ra = fuzz_feed(&a, data + 1, size - 1, 0, &ha);
	rb = fuzz_feed(&b, data + 1, size - 1, 1 + data[0] % 17, &hb);
	if (ra != rb || (ra == PROTO_PROXY_DONE && ha != hb))
		abort();
	if (ra == PROTO_PROXY_DONE && (a.local != b.local || a.version != b.version ||
	    (!a.local && (memcmp(&a.src, &b.src, sizeof(a.src)) != 0 ||
	                  memcmp(&a.dst, &b.dst, sizeof(a.dst)) != 0))))
		abort();
	if (ra == PROTO_PROXY_DONE && a.version == 1 && ha > PROTO_PROXY_V1_BYTES_MAX)
		abort();
	return 0;
}
