/* The inside half of the local sandbox (see sandbox_init.h and the
 * protocol at the top of lib/sandbox/local.c). Runs in kcr-runner right after
 * execve, single-threaded, as root of a fresh user namespace that owns new
 * pid, mount, net, ipc and uts namespaces:
 *
 *   /            tmpfs, read-only at the end
 *   /usr /opt    read-only binds (/bin /lib /lib64 /sbin: binds, or the
 *                symlinks of a merged-/usr system)
 *   /etc         own passwd, group, hosts, hostname, resolv.conf,
 *                nsswitch.conf + read-only binds of what runtimes read
 *   /tmp         tmpfs size=tmp-size-mb, 1777, nosuid,nodev
 *   /mnt/data    tmpfs size=data-size-mb, 0755, owned by the sandbox user
 *   /proc        fresh proc of the sandbox's pid namespace
 *   /dev         tmpfs: null zero full random urandom tty (binds), shm,
 *                fd, stdin, stdout, stderr
 *
 * With --cache=DIR --cache-at=PATH (a compiler's build cache, see
 * kcr_lang.build_cache): the host's DIR as PATH (under /tmp),
 * the read-only lower layer of an overlay whose upper is the sandbox's
 * own /tmp; with --cache-rw a writable bind instead (kcr filling it).
 *
 * Then pivot_root, every mount but /tmp, /mnt/data, /dev/shm, /proc and
 * the cache remounted read-only (keeping the flags the kernel locked), hostname
 * "sandbox", a new cgroup namespace, cwd /mnt/data, and the ready byte
 * written to the error fd, which is closed. */
#include <config.h>

#include "base/exec.h"
#include "base/lang.h"
#include "base/files.h"
#include "base/parse.h"
#include "runner/sandbox_init.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Where the new root is built: a tmpfs over /tmp of the private mount
 * namespace (bubblewrap does the same). */
#define NEWROOT "/tmp"
struct init_opts {
	int listen_fd, error_fd;
	uint64_t tmp_mb, data_mb;
	const char *cache, *cache_at;
	int cache_errno; /* why it could not be opened */
	/* the cache, opened before NEWROOT's tmpfs hides a cache under /tmp;
	 * a mount of our own mount namespace, as the overlay wants */
	int cache_fd;
	bool cache_rw;
};

/* The cache's mount point, which stays writable (its upper layer). */
static const char *cache_point;

static const char *const etc_passwd =
	"root:x:0:0:root:/:/bin/sh\n"
	"sandbox:x:1000:1000::/tmp:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char *const etc_group =
	"root:x:0:\n"
	"sandbox:x:1000:\n"
	"nogroup:x:65534:\n";
static const char *const etc_nsswitch =
	"passwd: files\n"
	"group: files\n"
	"shadow: files\n"
	"hosts: files\n"
	"networks: files\n"
	"protocols: files\n"
	"services: files\n";

/* Host /etc entries bound read-only when they exist (runtimes read them);
 * never passwd, shadow or group. */
static const char *const etc_binds[] = {
	"alternatives", "ca-certificates", "debian_version", "fonts", "gcrypt",
	"java-*", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ldc2.conf", "localtime",
	"matplotlibrc", "mime.types", "os-release", "perl", "php", "php*",
	"protocols", "python3", "python3.*", "R", "services", "ssl", "timezone",
	"xdg",
};

static const char *const ro_dirs[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
};

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* Mount points that stay writable, and /proc (its own rules). */
static const char *const rw_mounts[] = { "/tmp", "/mnt/data", "/dev/shm" };

/* ---- options ---------------------------------------------------------------- */

bool
kcr_sandbox_init_wanted(int argc, char **argv)
{
	return argc > 1 && strcmp(argv[1], "--sandbox") == 0;
}

static int
parse_num(const char *arg, const char *name, uint64_t min, uint64_t max, uint64_t *out,
	  kcr_error_t *err)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0 || arg[n] != '=')
		return 0;
	if (kcr_parse_u64(arg + n + 1, min, max, out, err) < 0)
		return kcr_error_wrap(err, "%s", name);
	return 1;
}

