/* The Python state: the stored format (lib/base/pystate_blob.c) and, when python3 is
 * installed, its capture and restore by kcr_proc_run (lib/runner/pystate_hook.c). */
#include <config.h>

#include "runner/proc.h"
#include "base/files.h"
#include "runner/pystate_hook.h"
#include "runner/proto.h"
#include "runner/sandbox_init.h"
#include "base/pystate_blob.h"
#include "program_dirs.h"
#include "tap.h"
#include "base/util.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[] = "/tmp/kcr-test-state.XXXXXX";
static char *data_dir, *src_dir;

/* n bytes that look like a pickle: some text, some noise, then STOP. */
static char *
fake_pickle(size_t n)
{
	char *p = kcr_xmalloc(n);
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		p[i] = i % 3 ? "abcdefgh"[i % 8] : (char)(x >> 16);
	}
	p[0] = (char)0x80;
	p[n - 1] = '.';
	return p;
}

static int
expect_err(int r, kcr_error_t *err, enum kcr_errc code)
{
	if (r == 0)
		TAP_FAIL("succeeded, expected %s", kcr_errc_name(code));
	if ((*err)->code != code)
		TAP_FAIL("'%s' is %s, expected %s", (*err)->msg, kcr_errc_name((*err)->code),
			 kcr_errc_name(code));
	kcr_error_release(err);
	return 0;
}

static int
test_roundtrip(void)
{
	size_t sizes[] = { 1, 2, 100, 70000, 3 << 20 };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(sizes); i++) {
		kcr_autofree char *p = fake_pickle(sizes[i]);
		kcr_autofree char *blob = NULL, *back = NULL;
		size_t blen, n;
		kcr_error_t err = NULL;
		char h1[65], h2[65];

		TAP_ASSERT(kcr_pystate_blob_encode(p, sizes[i], 0, &blob, &blen, &err) == 0);
		TAP_ASSERT(blob[0] == KCR_PYSTATE_V2);
		TAP_ASSERT(kcr_pystate_blob_validate(blob, blen, 0, &err) == 0);
		TAP_ASSERT(kcr_pystate_blob_decode(blob, blen, KCR_PYSTATE_MAX_DEFAULT, &back, &n,
						   &err) == 0);
		TAP_ASSERT(n == sizes[i] && memcmp(back, p, n) == 0);
		kcr_pystate_blob_hash(blob, blen, h1);
		kcr_pystate_blob_hash(blob, blen, h2);
		TAP_ASSERT(strlen(h1) == 64 && strspn(h1, "0123456789abcdef") == 64);
		TAP_STREQ(h1, h2);
	}
	return 0;
}

/* What KubeCodeRun's validator accepts too: version 1 is the raw pickle,
 * and an LZ4 frame that does not say its size (a streamed one). */
static int
test_version1_and_streamed_frame(void)
{
	kcr_autofree char *p = fake_pickle(5000);
	kcr_autofree char *blob = kcr_xmalloc(5001), *back = NULL, *frame = NULL;
	LZ4F_preferences_t prefs = { .frameInfo.contentSize = 0 };
	size_t n, bound = LZ4F_compressFrameBound(5000, &prefs);
	kcr_error_t err = NULL;

	blob[0] = KCR_PYSTATE_V1;
	memcpy(blob + 1, p, 5000);
	TAP_ASSERT(kcr_pystate_blob_decode(blob, 5001, 0, &back, &n, &err) == 0);
	TAP_ASSERT(n == 5000 && memcmp(back, p, n) == 0);
	free(kcr_steal(&back));
	frame = kcr_xmalloc(bound + 1);
	frame[0] = KCR_PYSTATE_V2;
	n = LZ4F_compressFrame(frame + 1, bound, p, 5000, &prefs);
	TAP_ASSERT(!LZ4F_isError(n));
	TAP_ASSERT(kcr_pystate_blob_decode(frame, n + 1, 0, &back, &n, &err) == 0);
	TAP_ASSERT(n == 5000 && memcmp(back, p, n) == 0);
	return 0;
}

