/* salesengine: the host program. Modelled on lua.c: the whole run happens
 * under one protected call whose message handler adds a traceback; errors are
 * printed as "salesengine: pipeline.lua:12: message"; the state is always
 * closed so __gc and __close handlers run. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#ifdef SE_MIMALLOC
#include <mimalloc.h>
#else
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "http_global.h"
#include "modules.h"
#include "partition.h"
#include "secrets.h"
#include "signals.h"

#define PROGNAME "salesengine"

/* Exit codes; docs/lua-api.md lists them. Scripts raise salesengine.fail()
 * errors that carry their own code (extract, load, rejects). */
enum { EXIT_OK = 0, EXIT_SCRIPT = 1, EXIT_USAGE = 2 };

static void print_usage(FILE *out) {
  fputs("usage: " PROGNAME " [options] [script [args...]]\n"
        "       " PROGNAME " [options] state show|reset NAME [--dsn DSN]\n"
        "Runs a Lua 5.4 pipeline script with the salesengine modules loaded.\n"
        "Options:\n"
        "  -e CODE              run the Lua string CODE (before the script)\n"
        "  --log-level LEVEL    debug, info (default), warn, error or off\n"
        "  --log-format FORMAT  logfmt (default) or json, on stderr\n"
        "  --quiet              no progress line, warnings and errors only\n"
        "  --dry-run            extract and transform, write nothing to the database\n"
        "  --summary-json FILE  write the run's summary (counts, timings, outcome) to FILE, on any exit\n"
        "  --metrics-file FILE  write the run's metrics to FILE (Prometheus text), on any exit\n"
        "  --no-strict          allow undeclared globals in the script and its folder's modules\n"
        "  --full-refresh       ignore incremental state, reload from the initial cursor\n"
        "  --since VALUE        with --dry-run: start an incremental window at VALUE\n"
        "  --partition I/N      run partition I (0 to N-1) of N of the pipeline (docs/scale-out.md);\n"
        "                       also SALESENGINE_PARTITION=I/N, or JOB_COMPLETION_INDEX=I with\n"
        "                       SALESENGINE_PARTITIONS=N\n"
        "  -v, --version        print the version and exit\n"
        "  -h, --help           print this help and exit\n"
        "  --                   stop handling options\n"
        "  -                    read the script from standard input\n"
        "The script's own folder is searched first by require.\n"
        "'state' shows or resets a pipeline's incremental state (docs/lua-api.md).\n",
        out);
}

/* Command line, parsed before the Lua state exists. */
struct options {
  int script; /* index in argv of the script, or 0 when there is none */
  int n_exec; /* how many -e chunks */
  int version, help, quiet, dry_run, no_strict, full_refresh;
  const char *log_level, *log_format, *summary_json, *metrics_file, *since, *partition_text;
  se_partition partition; /* from partition_text or the environment (count 0: none) */
};

/* How the process ends, for --summary-json: the exit code and, for a
 * failure, its kind (a key of salesengine.exit_codes), message (secrets
 * masked; no traceback) and short code (may be empty). */
struct outcome {
  int code;
  char kind[32];
  char fcode[64];
  char *message; /* malloc'd, or NULL */
};

/* Records a failure in out (message copied up to its traceback, if any). */
static void set_outcome(struct outcome *out, int code, const char *kind, const char *message, const char *fcode) {
  out->code = code;
  snprintf(out->kind, sizeof out->kind, "%s", kind);
  snprintf(out->fcode, sizeof out->fcode, "%s", fcode ? fcode : "");
  free(out->message);
  const char *trace = message ? strstr(message, "\nstack traceback:") : NULL;
  size_t n = message ? (trace ? (size_t)(trace - message) : strlen(message)) : 0;
  out->message = malloc(n + 1);
  if (out->message) {
    memcpy(out->message, message ? message : "", n);
    out->message[n] = '\0';
  }
}