/* Reads the options it knows and leaves the rest to the runner. */
static int
parse_opts(int argc, char **argv, struct init_opts *o, kcr_error_t *err)
{
	uint64_t lfd = (uint64_t)o->listen_fd, efd = (uint64_t)o->error_fd;

	for (int i = 2; i < argc; i++) {
		/* an overlay's options separate paths with ',' and ':' */
		if (strncmp(argv[i], "--cache=/", 9) == 0 && !strpbrk(argv[i] + 8, ",:\\"))
			o->cache = argv[i] + 8;
		if (strncmp(argv[i], "--cache-at=/tmp/", 16) == 0 && !strstr(argv[i], ".."))
			o->cache_at = argv[i] + 11;
		if (strcmp(argv[i], "--cache-rw") == 0)
			o->cache_rw = true;
		if (parse_num(argv[i], "--error-fd", 0, INT_MAX, &efd, err) < 0)
			return -1;
		o->error_fd = (int)efd;
		if (parse_num(argv[i], "--listen-fd", 0, INT_MAX, &lfd, err) < 0 ||
		    parse_num(argv[i], "--tmp-size-mb", 1, 1 << 20, &o->tmp_mb, err) < 0 ||
		    parse_num(argv[i], "--data-size-mb", 1, 1 << 20, &o->data_mb, err) < 0)
			return -1;
		o->listen_fd = (int)lfd;
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static int
sys_fail(kcr_error_t *err, const char *what, const char *path)
{
	return kcr_error_set(err, KCR_E_IO, errno, "%s '%s'", what, path);
}

static int
do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
	 const char *data, kcr_error_t *err)
{
	if (mount(src, dst, type, flags, data) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot mount %s on '%s'",
				     type ? type : src ? src : "none", dst);
	return 0;
}

static int
make_dir(const char *path, mode_t mode, kcr_error_t *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return sys_fail(err, "cannot create", path);
	return 0;
}

static int
make_file(const char *path, const char *content, mode_t mode, kcr_error_t *err)
{
	return kcr_write_file(path, content, strlen(content), mode, err);
}

/* Binds host path src read-only-to-be at NEWROOT dst (a directory or an
 * empty file as the mount point); symlinks are recreated, not followed. */
static int
bind_entry(const char *src, const char *dst, kcr_error_t *err)
{
	kcr_autofree char *to = kcr_strdup_printf(NEWROOT "%s", dst);
	char link[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(src, &st) < 0)
		return errno == ENOENT ? 0 : sys_fail(err, "cannot stat", src);
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(src, link, sizeof(link) - 1)) < 0)
			return sys_fail(err, "cannot read link", src);
		link[n] = '\0';
		return symlink(link, to) < 0 ? sys_fail(err, "cannot create link", to) : 0;
	}
	if (S_ISDIR(st.st_mode) ? make_dir(to, 0755, err) < 0
				: make_file(to, "", 0644, err) < 0)
		return -1;
	return do_mount(src, to, NULL, MS_BIND | MS_REC, NULL, err);
}

/* ---- building the new root --------------------------------------------------- */

static int
build_etc(kcr_error_t *err)
{
	static const struct {
		const char *name, *content;
	} files[] = {
		{ "passwd", NULL }, { "group", NULL }, { "nsswitch.conf", NULL },
		{ "hosts", "127.0.0.1 localhost sandbox\n::1 localhost\n" },
		{ "hostname", "sandbox\n" }, { "resolv.conf", "" },
	};
	const char *own[] = { etc_passwd, etc_group, etc_nsswitch };

	if (make_dir(NEWROOT "/etc", 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(files); i++) {
		kcr_autofree char *p = kcr_strdup_printf(NEWROOT "/etc/%s", files[i].name);

		if (make_file(p, i < 3 ? own[i] : files[i].content, 0644, err) < 0)
			return -1;
	}
	return 0;
}

static bool
etc_wanted(const char *name)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(etc_binds); i++) {
		if (fnmatch(etc_binds[i], name, 0) == 0)
			return true;
	}
	return false;
}

static int
bind_etc(kcr_error_t *err)
{
	DIR *d = opendir("/etc");
	struct dirent *e;
	int ret = 0;

	if (d == NULL)
		return 0;
	while (ret == 0 && (e = readdir(d)) != NULL) {
		kcr_autofree char *src = NULL;

		if (e->d_name[0] == '.' || !etc_wanted(e->d_name))
			continue;
		src = kcr_strdup_printf("/etc/%s", e->d_name);
		ret = bind_entry(src, src, err);
	}
	closedir(d);
	return ret;
}

