/* The pods and Jobs kcr sends: the security settings of DESIGN.md §4 and
 * §5 on every one (non-root, read-only root, no privilege escalation, no
 * capabilities, seccomp, no service-account token, no service links), the
 * resources and placement the configuration asks for. */
#include <config.h>

#include "sandbox/kubernetes.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRC_DIR "/tmp/kcr-src"

struct lang_pod {
	char *image, *cpu_limit, *memory_limit;
	cJSON *resources; /* kubernetes.resources_<id>, or NULL */
};

struct kcr_k8s_pods {
	struct lang_pod *langs; /* kcr_lang_count(), in the table's order */
	char *cpu_request, *memory_request;
	char *storage_request, *storage_limit;
	char *pull_policy, *runtime_class, *seccomp, *service_account;
	char **pull_secrets;
	char *py_preload;
	cJSON *node_selector, *tolerations, *labels, *annotations; /* or NULL */
	long run_as, job_ttl, job_deadline;
	long data_mb, tmp_mb;
};

/* kubernetes.<key>_<lang id>, else kubernetes.<key>. */
static char *
per_lang(const struct kcr_config *cfg, const char *key, const struct kcr_lang *l)
{
	kcr_autofree char *name = kcr_strdup_printf("kubernetes.%s_%s", key, l->id);
	const char *v = kcr_config_str(cfg, name);
	kcr_autofree char *general = NULL;

	if (v && *v)
		return kcr_xstrdup(v);
	general = kcr_strdup_printf("kubernetes.%s", key);
	return kcr_xstrdup(kcr_config_str(cfg, general));
}

char *
kcr_k8s_lang_image(const struct kcr_config *cfg, const struct kcr_lang *l)
{
	kcr_autofree char *name = kcr_strdup_printf("kubernetes.image_%s", l->id);
	const char *v = kcr_config_str(cfg, name);
	const char *tag = kcr_config_str(cfg, "kubernetes.image_tag");

	if (v && *v)
		return kcr_xstrdup(v);
	return kcr_strdup_printf("%s/%s:%s", kcr_config_str(cfg, "kubernetes.image_registry"),
				 l->id, tag && *tag ? tag : PACKAGE_VERSION);
}

/* Whether every member of o is a string (labels, a nodeSelector, the
 * quantities of resources). */
static bool
string_map(const cJSON *o)
{
	const cJSON *it;

	cJSON_ArrayForEach (it, o) {
		if (!cJSON_IsString(it))
			return false;
	}
	return true;
}

/* A setting holding JSON of the given type (an object: of strings when
 * strings), or NULL when empty. */
static int
json_setting(const struct kcr_config *cfg, const char *key, int type, bool strings, cJSON **out,
	     kcr_error_t *err)
{
	const char *v = kcr_config_str(cfg, key);
	cJSON *j;

	*out = NULL;
	if (v == NULL || *v == '\0')
		return 0;
	j = cJSON_Parse(v);
	if (j == NULL || (j->type & 0xff) != type || (strings && !string_map(j))) {
		cJSON_Delete(j);
		return kcr_error_set(
			err, KCR_E_INVALID, 0, "%s must be a JSON %s: %s", key,
			type == cJSON_Object ? (strings ? "object of strings" : "object") : "array",
			v);
	}
	*out = j;
	return 0;
}

/* kubernetes.resources_<id>: {"requests": {...}, "limits": {...}}, each a
 * map of quantities, as a container's resources are. */
static int
lang_resources(const struct kcr_config *cfg, const struct kcr_lang *l, cJSON **out,
	       kcr_error_t *err)
{
	kcr_autofree char *key = kcr_strdup_printf("kubernetes.resources_%s", l->id);
	const cJSON *part;

	if (json_setting(cfg, key, cJSON_Object, false, out, err) < 0)
		return -1;
	cJSON_ArrayForEach (part, *out) {
		if ((strcmp(part->string, "requests") != 0 &&
		     strcmp(part->string, "limits") != 0) ||
		    !cJSON_IsObject(part) || !string_map(part)) {
			cJSON_Delete(*out);
			*out = NULL;
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "%s must be {\"requests\": {...}, \"limits\": {...}} "
					     "of quantities (strings)",
					     key);
		}
	}
	return 0;
}