/* Matches argv[*i] against option name; a value comes as "--name=value" or as
 * the next argument. Returns 1 on a match (value stored, *i advanced), 0 when
 * it is another option, -1 when the value is missing. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *value = argv[++*i];
  return 1;
}

/* Fills o from argv; returns 0, or -1 after printing a usage error (kept in
 * out). The options after a mistake are still read (an unknown one as a
 * flag), so that --summary-json is known whatever came before it. */
static int parse_args(int argc, char **argv, struct options *o, struct outcome *out) {
  int status = 0;
  char msg[256];
  static const char *const flags[] = {"-v",      "--version", "-h",          "--help",
                                      "--quiet", "--dry-run", "--no-strict", "--full-refresh"};
  int *const flag_vars[] = {&o->version, &o->version, &o->help,      &o->help,
                            &o->quiet,   &o->dry_run, &o->no_strict, &o->full_refresh};
  struct {
    const char *name;
    const char **value;
  } const valued[] = {
      {"--log-level", &o->log_level},
      {"--log-format", &o->log_format},
      {"--summary-json", &o->summary_json},
      {"--metrics-file", &o->metrics_file},
      {"--since", &o->since},
      {"--partition", &o->partition_text}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) o->script = i + 1;
      return status;
    }
    if (strcmp(a, "-") == 0 || a[0] != '-') {
      o->script = i;
      return status;
    }
    if (strcmp(a, "-e") == 0) {
      if (++i >= argc) goto missing;
      o->n_exec++;
      continue;
    }
    int matched = 0;
    for (size_t k = 0; k < sizeof flags / sizeof flags[0] && !matched; k++)
      if (strcmp(a, flags[k]) == 0) matched = *flag_vars[k] = 1;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !matched; k++)
      if ((matched = take_value(argc, argv, &i, valued[k].name, valued[k].value)) < 0) goto missing;
    if (matched || status != 0) continue;
    snprintf(msg, sizeof msg, "unknown option '%s'", a);
    fprintf(stderr, PROGNAME ": %s\n", msg);
    print_usage(stderr);
    set_outcome(out, EXIT_USAGE, "usage", msg, NULL);
    status = -1;
    continue;
  missing:
    if (status != 0) return status;
    snprintf(msg, sizeof msg, "option '%s' needs an argument", a);
    fprintf(stderr, PROGNAME ": %s\n", msg);
    set_outcome(out, EXIT_USAGE, "usage", msg, NULL);
    return -1;
  }
  return status;
}

/* Applies the logging options and publishes the run options to Lua as the
 * registry table "salesengine.options" (read by salesengine.sys.options()). */
static void apply_options(lua_State *L, const struct options *o) {
  se_logger *lg = se_lua_logger(L);
  if (o->log_level) {
    int lv = se_log_level_parse(o->log_level);
    if (lv < 0) luaL_error(L, "unknown log level '%s' (debug, info, warn, error or off)", o->log_level);
    lg->min_level = (se_log_level)lv;
  } else if (o->quiet) {
    lg->min_level = SE_LOG_WARN;
  }
  if (o->log_format) {
    int fm = se_log_format_parse(o->log_format);
    if (fm < 0) luaL_error(L, "unknown log format '%s' (logfmt or json)", o->log_format);
    lg->format = (se_log_format)fm;
  }
  lua_createtable(L, 0, 8);
  lua_pushboolean(L, o->quiet);
  lua_setfield(L, -2, "quiet");
  lua_pushboolean(L, o->dry_run);
  lua_setfield(L, -2, "dry_run");
  lua_pushboolean(L, o->full_refresh);
  lua_setfield(L, -2, "full_refresh");
  lua_pushboolean(L, !o->no_strict);
  lua_setfield(L, -2, "strict");
  if (o->summary_json) {
    lua_pushstring(L, o->summary_json);
    lua_setfield(L, -2, "summary_json");
  }
  if (o->metrics_file) {
    lua_pushstring(L, o->metrics_file);
    lua_setfield(L, -2, "metrics_file");
  }
  if (o->since) {
    lua_pushstring(L, o->since);
    lua_setfield(L, -2, "since");
  }
  if (o->partition.count > 0) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, o->partition.index);
    lua_setfield(L, -2, "index");
    lua_pushinteger(L, o->partition.count);
    lua_setfield(L, -2, "count");
    lua_setfield(L, -2, "partition");
  }
  lua_setfield(L, LUA_REGISTRYINDEX, "salesengine.options");
}