static int
build_tmpfs(const char *dst, mode_t mode, uint64_t mb, unsigned long flags, kcr_error_t *err)
{
	kcr_autofree char *to = kcr_strdup_printf(NEWROOT "%s", dst);
	kcr_autofree char *opts = NULL;

	opts = kcr_strdup_printf("mode=%04o,size=%llum", (unsigned)mode, (unsigned long long)mb);
	if (kcr_mkdir_p(to, 0755, err) < 0)
		return -1;
	return do_mount("tmpfs", to, "tmpfs", flags, opts, err);
}

static int
build_dev(const struct init_opts *o, kcr_error_t *err)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
	};

	if (do_mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
		     "mode=0755,size=64k,nr_inodes=64", err) < 0)
		return -1;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(dev_nodes); i++) {
		kcr_autofree char *src = kcr_strdup_printf("/dev/%s", dev_nodes[i]);

		if (access(src, F_OK) == 0 && bind_entry(src, src, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < KCR_ARRAY_SIZE(links); i++) {
		kcr_autofree char *to = kcr_strdup_printf(NEWROOT "/dev/%s", links[i][1]);

		if (symlink(links[i][0], to) < 0)
			return sys_fail(err, "cannot create link", to);
	}
	return build_tmpfs("/dev/shm", 01777, o->tmp_mb < 64 ? o->tmp_mb : 64,
			   MS_NOSUID | MS_NODEV, err);
}

/* chown /mnt/data to the sandbox user; without that uid mapped (kcr not
 * root) programs run as root of the namespace and it stays ours. */
static int
own_data_dir(kcr_error_t *err)
{
	if (chown(NEWROOT "/mnt/data", KCR_SANDBOX_UID, KCR_SANDBOX_GID) == 0 || errno == EINVAL)
		return 0;
	return sys_fail(err, "cannot chown", NEWROOT "/mnt/data");
}

/* ---- the build cache ------------------------------------------------------------- */

/* A directory or file of the upper layer, the sandbox user's. */
static int
user_entry(const char *upper, const char *name, const char *content, kcr_error_t *err)
{
	kcr_autofree char *p = kcr_strdup_printf("%s/%s", upper, name);

	if (content ? make_file(p, content, 0644, err) < 0 : make_dir(p, 0755, err) < 0)
		return -1;
	if (chown(p, KCR_SANDBOX_UID, KCR_SANDBOX_GID) < 0 && errno != EINVAL)
		return sys_fail(err, "cannot chown", p);
	return 0;
}

/* The upper layer: owned by the sandbox user, with each directory at
 * the top of the lower (Go's 256 two-digit ones) made again there, so
 * the program adds entries (the lower's files are kcr's, read-only).
 * A Go cache also gets a trim.txt saying "trimmed just now", so no
 * program spends its time trimming (the lower's files are dated 2100:
 * never old enough to trim nor to need their mtime refreshed). */
static int
cache_upper(const char *upper, int lower, kcr_error_t *err)
{
	kcr_autoclose int fd = openat(lower, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	kcr_autofree char *now = kcr_strdup_printf("%lld\n", (long long)time(NULL));
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int ret = 0;

	if (d == NULL)
		return sys_fail(err, "cannot read", "the build cache");
	fd = -1; /* the DIR's now */
	if (make_dir(upper, 0755, err) < 0 ||
	    (chown(upper, KCR_SANDBOX_UID, KCR_SANDBOX_GID) < 0 && errno != EINVAL &&
	     sys_fail(err, "cannot chown", upper) < 0))
		ret = -1;
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (e->d_type == DT_DIR)
			ret = user_entry(upper, e->d_name, NULL, err);
		else if (strcmp(e->d_name, "trim.txt") == 0)
			ret = user_entry(upper, e->d_name, now, err);
	}
	closedir(d);
	return ret;
}

/* The overlay; a kernel that refuses it (no overlayfs, no user namespace
 * mounts) leaves a plain empty directory: slower builds, same results. */
static int
cache_overlay(const char *to, int lower, kcr_error_t *err)
{
	kcr_autofree char *layer = kcr_strdup_printf("%s.layer", to);
	kcr_autofree char *upper = kcr_strdup_printf("%s/upper", layer);
	kcr_autofree char *work = kcr_strdup_printf("%s/work", layer);
	kcr_autofree char *opts = NULL;

	/* root's alone: the program sees the layer only through the overlay */
	if (make_dir(layer, 0700, err) < 0 || make_dir(work, 0700, err) < 0 ||
	    cache_upper(upper, lower, err) < 0)
		return -1;
	opts = kcr_strdup_printf("lowerdir=/proc/self/fd/%d,upperdir=%s,workdir=%s,userxattr",
				 lower, upper, work);
	if (mount("overlay", to, "overlay", MS_NOSUID | MS_NODEV, opts) == 0)
		return 0;
	return chown(to, KCR_SANDBOX_UID, KCR_SANDBOX_GID) < 0 && errno != EINVAL
		       ? sys_fail(err, "cannot chown", to)
		       : 0;
}

static int
mount_cache(const struct init_opts *o, kcr_error_t *err)
{
	kcr_autofree char *to = NULL;
	kcr_autofree char *src = NULL;
	int ret;

	if (o->cache_at == NULL || (o->cache_fd < 0 && !o->cache_rw))
		return 0;
	if (o->cache_fd < 0) {
		errno = o->cache_errno;
		return sys_fail(err, "cannot open the build cache", o->cache ? o->cache : "");
	}
	to = kcr_strdup_printf(NEWROOT "%s", o->cache_at);
	src = kcr_strdup_printf("/proc/self/fd/%d", o->cache_fd);
	if (make_dir(to, 0755, err) < 0)
		return -1;
	ret = o->cache_rw ? do_mount(src, to, NULL, MS_BIND, NULL, err)
			  : cache_overlay(to, o->cache_fd, err);
	close(o->cache_fd);
	cache_point = o->cache_at;
	return ret;
}

static int
build_root(const struct init_opts *o, kcr_error_t *err)
{
	const unsigned long wflags = MS_NOSUID | MS_NODEV;

	if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0 ||
	    do_mount("tmpfs", NEWROOT, "tmpfs", wflags, "mode=0755,size=1m,nr_inodes=4096",
		     err) < 0)
		return -1;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(ro_dirs); i++) {
		if (bind_entry(ro_dirs[i], ro_dirs[i], err) < 0)
			return -1;
	}
	if (build_etc(err) < 0 || bind_etc(err) < 0 ||
	    build_tmpfs("/tmp", 01777, o->tmp_mb, wflags, err) < 0 ||
	    build_tmpfs("/mnt/data", 0755, o->data_mb, wflags, err) < 0 || own_data_dir(err) < 0 ||
	    make_dir(NEWROOT "/proc", 0555, err) < 0 ||
	    do_mount("proc", NEWROOT "/proc", "proc", wflags | MS_NOEXEC, NULL, err) < 0 ||
	    make_dir(NEWROOT "/dev", 0755, err) < 0 || build_dev(o, err) < 0 ||
	    mount_cache(o, err) < 0)
		return -1;
	return make_dir(NEWROOT "/.old", 0700, err);
}

