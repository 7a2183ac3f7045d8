/* The Python state of a session from the CLI: /state/SID. */
#include <config.h>

#include "base/encode.h"
#include "base/clock.h"
#include "base/json.h"
#include "client/api_client-internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the Python state of a session (/state/SID) -------------------------- */

int
kcr_api_client_state_get(struct kcr_api_client *c, const char *sid, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };

	if (apic_check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	if (apic_perform(c, "GET", path, NULL, NULL, &r, err) < 0) {
		apic_reply_release(&r);
		return -1;
	}
	if (r.body.data == NULL)
		kcr_buf_add(&r.body, "", 0);
	*data = kcr_buf_steal(&r.body, len);
	if (info) {
		memset(info, 0, sizeof(*info));
		info->size = *len;
		kcr_sha256_hex(*data, *len, info->hash);
	}
	apic_reply_release(&r);
	return 0;
}

int
kcr_api_client_state_put(struct kcr_api_client *c, const char *sid, const void *data,
			 size_t len, kcr_error_t *err)
{
	struct raw_body b = { "Content-Type: application/octet-stream", data, len };
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };
	int ret;

	if (apic_check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	ret = apic_perform_raw(c, "POST", path, &b, NULL, &r, err);
	apic_reply_release(&r);
	return ret;
}

int
kcr_api_client_state_delete(struct kcr_api_client *c, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };
	int ret;

	if (apic_check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	ret = apic_perform(c, "DELETE", path, NULL, NULL, &r, err);
	apic_reply_release(&r);
	return ret;
}

int
kcr_api_client_state_info(struct kcr_api_client *c, const char *sid,
			  struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	const char *hash;
	cJSON *o = NULL;

	if (apic_check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s/info", sid);
	if (apic_perform_json(c, "GET", path, NULL, NULL, &o, err) < 0)
		return -1;
	memset(info, 0, sizeof(*info));
	hash = kcr_json_str(o, "hash");
	if (!kcr_json_bool(o, "exists", false)) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	}
	info->size = kcr_json_u64(o, "size_bytes", 0);
	if (hash && strlen(hash) == 64)
		memcpy(info->hash, hash, sizeof(info->hash));
	info->created = kcr_iso8601_parse(kcr_json_str(o, "created_at"));
	info->expires = kcr_iso8601_parse(kcr_json_str(o, "expires_at"));
	cJSON_Delete(o);
	return 0;
}
