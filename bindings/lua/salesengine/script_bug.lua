--- salesengine.script_bug: tells a bug in a pipeline's script from a verdict
-- on the data, for the errors a transform raises (salesengine.etl).
--
-- A verdict on the data makes the record a reject and the run goes on:
--   * a structured error of salesengine.transform (the helpers' field errors,
--     tx.fail), or any table error (`error({field =, message =})`);
--   * a message the script raised itself (`error("no such channel")`).
-- A Lua runtime error is a bug in the script, which ends the run (exit 1,
-- the message with the file and line, and a traceback; nothing is loaded and
-- no reject is written for it):
--   * at once when it cannot come from the data: an undefined global (strict
--     globals), or calling a value that is not a function (`tx.decmal(...)`,
--     `undefined_helper(rec)` under --no-strict);
--   * when it is systematic, for the others (`attempt to index a nil value`,
--     `attempt to perform arithmetic on ...`, `attempt to concatenate ...`,
--     `attempt to compare ...`, `bad argument #1 to 'upper' ...`, ...), which
--     a record missing a member can cause too: when the first SUSPECTS
--     records the transform sees all fail with the same message at the same
--     line (or every record of a shorter run does). Once a record has passed
--     the transform, or failed otherwise, such errors are rejects.
-- docs/lua-api.md ("Script bugs and bad data") documents the rule.
local M = {}

--- How many first records failing alike make a runtime error a bug.
M.SUSPECTS = 10

-- Runtime errors that no record can cause in a correct script.
local CERTAIN = { "^undefined global '", "^assignment to undefined global '", "^attempt to call a " }

-- Messages of the Lua runtime and standard library (after "file:line: ").
local RUNTIME = { "^attempt to ", "^bad argument #%d+ to ", "number has no integer representation",
  "^'for' %a+ ", "^table index is ", "^invalid value %(at index ", "^wrong number of arguments to ",
  "^position out of bounds", "^invalid key to 'next'", "stack overflow", "^string length overflow",
  "^invalid option '" }

local Bug = {}
Bug.__index = Bug
Bug.__tostring = function(b) return b.message end

-- The first Lua function (at or above level) with a current line, as "source:line: ".
local function position(level)
  while true do
    local info = debug.getinfo(level + 1, "Sl")
    if info == nil then
      return ""
    elseif info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
    level = level + 1
  end
end

-- The kind of runtime error text msg is (its "file:line: " position
-- stripped): "certain", "suspect", or nil when it is no runtime error.
local function runtime_kind(msg)
  local text = msg:gsub("^[^\n]-:%d+: ", "", 1)
  for _, p in ipairs(CERTAIN) do
    if text:find(p) then
      return "certain"
    end
  end
  for _, p in ipairs(RUNTIME) do
    if text:find(p) then
      return "suspect"
    end
  end
  return nil
end

--- The xpcall message handler for a transform: a Lua runtime error becomes a
-- bug report {message = "transform.lua:12: ...", traceback = "stack
-- traceback: ..." (down to the transform's caller), certain = boolean};
-- any other error value is returned as it is.
function M.handler(err)
  if type(err) ~= "string" then
    return err
  end
  local kind = runtime_kind(err)
  if kind == nil then
    return err
  end
  local message = err
  if not message:find("^[^\n]-:%d+: ") then -- raised in a C function: say where the script called it
    message = position(2) .. message
  end
  local trace = debug.traceback("", 2):gsub("^\n", "")
  trace = trace:gsub("\n%s*%[C%]: in function 'xpcall'.*$", "")
  -- the frames above the script's line (error, strict's metamethod) say nothing to the analyst
  local at = trace:find("\n\t" .. message:match("^[^\n]-:%d+:"), 1, true)
  if at then
    trace = "stack traceback:" .. trace:sub(at)
  end
  return setmetatable({ message = message, traceback = trace, certain = kind == "certain" }, Bug)
end

--- True when e is a bug report made by handler.
function M.is_bug(e)
  return getmetatable(e) == Bug
end

local Watch = {}
Watch.__index = Watch

--- Watches the first records of a run. reject(r): makes r a reject (called
-- for the records held back while undecided). Fields: watching (false once
-- a record has passed the transform or failed otherwise).
function M.watch(reject)
  return setmetatable({ reject = reject, held = {}, watching = true }, Watch)
end

-- Rejects the records held back and stops watching.
function Watch:release()
  local held = self.held
  self.held, self.watching = {}, false
  for _, h in ipairs(held) do
    self.reject(h.r)
  end
end

--- A record passed the transform (call only while watching).
function Watch:passed()
  self:release()
end

-- The report of a bug found by the rule; because: which records it hit.
local function systematic(bug, because)
  return setmetatable({ message = bug.message, traceback = bug.traceback, because = because }, Bug)
end

--- The transform raised err for the reject r would be. Returns the bug
-- report when the run must end as a script error; otherwise r has been
-- made a reject, or is held back until the rule decides.
function Watch:failed(err, r)
  if not M.is_bug(err) then
    if self.watching then
      self:release()
    end
    self.reject(r)
    return nil
  end
  if err.certain then
    return err
  end
  if self.watching then
    local first = self.held[1]
    if first == nil or first.bug.message == err.message then
      self.held[#self.held + 1] = { r = r, bug = err }
      if #self.held >= M.SUSPECTS then
        return systematic(err, string.format("the first %d records all failed here the same way", #self.held))
      end
      return nil
    end
    self:release()
  end
  self.reject(r)
  return nil
end

--- The run's records are all through the transform: the bug report when
-- every one failed with the same runtime error, else nil (the records held
-- back are rejects now).
function Watch:finish()
  local first = self.held[1]
  if first ~= nil then
    return systematic(first.bug, #self.held == 1 and "the run's only record failed here"
      or string.format("all %d records of the run failed here the same way", #self.held))
  end
  self:release()
  return nil
end

return M