/* Message handler: a salesengine.fail() error (a table with exit_code) is an
 * expected failure and passes through untouched; anything else is a bug in
 * the script or engine and gets a traceback. */
static int msghandler(lua_State *L) {
  /* No collection until docall has unwound the stack: the script's __close
   * handlers run before any finalizer the error's handling would trigger. */
  lua_gc(L, LUA_GCSTOP);
  if (lua_type(L, 1) == LUA_TTABLE) {
    if (lua_getfield(L, 1, "exit_code") == LUA_TNUMBER) {
      lua_settop(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Prints the error on the stack top, records it in out (kind `kind` unless
 * it is a salesengine.fail() error, which carries its own) and returns the
 * exit code to use. */
static int report(lua_State *L, struct outcome *out, int code, const char *kind) {
  const char *msg, *fcode = NULL;
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "exit_code");
    code = (int)lua_tointeger(L, -1);
    lua_getfield(L, -2, "kind");
    kind = lua_tostring(L, -1) ? lua_tostring(L, -1) : kind;
    lua_getfield(L, -3, "code");
    fcode = lua_tostring(L, -1);
    lua_getfield(L, -4, "message");
    msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "failed";
  } else {
    msg = lua_tostring(L, -1);
  }
  char *owned = NULL;
  const char *shown = msg == NULL ? "(error object is not a string)" : se_secrets_mask(msg, &owned);
  fprintf(stderr, PROGNAME ": %s\n", shown);
  fflush(stderr);
  set_outcome(out, code, kind, shown, fcode);
  free(owned);
  return code;
}

/* Builds the global arg table the way lua.c does: the script at 0, its
 * arguments at 1.., the interpreter and options at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  int base = script > 0 ? script : argc;
  lua_createtable(L, argc - base, base + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - base);
  }
  lua_setglobal(L, "arg");
}

/* Puts the script's folder first on package.path so that pipeline.lua can
 * require "transform" from beside it, wherever it is run from. */
static void add_script_dir_to_path(lua_State *L, const char *script) {
  const char *slash = strrchr(script, '/');
  lua_getglobal(L, "package");
  if (slash == NULL) {
    lua_pushstring(L, "./?.lua;./?/init.lua;");
  } else {
    size_t dirlen = (size_t)(slash - script);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, script, dirlen);
    luaL_addstring(&b, "/?.lua;");
    luaL_addlstring(&b, script, dirlen);
    luaL_addstring(&b, "/?/init.lua;");
    luaL_pushresult(&b);
  }
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

/* Calls the function below its nargs arguments under the message handler;
 * returns a lua_pcall status. */
static int docall(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  int collecting = lua_gc(L, LUA_GCISRUNNING);
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (status != LUA_OK && collecting) lua_gc(L, LUA_GCRESTART); /* msghandler stopped it */
  return status;
}

/* Gives the chunk on the stack top a strict environment (salesengine.strict):
 * undefined globals raise instead of reading as nil; so do they in the
 * modules it requires from its folder (strict.cover_folder), unless script
 * is NULL (read from standard input). Returns a lua_pcall status; on error
 * the message replaces the chunk. */
static int set_strict_env(lua_State *L, const char *script) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine.strict");
  int status = docall(L, 1, 1);
  if (status == LUA_OK && script != NULL) {
    lua_getfield(L, -1, "cover_folder");
    const char *slash = strrchr(script, '/');
    if (slash == NULL)
      lua_pushliteral(L, ".");
    else
      lua_pushlstring(L, script, (size_t)(slash - script));
    status = docall(L, 1, 0);
    if (status != LUA_OK) lua_remove(L, -2); /* the module table: the chunk and the message stay */
  }
  if (status == LUA_OK) {
    lua_getfield(L, -1, "env");
    lua_remove(L, -2);
    status = docall(L, 0, 1);
  }
  if (status != LUA_OK) {
    lua_remove(L, -2);
    return status;
  }
  lua_setupvalue(L, -2, 1); /* a main chunk's first upvalue is _ENV */
  return LUA_OK;
}

/* Runs `salesengine state ARGS...`: calls require("salesengine.state_cli")
 * .main{ARGS...}; its integer result, if any, becomes *exit_code. */
static int run_state_command(lua_State *L, char **argv, int argc, int first, int *exit_code) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine.state_cli");
  int status = docall(L, 1, 1);
  if (status != LUA_OK) return status;
  lua_getfield(L, -1, "main");
  lua_remove(L, -2);
  lua_createtable(L, argc - first, 0);
  for (int i = first; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - first + 1);
  }
  status = docall(L, 1, 1);
  if (status == LUA_OK) {
    *exit_code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : EXIT_OK;
    lua_pop(L, 1);
  }
  return status;
}

