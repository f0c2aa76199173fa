/*
 * test/fuzz/fuzz_milter.c - libFuzzer target for proto/milter_proto.c and
 * proto/milter_edit.c. The input is what a milter writes back: its replies
 * are parsed one by one (whole, then again fed a few octets at a time; both
 * must take the same packets), and each end-of-message change is applied to
 * a fixed message, then to the result, checking the bounds the editor
 * promises and that header fields stay readable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/milter_edit.h"
#include "proto/milter_proto.h"

static const char MSG[] = "Received: by mx\r\n\tfor <a@b>\r\nSubject: x\r\nX-A: 1\r\n\r\nbody\r\n";

/* The packets of in[0..len): how many, and the octets taken. */
static size_t
fuzz_parse(const char *in, size_t len, size_t *taken)
{
	struct proto_milter_msg r;
	size_t at = 0, n = 0;
	long k;

	while ((k = proto_milter_parse(in + at, len - at, &r)) > 0) {
		if ((size_t)k > len - at || (size_t)k < 5)
			abort();
		if (r.cmd == PROTO_MILTER_R_REPLYCODE &&
		    (r.code < 400 || r.code > 599 || r.text == NULL || memchr(r.text, '\n', r.text_len)))
			abort();
		at += (size_t)k;
		n++;
	}
	if (k < 0 && r.error == NULL)
		abort();   /* a failure says why */
	*taken = at;
	return n;
}

/* Apply every change of in[0..len) to the message in turn. */
static void
fuzz_edit(const char *in, size_t len)
{
	struct proto_milter_msg r;
	char *msg = malloc(sizeof MSG), *out;
	size_t mlen = sizeof MSG - 1, at = 0, cap;
	long k, n;

	memcpy(msg, MSG, mlen);
	while ((k = proto_milter_parse(in + at, len - at, &r)) > 0 && mlen < (1u << 20)) {
		at += (size_t)k;
		cap = proto_milter_edit_bound(mlen, &r);
		out = malloc(cap);
		n = proto_milter_edit(msg, mlen, &r, in[0] & 1, out, cap);
		if (n < 0 || (size_t)n > cap)
			abort();   /* the bound is enough */
		free(msg);
		msg = out;
		mlen = (size_t)n;
		struct proto_milter_field f;
		size_t hdr, body, pos = 0;
		char v[256];
		proto_milter_split(msg, mlen, &hdr, &body);
		if (hdr > mlen || body > mlen)
			abort();
		while (proto_milter_field_next(msg, hdr, &pos, &f))
			if (f.off + f.len > hdr || f.name_len == 0)
				abort();
			else
				(void)proto_milter_field_value(&f, 0, v, sizeof v);
	}
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t whole_taken, part_taken = 0, whole, part = 0, step, got;
	char *buf;

	whole = fuzz_parse(in, size, &whole_taken);
	/* the same replies arriving a few octets at a time */
	step = size ? (size_t)(data[0] % 7) + 1 : 1;
	buf = malloc(size ? size : 1);
	size_t have = 0;
	for (size_t at = 0; at < size; at += step) {
		size_t n = size - at < step ? size - at : step;
		memcpy(buf + have, in + at, n);
		have += n;
		part += fuzz_parse(buf, have, &got);
		memmove(buf, buf + got, have - got);
		have -= got;
		part_taken += got;
		struct proto_milter_msg r;
		if (proto_milter_parse(buf, have, &r) < 0)
			break;
	}
	free(buf);
	if (part < whole || (part == whole && part_taken != whole_taken))
		abort();
	fuzz_edit(in, size);
	return 0;
}
