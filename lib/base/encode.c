/* Encodings: base64, text made safe for JSON, and percent-encoding for
 * URLs. (SHA-256 is in sha256.c, with OpenSSL.) */
#include <config.h>

#include "base/encode.h"
#include "base/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Base64 (RFC 4648, with padding), here rather than OpenSSL's
 * EVP_EncodeBlock: kcr-runner needs base64 for its wire format and nothing
 * else of libcrypto, and loading libcrypto costs every process that links
 * it ~2.8 million instructions and ~120 page faults at start (measured with
 * callgrind and perf stat: a program linking it starts in 8.9 ms, one
 * without in 4.1), once per sandbox. tests/unit/test_util.c checks this
 * against OpenSSL's. */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
kcr_base64_encode(const void *p, size_t n)
{
	const unsigned char *in = p;
	char *out = kcr_xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* a byte's value plus one; 0: not in the alphabet */
static const unsigned char b64_values[256] = {
	['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
	['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['/'] = 64,
};

int
kcr_base64_decode(const char *s, char **out, size_t *len, kcr_error_t *err)
{
	size_t n = strlen(s), pad = 0, o = 0;
	char *buf;

	if (n % 4 != 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64 (length %zu)", n);
	if (n >= 1 && s[n - 1] == '=')
		pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
	buf = kcr_xmalloc(n / 4 * 3 + 1);
	for (size_t i = 0; i < n; i += 4) {
		const unsigned char *q = (const unsigned char *)s + i;
		bool last = i + 4 == n;
		unsigned int a = b64_values[q[0]], b = b64_values[q[1]];
		unsigned int c = last && pad == 2 ? 1 : b64_values[q[2]];
		unsigned int d = last && pad >= 1 ? 1 : b64_values[q[3]];
		uint32_t v;

		if (a == 0 || b == 0 || c == 0 || d == 0) {
			free(buf);
			return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64");
		}
		v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
		buf[o++] = (char)(v >> 16);
		buf[o++] = (char)(v >> 8);
		buf[o++] = (char)v;
	}
	*len = o - pad;
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are invalid */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool
kcr_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0, len; i < n; i += len)
		if ((len = utf8_seq_len(p + i, n - i)) == 0)
			return false;
	return true;
}

char *
kcr_utf8_clean(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct kcr_buf b;

	kcr_buf_init(&b);
	kcr_buf_add(&b, "", 0);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);

		if (len == 0) {
			kcr_buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		if (len > 1 || p[i] >= 0x20 || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
			if (p[i] != 0x7f)
				kcr_buf_add(&b, p + i, len);
		i += len;
	}
	return kcr_buf_steal(&b, NULL);
}

char *
kcr_percent_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct kcr_buf b;

	kcr_buf_init(&b);
	kcr_buf_add(&b, "", 0);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			kcr_buf_add(&b, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			kcr_buf_add(&b, e, 3);
		}
	}
	return kcr_buf_steal(&b, NULL);
}
