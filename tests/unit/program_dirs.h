/* For the unit tests that run programs through lib/runner/proc.c as kcr-runner
 * would: a data directory the program's uid owns and a source directory
 * under base (a mkdtemp template), and orphans come back to us. Returns
 * -1 when no temporary directory can be made (the test then skips). */
#ifndef KCR_TEST_PROGRAM_DIRS_H
#define KCR_TEST_PROGRAM_DIRS_H

#include "runner/sandbox_init.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int
program_dirs(char *base, char **data_dir, char **src_dir)
{
	if (mkdtemp(base) == NULL)
		return -1;
	chmod(base, 0755);
	*data_dir = kcr_strdup_printf("%s/data", base);
	*src_dir = kcr_strdup_printf("%s/src", base);
	mkdir(*data_dir, 0755);
	if (geteuid() == 0 && chown(*data_dir, KCR_SANDBOX_UID, KCR_SANDBOX_GID) < 0)
		perror("chown");
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	return 0;
}

#endif
