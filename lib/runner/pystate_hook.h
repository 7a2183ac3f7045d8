/* The Python state of a session inside the sandbox (DESIGN.md §2 "Python
 * state"). When an execution of py carries a state or asks for one,
 * kcr_proc_run writes a sitecustomize.py (kcr_pystate_hook) into
 * <src>/pystate and puts that directory first in the program's PYTHONPATH:
 * python3 imports it at start-up, before the program. It restores the
 * globals pickled in <src>/state.in into __main__ and, at exit, pickles
 * __main__'s globals (not modules, names starting with '_', builtins or
 * closed files) into <src>/state.out, with cloudpickle where plain pickle
 * will not do; functions keep using the live globals of the run they are
 * called in. What it could not save goes to <src>/state.notes. kcr takes the
 * state and the notes only when the program exited with 0. The program
 * runs as `python3 code.py` always does: same argv, sys.path, output,
 * tracebacks and exit code. (De)compression is lib/base/pystate_blob.c's, outside. */
#ifndef KCR_PYSTATE_HOOK_H
#define KCR_PYSTATE_HOOK_H

#include "base/exec.h"

#include <stdbool.h>
#include <stdint.h>

#define KCR_PYSTATE_DIR "pystate" /* holds sitecustomize.py */
#define KCR_PYSTATE_HOOK "sitecustomize.py"
#define KCR_PYSTATE_IMPL "kcr-state.py" /* what the hook compiles when needed */
#define KCR_PYSTATE_IN "state.in"
#define KCR_PYSTATE_OUT "state.out"
#define KCR_PYSTATE_NOTES "state.notes"

extern const char kcr_pystate_hook[], kcr_pystate_impl[];

/* The language keeps a state, and the request carries one or wants one. */
bool kcr_pystate_wanted(const struct kcr_exec_request *req);
/* The most bytes of pickle captured: req->state_max, or the default. */
uint64_t kcr_pystate_limit(const struct kcr_exec_request *req);
/* The program's environment in state mode: <src_dir>/pystate first in
 * PYTHONPATH, and KCR_PYSTATE=<limit> (0: restore only). The hook takes
 * both out again, so the program and its children see the usual ones. */
void kcr_pystate_env(char ***envp, const char *src_dir, uint64_t limit);

#endif
