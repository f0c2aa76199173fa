/*
 * queue/envelope_codec.c - the stored form of a struct queue_envelope:
 * binary, versioned, length-prefixed, big-endian. Version 3:
 *
 *   u8  version (QUEUE_ENVELOPE_VERSION)
 *   u64 id, u64 created, u64 expire, u64 next_attempt, u32 retries,
 *   u64 body_size
 *   then sender, rcpt, dest, action, helo, client, last_error, each as
 *   u16 length + bytes (no NUL; length < the field's size)
 *   then u8 flags (bits 0-1 body, 2-3 dsn_ret, 4 smtputf8, 5-7 dsn_warned
 *   0..QUEUE_DSN_WARNED_MAX), u8 dsn_notify (bits 0-3) with bit 4 for
 *   postmaster_copy and bit 5 for paused, and dsn_envid, dsn_orcpt as
 *   strings above.
 *   then u8 mda_kind (QUEUE_MDA_*), and mda_user, mda_exec as strings.
 *
 * Version 2 (before alias expansion kept how a delivery runs) ends after
 * dsn_orcpt; it decodes with mda_kind 0 and the two strings empty.
 * Version 1 (written before the MAIL/RCPT parameters were kept) is the
 * same without the part after last_error; it still decodes, with those
 * fields zero. Both are written back as version 3.
 *
 * There is exactly one encoding of an envelope, so decode accepts only what
 * encode produces (for version 2: decode(buf) == 0 implies encode(env) ==
 * buf). Decode checks every length against the field and the buffer end and
 * rejects an unknown version, an envelope id whose message id is 0, embedded
 * NULs, unknown NOTIFY bits, flag values out of range (BODY 3, RET 3,
 * dsn_warned above QUEUE_DSN_WARNED_MAX), truncated input and trailing
 * bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "queue/queue.h"
#include "queue/store.h"

#define CODEC_FIXED_BYTES (1 + 8 * 5 + 4)

struct codec_str {
	size_t offset;
	size_t size;  /* the field's size in the struct, NUL included */
};

#define CODEC_STR(f) { offsetof(struct queue_envelope, f), \
                       sizeof(((struct queue_envelope *)0)->f) }

/* version 1's strings come first; version 2 adds two, version 3 two more */
static const struct codec_str codec_strs[] = {
	CODEC_STR(sender), CODEC_STR(rcpt), CODEC_STR(dest), CODEC_STR(action),
	CODEC_STR(helo), CODEC_STR(client), CODEC_STR(last_error),
	CODEC_STR(dsn_envid), CODEC_STR(dsn_orcpt),
	CODEC_STR(mda_user), CODEC_STR(mda_exec),
};

#define CODEC_STRS (sizeof(codec_strs) / sizeof(codec_strs[0]))
#define CODEC_STRS_V1 7
#define CODEC_STRS_V2 9
#define CODEC_V2_BYTES 2   /* flags, dsn_notify */
#define CODEC_V3_BYTES 1   /* mda_kind */

#define CODEC_FLAG_BODY_MASK   0x03u
#define CODEC_FLAG_RET_SHIFT   2
#define CODEC_FLAG_RET_MASK    0x0cu
#define CODEC_FLAG_SMTPUTF8    0x10u
#define CODEC_FLAG_WARNED_SHIFT 5
#define CODEC_FLAG_WARNED_MASK 0xe0u
#define CODEC_NOTIFY_MASK      0x0fu
#define CODEC_POSTMASTER_COPY  0x10u   /* in the dsn_notify octet */
#define CODEC_PAUSED           0x20u   /* in the dsn_notify octet */

_Static_assert(CODEC_FIXED_BYTES + 2 * CODEC_STRS + (QUEUE_ADDR_BYTES_MAX - 1) * 3 +
               (QUEUE_NAME_BYTES_MAX - 1) + (QUEUE_HOST_BYTES_MAX - 1) * 2 +
               (QUEUE_ERROR_BYTES_MAX - 1) + CODEC_V2_BYTES + (QUEUE_ENVID_BYTES_MAX - 1) +
               (QUEUE_ORCPT_BYTES_MAX - 1) + CODEC_V3_BYTES + (QUEUE_USER_BYTES_MAX - 1) +
               (QUEUE_EXEC_BYTES_MAX - 1) <= QUEUE_ENVELOPE_BYTES_MAX,
               "QUEUE_ENVELOPE_BYTES_MAX too small for the largest envelope");
