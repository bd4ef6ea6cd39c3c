--- salesengine.partition: which share of a pipeline this process runs
-- (salesengine --partition I/N, SALESENGINE_PARTITION=I/N, or
-- JOB_COMPLETION_INDEX=I with SALESENGINE_PARTITIONS=N; docs/scale-out.md).
--
-- A page-number source (paginate.page_number) takes the pages p with
-- (p - 1) % N == I; it marks itself as splitting (M.mark), and etl.run
-- refuses to run any other source under a partition (a source that does not
-- split would load everything N times over), except in an incremental
-- pipeline with a timestamp cursor: there partition I takes the records
-- whose cursor falls in its time slots (M.takes_time), under a state row and
-- a lock of its own (salesengine.incremental).
local sys = require "salesengine.sys"

local M = {}

local splitting = setmetatable({}, { __mode = "k" })

--- This process's partition {index = I, count = N}, or nil when the whole pipeline runs.
function M.current()
  return sys.options().partition
end

--- "I/N": how messages name partition p.
function M.label(p)
  return string.format("%d/%d", p.index, p.count)
end

local by_time = false -- an incremental source is being made: it splits by time, not by pages

--- This process's partition for splitting pages: nil while an incremental
-- pipeline makes its source (M.by_time), else M.current().
function M.for_pages()
  if by_time then
    return nil
  end
  return M.current()
end

--- Calls fn(...) with page splitting off (an incremental pipeline's source
-- factory: its records are split by time slots instead); returns what fn does.
function M.by_time(fn, ...)
  local before = by_time
  by_time = true
  local ok, a = pcall(fn, ...)
  by_time = before
  if not ok then
    error(a, 0)
  end
  return a
end

--- True when page n (counted from 1) belongs to partition p (nil: every page does).
function M.takes_page(p, n)
  return p == nil or (n - 1) % p.count == p.index
end

--- True when the instant t (a cursor value, e.g. UTC microseconds) belongs to
-- partition p (nil: every instant does): time is cut into slots of slot units
-- from 0, and slot s belongs to partition s % N.
function M.takes_time(p, t, slot)
  return p == nil or (t // slot) % p.count == p.index
end

--- Partition p's parts of the window [since, until): a list of {since, until}
-- (cursor values), one per slot of p that the window reaches, in order.
function M.sub_windows(p, since, until_, slot)
  local out = {}
  local s = since // slot
  while s * slot < until_ do
    if s % p.count == p.index then
      out[#out + 1] = { since = math.max(since, s * slot), ["until"] = math.min(until_, (s + 1) * slot) }
    end
    s = s + 1
  end
  return out
end

--- Notes that source reads only its partition's share; returns source.
function M.mark(source)
  splitting[source] = true
  return source
end

--- True when source was marked by M.mark.
function M.splits(source)
  return splitting[source] == true
end

return M
