#include <config.h>

#include "base/encode.h"
#include "client/api_client-internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
apic_reply_release(struct reply *r)
{
	kcr_buf_release(&r->body);
	free(r->disposition);
	free(r->ctype);
	memset(r, 0, sizeof(*r));
}

/* ---- setup ------------------------------------------------------------ */

static int
check_base_url(const char *url, kcr_error_t *err)
{
	size_t scheme = 0;

	if (strncmp(url, "http://", 7) == 0)
		scheme = 7;
	else if (strncmp(url, "https://", 8) == 0)
		scheme = 8;
	if (scheme == 0 || url[scheme] == '\0' || url[scheme] == '/')
		return kcr_error_set(
			err, KCR_E_INVALID, 0,
			"server URL '%s' is not http://HOST[:PORT][/PATH] or https://...", url);
	if (strpbrk(url, "?# \t\r\n"))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "server URL '%s' may not hold a query, fragment or space",
				     url);
	return 0;
}

struct kcr_api_client *
kcr_api_client_new(const char *base_url, const char *api_key, kcr_error_t *err)
{
	struct kcr_api_client *c;
	size_t n;

	if (check_base_url(base_url, err) < 0)
		return NULL;
	if (api_key && strpbrk(api_key, "\r\n")) {
		kcr_error_set(err, KCR_E_INVALID, 0, "the API key contains a line break");
		return NULL;
	}
	if (kcr_curl_load(err) < 0)
		return NULL;
	c = kcr_xzalloc(sizeof(*c));
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		free(c);
		kcr_error_set(err, KCR_E_INTERNAL, 0, "cannot initialise libcurl");
		return NULL;
	}
	c->base = kcr_xstrdup(base_url);
	for (n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
		c->base[n - 1] = '\0';
	if (api_key && *api_key)
		c->key_header = kcr_strdup_printf("X-API-Key: %s", api_key);
	return c;
}

void
kcr_api_client_set_ca_file(struct kcr_api_client *c, const char *path)
{
	free(c->ca_file);
	c->ca_file = path && *path ? kcr_xstrdup(path) : NULL;
}

void
kcr_api_client_free(struct kcr_api_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c->base);
	free(c->ca_file);
	if (c->key_header)
		explicit_bzero(c->key_header, strlen(c->key_header));
	free(c->key_header);
	free(c);
}

const char *
kcr_api_client_url(const struct kcr_api_client *c)
{
	return c->base;
}

/* ---- one request --------------------------------------------------------- */

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t len = size * nmemb;

	if (len > REPLY_MAX - r->body.len) {
		r->too_big = true;
		return 0; /* makes curl fail the transfer */
	}
	kcr_buf_add(&r->body, p, len);
	return len;
}

static void
header_value(const char *p, size_t len, const char *name, char **out)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return;
	p += nl + 1;
	len -= nl + 1;
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	free(*out);
	*out = kcr_xstrndup(p, len);
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t len = size * nmemb;

	header_value(p, len, "Content-Disposition", &r->disposition);
	header_value(p, len, "Content-Type", &r->ctype);
	return len;
}

enum kcr_errc
kcr_api_status_errc(long status)
{
	switch (status) {
	case 400:
	case 405:
	case 415:
	case 422:
		return KCR_E_INVALID;
	case 401:
	case 403:
		return KCR_E_AUTH;
	case 404:
	case 410:
		return KCR_E_NOTFOUND;
	case 408:
		return KCR_E_TIMEOUT;
	case 409:
		return KCR_E_CONFLICT;
	case 413:
		return KCR_E_LIMIT;
	case 429:
	case 503:
		return KCR_E_UNAVAILABLE;
	case 500:
		return KCR_E_INTERNAL;
	default:
		return status >= 500 ? KCR_E_BACKEND : KCR_E_INVALID;
	}
}

/* The server's text, made safe for a terminal: one line, no control
 * characters, not too long. */