_Static_assert(QUEUE_DSN_WARNED_MAX <= CODEC_FLAG_WARNED_MASK >> CODEC_FLAG_WARNED_SHIFT,
               "dsn_warned must fit bits 5-7 of the flags octet");
_Static_assert(QUEUE_ADDR_BYTES_MAX <= 65536 && QUEUE_HOST_BYTES_MAX <= 65536 &&
               QUEUE_ERROR_BYTES_MAX <= 65536 && QUEUE_ORCPT_BYTES_MAX <= 65536,
               "string lengths are u16");

/* The flags octet of env, or -1 when a value does not fit its bits. */
static int
codec_flags(const struct queue_envelope *env)
{
	if (env->body > QUEUE_BODY_BINARYMIME || env->dsn_ret > QUEUE_DSN_RET_HDRS ||
	    env->smtputf8 > 1 || (env->dsn_notify & ~CODEC_NOTIFY_MASK) != 0 ||
	    env->dsn_warned > QUEUE_DSN_WARNED_MAX || env->postmaster_copy > 1 || env->paused > 1 ||
	    env->mda_kind > QUEUE_MDA_COMMAND)
		return -1;
	return env->body | env->dsn_ret << CODEC_FLAG_RET_SHIFT |
	       (env->smtputf8 ? CODEC_FLAG_SMTPUTF8 : 0) |
	       env->dsn_warned << CODEC_FLAG_WARNED_SHIFT;
}

/* Encode one string field as u16 length + bytes; returns the end. */
static uint8_t *
codec_str_encode(uint8_t *p, const struct queue_envelope *env, size_t i, size_t len)
{
	p[0] = (uint8_t)(len >> 8);
	p[1] = len & 0xff;
	memcpy(p + 2, (const char *)env + codec_strs[i].offset, len);
	return p + 2 + len;
}

/* Encode env into buf; call before storing an envelope. Returns the length
 * written, or 0 when cap is too small, a string field is not NUL-terminated
 * within its size, a parameter value is out of range, or the id has no
 * message id. */
size_t
queue_envelope_encode(const struct queue_envelope *env, uint8_t *buf, size_t cap)
{
	size_t lens[CODEC_STRS];
	size_t need = CODEC_FIXED_BYTES + CODEC_V2_BYTES + CODEC_V3_BYTES;
	int flags = codec_flags(env);

	if (env->id >> 32 == 0 || flags < 0)
		return 0;
	for (size_t i = 0; i < CODEC_STRS; i++) {
		const char *s = (const char *)env + codec_strs[i].offset;
		lens[i] = strnlen(s, codec_strs[i].size);
		if (lens[i] == codec_strs[i].size)
			return 0;
		need += 2 + lens[i];
	}
	if (need > cap)
		return 0;
	uint8_t *p = buf;
	*p++ = QUEUE_ENVELOPE_VERSION;
	queue_be64_put(p, env->id); p += 8;
	queue_be64_put(p, env->created); p += 8;
	queue_be64_put(p, env->expire); p += 8;
	queue_be64_put(p, env->next_attempt); p += 8;
	queue_be32_put(p, env->retries); p += 4;
	queue_be64_put(p, env->body_size); p += 8;
	for (size_t i = 0; i < CODEC_STRS_V1; i++)
		p = codec_str_encode(p, env, i, lens[i]);
	*p++ = (uint8_t)flags;
	*p++ = (uint8_t)(env->dsn_notify | (env->postmaster_copy ? CODEC_POSTMASTER_COPY : 0) |
	                 (env->paused ? CODEC_PAUSED : 0));
	for (size_t i = CODEC_STRS_V1; i < CODEC_STRS_V2; i++)
		p = codec_str_encode(p, env, i, lens[i]);
	*p++ = env->mda_kind;
	for (size_t i = CODEC_STRS_V2; i < CODEC_STRS; i++)
		p = codec_str_encode(p, env, i, lens[i]);
	return (size_t)(p - buf);
}