static int
check_choice(const struct kcr_config *cfg, const char *key, const char *const *choices,
	     kcr_error_t *err)
{
	const char *v = kcr_config_str(cfg, key);

	for (size_t i = 0; choices[i]; i++) {
		if (strcmp(v, choices[i]) == 0)
			return 0;
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "%s: '%s' is not one of %s%s%s", key, v,
			     choices[0], choices[1] ? ", " : "", choices[1] ? choices[1] : "");
}

void
kcr_k8s_pods_free(struct kcr_k8s_pods *ps)
{
	if (ps == NULL)
		return;
	for (unsigned int i = 0; ps->langs && i < kcr_lang_count(); i++) {
		free(ps->langs[i].image);
		free(ps->langs[i].cpu_limit);
		free(ps->langs[i].memory_limit);
		cJSON_Delete(ps->langs[i].resources);
	}
	free(ps->langs);
	free(ps->cpu_request);
	free(ps->memory_request);
	free(ps->storage_request);
	free(ps->storage_limit);
	free(ps->pull_policy);
	free(ps->runtime_class);
	free(ps->seccomp);
	free(ps->service_account);
	free(ps->py_preload);
	kcr_strv_free(ps->pull_secrets);
	cJSON_Delete(ps->node_selector);
	cJSON_Delete(ps->tolerations);
	cJSON_Delete(ps->labels);
	cJSON_Delete(ps->annotations);
	free(ps);
}

static int
read_json_settings(struct kcr_k8s_pods *ps, const struct kcr_config *cfg, kcr_error_t *err)
{
	static const char *const policies[] = { "Always", "IfNotPresent", "Never", NULL };

	if (json_setting(cfg, "kubernetes.node_selector", cJSON_Object, true, &ps->node_selector,
			 err) < 0 ||
	    json_setting(cfg, "kubernetes.tolerations", cJSON_Array, false, &ps->tolerations, err) <
		    0 ||
	    json_setting(cfg, "kubernetes.labels", cJSON_Object, true, &ps->labels, err) < 0 ||
	    json_setting(cfg, "kubernetes.annotations", cJSON_Object, true, &ps->annotations, err) <
		    0)
		return -1;
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		if (lang_resources(cfg, kcr_lang_at(i), &ps->langs[i].resources, err) < 0)
			return -1;
	}
	return check_choice(cfg, "kubernetes.image_pull_policy", policies, err);
}

struct kcr_k8s_pods *
kcr_k8s_pods_new(const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_k8s_pods *ps = kcr_xzalloc(sizeof(*ps));
	const char *storage = kcr_config_str(cfg, "kubernetes.ephemeral_storage_limit");

	ps->langs = kcr_xzalloc(kcr_lang_count() * sizeof(*ps->langs));
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);

		ps->langs[i].image = kcr_k8s_lang_image(cfg, l);
		ps->langs[i].cpu_limit = per_lang(cfg, "cpu_limit", l);
		ps->langs[i].memory_limit = per_lang(cfg, "memory_limit", l);
	}
	ps->cpu_request = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.cpu_request"));
	ps->memory_request = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.memory_request"));
	ps->storage_request =
		kcr_xstrdup(kcr_config_str(cfg, "kubernetes.ephemeral_storage_request"));
	ps->data_mb = kcr_config_int(cfg, "limits.data_size_mb");
	ps->tmp_mb = kcr_config_int(cfg, "limits.tmp_size_mb");
	ps->storage_limit = storage && *storage
				    ? kcr_xstrdup(storage)
				    : kcr_strdup_printf("%ldMi", ps->data_mb + ps->tmp_mb + 64);
	ps->pull_policy = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.image_pull_policy"));
	ps->pull_secrets = kcr_config_list(cfg, "kubernetes.image_pull_secrets");
	ps->runtime_class = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.runtime_class"));
	ps->seccomp = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.seccomp_profile"));
	ps->service_account = kcr_xstrdup(kcr_config_str(cfg, "kubernetes.service_account"));
	ps->py_preload = kcr_xstrdup(kcr_config_str(cfg, "pool.py_preload"));
	ps->run_as = (long)kcr_config_int(cfg, "kubernetes.run_as_user");
	ps->job_ttl = (long)kcr_config_int(cfg, "kubernetes.job_ttl_seconds");
	ps->job_deadline = (long)kcr_config_int(cfg, "kubernetes.job_deadline_seconds");
	if (read_json_settings(ps, cfg, err) < 0) {
		kcr_k8s_pods_free(ps);
		return NULL;
	}
	return ps;
}

