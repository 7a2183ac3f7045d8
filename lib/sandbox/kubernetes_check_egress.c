/* `kcr cluster check`'s NetworkPolicy check: a program in a test pod,
 * run through the runner's POST /execute as any sandbox's, tries a TCP
 * connection to a host on the internet and to kcr serve (3 s each). A
 * NetworkPolicy that denies the sandbox pods' egress makes both fail; a
 * pod that reaches either is a sandbox that can call out. */
#include <config.h>

#include "sandbox/kubernetes_check-internal.h"
#include "sandbox/runner_client.h"
#include "runner/proto.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_EGRESS "1.1.1.1:443"
#define SERVE_PORT     8000
#define CONNECT_MS     3000
#define REPLY_MAX      (1 << 20)

/* Each prints "reached HOST:PORT" or "blocked HOST:PORT why" per argument. */
static const char probe_py[] =
	"import errno, socket, sys\n"
	"for t in sys.argv[1:]:\n"
	"    h, _, p = t.rpartition(':')\n"
	"    try:\n"
	"        socket.create_connection((h.strip('[]'), int(p)), timeout=3).close()\n"
	"        print('reached', t)\n"
	"    except ConnectionRefusedError:\n"
	"        print('blocked', t, 'refused')\n"
	"    except (socket.timeout, TimeoutError):\n"
	"        print('blocked', t, 'timed out')\n"
	"    except socket.gaierror:\n"
	"        print('blocked', t, 'name not resolved')\n"
	"    except OSError as e:\n"
	"        print('blocked', t, e.strerror or type(e).__name__)\n";

static const char probe_js[] =
	"const net = require('net');\n"
	"(async () => {\n"
	"  for (const t of process.argv.slice(2)) {\n"
	"    const i = t.lastIndexOf(':');\n"
	"    const host = t.slice(0, i).replace(/^\\[|\\]$/g, ''), port = +t.slice(i + 1);\n"
	"    console.log(await new Promise((done) => {\n"
	"      const s = net.connect({ host, port });\n"
	"      const tm = setTimeout(() => { s.destroy(); done('blocked ' + t + ' timed out'); }, "
	"3000);\n"
	"      s.on('connect', () => { clearTimeout(tm); s.destroy(); done('reached ' + t); });\n"
	"      s.on('error', (e) => { clearTimeout(tm); done('blocked ' + t + ' ' +\n"
	"        (e.code === 'ECONNREFUSED' ? 'refused' : e.code)); });\n"
	"    }));\n"
	"  }\n"
	"})();\n";

static const char probe_bash[] =
	"for t in \"$@\"; do\n"
	"  h=${t%:*}; h=${h#[}; h=${h%]}; p=${t##*:}\n"
	"  if timeout 3 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$h\" \"$p\" 2>/dev/null; then\n"
	"    echo \"reached $t\"\n"
	"  else\n"
	"    echo \"blocked $t refused or timed out\"\n"
	"  fi\n"
	"done\n";

/* The probe in the pod's language when there is one, else in bash. */
static const struct kcr_lang *
probe_lang(const struct kcr_lang *l, const char **code)
{
	if (strcmp(l->id, "py") == 0 || strcmp(l->id, "js") == 0) {
		*code = strcmp(l->id, "py") == 0 ? probe_py : probe_js;
		return l;
	}
	*code = probe_bash;
	return kcr_lang_find("bash");
}

/* kcr serve's address: the option, else this pod's own in the cluster. */
static char *
serve_address(const struct check_run *r)
{
	const char *ip = getenv("POD_IP");

	if (r->o->serve_address && *r->o->serve_address)
		return kcr_xstrdup(r->o->serve_address);
	if (!r->in_cluster || ip == NULL || *ip == '\0')
		return NULL;
	return strchr(ip, ':') ? kcr_strdup_printf("[%s]:%d", ip, SERVE_PORT)
			       : kcr_strdup_printf("%s:%d", ip, SERVE_PORT);
}

static int
run_probe(struct check_run *r, const struct check_pod *p, struct kcr_exec_request *req,
	  struct kcr_exec_result *res, kcr_error_t *err)
{
	kcr_autofree char *body = NULL, *reply = NULL, *ep = NULL;
	uint64_t len = 0;

	if (r->direct) {
		ep = strchr(p->ip, ':')
			     ? kcr_strdup_printf("http://[%s]:%d", p->ip, KCR_K8S_RUNNER_PORT)
			     : kcr_strdup_printf("http://%s:%d", p->ip, KCR_K8S_RUNNER_PORT);
		return kcr_runner_execute(ep, req, res, err);
	}
	body = kcr_proto_exec_req_encode(req);
	if (kcr_k8s_proxy(r->k, p->name, KCR_K8S_RUNNER_PORT, "POST", "/execute", body,
			  strlen(body), req->limits.timeout_ms + 10000, REPLY_MAX, -1, &len, &reply,
			  NULL, err) < 0)
		return -1;
	return kcr_proto_exec_res_decode(reply, (size_t)len, res, err);
}

/* Does selector (a LabelSelector) select labels? matchExpressions are
 * taken as selecting: this only words the message. */
static bool
selects(const cJSON *selector, const cJSON *labels)
{
	const cJSON *want;

	cJSON_ArrayForEach (want, cJSON_GetObjectItemCaseSensitive(selector, "matchLabels")) {
		const char *have = kcr_json_str(labels, want->string);

		if (!cJSON_IsString(want) || have == NULL || strcmp(have, want->valuestring) != 0)
			return false;
	}
	return true;
}

