/*
 * core/auth.c - the threads that check SMTP AUTH credentials for the
 * shards (see core/auth.h): a queue under a mutex, AUTH_THREADS threads
 * taking from it, each answer posted to the asking shard's mailbox.
 */
#include "core/auth.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/auth_hash.h"
#include "core/log.h"
#include "core/mda_auth.h"
#include "rules/rules.h"

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t auth_cond = PTHREAD_COND_INITIALIZER;
static struct auth_req *auth_head, *auth_tail;
static unsigned auth_queued;
static int auth_stopping;
static pthread_t auth_threads[AUTH_THREADS];
static unsigned auth_nthreads;

/* Check one request's credentials. */
static enum auth_result
auth_check(const struct auth_req *r)
{
	if (r->listener->auth_table == NULL)
		return mda_auth_check(r->user, r->pass);
	return auth_hash_check(r->pass, rules_auth_hash(r->listener, r->user)) ? AUTH_OK
	                                                                        : AUTH_FAIL;
}

/* Hand r back to its shard with result. */
static void
auth_answer(struct auth_req *r, enum auth_result result)
{
	r->result = result;
	explicit_bzero(r->pass, sizeof r->pass);
	shard_post(r->shard, &r->msg);
}

static void *
auth_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&auth_lock);
	for (;;) {
		while (auth_head == NULL && !auth_stopping)
			pthread_cond_wait(&auth_cond, &auth_lock);
		if (auth_head == NULL)
			break;
		struct auth_req *r = auth_head;
		auth_head = r->next;
		if (auth_head == NULL)
			auth_tail = NULL;
		auth_queued--;
		pthread_mutex_unlock(&auth_lock);
		auth_answer(r, auth_check(r));
		pthread_mutex_lock(&auth_lock);
	}
	pthread_mutex_unlock(&auth_lock);
	return NULL;
}

int
auth_start(void)
{
	for (auth_nthreads = 0; auth_nthreads < AUTH_THREADS; auth_nthreads++) {
		int e = pthread_create(&auth_threads[auth_nthreads], NULL, auth_thread, NULL);
		if (e != 0) {
			errno = e;
			return -1;
		}
	}
	return 0;
}

void
auth_stop(void)
{
	pthread_mutex_lock(&auth_lock);
	auth_stopping = 1;
	pthread_cond_broadcast(&auth_cond);
	pthread_mutex_unlock(&auth_lock);
	for (unsigned i = 0; i < auth_nthreads; i++)
		pthread_join(auth_threads[i], NULL);
	auth_nthreads = 0;
}

void
auth_submit(struct auth_req *r)
{
	pthread_mutex_lock(&auth_lock);
	if (auth_queued >= AUTH_QUEUE_MAX || auth_nthreads == 0) {
		pthread_mutex_unlock(&auth_lock);
		log_warn("smtp authentication: %s", auth_nthreads == 0 ? "no checking threads" :
		         "too many checks waiting");
		auth_answer(r, AUTH_TEMPFAIL);
		return;
	}
	r->next = NULL;
	if (auth_tail != NULL)
		auth_tail->next = r;
	else
		auth_head = r;
	auth_tail = r;
	auth_queued++;
	pthread_cond_signal(&auth_cond);
	pthread_mutex_unlock(&auth_lock);
}
