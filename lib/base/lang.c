#include <config.h>

#include "base/lang.h"
#include "base/files.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define V(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Java's build cache is filled by a program that runs a hello world in a
 * JVM with the run's own flags (keep them equal to .run's: the archive is
 * refused otherwise) that writes the archive at its exit. */
#define JAVA_CDS_FLAGS                                                                             \
	"\"-XX:+UseSerialGC\", \"-XX:TieredStopAtLevel=1\", \"-Xshare:auto\", "                    \
	"\"-XX:-UsePerfData\""
#define JAVA_CDS_WARM                                                                              \
	"import java.nio.file.*;\n"                                                                \
	"public class Main {\n"                                                                    \
	"  public static void main(String[] a) throws Exception {\n"                               \
	"    Path src = Files.createTempDirectory(\"kcr-cds\").resolve(\"Main.java\");\n"          \
	"    Files.writeString(src, \"public class Main { public static void main(String[] a) "    \
	"{ System.out.println(1); } }\\n\");\n"                                                    \
	"    Process p = new ProcessBuilder(\"/usr/bin/java\", " JAVA_CDS_FLAGS ",\n"              \
	"      \"-XX:ArchiveClassesAtExit=/tmp/.kcr-cds/java.jsa\", src.toString())\n"             \
	"      .inheritIO().start();\n"                                                            \
	"    System.exit(p.waitFor());\n"                                                          \
	"  }\n"                                                                                    \
	"}\n"