static char *
clean_message(const char *s)
{
	char *m = kcr_utf8_clean(s, strnlen(s, SERVER_MSG_MAX * 4));

	for (char *p = m; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (strlen(m) > SERVER_MSG_MAX)
		strcpy(m + SERVER_MSG_MAX - 3, "...");
	return m;
}

/* {"error": "..."} (kcr, KubeCodeRun) or {"detail": "..."} (FastAPI). */
static int
reply_error(const struct kcr_api_client *c, const struct reply *r, kcr_error_t *err)
{
	enum kcr_errc code = kcr_api_status_errc(r->status);
	cJSON *o = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
	kcr_autofree char *msg = NULL;

	/* the /state routes: "error" is a code, the text is in "message" */
	if (!cJSON_IsString(m) || !*m->valuestring)
		m = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (!cJSON_IsString(m) || !*m->valuestring)
		m = cJSON_GetObjectItemCaseSensitive(o, "detail");
	if (cJSON_IsString(m) && *m->valuestring)
		msg = clean_message(m->valuestring);
	cJSON_Delete(o);
	if (msg == NULL)
		return kcr_error_set(err, code, 0, "the server at %s replied HTTP %ld", c->base,
				     r->status);
	if (code == KCR_E_AUTH && r->status == 403)
		return kcr_error_set(err, code, 0,
				     "%s (the admin key is client.admin_key or KCR_ADMIN_KEY)",
				     msg);
	if (code == KCR_E_AUTH)
		return kcr_error_set(err, code, 0, "%s (the key is client.api_key or KCR_API_KEY)",
				     msg);
	return kcr_error_set(err, code, 0, "%s", msg);
}

static struct curl_slist *
add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);

	if (n == NULL)
		kcr_oom();
	return n;
}

static void
set_common(struct kcr_api_client *c, const char *url, struct reply *r)
{
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "kcr/" PACKAGE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
}

/* Sends one request; a status other than 2xx is an error. raw or mime is
 * the body of a POST; method "DELETE" deletes. */
int
apic_perform_raw(struct kcr_api_client *c, const char *method, const char *path,
		 const struct raw_body *raw, curl_mime *mime, struct reply *r, kcr_error_t *err)
{
	kcr_autofree char *url = kcr_strdup_printf("%s%s", c->base, path);
	struct curl_slist *h = NULL;
	CURLcode rc;

	set_common(c, url, r);
	if (c->key_header)
		h = add_header(h, c->key_header);
	h = add_header(h, "Expect:"); /* no 100-continue round trip */
	if (raw) {
		h = add_header(h, raw->ctype);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, raw->len ? raw->data : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)raw->len);
	} else if (mime) {
		curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, mime);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (rc != CURLE_OK && r->too_big)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "reply of kcr server at %s is over %zu bytes", c->base,
				     REPLY_MAX);
	if (rc != CURLE_OK)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "cannot reach kcr server at %s: %s",
				     c->base, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (r->status < 200 || r->status > 299)
		return reply_error(c, r, err);
	return 0;
}

/* perform_raw with json (or nothing) as the body. */
int
apic_perform(struct kcr_api_client *c, const char *method, const char *path, const char *json,
	     curl_mime *mime, struct reply *r, kcr_error_t *err)
{
	struct raw_body b = { "Content-Type: application/json", json, json ? strlen(json) : 0 };

	return apic_perform_raw(c, method, path, json ? &b : NULL, mime, r, err);
}

int
apic_malformed(const struct kcr_api_client *c, const char *what, kcr_error_t *err)
{
	return kcr_error_set(err, KCR_E_BACKEND, 0, "malformed reply from kcr server at %s: %s",
			     c->base, what);
}

/* A request with a JSON reply: *out is the parsed body. */
int
apic_perform_json(struct kcr_api_client *c, const char *method, const char *path, const char *json,
		  curl_mime *mime, cJSON **out, kcr_error_t *err)
{
	struct reply r = { 0 };
	int ret = apic_perform(c, method, path, json, mime, &r, err);

	if (ret == 0) {
		*out = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
		if (*out == NULL)
			ret = apic_malformed(c, "not JSON", err);
	}
	apic_reply_release(&r);
	return ret;
}

/* ---- JSON helpers ------------------------------------------------------- */

void
apic_add_opt_string(cJSON *o, const char *name, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(o, name, value);
}

int
kcr_api_client_request_json(struct kcr_api_client *c, const char *method, const char *path,
			    const char *json, cJSON **out, kcr_error_t *err)
{
	return apic_perform_json(c, method, path, json, NULL, out, err);
}