static int
enter_root(kcr_error_t *err)
{
	if (syscall(SYS_pivot_root, NEWROOT, NEWROOT "/.old") < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pivot_root");
	if (chdir("/") < 0)
		return sys_fail(err, "cannot chdir", "/");
	if (umount2("/.old", MNT_DETACH) < 0)
		return sys_fail(err, "cannot unmount", "/.old");
	if (rmdir("/.old") < 0)
		return sys_fail(err, "cannot remove", "/.old");
	return 0;
}

/* ---- making it read-only -------------------------------------------------------- */

/* The flags of the mount at path that a bind remount must repeat: the
 * kernel refuses to clear flags that were locked when the user namespace
 * was created (nosuid, nodev, noexec, atime). */
static unsigned long
locked_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ ST_NOSUID, MS_NOSUID },   { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC },   { ST_NOATIME, MS_NOATIME },
		{ ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
	};
	struct statvfs sv;
	unsigned long flags = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(map); i++) {
		if (sv.f_flag & map[i].st)
			flags |= map[i].ms;
	}
	return flags;
}

static bool
stays_writable(const char *point)
{
	if (strcmp(point, "/proc") == 0 || strncmp(point, "/proc/", 6) == 0)
		return true;
	if (cache_point && strcmp(point, cache_point) == 0)
		return true;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(rw_mounts); i++) {
		if (strcmp(point, rw_mounts[i]) == 0)
			return true;
	}
	return false;
}

static int
remount_ro(const char *point, kcr_error_t *err)
{
	bool device = strncmp(point, "/dev/", 5) == 0;
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | locked_flags(point);

	/* device nodes need dev; the /dev tmpfs under them is nodev already */
	flags |= device ? MS_NOEXEC : MS_NODEV;
	if (mount(NULL, point, NULL, flags, NULL) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot remount '%s' read-only", point);
	return 0;
}

/* The mount point (5th field) of a mountinfo line, unescaped in place. */
static char *
mountinfo_point(char *line)
{
	char *p = line, *w, *r;

	for (int i = 0; i < 4 && p; i++) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	if (p == NULL)
		return NULL;
	p[strcspn(p, " ")] = '\0';
	for (r = w = p; *r; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w = *r;
		}
	}
	*w = '\0';
	return p;
}

