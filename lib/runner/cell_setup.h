/* What kcr-runner asks a zygote for (lib/runner/cell.c), as kcr-cell.so
 * (lib/runner/cell_setup.c) reads it: both are built from this tree at
 * once, so the message is this struct, not text to parse. */
#ifndef KCR_CELL_SETUP_H
#define KCR_CELL_SETUP_H

#include <stdint.h>

/* descriptors a spawn passes (SCM_RIGHTS), in this order */
enum {
	KCR_CELL_FD_STDIN,
	KCR_CELL_FD_STDOUT,
	KCR_CELL_FD_STDERR,
	KCR_CELL_FD_REPORT, /* "R", then "X<status>\n"; fd 3 in the cell */
	KCR_CELL_FD_DATA,   /* /mnt/data, a detached tmpfs mount */
	KCR_CELL_FD_TMP,    /* /tmp, the same */
	KCR_CELL_FD_JOIN,   /* then the cgroup files to join */
	KCR_CELL_FDS_MAX = 16
};

struct kcr_cell_req {
	uint64_t magic; /* KCR_CELL_REQ_MAGIC */
	uint64_t uid, gid;
	uint64_t shm_mb;
	uint64_t nofile, fsize; /* 0: the zygote's */
};

#define KCR_CELL_REQ_MAGIC 0x6b6372636c6c3031ULL /* "kcrcll01" */

#endif
