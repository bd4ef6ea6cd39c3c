--- salesengine: the engine's top-level Lua module.
-- Exit codes, and fail() for expected failures that should end the run with
-- a clear one-line message and a specific exit code (no traceback).
local sys = require "salesengine.sys"
local log = require "salesengine.log"

local M = {}

M.version = sys.version

--- Exit codes of the salesengine command (docs/lua-api.md).
M.exit_codes = {
  ok = 0,
  script = 1,     -- an error in the script or engine (a bug): message with traceback
  usage = 2,      -- bad command line or configuration (e.g. a missing variable)
  extract = 3,    -- the source could not be read
  load = 4,       -- the database refused or could not be reached
  rejects = 5,    -- more rejected records than max_rejects allows
  interrupted = 130,
}

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

--- Ends the run: raises an error that the host prints as
-- "salesengine: MESSAGE" and turns into the exit code of KIND.
-- kind: a key of exit_codes; message: string; code: optional short code.
function M.fail(kind, message, code)
  local exit_code = M.exit_codes[kind]
  if type(exit_code) ~= "number" or exit_code == 0 then
    error("salesengine.fail: unknown failure kind '" .. tostring(kind) .. "'", 2)
  end
  error(setmetatable({ kind = kind, message = tostring(message), code = code, exit_code = exit_code },
    Failure), 0)
end

--- True when e is an error raised by fail().
function M.is_failure(e)
  return getmetatable(e) == Failure
end

--- What getenv and secret return in a dry run for an unset variable whose
-- name ends in _DSN. Not a connection string: nothing can connect with it.
M.DRY_RUN_DSN = "(dry run: no database)"

-- In a dry run (--dry-run), which touches no database, DRY_RUN_DSN for an
-- unset variable whose name ends in _DSN (WAREHOUSE_DSN; logged); nil otherwise.
-- (The engine modules are looked up at the call: salesengine.testing fakes them.)
local function dsn_placeholder(name)
  if not (name:match("_DSN$") and require("salesengine.sys").options().dry_run) then
    return nil
  end
  require("salesengine.log").info("dry run: " .. name .. " is not set; no database is used")
  return M.DRY_RUN_DSN
end

--- Reads a required environment variable; a missing or empty one ends the
-- run with the usage exit code and a message naming it (but a dry run
-- gets DRY_RUN_DSN for a name ending in _DSN).
function M.getenv(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    v = dsn_placeholder(name) or M.fail("usage", "environment variable " .. name .. " is not set")
  end
  return v
end

-- The whole file at path, or nil, message.
local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local text, rerr = f:read("a")
  f:close()
  if text == nil then
    return nil, path .. ": " .. tostring(rerr)
  end
  return text
end

--- Reads a secret: the environment variable NAME, else the contents of the
-- file named by NAME_FILE, else the file $CREDENTIALS_DIRECTORY/NAME (systemd's
-- LoadCredential=); one trailing newline (\n or \r\n) is trimmed from a file.
-- The value is masked as *** in every later log line and error message.
-- A secret that is set nowhere (or is empty), or a NAME_FILE that cannot be
-- read, ends the run with the usage exit code and a message naming it (but
-- a dry run gets DRY_RUN_DSN for a name ending in _DSN set nowhere).
function M.secret(name)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error(string.format("bad argument #1 to 'secret' (%s)", type(name) == "string"
      and "not a variable name: '" .. name .. "'" or "string expected, got " .. type(name)), 2)
  end
  local value, from = os.getenv(name), name
  if value == nil or value == "" then
    local file = os.getenv(name .. "_FILE")
    local dir = os.getenv("CREDENTIALS_DIRECTORY")
    if file ~= nil and file ~= "" then
      from = name .. "_FILE (" .. file .. ")"
    elseif dir ~= nil and dir ~= "" then
      local path = dir .. "/" .. name
      local f = io.open(path, "rb")
      if f then
        f:close()
        file, from = path, "credential " .. path
      end
    end
    if file == nil or file == "" then
      return dsn_placeholder(name) or M.fail("usage", "secret " .. name .. " is not set (set " .. name .. ", "
        .. name .. "_FILE, or a systemd credential " .. name .. ")")
    end
    local text, err = read_file(file)
    if text == nil then
      M.fail("usage", "cannot read secret " .. name .. " from " .. tostring(err))
    end
    value = text:gsub("\r?\n$", "")
  end
  if value == "" then
    M.fail("usage", "secret " .. name .. " is empty (from " .. from .. ")")
  end
  log.add_secret(value)
  return value
end

return M
