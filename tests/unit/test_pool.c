/* The warm pool on the in-memory provider (tests/fakes/sandbox_fake.h).
 * The replenishers are real threads: every wait is a condition wait with a
 * generous timeout (kcr_pool_wait_full, sandbox_fake_wait), never a sleep,
 * so that the tests hold on a loaded machine under ASan and TSan. */
#include <config.h>

#include "base/util.h"
#include "engine/pool.h"
#include "fakes/sandbox_fake.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>

#define WAIT_MS 120000

static const char *const js[] = { "js" };

struct fixture {
	struct kcr_config *cfg;
	struct kcr_sandbox_provider prov;
	struct sandbox_fake *f;
	struct kcr_pool *p;
};

/* js's target is n. The provider first, so that a test can inject
 * failures before the pool starts. */
static void
open_fake(struct fixture *x, unsigned int n, unsigned int health_s)
{
	kcr_error_t err = NULL;

	x->cfg = sandbox_fake_config("js", n, health_s);
	if (kcr_sandbox_provider_open_ops(&x->prov, &sandbox_fake_ops, x->cfg, &err) < 0)
		abort();
	x->f = x->prov.self;
	x->p = NULL;
}

static int
start_pool(struct fixture *x)
{
	kcr_error_t err = NULL;

	x->p = kcr_pool_new(&x->prov, x->cfg, &err);
	if (x->p == NULL)
		TAP_FAIL("kcr_pool_new: %s", err->msg);
	return 0;
}

static void
close_all(struct fixture *x)
{
	kcr_pool_free(x->p);
	kcr_sandbox_provider_close(&x->prov);
	kcr_config_free(x->cfg);
}

static int
wait_full(struct fixture *x)
{
	kcr_error_t err = NULL;

	if (kcr_pool_wait_full(x->p, js, 1, WAIT_MS, &err) < 0)
		TAP_FAIL("%s", err->msg);
	return 0;
}

static struct kcr_pool_stats
js_stats(struct kcr_pool *p)
{
	struct kcr_pool_stats st[32] = { 0 };
	size_t n = kcr_pool_stats(p, st, 32);

	for (size_t i = 0; i < n; i++)
		if (strcmp(st[i].lang, "js") == 0)
			return st[i];
	abort();
}

/* A spec a warm js sandbox fits. */
static struct kcr_sandbox_spec
js_spec(const struct fixture *x)
{
	struct kcr_sandbox_spec spec = { .lang = kcr_lang_find("js") };

	kcr_limits_from_config(&spec.limits, x->cfg, spec.lang);
	return spec;
}

static bool
destroyed(const struct sandbox_fake_counts *c, void *arg)
{
	return c->destroys >= *(unsigned int *)arg;
}

static bool
live_is(const struct sandbox_fake_counts *c, void *arg)
{
	return c->live == *(unsigned int *)arg;
}

static int
test_fills_to_target(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;

	open_fake(&x, 3, 0);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	TAP_ASSERT(js_stats(x.p).ready == 3 && js_stats(x.p).target == 3);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.creates == 3 && c.live == 3 && c.claims == 0);
	close_all(&x);
	return 0;
}

static int
test_hit_and_miss(void)
{
	struct fixture x;
	struct kcr_sandbox_spec spec;
	struct kcr_sandbox *hit = NULL, *miss = NULL;
	struct kcr_pool_stats st;
	struct sandbox_fake_counts c;
	kcr_error_t err = NULL;
	unsigned int two = 2;

	open_fake(&x, 2, 0);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	spec = js_spec(&x);
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &hit, &err) == 0);
	spec.limits.memory_mb += 1; /* no warm sandbox has that */
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &miss, &err) == 0);
	TAP_ASSERT(hit->lang == spec.lang && miss->lang == spec.lang);
	st = js_stats(x.p);
	TAP_ASSERT(st.hits == 1 && st.misses == 1 && st.in_use == 2);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.claims == 1); /* a warm one is claimed, a new one is ours */
	kcr_pool_release(x.p, hit);
	kcr_pool_release(x.p, miss);
	TAP_ASSERT(sandbox_fake_wait(x.f, destroyed, &two, WAIT_MS));
	TAP_ASSERT(js_stats(x.p).in_use == 0);
	close_all(&x);
	return 0;
}

/* A lone execution runs before its sandbox is replaced while another is
 * ready (pool.refill_delay_ms); its end, a second execution or the last
 * one taken start the refill at once. */
