/* A sandbox provider in memory (sandbox_fake.h). One lock guards the
 * counts, the injected failures and the claimed flags; a sandbox's files
 * are its one execution's alone. */
#include <config.h>

#include "fakes/sandbox_fake.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

struct fake_file {
	char *name;
	char *data;
	size_t len;
};

struct fake_sb {
	struct fake_file *files;
	size_t n_files;
	bool claimed;
};

struct sandbox_fake {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* the counts changed */
	struct sandbox_fake_counts c;
	unsigned int fail_creates, fail_checks, conflict_claims;
	unsigned int create_ms; /* how long a create takes */
	const struct kcr_lang *unavailable;
	char **orphans;
	unsigned int next_id;
};

/* ---- the provider ------------------------------------------------------- */

static int
fake_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct sandbox_fake *f = kcr_xzalloc(sizeof(*f));
	pthread_condattr_t ca;

	(void)cfg;
	(void)err;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->changed, &ca);
	pthread_condattr_destroy(&ca);
	*self = f;
	return 0;
}

static void
fake_close(void *self)
{
	struct sandbox_fake *f = self;

	kcr_strv_free(f->orphans);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Counts one more of something; called locked. */
static void
bump(struct sandbox_fake *f, unsigned int *counter)
{
	(*counter)++;
	pthread_cond_broadcast(&f->changed);
}

/* Takes one of an injected failure; called locked. */
static bool
take(unsigned int *n)
{
	if (*n == 0)
		return false;
	(*n)--;
	return true;
}

static int
fake_available(void *self, const struct kcr_lang *lang, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	bool no;

	pthread_mutex_lock(&f->lock);
	no = lang == f->unavailable;
	pthread_mutex_unlock(&f->lock);
	if (no)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "%s runtime is not installed: %s is missing (install %s)",
				     lang->name, lang->runtimes[0], lang->package);
	return 0;
}

static int
fake_health(void *self, kcr_error_t *err)
{
	(void)self;
	(void)err;
	return 0;
}

static int
fake_create(void *self, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	    struct kcr_sandbox **out, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	bool late = deadline_ms && kcr_now_ms() >= deadline_ms;
	struct kcr_sandbox *sb;

	(void)spec;
	pthread_mutex_lock(&f->lock);
	if (f->create_ms) { /* as a real sandbox takes its time, unlocked */
		unsigned int ms = f->create_ms;

		pthread_mutex_unlock(&f->lock);
		usleep(ms * 1000);
		pthread_mutex_lock(&f->lock);
	}
	f->c.last_deadline_ms = deadline_ms;
	if (late || take(&f->fail_creates)) {
		bump(f, &f->c.create_failures);
		pthread_mutex_unlock(&f->lock);
		return late ? kcr_error_set(err, KCR_E_TIMEOUT, 0, "fake: past the deadline")
			    : kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "fake: create fails");
	}
	sb = kcr_xzalloc(sizeof(*sb));
	snprintf(sb->id, sizeof(sb->id), "fake-%u", ++f->next_id);
	sb->endpoint = kcr_strdup_printf("fake:%s", sb->id);
	sb->priv = kcr_xzalloc(sizeof(struct fake_sb));
	f->c.live++;
	bump(f, &f->c.creates);
	pthread_mutex_unlock(&f->lock);
	*out = sb;
	return 0;
}

static int
fake_destroy(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	struct fake_sb *fs = sb->priv;

	(void)err;
	for (size_t i = 0; i < fs->n_files; i++) {
		free(fs->files[i].name);
		free(fs->files[i].data);
	}
	free(fs->files);
	free(fs);
	free(sb->endpoint);
	free(sb);
	pthread_mutex_lock(&f->lock);
	f->c.live--;
	bump(f, &f->c.destroys);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int
fake_check(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	bool dead;

	pthread_mutex_lock(&f->lock);
	dead = take(&f->fail_checks);
	bump(f, dead ? &f->c.dead_checks : &f->c.checks);
	pthread_mutex_unlock(&f->lock);
	if (dead)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "fake: sandbox %s is dead", sb->id);
	return 0;
}

static int
fake_claim(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	struct fake_sb *fs = sb->priv;
	bool conflict;

	pthread_mutex_lock(&f->lock);
	conflict = take(&f->conflict_claims) || fs->claimed;
	if (!conflict)
		fs->claimed = true;
	bump(f, conflict ? &f->c.conflicts : &f->c.claims);
	pthread_mutex_unlock(&f->lock);
	if (conflict)
		return kcr_error_set(err, KCR_E_CONFLICT, 0,
				     "fake: sandbox %s was claimed by another replica", sb->id);
	return 0;
}

static int
fake_release(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	struct fake_sb *fs = sb->priv;
	bool was;

	pthread_mutex_lock(&f->lock);
	was = fs->claimed;
	fs->claimed = false;
	if (was)
		bump(f, &f->c.releases);
	pthread_mutex_unlock(&f->lock);
	if (!was)
		return kcr_error_set(err, KCR_E_INVALID, 0, "fake: sandbox %s is not claimed",
				     sb->id);
	return 0;
}

