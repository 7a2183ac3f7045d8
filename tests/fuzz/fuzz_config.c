/* kcr.yaml (lib/base/settings.c): read through libyaml into the table of
 * settings. The bytes go to a memfd, read by its /proc path. */
#define _GNU_SOURCE
#include <config.h>

#include "fuzz.h"
#include "base/settings.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("kcr-fuzz.yaml", MFD_CLOEXEC);
	struct kcr_config *c;
	kcr_error_t err = NULL;
	char path[64];

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		c = kcr_config_new();
		kcr_config_load_yaml(c, path, &err);
		kcr_error_release(&err);
		kcr_config_free(c);
	}
	close(fd);
	return 0;
}
