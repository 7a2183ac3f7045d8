#include <config.h>

#include "tap.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/parse.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

static int
test_ids(void)
{
	char id[KCR_ID_LEN + 1], other[KCR_ID_LEN + 1];

	for (int i = 0; i < 1000; i++) {
		kcr_id_generate(id);
		TAP_ASSERT(kcr_id_valid(id));
		TAP_ASSERT(id[0] != '_' && id[0] != '-');
		TAP_ASSERT(id[KCR_ID_LEN - 1] != '_' && id[KCR_ID_LEN - 1] != '-');
	}
	kcr_id_generate(other);
	TAP_ASSERT(strcmp(id, other) != 0);
	TAP_ASSERT(!kcr_id_valid("short"));
	TAP_ASSERT(!kcr_id_valid("../../../../etc/passwd"));
	TAP_ASSERT(!kcr_id_valid("AAAAAAAAAAAAAAAAAAAA/"));
	TAP_ASSERT(kcr_id_valid("Gq7Lm2Nx9PzR4tY8kWc3D"));
	return 0;
}

static int
test_base64(void)
{
	const char bin[] = { 'a', 0, 'b', (char)0xff, '\n' };
	kcr_autofree char *enc = kcr_base64_encode(bin, sizeof(bin));
	kcr_autofree char *dec = NULL;
	kcr_error_t err = NULL;
	size_t len = 0;

	TAP_ASSERT(kcr_base64_decode(enc, &dec, &len, &err) == 0);
	TAP_ASSERT(len == sizeof(bin) && memcmp(dec, bin, len) == 0);
	TAP_ASSERT(kcr_base64_decode("abc", &dec, &len, &err) < 0);
	TAP_ASSERT(err && err->code == KCR_E_INVALID);
	kcr_error_free(err);
	/* not base64: a padding byte inside, a byte outside the alphabet,
	 * whitespace, all padding */
	static const char *const bad[] = { "ab=c", "a=bc", "ab\ncd==", "ab c",
					   "====", "A===", "abcd*efg", "abc-" };
	for (size_t i = 0; i < KCR_ARRAY_SIZE(bad); i++) {
		err = NULL;
		TAP_ASSERT(kcr_base64_decode(bad[i], &dec, &len, &err) < 0);
		TAP_ASSERT(err && err->code == KCR_E_INVALID);
		kcr_error_free(err);
	}
	return 0;
}

/* kcr's base64 is its own (encode.c says why): the same bytes as
 * OpenSSL's, both ways, for every length up to 300 and a large one */
static int
test_base64_as_openssl(void)
{
	unsigned int seed = 14;

	for (size_t n = 0; n <= 100300; n = n < 300 ? n + 1 : n + 100000) {
		kcr_autofree unsigned char *in = kcr_xmalloc(n + 1);
		kcr_autofree unsigned char *ref = kcr_xmalloc(4 * ((n + 2) / 3) + 1);
		kcr_autofree char *enc = NULL, *dec = NULL;
		kcr_error_t err = NULL;
		size_t len = 0;

		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)rand_r(&seed);
		EVP_EncodeBlock(ref, in, (int)n);
		enc = kcr_base64_encode(in, n);
		if (strcmp(enc, (char *)ref) != 0)
			TAP_FAIL("encoding %zu bytes differs from OpenSSL's", n);
		if (kcr_base64_decode((char *)ref, &dec, &len, &err) < 0 || len != n ||
		    memcmp(dec, in, n) != 0)
			TAP_FAIL("decoding OpenSSL's base64 of %zu bytes", n);
	}
	return 0;
}

static int
test_errors(void)
{
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_error_set(&err, KCR_E_NOTFOUND, ENOENT, "cannot open '%s'", "x") == -1);
	TAP_STREQ(err->msg, "cannot open 'x': No such file or directory");
	kcr_error_wrap(&err, "loading");
	TAP_STREQ(err->msg, "loading: cannot open 'x': No such file or directory");
	/* the first error is kept: it is the cause */
	kcr_error_set(&err, KCR_E_IO, 0, "later");
	TAP_ASSERT(err->code == KCR_E_NOTFOUND);
	TAP_ASSERT(kcr_errc_http_status(err->code) == 404);
	TAP_ASSERT(kcr_errc_exit_code(KCR_E_INVALID) == 2);
	kcr_error_free(err);
	return 0;
}

