#include <config.h>

#include "base/settings.h"
#include "base/files.h"
#include "tap.h"
#include "base/util.h"

#include <stdlib.h>
#include <unistd.h>

static char *
write_tmp(const char *text)
{
	char *path = kcr_xstrdup("/tmp/kcr-cfg-XXXXXX");
	int fd = mkstemp(path);

	if (fd < 0 || kcr_write_all(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
	return path;
}

static int
test_defaults(void)
{
	struct kcr_config *c = kcr_config_new();
	const char *origin = NULL;

	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 256);
	TAP_ASSERT(kcr_config_double(c, "limits.cpus") == 1.0);
	TAP_ASSERT(kcr_config_source(c, "limits.pids", &origin) == KCR_SRC_DEFAULT);
	TAP_STREQ(kcr_config_str(c, "sandbox.provider"), "local");
	kcr_config_free(c);
	return 0;
}

static int
test_precedence(void)
{
	kcr_autofree char *path = write_tmp("limits:\n  pids: 100\n  cpus: 0.5\n"
					    "log:\n  level: info\n");
	struct kcr_config *c = kcr_config_new();
	kcr_error_t err = NULL;
	const char *origin = NULL;

	setenv("KCR_PIDS", "200", 1);
	setenv("MAX_CPUS", "2", 1); /* KubeCodeRun's name */
	TAP_ASSERT(kcr_config_load_yaml(c, path, &err) == 0);
	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 100);
	TAP_ASSERT(kcr_config_source(c, "limits.pids", &origin) == KCR_SRC_FILE);
	TAP_ASSERT(strstr(origin, ":2") != NULL);
	TAP_ASSERT(kcr_config_load_env(c, &err) == 0);
	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 200);
	TAP_ASSERT(kcr_config_double(c, "limits.cpus") == 2.0);
	kcr_config_source(c, "limits.cpus", &origin);
	TAP_STREQ(origin, "MAX_CPUS");
	TAP_ASSERT(kcr_config_set(c, "limits.pids", "300", KCR_SRC_FLAG, &err) == 0);
	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 300);
	/* a lower source no longer changes a flag's value */
	TAP_ASSERT(kcr_config_set(c, "limits.pids", "50", KCR_SRC_ENV, &err) == 0);
	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 300);
	TAP_STREQ(kcr_config_str(c, "log.level"), "info");
	unsetenv("KCR_PIDS");
	unsetenv("MAX_CPUS");
	kcr_config_free(c);
	unlink(path);
	return 0;
}

static int
test_bad_input(void)
{
	kcr_autofree char *unknown = write_tmp("limits:\n  pidz: 1\n");
	kcr_autofree char *range = write_tmp("limits:\n  pids: 1\n");
	kcr_autofree char *broken = write_tmp("limits: [\n");
	struct kcr_config *c = kcr_config_new();
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_config_load_yaml(c, unknown, &err) < 0);
	TAP_ASSERT(strstr(err->msg, "unknown setting 'limits.pidz'"));
	kcr_error_release(&err);
	TAP_ASSERT(kcr_config_load_yaml(c, range, &err) < 0);
	TAP_ASSERT(strstr(err->msg, "out of range"));
	kcr_error_release(&err);
	TAP_ASSERT(kcr_config_load_yaml(c, broken, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_INVALID);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_config_set(c, "limits.cpus", "maybe", KCR_SRC_FLAG, &err) < 0);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_config_int(c, "limits.pids") == 256); /* nothing half-applied */
	kcr_config_free(c);
	unlink(unknown);
	unlink(range);
	unlink(broken);
	return 0;
}

static int
test_table_sorted(void)
{
	for (unsigned int i = 1; i < kcr_config_key_count(); i++)
		TAP_ASSERT(strcmp(kcr_config_key_at(i - 1)->name, kcr_config_key_at(i)->name) < 0);
	for (unsigned int i = 0; i < kcr_config_key_count(); i++)
		TAP_ASSERT(strncmp(kcr_config_key_at(i)->env, "KCR_", 4) == 0);
	return 0;
}

int
main(void)
{
	TAP_PLAN(4);
	RUN_TEST(test_defaults);
	RUN_TEST(test_precedence);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_table_sorted);
	return TAP_DONE();
}
