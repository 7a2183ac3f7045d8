/* File names as LibreChat sanitises them, and content types for downloads. */
#include <config.h>

#include "base/filename.h"
#include "base/ids.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *
kcr_sanitize_filename(const char *name)
{
	const char *base = strrchr(name, '/');
	struct kcr_buf b;
	char *s, *ext;
	size_t len;

	base = base ? base + 1 : name;
	kcr_buf_init(&b);
	if (*base == '.')
		kcr_buf_add(&b, "_", 1);
	for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
		char ch = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'
				 ? *p
				 : '_');

		/* one '_' per character: skip the continuation bytes of UTF-8 */
		if ((*p & 0xc0) == 0x80 && p > (const unsigned char *)base && p[-1] >= 0x80)
			continue;
		kcr_buf_add(&b, &ch, 1);
	}
	if (b.len == 0)
		kcr_buf_add(&b, "_", 1);
	s = kcr_buf_steal(&b, &len);
	if (len <= 255)
		return s;
	ext = strrchr(s, '.');
	if (ext == NULL || strlen(ext) > 32)
		ext = s + len; /* no usable extension */
	{
		char rnd[KCR_ID_LEN + 1];
		char *t;

		kcr_id_generate(rnd);
		t = kcr_strdup_printf("%.*s-%.6s%s", (int)(255 - strlen(ext) - 7), s, rnd, ext);
		free(s);
		return t;
	}
}

const char *
kcr_content_type_for(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".txt", "text/plain" },      { ".csv", "text/csv" },
		{ ".json", "application/json" }, { ".xml", "application/xml" },
		{ ".html", "text/html" },      { ".md", "text/markdown" },
		{ ".png", "image/png" },       { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },     { ".gif", "image/gif" },
		{ ".svg", "image/svg+xml" },   { ".webp", "image/webp" },
		{ ".pdf", "application/pdf" }, { ".zip", "application/zip" },
		{ ".py", "text/x-python" },    { ".js", "text/javascript" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < KCR_ARRAY_SIZE(types); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}
