#include <config.h>

#include "base/lang.h"
#include "engine/pyimports.h"
#include "tap.h"
#include "base/util.h"

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

/* What kcr does beyond a run is asked of the flags, never of an id. */
static int
test_caps(void)
{
	const unsigned int py = KCR_LANG_PREWARM | KCR_LANG_FORK_SERVER | KCR_LANG_STATE |
				KCR_LANG_PRELOAD | KCR_LANG_POD_POOL;

	TAP_ASSERT(kcr_lang_find("py")->caps == py);
	TAP_ASSERT(kcr_lang_find("js")->caps == (KCR_LANG_PREWARM | KCR_LANG_POD_POOL));
	/* Node waits while esbuild compiles */
	TAP_ASSERT(kcr_lang_find("ts")->caps == KCR_LANG_PREWARM);
	TAP_ASSERT(kcr_lang_find("bash")->caps == KCR_LANG_PREWARM);
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);

		if (strcmp(l->id, "py") != 0 && strcmp(l->id, "js") != 0 &&
		    strcmp(l->id, "ts") != 0 && strcmp(l->id, "bash") != 0)
			TAP_ASSERT(l->caps == 0);
		/* what an interpreter waiting costs is known */
		if ((l->caps & KCR_LANG_PREWARM) && !(l->caps & KCR_LANG_PRELOAD))
			TAP_ASSERT(l->prewarm_kib > 0);
	}
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

static bool
imports(const char *code)
{
	return kcr_py_imports_any(code, strlen(code), "numpy,pandas,matplotlib.pyplot");
}

/* Which warm Python a program gets: only import statements of the top
 * packages of pool.py_preload count. */
static int
test_py_imports(void)
{
	TAP_ASSERT(imports("import pandas as pd\nprint(pd)"));
	TAP_ASSERT(imports("import os, numpy"));
	TAP_ASSERT(imports("from matplotlib import pyplot as plt"));
	TAP_ASSERT(imports("import matplotlib.pyplot as plt"));
	TAP_ASSERT(imports("x = 1; import numpy.linalg"));
	TAP_ASSERT(imports("try:\n    import pandas\nexcept ImportError:\n    pass"));
	TAP_ASSERT(imports("def f():\n\tfrom pandas import DataFrame\n"));
	TAP_ASSERT(!imports("print(1)"));
	TAP_ASSERT(!imports("import pandasql"));
	TAP_ASSERT(!imports("import os # numpy later"));
	TAP_ASSERT(!imports("s = 'import numpy'"));
	TAP_ASSERT(!imports("important = 1\nfromage = 2"));
	TAP_ASSERT(!imports("import mypandas"));
	TAP_ASSERT(!kcr_py_imports_any("import numpy", 12, ""));
	TAP_ASSERT(!kcr_py_imports_any("import numpy", 7, "numpy")); /* length bounded */
	return 0;
}

int
main(void)
{
	TAP_PLAN(6);
	RUN_TEST(test_py_imports);
	RUN_TEST(test_librechat_ids);
	RUN_TEST(test_caps);
	RUN_TEST(test_extensions);
	RUN_TEST(test_expand);
	RUN_TEST(test_lookup_error);
	return TAP_DONE();
}
