/* The adaptive pool targets (lib/engine/pool_adapt.h) with a clock the
 * test moves, and the pool floors' defaults (lib/base/pool_floor.h). */
#include <config.h>

#include "base/lang.h"
#include "base/pool_floor.h"
#include "base/settings.h"
#include "engine/pool_adapt.h"
#include "engine/pool_cost.h"
#include "tap.h"

#include <stdlib.h>

#define WINDOW 5000
#define IDLE   60000

static struct kcr_pool_adapt_cfg
cfg(uint64_t budget_mb)
{
	return (struct kcr_pool_adapt_cfg){ .on = true,
					    .window_ms = WINDOW,
					    .idle_ms = IDLE,
					    .max = 32,
					    .budget_kib = budget_mb * 1024 };
}

/* n languages at floor f, each costing cost_mb; the clock at 0. */
static void
start(struct kcr_pool_adapt_lang *l, size_t n, unsigned int f, unsigned int cost_mb)
{
	for (size_t i = 0; i < n; i++) {
		kcr_pool_adapt_reset(&l[i], f, 0);
		l[i].cost_kib = cost_mb * 1024;
	}
}

/* Runs windows from *now until 'until' ms, adding demand[i] each window. */
static void
run(const struct kcr_pool_adapt_cfg *c, uint64_t *next, uint64_t *now, uint64_t until,
    struct kcr_pool_adapt_lang *l, size_t n, const unsigned int *demand)
{
	for (; *now <= until; *now += WINDOW) {
		for (size_t i = 0; demand && i < n; i++)
			l[i].demand += demand[i];
		kcr_pool_adapt_step(c, next, l, n, *now);
	}
}

static int
test_demand_raises(void)
{
	struct kcr_pool_adapt_cfg c = cfg(0);
	struct kcr_pool_adapt_lang l[1];
	uint64_t next = 0, now = 0;

	start(l, 1, 4, 6);
	/* nothing before a window has passed */
	TAP_ASSERT(!kcr_pool_adapt_step(&c, &next, l, 1, 0) && l[0].target == 4);
	l[0].demand = 3;
	TAP_ASSERT(!kcr_pool_adapt_step(&c, &next, l, 1, WINDOW - 1) && l[0].target == 4);
	TAP_ASSERT(kcr_pool_adapt_step(&c, &next, l, 1, WINDOW) && l[0].target == 7);
	/* a burst at most doubles it per window, up to the maximum */
	l[0].demand = 500;
	kcr_pool_adapt_step(&c, &next, l, 1, 2 * WINDOW);
	TAP_ASSERT(l[0].target == 14);
	now = 3 * WINDOW;
	run(&c, &next, &now, 10 * WINDOW, l, 1, (unsigned int[]){ 500 });
	TAP_ASSERT(l[0].target == 32);
	return 0;
}

static int
test_idle_lowers_to_floor(void)
{
	struct kcr_pool_adapt_cfg c = cfg(0);
	struct kcr_pool_adapt_lang l[1];
	uint64_t next = 0, now = WINDOW;

	start(l, 1, 2, 6);
	run(&c, &next, &now, 5 * WINDOW, l, 1, (unsigned int[]){ 20 });
	TAP_ASSERT(l[0].target == 32);
	/* demand stopped: the target holds for idle_ms */
	run(&c, &next, &now, 5 * WINDOW + IDLE - WINDOW, l, 1, NULL);
	TAP_ASSERT(l[0].target == 32);
	/* then halves toward the floor each window, and stays there */
	run(&c, &next, &now, 5 * WINDOW + IDLE, l, 1, NULL);
	TAP_ASSERT(l[0].target == 17);
	run(&c, &next, &now, 5 * WINDOW + IDLE + 20 * WINDOW, l, 1, NULL);
	TAP_ASSERT(l[0].target == 2 && l[0].want == 2);
	/* demand again: up again */
	run(&c, &next, &now, now, l, 1, (unsigned int[]){ 1 });
	TAP_ASSERT(l[0].target == 3);
	return 0;
}

/* The floors always; what is above them to the languages with the most
 * demand, as far as the budget goes. */
static int
test_budget_caps_the_sum(void)
{
	struct kcr_pool_adapt_cfg c = cfg(100);
	struct kcr_pool_adapt_lang l[3];
	uint64_t next = 0, now = WINDOW;

	start(l, 3, 2, 4); /* floors: 3 * 2 * 4 = 24 MiB, 76 MiB left: 19 sandboxes */
	run(&c, &next, &now, 10 * WINDOW, l, 3, (unsigned int[]){ 50, 5, 0 });
	TAP_ASSERT(kcr_pool_adapt_used_kib(l, 3) <= 100 * 1024);
	TAP_ASSERT(l[0].want == 32 && l[1].want == 32 && l[2].want == 2);
	/* the busiest takes what it wants above its floor first (30 > 19) */
	TAP_ASSERT(l[0].target == 21 && l[1].target == 2 && l[2].target == 2);
	/* a budget below the floors keeps the floors */
	c.budget_kib = 1024;
	kcr_pool_adapt_fit(&c, l, 3);
	TAP_ASSERT(l[0].target == 2 && l[1].target == 2 && l[2].target == 2);
	/* no budget: every wish */
	c.budget_kib = 0;
	kcr_pool_adapt_fit(&c, l, 3);
	TAP_ASSERT(l[0].target == 32 && l[1].target == 32 && l[2].target == 2);
	return 0;
}

