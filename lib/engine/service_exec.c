/* One execution through the service: resolve the session, load the input
 * files and the state, wait for a slot, run it in the engine, store the
 * outputs and the new state. */
#include <config.h>

#include "base/clock.h"
#include "base/filename.h"
#include "base/metrics_kcr.h"
#include "engine/service-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- executions --------------------------------------------------------- */

struct input_origin {
	char id[KCR_ID_LEN + 1], sid[KCR_ID_LEN + 1];
};

/* Loads one referenced file; from another session it is copied into sid
 * first (KubeCodeRun's consolidation), so the session owns what it used. */
static int
load_input(struct kcr_service *s, const char *tenant, const char *sid,
	   const struct kcr_file_ref *ref, struct kcr_file *in, struct input_origin *origin,
	   kcr_error_t *err)
{
	struct kcr_file_meta meta;
	kcr_autofree char *name = NULL;

	if (!kcr_id_valid(ref->id) || !kcr_id_valid(ref->session_id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "file reference has an invalid id");
	if (kcr_service_get_file(s, tenant, ref->session_id, ref->id, &meta, &in->data, &in->len,
				 err) < 0)
		return kcr_error_wrap(err, "input file %s/%s", ref->session_id, ref->id);
	/* a name the API validated already (or one it reported for an output)
	 * is kept as it is, so the program finds the file where it was told */
	name = ref->name && kcr_name_is_safe(ref->name) ? kcr_xstrdup(ref->name)
							: kcr_sanitize_filename(meta.name);
	in->name = kcr_steal(&name);
	memcpy(origin->id, meta.id, sizeof(origin->id));
	memcpy(origin->sid, meta.session_id, sizeof(origin->sid));
	kcr_file_meta_release(&meta);
	if (strcmp(ref->session_id, sid) != 0) {
		struct kcr_file_meta copy;

		svc_session_keep(s, ref->session_id);
		svc_new_meta(&copy, sid, in->name, "upload");
		if (svc_store_file(s, &copy, in->data, -1, in->len, err) < 0)
			return -1;
		memcpy(origin->id, copy.id, sizeof(origin->id));
		memcpy(origin->sid, sid, sizeof(origin->sid));
		kcr_file_meta_release(&copy);
	}
	return 0;
}

static int
load_inputs(struct kcr_service *s, const char *sid, struct kcr_exec_request *req,
	    struct input_origin *origins, kcr_error_t *err)
{
	req->inputs = kcr_xzalloc((req->n_files ? req->n_files : 1) * sizeof(*req->inputs));
	for (size_t i = 0; i < req->n_files; i++) {
		struct kcr_file *in = &req->inputs[req->n_inputs];

		if (load_input(s, req->tenant, sid, &req->files[i], in, &origins[req->n_inputs],
			       err) < 0) {
			kcr_file_release(in);
			return -1;
		}
		req->n_inputs++;
		for (size_t j = 0; j + 1 < req->n_inputs; j++) /* the same file twice: keep one */
			if (strcmp(req->inputs[j].name, in->name) == 0) {
				kcr_file_release(in);
				req->n_inputs--;
				break;
			}
	}
	return 0;
}

/* The inputs and outputs are bytes in memory: gone once the run is over
 * and the outputs stored, so a request holds them no longer than that. */
static void
drop_file_bytes(struct kcr_exec_request *req, struct kcr_exec_result *res)
{
	for (size_t i = 0; i < req->n_inputs; i++)
		kcr_file_release(&req->inputs[i]);
	free(kcr_steal(&req->inputs));
	req->n_inputs = 0;
	for (size_t i = 0; i < res->n_outputs; i++)
		kcr_file_release(&res->outputs[i]);
	free(kcr_steal(&res->outputs));
	res->n_outputs = 0;
}

static int
store_outputs(struct kcr_service *s, const char *sid, const struct kcr_exec_request *req,
	      const struct input_origin *origins, struct kcr_exec_result *res, kcr_error_t *err)
{
	res->files = kcr_xzalloc((res->n_outputs ? res->n_outputs : 1) * sizeof(*res->files));
	for (size_t i = 0; i < res->n_outputs; i++) {
		struct kcr_file_meta *m = &res->files[res->n_files];
		const struct kcr_file *f = &res->outputs[i];

		svc_new_meta(m, sid, f->name, "output");
		for (size_t j = 0; f->was_input && j < req->n_inputs; j++)
			if (strcmp(req->inputs[j].name, f->name) == 0) {
				memcpy(m->modified_from, origins[j].id, sizeof(m->modified_from));
				memcpy(m->modified_from_session, origins[j].sid,
				       sizeof(m->modified_from_session));
			}
		if (svc_store_file(s, m, f->data, f->fd, f->len, err) < 0) {
			kcr_file_meta_release(m);
			return -1;
		}
		res->n_files++;
	}
	return 0;
}

static void
call_limits(struct kcr_service *s, struct kcr_exec_request *c)
{
	uint32_t timeout = c->limits.timeout_ms;

	pthread_mutex_lock(&s->lock);
	c->limits = s->limits[svc_lang_index(c->lang)];
	pthread_mutex_unlock(&s->lock);
	/* a caller may ask for less time than the operator allows, not more */
	if (timeout && timeout < c->limits.timeout_ms)
		c->limits.timeout_ms = timeout;
}

static int
run_call(struct kcr_service *s, struct kcr_exec_request *req, struct kcr_exec_result *res,
	 kcr_error_t *err)
{
	struct input_origin *origins = kcr_xzalloc((req->n_files + 1) * sizeof(*origins));
	uint64_t t0 = kcr_now_ns();
	kcr_autofree char *state_note = NULL;
	struct state_cfg sc;
	int r = -1;

	svc_state_cfg(s, &sc);
	if (svc_resolve_session(s, req, res->session_id, err) < 0 ||
	    load_inputs(s, res->session_id, req, origins, err) < 0 ||
	    (svc_state_applies(&sc, req) &&
	     svc_load_state(s, res->session_id, &sc, req, &state_note, err) < 0) ||
	    svc_slot_acquire(s, err) < 0)
		goto out;
	res->queue_us = (kcr_now_ns() - t0) / 1000;
	r = kcr_engine_run(s->engine, req, res, err);
	svc_slot_release(s);
	if (r == 0)
		r = store_outputs(s, res->session_id, req, origins, res, err);
	if (r == 0) {
		if (state_note)
			kcr_exec_result_state_note(res, "%s", state_note);
		if (svc_state_applies(&sc, req))
			svc_save_state(s, res->session_id, &sc, res);
	}
out:
	drop_file_bytes(req, res);
	free(origins);
	res->total_us = (kcr_now_ns() - t0) / 1000;
	return r;
}

/* The execution metrics; r is what the execution returned (-1: kcr could
 * not run it). */
static void
record_exec(const struct kcr_exec_request *c, const struct kcr_exec_result *res, int r, uint64_t t0)
{
	const char *lang = c->lang ? c->lang->id : "unknown";

	if (r < 0)
		kcr_metrics_execution(lang, "failed", (double)(kcr_now_ns() - t0) / 1e9, -1);
	else
		kcr_metrics_execution(lang,
				      res->timed_out    ? "timeout"
				      : res->oom_killed ? "oom"
				      : res->exit_code  ? "error"
							: "ok",
				      (double)res->total_us / 1e6, (double)res->setup_us / 1e6);
}

int
kcr_service_exec(struct kcr_service *s, struct kcr_exec_request *c, struct kcr_exec_result *res,
		 kcr_error_t *err)
{
	uint64_t t0 = kcr_now_ns();
	int r;

	memset(res, 0, sizeof(*res));
	call_limits(s, c);
	r = kcr_engine_validate(s->engine, c, err) < 0 ? -1 : run_call(s, c, res, err);
	record_exec(c, res, r, t0);
	if (r < 0) {
		kcr_exec_result_release(res);
		return -1;
	}
	return 0;
}
