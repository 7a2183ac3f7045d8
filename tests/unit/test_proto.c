#include <config.h>

#include "runner/proc-internal.h"
#include "runner/proto.h"
#include "tap.h"
#include "base/util.h"

#include <stdlib.h>

static int
test_req_roundtrip(void)
{
	struct kcr_exec_req in = { 0 }, out = { 0 };
	kcr_error_t err = NULL;
	kcr_autofree char *json = NULL;
	char *args[] = { "a b", "--x", NULL };

	in.lang = kcr_lang_find("py");
	in.code = "print(1)\n";
	in.code_len = strlen(in.code);
	in.args = args;
	in.stdin_data = "in\0put";
	in.stdin_len = 6;
	in.limits.timeout_ms = 1500;
	in.limits.output_bytes = 4096;
	json = kcr_proto_exec_req_encode(&in);
	TAP_ASSERT(kcr_proto_exec_req_decode(json, strlen(json), &out, &err) == 0);
	TAP_STREQ(out.lang->id, "py");
	TAP_ASSERT(out.code_len == in.code_len && memcmp(out.code, in.code, in.code_len) == 0);
	TAP_ASSERT(out.stdin_len == 6 && memcmp(out.stdin_data, "in\0put", 6) == 0);
	TAP_STREQ(out.args[0], "a b");
	TAP_STREQ(out.args[1], "--x");
	TAP_ASSERT(out.args[2] == NULL);
	TAP_ASSERT(out.limits.timeout_ms == 1500 && out.limits.output_bytes == 4096);
	kcr_exec_req_release(&out);
	return 0;
}

static int
test_res_roundtrip(void)
{
	struct kcr_exec_res in = { 0 }, out = { 0 };
	struct kcr_file_info f = { .name = "out.csv", .size = 12, .mtime_ns = 5 };
	kcr_error_t err = NULL;
	kcr_autofree char *json = NULL;

	in.exit_code = 124;
	in.timed_out = true;
	in.out = "\xff\x00z";
	in.out_len = 3;
	in.err = "";
	in.changed = &f;
	in.n_changed = 1;
	json = kcr_proto_exec_res_encode(&in);
	TAP_ASSERT(kcr_proto_exec_res_decode(json, strlen(json), &out, &err) == 0);
	TAP_ASSERT(out.exit_code == 124 && out.timed_out);
	TAP_ASSERT(out.out_len == 3 && memcmp(out.out, "\xff\x00z", 3) == 0);
	TAP_ASSERT(out.n_changed == 1);
	TAP_STREQ(out.changed[0].name, "out.csv");
	kcr_exec_res_release(&out);
	return 0;
}

static int
test_bad_input(void)
{
	static const char *bad[] = {
		"", "[]", "{\"language\":\"cobol\",\"code_b64\":\"\"}",
		"{\"language\":\"py\"}", "{\"language\":\"py\",\"code_b64\":\"!!\"}",
		"{\"language\":\"py\",\"code_b64\":\"\",\"args\":[1]}",
	};
	struct kcr_exec_req r;
	struct kcr_exec_res res;
	kcr_error_t err = NULL;

	for (size_t i = 0; i < KCR_ARRAY_SIZE(bad); i++) {
		TAP_ASSERT(kcr_proto_exec_req_decode(bad[i], strlen(bad[i]), &r, &err) < 0);
		TAP_ASSERT(err && err->code == KCR_E_INVALID);
		kcr_error_release(&err);
	}
	/* a runner must not be able to name a file outside /mnt/data */
	const char *evil = "{\"stdout_b64\":\"\",\"stderr_b64\":\"\","
			   "\"changed\":[{\"name\":\"../../etc/x\"}]}";
	TAP_ASSERT(kcr_proto_exec_res_decode(evil, strlen(evil), &res, &err) < 0);
	kcr_error_release(&err);
	return 0;
}

#define SAME(a, b, f) ((a).f == (b).f)

/* One set of default limits: kcr_limits_defaults(), the configuration's
 * defaults, a zero struct as the runner fills it, and a request that
 * names no limit (whose pids stays 0: no RLIMIT_NPROC). */
static int
test_limit_defaults(void)
{
	struct kcr_limits d, c, z = { 0 };
	struct kcr_config *cfg = kcr_config_new();
	const char *json = "{\"language\":\"py\",\"code_b64\":\"\"}";
	struct kcr_exec_req req;
	kcr_error_t err = NULL;

	kcr_limits_defaults(&d);
	kcr_limits_from_config(&c, cfg, NULL);
	kcr_config_free(cfg);
	TAP_ASSERT(SAME(c, d, timeout_ms) && SAME(c, d, memory_mb) && SAME(c, d, pids));
	TAP_ASSERT(SAME(c, d, cpus) && SAME(c, d, nofile) && SAME(c, d, file_size));
	TAP_ASSERT(SAME(c, d, output_bytes) && SAME(c, d, tmp_size_mb));
	TAP_ASSERT(SAME(c, d, data_size_mb) && SAME(c, d, max_output_files));
	TAP_ASSERT(SAME(c, d, code_bytes));
	proc_normalize_limits(&z);
	TAP_ASSERT(SAME(z, d, timeout_ms) && SAME(z, d, output_bytes));
	TAP_ASSERT(SAME(z, d, max_output_files));
	TAP_ASSERT(kcr_proto_exec_req_decode(json, strlen(json), &req, &err) == 0);
	TAP_ASSERT(SAME(req.limits, d, timeout_ms) && SAME(req.limits, d, output_bytes));
	TAP_ASSERT(SAME(req.limits, d, nofile) && SAME(req.limits, d, file_size));
	TAP_ASSERT(SAME(req.limits, d, max_output_files) && req.limits.pids == 0);
	kcr_exec_req_release(&req);
	return 0;
}

int
main(void)
{
	TAP_PLAN(4);
	RUN_TEST(test_req_roundtrip);
	RUN_TEST(test_res_roundtrip);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_limit_defaults);
	return TAP_DONE();
}
