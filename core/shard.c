/*
 * core/shard.c - a shard's thread and loop: ring set-up (SINGLE_ISSUER and
 * DEFER_TASKRUN when the kernel has them), the provided-buffer ring, the
 * mailbox, the tick, and the turn: submit, drain CQEs, drain the mailbox, run
 * the end-of-turn work. See core/shard.h for the contract.
 */
#include "core/shard.h"
#include "core/filter_proc.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/dnsbl_cache.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/mda_client.h"
#include "core/session.h"
#include "core/shard_dns.h"
#include "rules/rules.h"

#define SHARD_RING_ENTRIES 1024

uint64_t
shard_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Get an SQE; when the SQ is full, submit what is there and try again. */
struct io_uring_sqe *
shard_sqe(struct shard *sh)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sh->ring);
	while (sqe == NULL) {
		io_uring_submit(&sh->ring);
		sqe = io_uring_get_sqe(&sh->ring);
	}
	return sqe;
}

/* Post from any thread: push on the lock-free stack; wake the shard only
 * when the stack was empty (it drains everything at once). */
void
shard_post(struct shard *sh, struct shard_msg *msg)
{
	struct shard_msg *head = atomic_load_explicit(&sh->mailbox, memory_order_relaxed);
	do {
		msg->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&sh->mailbox, &head, msg,
	                                               memory_order_release,
	                                               memory_order_relaxed));
	if (head == NULL) {
		uint64_t one = 1;
		if (write(sh->mailbox_fd, &one, sizeof one) < 0 && errno != EAGAIN)
			log_warn("shard %u: mailbox wake: %s", sh->index, strerror(errno));
	}
}

/* Take every message, restore arrival order, and handle each. */
static void
shard_mailbox_drain(struct shard *sh)
{
	struct shard_msg *m = atomic_exchange_explicit(&sh->mailbox, NULL, memory_order_acquire);
	struct shard_msg *fifo = NULL;
	while (m != NULL) {
		struct shard_msg *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	while (fifo != NULL) {
		struct shard_msg *next = fifo->next;
		fifo->handle(sh, fifo);
		fifo = next;
	}
}

static void
shard_mailbox_arm(struct shard *sh)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	io_uring_prep_read(sqe, sh->mailbox_fd, &sh->mailbox_count, sizeof sh->mailbox_count, 0);
	io_uring_sqe_set_data(sqe, &sh->mailbox_op);
}

static void
shard_mailbox_complete(struct core_op *op, int res, unsigned flags)
{
	struct shard *sh = container_of(op, struct shard, mailbox_op);
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		log_warn("shard %u: mailbox read: %s", sh->index, strerror(-res));
	shard_mailbox_arm(sh);
}

static void
shard_tick_arm(struct shard *sh)
{
	struct io_uring_sqe *sqe = shard_sqe(sh);
	sh->tick_ts.tv_sec = SHARD_TICK_MS / 1000;
	sh->tick_ts.tv_nsec = (SHARD_TICK_MS % 1000) * 1000000L;
	io_uring_prep_timeout(sqe, &sh->tick_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &sh->tick_op);
}

/* Once a second: session timeouts, starved receives, due deliveries. */
static void
shard_tick_complete(struct core_op *op, int res, unsigned flags)
{
	struct shard *sh = container_of(op, struct shard, tick_op);
	session_tick(sh);
	delivery_tick(sh);
	relay_tick(sh);
	shard_dns_tick(sh);
	filter_proc_tick(sh);
	shard_tick_arm(sh);
}

/* Map the provided-buffer ring and hand every buffer to the kernel. */
static int
shard_bufs_setup(struct shard *sh)
{
	size_t ring_bytes = SHARD_BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
	                 MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	sh->buf_ring = mem;
	io_uring_buf_ring_init(sh->buf_ring);
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)mem,
		.ring_entries = SHARD_BUF_COUNT,
		.bgid = SHARD_BGID,
	};
	int ret = io_uring_register_buf_ring(&sh->ring, &reg, 0);
	if (ret < 0)
		return ret;
	sh->bufs = malloc((size_t)SHARD_BUF_COUNT * SHARD_BUF_BYTES);
	if (sh->bufs == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < SHARD_BUF_COUNT; i++)
		io_uring_buf_ring_add(sh->buf_ring, sh->bufs + (size_t)i * SHARD_BUF_BYTES,
		                      SHARD_BUF_BYTES, (unsigned short)i,
		                      io_uring_buf_ring_mask(SHARD_BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(sh->buf_ring, SHARD_BUF_COUNT);
	return 0;
}

/* Create the ring with the best flags the kernel takes. */
static int
shard_ring_setup(struct shard *sh)
{
	struct io_uring_params p;
	unsigned flags_wanted = 0;
#ifdef HAVE_IORING_SETUP_SINGLE_ISSUER
	flags_wanted |= IORING_SETUP_SINGLE_ISSUER;
#endif
#ifdef HAVE_IORING_SETUP_DEFER_TASKRUN
	flags_wanted |= IORING_SETUP_DEFER_TASKRUN;
#endif
	memset(&p, 0, sizeof p);
	p.flags = flags_wanted | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
	int ret = io_uring_queue_init_params(SHARD_RING_ENTRIES, &sh->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof p);
		ret = io_uring_queue_init_params(SHARD_RING_ENTRIES, &sh->ring, &p);
	}
	if (ret < 0) {
		snprintf(sh->setup_message, sizeof sh->setup_message,
		         "io_uring_setup: %s (%s)", strerror(-ret),
		         ret == -EPERM ? "io_uring is disabled: check the sysctl "
		                         "kernel.io_uring_disabled or a seccomp profile "
		                         "(containers often block io_uring)" :
		         ret == -ENOSYS ? "the kernel has no io_uring (needs Linux 5.19 or later)" :
		         ret == -ENOMEM ? "locked memory limit too low (ulimit -l)" :
		                          "the kernel refused to set up a ring");
		return ret;
	}
	ret = shard_bufs_setup(sh);
	if (ret < 0) {
		snprintf(sh->setup_message, sizeof sh->setup_message,
		         "io_uring provided buffers: %s (needs Linux 5.19 or later)",
		         strerror(-ret));
		return ret;
	}
	return 0;
}