/* Every mount of the sandbox but the writable ones, / last. */
static int
make_readonly(kcr_error_t *err)
{
	kcr_autofree char *mi = NULL;
	char *save = NULL;
	size_t len;

	if (kcr_read_file("/proc/self/mountinfo", 1 << 20, &mi, &len, err) < 0)
		return -1;
	for (char *l = strtok_r(mi, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *point = mountinfo_point(l);

		if (point == NULL || strcmp(point, "/") == 0 || stays_writable(point))
			continue;
		if (remount_ro(point, err) < 0)
			return -1;
	}
	return remount_ro("/", err);
}

/* ---- the rest ------------------------------------------------------------------------ */

/* Refuses to run anywhere but as pid 1 of a fresh pid namespace whose
 * user namespace is not the host's: mount propagation changes on the host
 * would be harmful. */
static int
check_namespaces(kcr_error_t *err)
{
	kcr_autofree char *map = NULL;
	unsigned long in, out, count;
	size_t len;

	if (getpid() != 1)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "--sandbox is for kcr only (not pid 1 of a new pid "
				     "namespace)");
	if (kcr_read_file("/proc/self/uid_map", 4096, &map, &len, err) < 0)
		return -1;
	if (sscanf(map, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0 && out == 0 &&
	    count == 4294967295UL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "--sandbox is for kcr only (in the host's user namespace)");
	return 0;
}

/* Signal dispositions and mask come from whichever kcr thread cloned us. */
static void
reset_signals(void)
{
	sigset_t none;

	for (int s = 1; s < NSIG; s++) {
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int
finish(const struct init_opts *o, kcr_error_t *err)
{
	static const char host[] = "sandbox", domain[] = "(none)";

	if (sethostname(host, sizeof(host) - 1) < 0 ||
	    setdomainname(domain, sizeof(domain) - 1) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot set the host name");
	/* the program sees its own cgroup as / */
	if (unshare(CLONE_NEWCGROUP) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create a cgroup namespace");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot set no_new_privs");
	if (chdir(KCR_DATA_DIR) < 0)
		return sys_fail(err, "cannot chdir", KCR_DATA_DIR);
	if (fcntl(o->listen_fd, F_SETFD, FD_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "bad listen fd %d", o->listen_fd);
	return 0;
}

static int
report(const struct init_opts *o, kcr_error_t *err)
{
	const char *msg = *err && (*err)->msg ? (*err)->msg : "sandbox setup failed";

	if (o->error_fd >= 0) {
		kcr_write_all(o->error_fd, msg, strlen(msg));
		kcr_write_all(o->error_fd, "\n", 1);
	}
	return -1;
}

int
kcr_sandbox_init_main(int argc, char **argv, kcr_error_t *err)
{
	struct init_opts o = { .listen_fd = 3,
			       .error_fd = 4,
			       .cache_fd = -1,
			       .tmp_mb = KCR_DEFAULT_TMP_SIZE_MB,
			       .data_mb = KCR_DEFAULT_DATA_SIZE_MB };
	struct stat st;

	if (parse_opts(argc, argv, &o, err) < 0)
		return report(&o, err);
	/* nothing of ours reaches the programs the runner starts */
	if (o.error_fd >= 0)
		fcntl(o.error_fd, F_SETFD, FD_CLOEXEC);
	reset_signals();
	if (fstat(o.listen_fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		kcr_error_set(err, KCR_E_INVALID, 0, "fd %d is not a socket", o.listen_fd);
		return report(&o, err);
	}
	if (o.cache && (o.cache_fd = open(o.cache, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		o.cache_errno = errno;
	if (check_namespaces(err) < 0 || build_root(&o, err) < 0 || enter_root(err) < 0 ||
	    make_readonly(err) < 0 || finish(&o, err) < 0)
		return report(&o, err);
	if (kcr_write_all(o.error_fd, (char[]){ KCR_SANDBOX_READY }, 1) < 0) {
		kcr_error_set(err, KCR_E_IO, errno, "cannot report ready on fd %d", o.error_fd);
		return -1;
	}
	close(o.error_fd);
	return o.listen_fd;
}