static const struct lang_pod *
lang_pod(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang)
{
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		if (kcr_lang_at(i) == lang)
			return &ps->langs[i];
	}
	return &ps->langs[0];
}

const char *
kcr_k8s_pods_image(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang)
{
	return lang_pod(ps, lang)->image;
}

const char *
kcr_k8s_pods_runtime_class(const struct kcr_k8s_pods *ps)
{
	return ps->runtime_class;
}

/* ---- the pieces of a pod ------------------------------------------------- */

static cJSON *
labels(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang, const struct kcr_k8s_pod_args *a)
{
	cJSON *o = ps->labels ? cJSON_Duplicate(ps->labels, true) : cJSON_CreateObject();

	cJSON_DeleteItemFromObjectCaseSensitive(o, KCR_K8S_LABEL_MANAGED);
	cJSON_AddStringToObject(o, KCR_K8S_LABEL_NAME, "kcr");
	cJSON_AddStringToObject(o, KCR_K8S_LABEL_COMPONENT, "sandbox");
	cJSON_AddStringToObject(o, KCR_K8S_LABEL_MANAGED, "kcr");
	cJSON_AddStringToObject(o, KCR_K8S_LABEL_LANG, lang->id);
	cJSON_AddStringToObject(o, KCR_K8S_LABEL_ROLE, a->role);
	if (strcmp(a->role, "pool") == 0)
		cJSON_AddStringToObject(o, KCR_K8S_LABEL_STATE, "ready");
	if (a->owner)
		cJSON_AddStringToObject(o, KCR_K8S_LABEL_OWNER, a->owner);
	return o;
}

static cJSON *
annotations(const struct kcr_k8s_pods *ps, const struct kcr_k8s_pod_args *a)
{
	cJSON *o = ps->annotations ? cJSON_Duplicate(ps->annotations, true) : cJSON_CreateObject();
	char pid[24];

	if (a->owner_host)
		cJSON_AddStringToObject(o, KCR_K8S_ANNOT_OWNER_HOST, a->owner_host);
	if (a->owner_pid > 0) {
		snprintf(pid, sizeof(pid), "%ld", a->owner_pid);
		cJSON_AddStringToObject(o, KCR_K8S_ANNOT_OWNER_PID, pid);
	}
	if (a->owner_pod && *a->owner_pod)
		cJSON_AddStringToObject(o, KCR_K8S_ANNOT_OWNER_POD, a->owner_pod);
	cJSON_AddStringToObject(o, "kcr.dev/version", PACKAGE_VERSION);
	return o;
}