/* One turn: dispatch every completion that is there. */
static void
shard_dispatch(struct shard *sh)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&sh->ring, head, cqe) {
		struct core_op *op = io_uring_cqe_get_data(cqe);
		seen++;
		if (op != NULL)
			op->complete(op, cqe->res, cqe->flags);
	}
	io_uring_cq_advance(&sh->ring, seen);
}

/* Nothing left to finish: no session, no delivery, no accept still armed
 * (a cancelled accept must complete so the socket is really closed). */
static int
shard_idle(struct shard *sh)
{
	for (unsigned i = 0; i < sh->nlisteners; i++)
		if (sh->listeners[i].armed)
			return 0;
	return sh->nsessions == 0 && sh->maildir_inflight == 0 && relay_idle(sh) &&
	       shard_dns_idle(sh) && mda_client_pending(sh) == 0 && delivery_idle(sh);
}

static void *
shard_main(void *arg)
{
	struct shard *sh = arg;
	struct daemon *d = sh->daemon;
	if (sh->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(sh->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	sh->setup_error = shard_ring_setup(sh);
	if (sh->setup_error == 0 && filter_proc_start(sh) < 0)
		sh->setup_error = -EINVAL;   /* before any session: filters first */
	if (sh->setup_error == 0)
		sh->setup_error = listener_arm_all(sh);
	atomic_fetch_add(&d->shards_running, 1);
	daemon_wake_main(d);
	if (sh->setup_error != 0)
		return NULL;
	sh->mailbox_op.complete = shard_mailbox_complete;
	sh->tick_op.complete = shard_tick_complete;
	shard_mailbox_arm(sh);
	shard_tick_arm(sh);
	log_batch_begin();
	for (;;) {
		log_batch_flush();
		int ret = io_uring_submit_and_wait(&sh->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			log_warn("shard %u: io_uring_enter: %s", sh->index, strerror(-ret));
		sh->now_ms = shard_clock_ms();
		shard_dispatch(sh);
		shard_mailbox_drain(sh);
		session_end_of_turn(sh);
		relay_end_of_turn(sh);
		if (sh->stopping && (shard_idle(sh) || sh->now_ms >= sh->stop_deadline_ms))
			break;
	}
	shard_dns_free(sh);   /* lookups still pending fail for now */
	filter_proc_free(sh);
	dnsbl_cache_free(sh->dnsbl_cache);
	sh->dnsbl_cache = NULL;
	relay_shutdown(sh);
	log_batch_flush();
	io_uring_queue_exit(&sh->ring);
	atomic_fetch_sub(&d->shards_running, 1);
	daemon_wake_main(d);
	return NULL;
}

/* After the thread was joined: free what the shard owned. */
void
shard_free(struct shard *sh)
{
	if (sh->buf_ring != NULL)
		munmap(sh->buf_ring, SHARD_BUF_COUNT * sizeof(struct io_uring_buf));
	free(sh->bufs);
	free(sh->listeners);
	delivery_free(sh);
	mda_client_free(sh);   /* the helper leaves when every shard closed its socket */
	free(sh->relay);
	if (sh->mailbox_fd >= 0)
		close(sh->mailbox_fd);
	rules_release(sh->config);
	sh->config = NULL;
}

/* Start the thread; the mailbox works before the loop runs. */
int
shard_start(struct shard *sh)
{
	list_init(&sh->sessions);
	list_init(&sh->sessions_starved);
	list_init(&sh->sessions_dead);
	sh->mailbox_fd = eventfd(0, EFD_CLOEXEC);
	if (sh->mailbox_fd < 0)
		return -errno;
	sh->now_ms = shard_clock_ms();
	int ret = delivery_init(sh);
	if (ret == 0)
		ret = relay_init(sh);
	if (ret < 0)
		return ret;
	ret = pthread_create(&sh->thread, NULL, shard_main, sh);
	return -ret;
}
