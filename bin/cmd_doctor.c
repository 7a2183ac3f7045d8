/* kcr doctor: can this machine run sandboxes? One line per check: ok, or
 * what is wrong and how to fix it. */
#include <config.h>

#include "runner/seccomp.h"
#include "sandbox/cgroup.h"
#include "base/files.h"
#include "cmd.h"
#include "base/lang.h"
#include "engine/engine.h"
#include "base/util.h"
#include "base/clock.h"
#include "store/store.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct doctor {
	int failed;
};

static void line(struct doctor *d, bool ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
line(struct doctor *d, bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("%-5s %-22s ", ok ? "ok" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		d->failed++;
}

static int
try_unshare(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
			      CLONE_NEWIPC | CLONE_NEWUTS) == 0
			      ? 0
			      : errno);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}

static void
check_namespaces(struct doctor *d)
{
	int e = try_unshare();

	if (e == 0)
		line(d, true, "namespaces", "user, pid, mount, net, ipc and uts");
	else
		line(d, false, "namespaces",
		     "unshare failed: %s; fix: enable user namespaces "
		     "(sysctl user.max_user_namespaces=15000, kernel.unprivileged_userns_clone=1)",
		     strerror(e));
}

static void
check_seccomp(struct doctor *d)
{
	unsigned int api = seccomp_api_get();

	if (api >= 1 && prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0)
		line(d, true, "seccomp",
		     "filter mode available (libseccomp API level %u); an allow-list of %zu "
		     "syscalls, other ABIs killed",
		     api, kcr_seccomp_allowed_count());
	else
		line(d, false, "seccomp",
		     "not available; fix: a kernel with CONFIG_SECCOMP_FILTER");
}

static void
check_cgroups(struct doctor *d, struct kcr_ctx *ctx)
{
	struct kcr_cgroup_info info;
	bool enforced;

	kcr_cgroup_probe(&info);
	enforced = info.version != KCR_CGROUP_NONE && info.memory && info.pids;
	if (enforced && info.cpu)
		line(d, true, "cgroups", "%s: memory%s, pids, cpu%s under %s",
		     kcr_cgroup_version_name(info.version), info.swap ? "+swap" : "",
		     info.kill ? ", cgroup.kill" : "", info.parent);
	else
		line(d, false, "cgroups",
		     "%s; fix: run as root on a machine with the memory, "
		     "pids and cpu controllers (v1 or v2)",
		     info.reason[0] ? info.reason : "memory, pids or cpu controller missing");
	/* what kcr then does: limits fail closed */
	if (enforced)
		line(d, true, "limits", "memory and processes limited by cgroups in every sandbox");
	else if (kcr_config_bool(ctx->cfg, "limits.allow_unlimited"))
		line(d, true, "limits",
		     "NOT enforced: sandboxes run without memory and process "
		     "limits (limits.allow_unlimited is true; rlimits only)");
	else
		line(d, false, "limits",
		     "not enforced: kcr refuses to create sandboxes; fix the "
		     "cgroups above, or set limits.allow_unlimited: true to run without");
}

static void
check_sandbox(struct doctor *d, struct kcr_ctx *ctx)
{
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;
	struct kcr_engine *e = kcr_engine_new(ctx->cfg, &err);

	req.lang = kcr_lang_find("bash");
	req.code = kcr_xstrdup("echo -n $(hostname)");
	req.code_len = strlen(req.code);
	kcr_limits_from_config(&req.limits, ctx->cfg, req.lang);
	if (e && kcr_engine_run(e, &req, &res, &err) == 0 && res.exit_code == 0)
		line(d, true, "sandbox", "ran a program in %.1f ms (set-up %.1f ms), hostname %s",
		     res.total_us / 1000.0, res.setup_us / 1000.0, res.out);
	else
		line(d, false, "sandbox", "%s", err ? err->msg : res.err ? res.err : "failed");
	kcr_error_free(err);
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	kcr_engine_free(e);
}

static void
check_dirs(struct doctor *d, struct kcr_ctx *ctx)
{
	static const char *const keys[] = { "state_dir", "run_dir" };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(keys); i++) {
		const char *dir = kcr_config_str(ctx->cfg, keys[i]);
		kcr_error_t err = NULL;

		if (kcr_mkdir_p(dir, 0700, &err) == 0 && access(dir, W_OK) == 0)
			line(d, true, keys[i], "%s", dir);
		else
			line(d, false, keys[i], "%s is not writable; fix: --set %s=DIR", dir,
			     keys[i]);
		kcr_error_free(err);
	}
}

static void
ping_store(struct doctor *d, struct kcr_stores *st, const char *what, const char *backend,
	   int (*ping)(struct kcr_stores *, kcr_error_t *))
{
	kcr_error_t err = NULL;
	uint64_t t0 = kcr_now_ns();

	if (ping(st, &err) == 0)
		line(d, true, what, "%s answered in %.1f ms", backend,
		     (double)(kcr_now_ns() - t0) / 1e6);
	else
		line(d, false, what, "%s", err->msg);
	kcr_error_free(err);
}

/* Each store answers its ping, and how fast: a replica's first question
 * about a Redis or S3 it cannot reach. */
static void
check_stores(struct doctor *d, struct kcr_ctx *ctx)
{
	struct kcr_stores st;
	kcr_error_t err = NULL;

	if (kcr_stores_open(&st, ctx->cfg, &err) < 0) {
		line(d, false, "stores", "%s; fix: see store.* in kcr.yaml(5)", err->msg);
		kcr_error_free(err);
		return;
	}
	ping_store(d, &st, "session store", st.sessions->name, kcr_store_ping_sessions);
	ping_store(d, &st, "file store", st.files->name, kcr_store_ping_files);
	kcr_stores_close(&st);
}

static void
check_runtimes(struct doctor *d)
{
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);
		const char *missing = kcr_lang_missing_runtime(l);
		kcr_autofree char *what = kcr_strdup_printf("runtime %s", l->id);
		kcr_autofree char *v = missing ? NULL : kcr_lang_version(l);

		if (missing)
			line(d, false, what, "%s is missing; fix: install %s", missing, l->package);
		else
			line(d, true, what, "%s %s", l->name, v ? v : "(version unknown)");
	}
}

static const struct kcr_opt no_opts[] = { { NULL } };

static int
no_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	return 0;
}

static int
doctor_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct doctor d = { 0 };
	int first, r = kcr_cmd_parse(&kcr_cmd_doctor, argc, argv, no_opt, NULL, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_doctor, err, "unexpected argument '%s'",
					   argv[first]);
	check_namespaces(&d);
	check_cgroups(&d, ctx);
	check_seccomp(&d);
	check_dirs(&d, ctx);
	check_stores(&d, ctx);
	check_sandbox(&d, ctx);
	check_runtimes(&d);
	if (d.failed)
		printf("%d check%s failed\n", d.failed, d.failed == 1 ? "" : "s");
	return d.failed ? 1 : 0;
}

const struct kcr_cmd kcr_cmd_doctor = {
	.name = "doctor",
	.usage = "kcr doctor",
	.summary = "Check that this machine can run sandboxes and every language; exit 1 "
		   "if something is wrong.",
	.examples = "  kcr doctor\n  kcr doctor | grep -v '^ok'",
	.opts = no_opts,
	.run = doctor_run,
};
