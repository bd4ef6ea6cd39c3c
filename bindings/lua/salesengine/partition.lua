--- salesengine.partition: which share of a pipeline this process runs
-- (salesengine --partition I/N, SALESENGINE_PARTITION=I/N, or
-- JOB_COMPLETION_INDEX=I with SALESENGINE_PARTITIONS=N; docs/scale-out.md).
--
-- A page-number source (paginate.page_number) takes the pages p with
-- (p - 1) % N == I; it marks itself as splitting (M.mark), and etl.run
-- refuses to run any other source under a partition: a source that does not
-- split would load everything N times over.
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

--- True when page n (counted from 1) belongs to partition p (nil: every page does).
function M.takes_page(p, n)
  return p == nil or (n - 1) % p.count == p.index
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
