/* libmicrohttpd, loaded on first use (mhd_dl.c says why). */
#ifndef KCR_MHD_DL_H
#define KCR_MHD_DL_H

#include "base/error.h"

/* Loads libmicrohttpd once (thread-safe); -1 with err when it cannot. */
int kcr_mhd_load(kcr_error_t *err);

#endif
