#include <config.h>

#include "lang.h"
#include "tap.h"
#include "util.h"

static int
test_librechat_ids(void)
{
	static const char *ids[] = { "py", "js", "ts", "go", "java", "c", "cpp", "php",
				     "rs", "r", "f90", "d", "bash" };

	TAP_ASSERT(kcr_lang_count() == KCR_ARRAY_SIZE(ids));
	for (size_t i = 0; i < KCR_ARRAY_SIZE(ids); i++) {
		const struct kcr_lang *l = kcr_lang_find(ids[i]);

		TAP_ASSERT(l != NULL);
		TAP_STREQ(l->id, ids[i]);
		TAP_ASSERT(l->run && l->run[0] && l->runtimes[0] && l->source_file);
	}
	TAP_STREQ(kcr_lang_find("PY")->id, "py"); /* case-insensitive like KubeCodeRun */
	TAP_STREQ(kcr_lang_find("python")->id, "py");
	TAP_STREQ(kcr_lang_find("fortran")->id, "f90");
	TAP_ASSERT(kcr_lang_find("cobol") == NULL);
	return 0;
}

static int
test_extensions(void)
{
	TAP_STREQ(kcr_lang_for_path("a/b/x.py")->id, "py");
	TAP_STREQ(kcr_lang_for_path("Main.java")->id, "java");
	TAP_STREQ(kcr_lang_for_path("x.cc")->id, "cpp");
	TAP_ASSERT(kcr_lang_for_path("Makefile") == NULL);
	TAP_ASSERT(kcr_lang_for_path("dir.py/file") == NULL);
	return 0;
}

static int
test_expand(void)
{
	const struct kcr_lang *c = kcr_lang_find("c");
	char **argv = kcr_lang_expand(c->compile, c);
	bool saw_src = false;

	for (size_t i = 0; argv[i]; i++) {
		TAP_ASSERT(strchr(argv[i], '{') == NULL);
		if (strcmp(argv[i], KCR_SRC_DIR "/code.c") == 0)
			saw_src = true;
		/* compiled output never lands in /mnt/data */
		TAP_ASSERT(strstr(argv[i], KCR_DATA_DIR) == NULL);
	}
	kcr_strv_free(argv);
	TAP_ASSERT(saw_src);
	return 0;
}

static int
test_lookup_error(void)
{
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_lang_lookup("cobol", &err) == NULL);
	TAP_ASSERT(strstr(err->msg, "unsupported language 'cobol'"));
	TAP_ASSERT(strstr(err->msg, "f90"));
	kcr_error_free(err);
	return 0;
}

int
main(void)
{
	TAP_PLAN(4);
	RUN_TEST(test_librechat_ids);
	RUN_TEST(test_extensions);
	RUN_TEST(test_expand);
	RUN_TEST(test_lookup_error);
	return TAP_DONE();
}
