/* kcr-cell.so, a warm cell's set-up (lib/runner/cell_setup.c), compiled
 * into kcr-runner by scripts/embed.sh: lib/runner/cell.c hands it to each
 * zygote as a sealed memfd. */
#ifndef KCR_CELL_SO_H
#define KCR_CELL_SO_H

#include "base/asset.h"

/* One entry, then { NULL }. */
extern const struct kcr_asset kcr_cell_so[];

#endif