static void
add_strings(cJSON *arr, const char *const *v)
{
	for (size_t i = 0; v[i]; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
}

/* kcr-runner as the container's command; a pool pod starts the language's
 * interpreter before any code arrives (as the local provider's do).
 * --pids=0: RLIMIT_NPROC counts every process of the uid on the node,
 * every pod's: the pod's own pids limit is the kubelet's. */
static cJSON *
runner_args(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
	    const struct kcr_k8s_pod_args *a)
{
	static const char *const base[] = { "--port",    "8080",  "--data-dir",     "/mnt/data",
					    "--src-dir", SRC_DIR, "--log-requests", NULL };
	cJSON *args = cJSON_CreateArray();
	char buf[256];

	add_strings(args, base);
	if (!a->prewarm || !(lang->caps & KCR_LANG_PREWARM))
		return args;
	snprintf(buf, sizeof(buf), "--prewarm=%s", lang->id);
	cJSON_AddItemToArray(args, cJSON_CreateString(buf));
	if ((lang->caps & KCR_LANG_PRELOAD) && a->preload && *ps->py_preload) {
		kcr_autofree char *pre = kcr_strdup_printf("--preload=%s", ps->py_preload);

		cJSON_AddItemToArray(args, cJSON_CreateString(pre));
	}
	if (a->limits) {
		snprintf(buf, sizeof(buf), "--nofile=%u", a->limits->nofile);
		cJSON_AddItemToArray(args, cJSON_CreateString(buf));
		snprintf(buf, sizeof(buf), "--file-size=%llu",
			 (unsigned long long)a->limits->file_size);
		cJSON_AddItemToArray(args, cJSON_CreateString(buf));
		cJSON_AddItemToArray(args, cJSON_CreateString("--pids=0"));
	}
	return args;
}

/* Sets each quantity of over ({"requests": {...}, "limits": {...}}) in r. */
static void
override(cJSON *r, const cJSON *over)
{
	const cJSON *part, *q;

	cJSON_ArrayForEach (part, over) {
		cJSON *dst = cJSON_GetObjectItemCaseSensitive(r, part->string);

		cJSON_ArrayForEach (q, part) {
			cJSON_DeleteItemFromObjectCaseSensitive(dst, q->string);
			cJSON_AddStringToObject(dst, q->string, q->valuestring);
		}
	}
}

static cJSON *
resources(const struct kcr_k8s_pods *ps, const struct lang_pod *lp)
{
	cJSON *r = cJSON_CreateObject();
	cJSON *req = cJSON_AddObjectToObject(r, "requests");
	cJSON *lim = cJSON_AddObjectToObject(r, "limits");

	if (*ps->cpu_request)
		cJSON_AddStringToObject(req, "cpu", ps->cpu_request);
	if (*ps->memory_request)
		cJSON_AddStringToObject(req, "memory", ps->memory_request);
	if (*ps->storage_request)
		cJSON_AddStringToObject(req, "ephemeral-storage", ps->storage_request);
	if (*lp->cpu_limit)
		cJSON_AddStringToObject(lim, "cpu", lp->cpu_limit);
	if (*lp->memory_limit)
		cJSON_AddStringToObject(lim, "memory", lp->memory_limit);
	cJSON_AddStringToObject(lim, "ephemeral-storage", ps->storage_limit);
	if (lp->resources) /* the language's own quantities win */
		override(r, lp->resources);
	return r;
}

static cJSON *
seccomp_profile(const struct kcr_k8s_pods *ps)
{
	cJSON *o = cJSON_CreateObject();

	if (strncmp(ps->seccomp, "Localhost/", 10) == 0) {
		cJSON_AddStringToObject(o, "type", "Localhost");
		cJSON_AddStringToObject(o, "localhostProfile", ps->seccomp + 10);
	} else {
		cJSON_AddStringToObject(o, "type", ps->seccomp);
	}
	return o;
}

static cJSON *
container_security(const struct kcr_k8s_pods *ps)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *caps = cJSON_AddObjectToObject(s, "capabilities");
	cJSON *drop = cJSON_AddArrayToObject(caps, "drop");

	cJSON_AddItemToArray(drop, cJSON_CreateString("ALL"));
	cJSON_AddBoolToObject(s, "allowPrivilegeEscalation", false);
	cJSON_AddBoolToObject(s, "privileged", false);
	cJSON_AddBoolToObject(s, "readOnlyRootFilesystem", true);
	cJSON_AddBoolToObject(s, "runAsNonRoot", true);
	cJSON_AddNumberToObject(s, "runAsUser", (double)ps->run_as);
	cJSON_AddNumberToObject(s, "runAsGroup", (double)ps->run_as);
	cJSON_AddItemToObject(s, "seccompProfile", seccomp_profile(ps));
	return s;
}

