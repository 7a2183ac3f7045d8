/* HTTPS: the certificate and key a daemon is started with, checked before
 * libmicrohttpd (GnuTLS) sees them, so that a wrong file is named with
 * what is wrong with it, rather than "cannot start the daemon"; and the
 * GnuTLS priority string of server.tls.min_version. */
#include <config.h>

#include "server/http-internal.h"
#include "base/files.h"
#include "base/util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

/* PEM files are a few KiB; a chain of a dozen certificates is under 64 KiB. */
#define TLS_PEM_MAX (1u << 20)

void
http_tls_pem_release(struct http_tls_pem *p)
{
	if (p->key) /* a private key: not left in freed memory */
		OPENSSL_cleanse(p->key, strlen(p->key));
	free(p->cert);
	free(p->key);
	free(p->about);
	memset(p, 0, sizeof(*p));
}

static char *
read_pem(const char *what, const char *path, kcr_error_t *err)
{
	char *pem = NULL;
	size_t len;

	if (path == NULL || *path == '\0') {
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "server.tls.enabled needs server.tls.%s (SSL_%s)", what,
			      strcmp(what, "cert_file") == 0 ? "CERT_FILE" : "KEY_FILE");
		return NULL;
	}
	if (kcr_read_file(path, TLS_PEM_MAX, &pem, &len, err) < 0) {
		kcr_error_wrap(err, "server.tls.%s", what);
		return NULL;
	}
	return pem;
}

/* OpenSSL's reason for the last failure, for an error message. */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "no PEM data";
}

/* "CN=kcr.example, expires 2027-12-04 10:00:00 GMT" */
static char *
describe(X509 *x)
{
	kcr_autofree char *subject = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	BIO *b = BIO_new(BIO_s_mem());
	char *when = NULL, *s;
	long n;

	ASN1_TIME_print(b, X509_get0_notAfter(x));
	n = BIO_get_mem_data(b, &when);
	s = kcr_strdup_printf("%s, expires %.*s", subject ? subject : "?", (int)n, when);
	BIO_free(b);
	return s;
}

/* Parses both, and checks that the key is the certificate's. */
static int
check_pair(const struct http_tls_pem *p, const char *cert_file, const char *key_file, char **about,
	   kcr_error_t *err)
{
	BIO *cb = BIO_new_mem_buf(p->cert, -1), *kb = BIO_new_mem_buf(p->key, -1);
	X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	EVP_PKEY *k = x ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int r = -1;

	if (x == NULL)
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "server.tls.cert_file %s: not a PEM certificate (%s)", cert_file,
			      ssl_reason());
	else if (k == NULL)
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "server.tls.key_file %s: not an unencrypted PEM private key (%s)",
			      key_file, ssl_reason());
	else if (X509_check_private_key(x, k) != 1)
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "server.tls.key_file %s is not the key of the certificate in %s",
			      key_file, cert_file);
	else {
		*about = describe(x);
		r = 0;
	}
	ERR_clear_error();
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	return r;
}

int
http_tls_pem_load(const struct kcr_http_tls_opts *t, struct http_tls_pem *out, kcr_error_t *err)
{
	memset(out, 0, sizeof(*out));
	if (http_tls_priorities(t->min_version) == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "server.tls.min_version '%s': expected 1.2 or 1.3",
				     t->min_version);
	if ((out->cert = read_pem("cert_file", t->cert_file, err)) == NULL ||
	    (out->key = read_pem("key_file", t->key_file, err)) == NULL ||
	    check_pair(out, t->cert_file, t->key_file, &out->about, err) < 0) {
		http_tls_pem_release(out);
		return -1;
	}
	out->priorities = http_tls_priorities(t->min_version);
	return 0;
}

const char *
http_tls_priorities(const char *min_version)
{
	if (min_version == NULL || *min_version == '\0' || strcmp(min_version, "1.2") == 0)
		return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
	if (strcmp(min_version, "1.3") == 0)
		return "NORMAL:-VERS-ALL:+VERS-TLS1.3";
	return NULL;
}
