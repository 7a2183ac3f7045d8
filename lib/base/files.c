/* Files and descriptors: whole reads and writes with limits, directories,
 * descriptors passed over unix sockets, children that exited. */
#include <config.h>

#include "base/files.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
kcr_send_fds(int sock, const void *p, size_t len, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * KCR_SEND_FDS_MAX)] = { 0 };
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (n < 0 || n > KCR_SEND_FDS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (n > 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

bool
kcr_child_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid != 0;
}

int
kcr_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
kcr_copy_fd(int in, int out, uint64_t *copied, kcr_error_t *err)
{
	char buf[65536];
	off_t off = 0;

	for (;;) {
		ssize_t r = pread(in, buf, sizeof(buf), off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "reading a spool file");
		if (r == 0)
			break;
		if (kcr_write_all(out, buf, (size_t)r) < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "writing a copy");
		off += r;
	}
	if (copied)
		*copied = (uint64_t)off;
	return 0;
}

int
kcr_spool_open(const char *dir, kcr_error_t *err)
{
	kcr_autofree char *tmpl = NULL;
	int fd;

	if (kcr_private_dir(dir, "spool directory", err) < 0)
		return -1;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot spool in '%s'", dir);
	if (fd < 0) { /* a file system without O_TMPFILE: a named file, unlinked at once */
		tmpl = kcr_strdup_printf("%s/.spool-XXXXXX", dir);
		if ((fd = mkostemp(tmpl, O_CLOEXEC)) < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "cannot spool in '%s'", dir);
		unlink(tmpl);
	}
	if (fd == 0) { /* stdin was closed; 0 means "no spool" to struct kcr_file */
		fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
		close(0);
		if (fd < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "cannot spool in '%s'", dir);
	}
	return fd;
}

int
kcr_read_fd(int fd, size_t max, char **out, size_t *len, kcr_error_t *err)
{
	struct kcr_buf b;
	char tmp[65536];

	kcr_buf_init(&b);
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof(tmp));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kcr_buf_release(&b);
			return kcr_error_set(err, KCR_E_IO, errno, "read");
		}
		if (r == 0)
			break;
		if (max && b.len + (size_t)r > max) {
			kcr_buf_release(&b);
			return kcr_error_set(err, KCR_E_LIMIT, 0,
					     "larger than the limit of %zu bytes", max);
		}
		kcr_buf_add(&b, tmp, (size_t)r);
	}
	*out = kcr_buf_steal(&b, len);
	return 0;
}

int
kcr_read_file(const char *path, size_t max, char **out, size_t *len, kcr_error_t *err)
{
	kcr_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return kcr_error_set(err, errno == ENOENT ? KCR_E_NOTFOUND : KCR_E_IO,
				     errno, "cannot open '%s'", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		return kcr_error_set(err, KCR_E_INVALID, EISDIR, "cannot read '%s'", path);
	if (kcr_read_fd(fd, max, out, len, err) < 0)
		return kcr_error_wrap(err, "'%s'", path);
	return 0;
}

int
kcr_write_file(const char *path, const void *p, size_t n, mode_t mode, kcr_error_t *err)
{
	kcr_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create '%s'", path);
	if (kcr_write_all(fd, p, n) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot write '%s'", path);
	return 0;
}

int
kcr_mkdir_p(const char *path, mode_t mode, kcr_error_t *err)
{
	kcr_autofree char *p = kcr_xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return kcr_error_set(err, KCR_E_IO, errno, "cannot create '%s'", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create '%s'", p);
	return 0;
}

int
kcr_private_dir(const char *dir, const char *what, kcr_error_t *err)
{
	struct stat st;

	if (kcr_mkdir_p(dir, 0700, err) < 0)
		return kcr_error_wrap(err, "%s", what);
	if (stat(dir, &st) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "%s '%s'", what, dir);
	if (!S_ISDIR(st.st_mode))
		return kcr_error_set(err, KCR_E_IO, ENOTDIR, "%s '%s'", what, dir);
	if (st.st_uid != geteuid())
		return kcr_error_set(err, KCR_E_IO, 0,
				     "%s '%s' belongs to uid %u, not to kcr's uid %u: another user "
				     "could read or plant what kcr keeps there; give kcr a "
				     "directory of its own",
				     what, dir, (unsigned int)st.st_uid, (unsigned int)geteuid());
	if ((st.st_mode & 077) && chmod(dir, st.st_mode & 0700) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot chmod '%s'", dir);
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int
kcr_rm_rf(const char *path)
{
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

bool
kcr_file_executable(const char *path)
{
	return access(path, X_OK) == 0;
}
