/* The engine on the in-memory provider (tests/fakes/sandbox_fake.h):
 * validation, input and output files, errors, the deadline it gives
 * create(), and a warm pool under it. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/settings.h"
#include "base/util.h"
#include "engine/engine.h"
#include "engine/pool.h"
#include "fakes/sandbox_fake.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct kcr_config *cfg;

static struct kcr_engine *
engine_on_fake(struct sandbox_fake **f)
{
	struct kcr_sandbox_provider prov;
	kcr_error_t err = NULL;

	if (kcr_sandbox_provider_open_ops(&prov, &sandbox_fake_ops, cfg, &err) < 0)
		abort();
	*f = prov.self;
	return kcr_engine_new_with_provider(&prov, cfg);
}

static void
request(struct kcr_exec_request *req, const char *lang, const char *code)
{
	memset(req, 0, sizeof(*req));
	req->lang = kcr_lang_find(lang);
	req->code = kcr_xstrdup(code);
	req->code_len = strlen(code);
	kcr_limits_from_config(&req->limits, cfg, req->lang);
}

static void
add_input(struct kcr_exec_request *req, const char *name, const char *data)
{
	struct kcr_file *f;

	req->inputs = kcr_xrealloc(req->inputs, (req->n_inputs + 1) * sizeof(*req->inputs));
	f = &req->inputs[req->n_inputs++];
	memset(f, 0, sizeof(*f));
	f->name = kcr_xstrdup(name);
	f->data = kcr_xstrdup(data);
	f->len = strlen(data);
}

/* The error validation gives req, or KCR_E_OK; its message in msg. */
static enum kcr_errc
invalid(struct kcr_engine *e, struct kcr_exec_request *req, char *msg, size_t size)
{
	kcr_error_t err = NULL;
	enum kcr_errc code = KCR_E_OK;

	if (kcr_engine_validate(e, req, &err) < 0) {
		code = err->code;
		snprintf(msg, size, "%s", err->msg);
	}
	kcr_error_free(err);
	kcr_exec_request_release(req);
	return code;
}

static int
test_validate(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct sandbox_fake_counts c;
	struct kcr_exec_request req = { 0 };
	char msg[256];

	request(&req, "py", " \n\t");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_INVALID);
	TAP_STREQ(msg, "empty code");
	request(&req, "py", "echo x");
	req.lang = NULL;
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_INVALID);
	TAP_STREQ(msg, "no language given");
	/* the provider says whether a language runs, in the words users know */
	sandbox_fake_set_unavailable(f, kcr_lang_find("php"));
	request(&req, "php", "echo x");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_UNAVAILABLE);
	TAP_STREQ(msg, "PHP runtime is not installed: /usr/bin/php is missing (install php-cli)");
	request(&req, "php", "");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_INVALID); /* the code first */
	request(&req, "py", "echo x");
	add_input(&req, "../etc/passwd", "x");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_INVALID);
	TAP_STREQ(msg, "bad input file name '../etc/passwd'");
	request(&req, "py", "echo x");
	add_input(&req, "a.csv", "1");
	add_input(&req, "a.csv", "2");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_INVALID);
	TAP_STREQ(msg, "two input files named 'a.csv'");
	request(&req, "py", "echo x");
	TAP_ASSERT(invalid(e, &req, msg, sizeof(msg)) == KCR_E_OK);
	sandbox_fake_counts(f, &c);
	TAP_ASSERT(c.creates == 0 && c.create_failures == 0); /* no sandbox was made */
	kcr_engine_free(e);
	return 0;
}

static int
test_run_unavailable(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct sandbox_fake_counts c;
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	sandbox_fake_set_unavailable(f, kcr_lang_find("go"));
	request(&req, "go", "echo x");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE);
	TAP_STREQ(err->msg, "Go runtime is not installed: /usr/bin/go is missing (install golang-go)");
	kcr_error_free(err);
	kcr_exec_request_release(&req);
	sandbox_fake_counts(f, &c);
	TAP_ASSERT(c.creates == 0);
	kcr_engine_free(e);
	return 0;
}

static int
test_inputs_placed(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	request(&req, "bash", "cat data.txt\necho and\ncat more.txt");
	add_input(&req, "data.txt", "hello\n");
	add_input(&req, "more.txt", "world\n");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) == 0);
	TAP_STREQ(res.out, "hello\nand\nworld\n");
	TAP_ASSERT(res.exit_code == 0);
	TAP_ASSERT(res.n_outputs == 0); /* inputs that were not changed don't come back */
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	kcr_engine_free(e);
	return 0;
}

static const struct kcr_file *
output(const struct kcr_exec_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_outputs; i++)
		if (strcmp(res->outputs[i].name, name) == 0)
			return &res->outputs[i];
	return NULL;
}

