/* SHA-256 in hex (OpenSSL), apart from encode.c so that a program that
 * needs base64 but no digest (kcr-runner) does not link libcrypto. */
#include <config.h>

#include "base/encode.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <unistd.h>

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