static int
test_corrupt_frame(void)
{
	kcr_autofree char *p = fake_pickle(200000);
	kcr_autofree char *blob = NULL, *back = NULL;
	size_t blen, n;
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_pystate_blob_encode(p, 200000, 0, &blob, &blen, &err) == 0);
	blob[blen / 2] ^= 0x55; /* the content checksum notices */
	TAP_ASSERT(expect_err(kcr_pystate_blob_decode(blob, blen, 0, &back, &n, &err), &err,
			      KCR_E_INVALID) == 0);
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen, 0, &err), &err,
			      KCR_E_INVALID) == 0);
	blob[blen / 2] ^= 0x55;
	blob[1] ^= 0x01; /* the frame's magic number */
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen, 0, &err), &err,
			      KCR_E_INVALID) == 0);
	blob[1] ^= 0x01;
	/* bytes after the frame */
	blob = kcr_xrealloc(blob, blen + 3);
	memcpy(blob + blen, "xyz", 3);
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen + 3, 0, &err), &err,
			      KCR_E_INVALID) == 0);
	TAP_ASSERT(kcr_pystate_blob_validate(blob, blen, 0, &err) == 0);
	/* random bytes behind a good version byte */
	for (size_t i = 1; i < blen; i++)
		blob[i] = (char)(i * 7919 >> 3);
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen, 0, &err), &err,
			      KCR_E_INVALID) == 0);
	return 0;
}

static int
test_truncated(void)
{
	kcr_autofree char *p = fake_pickle(3000);
	kcr_autofree char *blob = NULL;
	size_t blen;
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_pystate_blob_encode(p, 3000, 0, &blob, &blen, &err) == 0);
	for (size_t n = 0; n < blen; n++) {
		char *back = NULL;
		size_t len;

		if (kcr_pystate_blob_decode(blob, n, 0, &back, &len, &err) == 0)
			TAP_FAIL("a blob cut to %zu of %zu bytes decodes", n, blen);
		TAP_ASSERT(err->code == KCR_E_INVALID);
		kcr_error_release(&err);
	}
	return 0;
}

static int
test_wrong_version(void)
{
	const unsigned char versions[] = { 0, 3, '{', 0xff };
	kcr_autofree char *blob = fake_pickle(100);
	kcr_error_t err = NULL;

	for (size_t i = 0; i < sizeof(versions); i++) {
		blob[0] = (char)versions[i];
		TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, 100, 0, &err), &err,
				      KCR_E_INVALID) == 0);
	}
	blob[0] = KCR_PYSTATE_V1;
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, 1, 0, &err), &err, KCR_E_INVALID) ==
		   0);
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, 0, 0, &err), &err, KCR_E_INVALID) ==
		   0);
	/* a version 1 payload that is not a pickle (no STOP at the end) */
	blob[99] = 'x';
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, 100, 0, &err), &err, KCR_E_INVALID) ==
		   0);
	return 0;
}

static int
test_oversize(void)
{
	size_t big = 4 << 20;
	kcr_autofree char *p = kcr_xzalloc(big); /* zeros: a tiny frame */
	kcr_autofree char *blob = NULL, *back = NULL;
	size_t blen, n;
	kcr_error_t err = NULL;

	p[big - 1] = '.';
	TAP_ASSERT(expect_err(kcr_pystate_blob_encode(p, big, 1 << 20, &blob, &blen, &err), &err,
			      KCR_E_LIMIT) == 0);
	TAP_ASSERT(kcr_pystate_blob_encode(p, big, 0, &blob, &blen, &err) == 0);
	TAP_ASSERT(blen < 64 * 1024);
	/* the blob is small, what it decompresses to is not */
	TAP_ASSERT(expect_err(kcr_pystate_blob_decode(blob, blen, 1 << 20, &back, &n, &err), &err,
			      KCR_E_LIMIT) == 0);
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen, 1 << 20, &err), &err,
			      KCR_E_LIMIT) == 0);
	/* the blob itself over the limit */
	TAP_ASSERT(expect_err(kcr_pystate_blob_validate(blob, blen, blen - 1, &err), &err,
			      KCR_E_LIMIT) == 0);
	TAP_ASSERT(kcr_pystate_blob_validate(blob, blen, big, &err) == 0);
	return 0;
}

