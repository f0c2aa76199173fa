/*
 * test/fuzz/fuzz_server.c - libFuzzer target for proto/smtp_server.c. The
 * first 4 input octets choose the params (extensions, bare LF policy, small
 * limits) and seed the read boundaries; the rest is the client's side of a
 * session. The session runs twice, fed whole and cut at pseudo-random
 * points; both runs must give the same replies and the same bodies (of the
 * messages that reached BODY_END, whose size must match), every
 * reply line must be well-formed and bounded, and BODY data must come from
 * the fed input (or be a 1-2 octet line end the machine adds). With the
 * observer on (a seed bit), the lines it is given must be bounded, without
 * line ends, and the same for both runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_server.h"

#define OUT_BYTES_MAX (1 << 20)

struct run {
	char out[OUT_BYTES_MAX];
	size_t out_len;
	uint64_t body_hash;   /* of the bodies that reached BODY_END */
	uint64_t body_len;
	uint64_t msg_hash;    /* of the message being read */
	uint64_t msg_len;
	uint64_t seen_hash;   /* of the lines params.observe was given */
	uint64_t seen_lines;
};

static struct run run_whole, run_cut;

/* params.observe: each line without CR or LF, bounded, and (as the replies)
 * the same sequence for any cut of the input. */
static void
fuzz_observe(void *arg, int reply, const char *line, size_t len)
{
	struct run *r = arg;

	if (len > (reply ? PROTO_REPLY_BYTES_MAX : PROTO_LINE_BYTES_MAX) ||
	    memchr(line, '\n', len) != NULL || (reply && memchr(line, '\r', len) != NULL))
		abort();
	r->seen_hash = (r->seen_hash ^ (uint64_t)reply) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		r->seen_hash = (r->seen_hash ^ (uint8_t)line[i]) * 1099511628211ull;
	r->seen_lines++;
}

/* Check and keep what the machine queued: reply lines of "ddd" SP or "-",
 * printable text, CRLF, at most PROTO_REPLY_BYTES_MAX. */
static void
fuzz_drain(struct proto_server *s, struct run *r)
{
	size_t i, line = 0;

	if (s->out_len > PROTO_OUT_BYTES_MAX)
		abort();
	for (i = 0; i < s->out_len; i++) {
		unsigned char c = (unsigned char)s->out[i];

		if (c == '\n') {
			if (i == 0 || s->out[i - 1] != '\r' || line + 1 > PROTO_REPLY_BYTES_MAX)
				abort();
			line = 0;
			continue;
		}
		if (line < 3 && (c < '0' || c > '9'))
			abort();
		if (line == 3 && c != ' ' && c != '-' && c != '\r')
			abort();
		if (c != '\r' && (c < 32 || c > 126))
			abort();
		line++;
	}
	if (r->out_len + s->out_len <= OUT_BYTES_MAX) {
		memcpy(r->out + r->out_len, s->out, s->out_len);
		r->out_len += s->out_len;
	}
	proto_server_out_sent(s, s->out_len);
}

/* Answer a question; the seed decides whether some are refused. */
static void
fuzz_answer(struct proto_server *s, const struct proto_event *ev, uint32_t seed)
{
	int no = (seed >> 8) & 1;

	if (ev->kind == PROTO_EV_DATA)
		proto_server_answer(s, no && ev->bdat ? 451 : 354, NULL, "Go ahead");
	else if (ev->kind == PROTO_EV_AUTH)
		proto_server_answer(s, ev->auth_initial == NULL ? 334 : 535, "5.7.8", "");
	else if (ev->kind == PROTO_EV_AUTH_DATA)
		proto_server_answer(s, ev->len == 1 ? 235 : 535, "2.0.0", "Auth");
	else if (ev->kind == PROTO_EV_RCPT && no && ev->addr[0] == 'x')
		proto_server_answer(s, 550, "5.1.1", "No");
	else
		proto_server_answer(s, 250, "2.0.0", "Ok");
}

