/* File names as LibreChat sanitises them, and content types for downloads. */
#ifndef KCR_FILENAME_H
#define KCR_FILENAME_H

/* LibreChat's file name rules: basename, [^A-Za-z0-9.-] -> '_', a leading
 * '.' gets a '_' prefix, at most 255 bytes keeping the extension. */
char *kcr_sanitize_filename(const char *name);
/* A guess from the extension, for downloads. */
const char *kcr_content_type_for(const char *name);

#endif
