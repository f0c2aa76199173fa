/*
 * queue/random.c - random bytes for message ids, envelope ids and chunk
 * nonces: getrandom(2) output handed out from a per-thread pool, so that a
 * message costs a fraction of a system call instead of three. Every byte is
 * handed out once; a forked child starts with an empty pool, so parent and
 * child never share bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "queue/queue_int.h"

#define RANDOM_POOL_BYTES 512

static __thread struct {
	size_t left;                 /* unused bytes at the end of bytes[] */
	uint8_t bytes[RANDOM_POOL_BYTES];
} random_pool;

static pthread_once_t random_atfork_once = PTHREAD_ONCE_INIT;

/* In a forked child: forget the bytes the parent may still hand out. */
static void
random_forget(void)
{
	explicit_bzero(random_pool.bytes, sizeof random_pool.bytes);
	random_pool.left = 0;
}

static void
random_atfork_register(void)
{
	pthread_atfork(NULL, NULL, random_forget);
}

/* Fill buf with len bytes from the kernel's generator; aborts when it
 * cannot (it always can once the system has booted). */
static void
random_from_kernel(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("queue: getrandom");
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Fill buf with len random bytes. */
void
queue_random(void *buf, size_t len)
{
	pthread_once(&random_atfork_once, random_atfork_register);
	if (len > RANDOM_POOL_BYTES / 4) {
		random_from_kernel(buf, len);
		return;
	}
	if (random_pool.left < len) {
		random_from_kernel(random_pool.bytes, sizeof random_pool.bytes);
		random_pool.left = sizeof random_pool.bytes;
	}
	uint8_t *src = random_pool.bytes + sizeof random_pool.bytes - random_pool.left;
	memcpy(buf, src, len);
	explicit_bzero(src, len);
	random_pool.left -= len;
}