/* The state travels to kcr-runner and back (lib/runner/proto.h). */
static int
test_proto(void)
{
	struct kcr_exec_request in = { .lang = kcr_lang_find("py") }, out = { 0 };
	struct kcr_exec_result rin = { 0 }, rout = { 0 };
	kcr_error_t err = NULL;
	kcr_autofree char *json = NULL, *rjson = NULL;

	in.code = "x = 1\n";
	in.code_len = 6;
	in.state_in = "\x80\x05\0}.";
	in.state_in_len = 5;
	in.want_state = true;
	in.state_max = 12345;
	json = kcr_proto_exec_req_encode(&in);
	TAP_ASSERT(kcr_proto_exec_req_decode(json, strlen(json), &out, &err) == 0);
	TAP_ASSERT(out.state_in_len == 5 && memcmp(out.state_in, in.state_in, 5) == 0);
	TAP_ASSERT(out.want_state && out.state_max == 12345);
	kcr_exec_request_release(&out);
	free(kcr_steal(&json));
	in.state_in = NULL;
	in.want_state = false;
	in.state_max = 0;
	json = kcr_proto_exec_req_encode(&in);
	TAP_ASSERT(strstr(json, "state") == NULL);
	TAP_ASSERT(kcr_proto_exec_req_decode(json, strlen(json), &out, &err) == 0);
	TAP_ASSERT(out.state_in == NULL && !out.want_state && out.state_max == 0);
	kcr_exec_request_release(&out);

	rin.out = rin.err = "";
	rin.state_out = "\0pickle.";
	rin.state_out_len = 8;
	rjson = kcr_proto_exec_res_encode(&rin);
	TAP_ASSERT(kcr_proto_exec_res_decode(rjson, strlen(rjson), &rout, &err) == 0);
	TAP_ASSERT(rout.state_out_len == 8 && memcmp(rout.state_out, "\0pickle.", 8) == 0);
	kcr_exec_result_release(&rout);
	free(kcr_steal(&rjson));
	rin.state_out = NULL;
	rjson = kcr_proto_exec_res_encode(&rin);
	TAP_ASSERT(kcr_proto_exec_res_decode(rjson, strlen(rjson), &rout, &err) == 0);
	TAP_ASSERT(rout.state_out == NULL);
	kcr_exec_result_release(&rout);
	return 0;
}

/* ---- capture and restore in a real python3 (outside a sandbox) ---- */

static int
py_run(const char *code, const char *state_in, size_t state_len, bool want,
       struct kcr_exec_result *res)
{
	struct kcr_exec_request req = { .lang = kcr_lang_find("py") };
	kcr_error_t err = NULL;
	int r;

	req.code = (char *)code;
	req.code_len = strlen(code);
	req.limits = (struct kcr_limits){ .timeout_ms = 20000 };
	req.state_in = (char *)state_in;
	req.state_in_len = state_len;
	req.want_state = want;
	r = kcr_proc_run(&req, data_dir, src_dir, res, &err);
	if (r < 0) {
		fprintf(stderr, "# kcr_proc_run: %s\n", err->msg);
		kcr_error_release(&err);
	}
	return r;
}

static int
have_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 &&
	       system("/usr/bin/python3 -c 'import cloudpickle' 2>/dev/null") == 0;
}

static int
test_py_state_carries_over(void)
{
	struct kcr_exec_result r1 = { 0 }, r2 = { 0 };
	kcr_autofree char *state = NULL;
	size_t state_len;

	if (!have_python())
		return 77;
	TAP_ASSERT(py_run("import math\n"
			  "x = 41\n"
			  "count = 0\n"
			  "def inc():\n"
			  "    global count\n"
			  "    count += 1\n"
			  "    return count\n"
			  "class P:\n"
			  "    def __init__(self, v): self.v = v\n"
			  "p = P(x)\n"
			  "gen = (i for i in range(3))\n"
			  "_hidden = 1\n"
			  "print('one')\n",
			  NULL, 0, true, &r1) == 0);
	TAP_ASSERT(r1.exit_code == 0);
	TAP_STREQ(r1.out, "one\n");
	TAP_STREQ(r1.err, "");
	TAP_STREQ(r1.state_note, "not saved (cannot be pickled): gen");
	TAP_ASSERT(r1.state_out != NULL && r1.state_out_len > 10);
	state = kcr_steal(&r1.state_out);
	state_len = r1.state_out_len;
	kcr_exec_result_release(&r1);

	/* globals come back; a function sees the live ones; no module, no _name */
	TAP_ASSERT(py_run("print(x + 1, inc(), inc(), count, p.v, type(p).__name__)\n"
			  "print(sorted(k for k in globals() if not k.startswith('__')))\n",
			  state, state_len, true, &r2) == 0);
	TAP_ASSERT(r2.exit_code == 0);
	TAP_STREQ(r2.out, "42 1 2 2 41 P\n['P', 'count', 'inc', 'p', 'x']\n");
	TAP_STREQ(r2.err, "");
	TAP_ASSERT(r2.state_out != NULL);
	kcr_exec_result_release(&r2);
	return 0;
}

/* The program's output, tracebacks and exit codes are the same with and
 * without the state; a failed run gives no state. */
