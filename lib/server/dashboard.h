/* The admin dashboard's files (dashboard/ in the source tree), compiled
 * into kcr by scripts/embed.sh: kcr serve needs nothing beside its
 * binary to serve them. */
#ifndef KCR_DASHBOARD_H
#define KCR_DASHBOARD_H

#include "base/asset.h"

/* Terminated by { NULL }. */
extern const struct kcr_asset kcr_dashboard_assets[];

#endif
