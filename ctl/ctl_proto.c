/*
 * ctl/ctl_proto.c - encoding and decoding of control-protocol frames:
 * structure checks, per-type checks, and the growing output buffer. See
 * ctl/ctl_proto.h for the frame layout.
 */
#include "ctl/ctl_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Read a big-endian u16/u32/u64. */
static uint32_t
ctl_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read a big-endian u64 at p. */
static uint64_t
ctl_get64(const uint8_t *p)
{
	return (uint64_t)ctl_get32(p) << 32 | ctl_get32(p + 4);
}

/* Write a big-endian u32 at p. */
static void
ctl_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* Decode the strings and blob of a frame body [p, end). Returns 0 or
 * -CTL_E*. */
static int
ctl_decode_body(const uint8_t *p, const uint8_t *end, struct ctl_msg *m)
{
	for (unsigned i = 0; i < m->nstr; i++) {
		if (end - p < 4)
			return -CTL_EMALFORMED;
		uint32_t len = ctl_get32(p);
		p += 4;
		if (len > CTL_STR_BYTES_MAX)
			return -CTL_ETOOBIG;
		if ((size_t)(end - p) < len)
			return -CTL_EMALFORMED;
		if (memchr(p, '\0', len) != NULL)
			return -CTL_EMALFORMED;
		m->str[i].p = (const char *)p;
		m->str[i].len = len;
		p += len;
	}
	if (end - p < 4)
		return -CTL_EMALFORMED;
	m->blob_len = ctl_get32(p);
	p += 4;
	if (m->blob_len > CTL_BLOB_BYTES_MAX)
		return -CTL_ETOOBIG;
	if ((size_t)(end - p) != m->blob_len)
		return -CTL_EMALFORMED;   /* short, or trailing bytes */
	m->blob = m->blob_len ? p : NULL;
	return 0;
}

/* Decode one frame from the front of buf (see ctl/ctl_proto.h). */
int
ctl_decode(const uint8_t *buf, size_t len, struct ctl_msg *m, size_t *used, size_t *need)
{
	*need = CTL_HEADER_BYTES;
	if (len < 4)
		return 0;
	uint32_t frame_len = ctl_get32(buf);
	if (frame_len > CTL_FRAME_BYTES_MAX)
		return -CTL_ETOOBIG;
	if (frame_len < CTL_HEADER_BYTES - 4 + 4)
		return -CTL_EMALFORMED;   /* no room for the header and blob length */
	*need = (size_t)frame_len + 4;
	if (len >= 5 && buf[4] != CTL_PROTO_VERSION)
		return -CTL_EVERSION;
	if (len < *need)
		return 0;
	if (buf[6] != 0 || buf[7] != 0)
		return -CTL_EMALFORMED;
	m->type = buf[5];
	m->id = ctl_get64(buf + 8);
	m->arg = ctl_get32(buf + 16);
	m->nstr = (unsigned)buf[20] << 8 | buf[21];
	if (m->nstr > CTL_STRINGS_MAX)
		return -CTL_ETOOBIG;
	int err = ctl_decode_body(buf + CTL_HEADER_BYTES, buf + *need, m);
	if (err < 0)
		return err;
	*used = *need;
	return 1;
}

/* What each request type carries: exact string count, blob allowed, the
 * largest arg. Replies are checked by shape only. */
struct ctl_rule {
	int nstr;           /* -1: any (replies) */
	int blob;
	uint32_t arg_max;
};

