#include <config.h>

#include "runner_client.h"
#include "runner_proto.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rc_response {
	long status;
	struct kcr_buf body;
	uint64_t max;
	bool too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
rc_write(char *p, size_t size, size_t n, void *ud)
{
	struct rc_response *r = ud;

	if (r->max && r->body.len + size * n > r->max) {
		r->too_big = true;
		return 0;
	}
	kcr_buf_add(&r->body, p, size * n);
	return size * n;
}

/* The runner's {"error": "..."} message, or the HTTP status. */
static int
rc_fail(struct rc_response *r, const char *what, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	enum kcr_errc c = r->status == 404   ? KCR_E_NOTFOUND
			  : r->status == 400 ? KCR_E_INVALID
			  : r->status == 413 ? KCR_E_LIMIT
					     : KCR_E_BACKEND;

	kcr_error_set(err, c, 0, "%s: %s", what,
		      cJSON_IsString(e) ? e->valuestring : "runner answered an error");
	cJSON_Delete(o);
	return -1;
}

static int
rc_request(const char *endpoint, const char *method, const char *path, const void *body,
	   size_t len, const char *ctype, struct rc_response *r, kcr_error_t *err)
{
	kcr_autofree char *url = NULL;
	struct curl_slist *hdrs = NULL;
	CURL *h;
	CURLcode cc;

	pthread_once(&curl_once, curl_init_once);
	h = curl_easy_init();
	if (h == NULL)
		kcr_oom();
	if (strncmp(endpoint, "unix:", 5) == 0) {
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, endpoint + 5);
		url = kcr_strdup_printf("http://runner%s", path);
	} else {
		url = kcr_strdup_printf("%s%s", endpoint, path);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rc_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (body) {
		hdrs = curl_slist_append(hdrs, ctype);
		hdrs = curl_slist_append(hdrs, "Expect:");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (r->too_big)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "%s %s: larger than %llu bytes",
				     method, path, (unsigned long long)r->max);
	if (cc != CURLE_OK)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "runner %s %s: %s", method, path,
				     curl_easy_strerror(cc));
	return 0;
}

int
kcr_runner_execute(const char *endpoint, const struct kcr_exec_req *req,
		   struct kcr_exec_res *res, kcr_error_t *err)
{
	kcr_autofree char *body = kcr_proto_exec_req_encode(req);
	struct rc_response r = { 0 };
	int ret = -1;

	if (rc_request(endpoint, "POST", "/execute", body, strlen(body),
		       "Content-Type: application/json", &r, err) < 0)
		goto out;
	if (r.status != 200) {
		rc_fail(&r, "execute", err);
		goto out;
	}
	ret = kcr_proto_exec_res_decode(r.body.data, r.body.len, res, err);
out:
	kcr_buf_release(&r.body);
	return ret;
}

static char *
escape_name(const char *name)
{
	char *e = curl_easy_escape(NULL, name, 0);
	char *copy;

	if (e == NULL)
		kcr_oom();
	copy = kcr_xstrdup(e);
	curl_free(e);
	return copy;
}

int
kcr_runner_put_file(const char *endpoint, const char *name, const void *buf, size_t len,
		    kcr_error_t *err)
{
	kcr_autofree char *esc = escape_name(name);
	kcr_autofree char *path = kcr_strdup_printf("/files?name=%s", esc);
	struct rc_response r = { 0 };
	int ret = -1;

	if (rc_request(endpoint, "POST", path, len ? buf : "", len,
		       "Content-Type: application/octet-stream", &r, err) < 0)
		goto out;
	if (r.status != 201 && r.status != 200) {
		rc_fail(&r, name, err);
		goto out;
	}
	ret = 0;
out:
	kcr_buf_release(&r.body);
	return ret;
}

int
kcr_runner_get_file(const char *endpoint, const char *name, uint64_t max, char **buf,
		    size_t *len, kcr_error_t *err)
{
	kcr_autofree char *esc = escape_name(name);
	kcr_autofree char *path = kcr_strdup_printf("/files/%s", esc);
	struct rc_response r = { .max = max };

	if (rc_request(endpoint, "GET", path, NULL, 0, NULL, &r, err) < 0) {
		kcr_buf_release(&r.body);
		return kcr_error_wrap(err, "'%s'", name);
	}
	if (r.status != 200) {
		rc_fail(&r, name, err);
		kcr_buf_release(&r.body);
		return -1;
	}
	*buf = kcr_buf_steal(&r.body, len);
	return 0;
}

int
kcr_runner_health(const char *endpoint, kcr_error_t *err)
{
	struct rc_response r = { 0 };
	int ret = rc_request(endpoint, "GET", "/ready", NULL, 0, NULL, &r, err);

	if (ret == 0 && r.status != 200)
		ret = rc_fail(&r, "ready", err);
	kcr_buf_release(&r.body);
	return ret;
}