/* Decode one length-prefixed string into its field; returns the bytes used
 * or 0 when it does not fit the field or the buffer or holds a NUL. */
static size_t
codec_str_decode(char *field, size_t size, const uint8_t *p, size_t left)
{
	if (left < 2)
		return 0;
	size_t len = (size_t)p[0] << 8 | p[1];
	if (len >= size || len > left - 2 || memchr(p + 2, '\0', len) != NULL)
		return 0;
	memcpy(field, p + 2, len);
	field[len] = '\0';
	return 2 + len;
}

/* Decode a stored record into *env (zeroed first); call on every record read
 * from the store. Returns 0, or -EINVAL for anything encode would not have
 * produced. */
int
queue_envelope_decode(struct queue_envelope *env, const uint8_t *buf, size_t len)
{
	memset(env, 0, sizeof(*env));
	if (len < CODEC_FIXED_BYTES || buf[0] < 1 || buf[0] > QUEUE_ENVELOPE_VERSION)
		return -EINVAL;
	int v1 = buf[0] == 1, v2 = buf[0] == 2;
	const uint8_t *p = buf + 1;
	env->id = queue_be64_get(p); p += 8;
	env->created = queue_be64_get(p); p += 8;
	env->expire = queue_be64_get(p); p += 8;
	env->next_attempt = queue_be64_get(p); p += 8;
	env->retries = queue_be32_get(p); p += 4;
	env->body_size = queue_be64_get(p); p += 8;
	if (env->id >> 32 == 0)
		goto bad;
	for (size_t i = 0; i < CODEC_STRS; i++) {
		if (i == CODEC_STRS_V1) {
			if (v1)
				break;
			if (len - (size_t)(p - buf) < CODEC_V2_BYTES ||
			    (p[0] & CODEC_FLAG_BODY_MASK) > QUEUE_BODY_BINARYMIME ||
			    (p[0] & CODEC_FLAG_RET_MASK) >> CODEC_FLAG_RET_SHIFT > QUEUE_DSN_RET_HDRS ||
			    (p[0] & CODEC_FLAG_WARNED_MASK) >> CODEC_FLAG_WARNED_SHIFT >
			    QUEUE_DSN_WARNED_MAX ||
			    (p[1] & ~(CODEC_NOTIFY_MASK | CODEC_POSTMASTER_COPY | CODEC_PAUSED)))
				goto bad;
			env->body = p[0] & CODEC_FLAG_BODY_MASK;
			env->dsn_ret = (p[0] & CODEC_FLAG_RET_MASK) >> CODEC_FLAG_RET_SHIFT;
			env->smtputf8 = (p[0] & CODEC_FLAG_SMTPUTF8) != 0;
			env->dsn_warned = (uint8_t)((p[0] & CODEC_FLAG_WARNED_MASK) >>
			                            CODEC_FLAG_WARNED_SHIFT);
			env->dsn_notify = p[1] & CODEC_NOTIFY_MASK;
			env->postmaster_copy = (p[1] & CODEC_POSTMASTER_COPY) != 0;
			env->paused = (p[1] & CODEC_PAUSED) != 0;
			p += CODEC_V2_BYTES;
		}
		if (i == CODEC_STRS_V2) {
			if (v2)
				break;
			if (len - (size_t)(p - buf) < CODEC_V3_BYTES || p[0] > QUEUE_MDA_COMMAND)
				goto bad;
			env->mda_kind = p[0];
			p += CODEC_V3_BYTES;
		}
		size_t used = codec_str_decode((char *)env + codec_strs[i].offset,
		                               codec_strs[i].size, p,
		                               len - (size_t)(p - buf));
		if (used == 0)
			goto bad;
		p += used;
	}
	if ((size_t)(p - buf) != len)
		goto bad;
	return 0;
bad:
	memset(env, 0, sizeof(*env));
	return -EINVAL;
}
