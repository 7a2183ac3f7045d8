/* The warm cells a runner started with --zygote holds (lib/runner/cell.h), by
 * id, counted so that a cell deleted while it runs goes when the run ends.
 *
 *   POST   /cells            {"id", "nofile", "file_size", "pids",
 *                             "tmp_mb", "data_mb", "join_fds", "preload"}
 *                             -> 201
 *   DELETE /cells/{id}
 *   ...    /cells/{id}/execute, /files, /files/{name}, /ready
 *
 * join_fds: how many cgroup files kcr sent on the fd channel (SCM_RIGHTS,
 * with the cell's id as the message) for the cell to join. */
#ifndef KCR_RUNNER_CELLS_H
#define KCR_RUNNER_CELLS_H

#include "runner/cell.h"
#include "base/error.h"

#include <stddef.h>

struct runner_cells;

/* Takes the zygotes (a NULL one failed to start): bare ones, and loaded
 * ones that imported pool.py_preload (none: n_loaded 0); a cell asks for
 * one of those with "preload". fd_channel: the socket kcr sends cgroup
 * files on, or -1. */
struct runner_cells *runner_cells_new(struct kcr_zygote *const *bare, int n_bare,
				      struct kcr_zygote *const *loaded, int n_loaded,
				      int fd_channel);
void runner_cells_free(struct runner_cells *s);
/* Every zygote still spawns. */
bool runner_cells_ok(struct runner_cells *s);

/* Creates a cell from a POST /cells body; *reply: the JSON to answer. */
int runner_cells_create(struct runner_cells *s, const char *body, size_t len, char **reply,
			kcr_error_t *err);
/* A reference to the cell, or NULL; runner_cell() is the cell. */
struct runner_cell;
struct runner_cell *runner_cells_get(struct runner_cells *s, const char *id);
struct kcr_cell *runner_cell(struct runner_cell *ref);
void runner_cells_put(struct runner_cells *s, struct runner_cell *ref);
/* Forgets the cell; it is freed (killed) when the last reference goes. */
int runner_cells_delete(struct runner_cells *s, const char *id, kcr_error_t *err);

#endif
