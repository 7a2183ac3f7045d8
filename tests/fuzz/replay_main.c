/* Replays a fuzz target's corpus (tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regress/<target>/) without libFuzzer: every file once, as a
 * TAP line. A crash, a sanitizer report or a leak fails the test; so does
 * an empty corpus (nothing would be tested). */
#include <config.h>

#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
replay_dir(const char *dir, int *n)
{
	struct dirent **names;
	int count = scandir(dir, &names, NULL, alphasort);

	if (count < 0)
		return 0; /* no regressions yet */
	for (int i = 0; i < count; i++) {
		char path[4096];
		FILE *f;
		long len;
		uint8_t *buf;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		if (path[strlen(dir) + 1] == '.' || (f = fopen(path, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		buf = malloc(len > 0 ? (size_t)len : 1);
		if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			printf("not ok %d - %s: cannot read\n", ++*n, path);
			free(buf);
			fclose(f);
			continue;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)len);
		free(buf);
		printf("ok %d - %s\n", ++*n, path);
	}
	free(names);
	return 0;
}

int
main(void)
{
	int n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0); /* the last line names an input that crashed */
	replay_dir(FUZZ_SRCDIR "/tests/fuzz/corpus/" FUZZ_TARGET, &n);
	replay_dir(FUZZ_SRCDIR "/tests/fuzz/regress/" FUZZ_TARGET, &n);
	if (n == 0)
		printf("not ok 1 - no corpus for %s\n", FUZZ_TARGET), n = 1;
	printf("1..%d\n", n);
	return 0;
}
