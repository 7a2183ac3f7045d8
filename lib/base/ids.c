/* Session and file ids (21 characters from getrandom) and file names that
 * are safe as one path component. */
#include <config.h>

#include "base/ids.h"

#include <openssl/rand.h>
#include <string.h>
#include <sys/random.h>

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
