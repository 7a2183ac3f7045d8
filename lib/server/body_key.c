#include <config.h>

#include "server/body_key.h"
#include "base/util.h"

#include <stdbool.h>
#include <string.h>

#define MAX_DEPTH 64

struct scan {
	const char *p, *end;
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A string at s->p (on its opening quote). With out, its bytes are decoded
 * into *out (escapes of ASCII only: anything else fails, as no key holds
 * it); without, it is skipped. */
static bool
scan_string(struct scan *s, struct kcr_buf *out)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	for (s->p++; s->p < s->end; s->p++) {
		char c = *s->p;

		if (c == '"') {
			s->p++;
			return true;
		}
		if ((unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			const char *esc = "\"\"\\\\//b\bf\fn\nr\rt\t";
			const char *m;

			if (++s->p >= s->end)
				return false;
			c = *s->p;
			if (c == 'u') {
				int v = s->end - s->p > 4 ? hex4(s->p + 1) : -1;

				if (v < 0 || (out && v > 0x7f))
					return false;
				c = (char)v;
				s->p += 4;
			} else if ((m = strchr(esc, c)) != NULL && ((m - esc) % 2) == 0 && c) {
				c = m[1];
			} else {
				return false;
			}
		}
		if (out)
			kcr_buf_add(out, &c, 1);
	}
	return false;
}

/* Any value: strings, and objects and arrays by their brackets (their
 * insides only need to be skipped, not checked). */
static bool
skip_value(struct scan *s)
{
	int depth = 0;

	skip_ws(s);
	do {
		if (s->p >= s->end)
			return false;
		switch (*s->p) {
		case '"':
			if (!scan_string(s, NULL))
				return false;
			break;
		case '{':
		case '[':
			if (++depth > MAX_DEPTH)
				return false;
			s->p++;
			break;
		case '}':
		case ']':
			if (--depth < 0)
				return false;
			s->p++;
			break;
		case ',':
		case ':':
			if (depth == 0)
				return false;
			s->p++;
			break;
		default: /* numbers, true, false, null, whitespace */
			s->p++;
			break;
		}
		if (depth > 0)
			skip_ws(s);
	} while (depth > 0 || (s->p < s->end && strchr(",}] \t\r\n", *s->p) == NULL));
	return true;
}

static void
buf_clear(struct kcr_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static bool
name_wanted(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

char *
kcr_body_key_find(const char *json, size_t len, const char *const *names, size_t n)
{
	struct scan s = { json, json + len };
	struct kcr_buf name, value;
	char *found = NULL;

	kcr_buf_init(&name);
	kcr_buf_init(&value);
	skip_ws(&s);
	if (s.p >= s.end || *s.p++ != '{')
		return NULL;
	for (;;) {
		skip_ws(&s);
		buf_clear(&name);
		if (!scan_string(&s, &name))
			break;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			break;
		skip_ws(&s);
		if (s.p < s.end && *s.p == '"' && name.data && name_wanted(name.data, names, n)) {
			buf_clear(&value);
			if (!scan_string(&s, &value))
				break;
			found = kcr_buf_steal(&value, NULL);
			break;
		}
		if (!skip_value(&s))
			break;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ',')
			break;
	}
	kcr_buf_release(&name);
	kcr_buf_release(&value);
	return found;
}
