/* lib/runner/pyboot.py, the Python kcr-runner starts ahead of executions (a
 * pre-warmed interpreter, or the zygote of warm cells), as one string for
 * `python3 -c`. Generated into pyboot_src.c at build time. */
#ifndef KCR_PYBOOT_H
#define KCR_PYBOOT_H

extern const char kcr_pyboot_src[];

#endif
