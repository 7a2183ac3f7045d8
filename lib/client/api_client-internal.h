/* What the files of the kcr API client (lib/client/api_client*.c) share,
 * and no one else: the client, one reply, and one request. */
#ifndef KCR_API_CLIENT_INTERNAL_H
#define KCR_API_CLIENT_INTERNAL_H

#include "client/api_client.h"
#include "base/curl_dl.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
/* A reply larger than this is refused: a broken or hostile server must not
 * make the CLI eat all memory. */
#define REPLY_MAX ((size_t)2 << 30)
#define CONNECT_TIMEOUT_S 10L
#define SERVER_MSG_MAX 512

struct kcr_api_client {
	CURL *curl;
	char *base;       /* "http://host:8000/v1", no trailing '/' */
	char *key_header; /* "X-API-Key: ...", or NULL */
	char *ca_file;    /* the CAs an https:// server is checked with; NULL: the system's */
	char errbuf[CURL_ERROR_SIZE];
};

struct reply {
	long status;
	struct kcr_buf body;
	char *disposition, *ctype;
	bool too_big;
};
/* A request body given as bytes, with its Content-Type header line. */
struct raw_body {
	const char *ctype;
	const void *data;
	size_t len;
};


void apic_reply_release(struct reply *r);
int apic_perform_raw(struct kcr_api_client *c, const char *method, const char *path, const struct raw_body *raw, curl_mime *mime, struct reply *r, kcr_error_t *err);
int apic_perform(struct kcr_api_client *c, const char *method, const char *path, const char *json, curl_mime *mime, struct reply *r, kcr_error_t *err);
int apic_malformed(const struct kcr_api_client *c, const char *what, kcr_error_t *err);
int apic_perform_json(struct kcr_api_client *c, const char *method, const char *path, const char *json, curl_mime *mime, cJSON **out, kcr_error_t *err);
void apic_add_opt_string(cJSON *o, const char *name, const char *value);
int apic_check_ids(const char *sid, const char *fid, kcr_error_t *err);

#endif
