/*
 * ctl/ctl_proto.h - the control protocol between smtpctl (and the sendmail
 * personas) and smtpd, over the UNIX socket <queue path>/smtpd.sock.
 * Pure encode/decode: no I/O, no clock; the only allocation is the growing
 * output buffer the caller owns (struct ctl_buf).
 *
 * Every message is one frame, all integers big-endian:
 *
 *   u32 frame_len        bytes after this field, <= CTL_FRAME_BYTES_MAX
 *   u8  version          CTL_PROTO_VERSION
 *   u8  type             enum ctl_type
 *   u16 reserved         0
 *   u64 id               an envelope or message id, a count
 *   u32 arg              a selector, an agent, a reply code
 *   u16 nstr             <= CTL_STRINGS_MAX
 *   nstr x (u32 len, len bytes)   text without NUL, len <= CTL_STR_BYTES_MAX
 *   u32 blob_len, blob_len bytes  <= CTL_BLOB_BYTES_MAX
 *
 * and the frame ends exactly there. ctl_decode() checks the structure;
 * ctl_check() checks what each type may carry (arity, blob, arg range).
 * A frame that fails either is malformed: the daemon logs it and drops the
 * client (STYLE.md habit 8).
 *
 * Requests and their replies:
 *   SHOW_QUEUE                      RECORD per envelope, then END
 *   SHOW_ENVELOPE id                RECORD, or FAIL
 *   SHOW_MESSAGE id                 RECORDs with no strings, each a blob of the
 *                                   message, then END; or FAIL
 *   SHOW_STATS / SHOW_STATUS        RECORD (key, value pairs)
 *   SCHEDULE / REMOVE / PAUSE_ENVELOPE / RESUME_ENVELOPE arg=selector id
 *                                   OK id=count, or FAIL
 *   PAUSE / RESUME arg=agent        OK or FAIL
 *   RELOAD                          OK
 *   LOG_VERBOSE arg=0|1             OK
 *   MAIL str[0]=sender [str[1]=RET str[2]=ENVID]   OK or FAIL (arg = SMTP-like code)
 *   RCPT str[0]=recipient [str[1]=NOTIFY str[2]=ORCPT]   OK or FAIL (arg = 550 ...)
 *        the DSN fields of RFC 3461, decoded ("" absent): RET FULL or HDRS,
 *        NOTIFY NEVER or a comma list of SUCCESS, FAILURE, DELAY, ORCPT
 *        "type;address"; a frame has one string or all three
 *   DATA blob=body bytes (CRLF)     no reply
 *   DATA_END                        OK id=msgid once durable, or FAIL
 *   DISCOVER arg=MSGID|EVPID id     OK id=envelopes scheduled again, or FAIL
 *                                   (404: none stored under that id)
 *   TRACE / UNTRACE arg=CTL_TRACE_* bits      OK
 *   PROFILE / UNPROFILE arg=CTL_PROFILE_* bits   OK
 *   MTA_BLOCK / MTA_UNBLOCK str[0]=source address str[1]=domain   OK or FAIL
 *   SHOW_MTA_BLOCK                  RECORD (source, domain) per pause, END
 *   SHOW_HOSTSTATS                  RECORD (domain, time, error) per
 *                                   destination domain, END
 * OK and FAIL carry an optional text in str[0]. A RECORD carries
 * key, value, key, value ... strings.
 */
#ifndef CTL_CTL_PROTO_H
#define CTL_CTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CTL_PROTO_VERSION 1
#define CTL_HEADER_BYTES 22          /* frame_len through nstr */
#define CTL_FRAME_BYTES_MAX (1u << 20)
#define CTL_STRINGS_MAX 256
#define CTL_STR_BYTES_MAX 4096
#define CTL_BLOB_BYTES_MAX 65536

