/* The admin dashboard's files (dashboard/ in the source tree), compiled
 * into kcr by scripts/embed.sh: kcr serve needs nothing beside its
 * binary to serve them. */
#ifndef KCR_DASHBOARD_H
#define KCR_DASHBOARD_H

#include <stddef.h>

struct kcr_asset {
	const char *name;  /* "app.js": the file's name in dashboard/ */
	const char *ctype; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

/* Terminated by { NULL }. */
extern const struct kcr_asset kcr_dashboard_assets[];

#endif