/* Pull events until NEED_MORE or the end; returns 1 when the session ended. */
static int
fuzz_pump(struct proto_server *s, struct run *r, const char *buf, size_t len, uint32_t seed)
{
	struct proto_event ev;
	int steps;

	for (steps = 0; steps < 1000000; steps++) {
		enum proto_event_kind k = proto_server_next(s, &ev);

		if (k == PROTO_EV_NEED_MORE) {
			fuzz_drain(s, r);
			return 0;
		}
		if (k == PROTO_EV_QUIT || k == PROTO_EV_CLOSE) {
			fuzz_drain(s, r);
			return 1;
		}
		if (k == PROTO_EV_TXN_RESET || k == PROTO_EV_DATA) {
			r->msg_hash = 1469598103934665603ull;  /* a refused body goes nowhere */
			r->msg_len = 0;
		}
		if (k == PROTO_EV_BODY_END) {
			if (ev.size != r->msg_len)
				abort();
			r->body_hash = (r->body_hash ^ r->msg_hash) * 1099511628211ull;
			r->body_len += r->msg_len;
		}
		if (k == PROTO_EV_FLUSH || k == PROTO_EV_HELO || k == PROTO_EV_TXN_RESET) {
			fuzz_drain(s, r);
		} else if (k == PROTO_EV_WAIT) {
			abort();  /* STARTTLS is off: nothing else may wait */
		} else if (k == PROTO_EV_BODY) {
			if (!(ev.data >= buf && ev.data + ev.len <= buf + len) && ev.len > 2)
				abort();
			for (size_t i = 0; i < ev.len; i++)
				r->msg_hash = (r->msg_hash ^ (unsigned char)ev.data[i]) * 1099511628211ull;
			r->msg_len += ev.len;
		} else {
			fuzz_answer(s, &ev, seed);
		}
	}
	abort();  /* no progress */
}

/* Run the session in[0..len), cut where the seed says (or not at all). */
static void
fuzz_run(struct run *r, const struct proto_server_params *p, const char *in, size_t len,
         uint32_t seed, int cut)
{
	static struct proto_server s;
	uint32_t x = seed | 1;
	size_t at = 0;

	r->out_len = 0;
	r->seen_hash = r->body_hash = r->msg_hash = 1469598103934665603ull;
	r->seen_lines = 0;
	r->body_len = r->msg_len = 0;
	struct proto_server_params mine = *p;

	if (mine.observe != NULL)
		mine.observe_arg = r;
	proto_server_init(&s, &mine);
	proto_server_greet(&s);
	while (at < len) {
		size_t n = len - at;
		char *piece;

		if (cut) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			n = 1 + x % (x & 0x100 ? 3 : 64);
			if (n > len - at)
				n = len - at;
		}
		piece = malloc(n);  /* its own block: ASan sees any read past it */
		memcpy(piece, in + at, n);
		proto_server_feed(&s, piece, n);
		int end = fuzz_pump(&s, r, piece, n, seed);
		free(piece);
		at += n;
		if (end)
			break;
	}
	fuzz_drain(&s, r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_server_params p = { .hostname = "mx.example.org", .errors_max = 20 };
	uint32_t seed;

	if (size < 4 || size > 65536)
		return 0;
	seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
	p.ext = (seed & 0x7ff & ~PROTO_EXT_STARTTLS) | PROTO_EXT_HELP;
	p.bare_newline = (seed >> 11) & 1 ? PROTO_BARE_NORMALIZE : PROTO_BARE_REJECT;
	p.size_max = (seed >> 12) & 1 ? 200 : 0;
	p.rcpt_count_max = (seed >> 13) & 1 ? 3 : 0;
	p.mails_max = (seed >> 14) & 1 ? 2 : 0;
	p.text_line_bytes_max = (seed >> 15) & 1 ? 40 : 0;
	p.line_bytes_max = (seed >> 16) & 1 ? 512 : 0;
	p.auth_mechs = (seed >> 17) & 1 ? "PLAIN LOGIN" : NULL;
	p.auth_plaintext = 1;
	p.observe = (seed >> 18) & 1 ? fuzz_observe : NULL;
	fuzz_run(&run_whole, &p, (const char *)data + 4, size - 4, seed, 0);
	fuzz_run(&run_cut, &p, (const char *)data + 4, size - 4, seed, 1);
	if (run_whole.out_len != run_cut.out_len ||
	    memcmp(run_whole.out, run_cut.out, run_whole.out_len) != 0 ||
	    run_whole.body_len != run_cut.body_len || run_whole.body_hash != run_cut.body_hash ||
	    run_whole.seen_lines != run_cut.seen_lines || run_whole.seen_hash != run_cut.seen_hash)
		abort();  /* the outcome depends on read boundaries */
	return 0;
}
