/* Releasing the file structs of base/file.h, and writing a file's bytes
 * wherever they are. */
#include <config.h>

#include "base/file.h"
#include "base/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
kcr_file_ref_release(struct kcr_file_ref *r)
{
	free(r->id);
	free(r->session_id);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

void
kcr_file_release(struct kcr_file *f)
{
	free(f->name);
	free(f->data);
	if (f->fd > 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
}

int
kcr_file_write_to(const struct kcr_file *f, int out)
{
	kcr_error_t e = NULL;
	int r;

	if (f->fd <= 0)
		return kcr_write_all(out, f->data, f->len);
	r = kcr_copy_fd(f->fd, out, NULL, &e);
	if (r < 0)
		errno = e->sys_errno ? e->sys_errno : EIO;
	kcr_error_free(e);
	return r;
}

void
kcr_file_info_release(struct kcr_file_info *f)
{
	free(f->name);
	f->name = NULL;
}

void
kcr_file_meta_release(struct kcr_file_meta *m)
{
	free(m->name);
	free(m->original_name);
	free(m->content_type);
	free(m->kind);
	m->name = m->original_name = m->content_type = m->kind = NULL;
}

void
kcr_file_meta_list_free(struct kcr_file_meta *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kcr_file_meta_release(&list[i]);
	free(list);
}
