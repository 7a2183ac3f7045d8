/* A library loaded when first needed (dlopen), its functions looked up
 * into a table: libcurl (curl_dl.c) and libmicrohttpd (server/mhd_dl.c),
 * which most kcr processes never use and which cost milliseconds to load. */
#ifndef KCR_DL_H
#define KCR_DL_H

#include <stddef.h>

struct kcr_dl_sym {
	void **slot;
	const char *name;
};
#define KCR_DL_SYM(table, field, name)                                                             \
	{                                                                                          \
		(void **)&(table).field, name                                                      \
	}

/* dlopen()s soname (RTLD_LOCAL) and fills every slot; NULL, or why not
 * (allocated, naming what, "libcurl" say). */
char *kcr_dl_load(const char *soname, const char *what, const struct kcr_dl_sym *syms, size_t n);

#endif
