#include <config.h>

#include "engine/pyimports.h"

#include <ctype.h>
#include <string.h>

static bool
is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Whether the identifier at s (n bytes) is a top-level package of modules. */
static bool
listed(const char *s, size_t n, const char *modules)
{
	for (const char *m = modules; m && *m;) {
		size_t top = strcspn(m, ".,");
		size_t all = strcspn(m, ",");

		if (top == n && n > 0 && memcmp(m, s, n) == 0)
			return true;
		m += all;
		if (*m == ',')
			m++;
	}
	return false;
}

static const char *
skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* After "import": names separated by commas, each maybe "as x". */
static bool
import_list(const char *p, const char *end, const char *modules)
{
	for (;;) {
		const char *id;

		p = skip_blank(p, end);
		id = p;
		while (p < end && is_ident(*p))
			p++;
		if (listed(id, (size_t)(p - id), modules))
			return true;
		while (p < end && *p != ',' && *p != ';' && *p != '\n')
			p++;
		if (p >= end || *p != ',')
			return false;
		p++;
	}
}

/* One simple statement starting at p (blanks skipped). */
static bool
statement(const char *p, const char *end, const char *modules)
{
	const char *id;

	p = skip_blank(p, end);
	if ((size_t)(end - p) > 7 && memcmp(p, "import", 6) == 0 && !is_ident(p[6]))
		return import_list(p + 6, end, modules);
	if ((size_t)(end - p) > 5 && memcmp(p, "from", 4) == 0 && !is_ident(p[4])) {
		p = skip_blank(p + 4, end);
		id = p;
		while (p < end && is_ident(*p))
			p++;
		return listed(id, (size_t)(p - id), modules);
	}
	return false;
}

bool
kcr_py_imports_any(const char *code, size_t len, const char *modules)
{
	const char *p = code, *end = code + len;

	if (code == NULL || modules == NULL || *modules == '\0')
		return false;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end;

		/* each statement of the line: "import os; import pandas as pd" */
		for (const char *s = p; s && s < stop;) {
			const char *semi = memchr(s, ';', (size_t)(stop - s));

			if (statement(s, semi ? semi : stop, modules))
				return true;
			s = semi ? semi + 1 : NULL;
		}
		p = stop + 1;
	}
	return false;
}