static int
test_refill_after_lone_run(void)
{
	struct fixture x;
	struct kcr_sandbox_spec spec;
	struct kcr_sandbox *a = NULL, *b = NULL;
	struct sandbox_fake_counts c;
	kcr_error_t err = NULL;

	open_fake(&x, 2, 0);
	if (kcr_config_set(x.cfg, "pool.refill_delay_ms", "60000", KCR_SRC_FLAG, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	spec = js_spec(&x);
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &a, &err) == 0);
	/* not refilled while it runs (a slow machine can only make this pass) */
	TAP_ASSERT(kcr_pool_wait_full(x.p, js, 1, 300, &err) < 0 && err->code == KCR_E_TIMEOUT);
	kcr_error_release(&err);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.creates == 2);
	kcr_pool_release(x.p, a);
	TAP_ASSERT(wait_full(&x) == 0); /* it ended: refilled */
	/* two at once: the second takes the last one, and both are replaced
	 * while they run */
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &a, &err) == 0);
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &b, &err) == 0);
	TAP_ASSERT(wait_full(&x) == 0 && js_stats(x.p).in_use == 2);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.creates == 5);
	kcr_pool_release(x.p, a);
	kcr_pool_release(x.p, b);
	close_all(&x);
	return 0;
}

static int
test_dead_replaced(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;
	unsigned int one = 1;

	open_fake(&x, 2, 1);
	sandbox_fake_fail_checks(x.f, 1);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	TAP_ASSERT(sandbox_fake_wait(x.f, destroyed, &one, WAIT_MS));
	TAP_ASSERT(wait_full(&x) == 0);
	TAP_ASSERT(js_stats(x.p).replaced == 1);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.dead_checks == 1 && c.creates == 3 && c.destroys == 1);
	close_all(&x);
	return 0;
}

static int
test_claim_conflict(void)
{
	struct fixture x;
	struct kcr_sandbox_spec spec;
	struct kcr_sandbox *sb = NULL;
	struct kcr_pool_stats st;
	struct sandbox_fake_counts c;
	kcr_error_t err = NULL;
	unsigned int one = 1;

	open_fake(&x, 2, 0);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	/* another replica claims the first warm sandbox the pool picks */
	sandbox_fake_conflict_claims(x.f, 1);
	spec = js_spec(&x);
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &sb, &err) == 0);
	st = js_stats(x.p);
	TAP_ASSERT(st.hits == 1 && st.misses == 0);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.conflicts == 1 && c.claims == 1);
	/* the lost one is dropped (its handle destroyed) and replaced */
	TAP_ASSERT(sandbox_fake_wait(x.f, destroyed, &one, WAIT_MS));
	TAP_ASSERT(wait_full(&x) == 0);
	kcr_pool_release(x.p, sb);
	close_all(&x);
	return 0;
}

static int
test_release_destroys(void)
{
	struct fixture x;
	struct kcr_sandbox_spec spec;
	struct kcr_sandbox *sb = NULL;
	struct sandbox_fake_counts c;
	kcr_error_t err = NULL;
	unsigned int one = 1;

	open_fake(&x, 1, 0);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	spec = js_spec(&x);
	TAP_ASSERT(kcr_pool_acquire(x.p, &spec, 0, &sb, &err) == 0);
	kcr_pool_release(x.p, sb); /* used: never back in the pool */
	TAP_ASSERT(sandbox_fake_wait(x.f, destroyed, &one, WAIT_MS));
	TAP_ASSERT(wait_full(&x) == 0);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.creates == 2 && c.live == 1);
	close_all(&x);
	return 0;
}

static int
test_set_target(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;
	kcr_error_t err = NULL;
	unsigned int one = 1;

	open_fake(&x, 1, 0);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	TAP_ASSERT(kcr_pool_set_target(x.p, "js", 4, &err) == 0);
	TAP_ASSERT(wait_full(&x) == 0);
	TAP_ASSERT(js_stats(x.p).ready == 4);
	/* lower: the replenisher trims, claiming each one it destroys */
	TAP_ASSERT(kcr_pool_set_target(x.p, "javascript", 1, &err) == 0);
	TAP_ASSERT(sandbox_fake_wait(x.f, live_is, &one, WAIT_MS));
	TAP_ASSERT(js_stats(x.p).ready == 1);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.destroys == 3 && c.claims == 3);
	TAP_ASSERT(kcr_pool_set_target(x.p, "cobol", 1, &err) < 0 && err->code == KCR_E_INVALID);
	kcr_error_free(err);
	close_all(&x);
	return 0;
}

