/*
 * core/auth_limit.c - the failed-AUTH counts per client address (see
 * core/auth_limit.h): a fixed array searched in full, which at
 * AUTH_LIMIT_SOURCES_MAX entries costs microseconds per AUTH.
 */
#include "core/auth_limit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct auth_limit_entry {
	uint8_t addr[16];          /* IPv4 in the first 4 */
	uint8_t family;            /* 0: free */
	unsigned failures;
	uint64_t first_ms;         /* the window's start */
};

struct auth_limit {
	pthread_mutex_t lock;
	unsigned failures_max;
	uint64_t window_ms;
	struct auth_limit_entry e[AUTH_LIMIT_SOURCES_MAX];
};

struct auth_limit *
auth_limit_new(unsigned failures_max, uint64_t window_ms)
{
	struct auth_limit *al = calloc(1, sizeof *al);

	if (al == NULL)
		return NULL;
	pthread_mutex_init(&al->lock, NULL);
	al->failures_max = failures_max;
	al->window_ms = window_ms;
	return al;
}

void
auth_limit_free(struct auth_limit *al)
{
	if (al == NULL)
		return;
	pthread_mutex_destroy(&al->lock);
	free(al);
}

/* peer's address into key (16 octets) and its family; 0, or -1 for a
 * family that is not counted. */
static int
auth_limit_key(const struct sockaddr_storage *peer, uint8_t key[16], uint8_t *family)
{
	memset(key, 0, 16);
	if (peer->ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		*family = 4;
		return 0;
	}
	if (peer->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
		*family = 6;
		return 0;
	}
	return -1;
}

/* The entry of key, or NULL; with make, a new one (the oldest replaced
 * when full). Called with the lock held. */
static struct auth_limit_entry *
auth_limit_find(struct auth_limit *al, const uint8_t key[16], uint8_t family, int make,
                uint64_t now_ms)
{
	struct auth_limit_entry *free_e = NULL, *oldest = NULL;

	for (unsigned i = 0; i < AUTH_LIMIT_SOURCES_MAX; i++) {
		struct auth_limit_entry *e = &al->e[i];
		if (e->family == family && memcmp(e->addr, key, 16) == 0)
			return e;
		if (e->family == 0 || now_ms - e->first_ms >= al->window_ms) {
			if (free_e == NULL)
				free_e = e;
		} else if (oldest == NULL || e->first_ms < oldest->first_ms) {
			oldest = e;
		}
	}
	if (!make)
		return NULL;
	struct auth_limit_entry *e = free_e != NULL ? free_e : oldest;
	memcpy(e->addr, key, 16);
	e->family = family;
	e->failures = 0;
	e->first_ms = now_ms;
	return e;
}

int
auth_limit_blocked(struct auth_limit *al, const struct sockaddr_storage *peer, uint64_t now_ms)
{
	uint8_t key[16], family;
	int blocked = 0;

	if (auth_limit_key(peer, key, &family) < 0)
		return 0;
	pthread_mutex_lock(&al->lock);
	struct auth_limit_entry *e = auth_limit_find(al, key, family, 0, now_ms);
	if (e != NULL && now_ms - e->first_ms < al->window_ms)
		blocked = al->failures_max != 0 && e->failures >= al->failures_max;
	pthread_mutex_unlock(&al->lock);
	return blocked;
}

void
auth_limit_set_max(struct auth_limit *al, unsigned failures_max)
{
	pthread_mutex_lock(&al->lock);
	al->failures_max = failures_max;
	pthread_mutex_unlock(&al->lock);
}

int
auth_limit_fail(struct auth_limit *al, const struct sockaddr_storage *peer, uint64_t now_ms)
{
	uint8_t key[16], family;

	if (auth_limit_key(peer, key, &family) < 0)
		return 0;
	pthread_mutex_lock(&al->lock);
	struct auth_limit_entry *e = auth_limit_find(al, key, family, 1, now_ms);
	if (now_ms - e->first_ms >= al->window_ms) {   /* a new window */
		e->failures = 0;
		e->first_ms = now_ms;
	}
	e->failures++;
	int blocked = al->failures_max != 0 && e->failures >= al->failures_max;
	pthread_mutex_unlock(&al->lock);
	return blocked;
}
