#ifndef SE_EMBEDDED_LUA_H
#define SE_EMBEDDED_LUA_H

#include <stddef.h>

/* One Lua module of the engine's Lua-side library, compiled into the binary
 * by tools/embed_lua.cmake. The table ends with an entry whose name is NULL. */
struct se_embedded_module {
  const char *name;      /* module name for require, e.g. "salesengine.etl" */
  const char *chunkname; /* "@salesengine/etl.lua", used in error messages */
  const char *source;    /* its text, or its bytecode (SE_LUA_BYTECODE) */
  size_t size;
};

extern const struct se_embedded_module se_embedded_modules[];

#endif
