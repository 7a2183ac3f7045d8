/* kcr_proc_run() for real, outside a sandbox, with bash (and gcc when
 * installed). As root the programs run as KCR_SANDBOX_UID. */
#include <config.h>

#include "runner/proc.h"
#include "base/files.h"
#include "runner/sandbox_init.h"
#include "program_dirs.h"
#include "tap.h"
#include "base/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[] = "/tmp/kcr-test-proc.XXXXXX";
static char *data_dir, *src_dir;

static int
run(const char *lang, const char *code, struct kcr_exec_result *res, struct kcr_limits *lim)
{
	struct kcr_exec_request req = { .lang = kcr_lang_find(lang) };
	kcr_error_t err = NULL;
	int r;

	req.code = (char *)code;
	req.code_len = strlen(code);
	req.limits = lim ? *lim : (struct kcr_limits){ .timeout_ms = 10000 };
	r = kcr_proc_run(&req, data_dir, src_dir, res, &err);
	if (r < 0) {
		fprintf(stderr, "# kcr_proc_run: %s\n", err->msg);
		kcr_error_release(&err);
	}
	return r;
}

static int
test_exit_and_output(void)
{
	struct kcr_exec_result res = { 0 };

	TAP_ASSERT(run("bash", "echo out; echo err >&2; exit 7", &res, NULL) == 0);
	TAP_ASSERT(res.exit_code == 7 && res.signal == 0 && !res.timed_out);
	TAP_STREQ(res.out, "out\n");
	TAP_STREQ(res.err, "err\n");
	kcr_exec_result_release(&res);
	TAP_ASSERT(run("bash", "kill -SEGV $$", &res, NULL) == 0);
	TAP_ASSERT(res.exit_code == 139 && res.signal == SIGSEGV);
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_stdin_args_env(void)
{
	struct kcr_exec_request req = { .lang = kcr_lang_find("bash") };
	char *args[] = { "a b", "", NULL };
	const char *code = "echo \"$#:$1:$2\"; cat; echo \"$PATH $HOME $USER $FOO\"";
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	setenv("FOO", "leak", 1);
	req.code = (char *)code;
	req.code_len = strlen(code);
	req.args = args;
	req.stdin_data = "in\n";
	req.stdin_len = 3;
	req.limits.timeout_ms = 10000;
	TAP_ASSERT(kcr_proc_run(&req, data_dir, src_dir, &res, &err) == 0);
	TAP_STREQ(res.out, "2:a b:\nin\n" KCR_SANDBOX_PATH " /tmp sandbox \n");
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_timeout_kills_tree(void)
{
	struct kcr_limits lim = { .timeout_ms = 300 };
	struct kcr_exec_result res = { 0 };
	long bg;

	TAP_ASSERT(run("bash", "sleep 60 & echo $!; setsid sleep 61 & sleep 30", &res, &lim) == 0);
	TAP_ASSERT(res.timed_out && res.exit_code == 124);
	TAP_ASSERT(res.duration_ms >= 300 && res.duration_ms < 3000);
	TAP_ASSERT(strstr(res.err, "kcr: timed out after 0.3 s (wall-clock limit)") != NULL);
	bg = strtol(res.out, NULL, 10);
	TAP_ASSERT(bg > 1 && kill((pid_t)bg, 0) < 0 && errno == ESRCH);
	kcr_exec_result_release(&res);
	/* a program that exits leaves nothing behind either */
	TAP_ASSERT(run("bash", "sleep 60 & echo $!", &res, NULL) == 0);
	bg = strtol(res.out, NULL, 10);
	TAP_ASSERT(res.exit_code == 0 && bg > 1 && kill((pid_t)bg, 0) < 0 && errno == ESRCH);
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_output_cap(void)
{
	struct kcr_limits lim = { .timeout_ms = 10000, .output_bytes = 1000 };
	struct kcr_exec_result res = { 0 };

	TAP_ASSERT(run("bash", "head -c 200000 /dev/zero", &res, &lim) == 0);
	TAP_ASSERT(res.exit_code == 0 && res.out_len == 1000 && res.out_truncated);
	TAP_ASSERT(!res.err_truncated);
	TAP_ASSERT(strstr(res.err, "[kcr: stdout truncated: 199000 bytes over the "
				   "1000-byte limit]") != NULL);
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_changed_files(void)
{
	kcr_autofree char *keep = kcr_strdup_printf("%s/keep", data_dir);
	kcr_autofree char *mod = kcr_strdup_printf("%s/mod", data_dir);
	struct kcr_exec_result res = { 0 };

	TAP_ASSERT(kcr_write_file(keep, "k", 1, 0666, NULL) == 0);
	TAP_ASSERT(kcr_write_file(mod, "m", 1, 0666, NULL) == 0);
	chmod(keep, 0666);
	chmod(mod, 0666);
	TAP_ASSERT(run("bash", "echo more >> mod; echo n > new; echo h > .hidden; "
			       "mkdir dir; ln -s keep link",
		       &res, NULL) == 0);
	TAP_ASSERT(res.exit_code == 0);
	TAP_ASSERT(res.n_changed == 2);
	TAP_STREQ(res.changed[0].name, "mod");
	TAP_ASSERT(res.changed[0].size == 6);
	TAP_STREQ(res.changed[1].name, "new");
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_compile_failure(void)
{
	struct kcr_exec_result res = { 0 };

	if (access("/usr/bin/gcc", X_OK) < 0)
		return 77;
	TAP_ASSERT(run("c", "int main(void) { return nope; }", &res, NULL) == 0);
	TAP_ASSERT(res.exit_code != 0 && strstr(res.err, "nope") != NULL);
	kcr_exec_result_release(&res);
	TAP_ASSERT(run("c", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 4; }",
		       &res, NULL) == 0);
	TAP_ASSERT(res.exit_code == 4);
	TAP_STREQ(res.out, "hi\n");
	kcr_exec_result_release(&res);
	return 0;
}

static int
test_missing_runtime(void)
{
	static const char *const run_argv[] = { "/nonexistent/kcr-runtime", "{src}", NULL };
	struct kcr_lang fake = *kcr_lang_find("bash");
	struct kcr_exec_request req = { .lang = &fake, .code = "x", .code_len = 1 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;

	fake.run = run_argv;
	req.limits.timeout_ms = 5000;
	TAP_ASSERT(kcr_proc_run(&req, data_dir, src_dir, &res, &err) == -1);
	TAP_ASSERT(err != NULL && err->code == KCR_E_UNAVAILABLE);
	TAP_STREQ(err->msg, "cannot execute /nonexistent/kcr-runtime: No such file or directory");
	kcr_error_release(&err);
	return 0;
}

/* The child of this process running `bash <src_dir>/code.sh`: the
 * pre-warmed one. */
static pid_t
warm_bash_pid(void)
{
	kcr_autofree char *script = kcr_strdup_printf("%s/code.sh", src_dir);
	kcr_autofree char *path = kcr_strdup_printf("/proc/self/task/%d/children", (int)getpid());
	kcr_autofree char *kids = NULL;

	if (kcr_read_file(path, 4096, &kids, NULL, NULL) < 0)
		return -1;
	for (char *tok = strtok(kids, " \n"); tok; tok = strtok(NULL, " \n")) {
		kcr_autofree char *cl = kcr_strdup_printf("/proc/%s/cmdline", tok);
		kcr_autofree char *cmd = NULL;
		size_t len = 0;

		/* "/bin/bash\0<script>\0" */
		if (kcr_read_file(cl, 4096, &cmd, &len, NULL) == 0 &&
		    len == sizeof("/bin/bash") + strlen(script) + 1 &&
		    strcmp(cmd, "/bin/bash") == 0 && strcmp(cmd + sizeof("/bin/bash"), script) == 0)
			return (pid_t)atoi(tok);
	}
	return -1;
}

/* A pre-warmed bash (its start-up file read before the script exists)
 * runs a script exactly as a cold `bash code.sh args` does: what it sees
 * of itself, its args and stdin, its errors and exit status; nothing of
 * the bootstrap is left, in its variables, environment or directory. */
static int
test_bash_warm_as_cold(void)
{
	const char *code =
		"echo \"pid=$$\" >&2\n"
		"echo \"0=${0##*/} #=$# @=$*| src=${BASH_SOURCE[*]##*/} fn=${FUNCNAME[*]} -=$-\"\n"
		"(return 0 2>/dev/null) && echo sourced || echo executed\n"
		"compgen -v | grep -c -e __kcr -e BASH_ENV\n"
		"ls -A \"${0%/*}\"\n"
		"IFS= read -r line; echo \"stdin=$line\"\n"
		"no_such_command\n"
		"f() { return 3; }; f; echo \"rc=$? line=$LINENO\"\n"
		"exit 5\n";
	char *args[] = { "a b", "", "-x\nz", NULL };
	struct kcr_exec_request req = { .lang = kcr_lang_find("bash") };
	struct kcr_exec_result cold = { 0 }, warm = { 0 };
	struct kcr_limits lim = { .timeout_ms = 10000 };
	kcr_autofree char *cold_err = NULL, *warm_err = NULL, *pid_line = NULL;
	kcr_error_t err = NULL;
	pid_t pid;

	req.code = (char *)code;
	req.code_len = strlen(code);
	req.args = args;
	req.stdin_data = "in put\nrest\n";
	req.stdin_len = strlen(req.stdin_data);
	req.limits = lim;
	TAP_ASSERT(kcr_proc_run(&req, data_dir, src_dir, &cold, &err) == 0);
	TAP_ASSERT(kcr_proc_prewarm(req.lang, &lim, data_dir, src_dir, NULL, &err) == 0);
	/* its start-up file is gone: the source will be alone in src_dir */
	TAP_ASSERT(rmdir(src_dir) == 0 && mkdir(src_dir, 0700) == 0);
	TAP_ASSERT((pid = warm_bash_pid()) > 0);
	TAP_ASSERT(kcr_proc_run(&req, data_dir, src_dir, &warm, &err) == 0);
	TAP_STREQ(warm.out, cold.out);
	TAP_STREQ(cold.out, "0=code.sh #=3 @=a b  -x\nz| src=code.sh fn= -=hB\nexecuted\n0\n"
			    "code.sh\nstdin=in put\nrc=3 line=8\n");
	/* the same errors, but for the pid: the warm one is the bash started ahead */
	pid_line = kcr_strdup_printf("pid=%d\n", (int)pid);
	TAP_ASSERT(strncmp(warm.err, pid_line, strlen(pid_line)) == 0);
	cold_err = kcr_xstrdup(strchr(cold.err, '\n'));
	warm_err = kcr_xstrdup(strchr(warm.err, '\n'));
	TAP_STREQ(warm_err, cold_err);
	TAP_ASSERT(strstr(cold_err, "code.sh: line 7: no_such_command: command not found") != NULL);
	TAP_ASSERT(warm.exit_code == 5 && cold.exit_code == 5);
	kcr_exec_result_release(&cold);
	kcr_exec_result_release(&warm);
	return 0;
}

int
main(void)
{
	if (access("/bin/bash", X_OK) < 0 || program_dirs(base, &data_dir, &src_dir) < 0) {
		printf("1..0 # SKIP no bash or no temporary directory\n");
		return 0;
	}
	TAP_PLAN(8);
	RUN_TEST(test_exit_and_output);
	RUN_TEST(test_stdin_args_env);
	RUN_TEST(test_timeout_kills_tree);
	RUN_TEST(test_output_cap);
	RUN_TEST(test_changed_files);
	RUN_TEST(test_compile_failure);
	RUN_TEST(test_missing_runtime);
	RUN_TEST(test_bash_warm_as_cold);
	kcr_rm_rf(base);
	free(data_dir);
	free(src_dir);
	return TAP_DONE();
}