/* ---- files ------------------------------------------------------------- */

static struct fake_file *
find_file(struct fake_sb *fs, const char *name)
{
	for (size_t i = 0; i < fs->n_files; i++)
		if (strcmp(fs->files[i].name, name) == 0)
			return &fs->files[i];
	return NULL;
}

static void
set_file(struct fake_sb *fs, const char *name, const void *buf, size_t len)
{
	struct fake_file *ff = find_file(fs, name);

	if (ff == NULL) {
		fs->files = kcr_xrealloc(fs->files, (fs->n_files + 1) * sizeof(*fs->files));
		ff = &fs->files[fs->n_files++];
		ff->name = kcr_xstrdup(name);
	} else {
		free(ff->data);
	}
	ff->data = kcr_xmalloc(len + 1);
	memcpy(ff->data, buf, len);
	ff->data[len] = '\0';
	ff->len = len;
}

static int
fake_put_file(void *self, struct kcr_sandbox *sb, const char *name, const void *buf, size_t len,
	      kcr_error_t *err)
{
	(void)self;
	(void)err;
	set_file(sb->priv, name, buf, len);
	return 0;
}

static int
fake_get_file(void *self, struct kcr_sandbox *sb, const char *name, uint64_t max, int out,
	      uint64_t *len, kcr_error_t *err)
{
	struct fake_file *ff = find_file(sb->priv, name);

	(void)self;
	if (ff == NULL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "fake: no file '%s'", name);
	if (max && ff->len > max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "fake: '%s' is over %llu bytes", name,
				     (unsigned long long)max);
	if (kcr_write_all(out, ff->data, ff->len) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "fake: writing '%s'", name);
	*len = ff->len;
	return 0;
}

/* ---- exec: the little language of sandbox_fake.h ------------------------ */

struct run {
	struct fake_sb *fs;
	struct kcr_buf out, err;
	char **changed;
	bool stop, fail;
	int exit_code;
};

static void
run_write(struct run *r, const char *arg)
{
	const char *sp = strchr(arg, ' ');
	kcr_autofree char *name = kcr_xstrndup(arg, sp ? (size_t)(sp - arg) : strlen(arg));
	const char *text = sp ? sp + 1 : "";

	set_file(r->fs, name, text, strlen(text));
	for (size_t i = 0; r->changed && r->changed[i]; i++)
		if (strcmp(r->changed[i], name) == 0)
			return;
	kcr_strv_push(&r->changed, name);
}

static void
run_cat(struct run *r, const char *name)
{
	struct fake_file *ff = find_file(r->fs, name);

	if (ff) {
		kcr_buf_add(&r->out, ff->data, ff->len);
		return;
	}
	kcr_buf_addf(&r->err, "cat: %s: no such file\n", name);
	r->exit_code = 1;
}

static void
run_sleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
run_line(struct run *r, const char *line)
{
	if (strncmp(line, "echo ", 5) == 0)
		kcr_buf_addf(&r->out, "%s\n", line + 5);
	else if (strncmp(line, "warn ", 5) == 0)
		kcr_buf_addf(&r->err, "%s\n", line + 5);
	else if (strncmp(line, "cat ", 4) == 0)
		run_cat(r, line + 4);
	else if (strncmp(line, "write ", 6) == 0)
		run_write(r, line + 6);
	else if (strncmp(line, "sleep ", 6) == 0)
		run_sleep(strtol(line + 6, NULL, 10));
	else if (strncmp(line, "exit ", 5) == 0) {
		r->exit_code = (int)strtol(line + 5, NULL, 10);
		r->stop = true;
	} else if (strcmp(line, "fail") == 0) {
		r->fail = r->stop = true;
	} else if (*line) {
		kcr_buf_addf(&r->err, "unknown command: %s\n", line);
		r->exit_code = 127;
		r->stop = true;
	}
}

static void
run_result(struct run *r, struct kcr_exec_result *res)
{
	size_t n = kcr_strv_len(r->changed);

	res->exit_code = r->exit_code;
	res->out = kcr_buf_steal(&r->out, &res->out_len);
	res->err = kcr_buf_steal(&r->err, &res->err_len);
	res->changed = n ? kcr_xzalloc(n * sizeof(*res->changed)) : NULL;
	for (size_t i = 0; i < n; i++) {
		res->changed[i].name = kcr_xstrdup(r->changed[i]);
		res->changed[i].size = find_file(r->fs, r->changed[i])->len;
	}
	res->n_changed = n;
}

static int
fake_exec(void *self, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
	  struct kcr_exec_result *res, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	kcr_autofree char *code = kcr_xstrndup(req->code, req->code_len);
	struct run r = { .fs = sb->priv };
	char *save = NULL;

	pthread_mutex_lock(&f->lock);
	bump(f, &f->c.execs);
	pthread_mutex_unlock(&f->lock);
	kcr_buf_init(&r.out);
	kcr_buf_init(&r.err);
	for (char *line = strtok_r(code, "\n", &save); line && !r.stop;
	     line = strtok_r(NULL, "\n", &save))
		run_line(&r, line);
	run_result(&r, res);
	kcr_strv_free(r.changed);
	if (r.fail)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "fake: sandbox %s failed", sb->id);
	return 0;
}