/* Loads and runs the script named by argv[o->script] with its arguments. */
static int run_script(lua_State *L, char **argv, int argc, const struct options *o) {
  const char *fname = argv[o->script];
  int is_stdin = strcmp(fname, "-") == 0 && strcmp(argv[o->script - 1], "--") != 0;
  if (!is_stdin) add_script_dir_to_path(L, fname);
  int status = luaL_loadfile(L, is_stdin ? NULL : fname);
  if (status == LUA_OK && !o->no_strict) status = set_strict_env(L, is_stdin ? NULL : fname);
  if (status != LUA_OK) return status;
  int nargs = argc - o->script - 1;
  luaL_checkstack(L, nargs, "too many script arguments");
  for (int i = o->script + 1; i < argc; i++)
    lua_pushstring(L, argv[i]);
  return docall(L, nargs, 0);
}

#define SE_GC_PAUSE 150 /* percent: see pmain */

/* The protected main: everything that touches Lua runs in here. Arguments
 * come as light userdata; the exit code is returned as an integer. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  const struct options *o = lua_touserdata(L, 3);
  struct outcome *out = lua_touserdata(L, 4);

  luaL_checkversion(L);
  /* The collector starts a cycle when the heap has grown by half since the
   * last (Lua's default: doubled). Each record costs the runner few tables
   * of its own, and the parsed pages and batches behind the records are
   * large: with the default, a paged run held 75 - 79 MiB at 1,000,000
   * records, with this 57 MiB (about 60 with large pages, see main), at the
   * same speed (docs/performance.md). A script may set its own with
   * collectgarbage("incremental", pause). */
  lua_gc(L, LUA_GCINC, SE_GC_PAUSE, 0, 0);
  luaL_openlibs(L);
  se_open_modules(L);
  lua_getglobal(L, "require"); /* indexing a JSON null says so (salesengine.null) */
  lua_pushliteral(L, "salesengine.null");
  lua_call(L, 1, 0);
  apply_options(L, o);
  create_arg_table(L, argv, argc, o->script);
  se_signals_install(L);

  int last = o->script ? o->script : argc;
  for (int i = 1; i < last; i++) {
    if (strcmp(argv[i], "-e") != 0) continue;
    i++;
    if (luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)") != LUA_OK ||
        docall(L, 0, 0) != LUA_OK) {
      lua_pushinteger(L, report(L, out, EXIT_SCRIPT, "script"));
      return 1;
    }
  }
  int code = EXIT_OK;
  int status = LUA_OK;
  if (o->script && strcmp(argv[o->script], "state") == 0 && strcmp(argv[o->script - 1], "--") != 0)
    status = run_state_command(L, argv, argc, o->script + 1, &code);
  else if (o->script)
    status = run_script(L, argv, argc, o);
  if (status != LUA_OK) {
    if (se_signals_received())
      se_log(se_lua_logger(L), SE_LOG_WARN, "run interrupted; work not yet committed is rolled back", NULL,
             0);
    lua_pushinteger(L, report(L, out, EXIT_SCRIPT, "script"));
    return 1;
  }
  lua_pushinteger(L, code);
  return 1;
}

