/* Releasing the file structs of base/file.h. */
#include <config.h>

#include "base/file.h"

#include <stdlib.h>
#include <string.h>

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
	memset(f, 0, sizeof(*f));
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
