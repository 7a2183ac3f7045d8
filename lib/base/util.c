#include <config.h>

#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
kcr_oom(void)
{
	static const char msg[] = "kcr: out of memory\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	abort();
}

void *
kcr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		kcr_oom();
	return p;
}

void *
kcr_xzalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p == NULL)
		kcr_oom();
	return p;
}

void *
kcr_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	return s;
}

void
kcr_freep(void *p)
{
	free(*(void **)p);
}

void
kcr_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
kcr_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

void
kcr_strv_freep(char ***v)
{
	kcr_strv_free(*v);
	*v = NULL;
}

size_t
kcr_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void
kcr_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **
kcr_strv_dup(char *const *v)
{
	size_t n = kcr_strv_len(v);
	char **r = kcr_xzalloc((n + 1) * sizeof(char *));

	for (size_t i = 0; i < n; i++)
		r[i] = kcr_xstrdup(v[i]);
	return r;
}

void
kcr_strv_push(char ***v, const char *s)
{
	size_t n = kcr_strv_len(*v);

	*v = kcr_xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = kcr_xstrdup(s);
	(*v)[n + 1] = NULL;
}

void
kcr_buf_init(struct kcr_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
kcr_buf_release(struct kcr_buf *b)
{
	free(b->data);
	kcr_buf_init(b);
}

static void
buf_grow(struct kcr_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 256;
	while (b->cap < need)
		b->cap *= 2;
	b->data = kcr_xrealloc(b->data, b->cap);
}

void
kcr_buf_add(struct kcr_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
kcr_buf_adds(struct kcr_buf *b, const char *s)
{
	kcr_buf_add(b, s, strlen(s));
}

void
kcr_buf_addf(struct kcr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
kcr_buf_steal(struct kcr_buf *b, size_t *len)
{
	char *p;

	if (b->data == NULL)
		kcr_buf_add(b, "", 0);
	p = b->data;
	if (len)
		*len = b->len;
	kcr_buf_init(b);
	return p;
}

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

uint64_t
kcr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
kcr_now_ms(void)
{
	return kcr_now_ns() / 1000000ull;
}

double
kcr_wall_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *
kcr_base64_encode(const void *p, size_t n)
{
	char *out = kcr_xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

int
kcr_base64_decode(const char *s, char **out, size_t *len, kcr_error_t *err)
{
	size_t n = strlen(s), pad = 0;
	char *buf;
	int r;

	if (n % 4 != 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64 (length %zu)", n);
	buf = kcr_xmalloc(n / 4 * 3 + 1);
	r = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(buf);
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid base64");
	}
	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	*len = (size_t)r - pad;
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

void
kcr_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;

	EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

int
kcr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, kcr_error_t *err)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	if (s == NULL || *s == '\0' || *s == '-' || isspace((unsigned char)*s))
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	if (v < min || v > max)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "'%s' is out of range (%llu..%llu)", s,
				     (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
bad:
	return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a number", s ? s : "");
}

int
kcr_parse_double(const char *s, double min, double max, double *out, kcr_error_t *err)
{
	char *end = NULL;
	double v;

	errno = 0;
	if (s == NULL || *s == '\0')
		goto bad;
	v = strtod(s, &end);
	if (errno || *end != '\0' || !isfinite(v))
		goto bad;
	if (v < min || v > max)
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is out of range (%g..%g)",
				     s, min, max);
	*out = v;
	return 0;
bad:
	return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a number", s ? s : "");
}

bool
kcr_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = { "1", "true", "yes", "on" };
	static const char *no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static const char id_alnum[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char id_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

void
kcr_id_generate(char out[KCR_ID_LEN + 1])
{
	unsigned char rnd[KCR_ID_LEN];

	/* getrandom, not RAND_bytes: initialising OpenSSL reads its config
	 * and costs every one-shot `kcr exec` about a millisecond */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		abort();
	for (int i = 0; i < KCR_ID_LEN; i++) {
		bool edge = i == 0 || i == KCR_ID_LEN - 1;

		/* 62 and 64 both divide 256 unevenly / evenly; the bias of
		 * 256 % 62 is < 2% and irrelevant for opaque ids */
		out[i] = edge ? id_alnum[rnd[i] % 62] : id_chars[rnd[i] % 64];
	}
	out[KCR_ID_LEN] = '\0';
}

bool
kcr_id_valid(const char *s)
{
	if (s == NULL || strlen(s) != KCR_ID_LEN)
		return false;
	return strspn(s, id_chars) == KCR_ID_LEN;
}

bool
kcr_name_is_safe(const char *name)
{
	if (name == NULL || *name == '\0' || strlen(name) > 255)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strchr(name, '/') == NULL;
}

static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are invalid */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

char *
kcr_utf8_clean(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct kcr_buf b;

	kcr_buf_init(&b);
	kcr_buf_add(&b, "", 0);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);

		if (len == 0) {
			kcr_buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		if (len > 1 || p[i] >= 0x20 || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
			if (p[i] != 0x7f)
				kcr_buf_add(&b, p + i, len);
		i += len;
	}
	return kcr_buf_steal(&b, NULL);
}

void
kcr_iso8601(double t, char out[32])
{
	time_t sec = (time_t)t;
	struct tm tm;
	char base[24];

	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", base, (int)((t - (double)sec) * 1000) % 1000);
}

char *
kcr_percent_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct kcr_buf b;

	kcr_buf_init(&b);
	kcr_buf_add(&b, "", 0);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			kcr_buf_add(&b, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			kcr_buf_add(&b, e, 3);
		}
	}
	return kcr_buf_steal(&b, NULL);
}
