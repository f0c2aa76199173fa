/*
 * queue/envelope_codec.c - the stored form of a struct queue_envelope:
 * binary, versioned, length-prefixed, big-endian. Version 1:
 *
 *   u8  version (QUEUE_ENVELOPE_VERSION)
 *   u64 id, u64 created, u64 expire, u64 next_attempt, u32 retries,
 *   u64 body_size
 *   then sender, rcpt, dest, action, helo, client, last_error, each as
 *   u16 length + bytes (no NUL; length < the field's size)
 *
 * There is exactly one encoding of an envelope, so decode accepts only what
 * encode produces: decode(buf) == 0 implies encode(env) == buf. Decode checks
 * every length against the field and the buffer end and rejects an unknown
 * version, an envelope id whose message id is 0, embedded NULs, truncated
 * input and trailing bytes.
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

static const struct codec_str codec_strs[] = {
	CODEC_STR(sender), CODEC_STR(rcpt), CODEC_STR(dest), CODEC_STR(action),
	CODEC_STR(helo), CODEC_STR(client), CODEC_STR(last_error),
};

#define CODEC_STRS (sizeof(codec_strs) / sizeof(codec_strs[0]))

_Static_assert(CODEC_FIXED_BYTES + 2 * 7 + (QUEUE_ADDR_BYTES_MAX - 1) * 3 +
               (QUEUE_NAME_BYTES_MAX - 1) + (QUEUE_HOST_BYTES_MAX - 1) * 2 +
               (QUEUE_ERROR_BYTES_MAX - 1) <= QUEUE_ENVELOPE_BYTES_MAX,
               "QUEUE_ENVELOPE_BYTES_MAX too small for the largest envelope");
_Static_assert(QUEUE_ADDR_BYTES_MAX <= 65536 && QUEUE_HOST_BYTES_MAX <= 65536 &&
               QUEUE_ERROR_BYTES_MAX <= 65536, "string lengths are u16");

/* Encode env into buf; call before storing an envelope. Returns the length
 * written, or 0 when cap is too small, a string field is not NUL-terminated
 * within its size, or the id has no message id. */
size_t
queue_envelope_encode(const struct queue_envelope *env, uint8_t *buf, size_t cap)
{
	size_t lens[CODEC_STRS];
	size_t need = CODEC_FIXED_BYTES;

	if (env->id >> 32 == 0)
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
	for (size_t i = 0; i < CODEC_STRS; i++) {
		p[0] = lens[i] >> 8;
		p[1] = lens[i] & 0xff;
		memcpy(p + 2, (const char *)env + codec_strs[i].offset, lens[i]);
		p += 2 + lens[i];
	}
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
	if (len < CODEC_FIXED_BYTES || buf[0] != QUEUE_ENVELOPE_VERSION)
		return -EINVAL;
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
