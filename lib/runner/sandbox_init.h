/* The inside half of the local sandbox. kcr (sandbox/local*.c) clones a
 * child into new user, pid, mount, net, ipc and uts namespaces, maps its
 * uids, puts it in the sandbox's cgroups and execs
 *
 *     kcr-runner --sandbox [sandbox options]
 *
 * kcr-runner's main() hands those arguments to kcr_sandbox_init_main(),
 * which builds the sandbox's file system (read-only root, own /etc, tmpfs
 * /tmp and /mnt/data, minimal /dev, fresh /proc), pivots into it, sets the
 * hostname and returns the listening socket the runner serves on. */
#ifndef KCR_SANDBOX_INIT_H
#define KCR_SANDBOX_INIT_H

#include "base/error.h"

#include <stdbool.h>

/* Written by the inside half to its error fd when the sandbox is ready to
 * serve; anything else there is the text of an error. A runner that fails
 * later need not write anything: the init already reported. */
#define KCR_SANDBOX_READY '\006'

/* The uid and gid untrusted programs run as inside a sandbox. */
#define KCR_SANDBOX_UID 1000
#define KCR_SANDBOX_GID 1000

bool kcr_sandbox_init_wanted(int argc, char **argv);
/* Returns the listening fd, or -1 with err set (the runner then reports err
 * on the error fd and exits). */
int kcr_sandbox_init_main(int argc, char **argv, kcr_error_t *err);

#endif
