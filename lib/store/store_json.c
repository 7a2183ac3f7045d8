/* The records of the stores: releasing them, checking their ids, and
 * their JSON, which the fs store writes as files and the redis store will
 * keep as values. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/json.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void
kcr_session_release(struct kcr_session *s)
{
	free(s->tenant);
	free(s->entity_id);
	free(s->user_id);
	s->tenant = s->entity_id = s->user_id = NULL;
}

void
kcr_session_copy(struct kcr_session *dst, const struct kcr_session *src)
{
	*dst = *src;
	dst->tenant = kcr_xstrdup(src->tenant);
	dst->entity_id = kcr_xstrdup(src->entity_id);
	dst->user_id = kcr_xstrdup(src->user_id);
}

char *
kcr_session_owner_key(const char *tenant, const char *entity_id, const char *user_id)
{
	kcr_autofree char *tuple = NULL;
	char hex[65];

	if (entity_id == NULL)
		return NULL;
	tenant = tenant ? tenant : "";
	user_id = user_id ? user_id : "";
	tuple = kcr_strdup_printf("%zu:%s,%zu:%s,%zu:%s", strlen(tenant), tenant, strlen(entity_id),
				  entity_id, strlen(user_id), user_id);
	kcr_sha256_hex(tuple, strlen(tuple), hex);
	return kcr_xstrdup(hex);
}

void
kcr_api_key_release(struct kcr_api_key_record *k)
{
	free(k->name);
	k->name = NULL;
}

void
kcr_api_key_list_free(struct kcr_api_key_record *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kcr_api_key_release(&list[i]);
	free(list);
}

bool
kcr_key_id_valid(const char *id)
{
	return id && strlen(id) == KCR_KEY_ID_LEN &&
	       strspn(id, "0123456789abcdef") == KCR_KEY_ID_LEN;
}

/* Safe as a file name and as a redis key, whatever the backend. */
bool
kcr_counter_name_valid(const char *name)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._:-";
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= KCR_COUNTER_NAME_MAX && name[0] != '.' && strspn(name, ok) == n;
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
	add_str(o, "tenant", s->tenant);
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
	s->tenant = kcr_xstrdup(kcr_json_str(o, "tenant"));
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

char *
kcr_state_record_to_json(const struct kcr_state_info *i)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "size", (double)i->size);
	cJSON_AddStringToObject(o, "hash", i->hash);
	cJSON_AddNumberToObject(o, "created", i->created);
	cJSON_AddNumberToObject(o, "expires", i->expires);
	if (i->archived)
		cJSON_AddTrueToObject(o, "archived");
	if (i->restored > 0)
		cJSON_AddNumberToObject(o, "restored", i->restored);
	return kcr_json_print_free(o);
}

int
kcr_state_record_from_json(const char *json, size_t len, struct kcr_state_info *i, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
	const cJSON *hash = cJSON_GetObjectItemCaseSensitive(o, "hash");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(o, "created");
	const cJSON *expires = cJSON_GetObjectItemCaseSensitive(o, "expires");
	int r = 0;

	memset(i, 0, sizeof(*i));
	if (!cJSON_IsNumber(size) || !cJSON_IsString(hash) || strlen(hash->valuestring) != 64 ||
	    !cJSON_IsNumber(created) || !cJSON_IsNumber(expires))
		r = kcr_error_set(err, KCR_E_BACKEND, 0, "corrupt state record");
	else {
		i->size = (uint64_t)size->valuedouble;
		memcpy(i->hash, hash->valuestring, sizeof(i->hash));
		i->created = created->valuedouble;
		i->expires = expires->valuedouble;
		i->archived = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "archived"));
		i->restored = kcr_json_num(o, "restored", 0);
	}
	cJSON_Delete(o);
	return r;
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
	/* KubeCodeRun's: where the bytes are now */
	if (info)
		cJSON_AddStringToObject(o, "source", info->archived ? "archive" : "store");
	return o;
}

char *
kcr_api_key_to_json(const struct kcr_api_key_record *k)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", k->id);
	add_str(o, "name", k->name);
	cJSON_AddBoolToObject(o, "enabled", k->enabled);
	cJSON_AddNumberToObject(o, "created", k->created);
	cJSON_AddNumberToObject(o, "expires", k->expires);
	cJSON_AddNumberToObject(o, "per_second", k->per_second);
	cJSON_AddNumberToObject(o, "per_minute", k->per_minute);
	cJSON_AddNumberToObject(o, "per_hour", k->per_hour);
	cJSON_AddNumberToObject(o, "per_day", k->per_day);
	cJSON_AddNumberToObject(o, "max_concurrent", k->max_concurrent);
	return kcr_json_print_free(o);
}

int
kcr_api_key_from_json(const char *json, size_t len, struct kcr_api_key_record *k, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");

	memset(k, 0, sizeof(*k));
	if (!cJSON_IsObject(o) || !cJSON_IsString(id) || !kcr_key_id_valid(id->valuestring)) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_BACKEND, 0, "corrupt key record");
	}
	memcpy(k->id, id->valuestring, sizeof(k->id));
	k->name = kcr_xstrdup(kcr_json_str(o, "name"));
	k->enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "enabled"));
	k->created = kcr_json_num(o, "created", 0);
	k->expires = kcr_json_num(o, "expires", 0);
	k->per_second = (uint32_t)kcr_json_u64(o, "per_second", 0);
	k->per_minute = (uint32_t)kcr_json_u64(o, "per_minute", 0);
	k->per_hour = (uint32_t)kcr_json_u64(o, "per_hour", 0);
	k->per_day = (uint32_t)kcr_json_u64(o, "per_day", 0);
	k->max_concurrent = (uint32_t)kcr_json_u64(o, "max_concurrent", 0);
	cJSON_Delete(o);
	return 0;
}
