#include <config.h>

#include "runner/proc-internal.h"
#include "runner/proto.h"
#include "store/store.h"
#include "tap.h"
#include "base/util.h"

#include <stdlib.h>

#define BYTES_EQ(p, n, q, m) ((n) == (m) && memcmp((p), (q), (n)) == 0)

/* A request with every field set to a value no default has, the session
 * and input parts included (they must not travel). */
static void
full_request(struct kcr_exec_request *r, char **args, struct kcr_file_ref *ref,
	     struct kcr_file *in)
{
	r->lang = kcr_lang_find("py");
	r->code = "print(1)\0\xff";
	r->code_len = 10;
	r->args = args;
	r->stdin_data = "in\0put";
	r->stdin_len = 6;
	r->limits = (struct kcr_limits){ .timeout_ms = 1501, .memory_mb = 333, .pids = 77,
					 .cpus = 0.75, .nofile = 99, .file_size = 12345,
					 .output_bytes = 4097, .tmp_size_mb = 11,
					 .data_size_mb = 13, .max_output_files = 7,
					 .code_bytes = 5555 };
	r->state_in = "\x80\x04\0.";
	r->state_in_len = 4;
	r->want_state = true;
	r->state_max = 8191;
	r->session_id = "SESSIONSESSIONSESSION";
	r->entity_id = "asst_1";
	r->user_id = "user-1";
	r->files = ref;
	r->n_files = 1;
	r->inputs = in;
	r->n_inputs = 1;
}

/* Every field of the program's part comes back as it went; the limits
 * that apply outside the sandbox (memory, tmpfs sizes, code size) and the
 * session and input parts do not travel. The CPU limit does, for the
 * runtimes that size themselves by it (GOMAXPROCS). */
static int
test_req_every_field(void)
{
	char *args[] = { "a b", "", "--x", NULL };
	struct kcr_file_ref ref = { "FILEFILEFILEFILEFILE1", "SESSIONSESSIONSESSION", "x.csv" };
	struct kcr_file in_file = { "x.csv", "1,2", 3, false };
	struct kcr_exec_request in = { 0 }, out = { 0 };
	const struct kcr_limits *l = &out.limits;
	kcr_error_t err = NULL;
	kcr_autofree char *json = NULL;

	full_request(&in, args, &ref, &in_file);
	json = kcr_proto_exec_req_encode(&in);
	TAP_ASSERT(strstr(json, "SESSIONSESSION") == NULL && strstr(json, "asst_1") == NULL);
	TAP_ASSERT(strstr(json, "user-1") == NULL && strstr(json, "x.csv") == NULL);
	TAP_ASSERT(kcr_proto_exec_req_decode(json, strlen(json), &out, &err) == 0);
	TAP_ASSERT(out.lang == in.lang);
	TAP_ASSERT(BYTES_EQ(out.code, out.code_len, in.code, in.code_len));
	TAP_ASSERT(BYTES_EQ(out.stdin_data, out.stdin_len, in.stdin_data, in.stdin_len));
	TAP_ASSERT(BYTES_EQ(out.state_in, out.state_in_len, in.state_in, in.state_in_len));
	TAP_ASSERT(kcr_strv_len(out.args) == 3);
	TAP_STREQ(out.args[0], "a b");
	TAP_STREQ(out.args[1], "");
	TAP_STREQ(out.args[2], "--x");
	TAP_ASSERT(out.want_state && out.state_max == 8191);
	TAP_ASSERT(l->timeout_ms == 1501 && l->output_bytes == 4097 && l->nofile == 99);
	TAP_ASSERT(l->file_size == 12345 && l->pids == 77 && l->max_output_files == 7);
	TAP_ASSERT(l->cpus == 0.75); /* the runtime's CPU count (GOMAXPROCS) */
	TAP_ASSERT(l->memory_mb == 0 && l->tmp_size_mb == 0 && l->data_size_mb == 0 &&
		   l->code_bytes == 0);
	TAP_ASSERT(out.session_id == NULL && out.entity_id == NULL && out.user_id == NULL);
	TAP_ASSERT(out.n_files == 0 && out.files == NULL && out.n_inputs == 0);
	kcr_exec_request_release(&out);
	return 0;
}

/* Every field of the program's result comes back; the engine's and the
 * service's parts stay where they are (the decode fills only the
 * program's part of a result that has the rest already). */
