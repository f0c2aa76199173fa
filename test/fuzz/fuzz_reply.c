/*
 * test/fuzz/fuzz_reply.c - libFuzzer target for the client side:
 * proto/smtp_reply.c on one arbitrary line, and proto/smtp_client.c fed the
 * input as the peer's replies, cut where the first octet says, starting a
 * transaction (with DSN parameters, BODY=8BITMIME, BINARYMIME in the
 * second, and SMTPUTF8 with a UTF-8 recipient in the third; by DATA or,
 * when the peer offers CHUNKING, BDAT) whenever it is READY and sending a
 * body when asked. Checks: every event's text is NUL-terminated and bounded,
 * recipient indexes are in range, c.out never overflows, and the machine
 * always makes progress.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_client.h"
#include "proto/smtp_reply.h"

static const char *const fuzz_rcpts[] = { "a@b.example", "c@d.example", "e@f.example" };
static const char *const fuzz_rcpts_utf8[] = { "a@b.example", "\xc3\xa9" "@d.example",
                                               "e@f.example" };
static const unsigned fuzz_notify[] = { PROTO_DSN_NOTIFY_NEVER, 0, PROTO_DSN_NOTIFY_DELAY };
static const char *const fuzz_orcpt[] = { "rfc822;a+b@b.example", NULL, "e=f@f.example" };

/* Check one event's promises. */
static void
fuzz_check(const struct proto_client *c, const struct proto_client_event *ev)
{
	if (ev->text != NULL && strlen(ev->text) > PROTO_CLIENT_REPLY_BYTES_MAX + 64)
		abort();
	if ((ev->kind == PROTO_CEV_RCPT || ev->kind == PROTO_CEV_LMTP_RCPT) && ev->index >= 3)
		abort();
	if (c->out_len > sizeof(c->out))
		abort();
}

/* Drive the client until it needs input. Returns 1 when it closed. */
static int
fuzz_drive(struct proto_client *c, unsigned *txns)
{
	static const struct proto_client_dsn dsn = {
		.ret = PROTO_DSN_RET_HDRS, .envid = "id+1=x",
		.notify = fuzz_notify, .orcpt = fuzz_orcpt,
	};
	static const struct proto_client_mail_opts plain = { PROTO_BODY_8BITMIME, 0, &dsn };
	static const struct proto_client_mail_opts utf8 = { PROTO_BODY_8BITMIME, 1, &dsn };
	static const struct proto_client_mail_opts binary = { PROTO_BODY_BINARYMIME, 0, &dsn };
	static const char body[] = "Subject: x\r\n\r\n.body\r\n";
	struct proto_client_event ev;
	int steps;

	for (steps = 0; steps < 100000; steps++) {
		enum proto_client_event_kind k = proto_client_next(c, &ev);

		fuzz_check(c, &ev);
		if (k == PROTO_CEV_NEED_MORE)
			return 0;
		if (k == PROTO_CEV_CLOSED)
			return 1;
		if (k == PROTO_CEV_SEND)
			proto_client_out_sent(c, c->out_len);
		else if (k == PROTO_CEV_READY && (*txns)++ < 3)
			(void)proto_client_mail_opts(c, *txns == 2 ? "" : "s@x.example",
			                             *txns == 3 ? fuzz_rcpts_utf8 : fuzz_rcpts, 3,
			                             sizeof(body) - 1,
			                             *txns == 3 ? &utf8 : *txns == 2 ? &binary : &plain);
		else if (k == PROTO_CEV_READY)
			proto_client_quit(c);
		else if (k == PROTO_CEV_BODY) {
			(void)proto_client_body(c, body, sizeof(body) - 1);
			proto_client_body_end(c);
		}
	}
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_client c;
	struct proto_client_params p = { .helo = "relay.example" };
	size_t at = 1, step;
	unsigned txns = 0;
	int code;

	if (size < 1)
		return 0;
	(void)proto_reply_line((const char *)data, size, &code);
	p.lmtp = data[0] & 1;
	step = 1 + (data[0] >> 1);
	proto_client_init(&c, &p);
	while (at < size) {
		size_t n = size - at < step ? size - at : step;
		char *piece = malloc(n);

		memcpy(piece, data + at, n);
		if (fuzz_drive(&c, &txns)) {
			free(piece);
			break;
		}
		proto_client_feed(&c, piece, n);
		int closed = fuzz_drive(&c, &txns);
		free(piece);
		if (closed)
			break;
		at += n;
	}
	return 0;
}
