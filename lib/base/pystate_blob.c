#include <config.h>

#include "base/pystate_blob.h"
#include "base/encode.h"
#include "base/util.h"

#include <lz4frame.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PICKLE_STOP '.'
#define SCRATCH (64 * 1024)

/* Where decoded bytes go: a growing buffer, or a scratch buffer that is
 * overwritten (validation). Either way the count and the last byte. */
struct sink {
	char *buf;
	size_t cap, len;
	bool keep;
	uint64_t total;
	char last;
};

static uint64_t
limit_of(uint64_t max)
{
	return max ? max : UINT64_MAX;
}

int
kcr_pystate_blob_encode(const void *pickle, size_t len, uint64_t max, char **out, size_t *out_len,
		 kcr_error_t *err)
{
	LZ4F_preferences_t prefs;
	size_t bound, n;
	char *buf;

	if (len > limit_of(max))
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "the state is %zu bytes pickled, over the limit of %llu", len,
				     (unsigned long long)max);
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentSize = len;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	bound = LZ4F_compressFrameBound(len, &prefs);
	buf = kcr_xmalloc(bound + 1);
	buf[0] = KCR_PYSTATE_V2;
	n = LZ4F_compressFrame(buf + 1, bound, pickle, len, &prefs);
	if (LZ4F_isError(n)) {
		free(buf);
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "compressing the state: %s",
				     LZ4F_getErrorName(n));
	}
	if (n + 1 > limit_of(max)) {
		free(buf);
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "the state is %zu bytes compressed, over the limit of %llu", n + 1,
				     (unsigned long long)max);
	}
	*out = buf;
	*out_len = n + 1;
	return 0;
}

/* Room for at least one more byte, within the limit. */
static void
sink_room(struct sink *s, uint64_t hint)
{
	size_t want;

	if (!s->keep) {
		s->len = 0;
		return;
	}
	if (s->len < s->cap)
		return;
	if (s->cap == 0)
		want = hint && hint < SIZE_MAX / 2 ? (size_t)hint : SCRATCH;
	else if (hint && s->len >= hint)
		want = s->cap + 64; /* all there: only the checksum is left */
	else
		want = s->cap * 2;
	s->buf = kcr_xrealloc(s->buf, want + 1);
	s->cap = want;
}

static int
frame_error(size_t code, const char *what, kcr_error_t *err)
{
	return kcr_error_set(err, KCR_E_INVALID, 0, "invalid state: %s: %s", what,
			     LZ4F_getErrorName(code));
}

/* Decodes one LZ4 frame that must take exactly len bytes. */
static int
lz4_decode(const unsigned char *src, size_t len, uint64_t max, struct sink *s, kcr_error_t *err)
{
	LZ4F_dctx *dctx = NULL;
	LZ4F_frameInfo_t info;
	size_t pos = len, hint;
	int r = -1;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		kcr_oom();
	memset(&info, 0, sizeof(info));
	hint = LZ4F_getFrameInfo(dctx, &info, src, &pos);
	if (LZ4F_isError(hint)) {
		frame_error(hint, "not an LZ4 frame", err);
		goto out;
	}
	if (info.contentSize > limit_of(max)) {
		kcr_error_set(err, KCR_E_LIMIT, 0,
			      "the state is %llu bytes pickled, over the limit of %llu",
			      info.contentSize, (unsigned long long)max);
		goto out;
	}
	while (hint != 0) {
		size_t in = len - pos, outn;

		if (in == 0) {
			kcr_error_set(err, KCR_E_INVALID, 0, "invalid state: the LZ4 frame is truncated");
			goto out;
		}
		sink_room(s, info.contentSize);
		outn = s->keep ? s->cap - s->len : SCRATCH;
		hint = LZ4F_decompress(dctx, s->buf + s->len, &outn, src + pos, &in, NULL);
		if (LZ4F_isError(hint)) {
			frame_error(hint, "the LZ4 frame does not decode", err);
			goto out;
		}
		pos += in;
		if (outn) {
			s->last = s->buf[s->len + outn - 1];
			s->total += outn;
			s->len += outn;
		}
		if (s->total > limit_of(max)) {
			kcr_error_set(err, KCR_E_LIMIT, 0,
				      "the state is over %llu bytes pickled (the limit)",
				      (unsigned long long)max);
			goto out;
		}
	}
	if (pos != len) {
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "invalid state: %zu bytes after the end of the LZ4 frame", len - pos);
		goto out;
	}
	r = 0;
out:
	LZ4F_freeDecompressionContext(dctx);
	return r;
}

static int
decode(const void *blob, size_t len, uint64_t max, struct sink *s, kcr_error_t *err)
{
	const unsigned char *p = blob;

	if (len > limit_of(max))
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "the state is %zu bytes, over the limit of %llu", len,
				     (unsigned long long)max);
	if (len < 2)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "invalid state: %zu bytes (a version byte and a payload are "
				     "at least 2)", len);
	if (p[0] == KCR_PYSTATE_V1) {
		s->total = len - 1;
		s->last = (char)p[len - 1];
		if (s->keep) {
			s->buf = kcr_xmalloc(len);
			memcpy(s->buf, p + 1, len - 1);
			s->len = s->cap = len - 1;
		}
	} else if (p[0] == KCR_PYSTATE_V2) {
		if (lz4_decode(p + 1, len - 1, max, s, err) < 0)
			return -1;
	} else {
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "invalid state: version %u (1 and 2 are known)", p[0]);
	}
	if (s->total == 0 || s->last != PICKLE_STOP)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "invalid state: the payload is not a pickle");
	return 0;
}

int
kcr_pystate_blob_decode(const void *blob, size_t len, uint64_t max, char **out, size_t *out_len,
		 kcr_error_t *err)
{
	struct sink s = { .keep = true };

	if (decode(blob, len, max, &s, err) < 0) {
		free(s.buf);
		return -1;
	}
	s.buf[s.len] = '\0'; /* room was left for it */
	*out = s.buf;
	*out_len = s.len;
	return 0;
}

int
kcr_pystate_blob_validate(const void *blob, size_t len, uint64_t max, kcr_error_t *err)
{
	struct sink s = { .keep = false };
	int r;

	s.buf = kcr_xmalloc(SCRATCH);
	s.cap = SCRATCH;
	r = decode(blob, len, max, &s, err);
	free(s.buf);
	return r;
}

void
kcr_pystate_blob_hash(const void *blob, size_t len, char out[65])
{
	kcr_sha256_hex(blob, len, out);
}