/* ---- orphans -------------------------------------------------------------- */

static int
fake_list(void *self, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	size_t k;

	(void)err;
	pthread_mutex_lock(&f->lock);
	k = kcr_strv_len(f->orphans);
	*out = k ? kcr_xzalloc(k * sizeof(**out)) : NULL;
	for (size_t i = 0; i < k; i++) {
		snprintf((*out)[i].id, sizeof((*out)[i].id), "%s", f->orphans[i]);
		snprintf((*out)[i].owner, sizeof((*out)[i].owner), "a dead fake");
	}
	*n = k;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int
fake_adopt(void *self, const struct kcr_sandbox_ref *ref, kcr_error_t *err)
{
	struct sandbox_fake *f = self;
	size_t k;

	(void)err;
	pthread_mutex_lock(&f->lock);
	k = kcr_strv_len(f->orphans);
	for (size_t i = 0; i < k; i++) {
		if (strcmp(f->orphans[i], ref->id) != 0)
			continue;
		free(f->orphans[i]);
		memmove(&f->orphans[i], &f->orphans[i + 1], (k - i) * sizeof(*f->orphans));
		bump(f, &f->c.adopted);
		break;
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

const struct kcr_sandbox_ops sandbox_fake_ops = {
	.name = "fake",
	.open = fake_open,
	.available = fake_available,
	.health = fake_health,
	.create = fake_create,
	.check = fake_check,
	.claim = fake_claim,
	.release = fake_release,
	.exec = fake_exec,
	.put_file = fake_put_file,
	.get_file = fake_get_file,
	.list = fake_list,
	.adopt = fake_adopt,
	.destroy = fake_destroy,
	.close = fake_close,
};

/* ---- what the tests see and inject ----------------------------------------- */

void
sandbox_fake_counts(struct sandbox_fake *f, struct sandbox_fake_counts *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->c;
	pthread_mutex_unlock(&f->lock);
}

bool
sandbox_fake_wait(struct sandbox_fake *f, sandbox_fake_pred pred, void *arg, uint64_t timeout_ms)
{
	struct timespec until = kcr_timespec_in(CLOCK_MONOTONIC, timeout_ms);
	bool ok;

	pthread_mutex_lock(&f->lock);
	while (!(ok = pred(&f->c, arg)))
		if (pthread_cond_timedwait(&f->changed, &f->lock, &until) == ETIMEDOUT) {
			ok = pred(&f->c, arg);
			break;
		}
	pthread_mutex_unlock(&f->lock);
	return ok;
}

struct kcr_config *
sandbox_fake_config(const char *lang, unsigned int target, unsigned int health_s)
{
	struct kcr_config *c = kcr_config_new();
	kcr_autofree char *n = kcr_strdup_printf("%u", target);
	kcr_autofree char *health = kcr_strdup_printf("%u", health_s);
	kcr_error_t err = NULL;

	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		kcr_autofree char *key = kcr_strdup_printf("pool.%s", kcr_lang_at(i)->id);

		kcr_config_set(c, key, strcmp(kcr_lang_at(i)->id, lang) == 0 ? n : "0",
			       KCR_SRC_FLAG, &err);
	}
	kcr_config_set(c, "pool.health_interval", health, KCR_SRC_FLAG, &err);
	if (err)
		abort(); /* a key the configuration no longer has */
	return c;
}

static void
inject(struct sandbox_fake *f, unsigned int *what, unsigned int n)
{
	pthread_mutex_lock(&f->lock);
	*what = n;
	pthread_mutex_unlock(&f->lock);
}

void
sandbox_fake_create_ms(struct sandbox_fake *f, unsigned int ms)
{
	inject(f, &f->create_ms, ms);
}

void
sandbox_fake_fail_creates(struct sandbox_fake *f, unsigned int n)
{
	inject(f, &f->fail_creates, n);
}

void
sandbox_fake_fail_checks(struct sandbox_fake *f, unsigned int n)
{
	inject(f, &f->fail_checks, n);
}

void
sandbox_fake_conflict_claims(struct sandbox_fake *f, unsigned int n)
{
	inject(f, &f->conflict_claims, n);
}

void
sandbox_fake_set_unavailable(struct sandbox_fake *f, const struct kcr_lang *lang)
{
	pthread_mutex_lock(&f->lock);
	f->unavailable = lang;
	pthread_mutex_unlock(&f->lock);
}

void
sandbox_fake_add_orphan(struct sandbox_fake *f, const char *id)
{
	pthread_mutex_lock(&f->lock);
	kcr_strv_push(&f->orphans, id);
	pthread_mutex_unlock(&f->lock);
}

unsigned int
sandbox_fake_orphans(struct sandbox_fake *f)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = (unsigned int)kcr_strv_len(f->orphans);
	pthread_mutex_unlock(&f->lock);
	return n;
}