static const struct ctl_rule ctl_rules[CTL_REQUEST_LAST + 1] = {
	[CTL_SHOW_QUEUE]    = { 0, 0, 0 },
	[CTL_SHOW_ENVELOPE] = { 0, 0, 0 },
	[CTL_SHOW_STATS]    = { 0, 0, 0 },
	[CTL_SHOW_STATUS]   = { 0, 0, 0 },
	[CTL_SCHEDULE]      = { 0, 0, CTL_SEL_EVPID },
	[CTL_REMOVE]        = { 0, 0, CTL_SEL_EVPID },
	[CTL_PAUSE]         = { 0, 0, CTL_AGENT_SMTP },
	[CTL_RESUME]        = { 0, 0, CTL_AGENT_SMTP },
	[CTL_RELOAD]        = { 0, 0, 0 },
	[CTL_LOG_VERBOSE]   = { 0, 0, 1 },
	[CTL_MAIL]          = { 1, 0, 0 },
	[CTL_RCPT]          = { 1, 0, 0 },
	[CTL_DATA]          = { 0, 1, 0 },
	[CTL_DATA_END]      = { 0, 0, 0 },
	[CTL_UPDATE_TABLE]  = { 1, 0, 0 },
	[CTL_SHOW_MESSAGE]  = { 0, 0, 0 },
	[CTL_UPDATE_GEOIP]  = { 0, 0, 0 },
	[CTL_PAUSE_ENVELOPE]  = { 0, 0, CTL_SEL_EVPID },
	[CTL_RESUME_ENVELOPE] = { 0, 0, CTL_SEL_EVPID },
	[CTL_SHOW_ROUTES]   = { 0, 0, CTL_MTA_SHOW_RELAYS },
	[CTL_RESUME_ROUTE]  = { 0, 0, CTL_ROUTE_MAX },
	[CTL_DISCOVER]      = { 0, 0, CTL_SEL_EVPID },
	[CTL_TRACE]         = { 0, 0, CTL_TRACE_ALL },
	[CTL_UNTRACE]       = { 0, 0, CTL_TRACE_ALL },
	[CTL_PROFILE]       = { 0, 0, CTL_PROFILE_ALL },
	[CTL_UNPROFILE]     = { 0, 0, CTL_PROFILE_ALL },
	[CTL_MTA_BLOCK]     = { 2, 0, 0 },
	[CTL_MTA_UNBLOCK]   = { 2, 0, 0 },
	[CTL_SHOW_MTA_BLOCK] = { 0, 0, 0 },
	[CTL_SHOW_HOSTSTATS] = { 0, 0, 0 },
};

/* After ctl_decode(): does the frame carry what its type allows? */
int
ctl_check(const struct ctl_msg *m, const char **why)
{
	if (m->type >= CTL_OK && m->type <= CTL_END) {
		if (m->type == CTL_RECORD && m->nstr % 2 != 0) {
			*why = "record with an odd number of strings";
			return -CTL_EMALFORMED;
		}
		if (m->blob_len != 0 && !(m->type == CTL_RECORD && m->nstr == 0)) {
			*why = "reply with a blob";   /* only show message's chunks carry one */
			return -CTL_EMALFORMED;
		}
		return 0;
	}
	if (m->type == 0 || m->type > CTL_REQUEST_LAST) {
		*why = "unknown request type";
		return -CTL_EMALFORMED;
	}
	const struct ctl_rule *r = &ctl_rules[m->type];
	int dsn_fields = (m->type == CTL_MAIL || m->type == CTL_RCPT) && m->nstr == 3;
	if ((int)m->nstr != r->nstr && !dsn_fields) {
		*why = "wrong number of strings";
		return -CTL_EMALFORMED;
	}
	if (!r->blob && m->blob_len != 0) {
		*why = "unexpected blob";
		return -CTL_EMALFORMED;
	}
	if (m->arg > r->arg_max) {
		*why = "argument out of range";
		return -CTL_EMALFORMED;
	}
	if ((m->type == CTL_SCHEDULE || m->type == CTL_REMOVE || m->type == CTL_PAUSE_ENVELOPE ||
	     m->type == CTL_RESUME_ENVELOPE) &&
	    ((m->arg == CTL_SEL_ALL) != (m->id == 0) ||
	     (m->arg == CTL_SEL_MSGID && m->id > UINT32_MAX))) {
		*why = "selector does not match the id";
		return -CTL_EMALFORMED;
	}
	if (m->type == CTL_DISCOVER && (m->arg == CTL_SEL_ALL || m->id == 0 ||
	                                (m->arg == CTL_SEL_MSGID && m->id > UINT32_MAX))) {
		*why = "discover needs a message or envelope id";
		return -CTL_EMALFORMED;
	}
	if ((m->type == CTL_TRACE || m->type == CTL_UNTRACE || m->type == CTL_PROFILE ||
	     m->type == CTL_UNPROFILE) && m->arg == 0) {
		*why = "no subsystem";
		return -CTL_EMALFORMED;
	}
	if ((m->type == CTL_PAUSE || m->type == CTL_RESUME) && m->arg == 0) {
		*why = "no agent";
		return -CTL_EMALFORMED;
	}
	if ((m->type == CTL_SHOW_ENVELOPE || m->type == CTL_SHOW_MESSAGE) && m->id == 0) {
		*why = "no envelope id";
		return -CTL_EMALFORMED;
	}
	return 0;
}

