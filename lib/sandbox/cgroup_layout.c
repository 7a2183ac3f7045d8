/* Where kcr's own cgroups are (v2, or v1 per controller), found once per
 * process from /proc/self/mountinfo and /proc/self/cgroup; the parsers
 * are tested on made-up contents by tests/unit/test_cgroup.c. */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "sandbox/cgroup-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct cg_layout layout;
static pthread_once_t layout_once = PTHREAD_ONCE_INIT;


char *
cg_slurp(const char *path)
{
	kcr_error_t err = NULL;
	char *s = NULL;
	size_t len;

	if (kcr_read_file(path, 1 << 20, &s, &len, &err) < 0) {
		kcr_error_release(&err);
		return NULL;
	}
	return s;
}


bool
cg_has_word(const char *list, const char *w, const char *seps)
{
	size_t n = strlen(w);

	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, seps);

		if (len == n && strncmp(p, w, n) == 0)
			return true;
		p += len;
		p += strspn(p, seps);
	}
	return false;
}

/* ---- finding kcr's own cgroups ------------------------------------------ */

/* kcr's path in a hierarchy from /proc/self/cgroup: ctrl NULL means v2. */
static char *
own_path(const char *proc_cgroup, const char *ctrl)
{
	for (const char *l = proc_cgroup; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *c = strchr(l, ':');
		const char *p = c ? strchr(c + 1, ':') : NULL;
		const char *end = p ? strchrnul(p, '\n') : NULL;
		kcr_autofree char *ctrls = NULL;

		if (p == NULL)
			continue;
		ctrls = kcr_xstrndup(c + 1, (size_t)(p - c - 1));
		if (ctrl ? cg_has_word(ctrls, ctrl, ",") : (strncmp(l, "0::", 3) == 0))
			return kcr_xstrndup(p + 1, (size_t)(end - p - 1));
	}
	return NULL;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Splits one mountinfo line into root, mount point, type and super options. */
static bool
mi_split(char *line, char **root, char **point, char **type, char **opts)
{
	char *f[6] = { 0 }, *save = NULL, *tok;
	int i = 0;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (i < 5)
			f[i++] = tok;
		else if (strcmp(tok, "-") == 0)
			break;
	}
	*type = strtok_r(NULL, " ", &save);
	if (tok == NULL || i < 5 || *type == NULL || strtok_r(NULL, " ", &save) == NULL)
		return false;
	*opts = strtok_r(NULL, " ", &save);
	*root = f[3];
	*point = f[4];
	unescape(*root);
	unescape(*point);
	return *opts != NULL;
}

/* The directory of kcr's cgroup for ctrl (NULL: v2), or NULL. */
char *
cg_own_dir(const char *mountinfo, const char *proc_cgroup, const char *ctrl)
{
	kcr_autofree char *path = own_path(proc_cgroup, ctrl);
	kcr_autofree char *mi = kcr_xstrdup(mountinfo);
	char *save = NULL;

	if (path == NULL)
		return NULL;
	for (char *l = strtok_r(mi, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *root, *point, *type, *opts;
		size_t rl;

		if (!mi_split(l, &root, &point, &type, &opts))
			continue;
		if (ctrl ? (strcmp(type, "cgroup") != 0 || !cg_has_word(opts, ctrl, ","))
			 : strcmp(type, "cgroup2") != 0)
			continue;
		rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
		if (strncmp(path, root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
			continue; /* kcr's cgroup is not below this mount */
		return kcr_strdup_printf("%s%s", point, strcmp(path + rl, "/") ? path + rl : "");
	}
	return NULL;
}

static void
layout_v2(struct cg_layout *l, char *v2dir)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/cgroup.controllers", v2dir);
	kcr_autofree char *ctrls = cg_slurp(path);

	l->version = KCR_CGROUP_V2;
	for (int i = 0; i < CG_N; i++) {
		if (cg_has_word(ctrls, cg_names[i], " \n"))
			l->dir[i] = kcr_xstrdup(v2dir);
		else
			snprintf(l->reason, sizeof(l->reason),
				 "cgroup v2: no %s controller in %s", cg_names[i], path);
	}
}

static void
layout_v1(struct cg_layout *l, const char *mi, const char *pc)
{
	int n = 0;

	for (int i = 0; i < CG_N; i++) {
		l->dir[i] = cg_own_dir(mi, pc, cg_names[i]);
		if (l->dir[i] != NULL)
			n++;
		else
			snprintf(l->reason, sizeof(l->reason),
				 "cgroup v1: no %s hierarchy is mounted", cg_names[i]);
	}
	l->version = n ? KCR_CGROUP_V1 : KCR_CGROUP_NONE;
	if (n == 0)
		snprintf(l->reason, sizeof(l->reason),
			 "no cgroup v2 memory controller and no v1 memory, pids or cpu "
			 "hierarchy is mounted");
}

static void
layout_detect(struct cg_layout *l)
{
	kcr_autofree char *mi = cg_slurp("/proc/self/mountinfo");
	kcr_autofree char *pc = cg_slurp("/proc/self/cgroup");
	kcr_autofree char *v2dir = NULL;
	kcr_autofree char *ctrls_path = NULL;
	kcr_autofree char *ctrls = NULL;

	memset(l, 0, sizeof(*l));
	if (mi == NULL || pc == NULL) {
		snprintf(l->reason, sizeof(l->reason), "cannot read /proc/self/cgroup");
		return;
	}
	v2dir = cg_own_dir(mi, pc, NULL);
	if (v2dir) {
		ctrls_path = kcr_strdup_printf("%s/cgroup.controllers", v2dir);
		ctrls = cg_slurp(ctrls_path);
	}
	if (ctrls && cg_has_word(ctrls, "memory", " \n"))
		layout_v2(l, v2dir);
	else
		layout_v1(l, mi, pc);
}

static void
layout_init(void)
{
	layout_detect(&layout);
}

const struct cg_layout *
cg_layout_get(void)
{
	pthread_once(&layout_once, layout_init);
	return &layout;
}