/* Outputs arrive in spools (a program decides their size), not memory. */
static bool
spooled(const struct kcr_file *o, const char *want)
{
	char buf[64];
	ssize_t n = o->fd > 0 && o->data == NULL ? pread(o->fd, buf, sizeof(buf), 0) : -1;

	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

static int
test_outputs_collected(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct sandbox_fake_counts c;
	const struct kcr_file *o;
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	request(&req, "py", "write out.txt new file\nwrite in.txt changed\nwarn careful\nexit 3\n"
			    "echo never");
	add_input(&req, "in.txt", "old");
	add_input(&req, "keep.txt", "same");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) == 0);
	TAP_ASSERT(res.exit_code == 3);
	TAP_STREQ(res.out, "");
	TAP_STREQ(res.err, "careful\n");
	TAP_ASSERT(res.n_outputs == 2);
	TAP_ASSERT((o = output(&res, "out.txt")) != NULL && !o->was_input);
	TAP_ASSERT(o->len == 8 && spooled(o, "new file"));
	TAP_ASSERT((o = output(&res, "in.txt")) != NULL && o->was_input);
	TAP_ASSERT(o->len == 7 && spooled(o, "changed"));
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	sandbox_fake_counts(f, &c);
	TAP_ASSERT(c.creates == 1 && c.destroys == 1 && c.live == 0);
	kcr_engine_free(e);
	return 0;
}

static int
test_exec_error(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct sandbox_fake_counts c;
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	request(&req, "py", "echo started\nfail\necho never");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_BACKEND);
	TAP_ASSERT(strstr(err->msg, "failed") != NULL);
	TAP_ASSERT(res.out == NULL && res.n_outputs == 0); /* released */
	kcr_error_free(err);
	kcr_exec_request_release(&req);
	sandbox_fake_counts(f, &c);
	TAP_ASSERT(c.execs == 1 && c.creates == 1 && c.destroys == 1 && c.live == 0);
	/* a create that fails is the run's error, wrapped */
	err = NULL;
	sandbox_fake_fail_creates(f, 1);
	request(&req, "py", "echo x");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) < 0);
	TAP_STREQ(err->msg, "creating the sandbox: fake: create fails");
	kcr_error_free(err);
	kcr_exec_request_release(&req);
	kcr_engine_free(e);
	return 0;
}

static int
test_deadline(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct kcr_sandbox_provider prov;
	struct kcr_sandbox_spec spec = { .lang = kcr_lang_find("py") };
	struct kcr_sandbox *sb = NULL;
	struct sandbox_fake_counts c;
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;
	uint64_t before = kcr_now_ms();

	request(&req, "py", "echo x");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) == 0);
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	sandbox_fake_counts(f, &c);
	/* a request's sandbox has to be ready in bounded time */
	TAP_ASSERT(c.last_deadline_ms > before && c.last_deadline_ms <= kcr_now_ms() + 60000);
	kcr_engine_free(e);

	/* a deadline that has passed: KCR_E_TIMEOUT, whatever the provider */
	TAP_ASSERT(kcr_sandbox_provider_open_ops(&prov, &sandbox_fake_ops, cfg, &err) == 0);
	TAP_ASSERT(kcr_sandbox_create(&prov, &spec, 1, &sb, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_TIMEOUT && sb == NULL);
	kcr_error_free(err);
	err = NULL;
	TAP_ASSERT(kcr_sandbox_create(&prov, &spec, 0, &sb, &err) == 0);
	TAP_ASSERT(sb->lang == spec.lang);
	TAP_ASSERT(kcr_sandbox_destroy(&prov, sb, &err) == 0);
	TAP_ASSERT(kcr_sandbox_destroy(&prov, NULL, &err) == 0);
	kcr_sandbox_provider_close(&prov);
	return 0;
}

static bool
pool_full(const struct sandbox_fake_counts *c, void *arg)
{
	return c->creates >= *(unsigned int *)arg;
}

/* With a pool, a run takes a warm sandbox (claimed) and gives it back to
 * be destroyed. */
static int
test_with_pool(void)
{
	struct sandbox_fake *f;
	struct kcr_engine *e = engine_on_fake(&f);
	struct kcr_pool_stats st[32];
	struct sandbox_fake_counts c;
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;
	unsigned int two = 2;
	size_t n;

	TAP_ASSERT(kcr_engine_enable_pool(e, cfg, &err) == 0);
	TAP_ASSERT(kcr_pool_wait_full(kcr_engine_pool(e), (const char *[]){ "js" }, 1, 60000,
				      &err) == 0);
	request(&req, "js", "echo warm");
	TAP_ASSERT(kcr_engine_run(e, &req, &res, &err) == 0);
	TAP_STREQ(res.out, "warm\n");
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	TAP_ASSERT(sandbox_fake_wait(f, pool_full, &two, 60000)); /* refilled */
	n = kcr_pool_stats(kcr_engine_pool(e), st, 32);
	for (size_t i = 0; i < n; i++)
		if (strcmp(st[i].lang, "js") == 0)
			TAP_ASSERT(st[i].hits == 1 && st[i].misses == 0);
	sandbox_fake_counts(f, &c);
	TAP_ASSERT(c.claims == 1 && c.conflicts == 0);
	kcr_engine_free(e);
	return 0;
}

int
main(void)
{
	char state[] = "/tmp/kcr-test-engine.XXXXXX";
	int r;

	cfg = sandbox_fake_config("js", 1, 0); /* for test_with_pool */
	if (mkdtemp(state) == NULL || kcr_config_set(cfg, "state_dir", state, KCR_SRC_FLAG, NULL) < 0)
		abort();
	TAP_PLAN(7);
	RUN_TEST(test_validate);
	RUN_TEST(test_run_unavailable);
	RUN_TEST(test_inputs_placed);
	RUN_TEST(test_outputs_collected);
	RUN_TEST(test_exec_error);
	RUN_TEST(test_deadline);
	RUN_TEST(test_with_pool);
	r = TAP_DONE();
	kcr_config_free(cfg);
	kcr_rm_rf(state);
	return r;
}