/* Protected: require("salesengine.metrics").write(path, exit code, seconds). */
static int pwrite_metrics(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine.metrics");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "write");
  lua_insert(L, 1);
  lua_settop(L, 4);
  lua_call(L, 3, 0);
  return 0;
}

/* Writes the --metrics-file for a run that ended with code after seconds;
 * a failure is reported on stderr (the run's exit code stands). */
static void write_metrics(lua_State *L, const char *path, int code, double seconds) {
  lua_settop(L, 0);
  lua_pushcfunction(L, pwrite_metrics);
  lua_pushstring(L, path);
  lua_pushinteger(L, code);
  lua_pushnumber(L, seconds);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, PROGNAME ": cannot write the metrics file: %s\n", msg ? msg : "error");
  }
}

/* Protected: require("salesengine.etl_summary").write_final(path, exit code,
 * error {kind, message, code} or nil, seconds); the outcome comes as light
 * userdata. */
static int pwrite_summary(lua_State *L) {
  const struct outcome *out = lua_touserdata(L, 1);
  const char *path = lua_tostring(L, 2);
  lua_Number seconds = lua_tonumber(L, 3);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "salesengine.etl_summary");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "write_final");
  lua_pushstring(L, path);
  lua_pushinteger(L, out->code);
  if (out->code != EXIT_OK && out->message != NULL) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, out->kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, out->message);
    lua_setfield(L, -2, "message");
    if (out->fcode[0] != '\0') {
      lua_pushstring(L, out->fcode);
      lua_setfield(L, -2, "code");
    }
  } else {
    lua_pushnil(L);
  }
  lua_pushnumber(L, seconds);
  lua_call(L, 4, 0);
  return 0;
}

/* Writes the --summary-json file for the process's outcome after seconds;
 * a failure is reported on stderr (the run's exit code stands). */
static void write_summary(lua_State *L, const char *path, const struct outcome *out, double seconds) {
  lua_settop(L, 0);
  lua_pushcfunction(L, pwrite_summary);
  lua_pushlightuserdata(L, (void *)out);
  lua_pushstring(L, path);
  lua_pushnumber(L, seconds);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, PROGNAME ": cannot write the summary file: %s\n", msg ? msg : "error");
  }
}

/* The Lua state's allocator: lauxlib's, but a new block comes from malloc
 * rather than realloc(NULL, n), which mimalloc serves by a longer path (the
 * Lua thread's allocations cost about 40 instructions less each). */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return ptr == NULL ? malloc(nsize) : realloc(ptr, nsize);
}

/* Seconds on a clock that never jumps. */
static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ends the process before a script ran (a usage error, a failed start):
 * writes --summary-json and --metrics-file (as every exit does) from a Lua
 * state of their own; returns out->code. */
static int early_exit(const struct options *o, struct outcome *out, double started) {
  if (o->summary_json || o->metrics_file) {
    lua_State *L = luaL_newstate();
    if (L == NULL) {
      fputs(PROGNAME ": cannot write the summary or metrics file: not enough memory\n", stderr);
    } else {
      luaL_openlibs(L);
      se_open_modules(L);
      double seconds = monotonic_seconds() - started;
      if (o->summary_json) write_summary(L, o->summary_json, out, seconds);
      if (o->metrics_file) write_metrics(L, o->metrics_file, out->code, seconds);
      lua_close(L);
    }
  }
  free(out->message);
  return out->code;
}

/* getenv for se_partition_resolve. */
static const char *env_value(const char *name) {
  return getenv(name);
}

/* Resolves o->partition from --partition or the environment; 0, or -1
 * after printing a usage error (kept in out). */
static int resolve_partition(struct options *o, struct outcome *out) {
  char why[256];
  if (se_partition_resolve(o->partition_text, env_value, &o->partition, why, sizeof why) == 0) return 0;
  fprintf(stderr, PROGNAME ": %s\n", why);
  set_outcome(out, EXIT_USAGE, "usage", why, NULL);
  return -1;
}

