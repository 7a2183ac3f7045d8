/* Configuration: one table of keys (tmux options_table) feeding kcr.yaml,
 * KCR_* environment variables (and KubeCodeRun's names as aliases) and
 * flags. Precedence: flag > environment > file > default. Named settings.h,
 * not config.h, so that it never shadows autoconf's <config.h>. */
#ifndef KCR_SETTINGS_H
#define KCR_SETTINGS_H

#include "base/error.h"

#include <stdbool.h>
#include <stdint.h>

enum kcr_cfg_type { KCR_CFG_STR, KCR_CFG_INT, KCR_CFG_BOOL, KCR_CFG_DOUBLE, KCR_CFG_LIST };
enum kcr_cfg_source { KCR_SRC_DEFAULT, KCR_SRC_FILE, KCR_SRC_ENV, KCR_SRC_FLAG };

struct kcr_cfg_key {
	const char *name;           /* "limits.timeout" (YAML: limits: {timeout: }) */
	enum kcr_cfg_type type;
	const char *def;            /* default, as text; NULL = computed or empty */
	const char *env;            /* "KCR_TIMEOUT" */
	const char *const *aliases; /* KubeCodeRun environment names */
	double min, max;            /* for numbers */
	bool secret;                /* masked by `kcr config show` */
	const char *help;
};

struct kcr_config;

struct kcr_config *kcr_config_new(void);
void kcr_config_free(struct kcr_config *c);
/* Loads the file (explicit path, else $KCR_CONFIG, else the user's, then the
 * system's kcr.yaml if present), then the environment. */
int kcr_config_load(struct kcr_config *c, const char *path, kcr_error_t *err);
int kcr_config_load_yaml(struct kcr_config *c, const char *path, kcr_error_t *err);
int kcr_config_load_env(struct kcr_config *c, kcr_error_t *err);
/* Sets a key from a flag ("--set key=value" or a command's own flag). */
int kcr_config_set(struct kcr_config *c, const char *name, const char *value,
		   enum kcr_cfg_source src, kcr_error_t *err);

/* Copies every value src got from a flag into dst (a reload keeps --set). */
void kcr_config_copy_flags(struct kcr_config *dst, const struct kcr_config *src);

const char *kcr_config_str(const struct kcr_config *c, const char *name);
int64_t kcr_config_int(const struct kcr_config *c, const char *name);
double kcr_config_double(const struct kcr_config *c, const char *name);
bool kcr_config_bool(const struct kcr_config *c, const char *name);
/* A list value as a NULL-terminated vector (free with kcr_strv_free). */
char **kcr_config_list(const struct kcr_config *c, const char *name);
enum kcr_cfg_source kcr_config_source(const struct kcr_config *c, const char *name,
				      const char **origin);
const char *kcr_config_file(const struct kcr_config *c);

const struct kcr_cfg_key *kcr_config_key_at(unsigned int i);
unsigned int kcr_config_key_count(void);
const char *kcr_cfg_source_name(enum kcr_cfg_source s);

#endif