enum ctl_type {
	CTL_SHOW_QUEUE = 1,
	CTL_SHOW_ENVELOPE,
	CTL_SHOW_STATS,
	CTL_SHOW_STATUS,
	CTL_SCHEDULE,
	CTL_REMOVE,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_RELOAD,
	CTL_LOG_VERBOSE,
	CTL_MAIL,
	CTL_RCPT,
	CTL_DATA,
	CTL_DATA_END,
	CTL_UPDATE_TABLE,           /* str[0]: the table name */
	CTL_SHOW_MESSAGE,           /* id: an envelope id; the answer is RECORDs
	                             * whose blobs are the message, then END */
	CTL_UPDATE_GEOIP,           /* the geoip databases read again */
	CTL_PAUSE_ENVELOPE,         /* arg: selector, as SCHEDULE */
	CTL_RESUME_ENVELOPE,
	CTL_SHOW_ROUTES,            /* arg: CTL_MTA_SHOW_*; RECORDs until END */
	CTL_RESUME_ROUTE,           /* id: the relay's id, arg: the route's number
	                             * (1..CTL_ROUTE_MAX), as show routes prints
	                             * them; OK id=1, or FAIL when none has it */
	CTL_DISCOVER,               /* arg: CTL_SEL_MSGID or CTL_SEL_EVPID */
	CTL_TRACE,                  /* arg: CTL_TRACE_* bits turned on */
	CTL_UNTRACE,                /* arg: bits turned off */
	CTL_PROFILE,                /* arg: CTL_PROFILE_* bits turned on */
	CTL_UNPROFILE,
	CTL_MTA_BLOCK,              /* str[0]: source address, str[1]: domain */
	CTL_MTA_UNBLOCK,
	CTL_SHOW_MTA_BLOCK,         /* RECORDs until END */
	CTL_SHOW_HOSTSTATS,         /* RECORDs until END */
	CTL_REQUEST_LAST = CTL_SHOW_HOSTSTATS,

	CTL_OK = 100,
	CTL_FAIL,
	CTL_RECORD,
	CTL_END,
};

/* SCHEDULE/REMOVE selectors (arg) */
enum ctl_selector {
	CTL_SEL_ALL = 0,
	CTL_SEL_MSGID = 1,    /* id holds a message id (8 hex digits) */
	CTL_SEL_EVPID = 2,    /* id holds an envelope id (16 hex digits) */
};

/* PAUSE/RESUME agents (arg) */
enum ctl_agent {
	CTL_AGENT_MDA = 1,
	CTL_AGENT_MTA = 2,
	CTL_AGENT_SMTP = 3,
};

/* trace SUBSYSTEM (OpenSMTPD's names): extra log lines per subsystem. */
#define CTL_TRACE_IMSG      0x001u   /* control requests */
#define CTL_TRACE_IO        0x002u   /* reserved: no lines yet */
#define CTL_TRACE_SMTP      0x004u   /* the SMTP dialogue of sessions */
#define CTL_TRACE_FILTERS   0x008u   /* filter decisions */
#define CTL_TRACE_TRANSFER  0x010u   /* the relay dialogue ("mta" too) */
#define CTL_TRACE_BOUNCE    0x020u   /* reports made */
#define CTL_TRACE_SCHEDULER 0x040u   /* attempts started and rescheduled */
#define CTL_TRACE_EXPAND    0x080u   /* a recipient's expansion */
#define CTL_TRACE_LOOKUP    0x100u   /* DNS answers */
#define CTL_TRACE_STAT      0x200u   /* reserved: no lines yet */
#define CTL_TRACE_RULES     0x400u   /* which match line decided */
#define CTL_TRACE_MPROC     0x800u   /* reserved: no lines yet */
#define CTL_TRACE_ALL       0xfffu
/* profile SUBSYSTEM */
#define CTL_PROFILE_IMSG    0x1u     /* time of each control request */
#define CTL_PROFILE_QUEUE   0x2u     /* time of queue operations */
#define CTL_PROFILE_ALL     0x3u
/* A trace or profile word to its bits ("all" is every one); 0 when
 * unknown. */
uint32_t ctl_trace_parse(const char *word);
uint32_t ctl_profile_parse(const char *word);
/* The word of one trace bit ("smtp"), for log lines; "?" if none. */
const char *ctl_trace_name(uint32_t bit);

