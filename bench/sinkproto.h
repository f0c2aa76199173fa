/*
 * bench/sinkproto.h - the sink's side of SMTP as a push/pull machine: feed
 * it what a client sent, pull out events: a command line (verb and
 * argument), or the end of a message (its size and Message-ID). Between
 * events the caller decides the reply; after answering DATA with 354 it
 * calls bench_sink_begin_data() so the following bytes count as the body;
 * on "BDAT size [LAST]" (RFC 3030) it calls bench_sink_begin_bdat() so the
 * next size bytes are a chunk, ended by a BDAT_END event.
 * Also the parsers for the sink's fault options (command lists, delays).
 * No I/O, no allocation.
 *
 * Limits: a command line is at most BENCH_SINK_LINE_BYTES_MAX bytes (more
 * is reported with too_long set; RFC 5321 4.5.3.1.4 allows 512, extensions
 * add to it); the Message-ID kept is at most BENCH_SINK_MSGID_BYTES_MAX-1
 * bytes; only the first Message-ID header of a message counts.
 */
#ifndef BENCH_SINKPROTO_H
#define BENCH_SINKPROTO_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_SINK_LINE_BYTES_MAX 2048
#define BENCH_SINK_HEADER_BYTES_MAX 512
#define BENCH_SINK_MSGID_BYTES_MAX 256

/* The commands (and moments) a fault or delay can be attached to. */
enum bench_sink_cmd {
	BENCH_SINK_CONNECT,       /* the greeting */
	BENCH_SINK_HELO,
	BENCH_SINK_EHLO,
	BENCH_SINK_MAIL,
	BENCH_SINK_RCPT,
	BENCH_SINK_DATA,
	BENCH_SINK_DOT,           /* end of data */
	BENCH_SINK_RSET,
	BENCH_SINK_NOOP,
	BENCH_SINK_QUIT,
	BENCH_SINK_VRFY,
	BENCH_SINK_STARTTLS,      /* RFC 3207 */
	BENCH_SINK_AUTH,          /* RFC 4954: the command and its continuation lines */
	BENCH_SINK_BDAT,          /* RFC 3030: the command; its LAST chunk's end is DOT */
	BENCH_SINK_OTHER,         /* unknown verb or too long a line */
	BENCH_SINK_CMD_COUNT
};

enum bench_sink_ev_type {
	BENCH_SINK_EV_NONE,       /* every byte consumed, no event */
	BENCH_SINK_EV_COMMAND,
	BENCH_SINK_EV_DATA_END,
	BENCH_SINK_EV_BDAT_END,   /* a BDAT chunk's bytes all read */
};

struct bench_sink_event {
	enum bench_sink_ev_type type;
	enum bench_sink_cmd cmd;  /* COMMAND */
	const char *arg;          /* COMMAND: after the verb and a space; valid until the next feed */
	int too_long;             /* COMMAND: the line was cut */
	uint64_t bytes;           /* DATA_END: message bytes as sent, without the final ".CRLF";
	                           * BDAT_END: the message's bytes so far */
	const char *msgid;        /* DATA_END, BDAT_END: the Message-ID value, "" when none */
	int last;                 /* BDAT_END: the chunk was BDAT ... LAST */
};

struct bench_sinkproto {
	int in_data;
	int in_bdat;              /* reading a chunk: bdat_left bytes to go */
	uint64_t bdat_left;
	int bdat_last;
	char line[BENCH_SINK_LINE_BYTES_MAX];
	size_t len;
	int overflow;
	int bstate;               /* body: at line start, in a line, after ".", after ".CR" */
	int in_headers;
	int msgid_folded;         /* the Message-ID value is on the next line */
	char hline[BENCH_SINK_HEADER_BYTES_MAX];
	size_t hlen;
	char msgid[BENCH_SINK_MSGID_BYTES_MAX];
	uint64_t bytes;
};

/* Before the first byte of a connection. */
void bench_sink_init(struct bench_sinkproto *p);
/* After answering DATA with 354: the next bytes are the message. */
void bench_sink_begin_data(struct bench_sinkproto *p);
/* After "BDAT size [LAST]": the next size bytes are a chunk of the message,
 * its first when first (headers read for the Message-ID again). An empty
 * chunk has nothing to read: *ev gets its BDAT_END at once and 1 is
 * returned; otherwise 0 and the event comes from bench_sink_feed(). */
int bench_sink_begin_bdat(struct bench_sinkproto *p, uint64_t size, int last, int first,
                          struct bench_sink_event *ev);
/* "size" or "size LAST" (case-insensitive) -> *size, *last; 0 or -1. */
int bench_sink_parse_bdat(const char *arg, uint64_t *size, int *last);
/* Consume bytes of buf[0..len) up to and including the next event; returns
 * how many were consumed and fills *ev (type NONE when all were consumed
 * without an event). */
size_t bench_sink_feed(struct bench_sinkproto *p, const char *buf, size_t len,
                       struct bench_sink_event *ev);
/* The option name of a command ("mail", "dot", ...). */
const char *bench_sink_cmd_name(enum bench_sink_cmd cmd);
/* "mail,rcpt,." -> a mask of 1 << BENCH_SINK_*; "." and "dot" both mean
 * end of data; "connect" the greeting. Returns 0 or -1. */
int bench_sink_parse_cmds(const char *text, unsigned *mask);
/* "rcpt:100,dot:20" -> delays_ms[BENCH_SINK_*] set for the named
 * commands (others untouched); at most 600000 ms each. Returns 0 or -1. */
int bench_sink_parse_delays(const char *text, uint32_t delays_ms[BENCH_SINK_CMD_COUNT]);

#endif