static cJSON *
probe(void)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *get = cJSON_AddObjectToObject(p, "httpGet");

	cJSON_AddStringToObject(get, "path", "/ready");
	cJSON_AddNumberToObject(get, "port", KCR_K8S_RUNNER_PORT);
	cJSON_AddNumberToObject(p, "periodSeconds", 1);
	cJSON_AddNumberToObject(p, "timeoutSeconds", 1);
	cJSON_AddNumberToObject(p, "failureThreshold", 3);
	return p;
}

static void
add_mount(cJSON *mounts, cJSON *volumes, const char *name, const char *path, long size_mb)
{
	cJSON *m = cJSON_CreateObject();
	cJSON *v = cJSON_CreateObject();
	cJSON *ed;
	char size[32];

	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddStringToObject(m, "mountPath", path);
	cJSON_AddItemToArray(mounts, m);
	cJSON_AddStringToObject(v, "name", name);
	ed = cJSON_AddObjectToObject(v, "emptyDir");
	snprintf(size, sizeof(size), "%ldMi", size_mb);
	cJSON_AddStringToObject(ed, "sizeLimit", size);
	cJSON_AddItemToArray(volumes, v);
}

static cJSON *
container(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
	  const struct kcr_k8s_pod_args *a, cJSON *volumes)
{
	const struct lang_pod *lp = lang_pod(ps, lang);
	cJSON *c = cJSON_CreateObject();
	cJSON *cmd, *ports, *port, *env, *e;

	cJSON_AddStringToObject(c, "name", "runner");
	cJSON_AddStringToObject(c, "image", lp->image);
	cJSON_AddStringToObject(c, "imagePullPolicy", ps->pull_policy);
	cmd = cJSON_AddArrayToObject(c, "command");
	cJSON_AddItemToArray(cmd, cJSON_CreateString("kcr-runner"));
	cJSON_AddItemToObject(c, "args", runner_args(ps, lang, a));
	ports = cJSON_AddArrayToObject(c, "ports");
	port = cJSON_CreateObject();
	cJSON_AddStringToObject(port, "name", "runner");
	cJSON_AddNumberToObject(port, "containerPort", KCR_K8S_RUNNER_PORT);
	cJSON_AddStringToObject(port, "protocol", "TCP");
	cJSON_AddItemToArray(ports, port);
	env = cJSON_AddArrayToObject(c, "env");
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", "HOME");
	cJSON_AddStringToObject(e, "value", "/tmp");
	cJSON_AddItemToArray(env, e);
	cJSON_AddItemToObject(c, "readinessProbe", probe());
	cJSON_AddItemToObject(c, "resources", resources(ps, lp));
	cJSON_AddItemToObject(c, "securityContext", container_security(ps));
	cJSON *mounts = cJSON_AddArrayToObject(c, "volumeMounts");
	add_mount(mounts, volumes, "data", "/mnt/data", ps->data_mb);
	add_mount(mounts, volumes, "tmp", "/tmp", ps->tmp_mb);
	return c;
}

static cJSON *
pod_security(const struct kcr_k8s_pods *ps)
{
	cJSON *s = cJSON_CreateObject();

	cJSON_AddBoolToObject(s, "runAsNonRoot", true);
	cJSON_AddNumberToObject(s, "runAsUser", (double)ps->run_as);
	cJSON_AddNumberToObject(s, "runAsGroup", (double)ps->run_as);
	cJSON_AddNumberToObject(s, "fsGroup", (double)ps->run_as);
	cJSON_AddItemToObject(s, "seccompProfile", seccomp_profile(ps));
	return s;
}

