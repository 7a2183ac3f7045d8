/* A file compiled into a binary by scripts/embed.sh: the admin
 * dashboard's (lib/server/dashboard.h), the cells' set-up object
 * (lib/runner/cell.c). */
#ifndef KCR_ASSET_H
#define KCR_ASSET_H

#include <stddef.h>

struct kcr_asset {
	const char *name;  /* its base name: "app.js" */
	const char *ctype; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

#endif
