--- salesengine.config: a pipeline's settings from environment variables,
-- checked before any work. A mistake ends the run at once with the usage exit
-- code (2) and a message naming the variable; values that may hold secrets
-- (connection strings, URL passwords) are never shown.
--
--   local config = require "salesengine.config"
--   local url = config.url("SALES_API_URL")                 -- required, http(s) with a host
--   local dsn = config.dsn("WAREHOUSE_DSN")                 -- required secret, parsed by libpq
--   local delay = config.number("SALES_RETRY_DELAY", 2, { min = 0 })
--   local max_rejects = config.rejects_limit("SALES_MAX_REJECTS")  -- nil when unset
local se = require "salesengine"
local guard = require "salesengine.guard"

local M = {}

-- The variable's value; nil when unset or empty.
local function value_of(name)
  local v = os.getenv(name)
  if v == "" then
    return nil
  end
  return v
end

local function usage(name, message)
  se.fail("usage", "environment variable " .. name .. " " .. message)
end

local function required(name)
  local v = value_of(name)
  if v == nil then
    usage(name, "is not set")
  end
  return v
end

--- A number from name, or default when unset (nil default: required). opts:
-- min, max (inclusive bounds), integer (true: a whole number).
function M.number(name, default, opts)
  opts = opts or {}
  local text = value_of(name)
  if text == nil then
    if default == nil then
      usage(name, "is not set")
    end
    return default
  end
  local n = tonumber(text)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    usage(name, string.format("must be a number, got %q", text))
  end
  if opts.integer then
    n = math.tointeger(n)
    if n == nil then
      usage(name, string.format("must be a whole number, got %q", text))
    end
  end
  if opts.min ~= nil and n < opts.min then
    usage(name, string.format("must be at least %s, got %q", tostring(opts.min), text))
  end
  if opts.max ~= nil and n > opts.max then
    usage(name, string.format("must be at most %s, got %q", tostring(opts.max), text))
  end
  return n
end

--- An absolute http or https URL with a host from name (required unless default is given).
function M.url(name, default)
  local v = value_of(name) or default or required(name)
  local problem = guard.url_problem(v)
  if problem then
    usage(name, string.format("is not a usable URL (%s): %s", problem, guard.redact_url(v)))
  end
  return v
end

--- A PostgreSQL connection string or URI from name (required; a secret, so
-- also read from name_FILE or a systemd credential: salesengine.secret),
-- parsed by libpq (PQconninfoParse) without connecting; it is kept out of every output.
-- A dry run, which touches no database, needs none: a name ending in _DSN
-- set nowhere is salesengine.DRY_RUN_DSN then (salesengine.secret).
function M.dsn(name)
  local v = se.secret(name)
  if v == se.DRY_RUN_DSN then
    return v
  end
  local problem = guard.dsn_problem(v)
  if problem then
    usage(name, "is not a valid connection string: " .. problem:gsub("^invalid connection string: ", ""))
  end
  return v
end

--- A max_rejects value from name (a count, a fraction below 1 or a percentage
-- such as "1%"), or nil when unset (the runner's default).
function M.rejects_limit(name)
  local v = value_of(name)
  if v == nil then
    return nil
  end
  local ok = pcall(require("salesengine.etl_rejects").parse_limit, v)
  if not ok then
    usage(name, string.format("must be a count (integer >= 0), a fraction (0 <= x < 1) or a percentage " ..
      "such as \"1%%\", got %q", v))
  end
  return v
end

return M