/* Decode errors, returned negated */
/* show routes | hosts | relays: what CTL_SHOW_ROUTES lists. */
#define CTL_ROUTE_MAX 32   /* routes of a relay (core/dns.h DNS_ADDRS_MAX) */
enum {
	CTL_MTA_SHOW_ROUTES = 0,
	CTL_MTA_SHOW_HOSTS = 1,
	CTL_MTA_SHOW_RELAYS = 2,
};

#define CTL_EMALFORMED 1   /* structure: lengths, reserved bits, trailing bytes */
#define CTL_EVERSION 2     /* another protocol version */
#define CTL_ETOOBIG 3      /* a limit above was exceeded */

struct ctl_str {
	const char *p;     /* into the decoded buffer, not NUL-terminated */
	uint32_t len;
};

/* One decoded frame. Strings and blob point into the caller's buffer and
 * live as long as it does. */
struct ctl_msg {
	uint8_t type;
	uint64_t id;
	uint32_t arg;
	unsigned nstr;
	struct ctl_str str[CTL_STRINGS_MAX];
	const uint8_t *blob;
	uint32_t blob_len;
};

/* A growing output buffer. err is set (and sticks) when memory ran out. */
struct ctl_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

/* Look at buf[0..len): 0 when the frame is not complete yet (*need holds
 * how many bytes it has in total once the length is known, else the header
 * size), 1 with *m filled and *used the frame's size, or -CTL_E* when it
 * is malformed (the connection cannot be resynchronised). */
int ctl_decode(const uint8_t *buf, size_t len, struct ctl_msg *m, size_t *used,
               size_t *need);
/* Check a decoded frame against what its type may carry. Returns 0, or
 * -CTL_EMALFORMED with a short reason in *why. */
int ctl_check(const struct ctl_msg *m, const char **why);
/* Append one frame to b. strs may be NULL when nstr is 0. Returns 0, or
 * -CTL_ETOOBIG (nothing appended) / -ENOMEM (b->err set). */
int ctl_encode(struct ctl_buf *b, uint8_t type, uint64_t id, uint32_t arg,
               const char *const *strs, unsigned nstr, const void *blob,
               size_t blob_len);
/* Append n bytes (frames another buffer holds) to b. Returns 0 or -ENOMEM
 * (b->err set). */
int ctl_buf_append(struct ctl_buf *b, const void *p, size_t n);
/* Free b's memory and empty it. */
void ctl_buf_free(struct ctl_buf *b);
/* Drop the first n bytes of b (they were sent). */
void ctl_buf_consume(struct ctl_buf *b, size_t n);
/* Copy string i of m into out (NUL-terminated). Returns 0, or -1 when it
 * is missing or does not fit. */
int ctl_str_copy(const struct ctl_msg *m, unsigned i, char *out, size_t cap);
/* The name of a type for log lines ("show-queue", "unknown"). */
const char *ctl_type_name(uint8_t type);

/* The DSN fields of MAIL and RCPT frames. RET: "" none, FULL, HDRS (any
 * case); NOTIFY bits in RFC 3461's order, as queue/ and proto/ have them. */
#define CTL_DSN_RET_NONE 0
#define CTL_DSN_RET_FULL 1
#define CTL_DSN_RET_HDRS 2
#define CTL_DSN_NOTIFY_NEVER   0x1u
#define CTL_DSN_NOTIFY_SUCCESS 0x2u
#define CTL_DSN_NOTIFY_FAILURE 0x4u
#define CTL_DSN_NOTIFY_DELAY   0x8u
#define CTL_DSN_ENVID_BYTES_MAX 101    /* RFC 3461 4.4: 100 octets, and the NUL */
/* RET text to CTL_DSN_RET_*, or -1. */
int ctl_dsn_ret_parse(const char *s);
const char *ctl_dsn_ret_text(int ret);
/* NOTIFY text ("" is 0; NEVER alone, or each other word once) to bits; 0 or -1. */
int ctl_dsn_notify_parse(const char *s, unsigned *bits);
void ctl_dsn_notify_text(unsigned bits, char *out, size_t cap);
/* 1 if s is printable ASCII (an ENVID or ORCPT as decoded) shorter than max. */
int ctl_dsn_text_ok(const char *s, size_t max);

#endif
