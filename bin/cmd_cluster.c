/* kcr cluster check: can kcr run its sandboxes in the Kubernetes cluster
 * of kubernetes.*? One line per check (lib/sandbox/kubernetes_check.c):
 * ok with its numbers, or what is wrong and how to fix it. */
#include <config.h>

#include "sandbox/kubernetes_check.h"
#include "base/json.h"
#include "base/lang.h"
#include "base/parse.h"
#include "base/util.h"
#include "cmd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { O_JSON, O_LANG, O_SERVE, O_EGRESS, O_TIMEOUT };

static const struct kcr_opt check_opts[] = {
	[O_JSON] = { "json", 0, NULL, "print JSON", NULL },
	[O_LANG] = { "lang", 'l', "LANG", "test LANG's image (repeatable; default: the pooled)",
		     "lang" },
	[O_SERVE] = { "serve-address", 0, "HOST:PORT",
		      "kcr serve's address a sandbox must not reach", NULL },
	[O_EGRESS] = { "egress-target", 0, "HOST:PORT",
		       "an internet address it must not reach (1.1.1.1:443)", NULL },
	[O_TIMEOUT] = { "timeout", 0, "SECONDS", "wait for each test pod that long", NULL },
	{ NULL },
};

struct check_args {
	bool json;
	char **langs;
	const char *serve, *egress;
	uint64_t timeout_s;
};

static const struct kcr_cmd kcr_cmd_cluster_check;

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct check_args *a = data;
	const struct kcr_lang *l;

	switch (id) {
	case O_JSON:
		a->json = true;
		return 0;
	case O_LANG:
		if ((l = kcr_lang_lookup(arg, err)) == NULL)
			return -1;
		kcr_strv_push(&a->langs, l->id);
		return 0;
	case O_SERVE:
	case O_EGRESS:
		if (!kcr_k8s_check_host_port_valid(arg))
			return kcr_cmd_usage_error(&kcr_cmd_cluster_check, err,
						   "--%s '%s': expected HOST:PORT",
						   check_opts[id].name, arg);
		*(id == O_SERVE ? &a->serve : &a->egress) = arg;
		return 0;
	case O_TIMEOUT:
		if (kcr_parse_u64(arg, 1, 3600, &a->timeout_s, err) < 0)
			return kcr_error_wrap(err, "--timeout");
		return 0;
	default:
		return -1;
	}
}

/* ---- interrupts: the test pods are deleted before kcr exits ------------- */

static int stop_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	ssize_t n = write(stop_pipe[1], "x", 1);

	(void)sig;
	(void)n;
	errno = saved;
}

static void
catch_signals(bool on)
{
	struct sigaction sa = { 0 };

	if (on && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		stop_pipe[0] = stop_pipe[1] = -1;
	if (stop_pipe[0] < 0)
		return;
	sa.sa_handler = on ? on_signal : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!on) {
		close(stop_pipe[0]);
		close(stop_pipe[1]);
		stop_pipe[0] = stop_pipe[1] = -1;
	}
}

/* ---- output ------------------------------------------------------------ */

static void
print_line(void *arg, const struct kcr_k8s_check *c)
{
	(void)arg;
	if (c->skipped)
		printf("skip %s: %s\n", c->name, c->detail);
	else if (c->ok)
		printf("ok   %s (%s)\n", c->name, c->detail);
	else if (c->fix)
		printf("FAIL %s: %s; fix: %s\n", c->name, c->detail, c->fix);
	else
		printf("FAIL %s: %s\n", c->name, c->detail);
	fflush(stdout);
}

static void
print_json(const struct kcr_k8s_check_report *rep)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr;
	kcr_autofree char *text = NULL;

	cJSON_AddBoolToObject(o, "ok", rep->failed == 0 && !rep->interrupted);
	arr = cJSON_AddArrayToObject(o, "checks");
	for (size_t i = 0; i < rep->n; i++) {
		const struct kcr_k8s_check *c = &rep->checks[i];
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "name", c->name);
		cJSON_AddBoolToObject(j, "ok", c->ok);
		if (c->skipped)
			cJSON_AddBoolToObject(j, "skipped", true);
		cJSON_AddStringToObject(j, "detail", c->detail);
		if (c->fix)
			cJSON_AddStringToObject(j, "fix", c->fix);
		else
			cJSON_AddNullToObject(j, "fix");
		cJSON_AddNumberToObject(j, "ms", (double)c->ms);
		cJSON_AddItemToArray(arr, j);
	}
	if (rep->interrupted)
		cJSON_AddBoolToObject(o, "interrupted", true);
	text = kcr_json_print_free(o);
	printf("%s\n", text);
}

static int
check_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct check_args a = { 0 };
	struct kcr_k8s_check_opts o = { 0 };
	struct kcr_k8s_check_report rep;
	int first, r = kcr_cmd_parse(&kcr_cmd_cluster_check, argc, argv, on_opt, &a, &first, err);

	if (r == 0 && first < argc)
		r = kcr_cmd_usage_error(&kcr_cmd_cluster_check, err, "unexpected argument '%s'",
					argv[first]);
	if (r != 0) {
		kcr_strv_free(a.langs);
		return r == 1 ? 0 : -1;
	}
	o.langs = (const char *const *)a.langs;
	o.serve_address = a.serve;
	o.egress_target = a.egress;
	o.timeout_ms = a.timeout_s * 1000;
	o.report = a.json ? NULL : print_line;
	catch_signals(true);
	o.stop_fd = stop_pipe[0];
	r = kcr_k8s_check_run(ctx->cfg, &o, &rep, err);
	catch_signals(false);
	kcr_strv_free(a.langs);
	if (r < 0) {
		/* not a check that failed: nothing could be checked */
		fprintf(stderr, "kcr: cannot use the Kubernetes configuration: %s\n", (*err)->msg);
		kcr_error_release(err);
		return 125;
	}
	if (a.json)
		print_json(&rep);
	else if (rep.interrupted)
		printf("interrupted: the test pods were deleted\n");
	else if (rep.failed)
		printf("%u check%s failed\n", rep.failed, rep.failed == 1 ? "" : "s");
	r = rep.interrupted ? 130 : rep.failed ? 1 : 0;
	kcr_k8s_check_report_release(&rep);
	return r;
}

static const struct kcr_cmd kcr_cmd_cluster_check = {
	.name = "check",
	.usage = "kcr cluster check [--json] [-l LANG]... [--serve-address HOST:PORT] "
		 "[--egress-target HOST:PORT] [--timeout SECONDS]",
	.summary = "Check that kcr can run sandboxes in the cluster: the API server, the "
		   "namespace, RBAC, the runtimeClass, each pooled language's image (a test pod) "
		   "and the NetworkPolicy; exit 1 if something is wrong.",
	.examples = "  kcr cluster check\n"
		    "  kcr cluster check -l py -l js --timeout 300\n"
		    "  kcr --set kubernetes.context=prod cluster check --json | jq '.checks[] | "
		    "select(.ok | not)'",
	.opts = check_opts,
	.run = check_run,
};

static const struct kcr_cmd *const cluster_subcmds[] = {
	&kcr_cmd_cluster_check,
	NULL,
};

static int
cluster_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_cluster, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_cluster = {
	.name = "cluster",
	.usage = "kcr cluster check [options]",
	.summary = "Check the Kubernetes cluster kcr's kubernetes provider runs sandboxes in.",
	.examples = "  kcr cluster check\n  kcr cluster check --json",
	.opts = no_opts,
	.subcmds = cluster_subcmds,
	.run = cluster_run,
};