static void
add_placement(cJSON *spec, const struct kcr_k8s_pods *ps)
{
	if (*ps->runtime_class)
		cJSON_AddStringToObject(spec, "runtimeClassName", ps->runtime_class);
	if (ps->node_selector)
		cJSON_AddItemToObject(spec, "nodeSelector",
				      cJSON_Duplicate(ps->node_selector, true));
	if (ps->tolerations)
		cJSON_AddItemToObject(spec, "tolerations", cJSON_Duplicate(ps->tolerations, true));
	if (ps->pull_secrets && ps->pull_secrets[0]) {
		cJSON *arr = cJSON_AddArrayToObject(spec, "imagePullSecrets");

		for (size_t i = 0; ps->pull_secrets[i]; i++) {
			cJSON *ref = cJSON_CreateObject();

			cJSON_AddStringToObject(ref, "name", ps->pull_secrets[i]);
			cJSON_AddItemToArray(arr, ref);
		}
	}
}

static cJSON *
pod_spec(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
	 const struct kcr_k8s_pod_args *a)
{
	cJSON *spec = cJSON_CreateObject();
	cJSON *containers = cJSON_AddArrayToObject(spec, "containers");
	cJSON *volumes = cJSON_CreateArray();

	cJSON_AddItemToArray(containers, container(ps, lang, a, volumes));
	cJSON_AddItemToObject(spec, "volumes", volumes);
	cJSON_AddStringToObject(spec, "restartPolicy", "Never");
	cJSON_AddBoolToObject(spec, "automountServiceAccountToken", false);
	cJSON_AddBoolToObject(spec, "enableServiceLinks", false);
	cJSON_AddStringToObject(spec, "hostname", "sandbox");
	/* one execution, then deleted with grace 0: nothing to shut down */
	cJSON_AddNumberToObject(spec, "terminationGracePeriodSeconds", 1);
	if (*ps->service_account)
		cJSON_AddStringToObject(spec, "serviceAccountName", ps->service_account);
	cJSON_AddItemToObject(spec, "securityContext", pod_security(ps));
	add_placement(spec, ps);
	return spec;
}

static cJSON *
metadata(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
	 const struct kcr_k8s_pod_args *a, bool named)
{
	cJSON *m = cJSON_CreateObject();

	if (named)
		cJSON_AddStringToObject(m, "name", a->name);
	cJSON_AddItemToObject(m, "labels", labels(ps, lang, a));
	cJSON_AddItemToObject(m, "annotations", annotations(ps, a));
	return m;
}

cJSON *
kcr_k8s_pod_manifest(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
		     const struct kcr_k8s_pod_args *a)
{
	cJSON *pod = cJSON_CreateObject();

	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON_AddItemToObject(pod, "metadata", metadata(ps, lang, a, true));
	cJSON_AddItemToObject(pod, "spec", pod_spec(ps, lang, a));
	return pod;
}

cJSON *
kcr_k8s_job_manifest(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
		     const struct kcr_k8s_pod_args *a)
{
	cJSON *job = cJSON_CreateObject();
	cJSON *spec, *tmpl;

	cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
	cJSON_AddStringToObject(job, "kind", "Job");
	cJSON_AddItemToObject(job, "metadata", metadata(ps, lang, a, true));
	spec = cJSON_AddObjectToObject(job, "spec");
	cJSON_AddNumberToObject(spec, "backoffLimit", 0);
	cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished", (double)ps->job_ttl);
	cJSON_AddNumberToObject(spec, "activeDeadlineSeconds", (double)ps->job_deadline);
	tmpl = cJSON_AddObjectToObject(spec, "template");
	cJSON_AddItemToObject(tmpl, "metadata", metadata(ps, lang, a, false));
	cJSON_AddItemToObject(tmpl, "spec", pod_spec(ps, lang, a));
	return job;
}