static int
test_py_output_unchanged(void)
{
	static const char *const codes[] = {
		"import traceback\ndef f():\n    traceback.print_stack()\n    return 1 / 0\nf()\n",
		"x = (\n",
		"import sys\nprint('a')\nsys.exit(3)\n",
		"import sys\nsys.exit('bye')\n",
		"print(__name__, __file__.endswith('code.py'), len(__import__('sys').argv))\n",
	};

	if (!have_python())
		return 77;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(codes); i++) {
		struct kcr_exec_result plain = { 0 }, st = { 0 };

		TAP_ASSERT(py_run(codes[i], NULL, 0, false, &plain) == 0);
		TAP_ASSERT(py_run(codes[i], "\x80\x05}\x94.", 5, true, &st) == 0);
		if (plain.exit_code != st.exit_code || strcmp(plain.out, st.out) != 0 ||
		    strcmp(plain.err, st.err) != 0)
			TAP_FAIL("code %zu: exit %d/%d, stdout '%s'/'%s', stderr '%s'/'%s'", i,
				 plain.exit_code, st.exit_code, plain.out, st.out, plain.err,
				 st.err);
		TAP_ASSERT(st.exit_code == 0 ? st.state_out != NULL : st.state_out == NULL);
		kcr_exec_result_release(&plain);
		kcr_exec_result_release(&st);
	}
	return 0;
}

/* The same through a pre-warmed interpreter (kcr_proc_prewarm), which
 * runs the hook itself; a run that fails leaves no state. */
static int
test_py_state_warm(void)
{
	struct kcr_limits lim = { .timeout_ms = 20000 };
	struct kcr_exec_result r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	kcr_autofree char *state = NULL;
	kcr_error_t err = NULL;
	size_t state_len;

	if (!have_python())
		return 77;
	TAP_ASSERT(kcr_proc_prewarm(kcr_lang_find("py"), &lim, data_dir, src_dir, "", &err) == 0);
	TAP_ASSERT(py_run("def twice(v):\n    return 2 * v\nn = 21\ng = (i for i in ())\n", NULL, 0,
			  true, &r1) == 0);
	TAP_ASSERT(r1.exit_code == 0 && r1.state_out != NULL);
	TAP_STREQ(r1.err, "");
	TAP_STREQ(r1.state_note, "not saved (cannot be pickled): g");
	state = kcr_steal(&r1.state_out);
	state_len = r1.state_out_len;
	kcr_exec_result_release(&r1);
	TAP_ASSERT(kcr_proc_prewarm(kcr_lang_find("py"), &lim, data_dir, src_dir, "", &err) == 0);
	TAP_ASSERT(py_run("print(twice(n))\n", state, state_len, true, &r2) == 0);
	TAP_ASSERT(r2.exit_code == 0 && r2.state_out != NULL);
	TAP_STREQ(r2.out, "42\n");
	TAP_STREQ(r2.err, "");
	kcr_exec_result_release(&r2);
	TAP_ASSERT(kcr_proc_prewarm(kcr_lang_find("py"), &lim, data_dir, src_dir, "", &err) == 0);
	TAP_ASSERT(py_run("n = 5\nraise ValueError(n)\n", state, state_len, true, &r3) == 0);
	TAP_ASSERT(r3.exit_code == 1 && r3.state_out == NULL);
	TAP_ASSERT(strstr(r3.err, "ValueError: 5") != NULL);
	kcr_exec_result_release(&r3);
	return 0;
}

static int
test_py_state_limit(void)
{
	struct kcr_exec_result r = { 0 };
	struct kcr_exec_request req = { .lang = kcr_lang_find("py") };
	kcr_error_t err = NULL;
	const char *code = "big = 'x' * 100000\n";

	if (!have_python())
		return 77;
	req.code = (char *)code;
	req.code_len = strlen(code);
	req.limits = (struct kcr_limits){ .timeout_ms = 20000 };
	req.want_state = true;
	req.state_max = 50000;
	TAP_ASSERT(kcr_proc_run(&req, data_dir, src_dir, &r, &err) == 0);
	TAP_ASSERT(r.exit_code == 0 && r.state_out == NULL);
	TAP_ASSERT(r.state_note && strstr(r.state_note, "not saved: ") == r.state_note);
	kcr_exec_result_release(&r);
	return 0;
}

int
main(void)
{
	if (program_dirs(base, &data_dir, &src_dir) < 0) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	TAP_PLAN(11);
	RUN_TEST(test_roundtrip);
	RUN_TEST(test_version1_and_streamed_frame);
	RUN_TEST(test_corrupt_frame);
	RUN_TEST(test_truncated);
	RUN_TEST(test_wrong_version);
	RUN_TEST(test_oversize);
	RUN_TEST(test_proto);
	RUN_TEST(test_py_state_carries_over);
	RUN_TEST(test_py_output_unchanged);
	RUN_TEST(test_py_state_warm);
	RUN_TEST(test_py_state_limit);
	kcr_rm_rf(base);
	free(data_dir);
	free(src_dir);
	return TAP_DONE();
}
