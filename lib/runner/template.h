/* A started kcr-runner that local sandboxes are cloned from
 * (kcr-runner --template), instead of each one executing kcr-runner anew.
 *
 * Executing it cost every sandbox ~6 ms of CPU here before its first line
 * of kcr's own: mapping and relocating 16 libraries (libmicrohttpd pulls
 * GnuTLS and ten more) and the page faults that takes. A clone of a
 * runner that has done that once shares those pages instead.
 *
 * kcr starts one template per local provider, as its own child, and sends
 * it one request per sandbox on a SOCK_SEQPACKET socket: the runner's
 * argv and environment, and descriptors with what each is for. The
 * template clones the sandbox's process as kcr's child (CLONE_PARENT), in
 * the sandbox's namespaces, and answers its pid. The child then does what
 * kcr's own clone child does before execve (lib/sandbox/local_clone.c):
 * waits for kcr's go, joins its cgroups, takes its ids, places its
 * descriptors; then it runs the runner's main() with the argv sent. */
#ifndef KCR_RUNNER_TEMPLATE_H
#define KCR_RUNNER_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#define KCR_TEMPLATE_FDS_MAX 12
#define KCR_TEMPLATE_FD_TOP  64 /* placed descriptors are below */
#define KCR_TEMPLATE_STR_MAX 8192

/* What a descriptor of a request is for, in fd_at[]: >= 0, the number it
 * gets in the child; or one of these. */
enum {
	KCR_TEMPLATE_SYNC = -1,   /* read one byte from it first: kcr's go */
	KCR_TEMPLATE_JOIN = -2,   /* a cgroup v1 "tasks" file: write "0" */
	KCR_TEMPLATE_CGROUP = -3, /* a cgroup v2 directory: CLONE_INTO_CGROUP */
};

struct kcr_template_req {
	uint64_t clone_flags; /* the namespaces */
	int32_t fd_at[KCR_TEMPLATE_FDS_MAX];
	int32_t report_at; /* the placed number failures are written to */
	int32_t nice;
	uint32_t n_fds;
	uint32_t setgroups; /* drop supplementary groups (kcr is root) */
	uint32_t argc, envc;
	uint32_t str_len;
	char str[KCR_TEMPLATE_STR_MAX]; /* argv, then envp, each NUL-terminated */
};

struct kcr_template_reply {
	int64_t pid;    /* in the template's (and kcr's) pid namespace, or -errno */
	uint32_t in_cg; /* cloned into its cgroup (CLONE_INTO_CGROUP) */
};

#define KCR_TEMPLATE_REQ_HEAD offsetof(struct kcr_template_req, str)

/* The template's loop on ctl until kcr closes it: 0, or 1 when it cannot
 * serve. In each child, run(argc, argv) is the runner's main() with the
 * argv sent (also what ps shows of the child), and the child exits with
 * what it returns. */
int kcr_template_serve(int ctl, int (*run)(int, char **));

#endif
