--- salesengine.etl_progress: the live progress line of salesengine.etl.
-- One line on stderr, rewritten in place with "\r" (pages, records,
-- records/s, rejects, elapsed), at most every `interval` seconds. Only when
-- enabled (stderr is a terminal and --quiet is not given); otherwise every
-- call does nothing.
local M = {}

local Progress = {}
Progress.__index = Progress

--- A progress line. opts: enabled (boolean), name (pipeline name), clock
-- (function returning seconds), out (a file; default io.stderr), interval
-- (seconds between redraws; default 0.2).
function M.new(opts)
  local now = opts.clock()
  return setmetatable({
    enabled = opts.enabled, name = opts.name, clock = opts.clock, out = opts.out or io.stderr,
    interval = opts.interval or 0.2, started = now, last = nil, shown = false,
  }, Progress)
end

--- The text of the line for counts c = {pages, records, rejected} at elapsed seconds.
function M.format(name, c, elapsed)
  local rate = elapsed > 0 and c.records / elapsed or 0
  return string.format("%s: pages=%d records=%d (%.0f/s) rejects=%d elapsed=%.1fs", name, c.pages, c.records,
    rate, c.rejected, elapsed)
end

-- Tells the logger whether the line is on screen, so that its lines (the C
-- engine's included) erase it first.
local function set_shown(self, shown)
  self.shown = shown
  require("salesengine.log").configure({ progress_line = shown })
end

-- Writes the line now.
function Progress:draw(c)
  local now = self.clock()
  self.last = now
  set_shown(self, true)
  self.out:write("\r", M.format(self.name, c, now - self.started), "\27[K")
  self.out:flush()
end

--- Redraws the line with counts c unless it was drawn less than `interval` ago.
function Progress:update(c)
  if not self.enabled then
    return
  end
  if self.last == nil or self.clock() - self.last >= self.interval then
    self:draw(c)
  end
end

--- Erases the line (before a log line is written); the next update redraws it.
function Progress:clear()
  if self.enabled and self.shown then
    self.out:write("\r\27[K")
    self.out:flush()
    set_shown(self, false)
    self.last = nil
  end
end

--- Draws the final counts and ends the line.
function Progress:finish(c)
  if not self.enabled then
    return
  end
  self:draw(c)
  self.out:write("\n")
  self.out:flush()
  set_shown(self, false)
end

return M