static int
test_numbers(void)
{
	kcr_error_t err = NULL;
	uint64_t v;
	double d;

	TAP_ASSERT(kcr_parse_u64("42", 0, 100, &v, &err) == 0 && v == 42);
	TAP_ASSERT(kcr_parse_u64("-1", 0, 100, &v, &err) < 0);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_parse_u64("101", 0, 100, &v, &err) < 0);
	TAP_ASSERT(strstr(err->msg, "out of range"));
	kcr_error_release(&err);
	TAP_ASSERT(kcr_parse_u64("12abc", 0, 100, &v, &err) < 0);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_parse_double("0.5", 0, 1, &d, &err) == 0 && d == 0.5);
	TAP_ASSERT(kcr_parse_double("nan", 0, 1, &d, &err) < 0);
	kcr_error_release(&err);
	return 0;
}

static int
test_names(void)
{
	TAP_ASSERT(kcr_name_is_safe("data.csv"));
	TAP_ASSERT(!kcr_name_is_safe(".."));
	TAP_ASSERT(!kcr_name_is_safe("a/b"));
	TAP_ASSERT(!kcr_name_is_safe(""));
	return 0;
}

static int
test_files(void)
{
	char dir[] = "/tmp/kcr-test-XXXXXX";
	kcr_autofree char *sub = NULL, *path = NULL, *data = NULL;
	kcr_error_t err = NULL;
	size_t len;

	TAP_ASSERT(mkdtemp(dir) != NULL);
	sub = kcr_strdup_printf("%s/a/b/c", dir);
	TAP_ASSERT(kcr_mkdir_p(sub, 0755, &err) == 0);
	path = kcr_strdup_printf("%s/f", sub);
	TAP_ASSERT(kcr_write_file(path, "hello", 5, 0644, &err) == 0);
	TAP_ASSERT(kcr_read_file(path, 0, &data, &len, &err) == 0 && len == 5);
	free(data);
	data = NULL;
	TAP_ASSERT(kcr_read_file(path, 3, &data, &len, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_LIMIT);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_rm_rf(dir) == 0);
	TAP_ASSERT(access(dir, F_OK) != 0);
	return 0;
}

static int
test_json_getters(void)
{
	cJSON *o = cJSON_Parse("{\"s\":\"x\",\"n\":2.5,\"neg\":-1,\"big\":1e20,"
			       "\"t\":true,\"f\":false,\"z\":null}");

	TAP_ASSERT(o != NULL);
	TAP_STREQ(kcr_json_str(o, "s"), "x");
	TAP_ASSERT(kcr_json_str(o, "n") == NULL && kcr_json_str(o, "none") == NULL);
	TAP_ASSERT(kcr_json_str(NULL, "s") == NULL);
	TAP_ASSERT(kcr_json_num(o, "n", 7) == 2.5 && kcr_json_num(o, "neg", 7) == -1);
	TAP_ASSERT(kcr_json_num(o, "s", 7) == 7 && kcr_json_num(o, "none", 7) == 7);
	TAP_ASSERT(kcr_json_u64(o, "n", 7) == 2 && kcr_json_u64(o, "neg", 7) == 7);
	TAP_ASSERT(kcr_json_u64(o, "big", 7) == 7 && kcr_json_u64(o, "z", 7) == 7);
	TAP_ASSERT(kcr_json_bool(o, "t", false) && !kcr_json_bool(o, "f", true));
	TAP_ASSERT(kcr_json_bool(o, "n", true) && !kcr_json_bool(o, "none", false));
	cJSON_Delete(o);
	return 0;
}

int
main(void)
{
	TAP_PLAN(8);
	RUN_TEST(test_ids);
	RUN_TEST(test_base64);
	RUN_TEST(test_base64_as_openssl);
	RUN_TEST(test_errors);
	RUN_TEST(test_numbers);
	RUN_TEST(test_names);
	RUN_TEST(test_files);
	RUN_TEST(test_json_getters);
	return TAP_DONE();
}