static bool
limits_egress(const cJSON *spec)
{
	const cJSON *t;

	cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(spec, "policyTypes")) {
		if (cJSON_IsString(t) && strcmp(t->valuestring, "Egress") == 0)
			return true;
	}
	return cJSON_GetObjectItemCaseSensitive(spec, "egress") != NULL;
}

/* The names of the NetworkPolicies limiting the egress of p's pods, ""
 * for none, NULL when kcr may not list them. */
static char *
egress_policies(struct check_run *r, const struct check_pod *p)
{
	kcr_autofree char *path = kcr_strdup_printf(
		"/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies", r->ns);
	struct kcr_k8s_pod_args a = { .name = p->name, .role = "check" };
	cJSON *pod = kcr_k8s_pod_manifest(r->pods, p->lang, &a), *list = NULL;
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "labels");
	const cJSON *it;
	char *names = NULL;
	bool listed = kcr_k8s_get(r->k, path, &list, NULL) == 0;

	if (listed) {
		cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
			const cJSON *spec = cJSON_GetObjectItemCaseSensitive(it, "spec");
			const char *n = kcr_json_str(
				cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

			if (n && limits_egress(spec) &&
			    selects(cJSON_GetObjectItemCaseSensitive(spec, "podSelector"), labels))
				check_list_add(&names, ", ", "%s", n);
		}
	}
	cJSON_Delete(list);
	cJSON_Delete(pod);
	return listed && names == NULL ? kcr_xstrdup("") : names;
}

struct probe_out {
	char *reached, *blocked; /* "a, b" */
	unsigned int n;          /* lines understood */
};

static void
parse_probe(const struct kcr_exec_result *res, struct probe_out *po)
{
	kcr_autofree char *out = kcr_xstrndup(res->out ? res->out : "", res->out_len);
	char *save = NULL;

	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "reached ", 8) == 0) {
			check_list_add(&po->reached, ", ", "%s", l + 8);
			po->n++;
		} else if (strncmp(l, "blocked ", 8) == 0) {
			char *why = strchr(l + 8, ' ');

			if (why)
				check_list_add(&po->blocked, ", ", "%.*s (%s)", (int)(why - l - 8),
					       l + 8, why + 1);
			else
				check_list_add(&po->blocked, ", ", "%s", l + 8);
			po->n++;
		}
	}
}

static void
report(struct check_run *r, const struct check_pod *p, const struct probe_out *po,
       const char *serve, uint64_t ms)
{
	kcr_autofree char *policies = NULL, *note = NULL;

	if (po->reached) {
		policies = egress_policies(r, p);
		note = policies == NULL ? kcr_xstrdup("")
		       : *policies == '\0'
			       ? kcr_strdup_printf(" (no NetworkPolicy in %s limits "
						   "the egress of kcr's pods)",
						   r->ns)
			       : kcr_strdup_printf(" (NetworkPolicy %s selects kcr's pods for "
						   "egress: its rules let this through, or the "
						   "network plugin does not enforce it)",
						   policies);
		check_add(r, "NetworkPolicy", false, ms,
			  "apply the chart's NetworkPolicy and use a CNI that enforces it "
			  "(Calico, Cilium)",
			  "not enforced: a sandbox pod reached %s%s", po->reached, note);
		return;
	}
	check_add(r, "NetworkPolicy", true, ms, NULL, "a sandbox pod could not reach %s%s",
		  po->blocked,
		  serve ? ""
			: "; kcr serve's address not checked: kcr is not in a pod "
			  "(--serve-address HOST:PORT)");
}

void
check_egress(struct check_run *r, const struct check_pod *p)
{
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	struct probe_out po = { 0 };
	kcr_autofree char *serve = serve_address(r);
	const char *egress = r->o->egress_target ? r->o->egress_target : DEFAULT_EGRESS;
	uint64_t t0 = kcr_now_ms();
	kcr_error_t e = NULL;
	size_t want = serve ? 2 : 1;

	const char *code;

	req.lang = probe_lang(p->lang, &code);
	req.code = kcr_xstrdup(code);
	req.code_len = strlen(req.code);
	kcr_strv_push(&req.args, egress);
	if (serve)
		kcr_strv_push(&req.args, serve);
	kcr_limits_from_config(&req.limits, r->cfg, req.lang);
	req.limits.timeout_ms = (uint32_t)(CONNECT_MS * want + 15000);
	req.limits.pids = 0; /* the pod's pids limit is the kubelet's */
	if (run_probe(r, p, &req, &res, &e) < 0) {
		check_add(r, "NetworkPolicy", false, kcr_now_ms() - t0,
			  "see the message; the image checks above show whether the pod works",
			  "the probe did not run in test pod %s: %s", p->name, e->msg);
		kcr_error_free(e);
	} else if (parse_probe(&res, &po), po.n < want) {
		check_add(r, "NetworkPolicy", false, kcr_now_ms() - t0,
			  "see the message; the image checks above show whether the pod works",
			  "the probe in test pod %s (%s) did not finish: exit %d%s%.*s", p->name,
			  req.lang->id, res.exit_code, res.err_len ? ", " : "",
			  (int)(res.err_len > 300 ? 300 : res.err_len), res.err ? res.err : "");
	} else {
		report(r, p, &po, serve, kcr_now_ms() - t0);
	}
	free(po.reached);
	free(po.blocked);
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
}
