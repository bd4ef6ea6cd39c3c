--- salesengine.testing: fakes for offline tests of pipeline scripts.
--
--   local testing = require "salesengine.testing"
--   local http = testing.fake_http({ ["http://api/sales"] = { json = { sales = { ... } } } })
--   local db = testing.fake_pg()
--   local r = testing.run_script("scripts/pipeline.lua", {
--     env = { SALES_API_URL = "http://api/sales", WAREHOUSE_DSN = "fake" }, http = http, pg = db })
--   assert.are.equal(0, r.code); assert.are.equal(3, #db:rows("fact_sales"))
--
-- Works inside the salesengine binary and under stock Lua 5.4 (where
-- stub_engine() provides stand-ins for the engine's C modules). Reference: docs/lua-api.md.
local testing_http = require "salesengine.testing_http"
local testing_pg = require "salesengine.testing_pg"

local M = {}

--- A fake salesengine.http serving canned responses (see salesengine.testing_http).
M.fake_http = testing_http.new

--- A fake salesengine.pg with an in-memory database (see salesengine.testing_pg).
M.fake_pg = testing_pg.new

--- A fake salesengine.sys. opts: options (the table sys.options() returns),
-- isatty (boolean; default false), clock (function for monotonic; default
-- os.clock), time (function; default os.time). sleep() only records its argument in .slept.
function M.fake_sys(opts)
  opts = opts or {}
  local sys = { version = "0.0.0-test", slept = {} }
  sys.options = function()
    local copy = { quiet = false, dry_run = false, strict = true }
    for k, v in pairs(opts.options or {}) do
      copy[k] = v
    end
    return copy
  end
  sys.monotonic = opts.clock or os.clock
  sys.time = opts.time or function() return os.time() end
  sys.sleep = function(s) sys.slept[#sys.slept + 1] = s end
  sys.isatty = function() return opts.isatty == true end
  sys.getpid = function() return 4242 end
  return sys
end

local LEVELS = { debug = 1, info = 2, warn = 3, error = 4, off = 5 }

--- A fake salesengine.log that keeps every line in .entries as {level, msg, fields}.
-- find(msg) returns the first entry with that message; messages() lists them.
function M.capture_log()
  local log = { entries = {}, min = "debug", fmt = "logfmt" }
  for level in pairs(LEVELS) do
    log[level] = function(msg, fields)
      assert(type(msg) == "string", "log." .. level .. ": message must be a string")
      if LEVELS[level] >= LEVELS[log.min] then
        local copy = {}
        for k, v in pairs(fields or {}) do
          copy[k] = v
        end
        log.entries[#log.entries + 1] = { level = level, msg = msg, fields = copy }
      end
    end
  end
  log.off = nil
  log.configure = function(c)
    log.min = c.level or log.min
    log.fmt = c.format or log.fmt
  end
  log.level = function() return log.min end
  log.format = function() return log.fmt end
  log.secrets = {}
  log.add_secret = function(value) log.secrets[#log.secrets + 1] = value end
  log.find = function(msg)
    for _, e in ipairs(log.entries) do
      if e.msg == msg then
        return e
      end
    end
    return nil
  end
  log.messages = function()
    local out = {}
    for i, e in ipairs(log.entries) do
      out[i] = e.msg
    end
    return out
  end
  return log
end

local FAKEABLE = { http = "salesengine.http", pg = "salesengine.pg", log = "salesengine.log",
  sys = "salesengine.sys" }

-- True for Lua-side library modules that must be reloaded to see the fakes.
local function reloadable(name)
  return name:match("^salesengine%.") and not name:match("^salesengine%.testing") and name ~= "salesengine.strict"
end

--- Puts fakes in place of the engine modules: fakes = {http =, pg =, log =,
-- sys =} (any subset). The Lua-side library (salesengine.etl and friends) is
-- reloaded on next require so that it sees them. Returns a function that
-- restores everything as it was.
function M.install(fakes)
  local saved = {}
  for name, mod in pairs(package.loaded) do
    if reloadable(name) then
      saved[name] = mod
      package.loaded[name] = nil
    end
  end
  for key, name in pairs(FAKEABLE) do
    if fakes[key] then
      if saved[name] == nil then
        saved[name] = package.loaded[name] or false
      end
      package.loaded[name] = fakes[key]
    end
  end
  return function()
    for name in pairs(package.loaded) do
      if reloadable(name) then
        package.loaded[name] = nil
      end
    end
    for name, mod in pairs(saved) do
      package.loaded[name] = mod or nil
    end
  end
end

--- Under stock Lua (no salesengine binary), makes require "salesengine.sys"
-- and "salesengine.log" find stand-ins (fake_sys, capture_log), and
-- "salesengine.http"/"salesengine.pg" raise a clear error. Does nothing inside
-- the binary. Returns true when it installed the stand-ins.
--- Under stock Lua: salesengine.json's functions the Lua library calls,
-- over cjson (records are plain tables there, so full and member are plain
-- access, and locate finds no record's place; numbers have cjson's precision).
function M.stock_json()
  local cjson = require "cjson"
  return { null = cjson.null, decode = cjson.decode, encode = cjson.encode,
    full = function(record) return record end, member = function(t, name) return rawget(t, name) end,
    locate = function() return nil end,
    locate_all = function(list, n) return table.move(list, 1, n, 1, {}), {} end }
end

--- Under stock Lua: salesengine.guard's checks, without libcurl and libpq:
-- an http(s) URL with a host passes, any connection string passes, and
-- nothing is secret (the fakes hold none).
function M.stock_guard()
  return {
    url_problem = function(url)
      if not url:match("^[%a][%w+.-]*://") then
        return "no scheme"
      elseif not url:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
        return "the scheme is not http or https"
      elseif not url:match("^%a+://[^/?#]+") then
        return "no host"
      end
      return nil
    end,
    dsn_problem = function() return nil end,
    redact_url = function(url) return url end,
    redact = function(v) return v end,
    remember_secret = function() end,
    private_file = function(path)
      local f, err = io.open(path, "a")
      if not f then
        return nil, err
      end
      f:close()
      return true
    end,
  }
end

function M.stub_engine()
  if package.preload["salesengine.sys"] or package.loaded["salesengine.sys"] then
    return false
  end
  package.preload["salesengine.sys"] = function() return M.fake_sys() end
  package.preload["salesengine.log"] = function() return M.capture_log() end
  package.preload["salesengine.json"] = function() return M.stock_json() end
  package.preload["salesengine.guard"] = function() return M.stock_guard() end
  for _, name in ipairs({ "salesengine.http", "salesengine.pg" }) do
    package.preload[name] = function()
      error(name .. " is a C module of the salesengine binary; under stock Lua use salesengine.testing fakes", 2)
    end
  end
  return true
end

-- Runs fn with os.getenv answering from env first (a false value hides the variable).
local function with_env(env, fn)
  local real = os.getenv
  os.getenv = function(name) -- luacheck: ignore 122
    local v = env[name]
    if v == false then
      return nil
    elseif v ~= nil then
      return tostring(v)
    end
    return real(name)
  end
  local results = table.pack(pcall(fn))
  os.getenv = real -- luacheck: ignore 122
  return table.unpack(results, 1, results.n)
end

--- Runs a pipeline script offline, the way the salesengine host would (strict
-- globals in it and in the modules it requires from its folder, the script's
-- folder first on package.path, its arguments as ...).
-- opts: env (variables; false hides one), args (list), http, pg (fakes),
-- options (sys.options(): dry_run, quiet, summary_json), log (default: a new
-- capture_log()), sys (default: fake_sys{options = opts.options}).
-- Returns {code = exit code, error = message or nil, log = the log fake}.
function M.run_script(path, opts)
  opts = opts or {}
  local se = require "salesengine"
  local log = opts.log or M.capture_log()
  local sys = opts.sys or M.fake_sys({ options = opts.options })
  local restore = M.install({ http = opts.http, pg = opts.pg, log = log, sys = sys })
  local dir = path:match("^(.*)/[^/]*$") or "."
  -- modules found beside the script (its transform.lua) load afresh from there
  local loaded_before, shadowed = {}, {}
  for name, mod in pairs(package.loaded) do
    if type(name) == "string" and package.searchpath(name, dir .. "/?.lua") then
      shadowed[name] = mod
      package.loaded[name] = nil
    else
      loaded_before[name] = true
    end
  end
  local old_path = package.path
  package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
  require "salesengine.null" -- as the host does: indexing a JSON null says so
  local strict = require "salesengine.strict"
  local uncover = strict.cover_folder(dir)
  local ok, err = with_env(opts.env or {}, function()
    local chunk = assert(loadfile(path, "t", strict.env()))
    chunk(table.unpack(opts.args or {}))
  end)
  uncover()
  package.path = old_path
  for name in pairs(package.loaded) do
    if not loaded_before[name] then
      package.loaded[name] = nil
    end
  end
  for name, mod in pairs(shadowed) do
    package.loaded[name] = mod
  end
  restore()
  local result = { code = 0, log = log }
  if not ok then
    if se.is_failure(err) then
      result.code, result.error, result.kind = err.exit_code, err.message, err.kind
    else
      result.code, result.error = 1, tostring(err)
    end
  end
  return result
end

return M
