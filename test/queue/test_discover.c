/*
 * test/queue/test_discover.c - queue_discover() (smtpctl discover): an
 * envelope whose schedule key is gone is scheduled again, due now; one the
 * scheduler knows is left as it is; an unknown id finds nothing. And the
 * store profile of smtpctl profile queue counts operations while on.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "queue/queue.h"
#include "queue/store.h"
#include "test/queue/helpers.h"

TQ_BOTH_BACKENDS(discover_ram, discover_rocksdb);
#define BOTH(name) TQ_BOTH(discover_ram, discover_rocksdb, name)

/* queue_walk() callback: count. */
static int
count_one(void *arg, const struct queue_envelope *env)
{
	(void)env;
	(*(unsigned *)arg)++;
	return 0;
}

static unsigned
walked(void)
{
	unsigned n = 0;
	cr_assert_eq(queue_walk(Q, count_one, &n), 0);
	return n;
}

/* Drop the schedule key of env as a tool outside queue/ could. */
static void
drop_sched_key(uint64_t evpid, uint64_t next)
{
	uint8_t key[16];
	uint64_t seq;
	queue_be64_put(key, next);
	queue_be64_put(key + 8, evpid);
	struct queue_store_op op = { QUEUE_OP_DELETE, QUEUE_CF_SCHEDULE, key, 16, NULL, 0 };
	struct queue_store *st = queue_store_of(Q);
	cr_assert_eq(st->ops->write(st, &op, 1, &seq), 0);
}

BOTH(unscheduled_envelope_is_scheduled_again)
{
	uint64_t next[] = { 5000, 6000, 7000 }, ids[3];
	unsigned found, discovered;
	tq_put(Q, "m", 1, 1, next, 3, ids);
	drop_sched_key(ids[0], 5000);
	drop_sched_key(ids[2], 7000);
	cr_assert_eq(walked(), 1, "the scheduler sees one of three");
	cr_assert_eq(queue_discover(Q, ids[0], 0, &found, &discovered), 0);
	cr_assert_eq(found, 1);
	cr_assert_eq(discovered, 1);
	cr_assert_eq(walked(), 2);
	struct queue_envelope env;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	cr_assert_geq(env.next_attempt, (uint64_t)time(NULL) - 5, "due now");
	/* by message id: the other one, and the known ones are left alone */
	cr_assert_eq(queue_discover(Q, ids[0] >> 32, 1, &found, &discovered), 0);
	cr_assert_eq(found, 3, "got %u", found);
	cr_assert_eq(discovered, 1, "got %u", discovered);
	cr_assert_eq(walked(), 3);
	cr_assert_eq(queue_envelope_load(Q, ids[1], &env), 0);
	cr_assert_eq(env.next_attempt, 6000, "a scheduled envelope keeps its time");
	/* again: nothing left to discover */
	cr_assert_eq(queue_discover(Q, ids[0] >> 32, 1, &found, &discovered), 0);
	cr_assert_eq(discovered, 0);
}

BOTH(unknown_id_finds_nothing)
{
	unsigned found = 9, discovered = 9;
	cr_assert_eq(queue_discover(Q, 0x1234567812345678ull, 0, &found, &discovered), 0);
	cr_assert_eq(found, 0);
	cr_assert_eq(discovered, 0);
	cr_assert_eq(queue_discover(Q, 0x12345678u, 1, &found, &discovered), 0);
	cr_assert_eq(found, 0);
}

BOTH(paused_envelope_stays_paused)
{
	uint64_t next[] = { QUEUE_PAUSED_AT }, ids[1];
	unsigned found, discovered;
	tq_put(Q, "m", 1, 1, next, 1, ids);
	struct queue_envelope env, paused;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	paused = env;
	paused.paused = 1;
	cr_assert_eq(queue_envelope_update(Q, &env, &paused), 0);
	drop_sched_key(ids[0], QUEUE_PAUSED_AT);
	cr_assert_eq(walked(), 0);
	cr_assert_eq(queue_discover(Q, ids[0], 0, &found, &discovered), 0);
	cr_assert_eq(discovered, 1);
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	cr_assert_eq(env.paused, 1);
	cr_assert_eq(env.next_attempt, QUEUE_PAUSED_AT);
}

BOTH(profile_counts_store_operations_while_on)
{
	struct queue_profile_stat st[8];
	uint64_t next[] = { 5 }, ids[1];
	struct queue_envelope env;
	queue_profile_set(1);
	tq_put(Q, "m", 1, 1, next, 1, ids);
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	unsigned n = queue_profile_read(st, 8);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(st[0].name, "store.write");
	cr_assert_geq(st[0].calls, 1);
	cr_assert_str_eq(st[1].name, "store.get");
	cr_assert_geq(st[1].calls, 1);
	cr_assert_geq(st[0].total_ns, st[0].max_ns);
	queue_profile_set(0);
	uint64_t before = st[1].calls;
	cr_assert_eq(queue_envelope_load(Q, ids[0], &env), 0);
	queue_profile_read(st, 8);
	cr_assert_eq(st[1].calls, before, "nothing counted once off");
}