static const struct kcr_lang langs[] = {
	{ .id = "py",
	  .name = "Python",
	  .aliases = V("python", "python3"),
	  .extensions = V(".py"),
	  .source_file = "code.py",
	  .run = V("/usr/bin/python3", "{src}"),
	  .env = V("PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH=/mnt/data",
		   "MPLBACKEND=Agg", "MPLCONFIGDIR=/tmp/.mpl"),
	  .runtimes = V("/usr/bin/python3"),
	  .version = V("/usr/bin/python3", "--version"),
	  .package = "python3",
	  .memory_mb = 512,
	  .timeout_s = 30,
	  .caps = KCR_LANG_PREWARM | KCR_LANG_FORK_SERVER | KCR_LANG_STATE | KCR_LANG_PRELOAD |
		  KCR_LANG_POD_POOL },
	{ .id = "js",
	  .name = "JavaScript",
	  .aliases = V("javascript", "node", "nodejs"),
	  .extensions = V(".js", ".mjs", ".cjs"),
	  .source_file = "code.js",
	  .run = V("/usr/bin/node", "{src}"),
	  .env = V("NODE_ENV=sandbox"),
	  .runtimes = V("/usr/bin/node"),
	  .version = V("/usr/bin/node", "--version"),
	  .package = "nodejs",
	  .memory_mb = 512,
	  .timeout_s = 30,
	  .caps = KCR_LANG_PREWARM | KCR_LANG_POD_POOL,
	  .prewarm_kib = 6 * 1024 },
	{ .id = "ts",
	  .name = "TypeScript",
	  .aliases = V("typescript"),
	  .extensions = V(".ts", ".mts", ".cts"),
	  .source_file = "code.ts",
	  .compile = V("/usr/bin/esbuild", "{src}", "--format=cjs", "--platform=node",
		       "--log-level=warning", "--outfile={dir}/code.js"),
	  .run = V("/usr/bin/node", "{dir}/code.js"),
	  .env = V("NODE_ENV=sandbox"),
	  .runtimes = V("/usr/bin/esbuild", "/usr/bin/node"),
	  .version = V("/usr/bin/esbuild", "--version"),
	  .package = "esbuild (npm) + nodejs",
	  .memory_mb = 512,
	  .timeout_s = 30,
	  /* Node waits while esbuild compiles, then runs code.js */
	  .caps = KCR_LANG_PREWARM,
	  .prewarm_kib = 6 * 1024 },
	{ .id = "go",
	  .name = "Go",
	  .aliases = V("golang"),
	  .extensions = V(".go"),
	  .source_file = "main.go",
	  /* no symbol table or DWARF: the link is most of a cached build */
	  .compile = V("/usr/bin/go", "build", "-ldflags=-s -w", "-o", "{bin}", "{src}"),
	  .run = V("{bin}"),
	  .env = V("GOCACHE=/tmp/.gocache", "GOPATH=/tmp/.go", "GOPROXY=off", "GOSUMDB=off",
		   "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false"),
	  .cpu_env = "GOMAXPROCS",
	  .build_cache = "/tmp/.gocache",
	  .build_cache_warm =
		  "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"ok\") }\n",
	  .runtimes = V("/usr/bin/go"),
	  .version = V("/usr/bin/go", "version"),
	  .package = "golang-go",
	  .memory_mb = 1024,
	  .timeout_s = 60 },
	{ .id = "java",
	  .name = "Java",
	  .aliases = V(NULL),
	  .extensions = V(".java"),
	  .source_file = "Main.java",
	  /* single-file source launch: the class may have any name */
	  .run = V("/usr/bin/java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		   "-XX:-UsePerfData", "-XX:SharedArchiveFile=/tmp/.kcr-cds/java.jsa", "{src}"),
	  /* an AppCDS archive of what the source launcher loads (javac):
	   * half the JVM's start; without it (no cache) the JVM goes on
	   * silently with the JDK's own archive */
	  .build_cache = "/tmp/.kcr-cds",
	  .build_cache_warm = JAVA_CDS_WARM,
	  .runtimes = V("/usr/bin/java"),
	  .version = V("/usr/bin/java", "-version"),
	  .package = "default-jdk-headless",
	  .memory_mb = 1024,
	  .timeout_s = 60 },
	{ .id = "c",
	  .name = "C",
	  .aliases = V(NULL),
	  .extensions = V(".c"),
	  .source_file = "code.c",
	  .compile = V("/usr/bin/gcc", "-O1", "-std=gnu17", "-o", "{bin}", "{src}", "-lm"),
	  .run = V("{bin}"),
	  .runtimes = V("/usr/bin/gcc"),
	  .version = V("/usr/bin/gcc", "-dumpfullversion"),
	  .package = "gcc",
	  .memory_mb = 512,
	  .timeout_s = 30 },
	{ .id = "cpp",
	  .name = "C++",
	  .aliases = V("c++", "cxx"),
	  .extensions = V(".cpp", ".cc", ".cxx", ".C"),
	  .source_file = "code.cpp",
	  .compile = V("/usr/bin/g++", "-O1", "-std=gnu++17", "-o", "{bin}", "{src}", "-lm"),
	  .run = V("{bin}"),
	  .runtimes = V("/usr/bin/g++"),
	  .version = V("/usr/bin/g++", "-dumpfullversion"),
	  .package = "g++",
	  .memory_mb = 512,
	  .timeout_s = 30 },
	{ .id = "php",
	  .name = "PHP",
	  .aliases = V(NULL),
	  .extensions = V(".php"),
	  .source_file = "code.php",
	  .run = V("/usr/bin/php", "{src}"),
	  .runtimes = V("/usr/bin/php"),
	  .version = V("/usr/bin/php", "-r", "echo PHP_VERSION;"),
	  .package = "php-cli",
	  .memory_mb = 512,
	  .timeout_s = 30 },
	{ .id = "rs",
	  .name = "Rust",
	  .aliases = V("rust"),
	  .extensions = V(".rs"),
	  .source_file = "main.rs",
	  .compile = V("/usr/bin/rustc", "-C", "opt-level=0", "-C", "debuginfo=0", "-o", "{bin}",
		       "{src}"),
	  .run = V("{bin}"),
	  .runtimes = V("/usr/bin/rustc"),
	  .version = V("/usr/bin/rustc", "--version"),
	  .package = "rustc",
	  .memory_mb = 1024,
	  .timeout_s = 60 },
	{ .id = "r",
	  .name = "R",
	  .aliases = V("rscript"),
	  .extensions = V(".r", ".R"),
	  .source_file = "code.r",
	  .run = V("/usr/bin/Rscript", "--no-init-file", "{src}"),
	  .runtimes = V("/usr/bin/Rscript"),
	  .version = V("/usr/bin/Rscript", "--version"),
	  .package = "r-base-core",
	  .memory_mb = 512,
	  .timeout_s = 30 },
	{ .id = "f90",
	  .name = "Fortran",
	  .aliases = V("fortran"),
	  .extensions = V(".f90", ".f95", ".f03", ".f08", ".f"),
	  .source_file = "code.f90",
	  .compile = V("/usr/bin/gfortran", "-o", "{bin}", "{src}"),
	  .run = V("{bin}"),
	  .runtimes = V("/usr/bin/gfortran"),
	  .version = V("/usr/bin/gfortran", "-dumpfullversion"),
	  .package = "gfortran",
	  .memory_mb = 512,
	  .timeout_s = 30 },
	{ .id = "d",
	  .name = "D",
	  .aliases = V("dlang"),
	  .extensions = V(".d"),
	  .source_file = "code.d",
	  .compile = V("/usr/bin/ldc2", "-of={bin}", "-od={dir}", "{src}"),
	  .run = V("{bin}"),
	  .runtimes = V("/usr/bin/ldc2"),
	  .version = V("/usr/bin/ldc2", "--version"),
	  .package = "ldc",
	  .memory_mb = 1024,
	  .timeout_s = 60 },
	{ .id = "bash",
	  .name = "Bash",
	  .aliases = V("sh", "shell"),
	  .extensions = V(".sh", ".bash"),
	  .source_file = "code.sh",
	  .run = V("/bin/bash", "{src}"),
	  .runtimes = V("/bin/bash"),
	  .version = V("/bin/bash", "--version"),
	  .package = "bash",
	  .memory_mb = 512,
	  .timeout_s = 30,
	  /* bash waits in its start-up file (lib/runner/proc_warm.c) */
	  .caps = KCR_LANG_PREWARM,
	  .prewarm_kib = 512 },
};

unsigned int
kcr_lang_count(void)
{
	return KCR_ARRAY_SIZE(langs);
}

const struct kcr_lang *
kcr_lang_at(unsigned int i)
{
	return i < KCR_ARRAY_SIZE(langs) ? &langs[i] : NULL;
}

const struct kcr_lang *
kcr_lang_find(const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(langs); i++) {
		if (strcasecmp(langs[i].id, id) == 0)
			return &langs[i];
		for (const char *const *a = langs[i].aliases; *a; a++)
			if (strcasecmp(*a, id) == 0)
				return &langs[i];
	}
	return NULL;
}