#ifdef SE_MIMALLOC
/* Memory from the system in 2 MiB pages where the kernel offers them
 * (transparent huge pages): a run touches its heap once, and a fault per
 * 4 KiB page cost a 100,000-record run about a tenth of its CPU time
 * (docs/performance.md). Set from .preinit_array, which runs before the
 * libraries' initialisers, so that it holds for mimalloc's first segment
 * (the Lua heap) too; MIMALLOC_LARGE_OS_PAGES=0 turns it off. */
static void prefer_large_pages(int argc, char **argv, char **envp) {
  (void)argc, (void)argv, (void)envp;
  mi_option_set_default(mi_option_large_os_pages, 1);
}
__attribute__((section(".preinit_array"), used)) static void (*const se_preinit)(int, char **, char **) =
    prefer_large_pages;
#endif

int main(int argc, char **argv) {
  struct options o = {0};
  struct outcome out = {0};
  double started = monotonic_seconds();
  if (parse_args(argc, argv, &o, &out) != 0) return early_exit(&o, &out, started);
  if (o.help) {
    print_usage(stdout);
    return EXIT_OK;
  }
  if (o.version) {
    printf(PROGNAME " %s (%s, %s)\n", SE_VERSION, LUA_RELEASE, se_http_library_version());
    if (o.script == 0 && o.n_exec == 0) return EXIT_OK;
  }
  if (resolve_partition(&o, &out) != 0) return early_exit(&o, &out, started);
  if (o.script == 0 && o.n_exec == 0) {
    print_usage(stderr);
    set_outcome(&out, EXIT_USAGE, "usage", "no script given", NULL);
    return early_exit(&o, &out, started);
  }
#ifdef SE_MIMALLOC
  /* How long mimalloc keeps freed pages before returning them (its own
   * MIMALLOC_DECOMMIT_DELAY, in ms, wins when set). A returned page that is
   * used again faults back in (in a virtual machine a fault is dear), and
   * each return costs a TLB shootdown across the threads (fetch worker,
   * upsert writer). With 2,000-record stream batches, one-body runs of
   * 1,000,000 records took about 60,000 page faults and 1.0 s of system time
   * with 25 ms (mimalloc's default), 12,000 and 0.35 s with 200 ms, for 5 MiB
   * more peak RSS (docs/performance.md). */
  if (getenv("MIMALLOC_DECOMMIT_DELAY") == NULL) mi_option_set(mi_option_decommit_delay, 200);
#else
  /* With glibc's malloc: buffers of a megabyte or more (response bodies,
   * JSON tapes, batches) get their own mappings, returned to the system
   * when freed. Without a fixed threshold glibc raises it to the largest
   * block freed so far, and such buffers then fragment the heap: about
   * 6 MiB more peak RSS in the benchmark of docs/performance.md. */
  mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
  if (se_http_global_init() != 0) {
    fputs(PROGNAME ": cannot initialise libcurl\n", stderr);
    set_outcome(&out, EXIT_SCRIPT, "script", "cannot initialise libcurl", NULL);
    return early_exit(&o, &out, started);
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fputs(PROGNAME ": cannot create the Lua state: not enough memory\n", stderr);
    se_http_global_cleanup();
    free(out.message);
    return EXIT_SCRIPT;
  }
  lua_setallocf(L, lua_alloc, NULL); /* the same malloc underneath: blocks pass between the two */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &o);
  lua_pushlightuserdata(L, &out);
  int code;
  if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
    code = report(L, &out, EXIT_USAGE, "usage"); /* only option errors fail outside docall */
  } else {
    code = (int)lua_tointeger(L, -1);
  }
  out.code = code;
  double seconds = monotonic_seconds() - started;
  if (o.summary_json) write_summary(L, o.summary_json, &out, seconds);
  if (o.metrics_file) write_metrics(L, o.metrics_file, code, seconds);
  lua_close(L);
  se_http_global_cleanup();
  free(out.message);
  return code;
}
