/* Test servers for the s3 file store (s3_servers.h). */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "s3_servers.h"
#include "servers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct test_server s3rver = { .pid = -1 }, fault = { .pid = -1 };

static void
cleanup(void)
{
	test_server_stop(&s3rver);
	test_server_stop(&fault);
	if (s3rver.dir[0])
		kcr_rm_rf(s3rver.dir);
	if (fault.dir[0])
		kcr_rm_rf(fault.dir);
}

static int
s3rver_start(int port)
{
	char p[16];
	const char *bin = getenv("KCR_S3RVER") ? getenv("KCR_S3RVER") : "/usr/bin/s3rver";
	kcr_autofree char *data = kcr_strdup_printf("%s/data", s3rver.dir);
	char *const argv[] = { "/usr/bin/node", (char *)bin, "-s", "-d", data, "-a",
			       "127.0.0.1",     "-p",        p,    NULL };

	snprintf(p, sizeof(p), "%d", port);
	mkdir(data, 0700);
	return test_server_spawn(&s3rver, argv, "S3rver listening on ");
}

const char *
s3t_s3rver(void)
{
	static bool tried;
	const char *bin = getenv("KCR_S3RVER") ? getenv("KCR_S3RVER") : "/usr/bin/s3rver";

	if (s3rver.pid > 0)
		return s3rver.url;
	if (tried || access(bin, R_OK) != 0 || access("/usr/bin/node", X_OK) != 0)
		return NULL;
	tried = true;
	strcpy(s3rver.dir, "/tmp/kcr-test-s3rver.XXXXXX");
	if (mkdtemp(s3rver.dir) == NULL)
		return NULL;
	atexit(cleanup);
	return s3rver_start(0) == 0 ? s3rver.url : NULL;
}

void
s3t_s3rver_stop(void)
{
	test_server_stop(&s3rver);
}

int
s3t_s3rver_restart(void)
{
	test_server_stop(&s3rver);
	return s3rver_start(s3rver.port);
}

const char *
s3t_fault_server(void)
{
	const char *srcdir = getenv("KCR_SRCDIR") ? getenv("KCR_SRCDIR") : ".";
	kcr_autofree char *script = kcr_strdup_printf("%s/tests/unit/s3_fault.py", srcdir);
	char *const argv[] = { "/usr/bin/python3", script, NULL };

	if (fault.pid > 0)
		return fault.url;
	if (access(argv[0], X_OK) != 0 || access(script, R_OK) != 0)
		return NULL;
	strcpy(fault.dir, "/tmp/kcr-test-s3fault.XXXXXX");
	if (mkdtemp(fault.dir) == NULL)
		return NULL;
	if (s3rver.dir[0] == '\0')
		atexit(cleanup);
	return test_server_spawn(&fault, argv, "listening on ") == 0 ? fault.url : NULL;
}

int
s3t_configure(struct kcr_config *cfg, const char *endpoint, const char *bucket)
{
	static int n;
	kcr_autofree char *fresh = kcr_strdup_printf("kcr-test-%d-%d", (int)getpid(), ++n);
	const char *set[][2] = {
		{ "store.s3.endpoint", endpoint },
		{ "store.s3.access_key", "S3RVER" },
		{ "store.s3.secret_key", "S3RVER" },
		{ "store.s3.bucket", bucket ? bucket : fresh },
		{ "store.s3.create_bucket", bucket ? "false" : "true" },
		{ "store.s3.multipart_threshold_mb", "5" },
		{ "store.s3.part_size_mb", "5" },
		{ "store.s3.timeout_ms", "2000" },
	};

	for (size_t i = 0; i < KCR_ARRAY_SIZE(set); i++)
		if (kcr_config_set(cfg, set[i][0], set[i][1], KCR_SRC_FLAG, NULL) < 0)
			return -1;
	return 0;
}
