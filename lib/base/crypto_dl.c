/* libcrypto, loaded when first called rather than at start-up. It is the
 * largest library kcr links: mapping and relocating it took ~3 ms of every
 * kcr process on the 2-core VM of issue 14 (an empty program linked with
 * it: 5.4 ms, without: 2.5 ms), more than all the others together, and a
 * one-shot `kcr exec`, `kcr files` or `kcr upload` never call it.
 *
 * Code calls OpenSSL as usual, with OpenSSL's headers. The functions kcr
 * calls are defined here under their own names, hidden from the dynamic
 * symbol table (so libcurl's OpenSSL, when it is loaded, still binds to the
 * real ones), each handing the call on to the loaded library. The linker
 * reports any function missing here: kcr is not linked with libcrypto. */
#include <config.h>

#include "base/dl.h"
#include "base/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Each function: its pointer (the real one's type, from OpenSSL's own
 * declaration) and its name for dlsym. */
#define CRYPTO_FNS(X)                                                                              \
	X(ASN1_TIME_print)                                                                         \
	X(BIO_ctrl)                                                                                \
	X(BIO_free)                                                                                \
	X(BIO_new)                                                                                 \
	X(BIO_new_mem_buf)                                                                         \
	X(BIO_s_mem)                                                                               \
	X(CRYPTO_memcmp)                                                                           \
	X(ERR_clear_error)                                                                         \
	X(ERR_peek_last_error)                                                                     \
	X(ERR_reason_error_string)                                                                 \
	X(EVP_Digest)                                                                              \
	X(EVP_DigestFinal_ex)                                                                      \
	X(EVP_DigestInit_ex)                                                                       \
	X(EVP_DigestUpdate)                                                                        \
	X(EVP_MD_CTX_free)                                                                         \
	X(EVP_MD_CTX_new)                                                                          \
	X(EVP_PKEY_free)                                                                           \
	X(EVP_sha1)                                                                                \
	X(EVP_sha256)                                                                              \
	X(HMAC)                                                                                    \
	X(OPENSSL_cleanse)                                                                         \
	X(PEM_read_bio_PrivateKey)                                                                 \
	X(PEM_read_bio_X509)                                                                       \
	X(RAND_bytes)                                                                              \
	X(SHA256)                                                                                  \
	X(X509_NAME_oneline)                                                                       \
	X(X509_check_private_key)                                                                  \
	X(X509_free)                                                                               \
	X(X509_get0_notAfter)                                                                      \
	X(X509_get_subject_name)

#define POINTER(name) __typeof__(name) *name;
static struct {
	CRYPTO_FNS(POINTER)
} fn;

#define SYM(name) KCR_DL_SYM(fn, name, #name),
static const struct kcr_dl_sym syms[] = { CRYPTO_FNS(SYM) };

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* libcrypto is a dependency of kcr's package: without it no caller could
 * go on, and each expects OpenSSL's own answers, not an error of kcr's. */
static void
load(void)
{
	char *why = kcr_dl_load("libcrypto.so.3", "libcrypto", syms, KCR_ARRAY_SIZE(syms));

	if (why == NULL)
		return;
	fprintf(stderr, "kcr: %s (install libssl3)\n", why);
	abort();
}

#define CALL(name, ...) (pthread_once(&once, load), fn.name(__VA_ARGS__))

HIDDEN int
ASN1_TIME_print(BIO *bp, const ASN1_TIME *tm)
{
	return CALL(ASN1_TIME_print, bp, tm);
}

HIDDEN long
BIO_ctrl(BIO *bp, int cmd, long larg, void *parg)
{
	return CALL(BIO_ctrl, bp, cmd, larg, parg);
}

HIDDEN int
BIO_free(BIO *a)
{
	return CALL(BIO_free, a);
}

HIDDEN BIO *
BIO_new(const BIO_METHOD *type)
{
	return CALL(BIO_new, type);
}

HIDDEN BIO *
BIO_new_mem_buf(const void *buf, int len)
{
	return CALL(BIO_new_mem_buf, buf, len);
}

HIDDEN const BIO_METHOD *
BIO_s_mem(void)
{
	return CALL(BIO_s_mem);
}

HIDDEN int
CRYPTO_memcmp(const void *in_a, const void *in_b, size_t len)
{
	return CALL(CRYPTO_memcmp, in_a, in_b, len);
}

HIDDEN void
ERR_clear_error(void)
{
	CALL(ERR_clear_error);
}

HIDDEN unsigned long
ERR_peek_last_error(void)
{
	return CALL(ERR_peek_last_error);
}

HIDDEN const char *
ERR_reason_error_string(unsigned long e)
{
	return CALL(ERR_reason_error_string, e);
}

HIDDEN int
EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
	   const EVP_MD *type, ENGINE *impl)
{
	return CALL(EVP_Digest, data, count, md, size, type, impl);
}

HIDDEN int
EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
	return CALL(EVP_DigestFinal_ex, ctx, md, s);
}

HIDDEN int
EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
{
	return CALL(EVP_DigestInit_ex, ctx, type, impl);
}

HIDDEN int
EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
	return CALL(EVP_DigestUpdate, ctx, d, cnt);
}

HIDDEN void
EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
	CALL(EVP_MD_CTX_free, ctx);
}

HIDDEN EVP_MD_CTX *
EVP_MD_CTX_new(void)
{
	return CALL(EVP_MD_CTX_new);
}

HIDDEN void
EVP_PKEY_free(EVP_PKEY *pkey)
{
	CALL(EVP_PKEY_free, pkey);
}

HIDDEN const EVP_MD *
EVP_sha1(void)
{
	return CALL(EVP_sha1);
}

HIDDEN const EVP_MD *
EVP_sha256(void)
{
	return CALL(EVP_sha256);
}

HIDDEN unsigned char *
HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, size_t data_len,
     unsigned char *md, unsigned int *md_len)
{
	return CALL(HMAC, evp_md, key, key_len, data, data_len, md, md_len);
}

HIDDEN void
OPENSSL_cleanse(void *ptr, size_t len)
{
	CALL(OPENSSL_cleanse, ptr, len);
}

HIDDEN EVP_PKEY *
PEM_read_bio_PrivateKey(BIO *out, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
	return CALL(PEM_read_bio_PrivateKey, out, x, cb, u);
}

HIDDEN X509 *
PEM_read_bio_X509(BIO *out, X509 **x, pem_password_cb *cb, void *u)
{
	return CALL(PEM_read_bio_X509, out, x, cb, u);
}

HIDDEN int
RAND_bytes(unsigned char *buf, int num)
{
	return CALL(RAND_bytes, buf, num);
}

HIDDEN unsigned char *
SHA256(const unsigned char *d, size_t n, unsigned char *md)
{
	return CALL(SHA256, d, n, md);
}

HIDDEN char *
X509_NAME_oneline(const X509_NAME *a, char *buf, int size)
{
	return CALL(X509_NAME_oneline, a, buf, size);
}

HIDDEN int
X509_check_private_key(const X509 *x509, const EVP_PKEY *pkey)
{
	return CALL(X509_check_private_key, x509, pkey);
}

HIDDEN void
X509_free(X509 *a)
{
	CALL(X509_free, a);
}

HIDDEN const ASN1_TIME *
X509_get0_notAfter(const X509 *x)
{
	return CALL(X509_get0_notAfter, x);
}

HIDDEN X509_NAME *
X509_get_subject_name(const X509 *a)
{
	return CALL(X509_get_subject_name, a);
}
