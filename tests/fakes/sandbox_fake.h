/* A sandbox provider in memory, for the engine's and the pool's unit
 * tests: every op of struct kcr_sandbox_ops, no process, no file system.
 *
 * exec() interprets the code, one command a line:
 *   echo TEXT        TEXT and a newline to stdout
 *   warn TEXT        TEXT and a newline to stderr
 *   cat NAME         the file NAME of /mnt/data to stdout
 *   write NAME TEXT  creates or replaces NAME with TEXT (a changed file)
 *   sleep MS         waits MS milliseconds
 *   exit N           stops, with exit code N
 *   fail             exec() fails (KCR_E_BACKEND), as a runner that died
 * Anything else is an error of the program: "unknown command" on
 * stderr and exit code 127.
 *
 * Open it with kcr_sandbox_provider_open_ops(&p, &sandbox_fake_ops, ...);
 * p.self is then the struct sandbox_fake the functions below take. */
#ifndef KCR_SANDBOX_FAKE_H
#define KCR_SANDBOX_FAKE_H

#include "sandbox/sandbox.h"

#include <stdbool.h>
#include <stdint.h>

extern const struct kcr_sandbox_ops sandbox_fake_ops;

struct sandbox_fake;

/* What the provider was asked, so far. */
struct sandbox_fake_counts {
	unsigned int creates;   /* successful ones */
	unsigned int create_failures;
	unsigned int destroys;
	unsigned int live;      /* created and not destroyed yet */
	unsigned int claims;    /* successful ones */
	unsigned int conflicts; /* claims answered KCR_E_CONFLICT */
	unsigned int releases;
	unsigned int checks, dead_checks;
	unsigned int execs;
	unsigned int adopted;
	uint64_t last_deadline_ms; /* of the last create() */
};

void sandbox_fake_counts(struct sandbox_fake *f, struct sandbox_fake_counts *out);
/* Waits (a condition wait, no polling) until pred holds for the counts,
 * or timeout_ms; returns whether it held. */
typedef bool (*sandbox_fake_pred)(const struct sandbox_fake_counts *c, void *arg);
bool sandbox_fake_wait(struct sandbox_fake *f, sandbox_fake_pred pred, void *arg,
		       uint64_t timeout_ms);

/* A configuration for a pool on the fake: pool.<lang> is target, every
 * other language's 0, health checks every health_s seconds (0: none). */
struct kcr_config *sandbox_fake_config(const char *lang, unsigned int target,
				       unsigned int health_s);

/* Failures to inject: the next n create()s fail (KCR_E_UNAVAILABLE), the
 * next n check()s say dead, the next n claim()s conflict. */
void sandbox_fake_fail_creates(struct sandbox_fake *f, unsigned int n);
/* Every create from now on takes ms (0: none), unlocked. */
void sandbox_fake_create_ms(struct sandbox_fake *f, unsigned int ms);
void sandbox_fake_fail_checks(struct sandbox_fake *f, unsigned int n);
void sandbox_fake_conflict_claims(struct sandbox_fake *f, unsigned int n);
/* available() says lang's runtime is not installed (NULL: all are). */
void sandbox_fake_set_unavailable(struct sandbox_fake *f, const struct kcr_lang *lang);
/* A sandbox a dead kcr left behind, for list() and adopt(). */
void sandbox_fake_add_orphan(struct sandbox_fake *f, const char *id);
unsigned int sandbox_fake_orphans(struct sandbox_fake *f);

#endif
