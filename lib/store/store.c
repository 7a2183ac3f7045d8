#include <config.h>

#include "base/clock.h"
#include "base/json.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static const struct kcr_session_store_ops *const session_stores[] = {
	&kcr_session_store_fs_ops,
};
static const struct kcr_file_store_ops *const file_stores[] = {
	&kcr_file_store_fs_ops,
};

int
kcr_stores_open(struct kcr_stores *s, const struct kcr_config *cfg, kcr_error_t *err)
{
	const char *sname = kcr_config_str(cfg, "store.sessions");
	const char *fname = kcr_config_str(cfg, "store.files");

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < KCR_ARRAY_SIZE(session_stores); i++)
		if (strcmp(session_stores[i]->name, sname) == 0)
			s->sessions = session_stores[i];
	for (size_t i = 0; i < KCR_ARRAY_SIZE(file_stores); i++)
		if (strcmp(file_stores[i]->name, fname) == 0)
			s->files = file_stores[i];
	if (s->sessions == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "unknown session store '%s'", sname);
	if (s->files == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "unknown file store '%s'", fname);
	if (s->sessions->open(&s->sessions_self, cfg, err) < 0)
		return kcr_error_wrap(err, "session store '%s'", sname);
	if (s->files->open(&s->files_self, cfg, err) < 0) {
		s->sessions->close(s->sessions_self);
		s->sessions_self = NULL;
		return kcr_error_wrap(err, "file store '%s'", fname);
	}
	return 0;
}

void
kcr_stores_close(struct kcr_stores *s)
{
	if (s->sessions && s->sessions_self)
		s->sessions->close(s->sessions_self);
	if (s->files && s->files_self)
		s->files->close(s->files_self);
	memset(s, 0, sizeof(*s));
}

void
kcr_session_release(struct kcr_session *s)
{
	free(s->entity_id);
	free(s->user_id);
	s->entity_id = s->user_id = NULL;
}

static void
add_str(cJSON *o, const char *k, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, k, v);
}

char *
kcr_session_to_json(const struct kcr_session *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", s->id);
	add_str(o, "entity_id", s->entity_id);
	add_str(o, "user_id", s->user_id);
	cJSON_AddNumberToObject(o, "created", s->created);
	cJSON_AddNumberToObject(o, "last_used", s->last_used);
	cJSON_AddNumberToObject(o, "expires", s->expires);
	return kcr_json_print_free(o);
}

static bool
copy_id(const cJSON *o, const char *k, char out[KCR_ID_LEN + 1], bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	out[0] = '\0';
	if (!cJSON_IsString(v))
		return !required;
	if (!kcr_id_valid(v->valuestring))
		return false;
	memcpy(out, v->valuestring, KCR_ID_LEN + 1);
	return true;
}

int
kcr_session_from_json(const char *json, size_t len, struct kcr_session *s, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o) || !copy_id(o, "id", s->id, true)) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_BACKEND, 0, "corrupt session record");
	}
	s->entity_id = kcr_xstrdup(kcr_json_str(o, "entity_id"));
	s->user_id = kcr_xstrdup(kcr_json_str(o, "user_id"));
	s->created = kcr_json_num(o, "created", 0);
	s->last_used = kcr_json_num(o, "last_used", 0);
	s->expires = kcr_json_num(o, "expires", 0);
	cJSON_Delete(o);
	return 0;
}

char *
kcr_file_meta_to_json(const struct kcr_file_meta *m)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", m->id);
	cJSON_AddStringToObject(o, "session_id", m->session_id);
	cJSON_AddStringToObject(o, "name", m->name);
	add_str(o, "original_name", m->original_name);
	add_str(o, "content_type", m->content_type);
	cJSON_AddNumberToObject(o, "size", (double)m->size);
	cJSON_AddNumberToObject(o, "created", m->created);
	cJSON_AddNumberToObject(o, "modified", m->modified);
	add_str(o, "sha256", m->sha256);
	add_str(o, "kind", m->kind);
	add_str(o, "modified_from", m->modified_from);
	add_str(o, "modified_from_session", m->modified_from_session);
	return kcr_json_print_free(o);
}

int
kcr_file_meta_from_json(const char *json, size_t len, struct kcr_file_meta *m, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const char *sha;

	memset(m, 0, sizeof(*m));
	if (!cJSON_IsObject(o) || !copy_id(o, "id", m->id, true) ||
	    !copy_id(o, "session_id", m->session_id, true) ||
	    !copy_id(o, "modified_from", m->modified_from, false) ||
	    !copy_id(o, "modified_from_session", m->modified_from_session, false) ||
	    !(m->name = kcr_xstrdup(kcr_json_str(o, "name")))) {
		cJSON_Delete(o);
		kcr_file_meta_release(m);
		return kcr_error_set(err, KCR_E_BACKEND, 0, "corrupt file record");
	}
	m->original_name = kcr_xstrdup(kcr_json_str(o, "original_name"));
	m->content_type = kcr_xstrdup(kcr_json_str(o, "content_type"));
	m->kind = kcr_xstrdup(kcr_json_str(o, "kind"));
	m->size = kcr_json_u64(o, "size", 0);
	m->created = kcr_json_num(o, "created", 0);
	m->modified = kcr_json_num(o, "modified", 0);
	sha = kcr_json_str(o, "sha256");
	if (sha && strlen(sha) == 64)
		memcpy(m->sha256, sha, 65);
	cJSON_Delete(o);
	return 0;
}

/* GET /state/{sid}/info's body: a state record as the API shows it. */
static void
add_time_or_null(cJSON *o, const char *name, double t)
{
	char iso[32];

	if (t <= 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	kcr_iso8601(t, iso);
	cJSON_AddStringToObject(o, name, iso);
}

cJSON *
kcr_state_info_json(const char *sid, const struct kcr_state_info *info)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "exists", info != NULL);
	cJSON_AddStringToObject(o, "session_id", sid);
	if (info) {
		cJSON_AddNumberToObject(o, "size_bytes", (double)info->size);
		cJSON_AddStringToObject(o, "hash", info->hash);
	} else {
		cJSON_AddNullToObject(o, "size_bytes");
		cJSON_AddNullToObject(o, "hash");
	}
	add_time_or_null(o, "created_at", info ? info->created : 0);
	add_time_or_null(o, "expires_at", info ? info->expires : 0);
	return o;
}
