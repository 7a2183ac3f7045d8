/* Encodings: base64 and SHA-256 (OpenSSL), text made safe for JSON, and
 * percent-encoding for URLs. */
#include <config.h>

#include "base/encode.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
kcr_base64_encode(const void *p, size_t n)
{
	char *out = kcr_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

int
kcr_base64_decode(const char *s, char **out, size_t *len, kcr_error_t *err)
{
	size_t n = strlen(s), pad = 0;
	char *buf;
	int r;

	if (n % 4 != 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64 (length %zu)", n);
	buf = kcr_xmalloc(n / 4 * 3 + 1);
	r = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(buf);
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64");
	}
	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	*len = (size_t)r - pad;
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

void
kcr_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;

	EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

int
kcr_sha256_hex_fd(int fd, char out[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;
	char buf[65536];
	off_t off = 0;
	ssize_t r;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		errno = ENOMEM;
		return -1;
	}
	while ((r = pread(fd, buf, sizeof(buf), off)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			EVP_MD_CTX_free(ctx);
			return -1;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += r;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
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
