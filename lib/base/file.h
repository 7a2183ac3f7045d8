/* The four shapes a file takes on its way through kcr, each owned by what
 * holds it (every pointer below is the struct's own; its release frees
 * them and zeroes the struct):
 *
 *   kcr_file_ref   a stored file named by a request ({id, session_id,
 *                  name} in POST /exec's files[]);
 *   kcr_file       its bytes in memory, as placed in /mnt/data before a
 *                  run, or collected from there after it;
 *   kcr_file_info  a file the run created or changed, as kcr-runner
 *                  reports it (name, size, mtime: no bytes);
 *   kcr_file_meta  a stored file's record in the session store. */
#ifndef KCR_FILE_H
#define KCR_FILE_H

#include "base/ids.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_file_ref {
	char *id;
	char *session_id; /* or the newer client's storage_session_id */
	char *name;       /* the name to place it under; NULL: the stored name */
};

struct kcr_file {
	char *name;
	char *data;
	size_t len;
	/* > 0: the bytes are in this file (a spool; an output too large to
	 * hold in memory), len of them, and data is NULL */
	int fd;
	bool was_input; /* an output that replaces an input of the same name */
};

struct kcr_file_info {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
};

struct kcr_file_meta {
	char id[KCR_ID_LEN + 1];
	char session_id[KCR_ID_LEN + 1];
	char *name;          /* sanitized, as placed in /mnt/data */
	char *original_name; /* as uploaded */
	char *content_type;
	uint64_t size;
	double created, modified;
	char sha256[65];
	char *kind;          /* "upload" | "output" */
	char modified_from[KCR_ID_LEN + 1]; /* input it was changed from, or "" */
	char modified_from_session[KCR_ID_LEN + 1];
};

void kcr_file_ref_release(struct kcr_file_ref *r);
void kcr_file_release(struct kcr_file *f);
/* Writes f's bytes (data, or its spool) to out; -1 with errno. */
int kcr_file_write_to(const struct kcr_file *f, int out);
void kcr_file_info_release(struct kcr_file_info *f);
void kcr_file_meta_release(struct kcr_file_meta *m);
/* Releases n records and frees the array. */
void kcr_file_meta_list_free(struct kcr_file_meta *list, size_t n);

#endif