const struct kcr_lang *
kcr_lang_lookup(const char *id, kcr_error_t *err)
{
	const struct kcr_lang *l = kcr_lang_find(id);
	struct kcr_buf known;

	if (l)
		return l;
	kcr_buf_init(&known);
	for (size_t i = 0; i < KCR_ARRAY_SIZE(langs); i++)
		kcr_buf_addf(&known, "%s%s", i ? " " : "", langs[i].id);
	kcr_error_set(err, KCR_E_INVALID, 0, "unsupported language '%s' (known: %s)",
		      id ? id : "", known.data);
	kcr_buf_release(&known);
	return NULL;
}

const struct kcr_lang *
kcr_lang_for_path(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (dot == NULL || strchr(dot, '/'))
		return NULL;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(langs); i++)
		for (const char *const *e = langs[i].extensions; *e; e++)
			if (strcmp(*e, dot) == 0)
				return &langs[i];
	return NULL;
}

const char *
kcr_lang_missing_runtime(const struct kcr_lang *l)
{
	for (const char *const *r = l->runtimes; *r; r++)
		if (!kcr_file_executable(*r))
			return *r;
	return NULL;
}

static char *
expand_one(const char *t, const struct kcr_lang *l)
{
	struct kcr_buf b;

	kcr_buf_init(&b);
	while (*t) {
		if (strncmp(t, "{src}", 5) == 0) {
			kcr_buf_addf(&b, "%s/%s", KCR_SRC_DIR, l->source_file);
			t += 5;
		} else if (strncmp(t, "{bin}", 5) == 0) {
			kcr_buf_addf(&b, "%s/prog", KCR_SRC_DIR);
			t += 5;
		} else if (strncmp(t, "{dir}", 5) == 0) {
			kcr_buf_adds(&b, KCR_SRC_DIR);
			t += 5;
		} else {
			kcr_buf_add(&b, t++, 1);
		}
	}
	return kcr_buf_steal(&b, NULL);
}

/* s with every "from" replaced by "to"; takes s. */
static char *
replace_all(char *s, const char *from, const char *to)
{
	struct kcr_buf b;
	const char *p = s, *hit;

	kcr_buf_init(&b);
	while ((hit = strstr(p, from)) != NULL) {
		kcr_buf_add(&b, p, (size_t)(hit - p));
		kcr_buf_adds(&b, to);
		p = hit + strlen(from);
	}
	kcr_buf_adds(&b, p);
	free(s);
	return kcr_buf_steal(&b, NULL);
}

char **
kcr_lang_expand_in(const char *const *tmpl, const struct kcr_lang *l, const char *dir)
{
	char **v = kcr_lang_expand(tmpl, l);

	if (strcmp(dir, KCR_SRC_DIR) != 0)
		for (size_t i = 0; v[i]; i++)
			v[i] = replace_all(v[i], KCR_SRC_DIR, dir);
	return v;
}

char **
kcr_lang_expand(const char *const *tmpl, const struct kcr_lang *l)
{
	size_t n = kcr_strv_len((char *const *)tmpl);
	char **argv = kcr_xzalloc((n + 1) * sizeof(char *));

	for (size_t i = 0; i < n; i++)
		argv[i] = expand_one(tmpl[i], l);
	return argv;
}

/* The first thing in the output that looks like a version number. */
static char *
version_token(const char *out)
{
	for (const char *p = out; *p; p++) {
		size_t n;

		if (!isdigit((unsigned char)*p) ||
		    (p > out && (isdigit((unsigned char)p[-1]) || p[-1] == '.')))
			continue;
		n = strspn(p, "0123456789.");
		if (memchr(p, '.', n))
			return kcr_xstrndup(p, n);
	}
	return NULL;
}

char *
kcr_lang_version(const struct kcr_lang *l)
{
	posix_spawn_file_actions_t fa;
	kcr_autofree char *out = NULL;
	int pipefd[2], status;
	size_t len;
	pid_t pid;

	if (kcr_lang_missing_runtime(l) || pipe2(pipefd, O_CLOEXEC) < 0)
		return NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (posix_spawn(&pid, l->version[0], &fa, NULL, (char *const *)l->version,
			(char *const[]){ "PATH=" KCR_SANDBOX_PATH, "HOME=/tmp", NULL }) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (kcr_read_fd(pipefd[0], 1 << 16, &out, &len, NULL) < 0)
		out = NULL;
	close(pipefd[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return out ? version_token(out) : NULL;
}
