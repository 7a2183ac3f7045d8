/* Which warm Python a program wants: one whose interpreter imported the
 * modules of pool.py_preload (a zygote with numpy, pandas and matplotlib
 * costs milliseconds more per clone than a bare one), or a bare one. Only
 * a matter of speed: a program that imports a module another way still
 * gets it, at its own import cost. */
#ifndef KCR_PYIMPORTS_H
#define KCR_PYIMPORTS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether code has an `import M...` or `from M... import` statement whose
 * top-level package M is the top-level package of one of the
 * comma-separated modules ("numpy,pandas,matplotlib.pyplot"). */
bool kcr_py_imports_any(const char *code, size_t len, const char *modules);

#endif