static int
test_off_keeps_floors(void)
{
	struct kcr_pool_adapt_cfg c = cfg(0);
	struct kcr_pool_adapt_lang l[1];
	uint64_t next = 0, now = WINDOW;

	c.on = false;
	start(l, 1, 3, 6);
	run(&c, &next, &now, 10 * WINDOW, l, 1, (unsigned int[]){ 50 });
	TAP_ASSERT(l[0].target == 3);
	/* and a floor above adaptive_max is kept when on */
	c.on = true;
	c.max = 2;
	run(&c, &next, &now, now + 10 * WINDOW, l, 1, (unsigned int[]){ 50 });
	TAP_ASSERT(l[0].target == 3);
	return 0;
}

static unsigned int
floor_of(const char *provider, const char *lang, const char *set)
{
	struct kcr_config *c = kcr_config_new();
	kcr_error_t err = NULL;
	unsigned int f;

	if (kcr_config_set(c, "sandbox.provider", provider, KCR_SRC_FLAG, &err) < 0)
		abort();
	if (set) {
		char key[32];

		snprintf(key, sizeof(key), "pool.%s", lang);
		if (kcr_config_set(c, key, set, KCR_SRC_FLAG, &err) < 0)
			abort();
	}
	f = kcr_pool_floor(c, kcr_lang_find(lang));
	kcr_config_free(c);
	return f;
}

/* Every language warm locally; on kubernetes only those a pool pod starts
 * ahead, unless set. */
static int
test_floor_defaults(void)
{
	TAP_ASSERT(floor_of("local", "py", NULL) == 4 && floor_of("local", "js", NULL) == 2);
	TAP_ASSERT(floor_of("local", "bash", NULL) == 1 && floor_of("local", "go", NULL) == 1);
	TAP_ASSERT(floor_of("kubernetes", "py", NULL) == 4);
	TAP_ASSERT(floor_of("kubernetes", "bash", NULL) == 0);
	/* ts starts Node ahead, but compiles per execution: a Job, as bash */
	TAP_ASSERT(floor_of("local", "ts", NULL) == 1 && floor_of("kubernetes", "ts", NULL) == 0);
	TAP_ASSERT(floor_of("kubernetes", "ts", "2") == 2);
	TAP_ASSERT(floor_of("kubernetes", "bash", "3") == 3);
	TAP_ASSERT(floor_of("local", "bash", "0") == 0);
	return 0;
}

/* A warm sandbox that runs its program on request costs no more than a
 * Python cell, which costs less than an interpreter of its own; a Bash
 * waiting adds a little to its runner, a Node.js much more. */
static int
test_costs_ordered(void)
{
	struct kcr_config *c = kcr_config_new();
	const struct kcr_lang *py = kcr_lang_find("py"), *js = kcr_lang_find("js");
	unsigned int runner = kcr_pool_cost_kib(c, kcr_lang_find("php"), false);
	unsigned int bash = kcr_pool_cost_kib(c, kcr_lang_find("bash"), false);
	unsigned int cell = kcr_pool_cost_kib(c, py, false), node = kcr_pool_cost_kib(c, js, false);
	kcr_error_t err = NULL;

	TAP_ASSERT(runner > 0 && runner <= cell && cell < node);
	TAP_ASSERT(runner < bash && bash < 2 * runner && bash < node);
	TAP_ASSERT(kcr_pool_cost_kib(c, py, true) > cell);
	if (kcr_config_set(c, "pool.fork_server", "false", KCR_SRC_FLAG, &err) < 0)
		abort();
	TAP_ASSERT(kcr_pool_cost_kib(c, py, true) > kcr_pool_cost_kib(c, py, false));
	TAP_ASSERT(kcr_pool_cost_kib(c, py, false) > cell);
	kcr_config_free(c);
	return 0;
}

int
main(void)
{
	TAP_PLAN(6);
	RUN_TEST(test_demand_raises);
	RUN_TEST(test_idle_lowers_to_floor);
	RUN_TEST(test_budget_caps_the_sum);
	RUN_TEST(test_off_keeps_floors);
	RUN_TEST(test_floor_defaults);
	RUN_TEST(test_costs_ordered);
	return TAP_DONE();
}
