--- salesengine.pg_setup: set-up statements and transaction settings of the
-- runner, shared by the loader, the dead-letter table and etl_state.
local M = {}

-- FNV-1a 64 of "salesengine.setup": the advisory-lock key that serialises
-- set-up statements across sessions (any pipeline, any database).
M.LOCK_KEY = -6252952965621550442

--- Takes the set-up lock of the pipeline named name for the open transaction
-- (pg_advisory_xact_lock on FNV-1a 64 of "salesengine.setup:" .. name): the
-- loader runs a pipeline's setup SQL after it, inside the load transaction, so
-- concurrent runs of one pipeline take turns (the second waits for the first
-- to commit or roll back, then finds the tables made) and a failed run still
-- leaves nothing behind. Returns true or nil, message, code.
function M.lock(conn, name)
  local key = require("salesengine.state").fnv1a64("salesengine.setup:" .. tostring(name))
  local r, e, k = conn:exec("SELECT pg_advisory_xact_lock($1::bigint)", key)
  if not r then
    return nil, e, k
  end
  return true
end

--- Runs sql (set-up statements such as CREATE TABLE IF NOT EXISTS) in a
-- transaction of its own under a transaction-level advisory lock, so that
-- concurrent first runs do not collide in the catalog (two CREATE TABLE IF
-- NOT EXISTS racing fail with a duplicate key in pg_type). Returns true or
-- nil, message, code. Not for use inside an open transaction.
function M.run(conn, sql)
  return conn:transaction(function(c)
    local r, e, k = c:exec("SELECT pg_advisory_xact_lock($1::bigint)", M.LOCK_KEY)
    if not r then
      return nil, e, k
    end
    r, e, k = c:exec(sql)
    if not r then
      return nil, e, k
    end
    return true
  end)
end

-- PostgreSQL's form of a number of seconds: whole milliseconds ("0" = no limit).
local function ms(seconds)
  return string.format("%d", math.floor(seconds * 1000 + 0.5))
end

--- The timeouts of a list of sinks ({options = {lock_timeout =, statement_timeout =}}),
-- in seconds: the smallest each sink asks for, or nil. Raises on a value that is not
-- a number >= 0.
function M.sink_timeouts(sinks)
  local out = {}
  for _, s in ipairs(sinks) do
    for _, name in ipairs({ "lock_timeout", "statement_timeout" }) do
      local v = s.timeouts and s.timeouts[name]
      if v ~= nil then
        assert(type(v) == "number" and v >= 0, "option 'sink." .. name .. "' (sink '" .. s.name ..
          "'): a number of seconds >= 0 expected")
        if out[name] == nil or v < out[name] then
          out[name] = v
        end
      end
    end
  end
  return out
end

--- Applies timeouts (from sink_timeouts) to the open transaction (SET LOCAL).
-- Returns true or nil, message, code.
function M.apply_timeouts(conn, timeouts)
  for _, name in ipairs({ "lock_timeout", "statement_timeout" }) do
    if timeouts[name] then
      local r, e, k = conn:exec("SELECT set_config($1, $2, true)", name, ms(timeouts[name]))
      if not r then
        return nil, e, k
      end
    end
  end
  return true
end

return M
