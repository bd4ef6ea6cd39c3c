--- salesengine: the engine's top-level Lua module.
-- Exit codes, and fail() for expected failures that should end the run with
-- a clear one-line message and a specific exit code (no traceback).
local sys = require "salesengine.sys"

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

--- Reads a required environment variable; a missing or empty one ends the
-- run with the usage exit code and a message naming it.
function M.getenv(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    M.fail("usage", "environment variable " .. name .. " is not set")
  end
  return v
end

return M
