--- salesengine.option_check: the one checker of option names, for the Lua
-- library (etl.run and its sink, incremental, salesengine.paginate) and for
-- the C modules (http, pg), which call it through se_check_options. A name a function does not know
-- raises in Lua's own misuse form:
--
--   pipeline.lua:12: bad argument #1 to 'run' (unknown option 'max_reject'); did you mean 'max_rejects'?
--
-- It also holds the option names of salesengine.http, by function, so that
-- paginate knows which options it passes on to http.get_json.
local M = {}

--- The set of the names in lists of names ({"a", "b"}) and other sets
-- ({a = true, retry = {...}}): set({"a"}, {b = true}) -> {a = true, b = true}.
-- In a set, a name that maps to another set is an option holding a table of
-- those names (check looks inside it).
local function set(...)
  local out = {}
  for _, names in ipairs({ ... }) do
    for k, v in pairs(names) do
      if type(k) == "string" then
        out[k] = v
      else
        out[v] = true
      end
    end
  end
  return out
end
M.set = set

-- Options every request-shaped table of salesengine.http may hold (also as defaults).
local SHARED = { "query", "headers", "timeout", "connect_timeout", "max_size", "bearer", "basic", "retry",
  "ca_file", "insecure", "max_redirects", "credential_headers", "allow_insecure_redirect" }

--- The option names of salesengine.http's functions: request (and fetch_all
-- items), get, get_json, defaults (http.new), batch (fetch_all's second
-- argument), records; retry: the fields of the retry option.
local RETRY = set({ "attempts", "base_delay", "multiplier", "max_delay", "budget", "jitter" })
SHARED = set(SHARED, { retry = RETRY })
--- The option names of salesengine.json's decode options (also http's
-- `json` option) and of salesengine.log.configure.
M.JSON = { decode = set({ "records", "fields", "reader" }) }
M.LOG = { configure = set({ "level", "format", "progress_line" }) }

M.HTTP = {
  request = set(SHARED, { "method", "url", "body" }),
  get = set(SHARED, { "body" }),
  get_json = set(SHARED, { "body", json = M.JSON.decode }),
  defaults = SHARED,
  batch = set(SHARED, { "concurrency", json = M.JSON.decode }),
  records = set(SHARED, { "records", "fields", "batch", "project" }),
}

--- The option names of salesengine.pg: connect, a connection's upsert and
-- upsert_writer.
local UPSERT = { "key", "columns", "update", "set", "skip_unchanged", "batch_size", "empty_as", "first_row" }
M.PG = {
  connect = set({ "reconnect_attempts", "reconnect_delay", "reconnect_max_delay" }),
  upsert = set(UPSERT, { "commit_every" }),
  upsert_writer = set(UPSERT, { "batch_bytes", "on_refused", "copy_new_keys", "copy_binary" }),
}

-- Levenshtein distance between a and b, giving up (math.huge) past limit.
local function distance(a, b, limit)
  if math.abs(#a - #b) > limit then
    return math.huge
  end
  local prev = {}
  for j = 0, #b do
    prev[j] = j
  end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- The allowed name closest to name (at most 2 edits, or the same but for
-- case), or nil.
local function closest(name, allowed)
  local best, best_d = nil, 3
  for candidate in pairs(allowed) do
    local d = candidate:lower() == name:lower() and 0 or distance(name, candidate, 2)
    if d < best_d or (d == best_d and best and candidate < best) then
      best, best_d = candidate, d
    end
  end
  return best
end

-- The complaint about the first name of opts (or of a table inside it that
-- allowed describes) that allowed does not have, or nil.
local function complaint(opts, allowed, prefix)
  for k, v in pairs(opts) do
    local known = allowed[k]
    if type(k) ~= "string" then
      return string.format("(option names must be strings, got %s)", type(k))
    elseif not known then
      local near = closest(k, allowed)
      return string.format("(unknown option '%s%s')", prefix, k)
        .. (near and string.format("; did you mean '%s%s'?", prefix, near) or "")
    elseif type(known) == "table" and type(v) == "table" then
      local inner = complaint(v, known, prefix .. k .. ".")
      if inner then
        return inner
      end
    end
  end
  return nil
end

--- Raises Lua's misuse form for a bad option value (key nil: a complaint
-- about the argument as a whole), at level as check's:
--   bad argument #ARG to 'FN' (option 'KEY': WHAT)
function M.bad_value(fn, arg, key, what, level)
  local text = key and string.format("option '%s': %s", key, what) or what
  error(string.format("bad argument #%d to '%s' (%s)", arg, fn, text), (level or 1) + 1)
end

--- err, a mistake found while checking argument arg of fn (with or without
-- the position of the check), in Lua's misuse form without a position:
-- "bad argument #ARG to 'FN' (...)". A message already in that form stays.
function M.misuse_message(fn, arg, err)
  local msg = tostring(err):gsub("^[^:\n]*:%d+: ", "")
  return msg:find("^bad argument") and msg or string.format("bad argument #%d to '%s' (%s)", arg, fn, msg)
end

--- The name of the type of v for "X expected, got T" ("no value" for nil).
function M.typename(v)
  return v == nil and "no value" or type(v)
end

--- Raises unless every key of opts is a string in the set allowed (and,
-- for a name that allowed maps to a set, every key of a table given there):
--   bad argument #ARG to 'FN' (unknown option 'PREFIXname')[; did you mean 'PREFIXother'?]
--   bad argument #ARG to 'FN' (option names must be strings, got number)
-- level: as error()'s, counted from the function that calls check (1: the
-- position of that function, 2: of its caller; a C function has none, as in
-- luaL_argerror's messages). prefix: how the enclosing option is named in
-- the message ("sink.", "sinks[2]."), default "". Returns opts.
function M.check(opts, allowed, fn, arg, level, prefix)
  local what = complaint(opts, allowed, prefix or "")
  if what then
    error(string.format("bad argument #%d to '%s' %s", arg, fn, what), (level or 1) + 1)
  end
  return opts
end

return M