static int
test_failures_counted(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;

	open_fake(&x, 1, 0);
	sandbox_fake_fail_creates(x.f, 2);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	TAP_ASSERT(js_stats(x.p).failed == 2 && js_stats(x.p).created == 1);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.create_failures == 2 && c.creates == 1);
	close_all(&x);
	return 0;
}

static int
test_unavailable_not_filled(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;

	open_fake(&x, 2, 0);
	sandbox_fake_set_unavailable(x.f, kcr_lang_find("js"));
	TAP_ASSERT(start_pool(&x) == 0);
	TAP_ASSERT(wait_full(&x) == 0); /* nothing to wait for: it can't run here */
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.creates == 0 && js_stats(x.p).ready == 0);
	close_all(&x);
	return 0;
}

/* The provider's claims, as the pool relies on them: once each, given back
 * only when held. */
static int
test_claim_release(void)
{
	struct fixture x;
	struct kcr_sandbox_spec spec;
	struct kcr_sandbox *sb = NULL;
	kcr_error_t err = NULL;

	open_fake(&x, 0, 0);
	spec = js_spec(&x);
	TAP_ASSERT(kcr_sandbox_create(&x.prov, &spec, 0, &sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_release(&x.prov, sb, &err) < 0 && err->code == KCR_E_INVALID);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_sandbox_claim(&x.prov, sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_claim(&x.prov, sb, &err) < 0 && err->code == KCR_E_CONFLICT);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_sandbox_release(&x.prov, sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_claim(&x.prov, sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_check(&x.prov, sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_health(&x.prov, &err) == 0);
	TAP_ASSERT(kcr_sandbox_destroy(&x.prov, sb, &err) == 0);
	close_all(&x);
	return 0;
}

static int
test_orphans_adopted(void)
{
	struct fixture x;
	struct sandbox_fake_counts c;

	open_fake(&x, 0, 0);
	sandbox_fake_add_orphan(x.f, "123-left");
	sandbox_fake_add_orphan(x.f, "123-behind");
	TAP_ASSERT(sandbox_fake_orphans(x.f) == 2);
	TAP_ASSERT(start_pool(&x) == 0);
	/* at start, before the pool returns */
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.adopted == 2 && sandbox_fake_orphans(x.f) == 0);
	close_all(&x);
	return 0;
}

struct acquirer {
	struct fixture *x;
	struct kcr_sandbox *sb;
	int r;
};

static void *
acquire_thread(void *arg)
{
	struct acquirer *a = arg;
	struct kcr_sandbox_spec spec = js_spec(a->x);
	kcr_error_t err = NULL;

	a->r = kcr_pool_acquire(a->x->p, &spec, 0, &a->sb, &err);
	kcr_error_free(err);
	return NULL;
}

/* A pool emptied while its replenisher makes the next sandboxes: the
 * acquires wait for those, in turn, instead of each making one on the
 * request path (a miss). */
static int
test_acquire_waits_for_one_being_made(void)
{
	struct fixture x;
	struct acquirer a[3] = { { .x = &x }, { .x = &x }, { .x = &x } };
	pthread_t t[3];
	struct kcr_pool_stats st;
	struct sandbox_fake_counts c;

	open_fake(&x, 1, 0);
	sandbox_fake_create_ms(x.f, 200);
	TAP_ASSERT(start_pool(&x) == 0 && wait_full(&x) == 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, acquire_thread, &a[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		TAP_ASSERT(a[i].r == 0 && a[i].sb != NULL);
	st = js_stats(x.p);
	if (!(st.hits == 3 && st.misses == 0 && st.waits == 2))
		TAP_FAIL("hits %llu, misses %llu, waits %llu", (unsigned long long)st.hits,
			 (unsigned long long)st.misses, (unsigned long long)st.waits);
	sandbox_fake_counts(x.f, &c);
	TAP_ASSERT(c.claims == 3); /* all three were the pool's */
	for (int i = 0; i < 3; i++)
		kcr_pool_release(x.p, a[i].sb);
	close_all(&x);
	return 0;
}

int
main(void)
{
	TAP_PLAN(12);
	RUN_TEST(test_fills_to_target);
	RUN_TEST(test_hit_and_miss);
	RUN_TEST(test_refill_after_lone_run);
	RUN_TEST(test_dead_replaced);
	RUN_TEST(test_claim_conflict);
	RUN_TEST(test_release_destroys);
	RUN_TEST(test_set_target);
	RUN_TEST(test_failures_counted);
	RUN_TEST(test_unavailable_not_filled);
	RUN_TEST(test_claim_release);
	RUN_TEST(test_orphans_adopted);
	RUN_TEST(test_acquire_waits_for_one_being_made);
	return TAP_DONE();
}