/* Make room for n more bytes. Returns 0 or -ENOMEM (b->err set). */
static int
ctl_buf_reserve(struct ctl_buf *b, size_t n)
{
	if (b->err)
		return -ENOMEM;
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL) {
		b->err = ENOMEM;
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Append n bytes (frames encoded elsewhere) to b. */
int
ctl_buf_append(struct ctl_buf *b, const void *p, size_t n)
{
	if (ctl_buf_reserve(b, n) < 0)
		return -ENOMEM;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Append one frame to b (see ctl/ctl_proto.h). */
int
ctl_encode(struct ctl_buf *b, uint8_t type, uint64_t id, uint32_t arg,
           const char *const *strs, unsigned nstr, const void *blob, size_t blob_len)
{
	size_t body = CTL_HEADER_BYTES - 4 + 4 + blob_len;
	if (nstr > CTL_STRINGS_MAX || blob_len > CTL_BLOB_BYTES_MAX)
		return -CTL_ETOOBIG;
	for (unsigned i = 0; i < nstr; i++) {
		size_t l = strlen(strs[i]);
		if (l > CTL_STR_BYTES_MAX)
			return -CTL_ETOOBIG;
		body += 4 + l;
	}
	if (body > CTL_FRAME_BYTES_MAX)
		return -CTL_ETOOBIG;
	if (ctl_buf_reserve(b, body + 4) < 0)
		return -ENOMEM;
	uint8_t *p = b->p + b->len;
	ctl_put32(p, (uint32_t)body);
	p[4] = CTL_PROTO_VERSION;
	p[5] = type;
	p[6] = p[7] = 0;
	ctl_put32(p + 8, (uint32_t)(id >> 32));
	ctl_put32(p + 12, (uint32_t)id);
	ctl_put32(p + 16, arg);
	p[20] = (uint8_t)(nstr >> 8);
	p[21] = (uint8_t)nstr;
	p += CTL_HEADER_BYTES;
	for (unsigned i = 0; i < nstr; i++) {
		size_t l = strlen(strs[i]);
		ctl_put32(p, (uint32_t)l);
		memcpy(p + 4, strs[i], l);
		p += 4 + l;
	}
	ctl_put32(p, (uint32_t)blob_len);
	if (blob_len)
		memcpy(p + 4, blob, blob_len);
	b->len += body + 4;
	return 0;
}

/* Release b's memory; b is empty and reusable afterwards. */
void
ctl_buf_free(struct ctl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* After a send: drop the n bytes that went out. */
void
ctl_buf_consume(struct ctl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Copy string i out of a decoded frame, NUL-terminated. */
int
ctl_str_copy(const struct ctl_msg *m, unsigned i, char *out, size_t cap)
{
	if (i >= m->nstr || m->str[i].len >= cap)
		return -1;
	memcpy(out, m->str[i].p, m->str[i].len);
	out[m->str[i].len] = '\0';
	return 0;
}

/* For log lines: the name of a frame type. */
const char *
ctl_type_name(uint8_t type)
{
	static const char *const names[] = {
		[CTL_SHOW_QUEUE] = "show-queue", [CTL_SHOW_ENVELOPE] = "show-envelope",
		[CTL_SHOW_STATS] = "show-stats", [CTL_SHOW_STATUS] = "show-status",
		[CTL_SCHEDULE] = "schedule", [CTL_REMOVE] = "remove",
		[CTL_PAUSE] = "pause", [CTL_RESUME] = "resume", [CTL_RELOAD] = "reload",
		[CTL_LOG_VERBOSE] = "log", [CTL_MAIL] = "mail", [CTL_RCPT] = "rcpt",
		[CTL_DATA] = "data", [CTL_DATA_END] = "data-end",
		[CTL_UPDATE_TABLE] = "update-table", [CTL_SHOW_MESSAGE] = "show-message",
		[CTL_UPDATE_GEOIP] = "update-geoip", [CTL_PAUSE_ENVELOPE] = "pause-envelope",
		[CTL_RESUME_ENVELOPE] = "resume-envelope", [CTL_SHOW_ROUTES] = "show-routes",
		[CTL_RESUME_ROUTE] = "resume-route", [CTL_DISCOVER] = "discover",
		[CTL_TRACE] = "trace", [CTL_UNTRACE] = "untrace", [CTL_PROFILE] = "profile",
		[CTL_UNPROFILE] = "unprofile", [CTL_MTA_BLOCK] = "pause-mta-from",
		[CTL_MTA_UNBLOCK] = "resume-mta-from", [CTL_SHOW_MTA_BLOCK] = "show-mta-paused",
		[CTL_SHOW_HOSTSTATS] = "show-hoststats",
	};
	if (type <= CTL_REQUEST_LAST && names[type] != NULL)
		return names[type];
	switch (type) {
	case CTL_OK: return "ok";
	case CTL_FAIL: return "fail";
	case CTL_RECORD: return "record";
	case CTL_END: return "end";
	}
	return "unknown";
}

static const struct {
	const char *word;
	uint32_t bits;
} ctl_trace_words[] = {
	{ "imsg", CTL_TRACE_IMSG }, { "io", CTL_TRACE_IO }, { "smtp", CTL_TRACE_SMTP },
	{ "filters", CTL_TRACE_FILTERS }, { "transfer", CTL_TRACE_TRANSFER },
	{ "mta", CTL_TRACE_TRANSFER }, { "bounce", CTL_TRACE_BOUNCE },
	{ "scheduler", CTL_TRACE_SCHEDULER }, { "expand", CTL_TRACE_EXPAND },
	{ "lookup", CTL_TRACE_LOOKUP }, { "stat", CTL_TRACE_STAT }, { "rules", CTL_TRACE_RULES },
	{ "mproc", CTL_TRACE_MPROC }, { "all", CTL_TRACE_ALL },
}, ctl_profile_words[] = {
	{ "imsg", CTL_PROFILE_IMSG }, { "queue", CTL_PROFILE_QUEUE },
};

uint32_t
ctl_trace_parse(const char *word)
{
	for (size_t i = 0; i < sizeof ctl_trace_words / sizeof ctl_trace_words[0]; i++)
		if (strcmp(word, ctl_trace_words[i].word) == 0)
			return ctl_trace_words[i].bits;
	return 0;
}

uint32_t
ctl_profile_parse(const char *word)
{
	for (size_t i = 0; i < sizeof ctl_profile_words / sizeof ctl_profile_words[0]; i++)
		if (strcmp(word, ctl_profile_words[i].word) == 0)
			return ctl_profile_words[i].bits;
	return 0;
}

const char *
ctl_trace_name(uint32_t bit)
{
	for (size_t i = 0; i < sizeof ctl_trace_words / sizeof ctl_trace_words[0]; i++)
		if (ctl_trace_words[i].bits == bit)
			return ctl_trace_words[i].word;
	return "?";
}

/* See ctl_proto.h. */
int
ctl_dsn_ret_parse(const char *s)
{
	return s[0] == '\0' ? CTL_DSN_RET_NONE : strcasecmp(s, "FULL") == 0 ? CTL_DSN_RET_FULL :
	       strcasecmp(s, "HDRS") == 0 ? CTL_DSN_RET_HDRS : -1;
}

const char *
ctl_dsn_ret_text(int ret)
{
	return ret == CTL_DSN_RET_FULL ? "FULL" : ret == CTL_DSN_RET_HDRS ? "HDRS" : "";
}

static const char *const ctl_notify_words[] = { "NEVER", "SUCCESS", "FAILURE", "DELAY" };

int
ctl_dsn_notify_parse(const char *s, unsigned *bits)
{
	*bits = 0;
	while (*s != '\0') {
		size_t n = strcspn(s, ",");
		unsigned bit = 0;
		for (unsigned i = 0; i < 4; i++)
			if (n == strlen(ctl_notify_words[i]) && strncasecmp(s, ctl_notify_words[i], n) == 0)
				bit = 1u << i;
		if (bit == 0 || (*bits & bit))
			return -1;
		*bits |= bit;
		s += n;
		if (*s == ',' && *++s == '\0')
			return -1;
	}
	return (*bits & CTL_DSN_NOTIFY_NEVER) && *bits != CTL_DSN_NOTIFY_NEVER ? -1 : 0;
}

void
ctl_dsn_notify_text(unsigned bits, char *out, size_t cap)
{
	size_t n = 0;
	if (cap == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if (bits & (1u << i))
			n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "",
			                      ctl_notify_words[i]);
}

int
ctl_dsn_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n >= max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}
