/*
 * test/proto/server_harness.h - plays the daemon around proto/smtp_server.c
 * for the tests: feeds a session cut into pieces, answers every question by
 * a fixed policy, and records what the client saw (replies), what the
 * daemon was told (one line per event) and the message bodies, so runs can
 * be compared with golden text and with each other.
 */
#ifndef TEST_PROTO_SERVER_HARNESS_H
#define TEST_PROTO_SERVER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_server.h"

#define HOST "mx.example.org"
#define BANNER "220 " HOST " ESMTP ringmta\r\n"
#define EHLO_REPLY \
	"250-" HOST " Hello client.example\r\n" \
	"250-PIPELINING\r\n" \
	"250-SIZE 35882577\r\n" \
	"250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n" \
	"250 HELP\r\n"
#define R354 "354 Enter mail, end with \".\" on a line by itself\r\n"
#define X16 "xxxxxxxxxxxxxxxx"
#define X64 X16 X16 X16 X16

extern const struct proto_server_params params_default;

/* How the test plays the daemon: accept everything except these. */
struct policy {
	const char *reject_mail;  /* MAIL FROM this address: 550 5.7.1 */
	const char *reject_rcpt;  /* RCPT TO this address: 550 5.1.1 */
	int data_code;            /* answer to DATA; 0 means 354 */
	int starttls_code;        /* answer to STARTTLS; 0 means 220 */
	int body_end_code;        /* answer to BODY_END; 0 means 250 */
};

/* AUTH: "PLAIN" with the initial response AUTH_GOOD, or 334 and then
 * AUTH_GOOD, is 235; "*" cancels (501); anything else is 535. */
#define AUTH_GOOD "AHVzZXIAcGFzcw=="

extern const struct policy accept_all;

/* Everything the client saw and the daemon was told in one session. */
struct tx {
	char out[1 << 18];
	size_t out_len;
	char log[1 << 17];        /* one line per event, BODY and FLUSH left out */
	size_t log_len;
	char body[1 << 17];       /* bodies that reached BODY_END, concatenated */
	size_t body_len;
	size_t body_ends[64];     /* where each of those bodies ends in body[] */
	unsigned nbodies;
	char msg[1 << 17];        /* BODY events of the message being read */
	size_t msg_len;
	unsigned flushes;
	unsigned body_events;
	size_t const_bytes;       /* BODY bytes served from outside the fed buffer */
	size_t out_len_max;
	int done;                 /* QUIT or CLOSE seen */
	int tls;                  /* a TLS handshake was done (after STARTTLS) */
};

extern struct tx tx_a, tx_b;

/* Clear a transcript for a new run. */
void tx_reset(struct tx *t);
/* Pull events until the machine wants more input or the session ends. */
void tx_pump(struct proto_server *s, struct tx *t, const struct policy *pol, const char *buf,
             size_t len);
/* Run a whole session: greet, then feed in[0..len) cut at cuts[]. */
void tx_run_cuts(struct tx *t, const struct proto_server_params *p, const struct policy *pol,
                 const char *in, size_t len, const size_t *cuts, size_t ncuts);
/* Run a session feeding chunk bytes at a time (0: all at once). */
void tx_run(struct tx *t, const struct proto_server_params *p, const struct policy *pol,
            const char *in, size_t len, size_t chunk);
/* Run with the default params, all at once, input a C string. */
struct tx *tx_simple(const struct policy *pol, const char *in);
/* Returns the start of the last reply line in t->out. */
const char *tx_last_reply(const struct tx *t);
/* Both runs must have produced the same replies, events and body. */
void tx_expect_same(const struct tx *got, const struct tx *want, const char *what);
/* Run in every single cut, byte by byte and in 7-byte pieces; each must
 * give what the whole run gave. Returns the whole run in tx_a. */
void tx_expect_split_invariant(const struct proto_server_params *p, const struct policy *pol,
                               const char *in, size_t len);

#endif