static int
test_res_every_field(void)
{
	struct kcr_file_info ch[2] = { { "a.csv", 12, 1700000000123456789LL },
				       { "b\xc3\xa9.txt", 0, -1 } };
	struct kcr_exec_result in = { 0 }, out = { 0 };
	kcr_error_t err = NULL;
	kcr_autofree char *json = NULL;

	in = (struct kcr_exec_result){ .exit_code = 137,
				       .signal = 9,
				       .timed_out = true,
				       .out = "o\0\xff",
				       .out_len = 3,
				       .err = "e\n",
				       .err_len = 2,
				       .out_truncated = true,
				       .err_truncated = true,
				       .duration_ms = 4321,
				       .changed = ch,
				       .n_changed = 2,
				       .state_out = "\x80\0.",
				       .state_out_len = 3,
				       .state_note = "not saved (cannot be pickled): gen" };
	memcpy(out.session_id, "SESSIONSESSIONSESSION", KCR_ID_LEN + 1);
	out.queue_us = 42;
	out.setup_us = 43;
	json = kcr_proto_exec_res_encode(&in);
	TAP_ASSERT(kcr_proto_exec_res_decode(json, strlen(json), &out, &err) == 0);
	TAP_ASSERT(out.exit_code == 137 && out.signal == 9 && out.timed_out);
	TAP_ASSERT(BYTES_EQ(out.out, out.out_len, in.out, in.out_len));
	TAP_ASSERT(BYTES_EQ(out.err, out.err_len, in.err, in.err_len));
	TAP_ASSERT(out.out_truncated && out.err_truncated && out.duration_ms == 4321);
	TAP_ASSERT(BYTES_EQ(out.state_out, out.state_out_len, in.state_out, in.state_out_len));
	TAP_ASSERT(out.n_changed == 2);
	for (size_t i = 0; i < 2; i++) {
		TAP_STREQ(out.changed[i].name, ch[i].name);
		TAP_ASSERT(out.changed[i].size == ch[i].size);
	}
	TAP_ASSERT(out.changed[0].mtime_ns == ch[0].mtime_ns);
	TAP_STREQ(out.state_note, in.state_note);
	TAP_STREQ(out.session_id, "SESSIONSESSIONSESSION");
	TAP_ASSERT(out.queue_us == 42 && out.setup_us == 43 && !out.oom_killed);
	kcr_exec_result_release(&out);
	return 0;
}

/* The store's records: every field back as it was written. */
static int
test_store_records(void)
{
	struct kcr_session s = { .id = "SESSIONSESSIONSESSION", .entity_id = "asst_1",
				 .user_id = "u", .created = 1700000000.25,
				 .last_used = 1700000001.5, .expires = 1700003600.75 }, s2;
	struct kcr_file_meta m = { .id = "FILEFILEFILEFILEFILE1", .session_id = "SESSIONSESSIONSESSION",
				   .name = "a_b.csv", .original_name = "a b.csv",
				   .content_type = "text/csv", .size = 123456789012ULL,
				   .created = 1700000000.125, .modified = 1700000002.5,
				   .sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				   .kind = "output", .modified_from = "FROMFROMFROMFROMFROM1",
				   .modified_from_session = "FSESSFSESSFSESSFSESS1" }, m2;
	kcr_error_t err = NULL;
	kcr_autofree char *sj = kcr_session_to_json(&s);
	kcr_autofree char *mj = kcr_file_meta_to_json(&m);

	TAP_ASSERT(kcr_session_from_json(sj, strlen(sj), &s2, &err) == 0);
	TAP_STREQ(s2.id, s.id);
	TAP_STREQ(s2.entity_id, s.entity_id);
	TAP_STREQ(s2.user_id, s.user_id);
	TAP_ASSERT(s2.created == s.created && s2.last_used == s.last_used &&
		   s2.expires == s.expires);
	kcr_session_release(&s2);
	TAP_ASSERT(kcr_file_meta_from_json(mj, strlen(mj), &m2, &err) == 0);
	TAP_STREQ(m2.id, m.id);
	TAP_STREQ(m2.session_id, m.session_id);
	TAP_STREQ(m2.name, m.name);
	TAP_STREQ(m2.original_name, m.original_name);
	TAP_STREQ(m2.content_type, m.content_type);
	TAP_ASSERT(m2.size == m.size && m2.created == m.created && m2.modified == m.modified);
	TAP_STREQ(m2.sha256, m.sha256);
	TAP_STREQ(m2.kind, m.kind);
	TAP_STREQ(m2.modified_from, m.modified_from);
	TAP_STREQ(m2.modified_from_session, m.modified_from_session);
	kcr_file_meta_release(&m2);
	return 0;
}

static int
test_req_roundtrip(void)
{
	struct kcr_exec_request in = { 0 }, out = { 0 };
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
	kcr_exec_request_release(&out);
	return 0;
}

static int
test_res_roundtrip(void)
{
	struct kcr_exec_result in = { 0 }, out = { 0 };
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
	kcr_exec_result_release(&out);
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
	struct kcr_exec_request r = { 0 };
	struct kcr_exec_result res = { 0 };
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
	struct kcr_exec_request req = { 0 };
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
	kcr_exec_request_release(&req);
	return 0;
}

int
main(void)
{
	TAP_PLAN(7);
	RUN_TEST(test_req_roundtrip);
	RUN_TEST(test_res_roundtrip);
	RUN_TEST(test_req_every_field);
	RUN_TEST(test_res_every_field);
	RUN_TEST(test_store_records);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_limit_defaults);
	return TAP_DONE();
}
