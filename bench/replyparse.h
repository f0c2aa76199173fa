/*
 * bench/replyparse.h - the load generator's SMTP reply reader: feed it the
 * bytes a server sent, pull complete replies out (RFC 5321 4.2: "NNN-text"
 * lines, then "NNN text" or "NNN"). It notes the EHLO keywords the load
 * generator cares about (RFC 2920 PIPELINING, RFC 1870 SIZE, ...). No I/O,
 * no allocation; a line longer than BENCH_REPLY_LINE_BYTES_MAX is kept
 * truncated (the code and keyword still count).
 */
#ifndef BENCH_REPLYPARSE_H
#define BENCH_REPLYPARSE_H

#include <stddef.h>

#define BENCH_REPLY_LINE_BYTES_MAX 512
#define BENCH_REPLY_LINES_MAX 100     /* more lines in one reply is malformed */

enum {
	BENCH_EXT_PIPELINING = 1u << 0,
	BENCH_EXT_8BITMIME = 1u << 1,
	BENCH_EXT_SIZE = 1u << 2,
	BENCH_EXT_STARTTLS = 1u << 3,
	BENCH_EXT_AUTH = 1u << 4,
	BENCH_EXT_CHUNKING = 1u << 5,
	BENCH_EXT_SMTPUTF8 = 1u << 6,
	BENCH_EXT_ENHANCEDSTATUSCODES = 1u << 7,
	BENCH_EXT_AUTH_PLAIN = 1u << 8,    /* AUTH (or AUTH=) lists PLAIN (RFC 4954) */
};

struct bench_reply {
	int code;                 /* 200..599 */
	unsigned lines;
	unsigned ext;             /* BENCH_EXT_* seen in the lines after the first */
	char text[BENCH_REPLY_LINE_BYTES_MAX];   /* the last line, without CRLF */
};

struct bench_reply_parser {
	char line[BENCH_REPLY_LINE_BYTES_MAX];
	size_t len;               /* bytes kept of the current line */
	int code;                 /* of the reply being read, 0 before its first line */
	unsigned lines;
	unsigned ext;
};

/* Before the first byte of a connection. */
void bench_reply_init(struct bench_reply_parser *p);
/* Consume bytes from buf[0..len) up to the end of the next complete reply;
 * *used says how many. Returns 1 with *out filled when a reply ended, 0
 * when every byte was consumed without ending one, -1 when the reply is
 * malformed (bad code, codes that differ between lines, too many lines):
 * the connection should be dropped. Call again with the rest after 1. */
int bench_reply_feed(struct bench_reply_parser *p, const char *buf, size_t len,
                     size_t *used, struct bench_reply *out);

#endif
