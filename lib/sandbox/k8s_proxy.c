/* The pod proxy: a request to a pod's port through the API server
 * (pods/proxy), for a kcr outside the cluster that cannot reach pod IPs.
 * The reply streams to a descriptor or into memory, bounded either way. */
#include <config.h>

#include "base/clock.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"

#include <stdlib.h>
#include <string.h>

/* kcr-runner reads JSON and raw bytes alike; say which it is */
static const char *
sniff_type(const void *body, size_t len)
{
	const unsigned char *p = body;

	while (len > 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++, len--;
	return len > 0 && (*p == '{' || *p == '[') ? "application/json"
						   : "application/octet-stream";
}

int
kcr_k8s_proxy(struct kcr_k8s *k, const char *pod, int port, const char *method, const char *path,
	      const void *body, size_t body_len, uint64_t timeout_ms, uint64_t max, int out,
	      uint64_t *len, char **reply, long *http, kcr_error_t *err)
{
	kcr_autofree char *full =
		kcr_strdup_printf("/api/v1/namespaces/%s/pods/%s:%d/proxy%s%s", k->cfg.namespace,
				  pod, port, path[0] == '/' ? "" : "/", path);
	struct k8s_call c;
	int r;

	if (len)
		*len = 0;
	if (reply)
		*reply = NULL;
	k8s_call_init(&c);
	c.method = method;
	c.path = full;
	c.body = body;
	c.body_len = body ? body_len : 0;
	c.has_body = body != NULL;
	c.content_type = body ? sniff_type(body, body_len) : NULL;
	c.max = max;
	c.max_is_limit = true;
	c.out_fd = out;
	r = k8s_perform(k, &c, kcr_now_ms() + (timeout_ms ? timeout_ms : k->opts.timeout_ms), err);
	if (len)
		*len = c.written;
	if (http)
		*http = c.status;
	if (r == 0 && out < 0 && reply) {
		*reply = kcr_buf_steal(&c.body_in, NULL);
		if (*reply == NULL)
			*reply = kcr_xzalloc(1);
	}
	k8s_call_release(&c);
	return r;
}
